"""``marlbench preset list|show|run``: the papers' experiments as presets."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from marlbench import api
from marlbench.cli.common import (
    JobsOpt,
    LedgerOpt,
    check_jobs,
    console,
    exit_unless_finished,
    note,
    print_results,
    user_errors,
    with_progress,
)
from marlbench.errors import ConfigError

preset_app = typer.Typer(
    help="Experiments of the papers as presets: list, show and run them.", no_args_is_help=True
)

SeedsOpt = Annotated[
    str | None, typer.Option(help="Override the preset's seeds: N (0..N-1), a list 0,1,2 or a range 0-4.")
]
ScaleOpt = Annotated[float, typer.Option(help="Multiply every step budget (and eval/checkpoint interval).")]

ACTIONS = {
    "skip": ("green", "done"),
    "running": ("cyan", "running"),
    "resume": ("yellow", "will resume"),
    "run": ("white", "to run"),
}
"""A planned run's action: (colour, words) in ``preset show``."""


@preset_app.command("list")
@user_errors
def preset_list() -> None:
    """Every preset: its paper, the figure or table it feeds, its runs and total env steps."""
    from rich.table import Table

    presets, searched = api.presets()
    out = console()
    if not presets:
        out.print(f"no presets found in {', '.join(str(d) for d in searched)}")
        return
    table = Table("preset", "paper", "feeds", "variants (algorithm)", "runs", "total steps")
    for item in presets:
        if isinstance(item, tuple):  # a broken file: (path, ConfigError)
            path, err = item
            table.add_row(path.stem, "-", "-", f"[red]broken: {err.message}[/]", "-", "-")
            continue
        variants = []
        for v in item.variants:
            status = api.algo_status(v.algo)
            variants.append(f"{v.name} ({v.algo})" + (f" [yellow]({status})[/]" if status else ""))
        feeds = item.feeds + (f" -> report --figure {item.figure}" if item.figure else "")
        table.add_row(
            item.name,
            item.paper or "-",
            feeds or "-",
            "\n".join(variants),
            str(len(item.variants) * len(item.seeds)),
            f"{item.total_steps():,}",
        )
    out.print(table)
    out.print("Details: marlbench preset show NAME; run: marlbench preset run NAME --seeds 3 --scale 0.1")


@preset_app.command("show")
@user_errors
def preset_show(
    name: Annotated[str, typer.Argument(help="Preset name or path of a .toml file.")],
    seeds: SeedsOpt = None,
    scale: ScaleOpt = 1.0,
    ledger: LedgerOpt = None,
) -> None:
    """A preset's runs and which of them the ledger already has (matched by config hash)."""
    from rich.table import Table

    preset = api.load_preset(name)
    out = console()
    out.print(f"[bold]{preset.name}[/]  ({preset.path})")
    for key, value in (("paper", preset.paper), ("feeds", preset.feeds), ("about", preset.description)):
        if value:
            out.print(f"{key}: {value}", soft_wrap=True)
    specs = preset.specs(api.parse_seeds(seeds) if seeds else None, scale)
    try:
        resolved = api.resolve_preset(preset, specs)
    except ConfigError as err:
        out.print(f"[yellow]cannot run yet:[/] {err.message}" + (f" ({err.fix})" if err.fix else ""))
        table = Table("variant", "label", "algo", "env", "seeds", "steps per run")
        per_variant = str(len(specs) // len(preset.variants))
        for v in preset.variants:
            table.add_row(v.name, v.label, v.algo, v.env, per_variant, f"{v.steps:,}")
        out.print(table)
        return
    book = api.open_ledger(ledger)
    rows = api.plan_runs(resolved, book)
    labels = preset.labels()
    table = Table("variant", "label", "algo", "seed", "steps", "config", "status", "run")
    for item in rows:
        spec = item.spec
        colour, words = ACTIONS[item.action]
        table.add_row(
            spec.variant,
            labels[spec.variant],
            spec.algo,
            str(spec.seed),
            f"{spec.steps:,}",
            spec.config_hash()[:10],
            f"[{colour}]{words}[/]" + (f" ({item.note})" if item.note else ""),
            item.run_id or "-",
        )
    out.print(table)
    done = sum(1 for r in rows if r.action == "skip")
    out.print(f"{done}/{len(rows)} runs done in {book.root}.", soft_wrap=True)
    if done < len(rows):
        out.print(f"Run the rest: marlbench preset run {name}" + _run_flags(seeds, scale))
    if preset.figure:
        out.print(f"Figure: {_figure_command(preset)}")


@preset_app.command("run")
@user_errors
def preset_run(
    name: Annotated[str, typer.Argument(help="Preset name or path of a .toml file.")],
    seeds: SeedsOpt = None,
    scale: ScaleOpt = 1.0,
    jobs: JobsOpt = 1,
    ledger: LedgerOpt = None,
) -> None:
    """Run a preset: start runs not yet done, resume interrupted ones, skip finished twins."""
    check_jobs(jobs)
    preset = api.load_preset(name)
    specs = preset.specs(api.parse_seeds(seeds) if seeds else None, scale)
    rows = api.plan_runs(api.resolve_preset(preset, specs), api.open_ledger(ledger))
    book = api.open_ledger(ledger, create=True)
    book.check_writable()
    adopted = api.adopt_twins(rows, book)
    counts = {a: sum(1 for r in rows if r.action == a) for a in ACTIONS}
    out = console()
    out.print(
        f"preset {preset.name}: {len(rows)} runs; {counts['skip']} already finished, "
        f"{counts['running']} running elsewhere, {counts['resume']} to resume, {counts['run']} to start",
        soft_wrap=True,
    )
    if adopted:
        out.print(
            f"{adopted} finished identical run(s) of other presets now also count for {preset.name}",
            soft_wrap=True,
        )
    todo = [r for r in rows if r.action in ("run", "resume")]
    for text in dict.fromkeys(n for r in todo for n in r.resolved.notes):
        note(f"note: {text}")
    if counts["run"] + counts["resume"] == 0:
        out.print("nothing to do.")
        _next_steps(preset)
        return
    interrupted = (
        "runs marked 'interrupted' with a checkpoint. "
        f"Resume with: marlbench preset run {name}{_run_flags(seeds, scale)}"
    )
    results = with_progress(
        lambda bars: api.run_planned(rows, ledger=book, jobs=jobs, progress=bars), interrupted
    )
    print_results(results, book)
    _next_steps(preset)
    exit_unless_finished(results)


def _figure_command(preset: Any) -> str:
    """The report command for a preset's figure (with --preset when the figure names no preset)."""
    own = api.figure_preset(preset.figure)
    return f"marlbench report --figure {preset.figure}" + ("" if own else f" --preset {preset.name}")


def _run_flags(seeds: str | None, scale: float) -> str:
    return (f" --seeds {seeds}" if seeds else "") + (f" --scale {scale:g}" if scale != 1.0 else "")


def _next_steps(preset: Any) -> None:
    out = console()
    out.print(f"Table: marlbench compare --preset {preset.name}")
    if preset.figure:
        out.print(f"Figure: {_figure_command(preset)}")


def register(app: typer.Typer) -> None:
    app.add_typer(preset_app, name="preset")
