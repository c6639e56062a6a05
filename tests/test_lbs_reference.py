"""LBS and its DQN base against a slow reference written here (paper 004, sections 2-3).

Learner ``i`` is recomputed with its own ``nn.Sequential`` copy (:meth:`BatchedCNN.single`),
transition by transition of the large batch:

* step 1: agent ``j`` draws ``D`` transitions from its own buffer (uniform ``p1``);
* step 2: ``|delta_ik| = |Q_i(s_k, a_k) - (r_k + gamma (1 - terminal_k) max_a' Q'_i(s'_k, a'))|`` with
  learner ``i``'s *own* online and target networks, ``p2_ik = (|delta_ik| + eps) / sum_k'``;
* step 3: weights ``w_ik = 1 / (K p2_ik)`` and one step on ``(1/B) sum_b w_ib 0.5 (Q_i - y_ib)^2``,
  each network's gradient clipped by its own norm.

Each drawn transition's expected weight and target follow from its own ``(agent, position)``, so
the check does not depend on how the draws are made; a learner that down-sampled by another
learner's TD errors gets the other learner's weights and fails exactly.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from fakes import FakeRecorder
from test_lbs import make_algo

from marlbench.algos.dqn.lbs import IDQN, LBS
from marlbench.algos.dqn.learner import MultiAgentDQN

TD_EPS = 0.05
"""Larger than the default 1e-6, so that dropping it from ``p2`` changes the weights measurably."""


def _prepared(cls: type, **overrides: object) -> MultiAgentDQN:
    """Buffers filled by 48 env steps, no update yet; targets moved away from the online networks."""
    algo = make_algo(cls, learning_starts=10_000, **overrides)
    algo.learn(48, FakeRecorder())
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for p in algo.target.parameters():
            p.add_(0.2 * torch.randn(p.shape, generator=g))
    return algo


def _reference_td(
    algo: MultiAgentDQN, agent: np.ndarray, index: np.ndarray
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(|delta| [L, K], y [L, K])`` of every learner on transitions ``(agent, index)``, net by net."""
    t = algo.replay.gather(agent, index)
    obs, next_obs = (
        torch.as_tensor(t.obs, dtype=torch.float32),
        torch.as_tensor(t.next_obs, dtype=torch.float32),
    )
    tds, ys = [], []
    with torch.no_grad():
        for i in range(algo.n_learners):
            online, target = algo.online.single(i), algo.target.single(i)
            td, y = [], []
            for k in range(agent.size):  # one transition at a time
                q = online(obs[k : k + 1])[0, int(t.actions[k])]
                nxt = target(next_obs[k : k + 1])[0].max()
                y_k = float(t.rewards[k]) + algo.config.gamma * (1.0 - float(t.terminated[k])) * nxt
                td.append((q - y_k).abs())
                y.append(y_k)
            tds.append(torch.stack(td))
            ys.append(torch.stack(y))
    return torch.stack(tds), torch.stack(ys)


@pytest.mark.parametrize("p1", ["uniform", "td"])
def test_lbs_selection_matches_the_reference(p1: str) -> None:
    """Large batch of K = D x M, each learner's weights and targets by its own TD errors, p1 priorities.

    Caught: learner i down-sampling by another learner's TD errors; targets from the online networks;
    gamma or the done mask dropped; weights 1/p instead of 1/(K p); td_eps ignored in p2; priorities
    (p1 = td) from another learner than the owner. (``_update`` recomputing the targets instead of
    using the selection's gives the same numbers for LBS: an equivalent change, not a bug.)
    """
    algo = _prepared(LBS, p1=p1, td_eps=TD_EPS)
    cfg = algo.config
    n, d = algo.n_agents, cfg.draw_size or cfg.batch_size
    rng = copy.deepcopy(algo.rng)
    if p1 == "uniform":  # step 1, written out: agent j's D draws from its own ring
        large_index = rng.integers(0, algo.replay.size[:, None], size=(n, d))
    else:
        large_index, _ = copy.deepcopy(algo.replay).sample(d, rng)
    large_agent = np.repeat(np.arange(n), d)
    large_index = large_index.reshape(-1)
    td, y = _reference_td(algo, large_agent, large_index)
    k = large_agent.size
    assert k == n * cfg.batch_size
    p2 = (td.double() + TD_EPS) / (td.double() + TD_EPS).sum(1, keepdim=True)

    sel = algo._select()
    assert sel.agent.shape == sel.index.shape == (n, cfg.batch_size)
    assert sel.weights is not None and sel.targets is not None
    key = large_agent * 10_000 + large_index
    for i in range(n):
        for b in range(cfg.batch_size):
            pos = np.flatnonzero(key == sel.agent[i, b] * 10_000 + sel.index[i, b])
            assert pos.size > 0, "a selected transition is not in the large batch"
            kk = int(pos[0])
            assert float(sel.weights[i, b]) == pytest.approx(1.0 / (k * float(p2[i, kk])), rel=1e-4)
            assert float(sel.targets[i, b]) == pytest.approx(float(y[i, kk]), rel=1e-5, abs=1e-5)
    # learners with different TD errors draw differently: the weights are not all alike
    assert float(sel.weights.std()) > 0.05
    if p1 == "td":  # each transition's priority is its owner's |TD| + eps
        leaves = algo.replay.tree.leaves(large_index, channel=large_agent)
        owner_td = td[large_agent, np.arange(k)].numpy()
        np.testing.assert_allclose(leaves, owner_td + TD_EPS, rtol=1e-4, atol=1e-6)


def test_lbs_downsampling_frequencies_follow_each_learners_own_td() -> None:
    """Over many draws, learner i picks transition k in proportion to its own |delta_ik| + eps.

    Caught: another learner's TD errors (exactly the weight test above, here in distribution).
    """
    algo = _prepared(LBS, td_eps=TD_EPS)
    original = algo.large_batch
    fixed = original()
    algo.large_batch = lambda: fixed  # type: ignore[method-assign]
    agent, index = (a.reshape(-1) for a in fixed)
    td, _ = _reference_td(algo, agent, index)
    p2 = ((td.double() + TD_EPS) / (td.double() + TD_EPS).sum(1, keepdim=True)).numpy()
    key = agent * 10_000 + index
    uniq, inverse = np.unique(key, return_inverse=True)
    expected = np.zeros((algo.n_learners, uniq.size))
    for i in range(algo.n_learners):
        np.add.at(expected[i], inverse, p2[i])
    counts = np.zeros_like(expected)
    for _ in range(200):
        sel = algo._select()
        for i in range(algo.n_learners):
            np.add.at(counts[i], np.searchsorted(uniq, sel.agent[i] * 10_000 + sel.index[i]), 1)
    freq = counts / counts.sum(1, keepdims=True)
    tv_own = 0.5 * np.abs(freq - expected).sum(1)
    tv_other = 0.5 * np.abs(freq - np.roll(expected, 1, axis=0)).sum(1)
    assert (tv_own < 0.08).all(), tv_own
    assert (tv_other > 2 * tv_own).all(), (tv_own, tv_other)


def _sgd_reference_step(
    algo: MultiAgentDQN, sel, targets: torch.Tensor, weights: torch.Tensor | None
) -> list:
    """Each learner's own SGD step on its selection, with torch's own gradient-norm clip."""
    cfg = algo.config
    nets = []
    t = algo.replay.gather(sel.agent, sel.index)
    for i in range(algo.n_learners):
        net = algo.online.single(i)
        opt = torch.optim.SGD(net.parameters(), cfg.learning_rate)
        q = net(torch.as_tensor(t.obs[i], dtype=torch.float32))
        q = q.gather(1, torch.as_tensor(t.actions[i])[:, None])[:, 0]
        w = torch.ones_like(q) if weights is None else weights[i]
        loss = (w * 0.5 * (q - targets[i]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.max_grad_norm)
        opt.step()
        nets.append(net)
    return nets


def _assert_learners_equal(algo: MultiAgentDQN, nets: list) -> None:
    for i, net in enumerate(nets):
        for got, want in zip(algo.online.single(i).parameters(), net.parameters(), strict=True):
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("clip", [0.05, 1000.0], ids=["clip-binds", "clip-loose"])
def test_lbs_update_matches_the_reference(clip: float) -> None:
    """Section 3's weighted step with the selection's own targets, one network at a time.

    Caught: weights dropped from the loss, targets recomputed instead of the selection's, clipping
    off or by the global norm, the loss scaled (sum over the batch instead of the mean).
    """
    algo = _prepared(LBS, optimizer="sgd", learning_rate=0.5, max_grad_norm=clip)
    sel = algo._select()
    nets = _sgd_reference_step(algo, sel, sel.targets, sel.weights)
    algo._update(sel)
    _assert_learners_equal(algo, nets)


def test_idqn_update_matches_the_reference() -> None:
    """IDQN: learner i on B of its own transitions, ``y = r + gamma (1 - done) max Q'_i(s')`` (section 2).

    Caught: online network in the target, gamma or the done mask dropped, another agent's buffer.
    """
    algo = _prepared(IDQN, optimizer="sgd", learning_rate=0.5, max_grad_norm=0.05)
    sel = algo._select()
    assert (sel.agent == np.arange(algo.n_agents)[:, None]).all()
    _, y = _reference_td(algo, sel.agent.reshape(-1), sel.index.reshape(-1))
    targets = torch.stack([y[i].reshape(algo.n_agents, -1)[i] for i in range(algo.n_learners)])
    nets = _sgd_reference_step(algo, sel, targets, None)
    algo._update(sel)
    _assert_learners_equal(algo, nets)


def test_target_sync_and_update_schedule() -> None:
    """Targets copied every ``target_update_interval`` env steps (Table 1); one learning step per
    ``train_freq`` env steps after ``learning_starts``, ``gradient_steps`` SGD steps each.

    Caught: the period ignored or off by a factor, target never synced, train_freq or gradient_steps
    ignored, warm-up ignored.
    """
    algo = make_algo(IDQN, learning_starts=20, target_update_interval=12, train_freq=4, gradient_steps=2)
    syncs: list[int] = []
    sync = algo.sync_target

    def spy() -> None:
        syncs.append(algo.steps_done)
        online = [p.detach().clone() for p in algo.online.parameters()]
        sync()
        for before, now, target in zip(
            online, algo.online.parameters(), algo.target.parameters(), strict=True
        ):
            assert torch.equal(now, before) and torch.equal(target, before)  # online copied into target

    algo.sync_target = spy  # type: ignore[method-assign]
    algo.learn(60, FakeRecorder())  # num_envs = 2: steps 2, 4, ..., 60
    assert syncs == [12, 24, 36, 48, 60]
    for got, want in zip(algo.target.parameters(), algo.online.parameters(), strict=True):
        assert torch.equal(got, want)  # synced at the last step
    # learning from step 20: 21 vector steps of 2 env steps, one learning step per 4 env steps -> 10 x 2
    assert algo.updates == 20
