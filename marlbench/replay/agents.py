"""Per-agent replay for the DQN family of paper 004: one ring per agent, in arrays ``[N, capacity, ...]``.

Why not :class:`~marlbench.replay.ReplayBuffer`: that buffer stores *joint* transitions (one slot
holds every agent's observation and action, as a centralized critic needs) behind one write
pointer. Paper 004's agents each own a buffer (section 2): agent ``j`` writes only the steps it was
alive for, so the rings fill at different rates and need one pointer and one size per agent, and
LBS draws from one agent's buffer, from all of them (the large batch) or from their union
(IDQN-shared-buffer). What the two share is the rest: the priority convention of
:mod:`marlbench.replay.samplers` (callers give TD errors, the buffer adds ``eps``; uniform weights
are ones and uniform ``update_priorities`` does nothing) and the :class:`~marlbench.sumtree.SumTree`
(one channel per agent).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from marlbench.errors import ConfigError
from marlbench.sumtree import SumTree


class Transitions(NamedTuple):
    """A gathered batch; every array has the leading shape of the indices used to gather it."""

    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_obs: np.ndarray
    terminated: np.ndarray


class AgentReplay:
    """One preallocated ring buffer per agent, stored as arrays ``[n_agents, capacity, ...]``.

    Agent ``j``'s transitions are written only to row ``j``. ``sampler`` is ``uniform`` or
    ``proportional``: the latter keeps a sum-tree channel per agent holding ``p = |delta| + eps``
    for every stored transition (new ones get that agent's running maximum, the PER convention of
    Schaul et al. 2016) and :meth:`sample` draws by it (``alpha = 1``, as LBS's ``p1`` is defined).
    """

    def __init__(
        self,
        n_agents: int,
        capacity: int,
        obs_shape: tuple[int, ...],
        obs_dtype: np.dtype | type = np.uint8,
        sampler: str = "uniform",
        eps: float = 1e-6,
    ) -> None:
        if sampler not in ("uniform", "proportional"):
            raise ValueError(f"unknown sampler '{sampler}'; choose uniform or proportional")
        self.n_agents = n_agents
        self.capacity = capacity
        self.eps = eps
        self.obs = np.zeros((n_agents, capacity, *obs_shape), dtype=obs_dtype)
        self.next_obs = np.zeros_like(self.obs)
        self.actions = np.zeros((n_agents, capacity), dtype=np.int64)
        self.rewards = np.zeros((n_agents, capacity), dtype=np.float32)
        self.terminated = np.zeros((n_agents, capacity), dtype=np.float32)
        self.ptr = np.zeros(n_agents, dtype=np.int64)
        self.size = np.zeros(n_agents, dtype=np.int64)
        self.tree = SumTree(capacity, n_agents) if sampler == "proportional" else None
        self.max_priority = np.ones(n_agents, dtype=np.float64)

    def _store(self, values: np.ndarray) -> np.ndarray:
        if self.obs.dtype == np.uint8 and not (
            np.all(values >= 0) and np.all(values <= 255) and np.array_equal(values, np.round(values))
        ):
            raise ConfigError(
                "observations are not integers in [0, 255] and cannot be stored as uint8",
                "use --set obs_storage=float32",
            )
        return values

    def add(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        next_obs: np.ndarray,
        terminated: np.ndarray,
        alive: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Store one vectorized step (arrays ``[E, N, ...]``); only ``alive`` agents' transitions.

        Returns the ``(agent, position)`` of every stored transition.
        """
        mask = np.ones(actions.shape, dtype=bool) if alive is None else np.asarray(alive, dtype=bool)
        agent, env = np.nonzero(mask.T)  # grouped by agent, envs in order within an agent
        if agent.size == 0:
            return agent, agent
        counts = np.bincount(agent, minlength=self.n_agents)
        first = np.cumsum(counts) - counts
        rank = np.arange(agent.size) - first[agent]
        pos = (self.ptr[agent] + rank) % self.capacity
        self.obs[agent, pos] = self._store(obs[env, agent])
        self.next_obs[agent, pos] = self._store(next_obs[env, agent])
        self.actions[agent, pos] = actions[env, agent]
        self.rewards[agent, pos] = rewards[env, agent]
        self.terminated[agent, pos] = terminated[env, agent]
        self.ptr = (self.ptr + counts) % self.capacity
        self.size = np.minimum(self.size + counts, self.capacity)
        if self.tree is not None:
            self.tree.set(pos, self.max_priority[agent], channel=agent)
        return agent, pos

    def gather(self, agent: np.ndarray, index: np.ndarray) -> Transitions:
        return Transitions(
            self.obs[agent, index],
            self.actions[agent, index],
            self.rewards[agent, index],
            self.next_obs[agent, index],
            self.terminated[agent, index],
        )

    def sample(self, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``(positions, weights)``, each ``[n_agents, count]``: row ``j`` drawn from agent ``j``'s buffer.

        Uniform: weights are ones. Proportional: ``P_j(i) = p_i / sum_k p_k`` over agent ``j``'s
        buffer and weights ``w = 1 / (size_j P_j(i))`` normalised per row (eq. 7 with ``beta = 1``).
        """
        if self.tree is None:
            index = rng.integers(0, self.size[:, None], size=(self.n_agents, count))
            return index, np.ones(index.shape, dtype=np.float32)
        total = self.tree.total()
        index = self.tree.find(rng.random((self.n_agents, count)) * total[:, None])
        probs = self.tree.leaves(index) / total[:, None]
        weights = 1.0 / (self.size[:, None] * probs)
        return index, (weights / weights.max(axis=1, keepdims=True)).astype(np.float32)

    def sample_union(self, rows: int, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``(agent, position)``, each ``[rows, count]``, uniform over all agents' transitions together."""
        ends = np.cumsum(self.size)
        flat = rng.integers(0, ends[-1], size=(rows, count))
        agent = np.searchsorted(ends, flat, side="right")
        return agent, flat - (ends[agent] - self.size[agent])

    def update_priorities(self, agent: np.ndarray, index: np.ndarray, td_errors: np.ndarray) -> None:
        """Priorities ``|td_errors| + eps`` for the transitions ``(agent, index)``; uniform: nothing."""
        if self.tree is None:
            return
        priorities = np.abs(np.asarray(td_errors, dtype=np.float64)) + self.eps
        self.tree.set(index, priorities, channel=agent)
        np.maximum.at(self.max_priority, agent, priorities)
