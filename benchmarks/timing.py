"""Timing helper shared by the benchmark scripts (run as ``python benchmarks/NAME.py``)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from typing import Any


class Clock:
    """Wall and CPU time of a block; rates from CPU time are what to compare on a shared machine."""

    def __enter__(self) -> Clock:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu

    def rates(self, steps: float) -> tuple[float, float]:
        """``(per wall second, per CPU second)``."""
        return steps / self.wall, steps / self.cpu


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    """Median CPU milliseconds of ``fn`` after one warm-up call (process time: robust to other
    processes on a shared machine)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return statistics.median(times) * 1e3


class NullRecorder:
    """A recorder that drops everything: the benchmarks time learning, not the ledger."""

    def tick(self, env_steps: int) -> None:
        pass

    def log_episodes(self, env_steps: int, episodes: list[Any]) -> None:
        pass

    def log_stats(self, env_steps: int, stats: Mapping[str, float]) -> None:
        pass

    def log_evaluation(self, env_steps: int, records: list[Any], policy: str = "") -> int:
        return 0
