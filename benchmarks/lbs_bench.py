"""Throughput of pursuit and of the LBS family (paper 004), and batched vs looped per-agent CNNs.

Measures, on Table 1 pursuit (8 pursuers, 30 evaders, 16x16):

1. raw env steps/s with random actions, through the same ``ArrayEnv`` the learners use;
2. training env steps/s of each algorithm (acting, storing, learning; Table 1 hyperparameters),
   after a warm-up that fills the buffers, and its ratio to the raw env rate;
3. the projected wall time of the paper's experiment (800k steps x 10 seeds) from those rates;
4. one forward+backward of 8 agents' Table 1 CNNs on a B=32 mini-batch, and the LBS large-batch
   forward (K = 256 shared inputs), as one batched network vs a Python loop over 8 networks.

Usage: ``python benchmarks/lbs_bench.py [--train-steps 1000] [--algos lbs,idqn] [--threads 1]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from marlbench.algos.base import EnvContext, resolve_config
from marlbench.algos.dqn.lbs import IDQN, LBS, PSDQN, DQNConfig, IDQNSharedBuffer, LBSConfig
from marlbench.envs.array import make_array_env
from marlbench.envs.registry import get_spec
from marlbench.nets import BatchedCNN

ALGOS = {
    "lbs": (LBS, LBSConfig),
    "idqn": (IDQN, DQNConfig),
    "idqn-shared-buffer": (IDQNSharedBuffer, DQNConfig),
}
ALGOS["ps-dqn"] = (PSDQN, DQNConfig)
PAPER_STEPS, PAPER_SEEDS = 800_000, 10


class _Quiet:
    def tick(self, env_steps: int) -> None:
        pass

    def log_episodes(self, env_steps: int, episodes: list) -> None:
        pass

    def log_stats(self, env_steps: int, stats: dict) -> None:
        pass


def env_rate(num_envs: int, steps: int, seed: int = 0) -> float:
    spec = get_spec("pursuit")
    env = make_array_env(spec, spec.resolve_options(), num_envs, seed)
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    n = len(env.agents)
    start = time.perf_counter()
    for _ in range(steps // num_envs):
        env.step(rng.integers(0, 5, size=(num_envs, n)))
    rate = (steps // num_envs) * num_envs / (time.perf_counter() - start)
    env.close()
    return rate


def train_rate(name: str, steps: int, warmup: int, buffer_size: int, num_envs: int) -> tuple[float, int]:
    cls, config_cls = ALGOS[name]
    spec = get_spec("pursuit")
    overrides = {"learning_starts": warmup, "buffer_size": buffer_size, "num_envs": num_envs, "device": "cpu"}
    config = resolve_config(config_cls, overrides, name)
    algo = cls(EnvContext(spec, spec.resolve_options(), 0), config, 0)
    algo.learn(warmup, _Quiet())
    updates = algo.updates
    start = time.perf_counter()
    algo.learn(warmup + steps, _Quiet())
    return steps / (time.perf_counter() - start), algo.updates - updates


def _best_ms(fn, reps: int) -> float:
    fn()
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(reps):
            fn()
        best = min(best, (time.perf_counter() - start) / reps)
    return best * 1e3


def cnn_times(reps: int) -> dict[str, float]:
    gen = torch.Generator().manual_seed(0)
    net = BatchedCNN(8, (3, 7, 7), 5, (32, 64, 64), 2, 1, generator=gen)
    singles = [net.single(i) for i in range(8)]
    x = torch.rand(8, 32, 3, 7, 7, generator=gen) * 3
    large = torch.rand(256, 3, 7, 7, generator=gen) * 3

    def batched_step() -> None:
        net.zero_grad(set_to_none=True)
        net(x).sum().backward()

    def loop_step() -> None:
        for i, single in enumerate(singles):
            single.zero_grad(set_to_none=True)
            single(x[i]).sum().backward()

    def batched_large() -> None:
        with torch.no_grad():
            net.forward_shared(large)

    def loop_large() -> None:
        with torch.no_grad():
            for single in singles:
                single(large)

    return {
        "fwd+bwd B=32, batched": _best_ms(batched_step, reps),
        "fwd+bwd B=32, loop": _best_ms(loop_step, reps),
        "fwd K=256 shared, batched": _best_ms(batched_large, reps),
        "fwd K=256 shared, loop": _best_ms(loop_large, reps),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env-steps", type=int, default=2_000)
    parser.add_argument("--train-steps", type=int, default=1_000)
    parser.add_argument("--warmup", type=int, default=400)
    parser.add_argument(
        "--buffer-size", type=int, default=20_000, help="per agent (speed does not depend on it)"
    )
    parser.add_argument("--num-envs", type=int, default=4)
    parser.add_argument("--algos", default="lbs,idqn,idqn-shared-buffer,ps-dqn")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cnn-reps", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), device cpu")

    raw = env_rate(args.num_envs, args.env_steps)
    print(f"\npursuit (Table 1), {args.num_envs} copies, random actions: {raw:,.0f} env steps/s")
    print(f"  800k steps x 10 seeds of env stepping alone: {PAPER_STEPS * PAPER_SEEDS / raw / 3600:.1f} h")

    print("\n| algorithm | train env steps/s | updates | train / raw env | 800k steps | 10 seeds (1 job) |")
    print("|---|---|---|---|---|---|")
    for name in args.algos.split(","):
        rate, updates = train_rate(name, args.train_steps, args.warmup, args.buffer_size, args.num_envs)
        one = PAPER_STEPS / rate / 3600
        seeds = one * PAPER_SEEDS
        print(f"| {name} | {rate:,.1f} | {updates} | {rate / raw:.3f} | {one:.1f} h | {seeds:.0f} h |")

    print("\n| 8 Table 1 CNNs | ms |")
    print("|---|---|")
    for label, ms in cnn_times(args.cnn_reps).items():
        print(f"| {label} | {ms:.2f} |")


if __name__ == "__main__":
    main()
