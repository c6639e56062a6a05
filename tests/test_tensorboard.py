"""TensorBoard scalars, read back with TensorBoard's own EventAccumulator: live while training, exported."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from marlbench import api
from marlbench.cli import app
from marlbench.errors import ConfigError
from marlbench.training.diagnostics import TENSORBOARD_ENV

runner = CliRunner()


@pytest.fixture(autouse=True)
def no_live_output(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's --tensorboard sets the variable for the process: restore it after every test."""
    monkeypatch.setenv(TENSORBOARD_ENV, "")


def scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def _fixture_run(ledger) -> None:
    ledger.put_run(
        {"run_id": "r1", "algo": "ppo", "env": "mpe-spread", "status": "finished", "created_at": 1e9}
    )
    ledger.append(
        "episodes",
        "r1",
        [
            {"episode": e, "agent": a, "step": 10 * (e + 1), "wall_time": e, "reward": e + i, "length": 5}
            | {"metric_captures": 2.0 * e}
            for e in range(3)
            for i, a in enumerate(("a", "b"))
        ],
    )
    evals = [
        {"eval_id": 0, "step": 30, "episode": e, "agent": "a", "reward": r, "length": 5}
        for e, r in enumerate((1.0, 3.0))
    ]
    evals.append(
        {"eval_id": 1, "step": 30, "episode": 0, "agent": "a", "reward": 9.0, "length": 5, "policy": "local"}
    )
    evals.append(
        {
            "eval_id": 2,
            "step": 30,
            "episode": 0,
            "agent": "a",
            "reward": 99.0,
            "length": 5,
            "env_options": '{"x": 1}',
        }
    )
    ledger.append("evals", "r1", evals)
    ledger.append(
        "metrics", "r1", [{"step": s, "wall_time": 0.0, "name": "loss", "value": 1.0 / s} for s in (10, 20)]
    )


def test_export_writes_episodes_evaluations_and_diagnostics(ledger, tmp_path: Path) -> None:
    _fixture_run(ledger)
    (folder,) = api.export_tensorboard(ledger, tmp_path / "tb")
    assert folder == tmp_path / "tb" / "r1"
    got = scalars(folder)
    assert got["train/reward/a"] == [(10, 0.0), (20, 1.0), (30, 2.0)]
    assert got["train/reward/b"] == [(10, 1.0), (20, 2.0), (30, 3.0)]
    assert got["train/captures/b"] == [(10, 0.0), (20, 2.0), (30, 4.0)]
    assert got["eval/reward/a"] == [(30, 2.0)]  # the mean of the round; the later evaluate is left out
    assert got["eval-local/reward/a"] == [(30, 9.0)]
    assert got["diagnostics/loss"] == [(10, pytest.approx(0.1)), (20, pytest.approx(0.05))]


def test_export_cli_and_an_unknown_run(ledger, tmp_path: Path) -> None:
    _fixture_run(ledger)
    result = runner.invoke(app, ["export", "tensorboard", str(tmp_path / "tb"), "--ledger", str(ledger.root)])
    assert result.exit_code == 0, result.output
    assert str(tmp_path / "tb" / "r1") in result.output and "train/reward/a" in scalars(
        tmp_path / "tb" / "r1"
    )
    bad = runner.invoke(
        app, ["export", "tensorboard", str(tmp_path / "x"), "--run", "zz", "--ledger", str(ledger.root)]
    )
    assert bad.exit_code == 2 and "no run 'zz'" in bad.output


def test_train_with_tensorboard_writes_scalars_while_training(ledger, fake_algo, tmp_path: Path) -> None:
    board = tmp_path / "tb"
    args = ["train", "fake", "--env", "user_env:make", "--steps", "40", "--eval-episodes", "2"]
    result = runner.invoke(app, [*args, "--tensorboard", str(board), "--ledger", str(ledger.root)])
    assert result.exit_code == 0, result.output
    (run_id,) = ledger.runs()["run_id"]
    got = scalars(board / run_id)
    episodes = ledger.episodes([run_id])
    for agent in ("a", "b"):
        mine = episodes[episodes["agent"] == agent]
        assert got[f"train/reward/{agent}"] == [
            (s, pytest.approx(r)) for s, r in zip(mine["step"], mine["reward"], strict=True)
        ]
    evals = ledger.evals([run_id])
    final = evals[evals["eval_id"] == evals["eval_id"].max()]
    assert got["eval/reward/a"][-1] == (40, pytest.approx(final[final["agent"] == "a"]["reward"].mean()))
    assert got["diagnostics/steps"][-1] == (40, 40.0)


def test_missing_tensorboard_names_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    with pytest.raises(ConfigError) as err:
        api.use_tensorboard(tmp_path / "tb")
    assert 'pip install "marlbench[tensorboard]"' in err.value.fix
    assert not (tmp_path / "tb").exists()
