"""MADDPG's collection path vs the raw batched core: MADDPG-1 on cn-v1 with learning off (issue 12).

With ``learning_starts`` past the budget a learner only acts, steps the env and stores: the ratio
of its env steps per CPU second to those of the bare ArrayEnv (random actions drawn beforehand)
is what its per-step Python costs. Interleaved rounds, medians, one process:

    python benchmarks/collection_bench.py [--steps 10000] [--rounds 3] [--envs 1]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from timing import NullRecorder

from marlbench.algos.base import EnvContext
from marlbench.algos.maddpg import MADDPG, MADDPGConfig
from marlbench.envs.registry import get_spec


def raw_rate(ctx: EnvContext, steps: int, envs: int) -> float:
    env = ctx.make_array(envs)
    env.reset(seed=0)
    space = env.action_space
    rng = np.random.default_rng(0)
    n = len(env.agents)
    if hasattr(space, "n"):
        pool = rng.integers(0, space.n, size=(256, envs, n))
    else:
        pool = rng.uniform(space.low, space.high, size=(256, envs, n, *space.shape)).astype(np.float32)
    start = time.process_time()
    for i in range(steps // envs):
        env.step(pool[i % 256])
    return (steps // envs) * envs / (time.process_time() - start)


def learner_rate(ctx: EnvContext, steps: int, envs: int) -> float:
    config = MADDPGConfig(
        comm_dim=1, use_state=True, learning_starts=10**9, buffer_size=200_000, num_envs=envs
    )
    algo = MADDPG(ctx, config, seed=0)
    algo.learn(100, NullRecorder())  # envs opened, caches warm
    start = time.process_time()
    algo.learn(100 + steps, NullRecorder())
    return (algo.steps_done - 100) / (time.process_time() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--envs", type=int, default=1)
    args = parser.parse_args()
    spec = get_spec("cn-v1")
    ctx = EnvContext(spec, spec.resolve_options({}), seed=0)
    raw, learner = [], []
    for _ in range(args.rounds):
        raw.append(raw_rate(ctx, args.steps, args.envs))
        learner.append(learner_rate(ctx, args.steps, args.envs))
    r, m = statistics.median(raw), statistics.median(learner)
    print(f"cn-v1, {args.envs} env cop{'y' if args.envs == 1 else 'ies'}: raw core {r:,.0f} steps/CPU-s, "
          f"MADDPG-1 learning off {m:,.0f} -> ratio {m / r:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
