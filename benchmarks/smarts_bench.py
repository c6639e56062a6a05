"""Raw throughput of ``smarts-intersection`` (paper 000): scenario build, reset time, env steps/s.

* Build: a cold build (netconvert + SMARTS scenario studio) into a fresh cache directory, then the
  cache hit (what every later ``make`` pays).
* For each traffic setting: the env is made once, then episodes run back to back with uniformly
  random Discrete(4) actions for every live agent until ``--steps`` env steps have been taken.
  An env step is one joint step of all live agents (4 at most). Reset time (SMARTS restarts SUMO
  every episode) is timed separately from steps; "steps/s incl. resets" counts both.
* ``--bev`` adds the bird's-eye image to the observation (numpy rasteriser) to show its cost.

    python benchmarks/smarts_bench.py [--steps 600] [--traffic low high] [--bev]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from marlbench.envs.smarts_intersection import features as F
from marlbench.envs.smarts_intersection.env import SmartsIntersectionEnv
from marlbench.envs.smarts_intersection.scenario import build_scenario


def bench_build() -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as root:
        start = time.perf_counter()
        build_scenario(root=Path(root), log=lambda line: None)
        cold = time.perf_counter() - start
        start = time.perf_counter()
        build_scenario(root=Path(root), log=lambda line: None)
        warm = time.perf_counter() - start
    return cold, warm


def bench_env(traffic: str, steps: int, bev: bool, seed: int = 0) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    env = SmartsIntersectionEnv(seed=seed, traffic=traffic, bev=bev)
    make_s = time.perf_counter() - start
    resets: list[float] = []
    step_time = 0.0
    taken = 0
    episodes = 0
    neighbours: list[int] = []
    try:
        while taken < steps:
            start = time.perf_counter()
            env.reset()
            resets.append(time.perf_counter() - start)
            episodes += 1
            while env.agents and taken < steps:
                actions = {a: int(rng.integers(4)) for a in env.agents}
                start = time.perf_counter()
                obs, *_ = env.step(actions)
                step_time += time.perf_counter() - start
                taken += 1
                newest = (F.STACK - 1) * F.FRAME_SIZE
                for o in obs.values():
                    rows = o[newest : newest + F.FRAME_SIZE][F.SLICE_NEIGHBOURS].reshape(F.MAX_NEIGHBOURS, -1)
                    neighbours.append(int((rows[:, 2] > 0).sum()))
    finally:
        env.close()
    total = step_time + sum(resets[1:])  # the first reset also starts the simulator
    return {
        "make_s": make_s,
        "first_reset_s": resets[0],
        "reset_s": statistics.median(resets[1:]) if len(resets) > 1 else resets[0],
        "steps_per_s": taken / step_time,
        "steps_per_s_with_resets": taken / total,
        "episodes": episodes,
        "mean_neighbours": float(np.mean(neighbours)) if neighbours else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600, help="env steps per traffic setting")
    parser.add_argument("--traffic", nargs="+", default=["low", "high"], choices=["low", "high"])
    parser.add_argument("--bev", action="store_true", help="include the bird's-eye image")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)

    cold, warm = bench_build()
    print(f"scenario build: cold {cold:.2f} s, cache hit {warm * 1000:.1f} ms")
    header = (
        f"{'traffic':8} {'make s':>7} {'1st reset s':>11} {'reset s':>8} {'steps/s':>8} "
        f"{'incl. resets':>12} {'episodes':>8} {'neighbours':>10}"
    )
    print(header)
    for traffic in args.traffic:
        r = bench_env(traffic, args.steps, args.bev)
        print(
            f"{traffic:8} {r['make_s']:7.2f} {r['first_reset_s']:11.2f} {r['reset_s']:8.3f} "
            f"{r['steps_per_s']:8.1f} {r['steps_per_s_with_resets']:12.1f} {r['episodes']:8d} "
            f"{r['mean_neighbours']:10.2f}"
        )


if __name__ == "__main__":
    main()
