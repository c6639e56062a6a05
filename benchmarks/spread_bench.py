"""Native batched mpe-spread against mpe2's simple_spread_v3 (issue 12, part 2).

    python benchmarks/spread_bench.py [--repeats 5] [--env-steps 8000] [--train-steps 5000]

Every row is a ratio measured in this one run: the two backends are timed in interleaved repeats
(native, mpe2, native, mpe2, ...) and compared on the medians of their CPU-second rates (process
time: robust to other processes on a shared machine).

* ``env E=1`` / ``env E=8``: raw ArrayEnv env steps per CPU-s (3 agents, random discrete actions;
  ``E`` copies step together, so one step of 8 copies counts 8 env steps).
* ``maddpg train``: MADDPG training env steps per CPU-s at the paper's update settings (batch 1024,
  one update per agent every 100 env steps, one env copy), then with 8 env copies and with batch 64
  (paper 000's batch-size study), timed over ``--train-steps`` steps after a short warm-up that
  fills the replay past ``learning_starts``; the mpe2 rows are today's path (the loop adapter over
  mpe2 envs, state not collected). The update costs the same on both backends, so it bounds the
  ratio: at batch 1024 it is about 250 us per env step on this machine.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import torch
from timing import Clock, NullRecorder  # benchmarks/ is on sys.path when a script runs

from marlbench.algos.base import EnvContext
from marlbench.algos.maddpg import MADDPG, MADDPGConfig
from marlbench.envs.registry import get_spec

BACKENDS = ("native", "mpe2")


def ctx(backend: str, **options: Any) -> EnvContext:
    spec = get_spec("mpe-spread")
    return EnvContext(spec, spec.resolve_options({"backend": backend, **options}), seed=0)


def env_rate(backend: str, num_envs: int, steps: int) -> float:
    """Env steps per CPU-s of the ArrayEnv with random discrete actions."""
    env = ctx(backend).make_array(num_envs, with_state=False)
    env.reset()
    rng = np.random.default_rng(0)
    actions = [rng.integers(0, 5, (num_envs, len(env.agents))) for _ in range(64)]
    rounds = max(1, steps // num_envs)
    with Clock() as clock:
        for t in range(rounds):
            env.step(actions[t % 64])
    env.close()
    return clock.rates(rounds * num_envs)[1]


def maddpg_rate(backend: str, steps: int, warmup: int, **overrides: Any) -> float:
    """MADDPG training env steps per CPU-s over ``steps`` steps after ``warmup`` (updates on)."""
    buffer = max(100_000, warmup + steps)
    config = MADDPGConfig(learning_starts=warmup, buffer_size=buffer, **overrides)
    algo = MADDPG(ctx(backend), config, seed=0)
    algo.learn(warmup + 100, NullRecorder())  # past learning_starts: the first update has run
    start, updates = algo.steps_done, algo.updates_done
    with Clock() as clock:
        algo.learn(start + steps, NullRecorder())
    assert algo.updates_done > updates
    return clock.rates(algo.steps_done - start)[1]


def interleaved(measure: Callable[[str], float], repeats: int) -> dict[str, float]:
    """Median of ``repeats`` measurements per backend, the backends alternating."""
    rates: dict[str, list[float]] = {b: [] for b in BACKENDS}
    for _ in range(repeats):
        for backend in BACKENDS:
            rates[backend].append(measure(backend))
    return {b: statistics.median(v) for b, v in rates.items()}


def report(name: str, rates: dict[str, float]) -> None:
    ratio = rates["native"] / rates["mpe2"]
    print(
        f"[{name}] native {rates['native']:>9,.0f} env steps/CPU-s, mpe2 {rates['mpe2']:>8,.0f}; "
        f"native/mpe2 {ratio:5.2f}x",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--env-steps", type=int, default=8000)
    parser.add_argument("--train-steps", type=int, default=5000)
    parser.add_argument("--warmup", type=int, default=2000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"mpe-spread, 3 agents; medians of {args.repeats} interleaved repeats")
    for num_envs in (1, 8):
        measure = partial(env_rate, num_envs=num_envs, steps=args.env_steps)
        report(f"env E={num_envs}", interleaved(measure, args.repeats))
    for label, overrides in (
        ("batch 1024, 1 copy", {}),
        ("batch 1024, 8 copies", {"num_envs": 8}),
        ("batch 64, 1 copy", {"batch_size": 64}),
    ):
        measure = partial(maddpg_rate, steps=args.train_steps, warmup=args.warmup, **overrides)
        report(f"maddpg train, {label}", interleaved(measure, args.repeats))


if __name__ == "__main__":
    main()
