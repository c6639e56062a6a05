"""Replay buffers: ring storage, uniform / rank-based / proportional sampling, weights.

The sum-tree under the proportional sampler is tested alone in ``test_sumtree.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from marlbench.replay import (
    AgentReplay,
    ProportionalSampler,
    RankSampler,
    ReplayBuffer,
    make_replay,
    priority_keys,
)

FIELDS = {"obs": ((2, 3), np.float32), "rewards": ((2,), np.float32), "t": ((), np.int64)}


def _batch(start: int, n: int) -> dict[str, np.ndarray]:
    t = np.arange(start, start + n)
    return {
        "obs": np.broadcast_to(t[:, None, None], (n, 2, 3)).astype(np.float32),
        "rewards": np.stack([t, -t], axis=1).astype(np.float32),
        "t": t,
    }


def _filled(kind: str, capacity: int, **kw) -> ReplayBuffer:
    buf = make_replay(kind, capacity, FIELDS, **kw)
    buf.add(_batch(0, capacity))
    return buf


def _frequencies(buf: ReplayBuffer, draws: int, batch: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    counts = np.zeros(buf.capacity)
    for _ in range(draws // batch):
        _, idx, _ = buf.sample(batch, rng)
        counts += np.bincount(idx.ravel(), minlength=buf.capacity)
    return counts


def _chi2_ok(counts: np.ndarray, probs: np.ndarray) -> bool:
    """Pearson chi-square goodness of fit at the 0.1 % level."""
    expected = probs * counts.sum()
    chi2 = ((counts - expected) ** 2 / expected).sum()
    return chi2 < stats.chi2.ppf(0.999, df=len(probs) - 1)


# --- storage -------------------------------------------------------------------------------------


def test_vectorized_add_writes_all_fields_and_wraps_around() -> None:
    buf = make_replay("uniform", 5, FIELDS)
    slots = buf.add(_batch(0, 3))
    np.testing.assert_array_equal(slots, [0, 1, 2])
    slots = buf.add(_batch(3, 4))  # 3, 4 fill the end, 5, 6 overwrite slots 0, 1
    np.testing.assert_array_equal(slots, [3, 4, 0, 1])
    assert (len(buf), buf.ptr, buf.total_added) == (5, 2, 7)
    np.testing.assert_array_equal(buf.data["t"], [5, 6, 2, 3, 4])
    np.testing.assert_array_equal(buf.data["rewards"][:, 1], [-5, -6, -2, -3, -4])
    assert (buf.data["obs"][0] == 5).all()
    # chronological views follow insertion order across the wrap
    np.testing.assert_array_equal(buf.recent(3)["t"], [4, 5, 6])
    chunks = [c["t"].tolist() for c in buf.iter_chronological(2)]
    assert chunks == [[2, 3], [4, 5], [6]]


def test_adding_more_than_capacity_keeps_the_newest() -> None:
    buf = make_replay("uniform", 4, FIELDS)
    buf.add(_batch(0, 1))
    buf.add(_batch(10, 6))
    assert sorted(buf.data["t"].tolist()) == [12, 13, 14, 15]
    np.testing.assert_array_equal(buf.recent(4)["t"], [12, 13, 14, 15])


def test_uniform_weights_are_ones_and_priorities_are_ignored() -> None:
    buf = _filled("uniform", 8)
    batch, idx, w = buf.sample(64, np.random.default_rng(0))
    assert w.dtype == np.float32 and (w == 1).all()
    np.testing.assert_array_equal(batch["t"], buf.data["t"][idx])
    buf.update_priorities(idx, np.full(64, 1e6))  # no-op
    counts = _frequencies(buf, 40_000, 1000)
    assert _chi2_ok(counts, np.full(8, 1 / 8))


def test_sample_from_empty_buffer_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        make_replay("rank", 4, FIELDS).sample(2, np.random.default_rng(0))


# --- prioritized sampling ------------------------------------------------------------------------


def test_proportional_frequencies_match_priorities() -> None:
    alpha = 0.6
    buf = _filled("proportional", 10, alpha=alpha, eps=0.0)
    td = np.arange(1, 11, dtype=np.float64)
    buf.update_priorities(np.arange(10), td)
    probs = td**alpha / (td**alpha).sum()
    counts = _frequencies(buf, 100_000, 1000)
    assert _chi2_ok(counts, probs)
    np.testing.assert_allclose(counts / counts.sum(), probs, atol=0.005)


def test_rank_frequencies_match_power_law_of_ranks() -> None:
    alpha = 0.7
    buf = _filled("rank", 10, alpha=alpha, eps=0.0, resort_fraction=0.0)
    td = np.array([5.0, 0.5, 9.0, 1.0, 3.0, 7.0, 0.1, 2.0, 8.0, 4.0])
    buf.update_priorities(np.arange(10), td)
    rank = np.empty(10)
    rank[np.argsort(-td)] = np.arange(1, 11)
    probs = rank**-alpha / (rank**-alpha).sum()
    counts = _frequencies(buf, 100_000, 1000)
    assert _chi2_ok(counts, probs)
    np.testing.assert_allclose(counts / counts.sum(), probs, atol=0.005)


def test_proportional_weights_by_hand() -> None:
    # priorities 1, 2, 3, 4 with alpha = 1: P = 0.1 .. 0.4; beta = 1, N = 4: w = 1 / (4 P)
    buf = _filled("proportional", 4, alpha=1.0, beta0=1.0, eps=0.0)
    buf.update_priorities(np.arange(4), np.array([1.0, 2.0, 3.0, 4.0]))
    _, idx, w = buf.sample(64, np.random.default_rng(3))
    assert 0 in idx  # the largest weight (slot 0) is in the batch, so normalisation is by 2.5
    by_hand = np.array([2.5, 1.25, 0.8333333, 0.625]) / 2.5
    np.testing.assert_allclose(w, by_hand[idx], rtol=1e-5)


def test_rank_weights_by_hand() -> None:
    # |delta| = 4, 1, 3, 2 -> ranks 1, 4, 2, 3; alpha = 1: P = (12, 3, 6, 4) / 25;
    # beta = 1, N = 4: w = 1 / (4 P) = 25/48, 25/12, 25/24, 25/16 -> / max = 0.25, 1, 0.5, 0.75
    buf = _filled("rank", 4, alpha=1.0, beta0=1.0, eps=0.0, resort_fraction=0.0)
    buf.update_priorities(np.arange(4), np.array([4.0, 1.0, 3.0, 2.0]))
    _, idx, w = buf.sample(64, np.random.default_rng(3))
    assert 1 in idx
    np.testing.assert_allclose(w, np.array([0.25, 1.0, 0.5, 0.75])[idx], rtol=1e-6)


def test_beta_anneals_from_beta0_to_one_and_changes_weights() -> None:
    buf = _filled("rank", 4, alpha=1.0, beta0=0.5, eps=0.0, resort_fraction=0.0)
    buf.update_priorities(np.arange(4), np.array([4.0, 1.0, 3.0, 2.0]))
    assert buf.beta == 0.5
    _, idx, w_half = buf.sample(64, np.random.default_rng(3))
    np.testing.assert_allclose(w_half, np.sqrt(np.array([0.25, 1.0, 0.5, 0.75]))[idx], rtol=1e-6)
    buf.anneal_beta(0.5)
    assert buf.beta == pytest.approx(0.75)
    buf.anneal_beta(3.0)
    assert buf.beta == 1.0


@pytest.mark.parametrize("kind", ["rank", "proportional"])
def test_update_priorities_changes_later_frequencies(kind: str) -> None:
    buf = _filled(kind, 8, eps=0.0, resort_fraction=0.0) if kind == "rank" else _filled(kind, 8, eps=0.0)
    buf.update_priorities(np.arange(8), np.ones(8))
    before = _frequencies(buf, 20_000, 1000)
    buf.update_priorities(np.array([5]), np.array([100.0]))
    after = _frequencies(buf, 20_000, 1000)
    assert after[5] > 1.5 * before[5]
    assert after[5] == after.max()


@pytest.mark.parametrize("kind", ["rank", "proportional"])
def test_new_transitions_enter_at_max_priority(kind: str) -> None:
    buf = make_replay(kind, 8, FIELDS, eps=0.0, **({"resort_fraction": 0.0} if kind == "rank" else {}))
    buf.add(_batch(0, 4))
    buf.update_priorities(np.arange(4), np.array([0.1, 0.2, 7.0, 0.3]))
    buf.add(_batch(4, 1))  # slot 4
    if kind == "proportional":
        sampler = buf.sampler
        assert isinstance(sampler, ProportionalSampler)
        sampler._flush()
        assert sampler.tree.leaves(np.array([[4]]))[0, 0] == pytest.approx(7.0**sampler.alpha)
    else:
        sampler = buf.sampler
        assert isinstance(sampler, RankSampler)
        assert sampler.keys[0, 4] == priority_keys(np.array([7.0]))[0]
    counts = _frequencies(buf, 20_000, 1000)
    assert counts[4] > counts[[0, 1, 3]].max()


def test_rank_lazy_order_counts_new_slots_first_and_skips_overwritten_ones() -> None:
    # Sorted once with |delta| = 4, 1, 3, 2 (order: slots 0, 2, 3, 1); then slot 0 is overwritten.
    # Without a re-sort the new slot 0 takes rank 1 and its old rank 1 becomes a hole, so the
    # valid ranks are 1, 3, 4, 5 (slots 0, 2, 3, 1): P = (1, 1/3, 1/4, 1/5) / (107/60).
    buf = _filled("rank", 4, alpha=1.0, beta0=1.0, eps=0.0, resort_fraction=0.0)
    buf.update_priorities(np.arange(4), np.array([4.0, 1.0, 3.0, 2.0]))
    buf.sample(1, np.random.default_rng(0))  # sorts
    assert isinstance(buf.sampler, RankSampler)
    buf.sampler.resort_fraction = 10.0  # never re-sort from now on
    buf.add(_batch(100, 1))
    probs = np.array([60, 12, 20, 15]) / 107  # by slot
    counts = _frequencies(buf, 50_000, 500)
    assert _chi2_ok(counts, probs)
    _, idx, w = buf.sample(64, np.random.default_rng(1))
    raw = 1 / (4 * probs)
    assert 1 in idx
    np.testing.assert_allclose(w, (raw / raw.max())[idx], rtol=1e-6)


def test_rank_resorts_once_enough_has_changed() -> None:
    buf = _filled("rank", 100, alpha=1.0, eps=0.0, resort_fraction=0.05)
    buf.update_priorities(np.arange(100), np.linspace(1, 2, 100))
    rng = np.random.default_rng(0)
    buf.sample(8, rng)
    sampler = buf.sampler
    assert isinstance(sampler, RankSampler)
    first = sampler._order[0].copy()
    buf.update_priorities(np.array([0, 1, 2]), np.array([50.0, 60.0, 70.0]))  # 3 % changed: no sort
    buf.sample(8, rng)
    np.testing.assert_array_equal(sampler._order[0], first)
    buf.update_priorities(np.array([3, 4, 5]), np.array([80.0, 90.0, 99.0]))  # 6 % changed: sort
    buf.sample(8, rng)
    np.testing.assert_array_equal(sampler._order[0][:6], [5, 4, 3, 2, 1, 0])


@pytest.mark.parametrize("kind", ["uniform", "rank", "proportional"])
def test_channels_sample_independent_minibatches(kind: str) -> None:
    buf = make_replay(kind, 6, FIELDS, channels=3, eps=0.0)
    buf.add(_batch(0, 6))
    batch, idx, w = buf.sample(50, np.random.default_rng(0))
    assert idx.shape == (3, 50) and w.shape == (3, 50)
    assert batch["obs"].shape == (3, 50, 2, 3)
    np.testing.assert_array_equal(batch["t"], buf.data["t"][idx])
    if kind != "uniform":
        # raise slot 2 in channel 1 only: only channel 1's mini-batches favour it
        td = np.ones((3, 6))
        td[1, 2] = 1000.0
        buf.update_priorities(np.tile(np.arange(6), (3, 1)), td)
        counts = np.zeros((3, 6))
        rng = np.random.default_rng(1)
        for _ in range(20):
            _, idx, _ = buf.sample(300, rng)
            for c in range(3):
                counts[c] += np.bincount(idx[c], minlength=6)
        share = counts[:, 2] / counts.sum(1)
        assert share[1] > 0.3 and share[0] < 0.25 and share[2] < 0.25


def test_make_replay_defaults_follow_schaul() -> None:
    rank = make_replay("rank", 4, FIELDS).sampler
    prop = make_replay("proportional", 4, FIELDS).sampler
    assert (rank.alpha, rank.beta0) == (0.7, 0.5)
    assert (prop.alpha, prop.beta0) == (0.6, 0.4)
    with pytest.raises(ValueError, match="unknown replay kind"):
        make_replay("bogus", 4, FIELDS)


@pytest.mark.parametrize("kind", ["uniform", "rank", "proportional"])
def test_save_load_round_trip_gives_identical_samples(kind: str, tmp_path) -> None:
    buf = make_replay(kind, 8, FIELDS)
    buf.add(_batch(0, 11))
    buf.update_priorities(np.array([1, 4, 6]), np.array([3.0, 0.5, 9.0]))
    buf.save(tmp_path / "replay.npz")
    other = make_replay(kind, 8, FIELDS)
    other.load(tmp_path / "replay.npz")
    assert (len(other), other.ptr, other.total_added) == (8, 3, 11)
    a = buf.sample(32, np.random.default_rng(5))
    b = other.sample(32, np.random.default_rng(5))
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(a[2], b[2])
    np.testing.assert_array_equal(a[0]["obs"], b[0]["obs"])


# --- per-agent replay (the DQN family) -----------------------------------------------------------


def _agent_replay(sampler: str) -> AgentReplay:
    replay = AgentReplay(2, 4, (1,), np.float32, sampler=sampler, eps=0.5)
    obs = np.arange(6, dtype=np.float32).reshape(3, 2, 1)  # 3 env copies x 2 agents
    alive = np.array([[True, True], [True, False], [True, True]])  # agent 1 absent from env 1
    replay.add(obs, np.zeros((3, 2), np.int64), np.zeros((3, 2)), obs, np.zeros((3, 2)), alive)
    return replay


def test_agent_replay_uniform_weights_are_ones_and_priorities_are_ignored() -> None:
    replay = _agent_replay("uniform")
    assert replay.size.tolist() == [3, 2]
    index, weights = replay.sample(1000, np.random.default_rng(0))
    assert weights.dtype == np.float32 and (weights == 1).all()
    assert set(index[0].tolist()) == {0, 1, 2} and set(index[1].tolist()) == {0, 1}
    replay.update_priorities(np.array([0]), np.array([0]), np.array([1e6]))  # no-op
    assert replay.tree is None


def test_agent_replay_adds_eps_to_td_errors_and_weights_by_hand() -> None:
    replay = _agent_replay("proportional")
    # new transitions enter at the agent's maximum priority (1 to start with)
    np.testing.assert_array_equal(replay.tree.total(), [3.0, 2.0])
    replay.update_priorities(np.array([0, 0, 1]), np.array([0, 2, 1]), np.array([-1.5, 0.0, 3.5]))
    # |TD| + eps: agent 0 holds [2.0, 1.0, 0.5], agent 1 holds [1.0, 4.0]
    np.testing.assert_array_equal(
        replay.tree.leaves(np.array([[0, 1, 2], [0, 1, 1]])), [[2, 1, 0.5], [1, 4, 4]]
    )
    np.testing.assert_array_equal(replay.max_priority, [2.0, 4.0])
    index, weights = replay.sample(20_000, np.random.default_rng(0))
    np.testing.assert_allclose(
        np.bincount(index[0], minlength=3) / 20_000, [2 / 3.5, 1 / 3.5, 0.5 / 3.5], atol=0.01
    )
    np.testing.assert_allclose(np.bincount(index[1], minlength=2) / 20_000, [0.2, 0.8], atol=0.01)
    # w = 1 / (size * P) normalised per agent: agent 0 -> 1/p normalised by 1/0.5
    by_slot = {int(i): float(w) for i, w in zip(index[0], weights[0], strict=True)}
    assert by_slot == pytest.approx({0: 0.25, 1: 0.5, 2: 1.0})
    assert {int(i): float(w) for i, w in zip(index[1], weights[1], strict=True)} == pytest.approx(
        {0: 1.0, 1: 0.25}
    )
    replay.add(
        np.ones((1, 2, 1)), np.zeros((1, 2), np.int64), np.zeros((1, 2)), np.ones((1, 2, 1)), np.zeros((1, 2))
    )
    np.testing.assert_array_equal(replay.tree.leaves(np.array([[3], [2]])), [[2.0], [4.0]])  # at the maximum
