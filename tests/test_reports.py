"""Reports: statistics against hand-worked values, the compare table, and every figure on a synthetic ledger.

The synthetic ledgers are written with the Ledger API (real Parquet files); their rewards are
chosen so every expected number can be worked out by hand.
"""

from __future__ import annotations

import json
import math
import socket
from pathlib import Path

import numpy as np
import pytest

from marlbench.config import RunSpec
from marlbench.ledger import Ledger
from marlbench.reports import stats
from marlbench.reports.compare import FIELDS, compare
from marlbench.reports.data import add_groups, run_scores, train_curves
from marlbench.reports.style import figure_words

AGENTS4 = [f"agent_{i}" for i in range(4)]
AGENTS3 = [f"agent_{i}" for i in range(3)]


# ---------------------------------------------------------------------------------------------
# a synthetic ledger
# ---------------------------------------------------------------------------------------------
def variant_options(preset: str, variant: str) -> dict:
    """The env options ``variant`` of the shipped ``preset`` has now ({} for other runs)."""
    from marlbench.errors import MarlbenchError
    from marlbench.presets import load_preset

    if not preset or not variant:
        return {}
    try:
        variants = {v.name: dict(v.env_options) for v in load_preset(preset).variants}
    except MarlbenchError:
        return {}
    return variants.get(variant, {})


def put_run(
    ledger: Ledger,
    run_id: str,
    algo: str,
    env: str,
    seed: int,
    *,
    preset: str = "",
    variant: str = "",
    status: str = "finished",
    steps: int = 1000,
    wall: float = 10.0,
    hyperparams: dict | None = None,
    **extra: object,
) -> RunSpec:
    """A run row with a real config (its identity drives grouping). A run of a shipped preset's
    variant gets the env options the variant has now (else it is a run of an earlier version of the
    preset, which reports leave out)."""
    spec = RunSpec(
        algo=algo,
        env=env,
        seed=seed,
        steps=steps,
        hyperparams=dict(hyperparams or {}),
        preset=preset,
        variant=variant,
        env_options=variant_options(preset, variant),
    )
    row = {
        "run_id": run_id,
        "config_hash": spec.config_hash(),
        "algo": algo,
        "env": env,
        "seed": seed,
        "preset": preset,
        "variant": variant,
        "config": spec.to_json(),
        "status": status,
        "steps": steps,
        "total_steps": steps,
        "wall_time_s": wall,
        "host": socket.gethostname(),
        "pid": 0,
    }
    row.update(extra)
    ledger.put_run(row)
    return spec


def put_eval(
    ledger: Ledger,
    run_id: str,
    eval_id: int,
    step: int,
    rewards: dict[str, list[float]],
    *,
    env_options: str = "",
    metrics: dict[str, dict[str, list[float]]] | None = None,
) -> None:
    """One evaluation: ``rewards[agent][episode]``; ``metrics[name][agent][episode]``."""
    rows = []
    for agent, values in rewards.items():
        for episode, reward in enumerate(values):
            row = {
                "eval_id": eval_id,
                "step": step,
                "episode": episode,
                "agent": agent,
                "reward": reward,
                "length": 25,
                "env_options": env_options,
            }
            for name, by_agent in (metrics or {}).items():
                row[f"metric_{name}"] = by_agent[agent][episode]
            rows.append(row)
    ledger.append("evals", run_id, rows)


def put_episodes(
    ledger: Ledger, run_id: str, agents: list[str], steps: int, level: float, slope: float
) -> None:
    """Training episodes every 100 steps: reward = level + slope * step/steps + agent index."""
    rows = []
    for episode, step in enumerate(range(100, steps + 1, 100)):
        for i, agent in enumerate(agents):
            rows.append(
                {
                    "episode": episode,
                    "agent": agent,
                    "step": step,
                    "wall_time": step / 100.0,
                    "reward": level + slope * step / steps + i,
                    "length": 100,
                }
            )
    ledger.append("episodes", run_id, rows)


def mpe_ledger(root: Path) -> Ledger:
    """ppo on mpe-spread: 3 scored seeds with known final scores, and 4 runs that must not count."""
    ledger = Ledger(root, create=True)
    finals = {0: [1.0, 3.0], 1: [4.0, 6.0], 2: [10.0, 12.0]}  # two episodes per seed
    for seed, (a, b) in finals.items():
        run_id = f"ppo-s{seed}"
        put_run(ledger, run_id, "ppo", "mpe-spread", seed, wall=4.0 * (seed + 1))
        # an earlier evaluation that must be ignored (only the last one scores)
        put_eval(ledger, run_id, 0, 500, {ag: [-100.0, -100.0] for ag in AGENTS3})
        # last evaluation: agent_i gets base - 1 + i, so the team mean of an episode is its base
        put_eval(ledger, run_id, 1, 1000, {ag: [a - 1 + i, b - 1 + i] for i, ag in enumerate(AGENTS3)})
        # a later 'marlbench evaluate --env-opt' evaluation: not a training score
        put_eval(ledger, run_id, 2, 1000, {ag: [500.0, 500.0] for ag in AGENTS3}, env_options='{"x": 1}')
    for run_id, status in (("ppo-failed", "failed"), ("ppo-int", "interrupted"), ("ppo-dead", "running")):
        put_run(ledger, run_id, "ppo", "mpe-spread", 7, status=status)
        put_eval(ledger, run_id, 0, 1000, {ag: [1000.0] for ag in AGENTS3})
    put_run(ledger, "ppo-noeval", "ppo", "mpe-spread", 8)
    return ledger


def smarts_ledger(root: Path, *, with_high: bool = True) -> Ledger:
    """MADDPG batch-64 / batch-1024 and PPO-vs-MADDPG runs on smarts-intersection (4 agents, metrics)."""
    ledger = Ledger(root, create=True)
    plan = [
        ("biswas-batch-size", "batch-1024", "maddpg", {"batch_size": 1024}, 0.0),
        ("biswas-batch-size", "batch-64", "maddpg", {"batch_size": 64}, 5.0),
        ("biswas-per", "uniform", "maddpg", {"per": False}, 0.0),
        ("biswas-per", "per-rank", "maddpg", {"per": True}, 3.0),
        ("biswas-ppo-vs-maddpg", "ppo-shared", "ppo", {}, 8.0),
        ("biswas-ppo-vs-maddpg", "maddpg", "maddpg", {"batch_size": 1024}, 1.0),
    ]
    for preset, variant, algo, hyper, level in plan:
        for seed in (0, 1):
            run_id = f"{variant}-s{seed}-{preset[-4:]}"
            wall = (32.0 if algo == "ppo" else 10.0) * (1 + 0.1 * seed)
            put_run(
                ledger,
                run_id,
                algo,
                "smarts-intersection",
                seed,
                preset=preset,
                variant=variant,
                steps=2000,
                wall=wall,
                hyperparams=hyper,
            )
            put_episodes(ledger, run_id, AGENTS4, 2000, level + seed, slope=4.0)
            collided = {ag: [1.0 if (i + seed) % 4 == 0 else 0.0] * 2 for i, ag in enumerate(AGENTS4)}
            reached = {ag: [1.0 - c for c in collided[ag]] for ag in AGENTS4}
            for eval_id, step in enumerate((1000, 2000)):
                put_eval(
                    ledger,
                    run_id,
                    eval_id,
                    step,
                    {ag: [level + seed + eval_id] * 2 for ag in AGENTS4},
                    metrics={"collided": collided, "reached_goal": reached},
                )
            if with_high:
                high = {ag: [1.0, 1.0] for ag in AGENTS4}
                put_eval(
                    ledger,
                    run_id,
                    2,
                    2000,
                    {ag: [0.0, 0.0] for ag in AGENTS4},
                    env_options=json.dumps({"traffic": "high"}),
                    metrics={"collided": high, "reached_goal": {ag: [0.0, 0.0] for ag in AGENTS4}},
                )
    return ledger


# ---------------------------------------------------------------------------------------------
# statistics
# ---------------------------------------------------------------------------------------------
def test_iqm_known_values() -> None:
    assert stats.iqm([1, 2, 3, 4, 5, 6, 7, 8]) == pytest.approx(4.5)  # mean of 3, 4, 5, 6
    assert stats.iqm([1, 2, 3, 4, 100]) == pytest.approx(3.0)  # one cut from each end of five
    assert math.isnan(stats.iqm([]))
    # six scores: a quarter of 6 rounds down to one cut from each end (rliable's trim_mean(0.25))
    assert stats.iqm([0.3, 9.0, 1.5, 2.2, 7.7, 4.1]) == pytest.approx((1.5 + 2.2 + 4.1 + 7.7) / 4)


def test_bootstrap_ci_matches_the_exact_bootstrap_distribution() -> None:
    """Means of 4 draws from {0,1,2,3}: P(sum <= 1) = 5/256 < 2.5% < P(sum <= 2) = 15/256, so the
    2.5th percentile is 2/4 = 0.5 and, by symmetry, the 97.5th is 2.5."""
    assert stats.bootstrap_ci([[0.0, 1.0, 2.0, 3.0]]) == (0.5, 2.5)
    assert stats.bootstrap_ci([[0.0, 1.0, 2.0, 3.0]]) == stats.bootstrap_ci([[3.0, 2.0, 1.0, 0.0]])
    low, high = stats.bootstrap_ci([[0.0, 1.0, 2.0, 3.0]], "iqm")
    assert 0.0 <= low < 1.5 < high <= 3.0


def test_bootstrap_is_stratified_and_degenerate_cases() -> None:
    # Resampling within each stratum keeps 3 zeros and 4 tens: the pooled mean is always 40/7.
    assert stats.bootstrap_ci([[0, 0, 0], [10, 10, 10, 10]]) == pytest.approx((40 / 7, 40 / 7))
    # Pooled into one stratum the count of tens varies, so the interval opens.
    low, high = stats.bootstrap_ci([[0, 0, 0, 10, 10, 10, 10]])
    assert low < 40 / 7 < high
    assert all(math.isnan(v) for v in stats.bootstrap_ci([[5.0]]))
    # a stratum with one score is constant under resampling: 3 zeros and one 10 always pool to 2.5
    assert stats.bootstrap_ci([[0.0, 0.0, 0.0], [10.0]]) == pytest.approx((2.5, 2.5))
    assert stats.bootstrap_ci([[2.0, 2.0, 2.0]]) == (2.0, 2.0)


def test_probability_of_improvement_known_values() -> None:
    assert stats.probability_of_improvement([1.0, 2.0], [1.5, 3.0]) == pytest.approx(0.25)  # 1 of 4 pairs
    assert stats.probability_of_improvement([3.0, 3.0], [1.0, 2.0]) == pytest.approx(1.0)
    assert stats.probability_of_improvement([1.0, 1.0], [1.0, 1.0]) == pytest.approx(0.5)  # ties count 1/2
    assert stats.probability_of_improvement([2.0], [2.0, 1.0]) == pytest.approx(0.75)  # (1/2 + 1) / 2
    # strata: P = 1 on the first, 1/2 (a tie) on the second -> 0.75
    assert stats.probability_of_improvement([[1.0, 2.0], [3.0]], [[0.0, 0.0], [3.0]]) == pytest.approx(0.75)
    # 0.2 beats one of y, 0.9 all four, 0.5 three: 8 of 12 pairs (Mann-Whitney U / nm, as rliable)
    assert stats.probability_of_improvement([0.2, 0.9, 0.5], [0.4, 0.1, 0.8, 0.3]) == pytest.approx(8 / 12)


def test_bootstrap_band_per_point() -> None:
    matrix = np.array([[1.0, 2.0, np.nan], [3.0, 2.0, 5.0], [5.0, 2.0, np.nan]])
    low, high = stats.bootstrap_band(matrix)
    assert low[0] < 3.0 < high[0]
    assert (low[1], high[1]) == (2.0, 2.0)
    assert math.isnan(low[2]) and math.isnan(high[2])  # one seed has data there: no interval


# ---------------------------------------------------------------------------------------------
# compare
# ---------------------------------------------------------------------------------------------
def test_compare_scores_only_finished_runs_from_their_last_evaluation(tmp_path: Path) -> None:
    ledger = mpe_ledger(tmp_path / "l")
    runs = ledger.runs()
    assert dict(zip(runs["run_id"], runs["status"], strict=True))["ppo-dead"] == "crashed"
    table = compare(runs, ledger.evals())
    assert len(table.rows) == 1
    row = table.rows.iloc[0]
    # per seed: mean over its two episodes of the team mean: seeds score 2, 5, 11
    per_seed = [2.0, 5.0, 11.0]
    assert row["seeds"] == 3 and row["runs"] == 7 and row["excluded"] == 4
    assert row["mean"] == pytest.approx(6.0)
    assert row["iqm"] == pytest.approx(6.0)  # three scores: nothing is trimmed
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(stats.bootstrap_ci([per_seed]))
    assert 2.0 <= row["ci_low"] < 6.0 < row["ci_high"] <= 11.0
    assert row["std"] == pytest.approx(np.std(per_seed, ddof=1))
    assert row["wall_time_s"] == pytest.approx(8.0)  # 4, 8, 12 s
    assert row["steps_per_s"] == pytest.approx(np.mean([1000 / 4, 1000 / 8, 1000 / 12]))
    assert row["per_agent"] == pytest.approx({"agent_0": 5.0, "agent_1": 6.0, "agent_2": 7.0})
    assert math.isnan(row["collision_rate"])
    reasons = dict(zip(table.excluded["run_id"], table.excluded["reason"], strict=True))
    assert reasons == {
        "ppo-failed": "failed",
        "ppo-int": "interrupted",
        "ppo-dead": "crashed",
        "ppo-noeval": "no evaluation",
    }
    assert "4 runs not scored" in table.excluded_text()


def test_team_sum_aggregation(tmp_path: Path) -> None:
    ledger = mpe_ledger(tmp_path / "l")
    table = compare(ledger.runs(), ledger.evals(), aggregate="team-sum")
    # team sum of an episode = 3 * its base: seeds score 6, 15, 33
    assert table.rows.iloc[0]["mean"] == pytest.approx(18.0)
    assert "team sum" in table.score_text


def test_compare_groups_variants_and_settings(tmp_path: Path) -> None:
    ledger = smarts_ledger(tmp_path / "l")
    runs = ledger.runs()
    runs = runs[runs["preset"] == "biswas-batch-size"]
    table = compare(runs, ledger.evals(), vs="batch-1024")
    by_label = table.rows.set_index("label")
    assert set(by_label.index) == {"maddpg/batch-64", "maddpg/batch-1024"}
    # last training evaluation: level + seed + 1 per agent; seeds 0 and 1
    assert by_label.loc["maddpg/batch-64", "mean"] == pytest.approx(6.5)
    assert by_label.loc["maddpg/batch-1024", "mean"] == pytest.approx(1.5)
    assert by_label.loc["maddpg/batch-64", "p_improvement"] == pytest.approx(1.0)
    # the baseline's own row says nothing (P = 1/2 by definition): left empty, shown as '-'
    assert np.isnan(by_label.loc["maddpg/batch-1024", "p_improvement"])
    # every resample of 2 seeds per side still has batch-64 above: the CI is [1, 1]
    assert by_label.loc["maddpg/batch-64", ["p_improvement_low", "p_improvement_high"]].tolist() == [1.0, 1.0]
    # seed 0 collides with agent_0 only, seed 1 with agent_3 only: 1/4 of agent-episodes
    assert by_label.loc["maddpg/batch-64", "collision_rate"] == pytest.approx(0.25)
    assert by_label.loc["maddpg/batch-64", "completion_rate"] == pytest.approx(0.75)
    with pytest.raises(ValueError, match="no row"):
        compare(runs, ledger.evals(), vs="qmix")


def test_same_algo_with_different_configs_are_separate_rows(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "l", create=True)
    for seed in (0, 1):
        for steps in (1000, 2000):
            run_id = f"ppo-{steps}-{seed}"
            put_run(ledger, run_id, "ppo", "mpe-spread", seed, steps=steps)
            put_eval(ledger, run_id, 0, steps, {"agent_0": [steps / 1000.0]})
    table = compare(ledger.runs(), ledger.evals())
    # the default evaluation interval follows the budget, so it differs too
    assert sorted(table.rows["setting"]) == ["eval_every=100, steps=1000", "eval_every=200, steps=2000"]
    assert sorted(table.rows["label"])[0] == "ppo [eval_every=100, steps=1000]"
    assert sorted(table.rows["mean"]) == [1.0, 2.0]
    assert list(table.rows["seeds"]) == [2, 2]


def test_every_format_parses_back_to_the_same_numbers(tmp_path: Path) -> None:
    import io

    import pandas as pd

    from marlbench.reports.render import render

    ledger = smarts_ledger(tmp_path / "l")
    table = compare(ledger.runs(), ledger.evals(), vs="maddpg")
    rows = table.rows
    payload = json.loads(render(table, "json"))
    assert payload["fields"] == list(FIELDS)
    assert payload["aggregation"] == "team-mean" and payload["vs"] == "maddpg"
    assert [list(r) for r in payload["rows"]] == [list(FIELDS)] * len(rows)
    for got, want in zip(payload["rows"], rows.to_dict("records"), strict=True):
        for key in ("mean", "iqm", "ci_low", "ci_high", "collision_rate", "steps_per_s"):
            assert got[key] == pytest.approx(want[key])
        assert got["per_agent"] == pytest.approx(want["per_agent"])
    csv = pd.read_csv(
        io.StringIO(render(table, "csv", per_agent=True)), keep_default_na=False, na_values=[""]
    )
    assert list(csv.columns[: len(FIELDS) - 1]) == [f for f in FIELDS if f != "per_agent"]
    assert [c for c in csv.columns if c.startswith("per_agent:")] == [f"per_agent:{a}" for a in AGENTS4]
    np.testing.assert_allclose(csv["mean"], rows["mean"])
    np.testing.assert_allclose(csv["ci_high"], rows["ci_high"])
    assert list(csv["label"]) == list(rows["label"])
    markdown = render(table, "markdown", per_agent=True).splitlines()
    lines = [line for line in markdown if line.startswith("|")]
    assert len(lines) == 2 + len(rows)
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header[:3] == ["algorithm", "env", "seeds"] and "P(> maddpg)" in header and "agent_3" in header
    assert all(len(line.strip("|").split("|")) == len(header) for line in lines)
    # text columns left-aligned, numbers right-aligned
    rule = [c.strip() for c in lines[1].strip("|").split("|")]
    aligned = dict(zip(header, rule, strict=True))
    assert aligned["algorithm"] == aligned["95% CI"] == "---"
    assert aligned["mean"] == aligned["seeds"] == "---:"
    assert "team mean over agents" in "\n".join(markdown)
    latex = render(table, "latex")
    assert "\\begin{tabular}" in latex and "\\end{tabular}" in latex
    assert latex.count("\\\\") == 1 + len(rows)
    assert "maddpg/batch-64 & smarts-intersection" in latex and "95\\% CI" in latex


# ---------------------------------------------------------------------------------------------
# curves and figures
# ---------------------------------------------------------------------------------------------
def test_train_curves_bin_the_budget(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "l", create=True)
    put_run(ledger, "r", "ppo", "mpe-spread", 0, steps=1000)
    put_episodes(ledger, "r", ["agent_0"], 1000, level=0.0, slope=10.0)  # reward = step / 100
    runs = add_groups(ledger.runs())
    curves = train_curves(runs, ledger.episodes(), bins=4)
    # bins (0,250], (250,500], ...: episodes at 100,200 | 300,400,500 | 600,700 | 800,900,1000
    assert list(curves["step"]) == [250.0, 500.0, 750.0, 1000.0]
    assert list(curves["reward"]) == pytest.approx([1.5, 4.0, 6.5, 9.0])
    team = run_scores(ledger.evals(), "team-mean")
    assert team.empty


def _draw(ledger: Ledger, name: str, **options: object):
    from marlbench.reports.figures import FigureOptions, get_figure, report_data

    figure = get_figure(name)
    opts = FigureOptions(**options)  # type: ignore[arg-type]
    return figure.draw(report_data(ledger, figure, opts), opts)


def _curve_axes(drawing) -> list:
    return [ax for ax in drawing.figure.axes if ax.get_visible()]


@pytest.mark.parametrize("name", ["batch-size", "per"])
def test_paper_curve_figures_have_one_panel_per_agent_and_one_line_per_variant(
    tmp_path: Path, name: str
) -> None:
    ledger = smarts_ledger(tmp_path / "l")
    drawing = _draw(ledger, name)
    axes = _curve_axes(drawing)
    assert [ax.get_title() for ax in axes] == AGENTS4
    assert all(len(ax.get_lines()) == 2 for ax in axes)
    assert "per agent" in axes[0].get_ylabel()
    title = figure_words(drawing.figure)
    assert "Fig." in title and "2 seeds" in title and "95% bootstrap CI" in title
    legend = [t.get_text() for t in drawing.figure.legends[0].get_texts()]
    expected = {
        "batch-size": ["batch size 1024 (original)", "batch size 64 (small batch)"],
        "per": ["uniform replay", "prioritized replay (rank-based)"],
    }[name]
    assert legend == expected  # labels and order from the preset file
    assert drawing.notes == []


def test_curve_values_are_means_over_seeds(tmp_path: Path) -> None:
    ledger = smarts_ledger(tmp_path / "l")
    drawing = _draw(ledger, "batch-size", source="eval")
    ax = _curve_axes(drawing)[2]  # agent_2
    lines = {line.get_label(): line for line in ax.get_lines()}
    # eval rewards: level + seed + eval_id; the mean over seeds 0 and 1 is level + 0.5 + eval_id
    np.testing.assert_allclose(lines["batch size 64 (small batch)"].get_ydata(), [5.5, 6.5])
    np.testing.assert_allclose(lines["batch size 64 (small batch)"].get_xdata(), [1000, 2000])


def test_team_aggregation_gives_one_panel(tmp_path: Path) -> None:
    ledger = smarts_ledger(tmp_path / "l")
    drawing = _draw(ledger, "per", aggregate="team-sum")
    axes = _curve_axes(drawing)
    assert len(axes) == 1 and axes[0].get_title() == "team sum over agents"
    assert "team sum" in axes[0].get_ylabel()


def test_ppo_vs_maddpg_plots_steps_and_wall_time_and_states_the_ratio(tmp_path: Path) -> None:
    ledger = smarts_ledger(tmp_path / "l")
    drawing = _draw(ledger, "ppo-vs-maddpg")
    axes = _curve_axes(drawing)
    assert len(axes) == 8
    assert all(len(ax.get_lines()) == 2 for ax in axes)
    assert {ax.get_xlabel() for ax in axes[4:]} == {"wall-clock time (s)"}
    assert "3.2x" in figure_words(drawing.figure)  # 32 s vs 10 s for the same steps


def test_safety_figure_rates_per_traffic_density(tmp_path: Path) -> None:
    ledger = smarts_ledger(tmp_path / "l")
    drawing = _draw(ledger, "smarts-safety")
    collision, completion = _curve_axes(drawing)
    assert [t.get_text() for t in collision.get_xticklabels()] == ["low traffic", "high traffic"]
    heights = sorted(round(p.get_height(), 6) for p in collision.patches)
    assert heights == [0.25, 0.25, 1.0, 1.0]  # low: 1/4 collide; the high-traffic evaluations: all
    assert sorted(round(p.get_height(), 6) for p in completion.patches) == [0.0, 0.0, 0.75, 0.75]
    assert drawing.notes == []
    ledger2 = smarts_ledger(tmp_path / "l2", with_high=False)
    notes = _draw(ledger2, "smarts-safety").notes
    assert len(notes) == 4 and all("--env-opt traffic=high" in n for n in notes)


def test_learning_curves_any_filter(tmp_path: Path) -> None:
    ledger = smarts_ledger(tmp_path / "l")
    drawing = _draw(ledger, "learning-curves", algos=["ppo"])
    axes = _curve_axes(drawing)
    assert len(axes) == 4 and all(len(ax.get_lines()) == 1 for ax in axes)
    assert axes[0].get_title() == "smarts-intersection: agent_0"


def test_figure_registry_accepts_new_figures() -> None:
    from marlbench.reports import Figure, Needs, all_figures, get_figure, register_figure
    from marlbench.reports.figures import _FIGURES

    names = set(all_figures())
    assert {"learning-curves", "batch-size", "per", "ppo-vs-maddpg", "smarts-safety"} <= names
    extra = Figure("test-extra", "a test figure", draw=lambda d, o: None, needs=Needs(preset="p"))  # type: ignore[arg-type,return-value]
    try:
        register_figure(extra)
        assert get_figure("test-extra") is extra
        with pytest.raises(ValueError):
            register_figure(extra)
    finally:
        _FIGURES.pop("test-extra", None)


def test_auto_aggregation_is_per_agent_only_where_agents_differ_or_the_paper_insists() -> None:
    import pandas as pd

    from marlbench.reports.figures import default_aggregate, get_figure

    curves, paper000 = get_figure("learning-curves"), get_figure("batch-size")
    assert default_aggregate(curves, pd.DataFrame({"env": ["mpe-spread", "cn-v1"]})) == "team-mean"
    assert (
        default_aggregate(curves, pd.DataFrame({"env": ["mpe-spread", "smarts-intersection"]})) == "per-agent"
    )
    assert default_aggregate(curves, pd.DataFrame({"env": ["mypkg.envs:make"]})) == "per-agent"
    assert default_aggregate(paper000, pd.DataFrame({"env": ["mpe-spread"]})) == "per-agent"
    # paper 004's Fig. 2 scores the team's sum of rewards
    assert default_aggregate(get_figure("lbs-pursuit"), pd.DataFrame({"env": ["pursuit"]})) == "team-sum"
