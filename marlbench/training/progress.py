"""Progress display for runs: a Rich bar per run (or plain lines into a file), fed directly or from
worker processes.

The runner reports through a :class:`ProgressSink`; the CLI picks Rich bars on a terminal and
:class:`LineProgress` into a file or pipe, tests pick nothing.
Worker processes send ``(run_id, event, payload)`` tuples through a queue to the parent's sink.
"""

from __future__ import annotations

import contextlib
from typing import Any, Protocol


class ProgressSink(Protocol):
    def start(self, run_id: str, total: int, label: str) -> None: ...

    def update(self, run_id: str, steps: int, info: dict[str, Any]) -> None: ...

    def finish(self, run_id: str, status: str) -> None: ...


class NullProgress:
    def start(self, run_id: str, total: int, label: str) -> None:
        pass

    def update(self, run_id: str, steps: int, info: dict[str, Any]) -> None:
        pass

    def finish(self, run_id: str, status: str) -> None:
        pass


class QueueProgress:
    """Forwards events to a multiprocessing queue (used inside worker processes)."""

    def __init__(self, queue: Any) -> None:
        self.queue = queue

    def start(self, run_id: str, total: int, label: str) -> None:
        self.queue.put((run_id, "start", {"total": total, "label": label}))

    def update(self, run_id: str, steps: int, info: dict[str, Any]) -> None:
        self.queue.put((run_id, "update", {"steps": steps, **info}))

    def finish(self, run_id: str, status: str) -> None:
        self.queue.put((run_id, "finish", {"status": status}))

    @staticmethod
    def replay(event: tuple[str, str, dict[str, Any]], sink: ProgressSink) -> None:
        run_id, kind, payload = event
        if kind == "start":
            sink.start(run_id, payload["total"], payload["label"])
        elif kind == "update":
            payload = dict(payload)
            sink.update(run_id, payload.pop("steps"), payload)
        else:
            sink.finish(run_id, payload["status"])


class RichProgress:
    """One Rich progress bar per run: steps, steps/s, recent mean reward, elapsed and remaining time."""

    def __init__(self, console: Any = None) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TextColumn("{task.fields[reward]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._tasks: dict[str, Any] = {}

    def __enter__(self) -> RichProgress:
        self._progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._progress.__exit__(*exc)

    def start(self, run_id: str, total: int, label: str) -> None:
        self._tasks[run_id] = self._progress.add_task(label, total=total, rate="", reward="")

    def update(self, run_id: str, steps: int, info: dict[str, Any]) -> None:
        task = self._tasks.get(run_id)
        if task is None:
            return
        rate = f"{info['rate']:,.0f} steps/s" if info.get("rate") else ""
        if info.get("updates_rate"):
            rate += f", {info['updates_rate']:,.1f} updates/s"
        reward = f"reward {info['reward']:.2f}" if info.get("reward") is not None else ""
        if info.get("eval_return") is not None:
            reward += f", eval {info['eval_return']:.2f}"
        self._progress.update(task, completed=steps, rate=rate, reward=reward)

    def finish(self, run_id: str, status: str) -> None:
        task = self._tasks.get(run_id)
        if task is None:
            return
        with contextlib.suppress(Exception):
            label = self._progress.tasks[task].description if isinstance(task, int) else ""
            colour = "green" if status == "finished" else "red"
            self._progress.update(task, description=f"{label} [{colour}]{status}")


PROGRESS_EVERY_S = 10.0
"""Seconds between two progress lines of a run when stderr is a file or pipe
(``MARLBENCH_PROGRESS_EVERY`` overrides it)."""


class LineProgress:
    """Plain progress lines for a log file or a pipe, where live bars would show only at the end.

    A line when a run starts, one per run every ``every`` seconds while it trains (run id, steps
    done/total, steps/s, the recent training episodes' mean reward) and one when it ends.
    ``clock`` is injectable so tests need not wait.
    """

    def __init__(self, stream: Any = None, every: float = PROGRESS_EVERY_S, clock: Any = None) -> None:
        import sys
        import time

        self.stream = stream if stream is not None else sys.stderr
        self.every = every
        self.clock = clock or time.monotonic
        self._runs: dict[str, dict[str, Any]] = {}

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        pass

    def _write(self, text: str) -> None:
        with contextlib.suppress(OSError, ValueError):  # a closed pipe must not stop the training
            self.stream.write(text + "\n")
            self.stream.flush()

    def start(self, run_id: str, total: int, label: str) -> None:
        self._runs[run_id] = {"total": total, "steps": 0, "info": {}, "last": self.clock()}
        self._write(f"[progress] {run_id} ({label}): started, {total:,} steps")

    def update(self, run_id: str, steps: int, info: dict[str, Any]) -> None:
        run = self._runs.get(run_id)
        if run is None:
            return
        run["steps"], run["info"] = steps, {**run["info"], **{k: v for k, v in info.items() if v is not None}}
        now = self.clock()
        if now - run["last"] >= self.every:
            run["last"] = now
            self._write(self.line(run_id))

    def line(self, run_id: str) -> str:
        """The progress line of ``run_id``: ``[progress] ID  1,200/10,000 steps (12%)  850 steps/s  ...``."""
        run = self._runs[run_id]
        steps, total, info = run["steps"], run["total"], run["info"]
        parts = [f"[progress] {run_id}", f"{steps:,}/{total:,} steps ({100 * steps / max(total, 1):.0f}%)"]
        if info.get("rate"):
            parts.append(f"{info['rate']:,.0f} steps/s")
        if info.get("updates_rate"):
            parts.append(f"{info['updates_rate']:,.1f} updates/s")
        if info.get("reward") is not None:
            parts.append(f"reward {info['reward']:.2f} (recent episodes)")
        if info.get("eval_return") is not None:
            parts.append(f"eval {info['eval_return']:.2f} (latest evaluation)")
        return "  ".join(parts)

    def finish(self, run_id: str, status: str) -> None:
        run = self._runs.get(run_id)
        if run is None:
            return
        self._write(f"[progress] {run_id}: {status} at {run['steps']:,}/{run['total']:,} steps")


def progress_every() -> float:
    """Seconds between progress lines: ``MARLBENCH_PROGRESS_EVERY`` (a positive number) or 10."""
    import os

    raw = os.environ.get("MARLBENCH_PROGRESS_EVERY", "")
    try:
        value = float(raw)
    except ValueError:
        return PROGRESS_EVERY_S
    return value if value > 0 else PROGRESS_EVERY_S


def terminal_progress() -> RichProgress | LineProgress:
    """Rich bars on stderr when it is a terminal (or with ``MARLBENCH_PROGRESS=1``); else, into a file
    or a pipe, a plain line per run every :func:`progress_every` seconds."""
    import os
    import sys

    from rich.console import Console

    if sys.stderr.isatty() or os.environ.get("MARLBENCH_PROGRESS") == "1":
        return RichProgress(console=Console(stderr=True, force_terminal=True))
    return LineProgress(sys.stderr, every=progress_every())
