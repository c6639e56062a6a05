"""The catalogue (paper 003) agrees with the paper and the registry: every method listed, nothing
runnable hidden, nothing listed as available that does not run."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import TINY

from marlbench import api
from marlbench.algos import all_algos
from marlbench.algos.catalogue import CATALOGUE, catalogue_rows

PAPER_003 = (
    "Q-Learning", "PPO", "Experience Replay", "DQN", "HOC", "CARLA", "DPO", "Counterfactuals", "AM", "GA",
    "DDPG", "REINFORCE", "Monte-Carlo Tree Search", "Prioritized Experience Replay", "TD3", "AlphaZero",
    "Double Q-learning", "A2C", "TRPO", "Soft Actor Critic", "A3C", "Sarsa", "REM", "MuZero", "MADDPG", "URL",
    "V-trace", "Retrace", "N-step Returns", "R2D2", "Firefly algorithm", "Dueling Network", "DPG", "RLAIF",
    "Go-Explore", "IQL", "Accumulating Eligibility Trace", "TD Lambda", "Stochastic Dueling Network", "ACER",
    "SCST", "Eligibility Trace", "Noisy Linear Layer", "D4PG", "Ape-X", "AlphaStar", "Expected Sarsa",
    "Rainbow DQN", "DD-PPO", "TLA",
)  # fmt: skip
"""Paper 003's 50 methods (the stored page 1 of 2 of Papers with Code's RL methods), in its order."""


def test_every_method_of_paper_003_is_listed_in_its_order() -> None:
    names = [row.name for row in CATALOGUE]
    assert len(set(names)) == len(names)
    assert names[: len(PAPER_003)] == list(PAPER_003)


def test_every_registered_algorithm_is_in_the_catalogue() -> None:
    listed = {row.command for row in CATALOGUE if row.command}
    assert set(all_algos()) <= listed


def test_availability_matches_the_registry() -> None:
    registered = set(all_algos())
    for row, shown in zip(CATALOGUE, catalogue_rows(all_algos()), strict=True):
        if row.command is None:
            assert shown["available"] == "no" and row.offered.startswith("not offered"), row
        elif row.command in registered:
            assert shown["available"] == "yes", row
        else:  # only in-repo algorithms may be listed before they exist
            assert row.offered == "in-repo" and shown["available"] == "planned", row


def test_the_rows_the_audit_found_wrong_say_what_is_true() -> None:
    rows = {row.name: row for row in CATALOGUE}
    assert rows["A3C"].command == "a2c" and rows["A3C"].offered.startswith("as a2c, synchronous")
    assert rows["N-step Returns"].command == "dqn" and "n_steps" in rows["N-step Returns"].offered
    per = rows["Prioritized Experience Replay"]
    assert per.command == "maddpg" and "maddpg only" in per.offered and per.actions != "any off-policy"


# --- every available row runs: a few env steps through the API ---------------------------------

_SB3_CONTINUOUS = {"sac", "td3", "ddpg"}
_IMAGE = {"lbs", "idqn", "idqn-shared-buffer", "ps-dqn"}
_PURSUIT = {"max_cycles": 50, "n_pursuers": 3, "n_evaders": 5, "x_size": 8, "y_size": 8}

ROW_OPTIONS: dict[str, dict[str, Any]] = {
    "N-step Returns": {"n_steps": 3},
    "Prioritized Experience Replay": {"per": True, "per_mode": "rank"},
}
"""Rows offered through an option: the run sets it (and the test checks it was recorded)."""

SLOW_ROWS = {"Distributed MADDPG": "starts Ray"}


def _available_rows() -> list:
    registered = set(all_algos())
    out = []
    for row in CATALOGUE:
        if row.command is None or row.command not in registered or row.name in SLOW_ROWS:
            continue  # SLOW_ROWS are trained by their own tests (Distributed MADDPG: test_distributed)
        # a plain algorithm's command is trained on every env by test_smoke; the options are not
        if row.name in ROW_OPTIONS:
            out.append(pytest.param(row, id=row.name))
    return out


@pytest.mark.parametrize("row", _available_rows())
def test_each_available_row_trains_a_few_steps(row: Any, ledger: Any) -> None:
    algo = row.command
    env, env_options = "mpe-spread", {"n_agents": 2}
    if algo in _IMAGE:
        env, env_options = "pursuit", dict(_PURSUIT)
    elif algo in _SB3_CONTINUOUS or algo == "ctedd":
        env_options["continuous"] = True
    if algo == "ctedd":
        env, env_options = "cn-v1", {}
    options = ROW_OPTIONS.get(row.name, {})
    hyper = {**TINY[algo], **options}
    result = api.train(
        algo,
        env,
        steps=120,
        seed=0,
        ledger=ledger,
        env_options=env_options,
        hyperparams=hyper,
        eval_episodes=1,
    )
    assert result["status"] == "finished" and result["steps"] >= 120, result
    stored = json.loads(result["config"])["resolved"]["hyperparams"]
    for key, value in options.items():  # the option reached the learner's resolved configuration
        assert stored[key] == value, (key, stored)
