"""Raw environment throughput vs training throughput, as ratios (not run by the test suite).

    python benchmarks/throughput.py [--env mpe-spread] [--steps 20000] [--algos ppo,a2c]

Raw: a PettingZoo ParallelEnv stepped with random actions (env steps/s), and the same env through
marlbench's SuperSuit chain as an SB3 vector env (the learner's view, still random actions).
Training: marlbench runs with evaluation off, timed by the ledger (env steps and agent steps/s).
The machine is shared and noisy: each figure is the median of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import numpy as np


def raw_parallel(env_name: str, seconds: float) -> float:
    from marlbench.envs import get_spec

    spec = get_spec(env_name)
    env = spec.make(seed=0, **spec.resolve_options({}))
    env.reset(seed=0)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        if not env.agents:
            env.reset()
        env.step({a: env.action_space(a).sample() for a in env.agents})
        steps += 1
    rate = steps / (time.perf_counter() - start)
    env.close()
    return rate


def raw_vector(env_name: str, n_envs: int, seconds: float) -> float:
    """Env steps/s through the SuperSuit chain SB3 sees (n_envs copies, a slot per agent)."""
    from marlbench.envs import get_spec
    from marlbench.envs.wrap import agent_tracking_vec_env, concat_vec_env

    spec = get_spec(env_name)
    options = spec.resolve_options({})
    venv, agents = concat_vec_env(lambda s: spec.make(seed=s, **options), n_envs, 0)
    vec = agent_tracking_vec_env(venv, agents)
    vec.reset()
    space = vec.action_space
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        vec.step(np.array([space.sample() for _ in range(vec.num_envs)]))
        steps += n_envs
    return steps / (time.perf_counter() - start)


def train_rate(algo: str, env_name: str, steps: int) -> tuple[float, float]:
    """(env steps/s, agent steps/s) of one training run with evaluation off."""
    from marlbench import api
    from marlbench.ledger import Ledger

    ledger = Ledger(tempfile.mkdtemp(prefix="mb-bench-"), create=True)
    row = api.train(algo, env=env_name, steps=steps, seed=0, ledger=ledger, eval_episodes=0)
    wall = row["wall_time_s"]
    return row["steps"] / wall, row["agent_steps"] / wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--env", default="mpe-spread")
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--algos", default="ppo,a2c")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    raw = statistics.median(raw_parallel(args.env, args.seconds) for _ in range(args.repeat))
    vec = statistics.median(raw_vector(args.env, 4, args.seconds) for _ in range(args.repeat))
    print(
        f"{args.env}: raw ParallelEnv {raw:,.0f} env steps/s; "
        f"SuperSuit vec env (4 copies) {vec:,.0f} env steps/s (ratio {vec / raw:.2f})"
    )
    for algo in args.algos.split(","):
        rates = [train_rate(algo, args.env, args.steps) for _ in range(args.repeat)]
        env_rate = statistics.median(r[0] for r in rates)
        agent_rate = statistics.median(r[1] for r in rates)
        print(
            f"{algo}: training {env_rate:,.0f} env steps/s = {agent_rate:,.0f} agent steps/s; "
            f"training / raw env = {env_rate / raw:.3f}"
        )


if __name__ == "__main__":
    main()
