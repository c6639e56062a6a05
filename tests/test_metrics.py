"""The ``metrics`` table: learners' statistics thinned into the ledger, shown by ``runs show``, drawn."""

from __future__ import annotations

import pytest
from conftest import TINY
from typer.testing import CliRunner

from marlbench import api
from marlbench.cli import app
from marlbench.ledger.schema import METRIC_SCHEMA
from marlbench.training.diagnostics import MetricsLog

runner = CliRunner()


def test_metrics_log_keeps_one_row_per_name_per_stride_and_the_last_value(ledger) -> None:
    log = MetricsLog(ledger, "r1", total_steps=5_000)  # 5000 // 500: one row per 10 env steps
    assert log.every == 10
    for step in range(1, 101):
        log.add(step, step / 10, {"loss": 1.0 / step, "beta": step, "label": "not a number"})
    log.close()
    rows = ledger.metrics(["r1"])
    assert list(rows.columns) == METRIC_SCHEMA.names
    loss = rows[rows["name"] == "loss"]
    assert list(loss["step"]) == [1, 11, 21, 31, 41, 51, 61, 71, 81, 91, 100]
    assert loss["value"].iloc[-1] == pytest.approx(1 / 100)  # the last value is never thinned away
    assert loss["wall_time"].iloc[1] == pytest.approx(1.1)
    assert set(rows["name"]) == {"loss", "beta"}  # the string stat is left out


def test_the_final_value_is_not_written_twice(ledger) -> None:
    log = MetricsLog(ledger, "r1", total_steps=100)  # every step is kept
    log.add(1, 0.0, {"x": 1.0})
    log.add(2, 0.0, {"x": 2.0})
    log.close()
    assert list(ledger.metrics(["r1"])["value"]) == [1.0, 2.0]


def test_recorder_stores_the_learners_stats_and_runs_show_lists_the_last(ledger, fake_algo) -> None:
    row = api.train("fake", "user_env:make", steps=60, ledger=ledger, eval_episodes=0)
    metrics = ledger.metrics([row["run_id"]])
    assert list(metrics["step"]) == list(range(1, 61))  # the fake logs {"steps": n} at every step
    assert (metrics["value"] == metrics["step"]).all()
    last = api.run_metrics(ledger, row["run_id"])
    assert last[["name", "step", "value", "rows"]].values.tolist() == [["steps", 60, 60.0, 60]]
    result = runner.invoke(app, ["runs", "show", row["run_id"], "--ledger", str(ledger.root)])
    assert result.exit_code == 0, result.output
    assert "diagnostic (last value)" in result.output and "steps" in result.output
    line = next(x for x in result.output.splitlines() if "│ steps" in x)
    assert "60" in line.split("│")[2]


def test_deleting_a_run_removes_its_metrics(ledger) -> None:
    ledger.put_run({"run_id": "r1", "algo": "ppo", "env": "mpe-spread"})
    ledger.append("metrics", "r1", [{"step": 1, "wall_time": 0.0, "name": "loss", "value": 1.0}])
    assert len(ledger.metrics(["r1"])) == 1
    ledger.delete_run("r1")
    assert len(ledger.metrics()) == 0 and not (ledger.root / "metrics" / "r1").exists()


def _finished(ledger, run_id: str) -> None:
    ledger.put_run({"run_id": run_id, "algo": "maddpg", "env": "mpe-spread", "status": "finished"})


def test_diagnostics_figure_draws_a_panel_per_statistic_and_a_line_per_run(ledger, tmp_path) -> None:
    for run_id, scale in (("run-a", 1.0), ("run-b", 2.0)):
        _finished(ledger, run_id)
        rows = [
            {"step": s, "wall_time": 0.0, "name": name, "value": scale * s * k}
            for s in (10, 20, 30)
            for name, k in (("critic_loss", 1), ("q_mean", -1))
        ]
        ledger.append("metrics", run_id, rows)
    options = api.figure_options(runs="run-b")
    drawn = api.draw_figure(ledger, "diagnostics", options)
    axes = [ax for ax in drawn.drawing.figure.axes if ax.lines]
    assert [ax.get_title() for ax in axes] == ["critic_loss", "q_mean"]
    (line,) = axes[1].lines  # only the run asked for
    assert list(line.get_xdata()) == [10, 20, 30] and list(line.get_ydata()) == [-20.0, -40.0, -60.0]
    both = api.draw_figure(ledger, "diagnostics", api.figure_options())
    assert [len(ax.lines) for ax in both.drawing.figure.axes if ax.lines] == [2, 2]


def test_diagnostics_figure_cli_and_an_unknown_run(ledger, tmp_path) -> None:
    _finished(ledger, "run-a")
    ledger.append("metrics", "run-a", [{"step": 1, "wall_time": 0.0, "name": "loss", "value": 1.0}])
    out = tmp_path / "figs"
    args = ["report", "--figure", "diagnostics", "--ledger", str(ledger.root), "--out", str(out)]
    result = runner.invoke(app, [*args, "--run", "run-a"])
    assert result.exit_code == 0, result.output
    assert (out / "diagnostics-run-a.png").stat().st_size > 1000
    bad = runner.invoke(app, [*args, "--run", "nope"])
    assert bad.exit_code == 2 and "run id 'nope' matches no run" in bad.output


@pytest.mark.slow
@pytest.mark.parametrize(
    ("algo", "expected"),
    [("maddpg", {"critic_loss", "actor_loss", "per_beta"}), ("ppo", {"value_loss", "entropy_loss"})],
)
def test_real_learners_stats_reach_the_table(ledger, algo: str, expected: set[str]) -> None:
    row = api.train(algo, "mpe-spread", steps=400, ledger=ledger, hyperparams=TINY[algo], eval_episodes=0)
    frame = ledger.metrics([row["run_id"]])
    assert expected <= set(frame["name"]), set(frame["name"])
    assert frame["step"].between(1, int(row["steps"])).all()
