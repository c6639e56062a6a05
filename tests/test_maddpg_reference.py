"""MADDPG against a slow, independent reference written here (paper 000, Algorithm 1 and eq. 7).

One :meth:`MADDPG.update` on a hand-built replay is recomputed agent by agent with plain ``nn.Sequential``
copies of the same initial weights, one optimizer per agent and ``torch.nn.utils.clip_grad_norm_``:

* critic ``i``: ``y = r_i + gamma (1 - terminal_i) Q'_i(x', mu'_1(o'_1), .., mu'_N(o'_N))`` with the
  *target* actors and critic, loss ``1/S_i sum_j w_ij alive_ij (y_j - Q_i(x_j, a_j))^2`` on agent
  ``i``'s own mini-batch with eq. 7's weights ``w = (N P)^-beta / max`` computed here from the
  priorities the test set;
* actor ``i``: ascend ``Q_i(x, a_1, .., mu_i(o_i), .., a_N)`` (others' actions from the buffer) plus the
  MADDPG code's ``actor_reg * mean(pre^2)``;
* per-agent gradient clipping, the soft update ``theta' <- tau theta + (1 - tau) theta'`` and the new
  priorities ``|y - Q_i| + eps`` in agent ``i``'s channel.

The hand-built batch has rewards that differ by agent, terminal and absent agents and uneven
priorities, so using another agent's reward, ignoring the done mask or dropping the weights all
change the result. With SGD in place of Adam every gradient shows up in the weights (one Adam step
is nearly ``lr * sign(grad)`` and would hide a rescaled gradient); a separate test runs the real Adam.
The mutations these tests were checked against are listed in the tests' docstrings.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from fakes import FakeRecorder
from rollouts import mean_return
from torch import nn

from marlbench.algos.base import EnvContext
from marlbench.algos.maddpg import MADDPG, MADDPGConfig
from marlbench.envs.registry import get_spec

N, B, CAP = 3, 16, 40
EPS = 1e-6


def _algo(discrete: bool, seed: int = 0, **config: Any) -> MADDPG:
    spec = get_spec("mpe-spread")
    ctx = EnvContext(spec, spec.resolve_options({"continuous": not discrete, "n_agents": N}), seed=0)
    base: dict[str, Any] = {
        "hidden_size": 16,
        "batch_size": B,
        "buffer_size": CAP,
        "learning_starts": 1,
        "per": True,
        "per_mode": "proportional",
        "per_alpha": 1.0,
        "gamma": 0.9,
        "tau": 0.05,
        "grad_clip": 0.001,
        "actor_reg": 0.01,
        "gumbel_temperature": 0.5,
    }
    return MADDPG(ctx, MADDPGConfig(**(base | config)), seed=seed)


def _transitions(algo: MADDPG, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """CAP hand-built transitions: rewards that differ by agent, terminal and absent agents."""
    n, d, a = algo.dims.n_agents, algo.dims.obs_dim, algo.dims.act_dim
    if algo.dims.discrete:
        actions = np.eye(a, dtype=np.float32)[rng.integers(0, a, (CAP, n))]
    else:
        actions = rng.uniform(0.0, 1.0, (CAP, n, a)).astype(np.float32)
    return {
        "obs": rng.normal(size=(CAP, n, d)).astype(np.float32),
        "actions": actions,
        "rewards": (rng.normal(size=(CAP, n)) + 4.0 * np.arange(n)).astype(np.float32),
        "next_obs": rng.normal(size=(CAP, n, d)).astype(np.float32),
        "terminated": (rng.random((CAP, n)) < 0.3).astype(np.float32),
        "alive": (rng.random((CAP, n)) < 0.85).astype(np.float32),
    }


def _fill(algo: MADDPG, seed: int = 1) -> np.ndarray:
    """Write the hand-built transitions and uneven per-agent priorities; return them ``[N, CAP]``."""
    rng = np.random.default_rng(seed)
    algo.replay.add(_transitions(algo, rng))
    td = rng.uniform(0.05, 3.0, (algo.dims.n_agents, CAP))
    algo.replay.update_priorities(np.broadcast_to(np.arange(CAP), td.shape), td)
    algo.replay.sampler.beta = 0.6
    return td + EPS  # alpha = 1: the priorities themselves


@dataclass
class _Agent:
    """Agent ``i``'s own networks and optimizers, as in a per-agent MADDPG implementation."""

    actor: nn.Module
    critic: nn.Module
    target_actor: nn.Module
    target_critic: nn.Module
    actor_opt: torch.optim.Optimizer
    critic_opt: torch.optim.Optimizer


def _agents(algo: MADDPG, optimizer: str) -> list[_Agent]:
    cfg = algo.config
    out = []
    for i in range(algo.dims.n_agents):
        nets = [
            copy.deepcopy(net.member(i)).requires_grad_(True)
            for net in (algo.actor.body, algo.critic, algo.target_actor.body, algo.target_critic)
        ]
        opt = torch.optim.Adam if optimizer == "adam" else torch.optim.SGD
        out.append(
            _Agent(*nets, opt(nets[0].parameters(), cfg.actor_lr), opt(nets[1].parameters(), cfg.critic_lr))
        )
    return out


def _use_sgd(algo: MADDPG) -> None:
    algo.config.actor_lr, algo.config.critic_lr = 2.0, 2.0  # large steps: changes far above rounding
    algo.actor_opt = torch.optim.SGD(algo.actor.parameters(), algo.config.actor_lr)
    algo.critic_opt = torch.optim.SGD(algo.critic.parameters(), algo.config.critic_lr)


def _gumbel(shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    u = torch.rand(shape, generator=generator).clamp_(1e-10, 1.0 - 1e-7)
    return -torch.log(-torch.log(u))


@dataclass
class _Result:
    critic_loss: float
    actor_loss: float
    td_abs: torch.Tensor  # [N, B]
    critic_norms: list[float]
    actor_norms: list[float]


def _reference_update(
    algo: MADDPG, agents: list[_Agent], priorities: np.ndarray, rng: np.random.Generator, gen: torch.Generator
) -> tuple[_Result, np.ndarray]:
    """Algorithm 1's update, one agent at a time, from copies of the RNGs the learner will use."""
    cfg, n = algo.config, algo.dims.n_agents
    batch_np, idx, _ = algo.replay.sample(cfg.batch_size, rng)  # the same mini-batches (slots)
    b = {k: torch.from_numpy(v) for k, v in batch_np.items()}  # [agent's mini-batch, B, N, ...]
    # eq. 7 from the priorities set by the test: P = p / sum p (alpha = 1), w = (size P)^-beta / max
    probs = priorities[np.arange(n)[:, None], idx] / priorities.sum(1, keepdims=True)
    w_np = (CAP * probs) ** (-algo.replay.beta)
    weights = torch.from_numpy(w_np / w_np.max(1, keepdims=True)).float()
    low, high = algo._low, algo._high
    k_b = n * cfg.batch_size
    target_noise = _gumbel((n, k_b, algo.dims.act_dim), gen) if algo.dims.discrete else None
    online_noise = _gumbel((n, cfg.batch_size, algo.dims.act_dim), gen) if algo.dims.discrete else None

    def target_action(j: int, i: int, pre: torch.Tensor) -> torch.Tensor:
        if target_noise is None:
            return low + (torch.tanh(pre) + 1.0) * 0.5 * (high - low)
        noisy = pre + target_noise[j, i * cfg.batch_size : (i + 1) * cfg.batch_size]
        return F.one_hot(noisy.argmax(-1), pre.shape[-1]).float()

    def own_action(i: int, pre: torch.Tensor) -> torch.Tensor:
        if online_noise is None:
            return low + (torch.tanh(pre) + 1.0) * 0.5 * (high - low)
        noisy = pre + online_noise[i]
        soft = torch.softmax(noisy / cfg.gumbel_temperature, dim=-1)
        hard = F.one_hot(noisy.argmax(-1), pre.shape[-1]).float()
        return hard - soft.detach() + soft

    critic_loss = actor_loss = 0.0
    td_abs, c_norms, a_norms = [], [], []
    for i, ag in enumerate(agents):
        o, a, o2 = b["obs"][i], b["actions"][i], b["next_obs"][i]
        r, term, alive = b["rewards"][i][:, i], b["terminated"][i][:, i], b["alive"][i][:, i]
        with torch.no_grad():
            next_a = [target_action(j, i, ag_j.target_actor(o2[:, j])) for j, ag_j in enumerate(agents)]
            q_next = ag.target_critic(torch.cat([o2.flatten(1), *next_a], 1))[:, 0]
            y = r + cfg.gamma * (1.0 - term) * q_next
        q = ag.critic(torch.cat([o.flatten(1), a.flatten(1)], 1))[:, 0]
        loss = (weights[i] * alive * (y - q) ** 2).sum() / alive.sum().clamp(min=1.0)
        ag.critic_opt.zero_grad()
        loss.backward()
        c_norms.append(float(torch.nn.utils.clip_grad_norm_(ag.critic.parameters(), cfg.grad_clip)))
        ag.critic_opt.step()
        critic_loss += float(loss.detach())
        td_abs.append((y - q).detach().abs() * alive)

        pre = ag.actor(o[:, i])
        joint = [own_action(i, pre) if j == i else a[:, j] for j in range(n)]
        q_pi = ag.critic(torch.cat([o.flatten(1), *joint], 1))[:, 0]
        a_loss = -(alive * q_pi).sum() / alive.sum().clamp(min=1.0) + cfg.actor_reg * pre.pow(2).mean()
        ag.actor_opt.zero_grad()
        a_loss.backward()
        a_norms.append(float(torch.nn.utils.clip_grad_norm_(ag.actor.parameters(), cfg.grad_clip)))
        ag.actor_opt.step()
        actor_loss += float(a_loss.detach())
    with torch.no_grad():
        for ag in agents:
            for target, online in ((ag.target_actor, ag.actor), (ag.target_critic, ag.critic)):
                for t, s in zip(target.parameters(), online.parameters(), strict=True):
                    t.copy_(cfg.tau * s + (1.0 - cfg.tau) * t)
    return _Result(critic_loss, actor_loss, torch.stack(td_abs), c_norms, a_norms), idx


def _assert_same_nets(algo: MADDPG, agents: list[_Agent], before: list[_Agent]) -> None:
    """Every agent's parameter *changes* match the reference's (within 1e-4 of the largest change)."""
    for i, (ag, old) in enumerate(zip(agents, before, strict=True)):
        pairs = [
            (algo.critic, ag.critic, old.critic),
            (algo.actor.body, ag.actor, old.actor),
            (algo.target_critic, ag.target_critic, old.target_critic),
            (algo.target_actor.body, ag.target_actor, old.target_actor),
        ]
        for net, ref, start in pairs:
            got = list(net.member(i).parameters())
            for g, r, s in zip(got, ref.parameters(), start.parameters(), strict=True):
                want = r.detach() - s
                scale = float(want.abs().max().detach())
                torch.testing.assert_close(g.detach() - s, want, rtol=1e-4, atol=1e-4 * scale + 1e-7)


def _run_both(algo: MADDPG, optimizer: str) -> tuple[dict[str, float], _Result, np.ndarray, np.ndarray]:
    priorities = _fill(algo)
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():  # targets unlike the online networks, as after some updates
        for p in [*algo.target_actor.parameters(), *algo.target_critic.parameters()]:
            p.add_(0.3 * torch.randn(p.shape, generator=g))
    agents = _agents(algo, optimizer)
    before = copy.deepcopy(agents)
    gen = torch.Generator()
    gen.set_state(algo.torch_rng.get_state())
    ref, idx = _reference_update(algo, agents, priorities, copy.deepcopy(algo.rng), gen)
    stats = algo.update()
    _assert_same_nets(algo, agents, before)
    return stats, ref, idx, priorities


@pytest.mark.parametrize("batched", [True, False], ids=["batched", "loop"])
@pytest.mark.parametrize("discrete", [False, True], ids=["continuous", "discrete"])
def test_one_update_matches_the_per_agent_reference(discrete: bool, batched: bool) -> None:
    """Critics, actors, targets, losses and priorities of one SGD update equal the reference's.

    Caught mutations (one line each): online actor / online critic for the targets, gamma dropped,
    done mask ignored, weights dropped, another agent's reward or terminal flag, obs of one agent in
    place of another's in the critic input or the actor, clipping off or shared across agents, actor
    loss sign, actor_reg, buffer action in place of mu_i, Gumbel temperature ignored, tau swapped.
    """
    algo = _algo(discrete, batched_networks=batched)
    _use_sgd(algo)
    stats, ref, idx, _ = _run_both(algo, "sgd")
    n = algo.dims.n_agents
    assert stats["critic_loss"] * n == pytest.approx(ref.critic_loss, rel=1e-5)
    assert stats["actor_loss"] * n == pytest.approx(ref.actor_loss, rel=1e-5, abs=1e-7)
    assert stats["td_abs_mean"] == pytest.approx(float(ref.td_abs.mean()), rel=1e-5)
    # the clip binds for every agent's critic and actor, so clipping is visible in the weights
    assert min(ref.critic_norms) > algo.config.grad_clip and min(ref.actor_norms) > algo.config.grad_clip


def test_priorities_go_to_each_agents_own_channel() -> None:
    """Channel ``i`` gets ``|y - Q_i| + eps`` of critic ``i`` on mini-batch ``i`` (Algorithm 1 with eq. 7).

    Caught: priorities written to another agent's channel (rolled or flipped channel axis),
    the alive mask dropped from the priorities.
    """
    algo = _algo(False)
    _use_sgd(algo)
    _, ref, idx, priorities = _run_both(algo, "sgd")
    tree = algo.replay.sampler.tree
    checked = 0
    for i in range(algo.dims.n_agents):
        slots, counts = np.unique(idx[i], return_counts=True)
        for slot in slots[counts == 1]:  # a slot drawn twice keeps one of its two values
            b = int(np.flatnonzero(idx[i] == slot)[0])
            assert tree.leaves(np.array([slot]), np.array([i]))[0] == pytest.approx(
                float(ref.td_abs[i, b]) + EPS, rel=1e-5
            )
            checked += 1
        untouched = np.setdiff1d(np.arange(CAP), idx[i])
        np.testing.assert_allclose(
            tree.leaves(untouched, np.full(untouched.size, i)), priorities[i, untouched]
        )
    assert checked >= 20


@pytest.mark.parametrize("discrete", [False, True], ids=["continuous", "discrete"])
def test_one_adam_update_matches_the_reference(discrete: bool) -> None:
    """The real optimizers: one Adam per agent at the configured learning rates (paper 000: 1e-4 / 1e-3).

    Caught: actor and critic learning rates swapped, one optimizer's lr used for both.
    """
    algo = _algo(discrete, actor_lr=3e-4, critic_lr=2e-3)
    _run_both(algo, "adam")


def test_shared_minibatch_priorities_average_the_agents_td() -> None:
    """``minibatch_per_agent=false``: one mini-batch for all critics, priority = mean over alive agents."""
    algo = _algo(False, minibatch_per_agent=False)
    _use_sgd(algo)
    algo.replay.add(_transitions(algo, np.random.default_rng(1)))
    n = algo.dims.n_agents
    batch, idx, _ = algo.replay.sample(B, copy.deepcopy(algo.rng))
    critic, target_critic = copy.deepcopy(algo.critic), copy.deepcopy(algo.target_critic)
    target_actor = copy.deepcopy(algo.target_actor)
    algo.update()
    b = {k: torch.from_numpy(v) for k, v in batch.items()}
    low, high = algo._low, algo._high
    with torch.no_grad():
        tds = []
        for i in range(n):
            nxt = [
                low + (torch.tanh(target_actor.body.member(j)(b["next_obs"][:, j])) + 1) * 0.5 * (high - low)
                for j in range(n)
            ]
            y = (
                b["rewards"][:, i]
                + 0.9
                * (1 - b["terminated"][:, i])
                * target_critic.member(i)(torch.cat([b["next_obs"].flatten(1), *nxt], 1))[:, 0]
            )
            q = critic.member(i)(torch.cat([b["obs"].flatten(1), b["actions"].flatten(1)], 1))[:, 0]
            tds.append((y - q).abs() * b["alive"][:, i])
        expected = torch.stack(tds).sum(0) / b["alive"].sum(1).clamp(min=1.0)
    slots, counts = np.unique(idx, return_counts=True)
    for slot in slots[counts == 1]:
        j = int(np.flatnonzero(idx == slot)[0])
        leaf = algo.replay.sampler.tree.leaves(np.array([slot]), np.array([0]))[0]
        assert leaf == pytest.approx((float(expected[j]) + EPS) ** algo.replay.sampler.alpha, rel=1e-5)


# --- the learning loop: beta annealing and the update schedule -----------------------------------


@pytest.mark.parametrize("per", [True, False])
def test_update_schedule_and_beta_annealing(per: bool) -> None:
    """``learn_every`` env steps per phase, ``updates_per_learn`` updates each, from ``learning_starts``;
    PER's beta annealed linearly from beta0 to 1 over the run (Schaul et al., sec. 3.4).

    Caught: updates every step, one update per phase, warm-up ignored, beta not annealed, annealed
    by the wrong progress.
    """
    algo = _algo(
        False, per=per, learn_every=7, updates_per_learn=2, learning_starts=30, buffer_size=500, per_beta0=0.3
    )
    seen: list[tuple[int, float]] = []
    update = algo.update

    def spy() -> dict[str, float]:
        seen.append((algo.steps_done, algo.replay.beta))
        return update()

    algo.update = spy  # type: ignore[method-assign]
    total = 100
    algo.learn(total, FakeRecorder())
    phases = [t for t in range(1, total + 1) if t % 7 == 0 and t >= 30]
    assert [s for s, _ in seen] == [t for t in phases for _ in range(2)]
    assert algo.updates_done == 2 * len(phases)
    for step, beta in seen:
        assert beta == pytest.approx(0.3 + 0.7 * step / total if per else 1.0)


# --- learning at the paper's defaults -------------------------------------------------------------


@pytest.mark.slow
def test_learns_at_the_papers_defaults() -> None:
    """Paper 000's settings: batch 1024, actor lr 1e-4, critic lr 1e-3, 64x64 ReLU, gamma 0.95, tau 0.01.

    The cheapest case where they show learning in well under a minute: spread with one agent and one
    landmark (25-step episodes), 10k env steps. Only the schedule is shortened: an update every 10
    env steps from 2,048 stored transitions (the MADDPG code: every 100 from 25,600), so the run
    has ~800 updates. Measured: random -12.0, MADDPG -4.1 per episode (2 agents need ~4x the steps:
    -15.2 against -20.3 after 12k). Required margin: 4.
    """
    spec = get_spec("mpe-spread")
    ctx = EnvContext(spec, spec.resolve_options({"n_agents": 1}), seed=0)
    config = MADDPGConfig(learn_every=10, learning_starts=2048)
    assert (config.batch_size, config.actor_lr, config.critic_lr) == (1024, 1e-4, 1e-3)
    assert (config.hidden_size, config.hidden_layers, config.activation) == (64, 2, "relu")
    algo = MADDPG(ctx, config, seed=0)
    algo.learn(10_000, FakeRecorder())
    sampler = ctx.make(seed=0)
    random_return = mean_return(lambda obs: {a: sampler.action_space(a).sample() for a in obs}, ctx)
    learned = mean_return(algo.act, ctx)
    assert learned > random_return + 4.0, (learned, random_return)
