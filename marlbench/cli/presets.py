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
    fail,
    note,
    print_results,
    user_errors,
    warning,
    with_progress,
)
from marlbench.errors import ConfigError

preset_app = typer.Typer(
    help="Experiments of the papers as presets: list, show and run them.", no_args_is_help=True
)

SeedsOpt = Annotated[
    str | None, typer.Option(help="Override the preset's seeds: N (0..N-1), a list 0,1,2 or a range 0-4.")
]
ScaleOpt = Annotated[
    float | None,
    typer.Option(
        help="Multiply every step budget, eval/checkpoint interval and step-valued hyperparameter (warm-up, "
        "target-update and test periods, annealing horizons); not with --tier.",
        show_default=False,
    ),
]
EvalEpisodesOpt = Annotated[
    int | None,
    typer.Option(help="Deterministic episodes per evaluation, for every run (default: the preset's)."),
]
TierOpt = Annotated[
    str | None,
    typer.Option(
        help="A budget tier of the preset: smoke (minutes), night (<= ~8 h here), paper; not with --scale."
    ),
]

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
    table = Table(
        "preset", "paper", "feeds", "variants (algorithm)", "runs", "total steps", "tiers (projected)"
    )
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
            "\n".join(f"{t.name}: {_hours(t.hours)}" for t in api.tier_plans(item)),
        )
    out.print(table)
    out.print("Details: marlbench preset show NAME; run: marlbench preset run NAME --tier smoke")
    out.print("Projected hours: one run at a time, from measured env steps/s (marlbench.reports.rates)")


@preset_app.command("show")
@user_errors
def preset_show(
    name: Annotated[str, typer.Argument(help="Preset name or path of a .toml file.")],
    seeds: SeedsOpt = None,
    scale: ScaleOpt = None,
    tier: TierOpt = None,
    eval_episodes: EvalEpisodesOpt = None,
    ledger: LedgerOpt = None,
) -> None:
    """A preset's runs and which of them the ledger already has (matched by config hash)."""
    from rich.markup import escape
    from rich.table import Table

    preset = api.load_preset(name)
    specs = preset.specs(api.parse_seeds(seeds) if seeds else None, scale, tier, eval_episodes)
    out = console()  # every option checked: now the page
    out.print(f"[bold]{preset.name}[/]  ({preset.path})")
    for key, value in (("paper", preset.paper), ("feeds", preset.feeds), ("about", preset.description)):
        if value:
            out.print(f"{key}: {value}", soft_wrap=True)
    book = api.open_ledger(ledger)
    _print_tiers(preset, book)
    _print_scale(preset, specs, scale)
    user_envs = sorted({spec.env for spec in specs if ":" in spec.env})
    try:
        if user_envs:  # a preset file can come from elsewhere: showing it runs none of its code
            raise ConfigError(
                f"not checked: the preset names its environment by import path ({', '.join(user_envs)}), "
                "and preset show does not import code that a preset file names",
                "preset run imports it, once you trust that code",
            )
        resolved = api.resolve_preset(preset, specs)
    except ConfigError as err:
        words = err.message if user_envs else f"cannot run yet: {err.message}"
        out.print(f"[yellow]{escape(words)}[/]" + (f" ({escape(err.fix)})" if err.fix else ""))
        table = Table("variant", "label", "algo", "env", "seeds", "steps per run")
        per_variant = str(len(specs) // len(preset.variants))
        for v in preset.variants:
            table.add_row(v.name, v.label, v.algo, v.env, per_variant, f"{v.steps:,}")
        out.print(table)
        return
    rows = api.plan_runs(resolved, book)
    for text in api.run_warnings([r.resolved for r in rows if r.action in ("run", "resume")]):
        warning(text)
    labels = preset.labels()
    table = Table("variant", "label", "algo", "seed", "steps", "config", "status", "run")
    for item in rows:
        spec = item.spec
        colour, words = ACTIONS[item.action]
        table.add_row(
            spec.variant,
            labels.get(spec.variant, "random policy (reference)" if spec.algo == "random" else spec.variant),
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
    _print_projection(book, [r.spec for r in rows], [r.spec for r in rows if r.action != "skip"])
    if done < len(rows):
        flags = _run_flags(seeds, scale, tier, eval_episodes)
        out.print(f"Run the rest: marlbench preset run {name}{flags}")
    if preset.figure:
        out.print(f"Figure: {_figure_command(preset)}")


@preset_app.command("run")
@user_errors
def preset_run(
    name: Annotated[str, typer.Argument(help="Preset name or path of a .toml file.")],
    seeds: SeedsOpt = None,
    scale: ScaleOpt = None,
    tier: TierOpt = None,
    eval_episodes: EvalEpisodesOpt = None,
    jobs: JobsOpt = 1,
    tensorboard: Annotated[
        str | None,
        typer.Option(
            help="Also write TensorBoard scalars (episodes, evaluations, diagnostics) to this directory."
        ),
    ] = None,
    ray: Annotated[
        bool, typer.Option("--ray", help="Each run a Ray task (a local Ray, or the cluster at $RAY_ADDRESS).")
    ] = False,
    ledger: LedgerOpt = None,
) -> None:
    """Run a preset: start runs not yet done, resume interrupted ones, skip finished twins."""
    check_jobs(jobs)
    if ray and jobs != 1:
        fail("--ray and --jobs both choose how many runs go at once", "drop --jobs: Ray schedules the runs")
    preset = api.load_preset(name)
    specs = preset.specs(api.parse_seeds(seeds) if seeds else None, scale, tier, eval_episodes)
    rows = api.plan_runs(api.resolve_preset(preset, specs), api.open_ledger(ledger))
    book = api.open_ledger(ledger, create=True)
    if tensorboard:
        api.use_tensorboard(tensorboard)
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
    _print_scale(preset, specs, scale)
    for text in dict.fromkeys(n for r in todo for n in r.resolved.notes):
        note(f"note: {text}")
    for text in api.run_warnings([r.resolved for r in todo]):
        warning(text)
    if counts["run"] + counts["resume"] == 0:
        out.print("nothing to do.")
        _next_steps(preset)
        return
    interrupted = (
        "runs marked 'interrupted' with a checkpoint. "
        f"Resume with: marlbench preset run {name}{_run_flags(seeds, scale, tier, eval_episodes)}"
    )
    results = with_progress(
        lambda bars: (
            api.run_planned_on_ray(rows, ledger=book, progress=bars)
            if ray
            else api.run_planned(rows, ledger=book, jobs=jobs, progress=bars)
        ),
        interrupted,
    )
    print_results(results, book)
    _next_steps(preset)
    exit_unless_finished(results)


def _figure_command(preset: Any) -> str:
    """The report command for a preset's figure (with --preset when the figure names no preset)."""
    own = api.figure_preset(preset.figure)
    return f"marlbench report --figure {preset.figure}" + ("" if own else f" --preset {preset.name}")


def _run_flags(
    seeds: str | None, scale: float | None, tier: str | None = None, eval_episodes: int | None = None
) -> str:
    return (
        (f" --tier {tier}" if tier else "")
        + (f" --seeds {seeds}" if seeds else "")
        + (f" --scale {scale:g}" if scale is not None else "")
        + (f" --eval-episodes {eval_episodes}" if eval_episodes is not None else "")
    )


def _print_scale(preset: Any, specs: list[Any], scale: float | None) -> None:
    """With ``--scale``: what each variant will run (steps, intervals, scaled hyperparameters)."""
    if scale is None:
        return
    for line in api.scale_lines(preset, specs, scale):
        console().print(line, soft_wrap=True, markup=False)


def _hours(hours: float) -> str:
    if hours != hours:  # NaN: some (algo, env) was never measured
        return "rate unknown"
    return f"{hours:.1f} h" if hours >= 1 else f"{max(1, round(hours * 60))} min"


def _print_projection(book: Any, chosen: list[Any], todo: list[Any]) -> None:
    """What the runs shown are projected to take here, one at a time, and what is left of it."""
    runs = book.runs() if book.root.is_dir() else None
    hours, unknown = api.projected_hours(chosen, runs)
    left, _ = api.projected_hours(todo, runs)
    steps = sum(s.steps for s in chosen)
    missing = f" (no rate: {', '.join(unknown)})" if unknown else ""
    console().print(
        f"These {len(chosen)} runs ({steps:,} env steps): projected {_hours(hours)}{missing} one at a time "
        f"from measured rates, {_hours(left) if todo else 'nothing'} still to run.",
        soft_wrap=True,
    )


def _print_tiers(preset: Any, book: Any) -> None:
    """The preset's tiers: runs, env steps and projected hours (the ledger's rates first)."""
    from rich.table import Table

    runs = book.runs() if book.root.is_dir() else None
    table = Table("tier", "runs", "env steps", "projected", "about")
    for plan in api.tier_plans(preset, runs):
        unknown = f" (no rate: {', '.join(plan.unknown)})" if plan.unknown else ""
        table.add_row(plan.name, str(plan.runs), f"{plan.steps:,}", _hours(plan.hours) + unknown, plan.about)
    console().print(table)


def _next_steps(preset: Any) -> None:
    out = console()
    out.print(f"Table: marlbench compare --preset {preset.name}")
    if preset.figure:
        out.print(f"Figure: {_figure_command(preset)}")


def register(app: typer.Typer) -> None:
    app.add_typer(preset_app, name="preset")
