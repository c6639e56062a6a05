"""One multi-channel sum-tree: ``K`` binary sum-trees over ``capacity`` leaves, in one array.

The structure behind proportional prioritized replay (Schaul et al. 2016, sec. 3.3, "sum-tree"):
sampling leaf ``j`` with probability ``v_j / sum_k v_k`` is a descent from the root that finds the
leaf whose prefix interval ``[prefix(j), prefix(j + 1))`` holds a uniform draw in ``[0, total)``.

A *channel* is one independent tree: one per agent (the DQN family's per-agent buffers, MADDPG's
per-agent priorities) or per seed. All channels live in one array ``[K, 2 * P]`` (``P`` the next
power of two of ``capacity``; node ``n`` has children ``2n`` and ``2n + 1``, leaves occupy
``[P, 2P)``), so every operation is one numpy pass over all channels: updates recompute the
ancestors level by level, searches descend one level per numpy step.

Leaf indices come as an array ``idx`` with one of two channel conventions:

* ``channel=None``: ``idx`` is ``[K, M]`` and row ``c`` addresses channel ``c``;
* ``channel`` given: an integer array broadcastable with ``idx``, naming each entry's channel
  (e.g. the owning agent of each transition of a flat batch).
"""

from __future__ import annotations

import numpy as np


class SumTree:
    """``channels`` sum-trees over ``capacity`` leaves each (see the module docstring)."""

    def __init__(self, capacity: int, channels: int = 1) -> None:
        if capacity < 1 or channels < 1:
            raise ValueError("a sum-tree needs capacity >= 1 and channels >= 1")
        self.capacity, self.channels = capacity, channels
        self.depth = max(1, int(np.ceil(np.log2(max(capacity, 2)))))
        self.n_leaves = 1 << self.depth
        self.tree = np.zeros((channels, 2 * self.n_leaves), dtype=np.float64)
        self._row = (np.arange(channels) * 2 * self.n_leaves)[:, None]

    def _flat(self, idx: np.ndarray, channel: np.ndarray | None) -> np.ndarray:
        """Positions of leaves ``idx`` in ``self.tree.reshape(-1)``."""
        row = self._row if channel is None else np.asarray(channel, dtype=np.int64) * 2 * self.n_leaves
        return row + self.n_leaves + np.asarray(idx, dtype=np.int64)

    def total(self) -> np.ndarray:
        """``[K]``: the sum of all leaves of each channel."""
        return self.tree[:, 1].copy()

    def leaves(self, idx: np.ndarray, channel: np.ndarray | None = None) -> np.ndarray:
        """The values of leaves ``idx``."""
        return self.tree.reshape(-1)[self._flat(idx, channel)]

    def set(
        self, idx: np.ndarray, values: np.ndarray, channel: np.ndarray | None = None, propagate: bool = True
    ) -> None:
        """Set leaves ``idx`` to ``values``; ``propagate=False`` defers the parent sums.

        With a repeated leaf the last value wins (numpy's assignment order), and the sums above it
        are recomputed from the final leaf values, so duplicates are harmless.
        """
        flat = self.tree.reshape(-1)
        flat[self._flat(idx, channel)] = values
        if propagate:
            self.propagate(idx, channel)

    def propagate(self, idx: np.ndarray, channel: np.ndarray | None = None) -> None:
        """Recompute the ancestors of leaves ``idx``, bottom-up, all channels in one pass per level."""
        flat = self.tree.reshape(-1)
        width = 2 * self.n_leaves
        leaf = self._flat(idx, channel)
        row = leaf - leaf % width
        nodes = np.unique(row + (leaf - row) // 2)
        row = nodes - nodes % width
        local = nodes - row
        for _ in range(self.depth):
            flat[row + local] = flat[row + 2 * local] + flat[row + 2 * local + 1]
            local //= 2

    def find(self, mass: np.ndarray) -> np.ndarray:
        """Leaf ``j`` with ``prefix(j) <= mass < prefix(j + 1)`` for each query (``[K, M]``, row = channel).

        The descent never enters a subtree of sum zero, so a zero leaf is never returned unless the
        whole channel is zero (then leaf 0); a ``mass`` at or above the total (rounding) returns the
        last positive leaf.
        """
        flat = self.tree.reshape(-1)
        mass = np.asarray(mass, dtype=np.float64).copy()
        node = np.ones(mass.shape, dtype=np.int64)
        for _ in range(self.depth):
            left = flat[self._row + 2 * node]
            right = flat[self._row + 2 * node + 1]
            go_right = (mass >= left) & (right > 0)
            mass = np.where(go_right, mass - left, np.minimum(mass, left))
            node = 2 * node + go_right
        return node - self.n_leaves
