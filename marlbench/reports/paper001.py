"""Figures of paper 001 (Chen 2019: CTEDD with policy distillation), one panel per environment.

* ``ctedd-learning`` (Fig. 4): learning performance, the training episodes' team return against
  env steps, of CTEDD, MADDPG-1 and MADDPG-3 on cn-v1, cn-v2, push-forward and predator-prey.
* ``ctedd-testing`` (Fig. 5): testing performance, deterministic test episodes during training, of
  CTEDD-G (the global policies' deterministic parts), CTEDD-L-1 and CTEDD-L-3 (the distilled local
  policies with 1-d / 3-d messages), MADDPG-1 and MADDPG-3.
* ``ctedd-exploration`` (Fig. 6): CTEDD on push-forward with a fixed exploration std (0.4, 0.6,
  0.8) vs the std learned by eq. (5); learning and testing panels.

Where the numbers come from. Every agent of these environments receives the same team reward, so
per-agent panels would be identical copies: the figures show the team value (``team-mean``;
``--aggregate team-sum`` multiplies it by the number of agents). CTEDD tests its variants itself
and hands each round to its recorder, which stores it in ``evals`` with ``policy = "<variant>"``
(see :mod:`marlbench.algos.ctedd.learner`); MADDPG's tests are the runner's evaluations. A CTEDD run
without variant tests (``test_every=0``) falls back on the runner's evaluations of its
``eval_policy``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from marlbench.reports.curves import (
    add_legend,
    display_labels,
    label_order,
    new_figure,
    no_points_error,
    plot_curves,
    seeds_words,
    source_words,
    step_axis,
)
from marlbench.reports.data import (
    TEAM,
    across_seeds,
    aggregate_agents,
    eval_curves,
    train_curves,
    training_evals,
)
from marlbench.reports.figures import Drawing, Figure, FigureOptions, Needs, ReportData, register_figure
from marlbench.reports.style import legend_columns, palette, set_title

PAPER = "001"
ENVS = ("cn-v1", "cn-v2", "push-forward", "predator-prey")
"""Panel order (the paper's: CN-V1, CN-V2, PF, PP)."""
ENV_TITLES = {
    "cn-v1": "CN-V1",
    "cn-v2": "CN-V2",
    "push-forward": "Push Forward",
    "predator-prey": "Predator-Prey",
}
VARIANT_LABELS = {
    "ctedd-g": "CTEDD-G",
    "ctedd-l-0": "CTEDD-L-0",
    "ctedd-l-1": "CTEDD-L-1",
    "ctedd-l-3": "CTEDD-L-3",
}


def variant_label(policy: str) -> str:
    """``ctedd-l-3`` -> ``CTEDD-L-3``."""
    return VARIANT_LABELS.get(policy, policy.upper())


def _team_words(aggregate: str) -> str:
    if aggregate == "team-sum":
        return "team reward summed over the agents"
    return "team reward (every agent receives it)"


def team_aggregate(options: FigureOptions) -> str:
    """``team-mean`` unless the user asked for ``team-sum`` (per-agent panels would repeat the team value)."""
    return "team-sum" if options.aggregate == "team-sum" else "team-mean"


def variant_test_curves(
    runs: pd.DataFrame, evals: pd.DataFrame, aggregate: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Test curves of every policy of every run: ``(curves, pseudo-runs)``.

    A CTEDD run with variant tests contributes one pseudo-run per variant (``<run_id>#<variant>``,
    label ``CTEDD-G`` ...); any other run contributes its runner evaluations under its own label.
    ``curves`` columns: run_id, agent (the team), point (= step), step, reward; ``pseudo-runs``:
    run_id, label, env, variant.
    """
    evals = evals[evals["run_id"].isin(runs["run_id"])]
    policies = evals["policy"] if "policy" in evals else pd.Series("", index=evals.index, dtype=str)
    tested = evals[policies != ""]
    with_tests = set(tested["run_id"])
    pieces: list[pd.DataFrame] = []
    pseudo: list[dict[str, str]] = []
    if len(tested):
        team = aggregate_agents(tested, aggregate, ["run_id", "policy", "eval_id", "episode"])
        points = team.groupby(["run_id", "policy", "step"], as_index=False)["reward"].mean()
        points["run_id"] = points["run_id"] + "#" + points["policy"]
        pieces.append(points.drop(columns="policy"))
        for run_id, policy in sorted({tuple(p.split("#", 1)) for p in points["run_id"]}):
            row = runs.loc[runs["run_id"] == run_id].iloc[0]
            pseudo.append(
                {
                    "run_id": f"{run_id}#{policy}",
                    "label": variant_label(policy),
                    "env": row["env"],
                    "variant": policy,
                }
            )
    plain = runs[~runs["run_id"].isin(with_tests)]
    if len(plain):
        own = eval_curves(plain, training_evals(evals), aggregate)
        pieces.append(own[["run_id", "step", "reward"]])
        pseudo += plain[["run_id", "label", "env", "variant"]].to_dict("records")
    columns = ["run_id", "agent", "point", "step", "reward"]
    if not pieces:
        return pd.DataFrame(columns=columns), pd.DataFrame(columns=["run_id", "label", "env", "variant"])
    curves = pd.concat(pieces, ignore_index=True)
    curves["agent"] = TEAM
    curves["point"] = curves["step"].astype(np.int64)
    return curves[columns], pd.DataFrame(pseudo)


def _missing(name: str, data: ReportData, needs: Needs, produce: str) -> list[str]:
    present = set(data.runs["variant"])
    missing = [v for v in needs.variants if v not in present]
    if not missing:
        return []
    return [f"{name}: no finished runs of variant(s) {', '.join(missing)} yet; run: {produce}"]


def _grid(envs: Sequence[str]) -> tuple[object, list[object]]:
    columns = 2 if len(envs) == 4 else max(len(envs), 1)
    rows = (len(envs) + columns - 1) // columns
    figure, axes = new_figure(rows, columns, sharey=False)
    flat = [ax for row in axes for ax in row]
    for ax in flat[len(envs) :]:
        ax.set_visible(False)
    return figure, flat


def _env_order(envs: Sequence[str]) -> list[str]:
    return [e for e in ENVS if e in envs] + sorted(set(envs) - set(ENVS))


def _draw_panels(summary: pd.DataFrame, envs: Sequence[str], order: Sequence[str], ylabel: str) -> object:
    figure, axes = _grid(envs)
    colours = palette(order)
    for i, (ax, env) in enumerate(zip(axes, envs, strict=False)):
        plot_curves(ax, summary[summary["env"] == env], order, colours)
        _dash_baselines(ax)
        step_axis(ax)
        ax.set_title(ENV_TITLES.get(env, env), fontsize=10)
        if i == 0 or (len(envs) == 4 and i == 2):  # the first column of the grid
            ax.set_ylabel(ylabel)
    present = [label for label in order if label in set(summary["label"])]
    _legend(figure, present, colours)
    return figure


def _dash_baselines(ax: object) -> None:
    """MADDPG lines dashed, so CTEDD's variants and the baselines stay apart beyond colour."""
    for line in ax.get_lines():  # type: ignore[attr-defined]
        if str(line.get_label()).startswith("MADDPG"):
            line.set_linestyle("--")


def _legend(figure: object, order: Sequence[str], colours: dict[str, object]) -> None:
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], color=colours[label], lw=2, ls="--" if label.startswith("MADDPG") else "-")
        for label in order
    ]
    figure.legend(  # type: ignore[attr-defined]
        handles,
        list(order),
        loc="outside lower center",
        ncols=legend_columns(list(order), figure.get_figwidth(), most=5),  # type: ignore[attr-defined]
        frameon=False,
    )


BY_ENV = ("label", "env")
"""A label spans several envs: seeds are counted per label and env."""


def _learning_summary(
    data: ReportData, options: FigureOptions, aggregate: str
) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    source = options.source or "train"
    runs = display_labels(data.runs, data.labels)
    if source == "train":
        curves = train_curves(runs, data.episodes, aggregate, bins=options.bins)
    else:
        curves = eval_curves(runs, data.evals, aggregate)
    return runs, across_seeds(curves, runs), source


# ---------------------------------------------------------------------------------------------
# Fig. 4: learning performance
# ---------------------------------------------------------------------------------------------
def draw_learning(data: ReportData, options: FigureOptions) -> Drawing:
    """One panel per env: team return of training episodes (default) of CTEDD, MADDPG-1, MADDPG-3."""
    aggregate = team_aggregate(options)
    runs, summary, source = _learning_summary(data, options, aggregate)
    if summary.empty:
        raise no_points_error(source)
    order = label_order(runs, data.labels)
    envs = _env_order(list(summary["env"].unique()))
    figure = _draw_panels(summary, envs, order, "episode return")
    set_title(
        figure,
        f"Learning performance of CTEDD, MADDPG-1 and MADDPG-3 (paper {PAPER}, Fig. 4)",
        source_words(source, options.bins),
        _team_words(aggregate),
        seeds_words(runs, summary, BY_ENV),
    )
    return Drawing(figure, _missing("ctedd-learning", data, LEARNING_NEEDS, LEARNING_PRODUCE))


# ---------------------------------------------------------------------------------------------
# Fig. 5: testing performance
# ---------------------------------------------------------------------------------------------
TEST_ORDER = ("CTEDD-G", "CTEDD-L-1", "CTEDD-L-3", "MADDPG-1", "MADDPG-3")


def draw_testing(data: ReportData, options: FigureOptions) -> Drawing:
    """One panel per env: mean test return of CTEDD-G, CTEDD-L-1, CTEDD-L-3, MADDPG-1, MADDPG-3."""
    aggregate = team_aggregate(options)
    runs = display_labels(data.runs, data.labels)
    curves, pseudo = variant_test_curves(runs, data.evals, aggregate)
    if curves.empty:
        raise no_points_error("eval")
    summary = across_seeds(curves, pseudo)
    labels = list(dict.fromkeys(pseudo["label"]))
    order = [label for label in TEST_ORDER if label in labels] + sorted(set(labels) - set(TEST_ORDER))
    envs = _env_order(list(summary["env"].unique()))
    figure = _draw_panels(summary, envs, order, "test return")
    episodes = _episodes_words(data.evals)
    set_title(
        figure,
        f"Testing performance of CTEDD-G, CTEDD-L-1/-L-3, MADDPG-1 and MADDPG-3 (paper {PAPER}, Fig. 5)",
        f"deterministic test episodes during training ({episodes}); {_team_words(aggregate)}; "
        f"{seeds_words(pseudo, summary, BY_ENV)}",
    )
    notes = _missing("ctedd-testing", data, TESTING_NEEDS, TESTING_PRODUCE)
    ctedd_plain = set(runs.loc[runs["algo"] == "ctedd", "run_id"]) - {
        p.split("#")[0] for p in pseudo["run_id"] if "#" in p
    }
    if ctedd_plain:
        notes.append(
            f"ctedd-testing: {len(ctedd_plain)} CTEDD run(s) recorded no variant tests (test_every=0); "
            "their runner evaluations are drawn under the run's label instead"
        )
    return Drawing(figure, notes)


def _episodes_words(evals: pd.DataFrame) -> str:
    if evals.empty:
        return "no episodes"
    sizes = evals.groupby(["run_id", "eval_id"])["episode"].nunique()
    lo, hi = int(sizes.min()), int(sizes.max())
    return f"{lo} episodes per test" if lo == hi else f"{lo}-{hi} episodes per test"


# ---------------------------------------------------------------------------------------------
# Fig. 6: fixed vs learned exploration std on push-forward
# ---------------------------------------------------------------------------------------------
def draw_exploration(data: ReportData, options: FigureOptions) -> Drawing:
    """Two panels: learning (training episodes) and testing (CTEDD-G tests) per exploration setting."""
    aggregate = team_aggregate(options)
    runs = display_labels(data.runs, data.labels)
    order = label_order(runs, data.labels)
    learning = across_seeds(train_curves(runs, data.episodes, aggregate, bins=options.bins), runs)
    curves, pseudo = variant_test_curves(runs, data.evals, aggregate)
    # the global policy's tests, drawn under the run's own label (fixed std 0.4, ...)
    if len(pseudo):
        pseudo = pseudo[~pseudo["run_id"].str.contains("#ctedd-l-", regex=False)].copy()
    if len(pseudo):
        base = pseudo["run_id"].str.split("#").str[0]
        pseudo["label"] = base.map(runs.set_index("run_id")["label"])
        curves = curves[curves["run_id"].isin(pseudo["run_id"])]
    testing = across_seeds(curves, pseudo) if len(curves) else curves
    if learning.empty and testing.empty:
        raise no_points_error("train")
    figure, axes = new_figure(1, 2, sharey=False)
    colours = palette(order)
    for ax, summary, title in (
        (axes[0][0], learning, "learning"),
        (axes[0][1], testing, "testing (CTEDD-G)"),
    ):
        if len(summary):
            plot_curves(ax, summary, order, colours)
        step_axis(ax)
        ax.set_title(title, fontsize=10)
    axes[0][0].set_ylabel("episode return")
    add_legend(figure, axes, order, colours)
    set_title(
        figure,
        f"CTEDD on Push Forward: fixed exploration std vs learned by eq. (5) (paper {PAPER}, Fig. 6)",
        f"left: training episodes; right: deterministic tests of the global policy "
        f"({_episodes_words(data.evals)})",
        _team_words(aggregate),
        seeds_words(runs, pd.concat([learning, testing]), BY_ENV),
    )
    return Drawing(figure, _missing("ctedd-exploration", data, EXPLORATION_NEEDS, EXPLORATION_PRODUCE))


# ---------------------------------------------------------------------------------------------
# registration
# ---------------------------------------------------------------------------------------------
def _comparison_variants() -> tuple[str, ...]:
    return tuple(f"{algo}.{env}" for env in ENVS for algo in ("ctedd", "maddpg-1", "maddpg-3"))


LEARNING_NEEDS = Needs(preset="ctedd-learning", variants=_comparison_variants())
LEARNING_PRODUCE = "marlbench preset run ctedd-learning"
TESTING_NEEDS = Needs(preset="ctedd-testing", variants=_comparison_variants())
TESTING_PRODUCE = "marlbench preset run ctedd-testing"
EXPLORATION_NEEDS = Needs(preset="ctedd-exploration", variants=("learned", "std-0.4", "std-0.6", "std-0.8"))
EXPLORATION_PRODUCE = "marlbench preset run ctedd-exploration"

register_figure(
    Figure(
        name="ctedd-learning",
        description="learning curves of CTEDD vs MADDPG-1 vs MADDPG-3, one panel per particle env",
        paper=f"{PAPER} Fig. 4",
        needs=LEARNING_NEEDS,
        produce=LEARNING_PRODUCE,
        draw=draw_learning,
        default_source="train",
    )
)
register_figure(
    Figure(
        name="ctedd-testing",
        description="test returns of CTEDD-G, CTEDD-L-1, CTEDD-L-3, MADDPG-1, MADDPG-3 per particle env",
        paper=f"{PAPER} Fig. 5",
        needs=TESTING_NEEDS,
        produce=TESTING_PRODUCE,
        draw=draw_testing,
        default_source="eval",
    )
)
register_figure(
    Figure(
        name="ctedd-exploration",
        description="CTEDD on push-forward: fixed exploration std 0.4 / 0.6 / 0.8 vs learned (eq. 5)",
        paper=f"{PAPER} Fig. 6",
        needs=EXPLORATION_NEEDS,
        produce=EXPLORATION_PRODUCE,
        draw=draw_exploration,
        default_source="train",
    )
)
