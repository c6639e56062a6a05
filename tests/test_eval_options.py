"""Which evaluation scores a run (issue 18 item 6), ``evaluate`` refusing options that change the
spaces a policy was trained on (item 4), and ``evaluate --preset`` (item 8)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from conftest import TINY, TINY_PPO
from typer.testing import CliRunner

from marlbench import api
from marlbench.cli import app
from marlbench.reports.selection import last_evals, posthoc_evals

runner = CliRunner()
ENV = {"COLUMNS": "300"}


def _evals() -> pd.DataFrame:
    """Run r: training round 0 (reward 1), post-hoc rounds 1 (n_agents 4, reward 5) and 2 (traffic)."""
    rows = []
    for eval_id, options, reward in (
        (0, "", 1.0),
        (1, json.dumps({"n_agents": 4, "continuous": True}), 5.0),
        (2, json.dumps({"n_agents": 3, "continuous": False}), 7.0),
    ):
        rows.append(
            {"run_id": "r", "eval_id": eval_id, "step": 10, "episode": 0, "agent": "a", "reward": reward}
            | {"length": 5, "env_options": options, "policy": ""}
        )
    return pd.DataFrame(rows)


def test_posthoc_rounds_are_picked_by_typed_option_values() -> None:
    evals = _evals()
    assert set(last_evals(evals)["reward"]) == {1.0}  # default: the training evaluation
    assert set(last_evals(evals, {"n_agents": "4"})["reward"]) == {5.0}
    assert set(last_evals(evals, {"continuous": "false"})["reward"]) == {7.0}
    assert set(last_evals(evals, {"n_agents": "3", "continuous": "no"})["reward"]) == {7.0}
    assert posthoc_evals(evals, {"n_agents": "5"}).empty
    assert posthoc_evals(evals, {"other": "1"}).empty


def _train(book, algo: str, seed: int = 0) -> str:
    row = api.train(
        algo, env="mpe-spread", steps=200, seed=seed, ledger=book, hyperparams=TINY[algo], eval_episodes=1
    )
    return row["run_id"]


def test_compare_and_runs_show_say_which_evaluation_they_score(ledger_dir: Path) -> None:
    book = api.open_ledger(ledger_dir, create=True)
    run_id = _train(book, "ppo")
    shown = runner.invoke(app, ["runs", "show", run_id], env=ENV).output
    assert "during training" in shown
    evaluated = runner.invoke(
        app, ["evaluate", run_id, "--env-opt", "max_cycles=10", "--episodes", "2"], env=ENV
    )
    assert evaluated.exit_code == 0, evaluated.output
    shown = runner.invoke(app, ["runs", "show", run_id], env=ENV).output
    assert "post-hoc" in shown and "max_cycles=10" in shown and "--eval-options max_cycles=10" in shown
    training = api.compare(book, references=False)
    assert "last training evaluation" in training.caption
    posthoc = api.compare(book, references=False, eval_options={"max_cycles": "10"})
    assert "max_cycles=10" in posthoc.caption
    assert posthoc.rows["mean"].iloc[0] != training.rows["mean"].iloc[0]  # 10-step episodes score apart
    cli = runner.invoke(app, ["compare", "--eval-options", "max_cycles=10", "--format", "json"], env=ENV)
    assert cli.exit_code == 0 and "max_cycles=10" in json.loads(cli.stdout)["score"]
    missing = api.compare(book, references=False, eval_options={"max_cycles": "11"})
    assert missing.rows["seeds"].iloc[0] == 0
    assert "marlbench evaluate RUN --env-opt max_cycles=11" in missing.excluded_text()


@pytest.mark.parametrize("algo", ["ppo", "maddpg"])
def test_evaluate_refuses_options_that_change_the_spaces(algo: str, ledger_dir: Path) -> None:
    book = api.open_ledger(ledger_dir, create=True)
    run_id = _train(book, algo)
    before = len(book.evals([run_id]))
    result = runner.invoke(app, ["evaluate", run_id, "--env-opt", "n_agents=4"], env=ENV)
    assert result.exit_code == 2, result.output
    assert "error:" in result.output and "Traceback" not in result.output
    assert "changes the agents" in result.output and "3 agents" in result.output
    assert len(book.evals([run_id])) == before  # nothing written


PRESET = """
description = "two tiny PPO runs"

[defaults]
env = "mpe-spread"
steps = 200
seeds = 2
eval_episodes = 1
hyperparams = {{ {ppo} }}

[[variants]]
name = "ppo"
algo = "ppo"
"""


def test_evaluate_preset_evaluates_every_finished_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ledger_dir: Path
) -> None:
    ppo = ", ".join(f"{k} = {v}" for k, v in TINY_PPO.items())
    (tmp_path / "tinyeval.toml").write_text(textwrap.dedent(PRESET.format(ppo=ppo)))
    monkeypatch.setenv("MARLBENCH_PRESETS", str(tmp_path))
    ran = runner.invoke(app, ["preset", "run", "tinyeval"], env=ENV)
    assert ran.exit_code == 0, ran.output
    book = api.open_ledger(ledger_dir)
    own = book.runs()
    own = list(own[own["preset"] == "tinyeval"]["run_id"])
    assert len(own) == 2
    result = runner.invoke(
        app, ["evaluate", "--preset", "tinyeval", "--env-opt", "max_cycles=10", "--episodes", "2"], env=ENV
    )
    assert result.exit_code == 0, result.output
    assert all(f"{r}: mean return" in result.output for r in own)
    assert "2 of 2 runs evaluated" in result.output
    assert "--eval-options max_cycles=10" in result.output
    evals = book.evals(own)
    assert set(evals[evals["env_options"] != ""]["run_id"]) == set(own)
    bad = runner.invoke(app, ["evaluate", "--preset", "tinyeval", "--env-opt", "n_agents=4"], env=ENV)
    assert bad.exit_code == 2 and "changes the agents" in bad.output
    assert len(book.evals(own)) == len(evals)  # checked before any run was evaluated
    both = runner.invoke(app, ["evaluate", own[0], "--preset", "tinyeval"], env=ENV)
    assert both.exit_code == 2
    unknown = runner.invoke(app, ["evaluate", "--preset", "nothing-here"], env=ENV)
    assert unknown.exit_code == 2 and "preset run nothing-here" in unknown.output
