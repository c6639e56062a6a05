"""SMARTS env steps/s with the copies in worker processes (``--env-opt workers``) vs one process.

Two adapters over ``E`` copies of ``smarts-intersection`` (default E=2), built once each: the
in-process loop adapter (``workers=1``) and :class:`marlbench.envs.subproc.SubprocArrayEnv` with
``W`` workers (default 2). Rounds alternate between them (ABAB..., the machine is shared: a
background load hits both alike); each round takes ``--steps`` array steps of uniformly random
Discrete(4) actions, resets included (a copy whose episode ends is reset inside ``step``, as in
training). Env steps count copies: one array step of E copies is E env steps. Wall time is what
counts here (CPU time of the parent does not see the workers). Prints per-round rates, the medians
and their ratio, and the load average before and after.

    python benchmarks/smarts_workers_bench.py [--copies 2] [--workers 2] [--steps 150] [--rounds 4]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import time
from typing import Any

import numpy as np

from marlbench.envs import get_spec
from marlbench.envs.array import make_array_env


def run_round(env: Any, steps: int, rng: np.random.Generator) -> float:
    """Env steps per wall second over ``steps`` array steps (copies x steps env steps)."""
    start = time.perf_counter()
    for _ in range(steps):
        env.step(rng.integers(0, 4, (env.num_envs, len(env.agents))))
    return env.num_envs * steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--copies", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--steps", type=int, default=150, help="array steps per round")
    parser.add_argument("--rounds", type=int, default=4, help="rounds per adapter (interleaved)")
    parser.add_argument("--traffic", default="low", choices=("low", "high"))
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    spec = get_spec("smarts-intersection")
    load_before = os.getloadavg()
    envs = {}
    for label, workers in (("1 process", 1), (f"{args.workers} workers", args.workers)):
        options = spec.resolve_options({"workers": str(workers), "traffic": args.traffic})
        start = time.perf_counter()
        envs[label] = make_array_env(spec, options, num_envs=args.copies, seed=0, with_state=False)
        envs[label].reset()
        print(f"{label}: built and reset in {time.perf_counter() - start:.1f} s")
    rates: dict[str, list[float]] = {label: [] for label in envs}
    rng = np.random.default_rng(0)
    try:
        for r in range(args.rounds):
            for label, env in envs.items():
                rates[label].append(run_round(env, args.steps, rng))
                print(f"round {r}: {label}: {rates[label][-1]:.1f} env steps/s")
    finally:
        for env in envs.values():
            env.close()
    one, many = (statistics.median(v) for v in rates.values())
    print(f"\nE={args.copies} copies, traffic={args.traffic}, {os.cpu_count()} CPUs")
    print(f"median: 1 process {one:.1f} env steps/s, {args.workers} workers {many:.1f} env steps/s")
    print(f"ratio (workers / 1 process): {many / one:.2f}x")
    print(f"load average (1, 5, 15 min) before {load_before}, after {os.getloadavg()}")


if __name__ == "__main__":
    main()
