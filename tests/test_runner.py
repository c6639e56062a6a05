"""The runner: Ctrl-C leaves a checkpoint and an 'interrupted' run that --resume finishes."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner
from user_env import Interrupt

from marlbench import api
from marlbench.cli import app

TINY_PPO = {"n_envs": 1, "n_steps": 32, "batch_size": 32, "n_epochs": 1}


def test_interrupt_then_resume(ledger) -> None:
    Interrupt.remaining = 700  # Ctrl-C after 700 env steps (of a 1,500-step budget)
    with pytest.raises(KeyboardInterrupt):
        api.train(
            "ppo",
            env="user_env:make_interrupting",
            steps=1500,
            seed=0,
            ledger=ledger,
            hyperparams=TINY_PPO,
            eval_episodes=1,
        )
    (row,) = ledger.runs().to_dict("records")
    assert row["status"] == "interrupted"
    assert 600 <= row["steps"] < 1500
    assert row["checkpoint"] and (ledger.root / row["checkpoint"] / "model.zip").exists()
    episodes_before = ledger.episodes([row["run_id"]])
    wall_before = row["wall_time_s"]

    result = CliRunner().invoke(app, ["train", "--resume", row["run_id"][:12], "--ledger", str(ledger.root)])
    assert result.exit_code == 0, result.output
    after = ledger.get_run(row["run_id"])
    assert after["status"] == "finished" and after["resumed_from"] == "interrupted"
    assert after["steps"] >= 1500
    assert after["wall_time_s"] > wall_before  # wall time continues, it does not restart at zero
    assert len(ledger.runs()) == 1  # same run, not a new one
    episodes = ledger.episodes([row["run_id"]])
    # episode numbering continues after the checkpoint: no duplicates, nothing lost before it
    assert episodes.groupby(["episode", "agent"]).size().max() == 1
    assert len(episodes) > len(episodes_before)
    assert episodes["step"].max() >= 1400


def test_resume_refuses_other_algorithm(ledger) -> None:
    Interrupt.remaining = 300
    with pytest.raises(KeyboardInterrupt):
        api.train(
            "ppo",
            env="user_env:make_interrupting",
            steps=1000,
            seed=0,
            ledger=ledger,
            hyperparams=TINY_PPO,
            eval_episodes=0,
        )
    run_id = ledger.runs()["run_id"].iloc[0]
    result = CliRunner().invoke(app, ["train", "a2c", "--resume", run_id, "--ledger", str(ledger.root)])
    assert result.exit_code == 2 and "is a 'ppo' run" in result.output


def test_final_evaluation_is_not_repeated(ledger) -> None:
    """A budget that is a multiple of eval_every evaluates once at the last step, not twice."""
    row = api.train(
        "ppo",
        env="user_env:make",
        steps=256,
        seed=0,
        ledger=ledger,
        hyperparams=TINY_PPO,
        eval_every=128,
        eval_episodes=1,
    )
    evals = ledger.evals([row["run_id"]])
    steps = evals.groupby("eval_id")["step"].first()
    assert list(steps) == [128, 256]
