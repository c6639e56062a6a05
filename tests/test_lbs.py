"""Large Batch Sharing and its baselines (paper 004): sampling, weights, buffers, networks, learning."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from fakes import FakeRecorder
from gymnasium import spaces
from pettingzoo import ParallelEnv
from scipy.stats import chisquare

from marlbench.algos.base import EnvContext, resolve_config
from marlbench.algos.dqn.config import DQNConfig
from marlbench.algos.dqn.lbs import IDQN, LBS, PSDQN, IDQNSharedBuffer, LBSConfig, lbs_downsample
from marlbench.algos.dqn.learner import Selection
from marlbench.envs.registry import EnvSpec, get_spec
from marlbench.errors import ConfigError, Diverged
from marlbench.replay import AgentReplay


class SignalEnv(ParallelEnv):
    """A tiny image env: agent ``i`` sees ``i + 1`` in channel 0 and the time in channel 1.

    Reward 1 when agent ``i`` plays action ``i % 3``; agent ``a1`` leaves the episode after 3 steps
    (so the learners see agents that are not alive); every episode lasts ``length`` steps.
    """

    metadata = {"name": "signal_v0"}

    def __init__(self, n_agents: int = 3, length: int = 6) -> None:
        self.possible_agents = [f"a{i}" for i in range(n_agents)]
        self.agents: list[str] = []
        self.length = length
        self.t = 0

    def observation_space(self, agent: str) -> spaces.Box:
        return spaces.Box(0, 255, (5, 5, 2), np.float32)

    def action_space(self, agent: str) -> spaces.Discrete:
        return spaces.Discrete(3)

    def _obs(self, agent: str) -> np.ndarray:
        out = np.zeros((5, 5, 2), np.float32)
        out[..., 0] = self.possible_agents.index(agent) + 1
        out[..., 1] = self.t
        return out

    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        self.t = 0
        self.agents = list(self.possible_agents)
        return {a: self._obs(a) for a in self.agents}, {a: {} for a in self.agents}

    def step(self, actions: dict) -> tuple[dict, dict, dict, dict, dict]:
        self.t += 1
        rewards = {a: float(actions[a] == self.possible_agents.index(a) % 3) for a in self.agents}
        truncated = {a: self.t >= self.length for a in self.agents}
        terminated = {a: a == "a1" and self.t >= 3 for a in self.agents}
        obs = {a: self._obs(a) for a in self.agents}
        infos = {a: {} for a in self.agents}
        self.agents = [a for a in self.agents if not (terminated[a] or truncated[a])]
        return obs, rewards, terminated, truncated, infos


SIGNAL = EnvSpec(
    name="signal",
    make=lambda seed=None, **options: SignalEnv(**options),
    description="test env",
    n_agents=3,
    episode_length=6,
    obs_kind="image",
    action_kind="discrete",
)


def make_algo(cls: type, seed: int = 0, **overrides: object) -> object:
    config_cls = LBSConfig if cls is LBS else DQNConfig
    values = {"buffer_size": 64, "learning_starts": 16, "num_envs": 2, "cnn_channels": "8,8", "device": "cpu"}
    config = resolve_config(config_cls, {**values, **overrides}, cls.__name__)
    return cls(EnvContext(SIGNAL, {}, seed), config, seed)


def params(algo: object) -> list[torch.Tensor]:
    return [p.detach().clone() for p in algo.online.parameters()]


# -- defaults ---------------------------------------------------------------------------------------


def test_defaults_are_table1() -> None:
    config = LBSConfig()
    assert config.channels() == (32, 64, 64) and config.kernel_size == 2 and config.stride == 1
    assert config.learning_rate == 0.00016 and config.batch_size == 32 and config.buffer_size == 120_000
    assert (config.exploration_initial_eps, config.exploration_final_eps) == (0.1, 0.001)
    assert config.target_update_interval == 1_000
    assert (config.p1, config.p2) == ("uniform", "td")
    with pytest.raises(ConfigError):
        resolve_config(LBSConfig, {"p2": "rank"}, "lbs")
    with pytest.raises(ConfigError):
        resolve_config(LBSConfig, {"cnn_channels": "32,x"}, "lbs")


def test_large_batch_is_b_times_m() -> None:
    algo = make_algo(LBS)
    algo.learn(40, FakeRecorder())
    agent, index = algo.large_batch()
    assert agent.shape == index.shape == (3, 32)  # K = B x M = 96 (the paper's K; 256 on pursuit)
    assert (agent == np.arange(3)[:, None]).all()


# -- per-agent buffers ------------------------------------------------------------------------------


def test_each_agent_keeps_its_own_buffer() -> None:
    replay = AgentReplay(3, 5, (1, 2, 2), np.float32)
    rng = np.random.default_rng(0)
    for t in range(4):
        # obs value encodes (agent, env, t); agent 1 is not alive at t = 2.
        obs = np.zeros((2, 3, 1, 2, 2))
        for e in range(2):
            for j in range(3):
                obs[e, j] = 100 * j + 10 * e + t
        alive = np.ones((2, 3), bool)
        alive[:, 1] = t != 2
        actions = np.tile(np.arange(3), (2, 1))
        replay.add(obs, actions, rng.random((2, 3)), obs + 1, np.zeros((2, 3)), alive)
    assert replay.size.tolist() == [5, 5, 5]  # 8 writes wrap agents 0 and 2; agent 1 wrote 6
    for j in range(3):
        assert (replay.actions[j] == j).all()
        assert (replay.obs[j] // 100 == j).all()
    # Agent 1's buffer never received the t = 2 step it did not take part in.
    assert not ((replay.obs[1] % 10) == 2).any()
    # Ring order: agent 0 holds its last 5 writes (t=1 env 1, t=2, t=3), oldest overwritten first.
    assert sorted(replay.obs[0, :, 0, 0, 0].astype(int).tolist()) == [2, 3, 11, 12, 13]
    assert sorted(replay.obs[1, :, 0, 0, 0].astype(int).tolist()) == [101, 103, 110, 111, 113]


def test_learners_store_each_agents_transitions_in_its_own_row() -> None:
    algo = make_algo(IDQN, learning_starts=10_000)
    algo.learn(48, FakeRecorder())
    replay = algo.replay
    # channel 0 of SignalEnv observations is agent index + 1 (channels first in the buffer).
    for j in range(3):
        stored = replay.obs[j, : replay.size[j], 0]
        assert (stored == j + 1).all()
    # a1 leaves after 3 of every 6 steps: it stored half as many transitions as the others.
    assert replay.size.tolist() == [48, 24, 48]
    assert replay.terminated[1, :24].sum() == 8 and replay.terminated[0].sum() == 0


def test_idqn_samples_only_its_own_buffer_and_shared_samples_all() -> None:
    idqn = make_algo(IDQN, learning_starts=10_000)
    idqn.learn(24, FakeRecorder())
    sel = idqn._select()
    assert (sel.agent == np.arange(3)[:, None]).all() and sel.weights is None
    shared = make_algo(IDQNSharedBuffer, learning_starts=10_000)
    shared.learn(24, FakeRecorder())
    agents = np.concatenate([shared._select().agent.ravel() for _ in range(20)])
    assert set(agents.tolist()) == {0, 1, 2}


# -- LBS sampling and weights ----------------------------------------------------------------------


def test_downsampling_frequencies_follow_td_and_weights_are_1_over_kp() -> None:
    td = torch.tensor([[0.0, 0.5, 1.0, 2.0, 4.5, 2.0], [1.0, 1.0, 1.0, 1.0, 1.0, 5.0]])
    gen = torch.Generator().manual_seed(0)
    chosen, weights = lbs_downsample(td, 200_000, "td", 1e-6, gen)
    p = (td.double() + 1e-6) / (td.double() + 1e-6).sum(1, keepdim=True)
    for i in range(2):
        freq = np.bincount(chosen[i].numpy(), minlength=6) / 200_000
        np.testing.assert_allclose(freq, p[i].numpy(), atol=0.004)
    np.testing.assert_allclose(weights.numpy(), (1.0 / (6 * p.gather(1, chosen))).numpy(), rtol=1e-6)
    assert (chosen[0] != 0).all()  # |TD| = 0 has probability ~2e-7


def test_uniform_downsampling_has_unit_weights() -> None:
    chosen, weights = lbs_downsample(torch.rand(3, 96), 32, "uniform", 1e-6, torch.Generator().manual_seed(0))
    assert chosen.shape == (3, 32)
    assert torch.equal(weights, torch.ones(3, 32))


def test_weighted_minibatch_loss_is_unbiased_for_the_large_batch_loss() -> None:
    # Section 3: E_{k~p}[(1/B) sum w_k l_k] = (1/K) sum_k l_k when w_k = 1/(K p_k).
    gen = torch.Generator().manual_seed(3)
    td = torch.rand(1, 40, generator=gen) * 3
    losses = torch.rand(40, generator=gen) * 5 + td[0]
    chosen, weights = lbs_downsample(td, 32 * 20_000, "td", 1e-6, gen)
    estimate = (weights[0] * losses[chosen[0]]).mean()
    assert float(estimate) == pytest.approx(float(losses.mean()), rel=0.01)
    # A biased variant (no weights) would be far off: the check can fail.
    assert float(losses[chosen[0]].mean()) > 1.05 * float(losses.mean())


def test_p1_td_priorities_are_the_owners_td_errors() -> None:
    algo = make_algo(LBS, p1="td", learning_starts=10_000)
    algo.learn(48, FakeRecorder())
    with torch.no_grad():  # make the networks differ from their targets so TD errors are non-trivial
        for p in algo.online.parameters():
            p.add_(0.1 * torch.randn_like(p))
    drawn = {}
    original = algo.large_batch

    def recording() -> tuple[np.ndarray, np.ndarray]:
        drawn["batch"] = original()
        return drawn["batch"]

    algo.large_batch = recording
    algo._select()
    agent, index = (a.ravel() for a in drawn["batch"])
    obs, actions, rewards, next_obs, terminated = algo._batch(agent, index)
    leaves = algo.replay.tree.leaves(index, channel=agent)
    with torch.no_grad():
        for j in range(3):
            mine = agent == j
            q = algo.online.single(j)(obs[mine]).gather(1, actions[mine, None]).squeeze(1)
            y = (
                rewards[mine]
                + 0.99 * (1 - terminated[mine]) * algo.target.single(j)(next_obs[mine]).max(1).values
            )
            np.testing.assert_allclose(leaves[mine], (q - y).abs().numpy() + 1e-6, rtol=1e-4, atol=1e-6)


# -- the p1 = p2 = uniform reduction ---------------------------------------------------------------


def test_uniform_lbs_draws_like_the_shared_buffer() -> None:
    """Equal in distribution: every transition of the union with probability 1/|union|, weights 1."""
    lbs = make_algo(LBS, p2="uniform", buffer_size=6, learning_starts=10_000)
    shared = make_algo(IDQNSharedBuffer, buffer_size=6, learning_starts=10_000)
    for algo in (lbs, shared):
        algo.learn(12, FakeRecorder())
    assert lbs.replay.size.tolist() == shared.replay.size.tolist() == [6, 6, 6]
    counts = {"lbs": np.zeros((3, 18)), "shared": np.zeros((3, 18))}
    for _ in range(300):
        for name, algo in (("lbs", lbs), ("shared", shared)):
            sel = algo._select()
            if name == "lbs":
                assert torch.equal(sel.weights, torch.ones(3, 32))
            for i in range(3):
                np.add.at(counts[name][i], sel.agent[i] * 6 + sel.index[i], 1)
    for name, table in counts.items():
        for i in range(3):
            assert chisquare(table[i]).pvalue > 1e-4, f"{name} learner {i} is not uniform over the union"
            own = table[i, 6 * i : 6 * i + 6].sum() / table[i].sum()
            assert own == pytest.approx(1 / 3, abs=0.02)
    tv = 0.5 * np.abs(counts["lbs"] / counts["lbs"].sum(1, keepdims=True) - 1 / 18).sum(1)
    assert (tv < 0.03).all()


def test_uniform_lbs_update_equals_the_shared_buffer_update() -> None:
    """Given the same transitions, LBS (p1 = p2 = uniform) and IDQN-shared-buffer take the same step."""
    lbs = make_algo(LBS, p2="uniform", learning_starts=10_000, seed=4)
    shared = make_algo(IDQNSharedBuffer, learning_starts=10_000, seed=4)
    for algo in (lbs, shared):
        algo.learn(30, FakeRecorder())
    for a, b in zip(params(lbs), params(shared), strict=True):
        assert torch.equal(a, b)
    for name in ("obs", "actions", "rewards", "next_obs", "terminated"):
        assert np.array_equal(getattr(lbs.replay, name), getattr(shared.replay, name))
    with torch.no_grad():  # targets different from the online nets, as after a few updates
        for p in lbs.target.parameters():
            p.add_(0.05)
        shared.target.load_state_dict(lbs.target.state_dict())
    for _ in range(3):
        sel = lbs._select()
        assert torch.equal(sel.weights, torch.ones_like(sel.weights))
        lbs._update(sel)
        shared._update(Selection(sel.agent, sel.index))  # targets recomputed from the minibatch, no weights
        for a, b in zip(params(lbs), params(shared), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    # With p2 = td the weights differ from 1 and so does the step: the comparison can fail.
    lbs.config = dataclasses.replace(lbs.config, p2="td")
    sel = lbs._select()
    assert not torch.allclose(sel.weights, torch.ones_like(sel.weights))
    lbs._update(sel)
    shared._update(Selection(sel.agent, sel.index))
    assert any(not torch.allclose(a, b) for a, b in zip(params(lbs), params(shared), strict=True))


# -- algorithm surface ------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [LBS, IDQN, IDQNSharedBuffer, PSDQN])
def test_learn_act_save_load(cls: type, tmp_path) -> None:
    algo = make_algo(cls)
    recorder = FakeRecorder()
    algo.learn(60, recorder)
    assert algo.steps_done == 60 and algo.updates > 0
    assert len(recorder.episodes) == 10 and all(len(e.rewards) == 3 for e in recorder.episodes)
    assert algo.online.n_nets == (1 if cls is PSDQN else 3)
    env = SignalEnv()
    obs, _ = env.reset()
    actions = algo.act(obs)
    assert set(actions) == set(obs) and all(0 <= a < 3 for a in actions.values())
    algo.save(tmp_path)
    fresh = make_algo(cls, seed=9)
    fresh.load(tmp_path)
    assert fresh.steps_done == 60 and fresh.act(obs) == actions
    for a, b in zip(params(algo), params(fresh), strict=True):
        assert torch.equal(a, b)
    other = IDQN if cls is not IDQN else LBS
    with pytest.raises(ConfigError):
        make_algo(other).load(tmp_path)


def test_same_seed_same_result() -> None:
    runs = []
    for seed in (0, 0, 1):
        algo = make_algo(LBS, seed=seed)
        algo.learn(60, FakeRecorder())
        runs.append(params(algo))
    assert all(torch.equal(a, b) for a, b in zip(runs[0], runs[1], strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(runs[0], runs[2], strict=True))


def test_non_finite_loss_raises_diverged() -> None:
    algo = make_algo(IDQN, learning_starts=10_000)
    algo.learn(24, FakeRecorder())
    algo.replay.rewards[:] = np.nan
    with pytest.raises(Diverged):
        algo._update(algo._select())


def test_refuses_vector_observations() -> None:
    spec = get_spec("mpe-spread")
    with pytest.raises(ConfigError, match="image"):
        IDQN(EnvContext(spec, spec.resolve_options(), 0), DQNConfig(device="cpu"), 0)


# -- learning on a reduced pursuit -------------------------------------------------------------------

REDUCED = {"x_size": 8, "y_size": 8, "n_pursuers": 4, "n_evaders": 6, "max_cycles": 40}
REDUCED |= {"surround": False, "n_catch": 1}
"""8x8 grid, 4 pursuers, 6 evaders, 40 steps; one pursuer on an evader's cell catches it."""
LEARN_HP = {"buffer_size": 5_000, "learning_starts": 200, "cnn_channels": "16,32", "learning_rate": 0.001}
LEARN_HP |= {"device": "cpu"}
"""Small budget: a 2-layer CNN and lr 1e-3 (Table 1's net and 1.6e-4 need far more than 3,000 steps)."""
BUDGET = 3_000
MARGIN = 2.0
"""Required gain in mean per-agent return over the random policy, on 10 fixed evaluation episodes.

Random: 1.12 (4.0 of 6 evaders caught). Measured after 3,000 steps, seeds 0/1/2: IDQN 6.06/6.27/5.35,
LBS 6.79/7.05/7.72 (5.7-6.0 captures), so the margin holds with room for float differences."""


def evaluate(spec: EnvSpec, options: dict, policy, episodes: int = 10) -> float:
    env = spec.make(seed=0, **options)
    rng = np.random.default_rng(123)
    returns = []
    for episode in range(episodes):
        obs, _ = env.reset(seed=100 + episode)
        total = 0.0
        while env.agents:
            obs, rewards, *_ = env.step(policy(obs, rng))
            total += float(np.mean(list(rewards.values())))
        returns.append(total)
    env.close()
    return float(np.mean(returns))


@pytest.mark.slow
@pytest.mark.parametrize("cls", [LBS, IDQN])
def test_beats_random_on_reduced_pursuit(cls: type) -> None:
    spec = get_spec("pursuit")
    options = spec.resolve_options(REDUCED)
    random_return = evaluate(spec, options, lambda obs, rng: {a: int(rng.integers(5)) for a in obs})
    config = resolve_config(LBSConfig if cls is LBS else DQNConfig, LEARN_HP, cls.__name__)
    algo = cls(EnvContext(spec, options, 0), config, 0)
    algo.learn(BUDGET, FakeRecorder())
    learned_return = evaluate(spec, options, lambda obs, rng: algo.act(obs))
    assert learned_return > random_return + MARGIN, (learned_return, random_return)
