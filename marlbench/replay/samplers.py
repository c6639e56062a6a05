"""How a replay buffer draws: uniform, proportional (sum-tree) and rank-based samplers.

The priority convention, the same for every buffer in marlbench: callers hand in TD errors
``delta`` (any sign) and the buffer turns them into priorities ``p_i = |delta_i| + eps``; ``eps``
belongs to the buffer. ``sample`` returns slots and importance weights; the uniform sampler's
weights are ones and its ``update`` does nothing, so a training loop never asks which one it has.

* :class:`UniformSampler`: every stored transition equally likely.
* :class:`RankSampler`: rank-based prioritized replay (Schaul et al. 2016, used by paper 000, eq. 7):
  ``p_i = 1 / rank(i)`` where transitions are ranked by ``|delta_i|``, ``P(i) = p_i^alpha / sum_k p_k^alpha``.
* :class:`ProportionalSampler`: proportional prioritized replay over a :class:`~marlbench.sumtree.SumTree`:
  ``p_i = |delta_i| + eps``, ``P(i) = p_i^alpha / sum_k p_k^alpha``.

Importance weights follow paper 000 eq. 7, ``w_i = (1/N * 1/P(i))^beta``, normalised by the largest
weight of the sampled mini-batch. Paper 000 calls ``N`` the batch size where Schaul et al. use the
replay size; after normalisation by the maximum the constant cancels, so both read the same.
New transitions enter at the largest priority seen so far, so each is replayed at least once soon.

Sampling is array work throughout: stratified draws (one per equal-probability segment, as in
Schaul et al.), ``np.searchsorted`` over a precomputed power-law CDF for ranks, and a level-by-level
vectorised descent of the sum-tree. Rank order is refreshed lazily (see :class:`RankSampler`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import numpy as np

from marlbench.sumtree import SumTree

DEFAULT_ALPHA = {"rank": 0.7, "proportional": 0.6}
"""Schaul et al. 2016, Table 3 (the values the issue names for paper 000)."""
DEFAULT_BETA0 = {"rank": 0.5, "proportional": 0.4}


class Sampler(Protocol):
    """How a :class:`ReplayBuffer` draws slots. Shapes carry the channel axis ``K`` first."""

    channels: int
    beta: float

    def added(self, slots: np.ndarray) -> None:
        """``slots`` (in write order) were just (over)written with new transitions."""

    def sample(self, batch_size: int, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``(slots [K, B], importance weights [K, B] float32)`` among the first ``size`` slots."""

    def update(self, slots: np.ndarray, td_errors: np.ndarray) -> None:
        """New priorities from ``|td_errors|`` (``[K, B]``)."""

    def state(self) -> dict[str, np.ndarray]: ...

    def load_state(self, state: Mapping[str, np.ndarray]) -> None: ...


def importance_weights(probs: np.ndarray, size: int, beta: float) -> np.ndarray:
    """``w = (size * P)^-beta`` normalised by each channel's largest weight (paper 000, eq. 7)."""
    w = (size * probs) ** (-beta)
    return (w / w.max(axis=-1, keepdims=True)).astype(np.float32)


def _stratified(batch_size: int, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Uniform draws in [0, 1), one in each of ``batch_size`` equal segments (last axis)."""
    return (np.arange(batch_size) + rng.random((*shape, batch_size))) / batch_size


class UniformSampler:
    """Uniform replay: independent uniform slots for each channel; weights are ones."""

    def __init__(self, capacity: int, channels: int = 1) -> None:
        self.capacity, self.channels = capacity, channels
        self.beta = 1.0

    def added(self, slots: np.ndarray) -> None:
        pass

    def sample(self, batch_size: int, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        slots = rng.integers(0, size, size=(self.channels, batch_size))
        return slots, np.ones((self.channels, batch_size), dtype=np.float32)

    def update(self, slots: np.ndarray, td_errors: np.ndarray) -> None:
        pass

    def state(self) -> dict[str, np.ndarray]:
        return {}

    def load_state(self, state: Mapping[str, np.ndarray]) -> None:
        pass


class ProportionalSampler:
    """Proportional prioritized replay: ``P(i) = p_i^alpha / sum_k p_k^alpha`` with ``p_i = |delta_i| + eps``.

    Leaves hold ``p_i^alpha``. New transitions are written at the largest priority seen so far; their
    parent sums are recomputed in one vectorised pass at the next ``sample``/``update`` (adding is
    ``O(E)``, not ``O(E log N)`` Python work).
    """

    def __init__(
        self, capacity: int, alpha: float = 0.6, beta0: float = 0.4, eps: float = 1e-6, channels: int = 1
    ) -> None:
        self.capacity, self.channels = capacity, channels
        self.alpha, self.beta0, self.beta, self.eps = alpha, beta0, beta0, eps
        self.tree = SumTree(capacity, channels)
        self.max_priority = np.ones(channels, dtype=np.float64)
        self._pending: list[np.ndarray] = []

    def _flush(self) -> None:
        if self._pending:
            slots = np.concatenate(self._pending)
            self._pending.clear()
            self.tree.propagate(np.broadcast_to(slots, (self.channels, slots.size)))

    def added(self, slots: np.ndarray) -> None:
        values = np.repeat((self.max_priority**self.alpha)[:, None], slots.size, axis=1)
        self.tree.set(np.broadcast_to(slots, (self.channels, slots.size)), values, propagate=False)
        self._pending.append(np.asarray(slots))

    def sample(self, batch_size: int, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        self._flush()
        total = self.tree.total()
        mass = _stratified(batch_size, (self.channels,), rng) * total[:, None]
        slots = self.tree.find(mass)  # never a zero leaf, so never a slot past ``size``
        probs = self.tree.leaves(slots) / total[:, None]
        return slots, importance_weights(probs, size, self.beta)

    def update(self, slots: np.ndarray, td_errors: np.ndarray) -> None:
        self._flush()
        priorities = np.abs(td_errors).astype(np.float64) + self.eps
        self.max_priority = np.maximum(self.max_priority, priorities.max(axis=1))
        self.tree.set(slots, priorities**self.alpha)

    def state(self) -> dict[str, np.ndarray]:
        self._flush()
        return {"tree": self.tree.tree, "max_priority": self.max_priority}

    def load_state(self, state: Mapping[str, np.ndarray]) -> None:
        self.tree.tree[...] = state["tree"]
        self.max_priority = np.array(state["max_priority"], dtype=np.float64)


# Priorities are ranked through 16-bit keys of log2(p): resolution 2^(1/1024) (0.07 %), range
# 2^-44 .. 2^20. numpy sorts 16-bit keys with a radix sort (O(N), ~6x faster than argsort of floats).
_KEY_SCALE = 1024.0
_KEY_TOP = 20.0


def priority_keys(priorities: np.ndarray) -> np.ndarray:
    """uint16 sort keys: smaller key = larger priority."""
    keys = np.rint((_KEY_TOP - np.log2(priorities)) * _KEY_SCALE)
    return np.clip(keys, 0, 65535).astype(np.uint16)


class RankSampler:
    """Rank-based prioritized replay (paper 000 eq. 7; Schaul et al. 2016, sec. 3.3).

    ``P(rank r) = r^-alpha / sum_{k<=N} k^-alpha`` is sampled from a CDF precomputed once for the full
    capacity (its prefix serves every fill level) with ``np.searchsorted``; the rank-to-slot map is
    the order of the priorities at the last sort.

    Sorting a million priorities on every learning step would cost more than the learning step, so,
    like the heap of Schaul et al., the order is refreshed lazily: it is re-sorted when the number of
    transitions added or re-prioritised since the last sort exceeds ``resort_fraction`` of the buffer
    (``0`` re-sorts at every sample where anything changed). Between sorts, transitions added since
    take the top ranks (newest first: they carry the maximum priority), slots overwritten since the
    sort become holes that are rejected and redrawn, and re-prioritised transitions keep their old
    rank. The importance weights always use the probability the sample was actually drawn with
    (ranks of the order in use, normalised over the valid ranks), so the correction stays exact.
    """

    def __init__(
        self,
        capacity: int,
        alpha: float = 0.7,
        beta0: float = 0.5,
        eps: float = 1e-6,
        channels: int = 1,
        resort_fraction: float = 0.02,
    ) -> None:
        self.capacity, self.channels = capacity, channels
        self.alpha, self.beta0, self.beta, self.eps = alpha, beta0, beta0, eps
        self.resort_fraction = resort_fraction
        # ranks run past the capacity while overwritten slots still hold a rank (at most 2x)
        self._rank_p = np.arange(1, 2 * capacity + 1, dtype=np.float64) ** (-alpha)
        self._cdf = np.cumsum(self._rank_p)
        self.keys = np.zeros((channels, capacity), dtype=np.uint16)
        self.max_priority = np.ones(channels, dtype=np.float64)
        self._order: list[np.ndarray] = [np.zeros(0, dtype=np.int64) for _ in range(channels)]
        self._pos = np.full((channels, capacity), -1, dtype=np.int64)
        self._stamp = np.zeros(capacity, dtype=np.int64)  # write count after each slot's last write
        self._writes = 0
        self._last_slot = -1
        self._sorted_at = np.zeros(channels, dtype=np.int64)
        self._changed = np.zeros(channels, dtype=np.int64)

    def added(self, slots: np.ndarray) -> None:
        self.keys[:, slots] = priority_keys(self.max_priority)[:, None]
        self._stamp[slots] = self._writes + 1 + np.arange(slots.size)
        self._writes += slots.size
        self._last_slot = int(slots[-1])

    def _fresh(self, channel: int) -> np.ndarray:
        """Slots written since this channel's last sort, newest first."""
        k = min(self._writes - int(self._sorted_at[channel]), self.capacity)
        return (self._last_slot - np.arange(k)) % self.capacity

    def resort(self, channel: int, size: int) -> None:
        """Rank the first ``size`` slots of ``channel`` by their current priority."""
        order = np.argsort(self.keys[channel, :size], kind="stable")
        # no reset needed: every slot < size is overwritten, slots >= size were never ranked
        self._order[channel] = order
        self._pos[channel, order] = np.arange(size)
        self._sorted_at[channel] = self._writes
        self._changed[channel] = 0

    def _sample_channel(
        self, c: int, batch_size: int, size: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        fresh = self._fresh(c)
        stale = self._changed[c] + fresh.size
        if self._order[c].size == 0 or stale > self.resort_fraction * size:
            self.resort(c, size)
            fresh = self._fresh(c)
        order = self._order[c]
        k = fresh.size
        n_ranks = k + order.size
        hole_pos = self._pos[c, fresh]
        holes = hole_pos[hole_pos >= 0]
        mass_total = self._cdf[n_ranks - 1] - self._rank_p[k + holes].sum()
        cdf = self._cdf[:n_ranks]
        ranks = np.searchsorted(cdf, _stratified(batch_size, (), rng) * cdf[-1], side="right")
        ranks = np.minimum(ranks, n_ranks - 1)
        if holes.size:
            sorted_at = self._sorted_at[c]
            for _ in range(1000):
                bad = ranks >= k
                bad[bad] = self._stamp[order[ranks[bad] - k]] > sorted_at  # overwritten since the sort
                if not bad.any():
                    break
                draws = rng.random(int(bad.sum())) * cdf[-1]
                ranks[bad] = np.minimum(np.searchsorted(cdf, draws, side="right"), n_ranks - 1)
            else:  # pragma: no cover - only with nearly every ranked slot overwritten
                raise RuntimeError("rank sampler could not avoid overwritten slots")
        if k == 0:
            slots = order[ranks]
        else:
            slots = np.where(ranks < k, fresh[np.minimum(ranks, k - 1)], order[np.maximum(ranks - k, 0)])
        probs = self._rank_p[ranks] / mass_total
        return slots, probs

    def sample(self, batch_size: int, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        out = [self._sample_channel(c, batch_size, size, rng) for c in range(self.channels)]
        slots = np.stack([s for s, _ in out])
        probs = np.stack([p for _, p in out])
        return slots, importance_weights(probs, size, self.beta)

    def update(self, slots: np.ndarray, td_errors: np.ndarray) -> None:
        priorities = np.abs(td_errors).astype(np.float64) + self.eps
        self.max_priority = np.maximum(self.max_priority, priorities.max(axis=1))
        rows = np.arange(self.channels)[:, None]
        self.keys[rows, slots] = priority_keys(priorities)
        self._changed += slots.shape[1]

    def state(self) -> dict[str, np.ndarray]:
        return {"keys": self.keys, "max_priority": self.max_priority}

    def load_state(self, state: Mapping[str, np.ndarray]) -> None:
        self.keys[...] = state["keys"]
        self.max_priority = np.array(state["max_priority"], dtype=np.float64)
        self._order = [np.zeros(0, dtype=np.int64) for _ in range(self.channels)]  # re-sort on next sample
        self._pos[...] = -1
        self._stamp[...] = 0
        self._writes = 0
        self._sorted_at[...] = 0
        self._changed[...] = 0
