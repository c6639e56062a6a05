"""Figures of paper 000 (Biswas et al., MADDPG vs PPO on a SMARTS 4-lane intersection).

* ``ppo-vs-maddpg`` (Fig. 2): per-agent mean episode reward, PPO with shared weights vs MADDPG,
  against env steps and against wall-clock time, with the PPO/MADDPG wall-time ratio (the paper:
  PPO took 3-3.5x as long).
* ``per`` (Fig. 3): MADDPG with rank-based prioritized replay vs uniform sampling.
* ``batch-size`` (Fig. 4): MADDPG with batch size 64 vs 1024.
* ``smarts-safety`` (sec. III.A, "Performance"): collision and completion rates over evaluation
  episodes under two background traffic densities.

The paper plots RLlib's "mean episode reward" of training episodes for each agent; the curve
figures therefore default to training episodes (``--source eval`` switches to evaluations).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from marlbench.reports.curves import (
    curve_summary,
    draw_agent_panels,
    label_order,
    new_figure,
    no_points_error,
    seed_count,
    seeds_words,
    source_words,
)
from marlbench.reports.data import COLLISION_METRIC, COMPLETION_METRIC
from marlbench.reports.figures import Drawing, Figure, FigureOptions, Needs, ReportData, register_figure
from marlbench.reports.selection import rates_by_option
from marlbench.reports.stats import bootstrap_ci
from marlbench.reports.style import palette, set_title

PAPER = "000"
ENV = "smarts-intersection"


def _missing_note(figure_name: str, data: ReportData, needs: Needs, produce: str) -> list[str]:
    present = set(data.runs["variant"])
    missing = [v for v in needs.variants if v not in present]
    if not missing:
        return []
    return [f"{figure_name}: no finished runs of variant(s) {', '.join(missing)} yet; run: {produce}"]


def _curves_figure(name: str, title: str, needs: Needs, produce: str, *, wall_clock: bool = False) -> Figure:
    """A per-agent learning-curve figure comparing the variants of one preset."""

    def draw(data: ReportData, options: FigureOptions) -> Drawing:
        source = options.source or "train"
        runs, summary = curve_summary(data, options, source, with_wall_time=wall_clock)
        if summary.empty:
            raise no_points_error(source)
        order = label_order(runs, data.labels)
        envs = ", ".join(sorted(runs["env"].unique()))
        heading = f"{title} on {envs}"
        notes = _missing_note(name, data, needs, produce)
        rows: list[tuple[str, str]] = [("step", "")]
        if wall_clock:
            ratio = wall_ratio(runs)
            if ratio is not None:
                heading += f"; PPO/MADDPG wall time per env step: {ratio:.1f}x (paper: 3-3.5x)"
            rows = [("step", "vs env steps"), ("wall_time", "vs wall-clock time")]
        figure = draw_agent_panels(
            summary,
            runs,
            order,
            title=heading,
            subtitle=f"{source_words(source, options.bins)}; {seeds_words(runs, summary)}",
            aggregate=options.aggregate,
            rows=rows,
        )
        return Drawing(figure, notes)

    return Figure(
        name=name,
        description=title,
        paper=f"{PAPER} {title.split('(')[-1].rstrip(')')}" if "(" in title else PAPER,
        needs=needs,
        produce=produce,
        draw=draw,
        default_source="train",
    )


def wall_ratio(runs: pd.DataFrame) -> float | None:
    """Mean wall seconds per env step of the PPO runs over that of the MADDPG runs (None if either lacks)."""
    per_step = runs["wall_time_s"].astype(float) / runs["steps"].astype(float).where(runs["steps"] > 0)
    by_algo = per_step.groupby(runs["algo"]).mean()
    if "ppo" not in by_algo or "maddpg" not in by_algo or not by_algo["maddpg"] > 0:
        return None
    return float(by_algo["ppo"] / by_algo["maddpg"])


# ---------------------------------------------------------------------------------------------
# smarts-safety: collision and completion rates under two traffic densities
# ---------------------------------------------------------------------------------------------
TRAFFIC_LEVELS = ("low", "high")


def safety_rates(runs: pd.DataFrame, evals: pd.DataFrame) -> pd.DataFrame:
    """Per run and traffic density: collision and completion rate over its last evaluation there.

    Evaluations during training count for the run's own ``traffic`` option; its final evaluations
    (the presets' ``final_evals``: low and high) and later ``marlbench evaluate --env-opt traffic=...``
    evaluations count for the density they name (:func:`~marlbench.reports.selection.rates_by_option`).
    Columns: run_id, label, traffic, collision_rate, completion_rate, episodes.
    """
    columns = ["run_id", "label", "traffic", "collision_rate", "completion_rate", "episodes"]
    if COLLISION_METRIC not in evals:
        return pd.DataFrame(columns=columns)
    out = rates_by_option(runs, evals, "traffic", "low", SAFETY_METRICS)
    out["label"] = out["run_id"].map(runs.set_index("run_id")["label"])
    return out[columns]


SAFETY_METRICS = {"collision_rate": COLLISION_METRIC, "completion_rate": COMPLETION_METRIC}
"""The safety figure's rates and the evaluation columns they average (per agent-episode)."""


def draw_safety(data: ReportData, options: FigureOptions) -> Drawing:
    """Two panels (collision rate, completion rate), bars per traffic density and variant, CI whiskers."""
    from marlbench.reports.curves import display_labels

    runs = display_labels(data.runs, data.labels)
    rates = safety_rates(runs, data.evals)
    order = label_order(runs, data.labels)
    notes = _missing_note("smarts-safety", data, SAFETY_NEEDS, SAFETY_PRODUCE)
    levels = [t for t in TRAFFIC_LEVELS if t in set(rates["traffic"])] + sorted(
        set(rates["traffic"]) - set(TRAFFIC_LEVELS)
    )
    for level in TRAFFIC_LEVELS:
        done = set(rates.loc[rates["traffic"] == level, "run_id"])
        for run_id in runs["run_id"]:
            if run_id not in done:
                notes.append(
                    f"smarts-safety: run {run_id} has no evaluation under traffic={level} (the "
                    f"paper-000 presets make one at the end: final_evals); run: "
                    f"marlbench evaluate {run_id} --env-opt traffic={level} --episodes 10"
                )
    figure, axes = new_figure(1, 2, sharey=True, extra_height=1.1)
    colours = palette(order)
    width = 0.8 / max(len(order), 1)
    for ax, (metric, title) in zip(
        axes[0], (("collision_rate", "collision rate"), ("completion_rate", "completion rate")), strict=True
    ):
        for i, label in enumerate(order):
            means, lows, highs = [], [], []
            for level in levels:
                values = rates.loc[(rates["label"] == label) & (rates["traffic"] == level), metric].to_numpy(
                    float
                )
                values = values[np.isfinite(values)]
                means.append(values.mean() if values.size else np.nan)
                low, high = bootstrap_ci([values]) if values.size else (np.nan, np.nan)
                lows.append(low)
                highs.append(high)
            xs = np.arange(len(levels)) + (i - (len(order) - 1) / 2) * width
            means_a, highs_a = np.asarray(means, dtype=float), np.asarray(highs, dtype=float)
            ax.bar(xs, np.nan_to_num(means_a), width=width * 0.95, color=colours[label], label=label)
            err = np.vstack([means_a - np.asarray(lows), highs_a - means_a])
            ok = np.all(np.isfinite(err), axis=0)
            if ok.any():
                ax.errorbar(xs[ok], means_a[ok], yerr=err[:, ok], fmt="none", ecolor="black", capsize=3, lw=1)
            for x, m, top in zip(xs, means_a, np.where(np.isfinite(highs_a), highs_a, means_a), strict=True):
                if np.isfinite(m):  # the value sits above the whisker, never on it
                    ax.annotate(
                        f"{100 * m:.0f}%",
                        (x, max(m, top)),
                        xytext=(0, 3),
                        textcoords="offset points",
                        ha="center",
                        va="bottom",
                        fontsize=8,
                    )
        ax.set_xticks(np.arange(len(levels)), [f"{t} traffic" for t in levels])
        ax.set_ylim(0, 1.15)
        ax.yaxis.set_major_formatter(_percent())
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("background traffic density")
    axes[0][0].set_ylabel("share of agent-episodes (all agents)")
    from marlbench.reports.curves import add_legend

    add_legend(figure, axes, order, colours, bars=True)
    set_title(
        figure,
        f"Safety at the SMARTS intersection (paper {PAPER}, sec. III.A)",
        f"rates over each run's last evaluation under each density ({episode_words(rates, levels)}, "
        f"all agents); bar: mean over {seed_count(runs)}, whiskers: 95% bootstrap CI of the mean",
    )
    return Drawing(figure, notes)


def episode_words(rates: pd.DataFrame, levels: Sequence[str]) -> str:
    """Episodes per run of the evaluation behind each density's bars: '10 episodes' when every run
    and density has the same count, else per density ('low: 5, high: 10 episodes', '5-10' where the
    runs differ)."""
    counts = {level: rates.loc[rates["traffic"] == level, "episodes"].to_numpy(int) for level in levels}
    counts = {level: c for level, c in counts.items() if c.size}
    if not counts:
        return "no episodes"

    def span(c: np.ndarray) -> str:
        return str(c.min()) if c.min() == c.max() else f"{c.min()}-{c.max()}"

    spans = {level: span(c) for level, c in counts.items()}
    if len(set(spans.values())) == 1:
        only = next(iter(spans.values()))
        return f"{only} episode{'s' if only != '1' else ''}"
    return ", ".join(f"{level}: {n}" for level, n in spans.items()) + " episodes"


def _percent() -> object:
    from matplotlib.ticker import PercentFormatter

    return PercentFormatter(xmax=1.0, decimals=0)


# ---------------------------------------------------------------------------------------------
# registration
# ---------------------------------------------------------------------------------------------
PPO_NEEDS = Needs(preset="biswas-ppo-vs-maddpg", variants=("ppo-shared", "maddpg"))
PER_NEEDS = Needs(preset="biswas-per", variants=("uniform", "per-rank"))
BATCH_NEEDS = Needs(preset="biswas-batch-size", variants=("batch-1024", "batch-64"))
SAFETY_NEEDS = PPO_NEEDS
SAFETY_PRODUCE = "marlbench preset run biswas-ppo-vs-maddpg"

register_figure(
    _curves_figure(
        "ppo-vs-maddpg",
        "PPO with shared weights vs MADDPG (Fig. 2)",
        PPO_NEEDS,
        "marlbench preset run biswas-ppo-vs-maddpg",
        wall_clock=True,
    )
)
register_figure(
    _curves_figure(
        "per",
        "MADDPG: rank-based prioritized replay vs uniform sampling (Fig. 3)",
        PER_NEEDS,
        "marlbench preset run biswas-per",
    )
)
register_figure(
    _curves_figure(
        "batch-size",
        "MADDPG: batch size 64 vs 1024 (Fig. 4)",
        BATCH_NEEDS,
        "marlbench preset run biswas-batch-size",
    )
)
register_figure(
    Figure(
        name="smarts-safety",
        description="collision and completion rates of PPO and MADDPG under low and high traffic",
        paper=f"{PAPER} sec. III.A",
        needs=SAFETY_NEEDS,
        produce=SAFETY_PRODUCE,
        draw=draw_safety,
        default_source="eval",
    )
)
