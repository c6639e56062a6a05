"""Learning curves: the shared drawing code and the generic ``learning-curves`` figure.

A curve is a group's return (per agent, or aggregated over agents) against environment steps: the
mean over seeds, with a band for the 95% bootstrap CI of that mean. Multi-agent runs get one panel
per agent by default (paper 000 insists on per-agent rewards: a summed reward hides agents left
behind). Training-episode curves bin episodes into equal step intervals; evaluation curves use each
evaluation during training.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from marlbench.reports.data import (
    AGGREGATION_WORDS,
    TEAM,
    across_seeds,
    agent_order,
    check_aggregation,
    eval_curves,
    train_curves,
    wall_time_at_steps,
)
from marlbench.reports.figures import Drawing, Figure, FigureOptions, ReportData, register_figure
from marlbench.reports.style import legend_columns, palette, set_title

SOURCES = ("train", "eval")
PANEL_WIDTH, PANEL_HEIGHT = 3.6, 2.9
MIN_WIDTH = 6.4
"""Inches; narrower figures could not hold their two-line titles."""


def display_labels(runs: pd.DataFrame, labels: dict[str, str]) -> pd.DataFrame:
    """``runs`` with ``label`` replaced by the preset's variant label where there is one."""
    runs = runs.copy()
    runs["label"] = [
        labels[variant] + (f" [{setting}]" if setting else "") if variant in labels else label
        for variant, setting, label in zip(runs["variant"], runs["setting"], runs["label"], strict=True)
    ]
    return runs


def label_order(runs: pd.DataFrame, labels: dict[str, str]) -> list[str]:
    """Labels in preset order (variants as listed), then alphabetically."""
    rank = {name: i for i, name in enumerate(labels)}
    firsts = runs.drop_duplicates("label")
    keyed = sorted(
        zip(firsts["variant"], firsts["label"], strict=True), key=lambda p: (rank.get(p[0], len(rank)), p[1])
    )
    return [label for _, label in keyed]


def curve_summary(
    data: ReportData, options: FigureOptions, source: str, *, with_wall_time: bool = False
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(runs with display labels, per-point mean and CI across seeds) for ``source`` train or eval."""
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; valid: {', '.join(SOURCES)}")
    aggregate = check_aggregation(options.aggregate)
    runs = display_labels(data.runs, data.labels)
    if source == "train":
        curves = train_curves(runs, data.episodes, aggregate, bins=options.bins)
    else:
        curves = eval_curves(runs, data.evals, aggregate)
        if with_wall_time:
            curves["wall_time"] = wall_time_at_steps(runs, data.episodes, curves)
    return runs, across_seeds(curves, runs)


def source_words(source: str, bins: int) -> str:
    if source == "train":
        return f"training episodes, mean return in each 1/{bins} of the budget"
    return "deterministic evaluations during training, mean return over each evaluation's episodes"


def aggregation_ylabel(aggregate: str) -> str:
    return {
        "per-agent": "episode return (per agent)",
        "team-mean": "episode return (team mean over agents)",
        "team-sum": "episode return (team sum over agents)",
    }[aggregate]


def seed_count(runs: pd.DataFrame, by: Sequence[str] = ("label",)) -> str:
    """'3 seeds', or '2-3 seeds' when the groups (``by``) differ."""
    counts = runs.groupby(list(by))["run_id"].nunique()
    if counts.empty:
        return "0 seeds"
    lo, hi = int(counts.min()), int(counts.max())
    n = str(lo) if lo == hi else f"{lo}-{hi}"
    return f"{n} seed{'s' if hi != 1 else ''}"


def seeds_words(
    runs: pd.DataFrame, summary: pd.DataFrame | None = None, by: Sequence[str] = ("label",)
) -> str:
    """What the line and the band of a curve show.

    With the drawn ``summary`` (its ``seeds`` column counts the seeds at each point), points that
    hold a single seed are counted: a band is only drawn where two or more seeds meet, and the
    caption says so rather than promise a band that a bin of one seed cannot have.
    """
    one = runs.groupby(list(by))["run_id"].nunique().min() < 2 if len(runs) else True
    band = "band: 95% bootstrap CI of the mean"
    if one:
        band += " (none with one seed)"
    elif summary is not None and "seeds" in summary and len(summary):
        seeds = summary["seeds"].to_numpy(int)
        single = int((seeds == 1).sum())
        if single:
            band += f" (none at the {single} of {seeds.size} points that hold one seed)"
    return f"line: mean over {seed_count(runs, by)}, {band}"


def new_figure(
    rows: int, columns: int, *, sharey: bool | str = True, extra_height: float = 0.9
) -> tuple[Any, Any]:
    """A constrained-layout figure with a ``rows x columns`` grid of axes in seaborn's whitegrid style."""
    import seaborn as sns
    from matplotlib.figure import Figure as MplFigure

    with sns.axes_style("whitegrid"), sns.plotting_context("notebook", font_scale=0.85):
        width = max(PANEL_WIDTH * columns + 0.6, MIN_WIDTH)
        figure = MplFigure(figsize=(width, PANEL_HEIGHT * rows + extra_height), layout="constrained")
        axes = figure.subplots(rows, columns, squeeze=False, sharey=sharey)
    return figure, axes


def plot_curves(
    ax: Any, summary: pd.DataFrame, order: Sequence[str], colours: dict[str, Any], x: str = "step"
) -> None:
    """One line per label (mean) with its CI band on ``ax``."""
    import seaborn as sns

    for label in order:
        rows = summary[summary["label"] == label].sort_values(x)
        rows = rows[np.isfinite(rows["mean"].to_numpy(float)) & np.isfinite(rows[x].to_numpy(float))]
        if rows.empty:
            continue
        colour = colours[label]
        sns.lineplot(
            x=rows[x].to_numpy(float),
            y=rows["mean"].to_numpy(float),
            ax=ax,
            color=colour,
            label=label,
            errorbar=None,
            legend=False,
            linewidth=1.6,
            marker="o" if len(rows) <= 12 else None,
            markersize=4,
        )
        low, high = rows["ci_low"].to_numpy(float), rows["ci_high"].to_numpy(float)
        band = np.isfinite(low) & np.isfinite(high)
        if band.any():
            ax.fill_between(
                rows[x].to_numpy(float)[band], low[band], high[band], color=colour, alpha=0.2, lw=0
            )


def step_axis(ax: Any, label: str = "environment steps") -> None:
    from matplotlib.ticker import EngFormatter

    ax.xaxis.set_major_formatter(EngFormatter(sep=""))
    ax.set_xlabel(label)


def wall_axis(ax: Any, summary: pd.DataFrame) -> float:
    """Set the wall-clock label; returns the divisor from seconds to the unit used."""
    top = float(np.nanmax(summary["wall_time"].to_numpy(float))) if len(summary) else 0.0
    unit, divisor = ("h", 3600.0) if top > 3 * 3600 else ("min", 60.0) if top > 180 else ("s", 1.0)
    ax.set_xlabel(f"wall-clock time ({unit})")
    return divisor


def add_legend(
    figure: Any,
    axes: Any,
    order: Sequence[str],
    colours: dict[str, Any],
    *,
    bars: bool = False,
    reference: bool = False,
) -> None:
    """One legend for the whole figure, below the panels (patches for bar charts, lines otherwise).

    ``reference`` adds the dashed random-policy line's entry.
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    if bars:
        handles = [Patch(color=colours[label]) for label in order]
    else:
        handles = [Line2D([], [], color=colours[label], lw=2) for label in order]
    names = list(order)
    if reference:
        handles.append(Line2D([], [], color=REFERENCE_COLOUR, lw=1.4, ls="--"))
        names.append(REFERENCE_LABEL)
    columns = legend_columns(names, figure.get_figwidth())
    figure.legend(handles, names, loc="outside lower center", ncols=columns, frameon=False)


REFERENCE_LABEL = "random policy"
REFERENCE_COLOUR = "0.35"


def reference_lines(data: ReportData, aggregate: str) -> dict[tuple[str, str], float]:
    """(env, agent or 'team') -> the random policy's final score, from ``data``'s reference runs."""
    from marlbench.reports.references import reference_levels

    if data.reference_runs is None or data.reference_evals is None or data.reference_runs.empty:
        return {}
    levels = reference_levels(data.reference_runs, data.reference_evals, aggregate)
    return {(e, a): float(v) for e, a, v in zip(levels["env"], levels["agent"], levels["score"], strict=True)}


def draw_reference(ax: Any, levels: dict[tuple[str, str], float], env: str, agent: str) -> bool:
    """A dashed line at the random policy's score of ``env``/``agent`` on ``ax``; whether it drew one."""
    if (env, agent) not in levels:
        return False
    ax.axhline(levels[(env, agent)], color=REFERENCE_COLOUR, lw=1.4, ls="--", zorder=1)
    return True


def draw_agent_panels(
    summary: pd.DataFrame,
    runs: pd.DataFrame,
    order: Sequence[str],
    *,
    title: str,
    subtitle: str,
    aggregate: str,
    rows: Sequence[tuple[str, str]] = (("step", ""),),
) -> Any:
    """One column per agent (or one team panel); one row per x axis in ``rows`` (step, wall_time).

    ``rows`` holds ``(x column, row title)`` pairs; ``wall_time`` rows plot against wall-clock time.
    """
    agents = agent_order(summary["agent"]) or [TEAM]
    columns = len(agents)
    figure, axes = new_figure(len(rows), columns, sharey=True)
    colours = palette(order)
    for r, (x, row_title) in enumerate(rows):
        for c, agent in enumerate(agents):
            ax = axes[r][c]
            part = summary[summary["agent"] == agent]
            if x == "wall_time":
                divisor = wall_axis(ax, part if len(part) else summary)
                part = part.assign(wall_time=part["wall_time"] / divisor)
            else:
                step_axis(ax)
            plot_curves(ax, part, order, colours, x=x)
            name = AGGREGATION_WORDS[aggregate] if agent == TEAM else agent
            ax.set_title(f"{name}{' - ' + row_title if row_title else ''}", fontsize=10)
            if c == 0:
                ax.set_ylabel(aggregation_ylabel(aggregate))
    add_legend(figure, axes, order, colours)
    set_title(figure, title, subtitle)
    return figure


# ---------------------------------------------------------------------------------------------
# learning-curves: any filter of the ledger
# ---------------------------------------------------------------------------------------------
def draw_learning_curves(data: ReportData, options: FigureOptions) -> Drawing:
    """Return vs env steps for every group of the selected runs; one row of panels per env.

    The random policy's final score is a dashed line where the ledger has a ``random`` run of the
    same env and options.
    """
    source = options.source or "eval"
    runs, summary = curve_summary(data, options, source)
    if summary.empty:
        raise no_points_error(source)
    order = label_order(runs, data.labels)
    envs = sorted(summary["env"].unique())
    agents_by_env = {env: agent_order(summary.loc[summary["env"] == env, "agent"]) for env in envs}
    columns = max(len(a) for a in agents_by_env.values())
    figure, axes = new_figure(len(envs), columns, sharey="row")
    colours = palette(order)
    levels = reference_lines(data, options.aggregate)
    drew_reference = False
    for r, env in enumerate(envs):
        for c in range(columns):
            ax = axes[r][c]
            if c >= len(agents_by_env[env]):
                ax.set_visible(False)
                continue
            agent = agents_by_env[env][c]
            part = summary[(summary["env"] == env) & (summary["agent"] == agent)]
            step_axis(ax)
            plot_curves(ax, part, order, colours)
            drew_reference |= draw_reference(ax, levels, env, agent)
            name = AGGREGATION_WORDS[options.aggregate] if agent == TEAM else agent
            ax.set_title(f"{env}: {name}", fontsize=10)
            if c == 0:
                ax.set_ylabel(aggregation_ylabel(options.aggregate))
    present = [label for label in order if label in set(summary["label"])]
    add_legend(figure, axes, present, colours, reference=drew_reference)
    set_title(figure, "Learning curves", source_words(source, options.bins), seeds_words(runs, summary))
    return Drawing(figure)


def no_points_error(source: str) -> Exception:
    """The error for runs that recorded nothing to draw from ``source``."""
    from marlbench.errors import MarlbenchError

    what = "evaluations" if source == "eval" else "training episodes"
    other = "train" if source == "eval" else "eval"
    return MarlbenchError(f"the selected runs recorded no {what}", f"try --source {other}")


register_figure(
    Figure(
        name="learning-curves",
        description="return vs env steps of any runs (--env, --algo), one line per algorithm, "
        "one panel per agent",
        draw=draw_learning_curves,
        default_source="eval",
    )
)
