"""Paper 004 Fig. 2 (``lbs-pursuit``): its preset, and its bars on a synthetic ledger.

The ledger is written with the Ledger API (real Parquet). Every pursuer of a run gets the same
reward pattern, chosen so each bar height (team sum or team mean of the last evaluation, averaged
over seeds) can be worked out by hand.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.collections import LineCollection, PathCollection
from test_compare_cli import assert_user_error, invoke
from test_reports import put_eval, put_run

from marlbench.config import resolve
from marlbench.ledger import Ledger
from marlbench.presets import load_preset
from marlbench.reports import stats
from marlbench.reports.figures import FigureOptions, get_figure, report_data
from marlbench.reports.style import figure_words

PURSUERS = [f"pursuer_{i}" for i in range(8)]
PRESET = "lbs-pursuit"
LABELS = ["LBS", "IDQN", "PS (shared network)", "IDQN same RB"]
# Team sums of each seed's last evaluation (mean of its two episodes), per variant.
TEAM_SUMS = {
    "lbs": [40.0, 48.0, 64.0],
    "idqn": [16.0, 24.0, 8.0],
    "ps-dqn": [-8.0, 0.0, 8.0],
    "idqn-shared-buffer": [32.0],
}
STEPS = 1000


def agent_rewards(team_sum: float, spread: float) -> dict[str, list[float]]:
    """Two episodes whose team sums are ``team_sum -+ spread`` (mean ``team_sum``), split unevenly."""
    weights = np.arange(1, 9) / 36.0  # agent i gets (i+1)/36 of the team sum
    return {
        agent: [float((team_sum - spread) * w), float((team_sum + spread) * w)]
        for agent, w in zip(PURSUERS, weights, strict=True)
    }


def lbs_ledger(root: Path, *, variants: tuple[str, ...] = tuple(TEAM_SUMS)) -> Ledger:
    """Finished pursuit runs of the preset, plus runs and evaluations that must not count."""
    ledger = Ledger(root, create=True)
    for variant in variants:
        for seed, team_sum in enumerate(TEAM_SUMS[variant]):
            run_id = f"{variant}-s{seed}"
            put_run(ledger, run_id, variant, "pursuit", seed, preset=PRESET, variant=variant, steps=STEPS)
            put_eval(ledger, run_id, 0, STEPS // 2, agent_rewards(-500.0, 0.0))  # not the last one
            put_eval(ledger, run_id, 1, STEPS, agent_rewards(team_sum, 4.0))
            # a later 'marlbench evaluate --env-opt' evaluation is not the training score
            put_eval(ledger, run_id, 2, STEPS, agent_rewards(900.0, 0.0), env_options='{"n_evaders": 5}')
            # training episodes: team sum 1000 before the last tenth of the budget, then 8 * team_sum
            rows = []
            for episode, step in enumerate((500, 900, 950, 1000)):
                late = step > 0.9 * STEPS
                for agent in PURSUERS:
                    reward = team_sum if late else 125.0
                    rows.append(
                        {
                            "episode": episode,
                            "agent": agent,
                            "step": step,
                            "wall_time": step / 100.0,
                            "reward": reward,
                            "length": 500,
                        }
                    )
            ledger.append("episodes", run_id, rows)
    # runs that must not count: failed, another preset, another environment
    put_run(ledger, "lbs-failed", "lbs", "pursuit", 7, preset=PRESET, variant="lbs", status="failed")
    put_eval(ledger, "lbs-failed", 0, STEPS, agent_rewards(1e4, 0.0))
    put_run(ledger, "lbs-other", "lbs", "pursuit", 8, preset="other", variant="lbs")
    put_eval(ledger, "lbs-other", 0, STEPS, agent_rewards(1e4, 0.0))
    put_run(ledger, "lbs-spread", "lbs", "mpe-spread", 9, preset=PRESET, variant="lbs")
    put_eval(ledger, "lbs-spread", 0, STEPS, agent_rewards(1e4, 0.0))
    return ledger


def draw(ledger: Ledger, **options: object):
    figure = get_figure("lbs-pursuit")
    opts = FigureOptions(**options)  # type: ignore[arg-type]
    return figure.draw(report_data(ledger, figure, opts), opts)


def bars(drawing) -> tuple[list[float], list[str], list[tuple[float, float]]]:
    """Each algorithm's mean (NaN where it has no score), tick labels and the (low, high) ends of
    each whisker, left to right. Means are points: no bar is drawn (returns are negative here)."""
    (ax,) = drawing.figure.axes
    assert not ax.patches  # no bars hanging from 0
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    means = {
        round(float(x)): float(y) for c in ax.collections if c.get_gid() == "mean" for x, y in c.get_offsets()
    }
    heights = [means.get(i, float("nan")) for i in range(len(ticks))]
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    whiskers = []
    for collection in ax.collections:
        if isinstance(collection, LineCollection):
            for segment in collection.get_segments():
                whiskers.append((float(segment[0][1]), float(segment[1][1])))
    return heights, ticks, whiskers


def suptitle(drawing) -> str:
    """The figure's title with its wrapping undone."""
    return figure_words(drawing.figure)


# ---------------------------------------------------------------------------------------------
# the preset
# ---------------------------------------------------------------------------------------------
def test_preset_runs_the_four_algorithms_at_the_paper_budget() -> None:
    preset = load_preset(PRESET)
    assert [v.algo for v in preset.variants] == ["lbs", "idqn", "ps-dqn", "idqn-shared-buffer"]
    assert list(preset.labels().values()) == LABELS
    assert preset.seeds == tuple(range(10)) and preset.figure == "lbs-pursuit"
    assert {(v.env, v.steps) for v in preset.variants} == {("pursuit", 800_000)}
    assert preset.variant("lbs").hyperparams == {"p1": "uniform", "p2": "td"}
    specs = preset.specs(seeds=[0, 1], scale=0.1)
    assert (
        len(specs) == 8 and {s.steps for s in specs} == {80_000} and {s.eval_every for s in specs} == {8000}
    )
    for spec in specs[::2]:
        resolve(spec)  # every algorithm and hyperparameter exists (nothing is built)
        assert spec.resolved["hyperparams"]["batch_size"] == 32  # Table 1's base agent, not overridden


# ---------------------------------------------------------------------------------------------
# the figure
# ---------------------------------------------------------------------------------------------
def test_bars_are_the_mean_team_sum_of_the_last_evaluation_with_bootstrap_ci(tmp_path: Path) -> None:
    drawing = draw(lbs_ledger(tmp_path / "l"))
    heights, ticks, whiskers = bars(drawing)
    assert [" ".join(t.split("\n")[:-1]) for t in ticks] == LABELS
    assert [t.split("\n")[-1] for t in ticks] == ["(n=3)", "(n=3)", "(n=3)", "(n=1)"]
    np.testing.assert_allclose(heights, [np.mean(s) for s in TEAM_SUMS.values()])  # 50.67, 16, 0, 32
    # one whisker per bar with two or more seeds (IDQN same RB has one seed: no interval)
    assert len(whiskers) == 3
    for (low, high), scores in zip(whiskers, list(TEAM_SUMS.values())[:3], strict=True):
        want = stats.bootstrap_ci([scores])
        assert (low, high) == pytest.approx(want)
        assert min(scores) <= low < np.mean(scores) < high <= max(scores)
    # every seed is drawn as a dot at its score
    dots = [
        c
        for c in drawing.figure.axes[0].collections
        if isinstance(c, PathCollection) and c.get_gid() == "seed"
    ]
    drawn = sorted(float(y) for c in dots for y in c.get_offsets()[:, 1])
    assert drawn == sorted(s for v in TEAM_SUMS.values() for s in v)
    title = suptitle(drawing)
    assert "Fig. 2" in title and "team sum over agents" in title and "95% bootstrap CI" in title
    assert "1k env steps" in title and "pursuit" in title
    assert drawing.notes == []


def test_team_mean_divides_every_bar_by_the_eight_pursuers(tmp_path: Path) -> None:
    ledger = lbs_ledger(tmp_path / "l")
    heights, _, whiskers = bars(draw(ledger, aggregate="team-mean"))
    np.testing.assert_allclose(heights, [np.mean(s) / 8 for s in TEAM_SUMS.values()])
    assert whiskers[0] == pytest.approx(tuple(x / 8 for x in stats.bootstrap_ci([TEAM_SUMS["lbs"]])))
    # per-agent, the CLI's default, draws the paper's team sum
    np.testing.assert_allclose(bars(draw(ledger, aggregate="per-agent"))[0], bars(draw(ledger))[0])


def test_train_source_scores_the_last_tenth_of_the_budget(tmp_path: Path) -> None:
    drawing = draw(lbs_ledger(tmp_path / "l"), source="train")
    heights, _, _ = bars(drawing)
    # episodes after 90% of the budget pay team_sum to each of 8 pursuers; earlier ones must not count
    np.testing.assert_allclose(heights, [8 * np.mean(s) for s in TEAM_SUMS.values()])
    assert "last 10% of the budget" in suptitle(drawing)


def test_missing_variant_and_unscored_runs_are_noted(tmp_path: Path) -> None:
    ledger = lbs_ledger(tmp_path / "l", variants=("lbs", "idqn"))
    put_run(ledger, "ps-dqn-noeval", "ps-dqn", "pursuit", 0, preset=PRESET, variant="ps-dqn", steps=STEPS)
    drawing = draw(ledger)
    heights, ticks, _ = bars(drawing)
    assert ticks[-1] == "PS (shared\nnetwork)\n(n=0)"
    assert np.isnan(heights[-1])  # no score: no point, not a made-up one
    assert any("idqn-shared-buffer" in n and "marlbench preset run lbs-pursuit" in n for n in drawing.notes)
    assert any("ps-dqn-noeval has no evaluation" in n for n in drawing.notes)


# ---------------------------------------------------------------------------------------------
# through the CLI
# ---------------------------------------------------------------------------------------------
def test_report_without_runs_prints_the_producing_command(ledger_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = invoke("report", "--figure", "lbs-pursuit", "--out", str(out))
    assert_user_error(result, "no finished runs for figure 'lbs-pursuit'", "marlbench preset run lbs-pursuit")
    lbs_ledger(ledger_dir, variants=())  # only runs that must not count
    result = invoke("report", "--figure", "lbs-pursuit", "--out", str(out))
    assert_user_error(result, "(preset lbs-pursuit)", "produce them with: marlbench preset run lbs-pursuit")
    assert not out.exists()


def test_report_writes_the_figure(ledger_dir: Path, tmp_path: Path) -> None:
    lbs_ledger(ledger_dir)
    out = tmp_path / "out"
    result = invoke("report", "--figure", "lbs-pursuit", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert (out / "lbs-pursuit.png").stat().st_size > 0 and (out / "lbs-pursuit.pdf").exists()
    shown = invoke("preset", "show", PRESET)
    assert "marlbench report --figure lbs-pursuit" in shown.output
    assert "--preset lbs-pursuit" not in shown.output.split("Figure:")[-1]
