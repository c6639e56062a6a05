"""``marlbench compare`` and ``marlbench report``: tables and figures from the ledger.

Machine formats (``--format markdown|csv|latex|json``) go to stdout alone, notes to stderr, so
``marlbench compare --format latex > table.tex`` gives a clean file. Only this module writes figure files.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from marlbench import api
from marlbench.cli.common import LedgerOpt, console, fail, note, user_errors

TEAM_AGGREGATIONS = ("team-mean", "team-sum")

TagOpt = Annotated[
    list[str] | None, typer.Option("--tag", help="Only runs with this tag (repeatable: runs with every tag).")
]


def parse_eval_options(items: list[str] | None) -> dict[str, str] | None:
    """``--eval-options k=v[,k=v]`` (repeatable) -> ``{k: v}``; None when not given."""
    if not items:
        return None
    pairs = [part for item in items for part in item.split(",") if part.strip()]
    options = api.parse_pairs(pairs)
    if not options:
        fail("--eval-options is empty", "give env options such as --eval-options traffic=high")
    return options


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
    reference: Annotated[
        bool,
        typer.Option(
            "--reference/--no-reference",
            help="Add the random policy's row for each environment when the ledger has one.",
        ),
    ] = True,
    tag: TagOpt = None,
    eval_options: Annotated[
        list[str] | None,
        typer.Option(
            "--eval-options",
            help="Score runs by their post-hoc evaluations with these env options (k=v[,k=v], repeatable; "
            "made by 'marlbench evaluate RUN --env-opt k=v'); default: the training evaluations.",
        ),
    ] = None,
    ledger: LedgerOpt = None,
) -> None:
    """One row per algorithm (and variant) x environment: seeds, final score (mean, IQM, 95% CI), time.

    Atari rows add the running mean score (last 100 training games) and the % of human expert.
    """
    formats = api.table_formats()
    if fmt not in formats:
        fail(f"unknown format '{fmt}'", f"choose one of: {', '.join(formats)}")
    if aggregate not in TEAM_AGGREGATIONS:
        fail(
            f"--aggregate {aggregate} is not a team aggregation",
            "use team-mean or team-sum; --per-agent adds agents",
        )
    options = parse_eval_options(eval_options)
    book = api.open_ledger(ledger)
    table = api.compare(
        book,
        env=env,
        algos=algo,
        preset=preset,
        aggregate=aggregate,
        vs=vs,
        references=reference,
        tags=tag or [],
        eval_options=options,
    )
    stale = table.stale_note
    if fmt == "rich":
        console().print(api.render_table(table, fmt, per_agent))
        if stale:
            note(stale)
        return
    sys.stdout.write(api.render_table(table, fmt, per_agent))
    for text in (table.excluded_text(), stale):
        if text:
            note(text)


FIGURE_SUFFIXES = (".png", ".pdf", ".svg")


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
        str,
        typer.Option(
            help="per-agent (a panel per agent), team-mean or team-sum (one panel); auto: team-mean where "
            "agents are exchangeable, per-agent on SMARTS, user envs and paper 000's figures."
        ),
    ] = "auto",
    source: Annotated[
        str | None,
        typer.Option(help="Curves from training episodes (train) or evaluations (eval); default per figure."),
    ] = None,
    run: Annotated[
        list[str] | None, typer.Option("--run", help="Only this run (id or prefix; repeatable): diagnostics.")
    ] = None,
    tier: Annotated[
        str | None, typer.Option(help="Only runs of this budget tier: smoke, night or paper (no tier tag).")
    ] = None,
    out: Annotated[
        Path,
        typer.Option(
            help="Directory for the files (named after the figure and its filters), or one file "
            "ending in .png, .pdf or .svg."
        ),
    ] = Path("reports"),
    svg: Annotated[bool, typer.Option("--svg", help="Also write an SVG.")] = False,
    tag: TagOpt = None,
    ledger: LedgerOpt = None,
) -> None:
    """Draw a paper figure (or learning curves) from the ledger: PNG and PDF in --out, paths printed."""
    options = api.figure_options(
        env=env,
        algos=algo,
        preset=preset,
        aggregate=aggregate,
        source=source,
        runs=run,
        tier=tier,
        tags=tag or [],
    )
    book = api.open_ledger(ledger)
    if list_ or not figure:
        _list_figures(book, options)
        return
    drawn = api.draw_figure(book, figure, options)
    if out.suffix.lower() in FIGURE_SUFFIXES:  # one named file
        folder, paths = out.parent, [out]
    else:
        folder = out
        paths = [out / f"{drawn.stem}.{suffix}" for suffix in ("png", "pdf", *(("svg",) if svg else ()))]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        fail(f"cannot create {folder}: {err.strerror or err}", "give --out a directory you can write")
    written = []
    for path in paths:
        suffix = path.suffix.lower().lstrip(".")
        try:
            drawn.drawing.figure.savefig(path, dpi=150 if suffix == "png" else None, bbox_inches="tight")
        except OSError as err:
            fail(f"cannot write {path}: {err.strerror or err}", "give --out a directory you can write")
        written.append(path)
    for text in drawn.drawing.notes:
        note(f"note: {text}")
    for path in written:
        console().print(str(path), soft_wrap=True)


def _list_figures(book: Any, options: Any) -> None:
    from rich.table import Table

    table = Table("figure", "paper", "shows", "runs in the ledger", "to produce them")
    for fig in api.figures(book, options):
        if not fig.finished:
            have = "[red]none[/]"
        else:
            have = f"{fig.finished} finished"
            if fig.needs_variants:
                have += (
                    " ([yellow]missing " + ", ".join(fig.missing) + "[/])"
                    if fig.missing
                    else " (all variants)"
                )
        table.add_row(fig.name, fig.paper or "-", fig.description, have, _with_budget(fig.command, options))
    console().print(table)
    console().print("Draw one: marlbench report --figure NAME  (files go to ./reports)")
    if not getattr(options, "tier", None):
        console().print(
            "Preset runs above use --tier smoke (minutes); --tier night or paper run the full budgets: "
            "their projected hours are in 'marlbench preset list'"
        )


def _with_budget(command: str, options: Any) -> str:
    """``marlbench preset run NAME`` with a budget: the --tier asked for, else smoke (a paper budget
    is hours to days, not what a first try of a figure wants)."""
    parts = []
    for part in command.split(" && "):
        if part.startswith("marlbench preset run") and "--tier" not in part and "--scale" not in part:
            part += f" --tier {getattr(options, 'tier', None) or 'smoke'}"
        parts.append(part)
    return " && ".join(parts)


def register(app: typer.Typer) -> None:
    app.command()(compare)
    app.command()(report)
