"""Evaluation: which steps evaluate (``--eval-every``), one deterministic episode, its ledger rows."""

from __future__ import annotations

import pytest
from user_env import CountingEnv

from marlbench import api
from marlbench.envs import get_spec
from marlbench.envs.array import EpisodeRecord
from marlbench.training.evaluation import (
    episode_rows,
    evaluate,
    evaluation_env,
    max_episode_steps,
    run_episode,
)

pytestmark = pytest.mark.usefixtures("fake_algo")


def eval_steps(ledger, **kwargs) -> list[int]:
    row = api.train("fake", env="user_env:make", seed=0, ledger=ledger, **kwargs)
    assert row["status"] == "finished"
    evals = ledger.evals([row["run_id"]])
    return evals.groupby("eval_id")["step"].first().tolist() if len(evals) else []


@pytest.mark.parametrize(
    ("steps", "eval_every", "stride", "expected"),
    [
        (100, 30, 1, [30, 60, 90, 100]),  # the final evaluation at the end of the budget
        (90, 30, 1, [30, 60, 90]),  # ... made once when the budget is a multiple of eval_every
        # default: as many rounds as fit in a tenth of the budget (one round = 1 episode x 4 steps)
        (100, None, 1, [50, 100]),  # 10 / 4: two rounds
        (1000, None, 1, list(range(100, 1001, 100))),  # 100 / 4 = 25 affordable, at most ten
        (50, 10, 7, [14, 21, 35, 42, 56]),  # strides of 7: the first tick at or past each multiple
    ],
)
def test_which_steps_evaluate(
    ledger, steps: int, eval_every: int | None, stride: int, expected: list[int]
) -> None:
    kwargs = {"eval_every": eval_every, "hyperparams": {"steps_per_tick": stride}, "eval_episodes": 1}
    assert eval_steps(ledger, steps=steps, **kwargs) == expected


def test_eval_episodes_zero_never_evaluates(ledger, fake_algo) -> None:
    assert eval_steps(ledger, steps=60, eval_every=10, eval_episodes=0) == []
    assert fake_algo.instances[0].deterministic_acts == 0


def test_every_round_plays_the_same_seeded_episodes(ledger, fake_algo) -> None:
    row = api.train("fake", env="cn-v1", steps=60, seed=2, ledger=ledger, eval_every=20, eval_episodes=3)
    evals = ledger.evals([row["run_id"]])
    rounds = [
        group.sort_values(["episode", "agent"])["reward"].tolist() for _, group in evals.groupby("eval_id")
    ]
    assert len(rounds) == 3 and rounds[0] == rounds[1] == rounds[2]  # a fixed policy, fixed seeds
    assert len(set(rounds[0])) > 1  # ... and the episodes differ from one another
    algo = fake_algo.instances[0]
    assert algo.episode_resets == 3 * 3 and algo.deterministic_acts == 3 * 3 * 25


class Scripted:
    """Deterministic action 0 everywhere; counts the ``reset_episode`` hook."""

    def __init__(self) -> None:
        self.resets = 0

    def reset_episode(self) -> None:
        self.resets += 1

    def act(self, observations, deterministic: bool = True):
        assert deterministic
        return dict.fromkeys(observations, 0)


def test_run_episode_returns_per_agent_and_respects_the_cap() -> None:
    algo = Scripted()
    record = run_episode(algo, CountingEnv(length=5), seed=0, max_steps=100)
    assert record.rewards == {"a": 2.0, "b": 10.0} and record.lengths == {"a": 2, "b": 5}
    assert record.metrics == {"a": {"steps": 2.0}, "b": {"steps": 5.0}}
    capped = run_episode(algo, CountingEnv(length=50), seed=0, max_steps=3)
    assert capped.rewards == {"a": 2.0, "b": 6.0} and capped.lengths == {"a": 2, "b": 3}
    assert len(evaluate(algo, CountingEnv(), episodes=4, seed=0, max_steps=10)) == 4
    assert algo.resets == 2 + 4


def test_episode_rows_one_per_agent_with_metrics() -> None:
    record = EpisodeRecord(0, {"a": 1.5, "b": -2.0}, {"a": 3, "b": 4}, {"b": {"collision": 1.0}})
    rows = episode_rows(record, run_id="r", eval_id=2, step=9)
    assert rows == [
        {"run_id": "r", "eval_id": 2, "step": 9, "agent": "a", "reward": 1.5, "length": 3},
        {
            "run_id": "r",
            "eval_id": 2,
            "step": 9,
            "agent": "b",
            "reward": -2.0,
            "length": 4,
            "metric_collision": 1.0,
        },
    ]


def test_evaluation_env_prefers_the_algorithms_hook() -> None:
    from marlbench.algos.base import EnvContext

    spec = get_spec("user_env:make")
    ctx = EnvContext(spec, spec.resolve_options({"length": 7}), 0)
    assert evaluation_env(Scripted(), ctx, 1).length == 7

    class Wrapping(Scripted):
        def eval_env(self, seed: int):
            return CountingEnv(length=seed)

    assert evaluation_env(Wrapping(), ctx, 3).length == 3


def test_episode_cap_is_ten_lengths_at_least_ten_thousand() -> None:
    spec = get_spec("predator-prey")
    assert max_episode_steps(spec, spec.resolve_options({})) == 10_000
    assert max_episode_steps(spec, spec.resolve_options({"max_cycles": 2_000})) == 20_000
