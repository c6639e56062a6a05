"""Progress display for runs: a Rich bar per run, fed directly or from worker processes.

The runner reports through a :class:`ProgressSink`; the CLI picks Rich bars, tests pick nothing.
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
        self._progress.update(task, completed=steps, rate=rate, reward=reward)

    def finish(self, run_id: str, status: str) -> None:
        task = self._tasks.get(run_id)
        if task is None:
            return
        with contextlib.suppress(Exception):
            label = self._progress.tasks[task].description if isinstance(task, int) else ""
            colour = "green" if status == "finished" else "red"
            self._progress.update(task, description=f"{label} [{colour}]{status}")


def terminal_progress() -> RichProgress:
    """Rich bars on stderr, drawn live on a terminal (or with ``MARLBENCH_PROGRESS=1``), else as lines."""
    import os
    import sys

    from rich.console import Console

    live = sys.stderr.isatty() or os.environ.get("MARLBENCH_PROGRESS") == "1"
    return RichProgress(console=Console(stderr=True, force_terminal=live or None))
