"""``marlbench verdict PRESET`` and ``marlbench results``: the papers' claims judged on a ledger.

``verdict`` prints, per claim, the budget run, n per arm, the statistic with its 95% CI and the
verdict (reproduced / contradicted / inconclusive / missing, with the command that produces the
runs). ``results`` writes ``results/README.md`` (and its figures) from a ledger.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from marlbench import api
from marlbench.cli.common import LedgerOpt, console, fail, note, user_errors

FormatOpt = Annotated[str, typer.Option("--format", help="table, markdown or json.")]


@user_errors
def verdict(
    preset: Annotated[str | None, typer.Argument(help="Preset name or path of a .toml file.")] = None,
    every: Annotated[bool, typer.Option("--all", help="Every preset that declares claims.")] = False,
    fmt: FormatOpt = "table",
    tier: Annotated[
        str | None, typer.Option(help="Judge only the runs of this tier (smoke, night, paper).")
    ] = None,
    ledger: LedgerOpt = None,
) -> None:
    """Each claim of a preset: budget run, n per arm, statistic, 95% CI and verdict."""
    if every == (preset is not None):
        fail(
            "give a preset name or --all (not both)",
            "e.g. marlbench verdict biswas-per, or marlbench verdict --all",
        )
    if fmt not in api.VERDICT_FORMATS:
        fail(f"--format {fmt} is unknown", f"choose one of: {', '.join(api.VERDICT_FORMATS)}")
    book = api.open_ledger(ledger)
    items = api.all_verdicts(book, tier=tier) if every else [api.verdicts(book, str(preset), tier=tier)]
    if not any(p.verdicts for p in items):
        note(f"preset {preset} declares no [[claims]]" if preset else "no preset declares [[claims]]")
    rendered = api.render_verdicts(items, fmt)
    if fmt == "table":
        console().print(rendered)
        missing = [v for p in items for v in p.verdicts if v.verdict == "missing"]
        for command in dict.fromkeys(v.command for v in missing):
            note(f"missing runs: {command}")
    else:
        typer.echo(rendered)


@user_errors
def results(
    ledger: Annotated[str, typer.Option("--ledger", help="The committed ledger.")] = "results/ledger",
    out: Annotated[str, typer.Option("--out", help="Directory of README.md and the figures.")] = "results",
) -> None:
    """Write OUT/README.md (claims, verdicts, CIs, budgets, figures) from a ledger; works on an empty one."""
    book = api.open_ledger(ledger)
    command = "marlbench results" + (f" --ledger {ledger}" if ledger != "results/ledger" else "")
    command += f" --out {out}" if out != "results" else ""
    text, figures = api.results_page(book, command=command)
    target = Path(out)
    try:
        target.mkdir(parents=True, exist_ok=True)
        for name, figure in figures:
            figure.drawing.figure.savefig(target / name, dpi=110, bbox_inches="tight")
            figure.drawing.figure.clf()  # pages draw many figures: free each once saved
        (target / "README.md").write_text(text, encoding="utf-8")
    except OSError as err:
        fail(f"cannot write {target}: {err.strerror or err}", "give a writable --out directory")
    typer.echo(str(target / "README.md"))
    for name, _ in figures:
        typer.echo(str(target / name))


def register(app: typer.Typer) -> None:
    app.command("verdict")(verdict)
    app.command("results")(results)
