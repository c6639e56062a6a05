"""Training diagnostics: the learners' statistics kept in the ledger's ``metrics`` table, thinned.

Learners call ``Recorder.log_stats(env_steps, {name: value})`` often (MADDPG after every update,
SB3 after every rollout with its logger's values). :class:`MetricsLog` keeps at most one row per
name per ``every`` env steps (``every`` = budget / :data:`ROWS_PER_NAME`), so a run stores a few
hundred rows per name whatever its length, and always the last value seen (written on close).
The thinning depends on env steps only, never on the clock: the same seed stores the same rows.

:class:`Diagnostics` bundles that log with the optional live TensorBoard output
(:mod:`marlbench.training.tensorboard`, on when ``MARLBENCH_TENSORBOARD`` names a directory, which
``--tensorboard DIR`` sets).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

ROWS_PER_NAME = 500
"""Rows kept per diagnostic name and run, at most (plus the final value)."""

TENSORBOARD_ENV = "MARLBENCH_TENSORBOARD"
"""Environment variable naming the directory live TensorBoard scalars go to (one folder per run)."""


def tensorboard_dir() -> str | None:
    """The directory ``MARLBENCH_TENSORBOARD`` names, or None (no live TensorBoard output)."""
    return os.environ.get(TENSORBOARD_ENV) or None


class MetricsLog:
    """Buffers diagnostics for the ``metrics`` table: one row per name per ``every`` env steps.

    Args:
        ledger: the :class:`~marlbench.ledger.Ledger` (rows go through its ``chunk_writer``).
        run_id: the run the rows belong to.
        total_steps: the run's budget in env steps; ``every = max(1, total_steps // ROWS_PER_NAME)``.
    """

    def __init__(self, ledger: Any, run_id: str, total_steps: int) -> None:
        self.every = max(1, int(total_steps) // ROWS_PER_NAME)
        self.writer = ledger.chunk_writer("metrics", run_id)
        self.last_written: dict[str, int] = {}
        self.pending: dict[str, dict[str, Any]] = {}
        """The newest row of each name not yet written (so the final value is never thinned away)."""

    def add(self, step: int, wall_time: float, stats: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Take one ``log_stats`` call; returns the rows it wrote (also what live outputs show)."""
        rows = []
        for name, value in stats.items():
            try:
                number = float(value)
            except (TypeError, ValueError):
                continue  # a learner's non-numeric stat (a string, a list) has no place in the table
            row = {"step": int(step), "wall_time": float(wall_time), "name": str(name), "value": number}
            last = self.last_written.get(row["name"])
            if last is None or row["step"] - last >= self.every:
                self.last_written[row["name"]] = row["step"]
                self.pending.pop(row["name"], None)
                rows.append(row)
            else:
                self.pending[row["name"]] = row
        if rows:
            self.writer.add(rows)
        return rows

    def close(self) -> list[dict[str, Any]]:
        """Write each name's newest value if it was thinned away, then the buffered rows."""
        rows = list(self.pending.values())
        self.pending = {}
        if rows:
            self.writer.add(rows)
        self.writer.close()
        return rows


class Diagnostics:
    """What the recorder writes beside episodes and evaluations: ``metrics`` rows, live TensorBoard."""

    def __init__(self, ledger: Any, run_id: str, total_steps: int, tensorboard: str | None = None) -> None:
        self.metrics = MetricsLog(ledger, run_id, total_steps)
        self.board: Any = None
        if tensorboard:
            from marlbench.training.tensorboard import TensorBoardSink

            self.board = TensorBoardSink(tensorboard, run_id)

    def stats(self, step: int, wall_time: float, stats: Mapping[str, Any]) -> None:
        """Record one ``log_stats`` call (thinned) in the ledger and on TensorBoard."""
        rows = self.metrics.add(step, wall_time, stats)
        if self.board is not None:
            self.board.metrics(rows)

    def episodes(self, rows: list[dict[str, Any]]) -> None:
        """Training episode rows (one per agent), for TensorBoard; the ledger has its own writer."""
        if self.board is not None and rows:
            self.board.episodes(rows)

    def evaluation(self, rows: list[dict[str, Any]]) -> None:
        """One evaluation round's rows (one per agent per episode), for TensorBoard."""
        if self.board is not None and rows:
            self.board.evaluation(rows)

    def close(self) -> None:
        rows = self.metrics.close()
        if self.board is not None:
            try:
                self.board.metrics(rows)
            finally:
                self.board.close()
