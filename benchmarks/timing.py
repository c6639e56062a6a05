"""Timing helper shared by the benchmark scripts (run as ``python benchmarks/NAME.py``)."""

from __future__ import annotations

import time


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
