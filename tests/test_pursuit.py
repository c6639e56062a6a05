"""The ``pursuit`` environment: Table 1 options reach PettingZoo, and the ``captures`` metric is right."""

from __future__ import annotations

import numpy as np
import pytest

from marlbench.envs.array import make_array_env
from marlbench.envs.registry import get_spec
from marlbench.envs.sisl import PURSUIT_TABLE1, make_pursuit
from marlbench.errors import ConfigError

STAY, UP_Y, DOWN_Y = 4, 2, 3  # pursuit's motion table: 2 -> (0, +1), 3 -> (0, -1), 4 -> (0, 0)


def core(env):
    return env.unwrapped.env


def test_registered_with_table1_defaults() -> None:
    spec = get_spec("pursuit")
    options = spec.resolve_options()
    assert options == {
        "n_pursuers": 8,
        "n_evaders": 30,
        "x_size": 16,
        "y_size": 16,
        "obs_range": 7,
        "n_catch": 2,
        "surround": True,
        "shared_reward": False,
        "tag_reward": 0.01,
        "urgency_reward": -0.1,
        "catch_reward": 5.0,
        "max_cycles": 500,
        "constraint_window": 1.0,
        "freeze_evaders": False,
    }
    assert spec.agents_for(options) == 8
    assert spec.length_for(options) == 500
    assert spec.obs_kind == "image" and spec.action_kind_for(options) == "discrete"
    assert spec.metrics == ("captures",)


def test_table1_values_reach_the_simulator() -> None:
    spec = get_spec("pursuit")
    env = spec.make(seed=0, **spec.resolve_options())
    sim = core(env)
    assert len(env.possible_agents) == 8 and sim.n_pursuers == 8
    assert sim.n_evaders == 30 and sim.evader_layer.n_agents() == 30
    assert (sim.x_size, sim.y_size, sim.obs_range, sim.n_catch) == (16, 16, 7, 2)
    assert sim.surround is True and sim.local_ratio == 1.0  # shared_reward=False: purely local rewards
    assert (sim.tag_reward, sim.urgency_reward, sim.catch_reward) == (0.01, -0.1, 5.0)
    assert sim.max_cycles == 500 and sim.constraint_window == 1.0
    assert env.observation_space("pursuer_0").shape == (7, 7, 3)
    assert env.action_space("pursuer_0").n == 5
    env.close()


def test_env_opt_strings_are_parsed_and_passed() -> None:
    spec = get_spec("pursuit")
    options = spec.resolve_options(
        {"n_evaders": "10", "catch_reward": "2.5", "surround": "false", "obs_range": "5"}
    )
    env = spec.make(seed=0, **options)
    sim = core(env)
    assert sim.n_evaders == 10 and sim.catch_reward == 2.5 and sim.surround is False
    assert env.observation_space("pursuer_3").shape == (5, 5, 3)
    env.close()
    with pytest.raises(ConfigError):
        spec.resolve_options({"n_evader": "3"})
    with pytest.raises(ConfigError, match="odd"):
        make_pursuit(obs_range=6)


def test_surrounding_an_evader_captures_it_and_pays_the_catch_reward() -> None:
    # Table 1 rules (surround=True) on a hand-built board: evader 0 at (2, 2) has 4 open neighbours;
    # three pursuers already hold (1, 2), (3, 2), (2, 1), the fourth steps from (2, 4) to (2, 3).
    env = make_pursuit(seed=0, n_evaders=2, freeze_evaders=True)
    env.reset(seed=0)
    sim = core(env)
    for i, (x, y) in enumerate([(1, 2), (3, 2), (2, 1), (2, 4), (0, 15), (15, 0), (15, 15), (0, 9)]):
        sim.pursuer_layer.set_position(i, x, y)
    sim.evader_layer.set_position(0, 2, 2)
    sim.evader_layer.set_position(1, 14, 13)
    actions = {a: STAY for a in env.agents}
    _, rewards, terminations, _, infos = env.step(actions)
    assert all(info["episode_metrics"]["captures"] == 0.0 for info in infos.values())
    actions["pursuer_3"] = DOWN_Y
    _, rewards, terminations, _, infos = env.step(actions)
    assert sim.evader_layer.n_agents() == 1
    assert {info["episode_metrics"]["captures"] for info in infos.values()} == {1.0}
    for i in range(4):
        assert rewards[f"pursuer_{i}"] >= 5.0 - 0.1  # catch reward + urgency (+ tag rewards)
    assert rewards["pursuer_4"] == pytest.approx(-0.1)  # urgency only: nothing near it
    assert not any(terminations.values())
    env.close()


def test_captures_equal_evaders_removed_along_a_random_episode() -> None:
    env = make_pursuit(
        seed=3, x_size=8, y_size=8, n_pursuers=4, n_evaders=6, max_cycles=60, surround=False, n_catch=1
    )
    env.reset(seed=3)
    rng = np.random.default_rng(0)
    seen = []
    while env.agents:
        _, _, _, _, infos = env.step({a: int(rng.integers(5)) for a in env.agents})
        removed = 6 - core(env).evader_layer.n_agents()  # independent of the evaders_gone flags
        assert {info["episode_metrics"]["captures"] for info in infos.values()} == {float(removed)}
        seen.append(removed)
    assert seen[-1] > 0, "the constructed episode should capture at least one evader"
    assert seen == sorted(seen)


def test_captures_reach_the_array_env_episode_records() -> None:
    options = {**PURSUIT_TABLE1, "x_size": 8, "y_size": 8, "n_pursuers": 4, "n_evaders": 6}
    options |= {"max_cycles": 30, "surround": False, "n_catch": 1}
    spec = get_spec("pursuit")
    array = make_array_env(spec, options, num_envs=2, seed=11)
    array.reset(seed=11)
    rng = np.random.default_rng(1)
    actions = rng.integers(0, 5, size=(30, 2, 4))
    records = []
    for t in range(30):
        records += array.step(actions[t]).episodes
    assert len(records) == 2
    for record in records:
        # Replay the copy's episode (same seed, same actions) in a plain env and count removals.
        seed = 11 + record.env_index
        env = make_pursuit(seed=seed, **options)
        env.reset(seed=seed)
        for t in range(30):
            env.step({f"pursuer_{j}": int(actions[t, record.env_index, j]) for j in range(4)})
        expected = 6 - core(env).evader_layer.n_agents()
        assert {m["captures"] for m in record.metrics.values()} == {float(expected)}
        assert set(record.metrics) == {f"pursuer_{j}" for j in range(4)}


def test_same_seed_same_episode() -> None:
    def run(seed: int) -> list[float]:
        env = make_pursuit(seed=seed, n_evaders=10, max_cycles=20)
        env.reset(seed=seed)
        rng = np.random.default_rng(5)
        out = []
        while env.agents:
            obs, rewards, *_ = env.step({a: int(rng.integers(5)) for a in env.agents})
            out += [float(obs["pursuer_0"].sum()), sum(rewards.values())]
        return out

    assert run(4) == run(4)
    assert run(4) != run(5)
