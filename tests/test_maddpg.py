"""MADDPG: shapes, centralized critics, message channels, targets, determinism, checkpoints, learning."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
import torch
from conftest import TINY
from fakes import FakeRecorder

from marlbench.algos.base import EnvContext, resolve_config
from marlbench.algos.maddpg import MADDPG, MADDPGConfig
from marlbench.algos.maddpg.losses import critic_targets, regularised_actor_loss, weighted_critic_loss
from marlbench.envs.registry import get_spec
from marlbench.errors import ConfigError, Diverged

SMALL = TINY["maddpg"]


def _ctx(**options: Any) -> EnvContext:
    spec = get_spec("mpe-spread")
    return EnvContext(spec, spec.resolve_options(options), seed=0)


def _algo(options: dict[str, Any] | None = None, seed: int = 0, **config: Any) -> MADDPG:
    return MADDPG(_ctx(**(options or {})), MADDPGConfig(**(SMALL | config)), seed=seed)


def _obs(algo: MADDPG, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {a: rng.normal(size=algo.dims.obs_dim).astype(np.float32) for a in algo.agents}


# --- configuration -------------------------------------------------------------------------------


def test_defaults_are_the_papers() -> None:
    cfg = MADDPGConfig()
    assert (cfg.hidden_size, cfg.hidden_layers, cfg.activation) == (64, 2, "relu")
    assert (cfg.actor_lr, cfg.critic_lr, cfg.batch_size) == (1e-4, 1e-3, 1024)
    assert (cfg.gamma, cfg.tau, cfg.buffer_size, cfg.learn_every, cfg.grad_clip) == (
        0.95,
        0.01,
        10**6,
        100,
        0.5,
    )
    assert (cfg.per, cfg.per_mode, cfg.comm_dim) == (False, "rank", 0)


def test_config_is_validated() -> None:
    assert resolve_config(MADDPGConfig, {"per_mode": "proportional", "comm_dim": "3"}, "maddpg").comm_dim == 3
    with pytest.raises(ConfigError, match="per_mode"):
        resolve_config(MADDPGConfig, {"per_mode": "bogus"}, "maddpg")
    with pytest.raises(ConfigError, match="per_alpha"):
        resolve_config(MADDPGConfig, {"per_alpha": "1.5"}, "maddpg")
    with pytest.raises(ConfigError, match="batch_size"):
        resolve_config(MADDPGConfig, {"batch_size": "0"}, "maddpg")


# --- acting --------------------------------------------------------------------------------------


def test_act_discrete_returns_ints_and_is_deterministic() -> None:
    algo = _algo()
    obs = _obs(algo)
    actions = algo.act(obs)
    assert set(actions) == set(algo.agents)
    assert all(isinstance(a, int) and 0 <= a < 5 for a in actions.values())
    assert algo.act(obs) == actions
    partial = algo.act({"agent_1": obs["agent_1"]})
    assert set(partial) == {"agent_1"}
    sampled = [algo.act(obs, deterministic=False)["agent_0"] for _ in range(200)]
    assert len(set(sampled)) > 1  # exploration samples from softmax(logits)


def test_act_continuous_returns_vectors_in_the_box() -> None:
    algo = _algo({"continuous": True})
    obs = _obs(algo)
    for deterministic in (True, False):
        actions = algo.act(obs, deterministic=deterministic)
        for a in actions.values():
            assert a.dtype == np.float32 and a.shape == (5,)
            assert (a >= 0).all() and (a <= 1).all()
    a1, a2 = algo.act(obs), algo.act(obs)
    np.testing.assert_array_equal(a1["agent_2"], a2["agent_2"])


# --- centralized critics -------------------------------------------------------------------------


def _joint_batch(algo: MADDPG, batch: int = 4, seed: int = 0) -> dict[str, torch.Tensor]:
    n, d, a = algo.dims.n_agents, algo.dims.obs_dim, algo.dims.act_dim
    g = torch.Generator().manual_seed(seed)
    return {
        "obs": torch.randn(1, batch, n, d, generator=g),
        "actions": torch.rand(1, batch, n, a, generator=g),
    }


def test_critic_sees_every_agents_observation_and_action() -> None:
    algo = _algo()
    n, d, a = algo.dims.n_agents, algo.dims.obs_dim, algo.dims.act_dim
    assert algo.critic.in_dim == n * d + n * a
    batch = _joint_batch(algo)
    q = algo.critic(algo._critic_input(batch, batch["actions"].flatten(2), nxt=False)).squeeze(-1)
    assert q.shape == (n, 4)  # Q_i for every agent i
    for j in range(n):
        changed_action = {k: v.clone() for k, v in batch.items()}
        changed_action["actions"][..., j, :] += 1.0
        q_a = algo.critic(algo._critic_input(changed_action, changed_action["actions"].flatten(2), nxt=False))
        changed_obs = {k: v.clone() for k, v in batch.items()}
        changed_obs["obs"][..., j, :] += 1.0
        q_o = algo.critic(algo._critic_input(changed_obs, changed_obs["actions"].flatten(2), nxt=False))
        for i in range(n):  # agent j's action and observation move every agent's Q_i
            assert not torch.allclose(q_a.squeeze(-1)[i], q[i])
            assert not torch.allclose(q_o.squeeze(-1)[i], q[i])


def test_critic_uses_global_state_when_asked() -> None:
    algo = _algo(use_state=True)
    assert algo.critic.in_dim == 54 + 3 * 5  # simple_spread's state (3 x 18) plus all actions
    recorder = FakeRecorder()
    algo.learn(120, recorder)
    assert algo.updates_done > 0 and np.isfinite(recorder.stats[-1]["critic_loss"])


# --- message channels (MADDPG-1 / MADDPG-3) ------------------------------------------------------


def test_messages_are_comm_dim_wide_and_reach_other_agents() -> None:
    algo = _algo(comm_dim=3)
    obs = np.random.default_rng(0).normal(size=(3, algo.dims.obs_dim)).astype(np.float32)
    messages = algo.messages(obs)
    assert messages.shape == (3, 3) and (np.abs(messages) <= 1).all()
    x = torch.from_numpy(obs)[:, None]
    base = algo.actor(x)
    moved = x.clone()
    moved[1] += 1.0  # only agent 1 sees something new
    out = algo.actor(moved)
    assert not torch.allclose(out[0], base[0])  # ... and agent 0's action changes through the message
    assert not torch.allclose(out[2], base[2])
    # without a channel, agent 0 never depends on agent 1's observation
    plain = _algo(comm_dim=0)
    torch.testing.assert_close(plain.actor(moved)[0], plain.actor(x)[0])


def test_messages_are_trained_through_the_receivers_objective() -> None:
    algo = _algo(comm_dim=1)
    x = torch.randn(3, 8, algo.dims.obs_dim)
    algo.actor(x)[1].sum().backward()  # an objective of agent 1 only
    speaker, listener = algo.actor.speaker, algo.actor.listener
    assert speaker is not None and listener is not None
    assert speaker.layers[0].weight.grad[0].abs().sum() > 0  # agent 0's part 1 (its message) learns
    assert listener.layers[0].weight.grad[0].abs().sum() == 0  # agent 0's part 2 does not


def test_comm_maddpg_learns_end_to_end() -> None:
    algo = _algo(comm_dim=3)
    speaker = algo.actor.speaker
    assert speaker is not None
    before = speaker.layers[0].weight.detach().clone()
    algo.learn(200, FakeRecorder())
    assert algo.updates_done > 0
    assert not torch.equal(speaker.layers[0].weight, before)


# --- updates -------------------------------------------------------------------------------------


def test_losses_by_hand() -> None:
    y = critic_targets(
        torch.tensor([[1.0, 2.0]]), torch.tensor([[0.0, 1.0]]), torch.tensor([[10.0, 10.0]]), 0.5
    )
    torch.testing.assert_close(y, torch.tensor([[6.0, 2.0]]))  # 1 + 0.5 * 10; terminal: r only
    q = torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    y = torch.tensor([[1.0, 2.0, 3.0], [1.0, 1.0, 4.0]])
    weights = torch.tensor([[1.0, 0.5, 0.25], [1.0, 1.0, 1.0]])
    alive = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
    loss, td = weighted_critic_loss(q, y, weights, alive)
    # agent 0: (1 * 1 + 0.5 * 4) / 2 alive = 1.5; agent 1: 9 / 3 = 3
    assert float(loss) == pytest.approx(4.5)
    torch.testing.assert_close(td, y - q)
    q_pi = torch.tensor([[1.0, 3.0], [2.0, 2.0]])
    pre = torch.tensor([[[1.0], [3.0]], [[0.0], [2.0]]])
    # agent 0: -1 / 1 + 0.1 * 5; agent 1: -4 / 2 + 0.1 * 2
    actor = regularised_actor_loss(q_pi, pre, torch.tensor([[1.0, 0.0], [1.0, 1.0]]), 0.1)
    assert float(actor) == pytest.approx(-2.3)


def test_critic_regresses_on_the_discounted_target_networks() -> None:
    """The critic loss of one update, recomputed member by member from the same mini-batches."""
    algo = _algo({"continuous": True}, gamma=0.9)
    algo.learn(100, FakeRecorder())
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():  # targets unlike the online networks, as after some updates
        for p in [*algo.target_actor.parameters(), *algo.target_critic.parameters()]:
            p.add_(0.3 * torch.randn(p.shape, generator=g))
    # copies from before the update (it soft-updates the targets at its end)
    critic, target_critic = copy.deepcopy(algo.critic), copy.deepcopy(algo.target_critic)
    target_actor = copy.deepcopy(algo.target_actor)
    batch_np, _, _ = algo.replay.sample(algo.config.batch_size, copy.deepcopy(algo.rng))
    stats = algo.update()
    b = {k: torch.from_numpy(v) for k, v in batch_np.items()}  # [agent's mini-batch, B, ...]
    low, high = algo._low, algo._high
    n = algo.dims.n_agents
    expected = 0.0
    with torch.no_grad():
        for i in range(n):
            nxt = b["next_obs"][i]
            next_actions = [
                low + (torch.tanh(target_actor.body.member(j)(nxt[:, j])) + 1) * 0.5 * (high - low)
                for j in range(n)
            ]
            q_next = target_critic.member(i)(torch.cat([nxt.flatten(1), *next_actions], 1))[:, 0]
            y = b["rewards"][i][:, i] + 0.9 * (1 - b["terminated"][i][:, i]) * q_next
            q = critic.member(i)(torch.cat([b["obs"][i].flatten(1), b["actions"][i].flatten(1)], 1))[:, 0]
            alive = b["alive"][i][:, i]
            expected += float((alive * (y - q) ** 2).sum() / alive.sum().clamp(min=1))
    assert stats["critic_loss"] * n == pytest.approx(expected, rel=1e-4)


def test_soft_update_moves_targets_by_exactly_tau() -> None:
    algo = _algo(tau=0.05)
    algo.learn(100, FakeRecorder())  # fill past learning_starts
    old_targets = [p.clone() for p in algo.target_critic.parameters()] + [
        p.clone() for p in algo.target_actor.parameters()
    ]
    algo.update()
    online = list(algo.critic.parameters()) + list(algo.actor.parameters())
    targets = list(algo.target_critic.parameters()) + list(algo.target_actor.parameters())
    for old, new, src in zip(old_targets, targets, online, strict=True):
        torch.testing.assert_close(new, old + 0.05 * (src.detach() - old), rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    "config",
    [{}, {"per": True}, {"per": True, "per_mode": "proportional"}, {"comm_dim": 3}],
    ids=["uniform", "rank", "proportional", "comm3"],
)
def test_same_seed_same_losses(config: dict[str, Any]) -> None:
    runs = []
    for seed in (3, 3, 4):
        recorder = FakeRecorder()
        _algo(seed=seed, **config).learn(150, recorder)
        runs.append([s["critic_loss"] for s in recorder.stats] + [s["actor_loss"] for s in recorder.stats])
    assert len(runs[0]) >= 6
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


@pytest.mark.parametrize("continuous", [False, True])
def test_learn_reports_per_agent_episodes_and_ticks_every_step(continuous: bool) -> None:
    algo = _algo({"continuous": continuous, "max_cycles": 10}, num_envs=2)
    recorder = FakeRecorder()
    algo.learn(60, recorder)
    assert algo.steps_done == 60
    assert recorder.ticks == list(range(2, 61, 2))
    assert len(recorder.episodes) == 6  # 2 copies x 30 steps / 10-step episodes
    for ep in recorder.episodes:
        assert set(ep.rewards) == set(algo.agents)  # per agent, never summed
        assert ep.lengths["agent_0"] == 10
    assert algo.updates_done == 0  # learning_starts = 64 not reached


@pytest.mark.parametrize("minibatch_per_agent", [True, False])
def test_prioritized_replay_gets_per_agent_or_shared_priorities(minibatch_per_agent: bool) -> None:
    algo = _algo(per=True, per_mode="proportional", minibatch_per_agent=minibatch_per_agent)
    algo.learn(100, FakeRecorder())
    seen: dict[str, np.ndarray] = {}
    sample, update = algo.replay.sample, algo.replay.update_priorities

    def spy_sample(batch_size: int, rng: np.random.Generator) -> Any:
        out = sample(batch_size, rng)
        seen["idx"] = out[1]
        return out

    def spy_update(indices: np.ndarray, td: np.ndarray) -> None:
        seen["upd_idx"], seen["td"] = indices, td
        update(indices, td)

    algo.replay.sample, algo.replay.update_priorities = spy_sample, spy_update  # type: ignore[method-assign]
    algo.update()
    expected = (3, 32) if minibatch_per_agent else (32,)
    assert seen["idx"].shape == expected and seen["td"].shape == expected
    np.testing.assert_array_equal(seen["upd_idx"], seen["idx"])
    assert (seen["td"] >= 0).all() and seen["td"].max() > 0
    if minibatch_per_agent:  # one priority channel per agent, fed by that agent's own TD errors
        assert algo.replay.channels == 3
        assert not np.allclose(seen["td"][0], seen["td"][1])


def test_loop_networks_run_the_same_algorithm() -> None:
    algo = _algo(batched_networks=False, comm_dim=1)
    recorder = FakeRecorder()
    algo.learn(120, recorder)
    assert algo.updates_done > 0 and np.isfinite(recorder.stats[-1]["actor_loss"])


def test_non_finite_losses_raise_diverged() -> None:
    algo = _algo()
    algo.learn(100, FakeRecorder())
    with torch.no_grad():
        next(iter(algo.critic.parameters())).fill_(float("nan"))
    with pytest.raises(Diverged):
        algo.update()


# --- checkpoints ---------------------------------------------------------------------------------


def test_save_load_round_trip_gives_identical_actions(tmp_path) -> None:
    algo = _algo(comm_dim=3)
    algo.learn(150, FakeRecorder())
    algo.save(tmp_path)
    fresh = _algo(comm_dim=3, seed=99)
    assert not torch.equal(next(iter(fresh.actor.parameters())), next(iter(algo.actor.parameters())))
    fresh.load(tmp_path)
    assert fresh.steps_done == 150 and fresh.updates_done == algo.updates_done
    for seed in range(20):
        obs = _obs(algo, seed=seed)
        assert fresh.act(obs) == algo.act(obs)
    for a, b in zip(fresh.actor.parameters(), algo.actor.parameters(), strict=True):
        assert torch.equal(a, b)
    for a, b in zip(fresh.target_critic.parameters(), algo.target_critic.parameters(), strict=True):
        assert torch.equal(a, b)


def test_resume_continues_from_the_saved_step_with_the_saved_optimizer(tmp_path) -> None:
    algo = _algo(save_replay=True)
    algo.learn(200, FakeRecorder())
    algo.save(tmp_path)
    assert (tmp_path / "replay.npz").exists()
    saved_opt = algo.critic_opt.state_dict()

    resumed = _algo(save_replay=True)
    resumed.load(tmp_path)
    assert resumed.steps_done == 200 and len(resumed.replay) == len(algo.replay) == 200
    state = resumed.critic_opt.state_dict()["state"]
    for key, value in saved_opt["state"].items():
        torch.testing.assert_close(state[key]["exp_avg"], value["exp_avg"])
        assert float(state[key]["step"]) == float(value["step"]) > 0
    recorder = FakeRecorder()
    resumed.learn(300, recorder)
    assert recorder.ticks[0] == 201 and resumed.steps_done == 300
    step_after = float(next(iter(resumed.critic_opt.state_dict()["state"].values()))["step"])
    assert step_after == float(next(iter(saved_opt["state"].values()))["step"]) + 10


def test_load_refuses_a_checkpoint_of_another_shape(tmp_path) -> None:
    _algo().save(tmp_path)
    with pytest.raises(ConfigError, match="checkpoint"):
        _algo({"n_agents": 2}).load(tmp_path)
    with pytest.raises(ConfigError, match="checkpoint"):
        _algo(comm_dim=1).load(tmp_path)
    with pytest.raises(ConfigError, match="no MADDPG checkpoint"):
        _algo().load(tmp_path / "missing")


# --- learning: the demo's MADDPG beats random in tests/test_references.py; paper defaults in
# tests/test_maddpg_reference.py ---------------------------------------------------------------


def test_straight_through_gumbel_is_one_hot_forward_and_softmax_backward() -> None:
    algo = _algo()
    pre = torch.randn(3, 64, 5, requires_grad=True)
    action = algo._policy_action(pre, hard_sample=False)
    assert torch.equal(action.detach().sum(-1), torch.ones(3, 64))
    assert set(action.detach().unique().tolist()) == {0.0, 1.0}
    weights = torch.randn(5)
    (action * weights).sum().backward()
    assert pre.grad is not None and pre.grad.abs().sum() > 0  # gradients flow through the soft sample
    torch.testing.assert_close(pre.grad.sum(-1), torch.zeros(3, 64), atol=1e-5, rtol=0)  # softmax Jacobian
    target = algo._policy_action(pre.detach(), hard_sample=True)
    assert torch.equal(target.sum(-1), torch.ones(3, 64))
