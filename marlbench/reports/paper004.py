"""Figure of paper 004 (Large Batch Sharing for multi-agent DQN): ``lbs-pursuit``, its Fig. 2.

Fig. 2 is a bar chart of "the average sum of rewards per episode at the end of training" of LBS,
IDQN, PS and "IDQN same RB" on SISL Pursuit (8 pursuers, 800k steps, 10 seeds).

Choices where the paper is vague, each written on the figure:

* **Aggregation over agents: the team sum.** "Sum of rewards per episode" is read as the episode's
  total reward summed over the 8 pursuers (pursuit pays each pursuer its own reward, so the team's
  return is their sum), and "average" as the average over episodes and seeds. The other reading,
  the per-pursuer mean, is ``--aggregate team-mean``: it divides every bar by 8 and keeps the
  ranking. ``per-agent`` (which makes no sense for one score per algorithm) and the CLI's default
  ``auto`` draw the team sum.
* **"At the end of training"**: by default a run's score is the mean over the episodes of its last
  deterministic evaluation during training (marlbench's final score; the preset evaluates 10
  episodes at the end of the budget). ``--source train`` uses the training episodes that ended in
  the last :data:`FINAL_TRAIN_FRACTION` of the run's budget instead (epsilon-greedy, epsilon 0.001
  by then).
* **Points, not bars**: pursuit's returns are negative at small budgets, and a bar hanging from 0
  makes the longest bar the worst algorithm; each algorithm is a point at its mean.
* **Error bars**: the paper's plot has none; ours show the 95% percentile bootstrap CI of the mean
  across seeds (:func:`marlbench.reports.stats.bootstrap_ci`) as whiskers, and each seed's score
  as a small dot beside the point.
"""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd

from marlbench.reports.curves import display_labels, label_order, new_figure
from marlbench.reports.data import AGGREGATION_WORDS, aggregate_agents, run_scores
from marlbench.reports.figures import Drawing, Figure, FigureOptions, Needs, ReportData, register_figure
from marlbench.reports.stats import bootstrap_ci
from marlbench.reports.style import palette, set_title

PAPER = "004"
NAME = "lbs-pursuit"
PRESET = "lbs-pursuit"
PRODUCE = f"marlbench preset run {PRESET}"
NEEDS = Needs(preset=PRESET, variants=("lbs", "idqn", "ps-dqn", "idqn-shared-buffer"), env="pursuit")
FINAL_TRAIN_FRACTION = 0.1
"""``--source train``: share of the budget at its end whose training episodes make the final score."""
DEFAULT_AGGREGATE = "team-sum"
"""The paper's "sum of rewards per episode": the team's return, summed over the pursuers."""

SUMMARY_COLUMNS = ["label", "seeds", "mean", "ci_low", "ci_high"]


def bar_aggregate(options: FigureOptions) -> str:
    """``team-mean`` when asked for, else the paper's team sum (also for the CLI's ``per-agent``)."""
    return "team-mean" if options.aggregate == "team-mean" else DEFAULT_AGGREGATE


def final_train_scores(runs: pd.DataFrame, episodes: pd.DataFrame, aggregate: str) -> pd.DataFrame:
    """Per run: the mean ``aggregate`` return of training episodes ending in the budget's last tenth.

    Columns: run_id, score (runs without such episodes are left out).
    """
    budget = runs.set_index("run_id")["total_steps"].astype(float)
    episodes = episodes[episodes["run_id"].isin(budget.index)]
    if episodes.empty:
        return pd.DataFrame(columns=["run_id", "score"])
    start = (1.0 - FINAL_TRAIN_FRACTION) * episodes["run_id"].map(budget)
    late = episodes[episodes["step"].astype(float) > start]
    if late.empty:
        return pd.DataFrame(columns=["run_id", "score"])
    team = aggregate_agents(late, aggregate, ["run_id", "episode"])
    return team.groupby("run_id", as_index=False).agg(score=("reward", "mean"))


def final_scores(data: ReportData, aggregate: str, source: str) -> pd.DataFrame:
    """Per run: its final score under ``aggregate`` from ``source`` (eval or train); run_id, score."""
    if source == "train":
        return final_train_scores(data.runs, data.episodes, aggregate)
    evals = data.evals[data.evals["run_id"].isin(data.runs["run_id"])]
    return run_scores(evals, aggregate)[["run_id", "score"]]


def bar_summary(runs: pd.DataFrame, scores: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """Per label in ``order``: seeds scored, mean of the run scores and its 95% bootstrap CI.

    ``runs`` carries ``run_id`` and ``label``; ``scores`` one ``score`` per run_id. A label whose runs
    have no score gets ``seeds = 0`` and NaN; one seed gives a mean and a NaN interval.
    """
    label_of = runs.set_index("run_id")["label"]
    scored = scores.assign(label=scores["run_id"].map(label_of))
    rows = []
    for label in order:
        values = scored.loc[scored["label"] == label, "score"].to_numpy(float)
        values = values[np.isfinite(values)]
        low, high = bootstrap_ci([values]) if values.size else (np.nan, np.nan)
        mean = float(values.mean()) if values.size else np.nan
        rows.append({"label": label, "seeds": int(values.size), "mean": mean, "ci_low": low, "ci_high": high})
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def _steps_words(runs: pd.DataFrame) -> str:
    """'800k env steps', or '80k-800k env steps' when budgets differ."""

    def short(steps: float) -> str:
        return f"{steps / 1e6:g}M" if steps >= 1e6 else f"{steps / 1e3:g}k" if steps >= 1e3 else f"{steps:g}"

    budgets = runs["total_steps"].astype(float)
    lo, hi = budgets.min(), budgets.max()
    return f"{short(hi)} env steps" if lo == hi else f"{short(lo)}-{short(hi)} env steps"


def _notes(data: ReportData, runs: pd.DataFrame, scores: pd.DataFrame, source: str) -> list[str]:
    present = set(data.runs["variant"])
    missing = [v for v in NEEDS.variants if v not in present]
    notes = []
    if missing:
        notes.append(f"{NAME}: no finished runs of variant(s) {', '.join(missing)} yet; run: {PRODUCE}")
    unscored = sorted(set(runs["run_id"]) - set(scores["run_id"]))
    if unscored:
        what = "evaluation during training" if source == "eval" else "training episodes near its end"
        fix = "--source train" if source == "eval" else "--source eval"
        notes += [f"{NAME}: run {r} has no {what}; left out (try {fix})" for r in unscored]
    return notes


def draw_lbs_pursuit(data: ReportData, options: FigureOptions) -> Drawing:
    """One point per algorithm: mean final episode return (team sum by default) across seeds, 95% CI."""
    from marlbench.errors import MarlbenchError

    source = options.source or "eval"
    if source not in ("eval", "train"):
        raise ValueError(f"unknown source {source!r}; valid: eval, train")
    aggregate = bar_aggregate(options)
    runs = display_labels(data.runs, data.labels)
    order = label_order(runs, data.labels)
    scores = final_scores(data, aggregate, source)
    if scores.empty:
        what = "evaluations" if source == "eval" else "training episodes"
        other = "train" if source == "eval" else "eval"
        raise MarlbenchError(f"the runs of figure '{NAME}' recorded no {what}", f"try --source {other}")
    summary = bar_summary(runs, scores, order)

    figure, axes = new_figure(1, 1, extra_height=1.4)
    ax = axes[0][0]
    colours = palette(order)
    xs = np.arange(len(order), dtype=float)
    means = summary["mean"].to_numpy(float)
    low, high = summary["ci_low"].to_numpy(float), summary["ci_high"].to_numpy(float)
    label_of = runs.set_index("run_id")["label"]
    for i, label in enumerate(order):
        # returns are negative on pursuit: a point with whiskers, not a bar hanging from 0
        if np.isfinite(low[i]) and np.isfinite(high[i]) and np.isfinite(means[i]):
            ax.errorbar(
                xs[i],
                means[i],
                yerr=[[means[i] - low[i]], [high[i] - means[i]]],
                fmt="none",
                ecolor=colours[label],
                capsize=6,
                lw=1.6,
                zorder=2,
            )
        if np.isfinite(means[i]):
            ax.scatter(
                [xs[i]],
                [means[i]],
                s=70,
                color=colours[label],
                edgecolor="black",
                lw=0.6,
                zorder=4,
                gid="mean",
            )
            ax.annotate(
                f"{means[i]:.1f}",
                (xs[i], means[i]),
                xytext=(9, 0),
                textcoords="offset points",
                ha="left",
                va="center",
                fontsize=8,
            )
        seeds = scores.loc[scores["run_id"].map(label_of) == label, "score"].to_numpy(float)
        if seeds.size:
            spread = np.linspace(-0.12, 0.12, seeds.size) if seeds.size > 1 else np.zeros(1)
            ax.scatter(xs[i] - 0.22 + spread, seeds, s=12, color="0.3", alpha=0.7, zorder=3, gid="seed")
    ticks = [
        textwrap.fill(label, 14) + f"\n(n={n})" for label, n in zip(order, summary["seeds"], strict=True)
    ]
    ax.set_xticks(xs, ticks)
    ax.tick_params(axis="x", labelsize=8)
    ax.margins(x=0.12, y=0.12)
    ax.set_ylabel(f"final episode return ({AGGREGATION_WORDS[aggregate]})")
    how = (
        "last evaluation during training (deterministic)"
        if source == "eval"
        else f"training episodes in the last {FINAL_TRAIN_FRACTION:.0%} of the budget"
    )
    envs = ", ".join(sorted(runs["env"].unique()))
    set_title(
        figure,
        f"Final average sum of rewards per episode on {envs} (paper {PAPER}, Fig. 2)",
        f"{_steps_words(runs)}; score of a run: mean over the episodes of its {how} of the episode return, "
        f"{AGGREGATION_WORDS[aggregate]}",
        "large point: mean over seeds, whiskers: 95% bootstrap CI of the mean, small dots (left): seeds",
    )
    return Drawing(figure, _notes(data, runs, scores, source))


register_figure(
    Figure(
        name=NAME,
        description="final average sum of rewards per episode of LBS, IDQN, PS-DQN and IDQN-shared-buffer "
        "on pursuit (means with 95% CI whiskers)",
        paper=f"{PAPER} Fig. 2",
        needs=NEEDS,
        produce=PRODUCE,
        draw=draw_lbs_pursuit,
        default_source="eval",
    )
)
