"""Exact resumes of the native envs (marlbench.envs.snapshot): a copy given another's state continues
it step for step, and a MADDPG or CTEDD run interrupted mid-episode and resumed (with its replay
saved) records exactly the rows of an uninterrupted run."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conftest import TINY

from marlbench import api
from marlbench.algos.base import EnvContext
from marlbench.envs.registry import get_spec


def array_env(name: str, seed: int):
    spec = get_spec(name)
    return EnvContext(spec, spec.resolve_options({}), seed=seed).make_array(2, seed=seed)


def random_actions(env, rng: np.random.Generator) -> np.ndarray:
    space = env.action_space
    n = len(env.agents)
    if hasattr(space, "n"):
        return rng.integers(0, space.n, (env.num_envs, n))
    return rng.uniform(-1, 1, (env.num_envs, n, *space.shape)).astype(np.float32)


@pytest.mark.parametrize("name", ["mpe-spread", "cn-v1", "push-forward", "predator-prey"])
def test_a_copy_given_the_state_continues_step_for_step(name: str) -> None:
    rng = np.random.default_rng(0)
    first = array_env(name, seed=3)
    first.reset()
    for _ in range(37):  # past the end of the first 25-step episode, into the second
        first.step(random_actions(first, rng))
    second = array_env(name, seed=99)  # other seed: everything must come from the snapshot
    second.reset()
    second.set_state(first.get_state())
    for _ in range(30):  # through the next episode end and reset (the generators' turn)
        actions = random_actions(first, rng)
        a, b = first.step(actions), second.step(actions)
        for field in dataclasses.fields(a):
            x, y = getattr(a, field.name), getattr(b, field.name)
            if field.name == "episodes":
                assert [(e.env_index, e.rewards, e.lengths) for e in x] == [
                    (e.env_index, e.rewards, e.lengths) for e in y
                ]
            else:
                assert np.array_equal(x, y), field.name


def test_a_state_of_other_copies_is_refused() -> None:
    env = array_env("cn-v1", seed=0)
    env.reset()
    spec = get_spec("cn-v1")
    three = EnvContext(spec, spec.resolve_options({}), seed=0).make_array(3, seed=0)
    three.reset()
    with pytest.raises(ValueError, match="does not fit"):
        three.set_state(env.get_state())


@pytest.mark.parametrize(
    ("algo", "env", "extra"),
    [("maddpg", "mpe-spread", {}), ("ctedd", "cn-v1", {"test_every": 0})],
)
def test_ctrl_c_mid_episode_then_resume_gives_the_uninterrupted_rows(
    ledger, algo, env, extra, monkeypatch
) -> None:
    from marlbench.training.recorder import RunRecorder

    hyper = TINY[algo] | extra | {"save_replay": True}
    common = {"steps": 400, "seed": 0, "ledger": ledger, "hyperparams": hyper, "eval_every": 100}
    common["eval_episodes"] = 1
    straight = api.train(algo, env, **common)
    tick, fired = RunRecorder.tick, []

    def ctrl_c_after(self, env_steps: int) -> None:  # Ctrl-C once the run passed step 212
        tick(self, env_steps)
        if env_steps >= 212 and not fired:
            fired.append(env_steps)
            raise KeyboardInterrupt

    monkeypatch.setattr(RunRecorder, "tick", ctrl_c_after)
    with pytest.raises(KeyboardInterrupt):
        api.train(algo, env, **common)
    monkeypatch.setattr(RunRecorder, "tick", tick)
    (stopped,) = [r for r in ledger.runs().to_dict("records") if r["run_id"] != straight["run_id"]]
    assert stopped["status"] == "interrupted" and stopped["steps"] % 25 != 0
    resumed = api.resume(stopped["run_id"], ledger=ledger)
    assert resumed["status"] == "finished" and resumed["steps"] == straight["steps"]
    for table in (ledger.episodes, ledger.evals):
        a = table([straight["run_id"]]).drop(columns=["run_id", "wall_time"], errors="ignore")
        b = table([resumed["run_id"]]).drop(columns=["run_id", "wall_time"], errors="ignore")
        assert a.reset_index(drop=True).equals(b.reset_index(drop=True))
