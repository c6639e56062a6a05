"""Budgets honored: the unit each learner trains in, SB3 rollouts fitted to small budgets, and a
default evaluation schedule that costs at most ~10% of the run (issue: `--steps N` means N)."""

from __future__ import annotations

import pytest
from conftest import TINY
from typer.testing import CliRunner

from marlbench import api
from marlbench.algos import get_algo
from marlbench.algos.base import resolve_config
from marlbench.algos.budget import default_eval_every, fit_rollout, planned_steps, steps_per_round
from marlbench.cli import app
from marlbench.config import RunSpec, resolve


def _config(algo: str, **overrides: object) -> object:
    return resolve_config(get_algo(algo).config_cls(), overrides, algo)


def test_steps_per_round_by_hand() -> None:
    assert steps_per_round("ppo", _config("ppo")) == 2048 * 4  # SB3 defaults: n_steps x n_envs
    assert steps_per_round("a2c", _config("a2c", n_envs=2)) == 5 * 2
    assert steps_per_round("dqn", _config("dqn", train_freq=4, n_envs=2)) == 8
    assert steps_per_round("maddpg", _config("maddpg", num_envs=3)) == 3
    assert steps_per_round("lbs", _config("lbs")) == 4  # DQN family: 4 copies by default


def test_planned_steps_are_whole_units_at_or_past_the_budget() -> None:
    assert planned_steps(1000, 1) == 1000
    assert planned_steps(1000, 3) == 1002
    assert planned_steps(1000, 8192) == 8192
    assert planned_steps(8192, 8192) == 8192


def test_fit_rollout_shortens_only_a_rollout_longer_than_the_budget() -> None:
    config, note = fit_rollout("ppo", _config("ppo"), 1000, given=set())
    assert config.n_steps == 250 and "n_steps=250" in note and "8,192" in note
    unchanged, none = fit_rollout("ppo", _config("ppo"), 100_000, given=set())
    assert unchanged.n_steps == 2048 and none == ""
    mine, kept = fit_rollout("ppo", _config("ppo"), 1000, given={"n_steps"})
    assert mine.n_steps == 2048 and kept == ""  # the user's n_steps is never changed
    odd, _ = fit_rollout("ppo", _config("ppo"), 1001, given=set())
    assert odd.n_steps == 251  # ceil(1001 / 4): the rollout covers the budget
    off_policy, nothing = fit_rollout("sac", _config("sac"), 10, given=set())
    assert nothing == "" and off_policy == _config("sac")


def test_default_eval_every_spends_at_most_a_tenth_of_the_budget() -> None:
    # 10 episodes of 25 steps = 250 per evaluation; a tenth of 200k affords 80, capped at 10
    assert default_eval_every(200_000, 10, 25) == 20_000
    # a tenth of 5,000 LBS steps is 500: not one 10 x 500-step evaluation, so only the final one
    assert default_eval_every(5_000, 10, 500) == 5_000
    # 4 affordable: 0.1 * 10,000 / 250
    assert default_eval_every(10_000, 10, 25) == 2_500
    assert default_eval_every(7, 10, 25) == 7


def test_resolve_records_the_plan_and_says_what_it_changed() -> None:
    run = resolve(RunSpec(algo="ppo", env="mpe-spread", steps=1000))
    assert run.config.n_steps == 250 and run.planned_steps == 1000
    assert run.spec.resolved["hyperparams"]["n_steps"] == 250  # part of the run's identity
    assert run.spec.eval_every_steps() == 1000 and any("n_steps=250" in n for n in run.notes)
    rounded = resolve(RunSpec(algo="maddpg", env="mpe-spread", steps=1000, hyperparams={"num_envs": 3}))
    assert rounded.planned_steps == 1002 and any("trains 1,002" in n for n in rounded.notes)
    exact = resolve(RunSpec(algo="ppo", env="mpe-spread", steps=1000, eval_every=100))
    assert exact.spec.eval_every_steps() == 100  # a given schedule is kept


@pytest.mark.parametrize("algo", ["ppo", "maddpg"])
def test_a_short_run_trains_its_budget_and_evaluates_within_it(algo: str, ledger) -> None:
    settings = {k: v for k, v in TINY[algo].items() if k != "n_steps"}
    row = api.train(algo, env="mpe-spread", steps=1000, seed=0, ledger=ledger, hyperparams=settings)
    assert row["status"] == "finished" and row["steps"] == 1000
    evals = ledger.evals([row["run_id"]])
    # the default schedule affords no evaluation before the end: one round, at the last step
    assert sorted(set(evals["eval_id"])) == [0] and set(evals["step"]) == {1000}


def test_no_evaluation_fires_past_the_budget(ledger) -> None:
    """A rollout that overshoots (n_steps set by hand) evaluates on schedule, then once at the end."""
    hyper = {**TINY["ppo"], "n_steps": 96}  # rollouts of 96 env steps: 200 -> 288
    row = api.train(
        "ppo", env="mpe-spread", steps=200, seed=0, ledger=ledger, hyperparams=hyper, eval_every=50
    )
    assert row["steps"] == 288
    steps = sorted(set(ledger.evals([row["run_id"]])["step"]))
    # due at 200 (the budget) and 250 (past it): left to the final evaluation, at the last step
    assert steps == [50, 100, 150, 288]


def test_train_says_before_starting_what_the_budget_trains(ledger_dir) -> None:
    result = CliRunner().invoke(
        app,
        [
            "train",
            "ppo",
            "--env",
            "mpe-spread",
            "--steps",
            "300",
            "--eval-episodes",
            "1",
            "--set",
            "n_envs=1",
            "--set",
            "batch_size=32",
            "--set",
            "n_epochs=1",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "note:" in result.output and "n_steps=300" in result.output
