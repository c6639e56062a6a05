"""Verdicts on the papers' claims, projected hours of preset tiers, and the results page (issue 16).

Example::

    from marlbench import api

    ledger = api.open_ledger("results/ledger")
    judged = api.verdicts(ledger, "biswas-per")          # a PresetVerdicts
    print(api.render_verdicts([judged], "markdown"))
    page, figures = api.results_page(ledger)              # Markdown text and drawn figures
"""

from __future__ import annotations

import math
import platform
from collections.abc import Sequence
from typing import Any

from marlbench.api.catalog import load_preset, presets
from marlbench.errors import ConfigError

VERDICT_FORMATS = ("table", "markdown", "json")


def run_command(preset: Any, tier: str | None = None, variants: Sequence[str] = ()) -> str:
    """The command that produces a preset's runs of ``variants``: at ``tier`` when given and it runs
    them all, else at the cheapest of its night, paper and other tiers (not smoke) that does."""
    if tier is None or not all(preset.tier(tier).keeps(v) for v in variants):
        names = ["night", "paper", *sorted(set(preset.tiers) - {"night", "paper", "smoke"})]
        fits = [n for n in names if n in preset.tiers and all(preset.tiers[n].keeps(v) for v in variants)]
        tier = fits[0] if fits else None
    return f"marlbench preset run {preset.name}" + (f" --tier {tier}" if tier else "")


def tier_plans(preset: Any, runs: Any = None) -> list[Any]:
    """Every tier of ``preset`` (smoke, night, paper, others) with its runs, steps and projected hours."""
    from marlbench.preset_parts import TIER_ORDER
    from marlbench.reports.claims_render import TierPlan
    from marlbench.reports.rates import projected_seconds

    names = sorted(preset.tiers, key=lambda n: (TIER_ORDER.index(n) if n in TIER_ORDER else 99, n))
    plans = []
    for name in names:
        specs = preset.specs(tier=name)
        seconds, unknown = projected_seconds(specs, runs)
        hours = seconds / 3600 if not unknown else math.nan
        about = preset.tiers[name].about
        plans.append(TierPlan(name, about, len(specs), sum(s.steps for s in specs), hours, tuple(unknown)))
    return plans


def projected_hours(specs: Any, runs: Any = None) -> tuple[float, tuple[str, ...]]:
    """Hours to train ``specs`` one after another at measured rates (the ledger's first), and the
    (algo, env) pairs without a rate (hours NaN then)."""
    from marlbench.reports.rates import projected_seconds

    seconds, unknown = projected_seconds(list(specs), runs)
    return (seconds / 3600 if not unknown else math.nan), tuple(unknown)


def verdicts(ledger: Any, name: str, *, tier: str | None = None) -> Any:
    """Every claim of preset ``name`` judged on ``ledger``: a :class:`~marlbench.reports.claims_render.
    PresetVerdicts`. ``tier`` restricts the runs to that tier's; by default each claim uses the largest
    budget at which all its variants have finished runs. Works on an empty or partial ledger."""
    import pandas as pd

    from marlbench.reports.claims import evaluate_claim
    from marlbench.reports.claims_render import PresetVerdicts
    from marlbench.reports.stale import drop_stale, stale_note

    preset = load_preset(name)
    if tier is not None:
        preset.tier(tier)  # ConfigError naming the tiers
    runs = ledger.runs() if ledger.root.is_dir() else pd.DataFrame()
    runs, stale = drop_stale(runs, preset.name)  # runs of an earlier version of the preset
    ids = list(runs["run_id"]) if len(runs) else []
    evals = ledger.evals(ids) if ids else pd.DataFrame()
    needs_games = any(c.score in ("running-mean", "percent-human") for c in preset.claims)
    episodes = ledger.episodes(ids) if ids and needs_games else None
    judged = tuple(
        evaluate_claim(
            claim,
            preset.name,
            runs,
            evals,
            episodes,
            tier=tier,
            command=run_command(preset, tier, claim.variants()),
        )
        for claim in preset.claims
    )
    if stale:
        import dataclasses

        judged = tuple(
            dataclasses.replace(v, notes=(*v.notes, stale_note(stale, preset.name))) for v in judged
        )
    return PresetVerdicts(
        preset.name,
        preset.paper,
        preset.description,
        judged,
        tuple(tier_plans(preset, runs if len(runs) else None)),
        machine_words(),
    )


def all_verdicts(ledger: Any, *, tier: str | None = None) -> list[Any]:
    """:func:`verdicts` of every preset that declares claims (and has ``tier``, when given)."""
    found, _ = presets()
    out = []
    for item in found:
        if isinstance(item, tuple):
            path, err = item
            raise ConfigError(f"preset {path} is broken: {err.message}", err.fix)
        if item.claims and (tier is None or tier in item.tiers):
            out.append(verdicts(ledger, item.name, tier=tier))
    return out


def render_verdicts(items: Sequence[Any], fmt: str) -> Any:
    """``items`` (PresetVerdicts) as a Rich renderable (``table``), Markdown or JSON text."""
    from marlbench.reports import claims_render as render

    if fmt not in VERDICT_FORMATS:
        raise ConfigError(f"--format {fmt} is unknown", f"choose one of: {', '.join(VERDICT_FORMATS)}")
    if fmt == "json":
        return render.to_json(items)
    if fmt == "markdown":
        return "\n".join(render.markdown(p) for p in items)
    from rich.console import Group
    from rich.table import Table

    tables = []
    for p in items:
        table = Table(*render.HEADER, title=f"{p.preset}: {p.paper}", title_justify="left")
        for row in render.table_rows(p):
            colour = {"reproduced": "green", "contradicted": "red", "inconclusive": "yellow"}.get(
                row[1], "white"
            )
            table.add_row(row[0], f"[{colour}]{row[1]}[/]", *row[2:])
        tables.append(table)
    return Group(*tables)


def machine_words() -> str:
    """This machine in a few words: CPU cores, memory, OS, Python."""
    import os

    memory = ""
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory = f", {pages / 2**30:.0f} GiB RAM"
    except (ValueError, OSError, AttributeError):
        pass
    return (
        f"{os.cpu_count()} CPU cores{memory}, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}"
    )


def _figures_to_draw(preset: Any) -> list[tuple[str, str, str | None]]:
    """``(file name, figure, env)`` for a preset: its own figure, plus learning curves per environment
    of the variants that figure does not draw (the mpe-spread proxies of paper 000's presets)."""
    from marlbench.reports.figures import all_figures

    out: list[tuple[str, str, str | None]] = []
    figure = all_figures().get(preset.figure) if preset.figure else None
    drawn = set(figure.needs.variants) if figure is not None and figure.needs.variants else set()
    if figure is not None:
        out.append((f"{preset.name}.png", figure.name, None))
    if figure is None or not drawn:
        return out
    for env in dict.fromkeys(v.env for v in preset.variants if v.name not in drawn):
        out.append((f"{preset.name}-{env}.png", "learning-curves", env))
    return out


def results_page(ledger: Any, *, command: str = "marlbench results") -> tuple[str, list[tuple[str, Any]]]:
    """The Markdown of ``results/README.md`` and the figures beside it: ``[(file name, DrawnFigure)]``.

    Every preset with claims gets its section; its figures are drawn when the ledger has their runs
    (a figure without runs is left out, and its claims say "not run").
    """
    from dataclasses import replace

    from marlbench.api.results import draw_figure, figure_options
    from marlbench.errors import MarlbenchError
    from marlbench.reports.claims_render import results_page as page

    items = all_verdicts(ledger)
    drawn: list[tuple[str, Any]] = []
    sections = []
    has_runs = ledger.root.is_dir() and len(ledger.runs()) > 0
    for p in items:
        files: list[str] = []
        tier = _largest_tier(ledger, p.preset) if has_runs else None
        for file, name, env in _figures_to_draw(load_preset(p.preset)) if has_runs else []:
            try:
                figure = draw_figure(ledger, name, figure_options(preset=p.preset, env=env, tier=tier))
            except (MarlbenchError, ValueError, KeyError):
                continue  # no runs for it yet
            drawn.append((file, figure))
            files.append(file)
        sections.append(replace(p, figures=tuple(files)))
    return page(sections, machine_words(), _shown(ledger.root), command), drawn


def _largest_tier(ledger: Any, preset: str) -> str | None:
    """The largest budget tier with finished runs of ``preset``: the figures show that tier only
    (a smoke curve beside a night one would make one figure of two experiments)."""
    from marlbench.reports.data import adopt_aliases

    runs = ledger.runs()
    if runs.empty:
        return None
    runs = adopt_aliases(runs, preset)  # twins the preset adopted from another preset count too
    mine = runs[(runs["preset"] == preset) & (runs["status"] == "finished")]
    tags = {t for tags in mine["tags"].fillna("") for t in str(tags).split(",") if t.startswith("tier:")}
    untagged = any("tier:" not in str(tags) for tags in mine["tags"].fillna(""))
    if untagged:
        return "paper"
    return next((t for t in ("night", "smoke") if f"tier:{t}" in tags), None)


def _shown(root: Any) -> str:
    """The ledger's path relative to the working directory when it lies inside it (a page that is
    committed must not name one machine's absolute paths)."""
    from pathlib import Path

    try:
        return str(Path(root).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(root)
