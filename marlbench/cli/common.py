"""What every command shares: the ``--ledger`` option, consoles, one clear error, progress, results
and the metavars ``--help`` shows.

Errors a user can cause end in one message naming the problem and the fix, exit code 2, no traceback.
Machine output (tables in ``--format csv`` and the like, figure paths) goes to stdout; notes to stderr.
"""

from __future__ import annotations

import functools
import json
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
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

# ---- --help: metavars, not Python type tags -------------------------------------------------------
# How ``--help`` names what goes after an option: ``--steps N``, ``--env ENV``, ``--set K=V``, no type tags.
#
# Typer 0.29 prints Python types in angle brackets (``--per <bool>``, ``--set <list[str]>``) and names
# arguments by their Python parameter (``train [algo]``, ``envs [show]``). :func:`install_help_style`
# replaces the three display hooks Typer's help reads with a metavar a user can act on:
#
# * a flag shows nothing after its name (``--per``, ``--reference / --no-reference``);
# * an option shows :data:`METAVARS` for its parameter name, else ``N`` for an integer, ``X`` for a
#   float, ``a|b`` for a choice, its name in capitals otherwise (``--tier TIER``);
# * an argument is named in capitals (``RUN_ID``), bare in the usage line when required and in
#   brackets when optional (``marlbench envs [NAME]``), with no type column beside it.
#
# An explicit ``metavar=`` given to ``typer.Option``/``typer.Argument`` always wins.

METAVARS: dict[str, str] = {
    "env": "ENV",
    "env_opt": "K=V",
    "set_": "K=V",
    "ledger": "DIR",
    "tensorboard": "DIR",
    "directory": "DIR",
    "out": "PATH",
    "resume": "RUN_ID",
    "run": "RUN_ID",
    "seeds": "SEEDS",
    "fmt": "FORMAT",
    "vs": "ALGO",
    "algo": "ALGO",
    "ray_address": "ADDRESS",
    "scale": "X",
}
"""Option metavars by Python parameter name (the ones a type or a name alone would say badly)."""

_installed = False


def option_metavar(param: Any) -> str:
    """What ``--help`` prints after option ``param``: ``""`` for a flag, else a metavar like ``N``."""
    if param.metavar is not None:
        return str(param.metavar)
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return ""
    name = str(param.name or "")
    if name in METAVARS:
        return METAVARS[name]
    described = getattr(param, "type_descriptor", None)
    if described is not None and described.is_choice and described.choices:
        return "|".join(str(getattr(c, "value", c)) for c in described.choices)
    kind = param.bare_type() if hasattr(param, "bare_type") else ""
    if kind in ("int", "list[int]"):
        return "N"
    if kind in ("float", "list[float]"):
        return "X"
    return name.strip("_").upper().replace("_", "-")


def argument_name(param: Any) -> str:
    """An argument's name in help and error messages: its metavar, else its name in capitals."""
    return str(param.metavar) if param.metavar is not None else str(param.name or "").upper()


def _usage_name(param: Any) -> str:
    name = argument_name(param)
    name = name if param.required else f"[{name}]"
    return name + ("..." if param.nargs != 1 else "")


def install_help_style() -> None:
    """Replace Typer's type-tag display hooks with :func:`option_metavar` and :func:`argument_name`
    (once; done when this module is imported, before any help is drawn)."""
    global _installed
    if _installed:
        return
    from typer.core import TyperArgument, TyperOption

    TyperOption.display_type_rich = lambda self, ctx: option_metavar(self)  # type: ignore[method-assign]
    TyperArgument.display_type_rich = lambda self, ctx: None  # type: ignore[method-assign]
    TyperArgument.display_name_raw = property(argument_name)  # type: ignore[assignment,method-assign]
    TyperArgument._usage_display_name = _usage_name  # type: ignore[method-assign]
    _installed = True


install_help_style()


def console(stderr: bool = False) -> Any:
    """A Rich console on stdout (or stderr): the terminal's width, or 160 columns into a file or pipe."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, highlight=False, width=None if stream.isatty() else 160)


def note(text: str) -> None:
    """A line for the user on stderr (keeps stdout clean for tables and files)."""
    console(stderr=True).print(text, soft_wrap=True, markup=False)


def warning(text: str) -> None:
    """One yellow ``warning:`` line on stderr: something the user should fix, though nothing stops."""
    from rich.markup import escape

    console(stderr=True).print(f"[yellow]warning:[/] {escape(text)}", soft_wrap=True)


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
    from rich.text import Text

    # the text may hold brackets (ids, paths): only the word is styled, nothing is read as markup
    console().print(Text.assemble(("interrupted:", "yellow"), f" {text}"), soft_wrap=True)
    raise typer.Exit(130)


def _given_settings(row: Mapping[str, Any]) -> dict[str, Any]:
    """The hyperparameters and env options a run was given (not the defaults it resolved)."""
    try:
        config = json.loads(row.get("config") or "{}")
    except (TypeError, ValueError):
        return {}
    given = {f"env.{k}": v for k, v in (config.get("env_options") or {}).items()}
    return {**given, **(config.get("hyperparams") or {})}


def setting_labels(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Per run row, what tells it apart from the other rows of its algorithm and environment: its
    ``preset/variant``, else the given settings that differ among the runs outside presets
    (``lr=0.001 env.n_agents=4``), else ``-``."""
    given = [_given_settings(row) for row in rows]
    groups: dict[tuple[Any, Any], list[int]] = {}
    for i, row in enumerate(rows):
        groups.setdefault((row.get("algo"), row.get("env"), row.get("preset") or ""), []).append(i)
    labels = []
    for i, row in enumerate(rows):
        if row.get("preset"):
            variant = str(row.get("variant") or "-").removesuffix(f".{row.get('env')}")  # env has a column
            labels.append(f"{row['preset']}/{variant}")
            continue
        peers = [given[j] for j in groups[(row.get("algo"), row.get("env"), "")]]
        keys = sorted({k for g in peers for k in g})
        differing = [k for k in keys if len({json.dumps(g.get(k), sort_keys=True) for g in peers}) > 1]
        shown = [f"{k}={given[i][k]}" for k in differing if k in given[i]]
        labels.append(" ".join(shown) or str(row.get("variant") or "") or "-")
    return labels


def run_id_column(table: Any, header: str = "run") -> None:
    """Add the run id column: never cut (``--resume`` and ``evaluate`` need the whole id); folded
    onto a second line only when the terminal cannot fit it at all."""
    table.add_column(header, no_wrap=True, overflow="fold")


def print_results(rows: list[dict[str, Any]], ledger: Any) -> None:
    """One line per finished run: status, steps, wall time, throughput and its last evaluation."""
    from rich.table import Table

    table = Table()
    run_id_column(table)
    for header in (
        "variant / settings",
        "status",
        "steps",
        "updates",
        "wall s",
        "env steps/s",
        "last eval (mean per agent)",
        "per agent",
    ):
        table.add_column(header, overflow="fold")
    for row, label in zip(rows, setting_labels(rows), strict=True):
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
            label,
            str(row.get("status")) + (f" ({row['error']})" if row.get("error") else ""),
            f"{steps:,}",
            _updates(row.get("updates")),
            f"{wall:.1f}",
            f"{steps / wall:,.0f}" if wall > 0 else "-",
            mean,
            per_agent,
        )
    console().print(table)


def _updates(value: Any) -> str:
    """Gradient updates as the tables show them: ``-`` when unknown (ledgers before the count)."""
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return "-"


def exit_unless_finished(rows: list[dict[str, Any]]) -> None:
    """Exit code 1 when a run did not finish (failed, diverged)."""
    if any(r.get("status") != "finished" for r in rows):
        raise typer.Exit(1)
