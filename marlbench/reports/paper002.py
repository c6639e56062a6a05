"""Figure of paper 002 (Lamb et al., actor-critic on Atari): ``atari-ac``, its Fig. 8.

Fig. 8 compares the paper's models (Model 2: CNN + actor/critic; Model 3: CNN + LSTM + actor/critic,
ReLU or SiLU) by score against episodes on Pong and Breakout. Ours draws every model of the
``atari-actor-critic`` preset (the paper's models and SB3's a2c, ppo, dqn, qrdqn as reference rows)
in one panel per game, with two rows: score vs games played (the paper's x axis) and score vs env
steps (what the step budgets fix; a model that plays longer games plays fewer of them).

Choices where the paper is silent, each written on the figure:

* **Score: the running mean** of the raw game score over the last :data:`RUNNING_WINDOW` (100)
  training games, the quantity of the paper's Fig. 7 (it never defines its window; 100 games is
  the usual Atari one). Before game 100 it averages every game so far. Training games are whole
  games with their unclipped score (the ledger's Atari training rows), played with the training
  policy (temperature sampling for the paper's models). ``--source eval`` plots the deterministic
  evaluations during training instead (mean raw score of each evaluation's games), placed at the
  training games played by then (mean over seeds).
* **Grid**: ``--bins`` points (default 40) per curve. On the games axis they run up to the fewest
  games any seed of the model played, so every point averages the same seeds; on the steps axis
  up to the budget, each seed's running mean being the one after its last game by that step.
* **Across seeds**: the line is the mean, the band the 95% bootstrap CI of the mean
  (:func:`marlbench.reports.stats.bootstrap_band`); the paper shows one run per model.
* **References**: grey lines at the human-expert (dash-dot) and random-play (dotted) scores of
  Mnih et al. 2015, the reference rows of the paper's Fig. 7. The SB3 rows (a2c, ppo, dqn, qrdqn)
  are dashed, the paper's models solid; colours and labels come from the preset and are the same
  in both games.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from marlbench.reports.curves import (
    display_labels,
    label_order,
    new_figure,
    no_points_error,
    plot_curves,
    seeds_words,
    step_axis,
)
from marlbench.reports.data import (
    RUNNING_WINDOW,
    TEAM,
    across_seeds,
    aggregate_agents,
    eval_curves,
)
from marlbench.reports.figures import Drawing, Figure, FigureOptions, Needs, ReportData, register_figure
from marlbench.reports.style import palette, set_title

PAPER = "002"
NAME = "atari-ac"
PRESET = "atari-actor-critic"
PRODUCE = f"marlbench preset run {PRESET}"
GAMES: dict[str, str] = {"atari-pong": "Pong", "atari-breakout": "Breakout"}
"""Environment -> the game's name, in the paper's panel order."""
MODELS = ("model2", "model3", "model3-silu", "a2c", "ppo", "dqn", "qrdqn")
"""The preset's variants are ``<model>-<game>`` (labels shared across games)."""
BASELINES = ("a2c", "ppo", "dqn", "qrdqn")
"""Models that are SB3 reference rows, drawn dashed (the paper's models are solid)."""
NEEDS = Needs(preset=PRESET, variants=tuple(f"{m}-{g.lower()}" for g in GAMES.values() for m in MODELS))
X_AXES = (("games", "vs games played"), ("step", "vs env steps"))
"""Rows of the figure: the x column and the row's title."""

CURVE_COLUMNS = ["run_id", "agent", "point", "step", "reward"]
"""What :func:`marlbench.reports.data.across_seeds` takes (``step`` holds the x value)."""


# ---------------------------------------------------------------------------------------------
# curves
# ---------------------------------------------------------------------------------------------
def running_mean(scores: np.ndarray, window: int = RUNNING_WINDOW) -> np.ndarray:
    """``out[i]``: mean of ``scores[max(0, i - window + 1) : i + 1]`` (every game so far, early on)."""
    scores = np.asarray(scores, dtype=float)
    sums = np.concatenate([[0.0], np.cumsum(scores)])
    end = np.arange(1, scores.size + 1)
    start = np.maximum(end - window, 0)
    return (sums[end] - sums[start]) / (end - start)


def game_table(runs: pd.DataFrame, episodes: pd.DataFrame, window: int = RUNNING_WINDOW) -> pd.DataFrame:
    """Every training game of ``runs`` in the order played, with its running mean.

    Columns: run_id, game (1, 2, ... within the run), step (env steps when it ended), score (raw),
    running (mean score of the last ``window`` games up to this one).
    """
    columns = ["run_id", "game", "step", "score", "running"]
    episodes = episodes[episodes["run_id"].isin(runs["run_id"])]
    if episodes.empty:
        return pd.DataFrame(columns=columns)
    team = aggregate_agents(episodes, "team-mean", ["run_id", "episode"])
    pieces = []
    for run_id, games in team.sort_values(["run_id", "episode"], kind="stable").groupby("run_id", sort=False):
        scores = games["reward"].to_numpy(float)
        pieces.append(
            pd.DataFrame(
                {
                    "run_id": run_id,
                    "game": np.arange(1, scores.size + 1),
                    "step": games["step"].to_numpy(float),
                    "score": scores,
                    "running": running_mean(scores, window),
                }
            )
        )
    return pd.concat(pieces, ignore_index=True)[columns]


def _grid(top: float, bins: int, *, integer: bool) -> np.ndarray:
    """``bins`` points spread evenly over ``(0, top]`` (whole numbers, no repeats, when ``integer``)."""
    points = np.arange(1, bins + 1) / bins * top
    return np.unique(np.maximum(np.round(points), 1)) if integer else points


def train_running_curves(runs: pd.DataFrame, games: pd.DataFrame, bins: int) -> dict[str, pd.DataFrame]:
    """Per x axis ("games", "step"): each run's running mean at the grid points of its group.

    ``runs`` carries ``label`` (groups are label x env) and ``total_steps``; ``games`` comes from
    :func:`game_table`. Games axis: ``bins`` points up to the fewest games of a seed of the group.
    Steps axis: ``bins`` points up to the group's budget; a seed's value there is its running mean
    after its last game ending at or before the point (NaN before its first game).
    """
    out: dict[str, list[pd.DataFrame]] = {"games": [], "step": []}
    for _, group in runs.groupby(["label", "env"], sort=False):
        mine = games[games["run_id"].isin(group["run_id"])]
        if mine.empty:
            continue
        fewest = int(mine.groupby("run_id")["game"].max().min())
        budget = float(max(group["total_steps"].astype(float).max(), mine["step"].max()))
        by_games = _grid(fewest, bins, integer=True)
        by_steps = _grid(budget, bins, integer=False)
        for run_id, played in mine.groupby("run_id", sort=False):
            running = played["running"].to_numpy(float)
            at_games = running[by_games.astype(int) - 1]
            index = np.searchsorted(played["step"].to_numpy(float), by_steps, side="right") - 1
            at_steps = np.where(index >= 0, running[np.maximum(index, 0)], np.nan)
            for axis, xs, values in (("games", by_games, at_games), ("step", by_steps, at_steps)):
                out[axis].append(
                    pd.DataFrame(
                        {
                            "run_id": run_id,
                            "agent": TEAM,
                            "point": np.arange(xs.size),
                            "step": xs,
                            "reward": values,
                        }
                    )
                )
    return {
        axis: pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=CURVE_COLUMNS)
        for axis, frames in out.items()
    }


def eval_score_curves(
    runs: pd.DataFrame, evals: pd.DataFrame, games: pd.DataFrame
) -> dict[str, pd.DataFrame]:
    """Per x axis: each evaluation's mean raw score, at its env step or at the games played by then."""
    by_step = eval_curves(runs, evals, "team-mean")
    by_games = by_step.copy()
    counts = np.zeros(len(by_games))
    for run_id, index in by_games.groupby("run_id").groups.items():
        ended = np.sort(games.loc[games["run_id"] == run_id, "step"].to_numpy(float))
        positions = by_games.index.get_indexer(index)
        counts[positions] = np.searchsorted(ended, by_games.loc[index, "step"].to_numpy(float), side="right")
    by_games["step"] = counts
    return {"games": by_games[CURVE_COLUMNS], "step": by_step[CURVE_COLUMNS]}


# ---------------------------------------------------------------------------------------------
# drawing
# ---------------------------------------------------------------------------------------------
def _references() -> dict[str, tuple[float, float]]:
    from marlbench.reports.compare import human_references

    return {env: (ref.random, ref.human) for env, ref in human_references().items()}


def _reference_lines(ax: Any, env: str, references: dict[str, tuple[float, float]]) -> None:
    """Grey human-expert (dash-dot) and random-play (dotted) lines, labelled at the panel's right edge."""
    if env not in references:
        return
    random_score, human_score = references[env]
    # each label on the side of its line that faces the other line, so that neither leaves the panel
    below = human_score >= random_score
    for value, style, name, under in (
        (human_score, "-.", "human expert", below),
        (random_score, ":", "random play", not below),
    ):
        ax.axhline(value, color="0.4", ls=style, lw=1.1, zorder=1)
        ax.annotate(
            f"{name} {value:g}",
            (1.0, value),
            xycoords=("axes fraction", "data"),
            xytext=(-3, -2 if under else 2),
            textcoords="offset points",
            ha="right",
            va="top" if under else "bottom",
            fontsize=7,
            color="0.25",
            zorder=1.5,  # under the curves (zorder 2): a label never hides data
            bbox={"boxstyle": "square,pad=0.1", "facecolor": "white", "edgecolor": "none", "alpha": 0.8},
        )


def baseline_labels(runs: pd.DataFrame) -> set[str]:
    """Labels of the runs whose variant is an SB3 reference row (``<a2c|ppo|dqn|qrdqn>-<game>``)."""
    model = runs["variant"].str.rsplit("-", n=1).str[0]
    return set(runs.loc[model.isin(BASELINES), "label"])


def _notes(data: ReportData, runs: pd.DataFrame, games: pd.DataFrame) -> list[str]:
    present = set(data.runs["variant"])
    missing = [v for v in NEEDS.variants if v not in present]
    notes = []
    if missing:
        notes.append(f"{NAME}: no finished runs of variant(s) {', '.join(missing)} yet; run: {PRODUCE}")
    silent = sorted(set(runs["run_id"]) - set(games["run_id"]))
    notes += [f"{NAME}: run {r} recorded no training games; left out of the curves" for r in silent]
    return notes


def draw_atari_ac(data: ReportData, options: FigureOptions) -> Drawing:
    """One column per game, two rows (score vs games played, vs env steps), one line per model."""
    source = options.source or "train"
    if source not in ("train", "eval"):
        raise ValueError(f"unknown source {source!r}; valid: train, eval")
    runs = display_labels(data.runs, data.labels)
    games = game_table(runs, data.episodes)
    if source == "train":
        curves = train_running_curves(runs, games, options.bins)
    else:
        curves = eval_score_curves(runs, data.evals, games)
    summaries = {axis: across_seeds(curve, runs) for axis, curve in curves.items()}
    if all(s.empty for s in summaries.values()):
        raise no_points_error(source)
    order = label_order(runs, data.labels)
    envs = [e for e in GAMES if e in set(runs["env"])] + sorted(set(runs["env"]) - set(GAMES))
    from matplotlib.ticker import MaxNLocator

    figure, axes = new_figure(len(X_AXES), len(envs), sharey="col", extra_height=1.6)
    colours = palette(order)
    dashed = baseline_labels(runs)
    references = _references()
    for r, (axis, row_title) in enumerate(X_AXES):
        for c, env in enumerate(envs):
            ax = axes[r][c]
            part = summaries[axis][summaries[axis]["env"] == env] if len(summaries[axis]) else summaries[axis]
            plot_curves(ax, part, order, colours)
            for line in ax.get_lines():
                if line.get_label() in dashed:
                    line.set_linestyle((0, (5, 2)))
            _reference_lines(ax, env, references)
            if axis == "step":
                step_axis(ax)
            else:
                step_axis(ax, "training games played")
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # no tick at 1.25 games
            ax.set_title(f"{GAMES.get(env, env)} - score {row_title}", fontsize=10)
            if c == 0:
                ax.set_ylabel("game score (raw)")
    present = [
        label for label in order if any(label in set(s["label"]) for s in summaries.values() if len(s))
    ]
    figure.legend(
        [_line(colours[label], dashed=label in dashed) for label in present],
        present,
        loc="outside lower center",
        ncols=2,
        frameon=False,
        fontsize=8,
    )
    per_game = runs.assign(label=runs["label"] + " @ " + runs["env"])  # seeds count per model and game
    if source == "train":
        what = (
            f"score: running mean of the raw scores of the last {RUNNING_WINDOW} training games "
            f"(all games so far before game {RUNNING_WINDOW})"
        )
    else:
        what = "score: mean raw score of each deterministic evaluation during training"
    set_title(
        figure,
        f"Score vs games played and vs env steps on Atari {' and '.join(GAMES.get(e, e) for e in envs)} "
        f"(paper {PAPER}, Fig. 8)",
        what,
        seeds_words(per_game, pd.concat([s for s in summaries.values() if len(s)])),
        "solid: the paper's models, dashed: SB3 reference rows; grey: human expert (dash-dot), "
        "random play (dotted), Mnih\u00a0et\u00a0al.\u00a02015",
    )
    return Drawing(figure, _notes(data, runs, games))


def _line(colour: Any, *, dashed: bool) -> Any:
    from matplotlib.lines import Line2D

    return Line2D([], [], color=colour, lw=2, ls=(0, (5, 2)) if dashed else "-")


register_figure(
    Figure(
        name=NAME,
        description="score (running mean of the last 100 games) vs games played and vs env steps of "
        "the paper's Models 2 and 3 and SB3's a2c, ppo, dqn, qrdqn on Atari Pong and Breakout",
        paper=f"{PAPER} Fig. 8",
        needs=NEEDS,
        produce=PRODUCE,
        draw=draw_atari_ac,
        default_source="train",
    )
)
