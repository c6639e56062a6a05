"""What every command shares: the ``--ledger`` option, consoles, one clear error, progress, results.

Errors a user can cause end in one message naming the problem and the fix, exit code 2, no traceback.
Machine output (tables in ``--format csv`` and the like, figure paths) goes to stdout; notes to stderr.
"""

from __future__ import annotations

import functools
import signal
import sys
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer

from marlbench import api
from marlbench.errors import MarlbenchError

LedgerOpt = Annotated[
    str | None,
    typer.Option(
        "--ledger",
        envvar="MARLBENCH_LEDGER",
        help="Ledger directory (default ./marlbench-runs; env MARLBENCH_LEDGER).",
        show_default=False,
    ),
]
JobsOpt = Annotated[int, typer.Option(help="Runs at once, each in its own process.")]

F = TypeVar("F", bound=Callable[..., Any])


def console(stderr: bool = False) -> Any:
    """A Rich console on stdout (or stderr): the terminal's width, or 160 columns into a file or pipe."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, highlight=False, width=None if stream.isatty() else 160)


def note(text: str) -> None:
    """A line for the user on stderr (keeps stdout clean for tables and files)."""
    console(stderr=True).print(text, soft_wrap=True, markup=False)


def fail(message: str, fix: str | None = None) -> None:
    """Print one clear error (and its fix) and exit with code 2."""
    from rich.markup import escape

    err = console(stderr=True)
    # escaped: a message quoting TOML ("no [[variants]]") or a path with brackets is not Rich markup
    err.print(f"[bold red]error:[/] {escape(message)}", markup=True, soft_wrap=True)
    if fix:
        err.print(f"[bold]fix:[/] {escape(fix)}", markup=True, soft_wrap=True)
    raise typer.Exit(2)


def user_errors(func: F) -> F:
    """Turn MarlbenchError into :func:`fail`, and show the ledger's warnings (damaged files skipped)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        import warnings

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                return func(*args, **kwargs)
            except MarlbenchError as exc:
                fail(exc.message, exc.fix)
            finally:
                ledger_warnings = [w for w in caught if w.category.__name__ == "LedgerWarning"]
                for w in ledger_warnings[:3]:
                    console(stderr=True).print(f"[yellow]warning:[/] {w.message}", soft_wrap=True)
                if len(ledger_warnings) > 3:
                    console(stderr=True).print(
                        f"[yellow]warning:[/] ... and {len(ledger_warnings) - 3} more damaged files skipped"
                    )

    return wrapper  # type: ignore[return-value]


def check_jobs(jobs: int) -> None:
    if jobs < 1:
        fail(f"--jobs {jobs} must be at least 1", "use --jobs 1 for one run at a time")


def _interrupt(signum: int, frame: Any) -> None:
    """SIGTERM handler: raise KeyboardInterrupt, so the run checkpoints and is marked interrupted."""
    raise KeyboardInterrupt


def with_progress(
    work: Callable[[Any], list[dict[str, Any]]], interrupted: str | Callable[[], str]
) -> list[dict[str, Any]]:
    """``work(bars)`` under Rich progress bars on stderr; Ctrl-C (or SIGTERM, as a batch scheduler
    sends) prints ``interrupted`` (a text, or a function that writes it once the runs have marked
    themselves) and exits 130."""
    previous = signal.signal(signal.SIGTERM, _interrupt)  # what schedulers send: handled as Ctrl-C
    try:
        with api.progress_bars() as bars:
            try:
                return work(bars)
            except KeyboardInterrupt:
                pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    text = interrupted() if callable(interrupted) else interrupted
    console().print(f"[yellow]interrupted:[/] {text}", soft_wrap=True, markup=False)
    raise typer.Exit(130)


def print_results(rows: list[dict[str, Any]], ledger: Any) -> None:
    """One line per finished run: status, steps, wall time, throughput and its last evaluation."""
    from rich.table import Table

    table = Table(
        "run", "status", "steps", "wall s", "env steps/s", "last eval (mean per agent)", "per agent"
    )
    for row in rows:
        mean, per_agent = "-", "-"
        last = api.last_eval(ledger, row["run_id"]) if row.get("run_id") else None
        if last is not None:
            by_agent = last.by_agent["mean"]
            mean = f"{by_agent.mean():.3f}"
            per_agent = ", ".join(f"{a}={v:.2f}" for a, v in by_agent.items())
        wall = float(row.get("wall_time_s") or 0.0)
        steps = int(row.get("steps") or 0)
        table.add_row(
            row.get("run_id", "-"),
            str(row.get("status")) + (f" ({row['error']})" if row.get("error") else ""),
            f"{steps:,}",
            f"{wall:.1f}",
            f"{steps / wall:,.0f}" if wall > 0 else "-",
            mean,
            per_agent,
        )
    console().print(table)


def exit_unless_finished(rows: list[dict[str, Any]]) -> None:
    """Exit code 1 when a run did not finish (failed, diverged)."""
    if any(r.get("status") != "finished" for r in rows):
        raise typer.Exit(1)
