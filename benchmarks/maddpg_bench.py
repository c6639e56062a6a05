"""MADDPG throughput on mpe-spread, and batched vs loop per-agent networks.

    python benchmarks/maddpg_bench.py [--only env,train,per,nets,scaling,peer] [--threads 1]

Sections (each prints its figures; ratios are what to compare across machines):

* ``env``: raw ArrayEnv steps/s of mpe-spread (3 agents, random actions).
* ``train``: MADDPG training env steps/s at the paper's defaults (batch 1024, one update per agent
  every 100 env steps), timed after the 25,600-step warm-up; divided by the raw env rate.
* ``per``: the same with a replay buffer pre-filled to 1e6 transitions, uniform vs rank-based vs
  proportional prioritized replay (one priority channel per agent).
* ``nets``: forward+backward of 4 agents' actor and critic MLPs, one BatchedMLP vs a loop of MLPs.
* ``scaling``: one MADDPG update (batch 1024) for 3, 6 and 12 agents, batched vs loop networks.
* ``peer``: BenchMARL 1.5.2's MADDPG settings from issue 3 (continuous actions, 10 envs, 6,000
  frames then 1,000 updates of batch 128, 256x256 tanh, lr 5e-5); BenchMARL ran at ~380 frames/s.
  Note BenchMARL shares one network between agents; here each agent keeps its own (batched).
"""

from __future__ import annotations

import argparse
import os
from typing import Any

import numpy as np
import torch
from timing import Clock, NullRecorder, median_ms  # benchmarks/ is on sys.path when a script runs

from marlbench.algos.base import EnvContext
from marlbench.algos.maddpg import MADDPG, MADDPGConfig
from marlbench.envs.registry import get_spec
from marlbench.nets import BatchedMLP, LoopMLP


def ctx(**options: Any) -> EnvContext:
    spec = get_spec("mpe-spread")
    return EnvContext(spec, spec.resolve_options(options), seed=0)


def raw_env_rate(steps: int, num_envs: int = 1, **options: Any) -> tuple[float, float]:
    """``(wall, cpu)`` env steps per second of the ArrayEnv with random actions."""
    env = ctx(**options).make_array(num_envs)
    env.reset()
    rng = np.random.default_rng(0)
    n = len(env.agents)
    continuous = options.get("continuous", False)
    with Clock() as clock:
        for _ in range(steps // num_envs):
            if continuous:
                actions = rng.random((num_envs, n, 5), dtype=np.float32)
            else:
                actions = rng.integers(0, 5, (num_envs, n))
            env.step(actions)
    env.close()
    return clock.rates((steps // num_envs) * num_envs)


def training_rate(algo: MADDPG, steps: int) -> tuple[float, float]:
    """``(wall, cpu)`` env steps per second of ``algo.learn`` over ``steps`` more steps."""
    start_steps = algo.steps_done
    with Clock() as clock:
        algo.learn(start_steps + steps, NullRecorder())
    return clock.rates(algo.steps_done - start_steps)


def prefill(algo: MADDPG, n: int, chunk: int = 50_000) -> None:
    """Fill the replay buffer with ``n`` random transitions of the right shapes (for timing only)."""
    rng = np.random.default_rng(1)
    block = {
        name: rng.random((min(chunk, n), *shape), dtype=np.float32)
        for name, (shape, _) in algo.replay.fields.items()
    }
    block["alive"][:] = 1.0
    block["terminated"][:] = 0.0
    while len(algo.replay) < n:
        algo.replay.add(block)


def section_env(args: argparse.Namespace) -> tuple[float, float]:
    wall, cpu = raw_env_rate(args.env_steps)
    print(f"[env] raw ArrayEnv mpe-spread (3 agents, 1 copy): {wall:,.0f} steps/s wall, {cpu:,.0f} per CPU-s")
    return wall, cpu


def section_train(args: argparse.Namespace, raw: tuple[float, float]) -> None:
    algo = MADDPG(ctx(), MADDPGConfig(), seed=0)
    warm_wall, warm_cpu = training_rate(algo, algo.config.learning_starts)
    wall, cpu = training_rate(algo, args.train_steps)
    print(
        f"[train] MADDPG defaults: warm-up {warm_wall:,.0f} steps/s wall ({warm_cpu:,.0f} per CPU-s); "
        f"learning {wall:,.0f} steps/s wall ({cpu:,.0f} per CPU-s), {algo.updates_done} updates; "
        f"ratio to raw env {wall / raw[0]:.2f} wall, {cpu / raw[1]:.2f} CPU"
    )


def section_per(args: argparse.Namespace) -> None:
    rates = {}
    for name, overrides in (
        ("uniform", {}),
        ("rank", {"per": True}),
        ("proportional", {"per": True, "per_mode": "proportional"}),
    ):
        algo = MADDPG(ctx(), MADDPGConfig(learning_starts=0, **overrides), seed=0)
        prefill(algo, algo.config.buffer_size)
        training_rate(algo, 1000)  # first sorts and allocations
        rates[name] = training_rate(algo, args.per_steps)[1]
        del algo
    base = rates["uniform"]
    parts = ", ".join(f"{k} {v:,.0f} steps/CPU-s ({base / v:.2f}x time)" for k, v in rates.items())
    print(f"[per] 1e6 buffer, batch 1024, per-agent priorities: {parts}")


def section_nets(args: argparse.Namespace) -> None:
    n, obs, act = 4, 24, 5  # 4-agent spread: 24-d observations, 5 actions
    for batch in (1, 64, 1024):
        for name, in_dim, out_dim in (("actor", obs, act), ("critic", n * (obs + act), 1)):
            x = torch.randn(n, batch, in_dim)
            timings = {}
            for kind, cls in (("batched", BatchedMLP), ("loop", LoopMLP)):
                net = cls(n, in_dim, (64, 64), out_dim)

                def step(net: torch.nn.Module = net, x: torch.Tensor = x) -> None:
                    net.zero_grad()
                    net(x).square().mean().backward()

                timings[kind] = median_ms(step, args.repeats * (10 if batch < 1024 else 1))
            print(
                f"[nets] {name:<6} 4 agents fwd+bwd, batch {batch:>4}: batched {timings['batched']:6.3f} ms, "
                f"loop {timings['loop']:6.3f} ms, loop/batched {timings['loop'] / timings['batched']:.2f}"
            )


def section_scaling(args: argparse.Namespace) -> None:
    for batch in (64, 1024):
        for per_agent in (True, False):
            base: dict[str, float] = {}
            for n in (3, 6, 12):
                row = {}
                for kind, batched in (("batched", True), ("loop", False)):
                    config = MADDPGConfig(
                        batched_networks=batched,
                        learning_starts=0,
                        buffer_size=20_000,
                        batch_size=batch,
                        minibatch_per_agent=per_agent,
                    )
                    algo = MADDPG(ctx(n_agents=n), config, seed=0)
                    prefill(algo, 20_000)
                    row[kind] = median_ms(
                        algo.update, max(3, args.repeats // (2 if batch == 1024 else 1) // n)
                    )
                    base.setdefault(kind, row[kind])
                print(
                    f"[scaling] batch {batch:>4}, {'per-agent' if per_agent else 'shared'} mini-batches, "
                    f"{n:>2} agents, one update: batched {row['batched']:7.1f} ms "
                    f"({row['batched'] / base['batched']:4.1f}x of 3 agents), loop {row['loop']:7.1f} ms "
                    f"({row['loop'] / base['loop']:4.1f}x); loop/batched {row['loop'] / row['batched']:.2f}"
                )


def section_peer(args: argparse.Namespace) -> None:
    config = MADDPGConfig(
        hidden_size=256,
        activation="tanh",
        actor_lr=5e-5,
        critic_lr=5e-5,
        batch_size=128,
        num_envs=10,
        learn_every=6000,
        updates_per_learn=1000,
        learning_starts=0,
    )
    algo = MADDPG(ctx(continuous=True), config, seed=0)
    frames = 6000 * args.peer_iterations
    wall, cpu = training_rate(algo, frames)
    raw = raw_env_rate(6000, num_envs=10, continuous=True)
    print(
        f"[peer] BenchMARL settings, {frames} frames ({algo.updates_done} updates): "
        f"{wall:,.0f} frames/s wall, {cpu:,.0f} per CPU-s = {cpu / 380:.2f}x BenchMARL's ~380; "
        f"raw env (10 copies) {raw[1]:,.0f} per CPU-s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="env,train,per,nets,scaling,peer")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (0: leave as is)")
    parser.add_argument("--env-steps", type=int, default=5000)
    parser.add_argument("--train-steps", type=int, default=10_000)
    parser.add_argument("--per-steps", type=int, default=5000)
    parser.add_argument("--peer-iterations", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    only = set(args.only.split(","))
    raw = section_env(args) if only & {"env", "train"} else (0.0, 0.0)
    if "train" in only:
        section_train(args, raw)
    if "per" in only:
        section_per(args)
    if "nets" in only:
        section_nets(args)
    if "scaling" in only:
        section_scaling(args)
    if "peer" in only:
        section_peer(args)


if __name__ == "__main__":
    main()
