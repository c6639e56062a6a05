"""Single-process vs distributed MADDPG throughput (paper 000, Fig. 5), and Ray's start-up cost.

    python benchmarks/distributed_bench.py [--env mpe-spread] [--steps 6000] [--cpus 2]

Prints, from one run each: env steps/s and updates/s of single-process MADDPG and of distributed
MADDPG with 1 collector + 2 learners and 2 collectors + 1 learner, and their ratios to the single
run. Rates are wall-clock (the work is spread over processes, so one process's CPU time says
nothing) and taken over the second half of each run, after warm-up and after every Ray actor has
started. Distributed learners run unpaced (as fast as they can, as paper 000's learner nodes do);
the single learner makes one update every ``learn_every`` env steps. Start-up: ``ray.init`` of a
local Ray, then each run's actors becoming ready (worker processes importing torch and marlbench).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Mapping
from typing import Any

from marlbench.algos.base import EnvContext
from marlbench.algos.maddpg import MADDPG, MADDPGConfig
from marlbench.distributed.config import DistributedMADDPGConfig
from marlbench.distributed.driver import DistributedMADDPG
from marlbench.distributed.ray_runtime import RayRuntime
from marlbench.envs.registry import get_spec

SETTINGS = {"batch_size": 256, "learning_starts": 1000, "learn_every": 10, "buffer_size": 100_000}


class TimedRecorder:
    """Keeps ``(wall time, env steps, updates)`` at every tick."""

    def __init__(self, algo: Any) -> None:
        self.algo = algo
        self.marks: list[tuple[float, int, int]] = []

    def tick(self, env_steps: int) -> None:
        self.marks.append((time.perf_counter(), env_steps, int(self.algo.updates_done)))

    def log_episodes(self, env_steps: int, episodes: list) -> None:
        pass

    def log_stats(self, env_steps: int, stats: Mapping[str, float]) -> None:
        pass

    def rates(self) -> tuple[float, float]:
        """Env steps/s and updates/s over the second half of the run."""
        half = self.marks[len(self.marks) // 2]
        end = self.marks[-1]
        dt = max(end[0] - half[0], 1e-9)
        return (end[1] - half[1]) / dt, (end[2] - half[2]) / dt


def run(algo: Any, steps: int) -> tuple[float, float]:
    recorder = TimedRecorder(algo)
    algo.learn(steps, recorder)
    return recorder.rates()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="mpe-spread")
    parser.add_argument("--steps", type=int, default=6000)
    parser.add_argument("--cpus", type=int, default=None, help="num_cpus of the local Ray (default: all)")
    args = parser.parse_args()
    spec = get_spec(args.env)
    ctx = EnvContext(spec, spec.resolve_options({}), seed=0)

    single = run(MADDPG(ctx, MADDPGConfig(**SETTINGS), seed=0), args.steps)
    print(f"single     : {single[0]:8.0f} env steps/s {single[1]:7.1f} updates/s")

    t0 = time.perf_counter()
    runtime = RayRuntime(num_cpus=args.cpus).start()
    print(f"ray.init (local, {args.cpus or 'all'} CPUs): {time.perf_counter() - t0:.1f} s")
    try:
        for collectors, learners in ((1, 2), (2, 1)):
            config = DistributedMADDPGConfig(
                **SETTINGS, collectors=collectors, learners=learners, paced=False
            )
            algo = DistributedMADDPG(ctx, config, seed=0)
            t0 = time.perf_counter()
            steps_s, updates_s = run(algo, args.steps)
            report = algo.report
            print(
                f"{collectors}c + {learners}l    : {steps_s:8.0f} env steps/s {updates_s:7.1f} updates/s"
                f"   ratio to single: env steps {steps_s / single[0]:.2f}x, "
                f"updates {_ratio(updates_s, single[1])}   (run {time.perf_counter() - t0:.1f} s: actors up "
                f"{report['startup_s']:.1f} s, training {report['wall_s']:.1f} s; "
                f"updates per learner {report['learner_updates']})"
            )
    finally:
        runtime.stop()


def _ratio(value: float, base: float) -> str:
    """``value / base`` as '1.23x', or 'n/a' when the single run made no updates (a budget at or
    below ``learning_starts``)."""
    return f"{value / base:.2f}x" if base > 0 else "n/a (single made no updates: raise --steps)"


if __name__ == "__main__":
    main()
