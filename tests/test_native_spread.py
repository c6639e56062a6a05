"""The native batched mpe-spread against mpe2's simple_spread_v3: every array, every path that uses it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from conftest import TINY
from fakes import FakeRecorder

from marlbench import api
from marlbench.algos.base import EnvContext
from marlbench.algos.maddpg import MADDPG, MADDPGConfig
from marlbench.envs.array import ParallelArrayEnv, make_array_env
from marlbench.envs.mpe import make_spread, make_spread_array
from marlbench.envs.particles.spread import SpreadArrayEnv, SpreadParallelEnv
from marlbench.envs.registry import get_spec
from marlbench.envs.wrap import concat_vec_env
from marlbench.errors import ConfigError
from marlbench.training.evaluation import run_episode

OBS_ATOL = 1e-6
"""float32 observations; the native env in fact matches mpe2 bit for bit on one numpy build."""
REWARD_ATOL = 1e-9


def _pair(n: int, continuous: bool, ratio: float, seed: int) -> tuple[Any, SpreadParallelEnv]:
    options = {"n_agents": n, "continuous": continuous, "local_ratio": ratio}
    return make_spread(seed, backend="mpe2", **options), make_spread(seed, **options)


def _crowd(reference: Any, native: SpreadParallelEnv, rng: np.random.Generator) -> None:
    """Put the agents in contact (so contact forces and collision penalties act) in both envs."""
    world = reference.unwrapped.world
    n = len(world.agents)
    pos = rng.uniform(-0.2, 0.2, (n, 2))
    vel = rng.normal(0.0, 0.5, (n, 2))
    landmarks = rng.uniform(-1, 1, (n, 2))
    for i, agent in enumerate(world.agents):
        agent.state.p_pos, agent.state.p_vel = pos[i].copy(), vel[i].copy()
    for k, landmark in enumerate(world.landmarks):
        landmark.state.p_pos = landmarks[k].copy()
    native.core.place(pos=pos, vel=vel, landmarks=landmarks, env_index=0)


def _actions(agents: list[str], continuous: bool, rng: np.random.Generator) -> dict[str, Any]:
    if continuous:  # partly outside [0, 1]: both clip
        return {a: rng.uniform(-0.2, 1.2, 5).astype(np.float32) for a in agents}
    return {a: int(rng.integers(5)) for a in agents}


def _same(reference: tuple, native: tuple) -> None:
    for ref, nat, atol in zip(reference, native, (OBS_ATOL, REWARD_ATOL, 0, 0), strict=False):
        assert list(ref) == list(nat)
        for agent in ref:
            np.testing.assert_allclose(
                np.asarray(nat[agent], float), np.asarray(ref[agent], float), atol=atol
            )


@pytest.mark.parametrize("continuous", [False, True], ids=["discrete", "continuous"])
@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("ratio", [0.0, 0.3, 1.0])
def test_parallel_env_matches_mpe2_from_the_same_state(continuous: bool, n: int, ratio: float) -> None:
    collided = 0
    for seed in (0, 1, 2):
        reference, native = _pair(n, continuous, ratio, seed)
        rng = np.random.default_rng(100 + seed)
        first = reference.reset(seed=seed)[0], native.reset(seed=seed)[0]
        for agent in first[0]:  # the same generator stream: the same start
            np.testing.assert_array_equal(first[1][agent], first[0][agent])
        _crowd(reference, native, rng)
        steps = 0
        while reference.agents:
            actions = _actions(reference.agents, continuous, rng)
            ref, nat = reference.step(actions), native.step(actions)
            _same(ref[:4], nat[:4])
            assert nat[4] == ref[4]
            np.testing.assert_allclose(native.state(), reference.state(), atol=OBS_ATOL)
            world, scenario = reference.unwrapped.world, reference.unwrapped.scenario
            collided += sum(
                scenario.is_collision(a, b) for a in world.agents for b in world.agents if a is not b
            )
            steps += 1
        assert steps == 25 and native.agents == [] and ref[3] == dict.fromkeys(ref[3], True)
        # a second, unseeded episode continues both generators alike
        _same(reference.reset()[:1], native.reset()[:1])
    assert collided > 0  # the crowded start made the contact forces and collision penalties act


@pytest.mark.parametrize("continuous", [False, True], ids=["discrete", "continuous"])
def test_array_env_matches_the_loop_adapter_over_mpe2(continuous: bool) -> None:
    options = {"n_agents": 3, "continuous": continuous, "local_ratio": 0.5, "max_cycles": 10}
    reference = make_spread_array(3, seed=7, backend="mpe2", **options)
    native = make_spread_array(3, seed=7, **options)
    assert isinstance(reference, ParallelArrayEnv) and isinstance(native, SpreadArrayEnv)
    np.testing.assert_array_equal(native.reset(), reference.reset())
    rng = np.random.default_rng(3)
    records = 0
    for _ in range(25):  # two and a half episodes, across the automatic resets
        shape = (3, 3, 5) if continuous else (3, 3)
        actions = rng.random(shape).astype(np.float32) if continuous else rng.integers(0, 5, shape)
        ref, nat = reference.step(actions), native.step(actions)
        for name in ("obs", "final_obs", "state", "final_state"):
            np.testing.assert_allclose(getattr(nat, name), getattr(ref, name), atol=OBS_ATOL, err_msg=name)
        np.testing.assert_allclose(nat.rewards, ref.rewards, atol=REWARD_ATOL)
        for name in ("terminated", "truncated", "alive", "done"):
            np.testing.assert_array_equal(getattr(nat, name), getattr(ref, name), err_msg=name)
        assert [(e.env_index, e.lengths, e.metrics) for e in nat.episodes] == [
            (e.env_index, e.lengths, e.metrics) for e in ref.episodes
        ]
        for a, b in zip(nat.episodes, ref.episodes, strict=True):
            assert a.rewards == pytest.approx(b.rewards, abs=REWARD_ATOL)
        records += len(nat.episodes)
    assert records == 6


def test_registry_defaults_to_native_and_keeps_mpe2_as_reference() -> None:
    spec = get_spec("mpe-spread")
    assert spec.resolve_options()["backend"] == "native"
    assert isinstance(spec.make(seed=0, **spec.resolve_options()), SpreadParallelEnv)
    reference = spec.make(seed=0, **spec.resolve_options({"backend": "mpe2"}))
    assert (
        type(reference).__module__.startswith("pettingzoo")
        and reference.metadata["name"] == "simple_spread_v3"
    )
    native = spec.make(seed=0, **spec.resolve_options())
    for agent in native.possible_agents:
        assert native.observation_space(agent) == reference.observation_space(agent)
        assert native.action_space(agent) == reference.action_space(agent)
    assert native.state().shape == reference.state().shape == (54,)
    loop = make_array_env(spec, spec.resolve_options({"backend": "mpe2"}), 2, seed=0, with_state=False)
    assert isinstance(loop, ParallelArrayEnv) and loop.with_state is False
    with pytest.raises(ConfigError, match="backend"):
        spec.resolve_options({"backend": "pettingzoo"})
    with pytest.raises(ConfigError, match="local_ratio"):
        spec.make(seed=0, **spec.resolve_options({"local_ratio": "1.5"}))
    with pytest.raises(ConfigError, match="n_agents"):
        spec.make_array(num_envs=1, seed=0, **spec.resolve_options({"n_agents": "0"}))
    with pytest.raises(ValueError, match="0..4"):
        native.reset(seed=0)
        native.step(dict.fromkeys(native.agents, 5))


def _maddpg(backend: str, continuous: bool) -> tuple[list[dict[str, float]], list[float]]:
    spec = get_spec("mpe-spread")
    ctx = EnvContext(spec, spec.resolve_options({"backend": backend, "continuous": continuous}), seed=0)
    recorder = FakeRecorder()
    MADDPG(ctx, MADDPGConfig(**(TINY["maddpg"] | {"num_envs": 2})), seed=5).learn(150, recorder)
    return [e.rewards for e in recorder.episodes], [s["critic_loss"] for s in recorder.stats]


@pytest.mark.parametrize("continuous", [False, True], ids=["discrete", "continuous"])
def test_maddpg_trains_alike_on_both_backends(continuous: bool) -> None:
    episodes, losses = _maddpg("native", continuous)
    reference_episodes, reference_losses = _maddpg("mpe2", continuous)
    assert len(episodes) == 6 and len(losses) > 0
    for ours, theirs in zip(episodes, reference_episodes, strict=True):
        assert ours == pytest.approx(theirs, abs=1e-6)
    assert losses == pytest.approx(reference_losses, rel=1e-5)


def test_evaluation_episode_is_the_same_on_both_backends() -> None:
    class Policy:
        """Deterministic, observation-dependent actions (move towards the first landmark)."""

        def act(self, obs: dict[str, np.ndarray], deterministic: bool = True) -> dict[str, int]:
            out = {}
            for agent, o in obs.items():
                dx, dy = o[4], o[5]
                out[agent] = (2 if dx > 0 else 1) if abs(dx) > abs(dy) else (4 if dy > 0 else 3)
            return out

    records = [
        run_episode(Policy(), make_spread(seed=0, backend=backend), seed=11, max_steps=100)
        for backend in ("native", "mpe2")
    ]
    assert records[0].lengths == records[1].lengths == dict.fromkeys(records[0].rewards, 25)
    assert records[0].rewards == pytest.approx(records[1].rewards, abs=1e-9)


def test_supersuit_vector_env_is_the_same_on_both_backends() -> None:
    """The SB3 chain (shared weights: one slot per agent per copy) over 3 copies, across resets."""
    runs = []
    for backend in ("native", "mpe2"):
        vec, _ = concat_vec_env(lambda s, b=backend: make_spread(seed=s, backend=b), 3, seed=5)
        rng = np.random.default_rng(0)
        seen = [vec.reset(seed=5)[0]]
        for _ in range(60):
            seen += list(vec.step(rng.integers(0, 5, vec.num_envs))[:4])
        runs.append(seen)
    assert sum(np.asarray(x).all() for x in runs[1][4::4]) == 2  # two resets: every slot truncated
    for ours, theirs in zip(*runs, strict=True):
        np.testing.assert_allclose(np.asarray(ours, float), np.asarray(theirs, float), atol=OBS_ATOL)


def test_ppo_gives_the_same_episodes_on_both_backends(ledger) -> None:
    rows = [
        api.train(
            "ppo",
            env="mpe-spread",
            steps=200,
            seed=3,
            ledger=ledger,
            env_options={"backend": backend},
            hyperparams=TINY["ppo"],
            eval_episodes=1,
        )
        for backend in ("native", "mpe2")
    ]
    a, b = (ledger.episodes([r["run_id"]]).sort_values(["episode", "agent"]) for r in rows)
    assert len(a) > 0
    np.testing.assert_allclose(a["reward"].to_numpy(), b["reward"].to_numpy(), atol=1e-5)
