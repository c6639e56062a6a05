"""The runner: the run row of each ending, resume continuing the same run, same seed same rows.

Most tests drive the runner with the fake algorithm (tests/fakes.py) on cheap real envs; three
keep a real PPO run end to end (the Ctrl-C test comes from the env, as a user's would).
"""

from __future__ import annotations

import json

import pytest
from conftest import TINY_PPO
from typer.testing import CliRunner
from user_env import Interrupt

from marlbench import api
from marlbench.cli import app
from marlbench.config import RunSpec, resolve
from marlbench.errors import ConfigError, Diverged

pytestmark = pytest.mark.usefixtures("fake_algo")


def train_fake(ledger, env: str = "cn-v1", steps: int = 100, seed: int = 0, **kwargs):
    return api.train("fake", env=env, steps=steps, seed=seed, ledger=ledger, **kwargs)


# ---------------------------------------------------------------------------------------------
# how a run ends: finished, failed, diverged, interrupted, refused
# ---------------------------------------------------------------------------------------------
def test_finished_run_row_checkpoint_and_rows(ledger, fake_algo) -> None:
    row = train_fake(ledger, eval_every=50, eval_episodes=2)
    assert row["status"] == "finished" and row["error"] == ""
    assert (row["steps"], row["total_steps"], row["n_agents"], row["agent_steps"]) == (100, 100, 3, 300)
    spec = RunSpec.from_json(row["config"])
    assert (
        row["config_hash"]
        == spec.config_hash()
        == resolve(RunSpec("fake", "cn-v1", steps=100, eval_every=50, eval_episodes=2)).spec.config_hash()
    )
    assert row["wall_time_s"] > 0 and row["finished_at"] >= row["created_at"]

    (algo,) = fake_algo.instances
    assert (algo.seed, algo.env.spec.name, algo.env.options["max_cycles"]) == (0, "cn-v1", 25)
    assert algo.ticks == list(range(1, 101)) and algo.closed
    checkpoint = ledger.root / row["checkpoint"]
    assert json.loads((checkpoint / "fake.json").read_text())["steps_done"] == 100
    assert json.loads((checkpoint / "marlbench.json").read_text()) == {
        "steps": 100,
        "episodes": 4,
        "evals": 2,
    }

    episodes = ledger.episodes([row["run_id"]])
    assert sorted(episodes.groupby("episode")["step"].first()) == [25, 50, 75, 100]
    assert episodes.groupby("episode").size().eq(3).all() and (episodes["length"] == 25).all()
    evals = ledger.evals([row["run_id"]])
    assert evals.groupby("eval_id")["step"].first().to_dict() == {0: 50, 1: 100}
    assert len(evals) == 2 * 2 * 3  # 2 rounds x 2 episodes x 3 agents


@pytest.mark.parametrize(
    ("stop_with", "raised", "status", "error"),
    [
        ("error", RuntimeError, "failed", "RuntimeError: fake failed at step 40"),
        ("diverge", Diverged, "diverged", "fake diverged at step 40"),
    ],
)
def test_a_run_that_raises_is_recorded_and_reraised(
    ledger, fake_algo, stop_with: str, raised: type, status: str, error: str
) -> None:
    with pytest.raises(raised):
        train_fake(ledger, hyperparams={"stop_at": 40, "stop_with": stop_with}, eval_episodes=1)
    (row,) = ledger.runs().to_dict("records")
    assert (row["status"], row["error"], row["steps"]) == (status, error, 40)
    assert row["checkpoint"] == "" and row["wall_time_s"] > 0
    assert fake_algo.instances[0].closed
    assert sorted(ledger.episodes([row["run_id"]])["step"].unique()) == [25]  # flushed on the way out


@pytest.mark.parametrize("hyperparams", [{"refuse": True}, {"stop_att": 3}])
def test_a_refused_run_writes_nothing(ledger, hyperparams: dict) -> None:
    """A constructor's refusal (or a bad key) is a ConfigError before the ledger is touched."""
    with pytest.raises(ConfigError):
        train_fake(ledger, hyperparams=hyperparams)
    assert len(ledger.runs()) == 0
    assert not any((ledger.root / "episodes").rglob("*.parquet"))


def test_interrupted_run_resumes_as_the_same_run(ledger, fake_algo) -> None:
    with pytest.raises(KeyboardInterrupt):
        train_fake(ledger, hyperparams={"stop_at": 60}, eval_every=50, eval_episodes=1)
    (before,) = ledger.runs().to_dict("records")
    assert (before["status"], before["steps"]) == ("interrupted", 60)
    assert before["error"] == "stopped by the user (Ctrl-C)"
    assert json.loads((ledger.root / before["checkpoint"] / "fake.json").read_text())["steps_done"] == 60

    after = api.resume(before["run_id"], ledger=ledger)
    assert len(ledger.runs()) == 1  # the same run, not a new one
    assert (after["run_id"], after["status"], after["resumed_from"]) == (
        before["run_id"],
        "finished",
        "interrupted",
    )
    assert after["steps"] == 100 and after["created_at"] == before["created_at"]
    assert after["wall_time_s"] > before["wall_time_s"]  # wall time continues, it does not restart
    resumed = fake_algo.instances[-1]
    assert resumed.loaded_at == 60 and resumed.ticks[0] == 61

    episodes = ledger.episodes([before["run_id"]])
    assert episodes.groupby(["episode", "agent"]).size().max() == 1  # numbering continues
    assert episodes.groupby("episode")["step"].first().tolist() == [25, 50, 85]
    assert episodes[episodes["step"] > 60]["wall_time"].min() >= before["wall_time_s"]
    evals = ledger.evals([before["run_id"]])
    assert evals.groupby("eval_id")["step"].first().to_dict() == {0: 50, 1: 100}


def test_resume_without_checkpoint_is_refused(ledger) -> None:
    with pytest.raises(RuntimeError):
        train_fake(ledger, hyperparams={"stop_at": 10, "stop_with": "error"})
    run_id = ledger.runs()["run_id"].iloc[0]
    with pytest.raises(Exception, match="no checkpoint to resume from"):
        api.resume(run_id, ledger=ledger)


# ---------------------------------------------------------------------------------------------
# same seed, same result
# ---------------------------------------------------------------------------------------------
def _rows(ledger, row) -> tuple[list[dict], list[dict]]:
    drop = ["run_id", "wall_time"]
    episodes = ledger.episodes([row["run_id"]]).drop(columns=drop).to_dict("records")
    evals = ledger.evals([row["run_id"]]).drop(columns=["run_id"]).to_dict("records")
    return episodes, evals


def test_same_seed_same_rows_other_seed_other_rows(ledger) -> None:
    first, again, other = (
        train_fake(ledger, seed=seed, steps=150, eval_every=75, eval_episodes=2) for seed in (3, 3, 4)
    )
    assert first["run_id"] != again["run_id"] and first["config_hash"] == again["config_hash"]
    assert _rows(ledger, first) == _rows(ledger, again)
    first_episodes, first_evals = _rows(ledger, first)
    other_episodes, other_evals = _rows(ledger, other)
    assert [r["reward"] for r in first_episodes] != [r["reward"] for r in other_episodes]
    assert [r["reward"] for r in first_evals] != [r["reward"] for r in other_evals]


# ---------------------------------------------------------------------------------------------
# real PPO end to end
# ---------------------------------------------------------------------------------------------
@pytest.mark.slow
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

    resume = ["train", "--resume", row["run_id"][:12], "--env", "user_env:make_interrupting"]
    result = CliRunner().invoke(app, [*resume, "--ledger", str(ledger.root)])  # --env: its import path
    assert result.exit_code == 0, result.output
    after = ledger.get_run(row["run_id"])
    assert after["status"] == "finished" and after["resumed_from"] == "interrupted"
    assert after["steps"] == 1504  # the uninterrupted run's (whole 32-step rollouts), across the resume
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
