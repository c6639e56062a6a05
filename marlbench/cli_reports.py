"""The ``compare``, ``report`` and ``preset`` commands (registered on :data:`marlbench.cli.app`).

Thin commands over :mod:`marlbench.reports`, :mod:`marlbench.presets` and :mod:`marlbench.sweep`;
pandas, matplotlib and torch are imported inside the commands so ``marlbench --help`` stays instant.
Machine formats (``--format markdown|csv|latex|json``) go to stdout alone, notes to stderr, so
``marlbench compare --format latex > table.tex`` gives a clean file.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from marlbench.cli import LedgerOpt, _ledger, _width, app, fail, user_errors

preset_app = typer.Typer(
    help="Experiments of the papers as presets: list, show and run them.", no_args_is_help=True
)
app.add_typer(preset_app, name="preset")

QUICKSTART = "marlbench preset run quickstart"
"""What to run when the ledger is empty."""


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, width=_width(sys.stderr if stderr else sys.stdout))


def _note(text: str) -> None:
    """A line for the user on stderr (keeps stdout clean for tables and files)."""
    _console(stderr=True).print(text, soft_wrap=True, markup=False)


# ---------------------------------------------------------------------------------------------
# compare
# ---------------------------------------------------------------------------------------------
@app.command()
@user_errors
def compare(
    env: Annotated[str | None, typer.Option("--env", "-e", help="Only this environment.")] = None,
    algo: Annotated[
        str | None, typer.Option(help="Only these algorithms (comma-separated; algo or algo/variant).")
    ] = None,
    preset: Annotated[str | None, typer.Option(help="Only runs of this preset.")] = None,
    per_agent: Annotated[bool, typer.Option("--per-agent", help="Add a column per agent.")] = False,
    aggregate: Annotated[
        str, typer.Option(help="How agents' returns make the score: team-mean or team-sum.")
    ] = "team-mean",
    vs: Annotated[
        str | None, typer.Option(help="Add the probability of improvement over this algorithm (or variant).")
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="rich (default), markdown, csv, latex or json (to stdout).")
    ] = "rich",
    ledger: LedgerOpt = None,
) -> None:
    """One row per algorithm (and variant) x environment: seeds, final score (mean, IQM, 95% CI), time.

    Atari rows add the running mean score (last 100 training games) and the % of human expert.
    """
    from marlbench.reports.compare import FORMATS, render, running_mean_runs, to_rich
    from marlbench.reports.compare import compare as build
    from marlbench.reports.data import filter_runs, split_list

    if fmt not in FORMATS:
        fail(f"unknown format '{fmt}'", f"choose one of: {', '.join(FORMATS)}")
    if aggregate not in ("team-mean", "team-sum"):
        fail(
            f"--aggregate {aggregate} is not a team aggregation",
            "use team-mean or team-sum; --per-agent adds agents",
        )
    book = _ledger(ledger)
    runs = book.runs()
    if runs.empty:
        fail(f"the ledger {book.root} has no runs", f"produce some with: {QUICKSTART}")
    algos = split_list(algo)
    chosen = filter_runs(runs, env=env, algos=algos, preset=preset)
    if chosen.empty:
        fail(_no_match(runs, env, algos, preset), f"produce them with: {_producer(env, algos, preset)}")
    evals = book.evals(list(chosen["run_id"]))
    atari = running_mean_runs(chosen)  # their training games give the running mean and % of human
    episodes = book.episodes(atari) if atari else None
    try:
        table = build(chosen, evals, aggregate=aggregate, vs=vs, episodes=episodes)
    except ValueError as err:
        fail(str(err), "give --vs one of the algorithm names in the table")
    if fmt == "rich":
        _console().print(to_rich(table, per_agent))
        return
    sys.stdout.write(render(table, fmt, per_agent))
    if table.excluded_text():
        _note(table.excluded_text())


def _no_match(runs: Any, env: str | None, algos: list[str], preset: str | None) -> str:
    asked = ", ".join(
        p
        for p in (
            f"env {env}" if env else "",
            f"algo {','.join(algos)}" if algos else "",
            f"preset {preset}" if preset else "",
        )
        if p
    )
    have = f"envs: {', '.join(sorted(set(runs['env'])))}; algos: {', '.join(sorted(set(runs['algo'])))}"
    presets = sorted(p for p in set(runs["preset"]) if p)
    if presets:
        have += f"; presets: {', '.join(presets)}"
    return f"no runs match {asked} (the ledger has {have})"


def _producer(env: str | None, algos: list[str], preset: str | None) -> str:
    if preset:
        return f"marlbench preset run {preset}"
    names = [a.split("/")[0] for a in algos] or ["ppo"]
    return " && ".join(f"marlbench train {a} --env {env or 'mpe-spread'} --seeds 3" for a in names)


# ---------------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------------
@app.command()
@user_errors
def report(
    figure: Annotated[str | None, typer.Option("--figure", help="The figure to draw (see --list).")] = None,
    list_: Annotated[
        bool, typer.Option("--list", help="List the figures and whether the ledger has their runs.")
    ] = False,
    env: Annotated[str | None, typer.Option("--env", "-e", help="Only this environment.")] = None,
    algo: Annotated[str | None, typer.Option(help="Only these algorithms (comma-separated).")] = None,
    preset: Annotated[
        str | None, typer.Option(help="Only runs of this preset (figures that do not name their own).")
    ] = None,
    aggregate: Annotated[
        str, typer.Option(help="per-agent (a panel per agent), team-mean or team-sum (one panel).")
    ] = "per-agent",
    source: Annotated[
        str | None,
        typer.Option(help="Curves from training episodes (train) or evaluations (eval); default per figure."),
    ] = None,
    out: Annotated[Path, typer.Option(help="Directory for the files.")] = Path("reports"),
    svg: Annotated[bool, typer.Option("--svg", help="Also write an SVG.")] = False,
    ledger: LedgerOpt = None,
) -> None:
    """Draw a paper figure (or learning curves) from the ledger: PNG and PDF in --out, paths printed."""
    from marlbench.reports.data import AGGREGATIONS, split_list
    from marlbench.reports.figures import FigureOptions, all_figures, get_figure, report_data

    if aggregate not in AGGREGATIONS:
        fail(f"--aggregate {aggregate} is unknown", f"choose one of: {', '.join(AGGREGATIONS)}")
    if source not in (None, "train", "eval"):
        fail(f"--source {source} is unknown", "choose train or eval")
    options = FigureOptions(
        env=env, algos=split_list(algo), preset=preset, aggregate=aggregate, source=source
    )
    book = _ledger(ledger)
    if list_ or not figure:
        _list_figures(book, all_figures(), options)
        return
    chosen = get_figure(figure)
    data = report_data(book, chosen, options)
    if data.runs.empty:
        fail(
            f"the ledger {book.root} has no finished runs for figure '{chosen.name}'"
            + (f" (preset {chosen.needs.preset})" if chosen.needs.preset else ""),
            f"produce them with: {chosen.command(options)}",
        )
    import matplotlib

    matplotlib.use("Agg")
    drawing = chosen.draw(data, options)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        fail(f"cannot create {out}: {err.strerror or err}", "give --out a directory you can write")
    suffix = [x for x in (None if chosen.needs.preset else preset, env) if x]
    stem = "-".join([chosen.name, *suffix])
    written = []
    for suffix in ("png", "pdf", *(("svg",) if svg else ())):
        path = out / f"{stem}.{suffix}"
        drawing.figure.savefig(path, dpi=150 if suffix == "png" else None)
        written.append(path)
    for note in drawing.notes:
        _note(f"note: {note}")
    console = _console()
    for path in written:
        console.print(str(path), soft_wrap=True)


def _list_figures(book: Any, figures: dict[str, Any], options: Any) -> None:
    from rich.table import Table

    runs = book.runs()
    table = Table("figure", "paper", "shows", "runs in the ledger", "to produce them")
    for fig in figures.values():
        chosen = fig.select(runs, options) if len(runs) else runs
        if chosen.empty:
            have = "[red]none[/]"
        else:
            missing = fig.missing_variants(chosen)
            have = f"{len(chosen)} finished"
            if fig.needs.variants:
                have += " ([yellow]missing " + ", ".join(missing) + "[/])" if missing else " (all variants)"
        table.add_row(fig.name, fig.paper or "-", fig.description, have, fig.command(options))
    _console().print(table)
    _console().print("Draw one: marlbench report --figure NAME  (files go to ./reports)")


# ---------------------------------------------------------------------------------------------
# preset list / show / run
# ---------------------------------------------------------------------------------------------
SeedsOpt = Annotated[
    str | None, typer.Option(help="Override the preset's seeds: N (0..N-1), a list 0,1,2 or a range 0-4.")
]
ScaleOpt = Annotated[float, typer.Option(help="Multiply every step budget (and eval/checkpoint interval).")]


@preset_app.command("list")
@user_errors
def preset_list() -> None:
    """Every preset: its paper, the figure or table it feeds, its runs and total env steps."""
    from rich.table import Table

    from marlbench.presets import Preset, algo_status, all_presets, preset_dirs

    presets = all_presets()
    console = _console()
    if not presets:
        console.print(f"no presets found in {', '.join(str(d) for d in preset_dirs())}")
        return
    table = Table("preset", "paper", "feeds", "variants (algorithm)", "runs", "total steps")
    for item in presets:
        if not isinstance(item, Preset):
            path, err = item
            table.add_row(path.stem, "-", "-", f"[red]broken: {err.message}[/]", "-", "-")
            continue
        variants = []
        for v in item.variants:
            status = algo_status(v.algo)
            mark = f" [yellow]({status})[/]" if status else ""
            variants.append(f"{v.name} ({v.algo}){mark}")
        feeds = item.feeds + (f" -> report --figure {item.figure}" if item.figure else "")
        table.add_row(
            item.name,
            item.paper or "-",
            feeds or "-",
            "\n".join(variants),
            str(len(item.variants) * len(item.seeds)),
            f"{item.total_steps():,}",
        )
    console.print(table)
    console.print("Details: marlbench preset show NAME; run: marlbench preset run NAME --seeds 3 --scale 0.1")


def _planned(name: str, seeds: str | None, scale: float, ledger: str | None) -> tuple[Any, list[Any], Any]:
    """(preset, plan rows, ledger) with every spec resolved; ConfigError names file and key."""
    from marlbench.config import parse_seeds
    from marlbench.presets import check_runnable, load_preset
    from marlbench.sweep import plan

    preset = load_preset(name)
    seed_list = parse_seeds(seeds) if seeds else None
    specs = preset.specs(seed_list, scale)
    check_runnable(preset, specs)
    book = _ledger(ledger)
    return preset, plan(specs, book.runs()), book


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

    from marlbench.config import parse_seeds
    from marlbench.errors import ConfigError
    from marlbench.presets import check_runnable, load_preset
    from marlbench.sweep import plan

    preset = load_preset(name)
    console = _console()
    console.print(f"[bold]{preset.name}[/]  ({preset.path})")
    for key, value in (("paper", preset.paper), ("feeds", preset.feeds), ("about", preset.description)):
        if value:
            console.print(f"{key}: {value}", soft_wrap=True)
    specs = preset.specs(parse_seeds(seeds) if seeds else None, scale)
    try:
        check_runnable(preset, specs)
    except ConfigError as err:
        console.print(f"[yellow]cannot run yet:[/] {err.message}" + (f" ({err.fix})" if err.fix else ""))
        table = Table("variant", "label", "algo", "env", "seeds", "steps per run")
        for v in preset.variants:
            table.add_row(
                v.name, v.label, v.algo, v.env, str(len(specs) // len(preset.variants)), f"{v.steps:,}"
            )
        console.print(table)
        return
    book = _ledger(ledger)
    rows = plan(specs, book.runs())
    labels = preset.labels()
    colours = {"skip": "green", "running": "cyan", "resume": "yellow", "run": "white"}
    words = {"skip": "done", "running": "running", "resume": "will resume", "run": "to run"}
    table = Table("variant", "label", "algo", "seed", "steps", "config", "status", "run")
    for item in rows:
        spec = item.spec
        status = f"[{colours[item.action]}]{words[item.action]}[/]" + (f" ({item.note})" if item.note else "")
        table.add_row(
            spec.variant,
            labels[spec.variant],
            spec.algo,
            str(spec.seed),
            f"{spec.steps:,}",
            spec.config_hash()[:10],
            status,
            item.run_id or "-",
        )
    console.print(table)
    done = sum(1 for r in rows if r.action == "skip")
    console.print(f"{done}/{len(rows)} runs done in {book.root}.", soft_wrap=True)
    if done < len(rows):
        console.print(f"Run the rest: marlbench preset run {name}" + _run_flags(seeds, scale))
    if preset.figure:
        console.print(f"Figure: {_figure_command(preset)}")


def _figure_command(preset: Any) -> str:
    """The report command for a preset's figure (with --preset when the figure names no preset)."""
    from marlbench.reports.figures import all_figures

    figure = all_figures().get(preset.figure)
    own = figure is not None and figure.needs.preset
    return f"marlbench report --figure {preset.figure}" + ("" if own else f" --preset {preset.name}")


def _run_flags(seeds: str | None, scale: float) -> str:
    return (f" --seeds {seeds}" if seeds else "") + (f" --scale {scale:g}" if scale != 1.0 else "")


@preset_app.command("run")
@user_errors
def preset_run(
    name: Annotated[str, typer.Argument(help="Preset name or path of a .toml file.")],
    seeds: SeedsOpt = None,
    scale: ScaleOpt = 1.0,
    jobs: Annotated[int, typer.Option(help="Runs at once, each in its own process.")] = 1,
    ledger: LedgerOpt = None,
) -> None:
    """Run a preset: start runs not yet done, resume interrupted ones, skip finished twins."""
    import os

    from rich.console import Console

    from marlbench.cli import _print_results
    from marlbench.progress import RichProgress
    from marlbench.sweep import adopt_twins, execute

    if jobs < 1:
        fail(f"--jobs {jobs} must be at least 1", "use --jobs 1 for one run at a time")
    preset, rows, _ = _planned(name, seeds, scale, ledger)
    book = _ledger(ledger, create=True)
    book.check_writable()
    adopted = adopt_twins(rows, book)
    counts = {a: sum(1 for r in rows if r.action == a) for a in ("skip", "running", "resume", "run")}
    console = _console()
    console.print(
        f"preset {preset.name}: {len(rows)} runs; {counts['skip']} already finished, "
        f"{counts['running']} running elsewhere, {counts['resume']} to resume, {counts['run']} to start",
        soft_wrap=True,
    )
    if adopted:
        console.print(
            f"{adopted} finished identical run(s) of other presets now also count for {preset.name}",
            soft_wrap=True,
        )
    if counts["run"] + counts["resume"] == 0:
        console.print("nothing to do.")
        _next_steps(preset)
        return
    show_bars = sys.stderr.isatty() or os.environ.get("MARLBENCH_PROGRESS") == "1"
    results: list[dict[str, Any]] = []
    with RichProgress(console=Console(stderr=True, force_terminal=show_bars or None)) as bars:
        try:
            results = execute(rows, book, jobs=jobs, progress=bars)
        except KeyboardInterrupt:
            console.print(
                "[yellow]interrupted:[/] runs marked 'interrupted' with a checkpoint. "
                f"Resume with: marlbench preset run {name}{_run_flags(seeds, scale)}"
            )
            raise typer.Exit(130) from None
    _print_results(results, book)
    _next_steps(preset)
    if any(r.get("status") != "finished" for r in results):
        raise typer.Exit(1)


def _next_steps(preset: Any) -> None:
    console = _console()
    console.print(f"Table: marlbench compare --preset {preset.name}")
    if preset.figure:
        console.print(f"Figure: {_figure_command(preset)}")
