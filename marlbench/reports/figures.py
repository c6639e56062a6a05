"""The figure registry: named figures that know their runs, how to draw them and how to produce them.

A :class:`Figure` says which runs it needs (:class:`Needs`: a preset and its variants, or any runs
matching the user's filters), draws a matplotlib figure from ledger DataFrames
(:class:`ReportData`) and names the command that produces missing runs. Figures never write
files; the CLI saves what ``draw`` returns.

Adding a figure is local: write a module that calls :func:`register_figure` at import time and add
the module's name to :data:`FIGURE_MODULES`::

    register_figure(Figure(
        name="my-figure", description="what it shows", paper="00X Fig. 1",
        needs=Needs(preset="my-preset", variants=("a", "b")),
        produce="marlbench preset run my-preset",
        draw=draw_my_figure,                 # (ReportData, FigureOptions) -> Drawing
    ))
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from marlbench.errors import ConfigError, nearest

if TYPE_CHECKING:
    import pandas as pd

FIGURE_MODULES: list[str] = [
    "marlbench.reports.curves",
    "marlbench.reports.paper000",
    "marlbench.reports.paper001",
    "marlbench.reports.paper002",
    "marlbench.reports.paper004",
    "marlbench.reports.diagnostics",
    "marlbench.reports.distributed",
]
"""Modules whose import registers figures (loaded on first use of the registry)."""

_FIGURES: dict[str, Figure] = {}
_loaded = False


@dataclass(frozen=True)
class Needs:
    """The runs a figure draws: those stamped with ``preset`` (and one of ``variants``), on ``env``."""

    preset: str | None = None
    variants: tuple[str, ...] = ()
    """Variants compared by the figure; all of them make the full figure."""
    env: str | None = None
    metrics: bool = False
    """The figure draws the ``metrics`` table (training diagnostics)."""


@dataclass
class FigureOptions:
    """What the user asked for on the command line."""

    env: str | None = None
    algos: list[str] = field(default_factory=list)
    preset: str | None = None
    """Only runs of this preset (for figures that do not name their own)."""
    aggregate: str = "per-agent"
    """per-agent (one panel per agent), team-mean or team-sum (one panel); ``auto`` (the CLI's
    default) is resolved by :func:`marlbench.api.draw_figure` with :func:`default_aggregate`."""
    source: str | None = None
    """train (training episodes) or eval (evaluations); None: the figure's default."""
    bins: int = 40
    """Intervals of the step axis for training-episode curves."""
    runs: list[str] = field(default_factory=list)
    """Only these runs (ids or unique prefixes), for figures of named runs (``diagnostics``)."""
    tier: str | None = None
    """Only runs of this budget tier (``tier:<name>`` tag); ``paper``: runs without a tier tag."""
    tags: list[str] = field(default_factory=list)
    """Only runs carrying every one of these tags (``report --tag``)."""


@dataclass
class ReportData:
    """The DataFrames a figure is drawn from: finished runs (with group labels), episodes, evals."""

    runs: pd.DataFrame
    episodes: pd.DataFrame
    evals: pd.DataFrame
    labels: dict[str, str] = field(default_factory=dict)
    """Display name of each variant (from its preset), in the preset's order."""
    metrics: pd.DataFrame | None = None
    """The runs' ``metrics`` rows, for figures whose :class:`Needs` asks for them (else None)."""
    reference_runs: pd.DataFrame | None = None
    """Finished ``random`` runs of the same envs (see :mod:`marlbench.reports.references`), or None."""
    reference_evals: pd.DataFrame | None = None
    """The evaluations of ``reference_runs``."""
    stale: int = 0
    """Runs of an earlier version of the preset, left out (:mod:`marlbench.reports.stale`)."""


@dataclass
class Drawing:
    """A drawn figure and notes for the user (missing variants, evaluations still to run)."""

    figure: Any
    """A ``matplotlib.figure.Figure``."""
    notes: list[str] = field(default_factory=list)


def default_aggregate(figure: Figure, runs: pd.DataFrame) -> str:
    """``--aggregate auto``: one team-mean panel where the agents are exchangeable (the particle tasks,
    pursuit), a panel per agent where they are not (SMARTS egos drive different routes; a user's env
    may differ too) or where the paper insists (paper 000 reports every agent)."""
    envs = set(runs["env"]) if "env" in runs else set()
    distinct = any(e.startswith("smarts") or ":" in e for e in envs)
    if figure.paper.startswith("004"):
        return "team-sum"
    return "per-agent" if figure.paper.startswith("000") or distinct else "team-mean"


@dataclass(frozen=True)
class Figure:
    """A named figure of the registry."""

    name: str
    description: str
    draw: Callable[[ReportData, FigureOptions], Drawing]
    paper: str = ""
    """Where it comes from, e.g. '000 Fig. 4' ('' for generic figures)."""
    needs: Needs = Needs()
    produce: str = ""
    """The command that produces the runs ('' : built from the user's filters)."""
    default_source: str = "train"

    def select(self, runs: pd.DataFrame, options: FigureOptions) -> pd.DataFrame:
        """The finished runs this figure draws, given the user's filters."""
        from marlbench.reports.data import filter_runs

        runs = runs[runs["status"] == "finished"]
        runs = filter_runs(
            runs,
            env=options.env or self.needs.env,
            algos=options.algos,
            preset=self.needs.preset or options.preset,
            variants=self.needs.variants,
            tags=options.tags,
        )
        if options.tier:
            tiers = (
                runs["tags"]
                .fillna("")
                .map(
                    lambda tags: next((t[5:] for t in str(tags).split(",") if t.startswith("tier:")), "paper")
                )
            )
            runs = runs[tiers == options.tier]
        return runs

    def command(self, options: FigureOptions) -> str:
        """The command that produces this figure's runs."""
        if self.produce:
            return self.produce
        if options.preset:
            return f"marlbench preset run {options.preset}"
        env = options.env or self.needs.env or "mpe-spread"
        algos = options.algos or ["ppo"]
        return " && ".join(f"marlbench train {a.split('/')[0]} --env {env} --seeds 3" for a in algos)

    def missing_variants(self, runs: pd.DataFrame) -> list[str]:
        present = set(runs["variant"])
        return [v for v in self.needs.variants if v not in present]


def register_figure(figure: Figure, *, replace: bool = False) -> Figure:
    """Add ``figure`` to the registry (ValueError if the name is taken, unless ``replace``)."""
    if figure.name in _FIGURES and not replace:
        raise ValueError(f"figure {figure.name!r} is already registered")
    _FIGURES[figure.name] = figure
    return figure


def _load_builtin() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for module in FIGURE_MODULES:
            importlib.import_module(module)


def all_figures() -> dict[str, Figure]:
    """Every registered figure by name, in registration order."""
    _load_builtin()
    return dict(_FIGURES)


def get_figure(name: str) -> Figure:
    """The figure called ``name``; ConfigError with the list when there is none."""
    figures = all_figures()
    if name in figures:
        return figures[name]
    raise ConfigError(
        f"no figure named '{name}'",
        f"{nearest(name, list(figures))}run 'marlbench report --list' (figures: {', '.join(figures)})",
    )


def report_data(ledger: Any, figure: Figure, options: FigureOptions) -> ReportData:
    """Read what ``figure`` draws from ``ledger``: its finished runs, their episodes and evaluations."""
    from marlbench.reports.data import add_groups
    from marlbench.reports.stale import drop_stale

    preset = figure.needs.preset or options.preset
    runs, stale = drop_stale(figure.select(ledger.runs(), options), preset)
    runs = add_groups(runs)
    ids = list(runs["run_id"])
    labels: dict[str, str] = {}
    if preset:
        from marlbench.presets import load_preset

        try:
            labels = load_preset(preset).labels()
        except ConfigError:  # the preset file is gone or broken: variant names will do
            labels = {}
    metrics = ledger.metrics(ids) if figure.needs.metrics else None
    from marlbench.reports.references import matching_references

    refs = matching_references(runs, ledger.runs())
    return ReportData(
        runs=runs,
        episodes=ledger.episodes(ids),
        evals=ledger.evals(ids),
        labels=labels,
        metrics=metrics,
        reference_runs=refs,
        reference_evals=ledger.evals(list(refs["run_id"])) if len(refs) else None,
        stale=stale,
    )
