"""Native batched MPE ``simple_spread``: cooperative navigation of Lowe et al. 2017 (paper 000's ref. [3]),
the environment paper 001's CN-V1 is built on (section 5.1, "a similar environment introduced in [19]").

Our own array implementation of mpe2's ``simple_spread_v3`` (not its code): ``E`` copies stepped as
``[E, N, ...]`` numpy arrays, with the same dynamics, observations, rewards, episode length, action
spaces and seeding as mpe2 1.x, so results stay comparable with the literature. The particle core of
:mod:`marlbench.envs.particles.core` is not reused: its physics (no contacts, speed cap, velocity
updated before the position) differ from MPE's. ``tests/test_native_spread.py`` checks every array
against mpe2 from equal states.

What mpe2 does each step, for agents of radius 0.15 and unit mass (``DT = 0.1``, damping 0.25)::

    u_i = 5 * (a_i[2] - a_i[1], a_i[4] - a_i[3])        continuous a_i in [0, 1]^5 (a_i[0] unused)
    u_i = 5 * (0,0) / (-1,0) / (+1,0) / (0,-1) / (0,+1) discrete a_i = 0..4
    f_i = u_i + sum_{j != i} 100 * (p_i - p_j) / d_ij * k * log(1 + exp(-(d_ij - 0.3) / k)),  k = 1e-3
    p_i <- p_i + v_i * DT ;  v_i <- 0.75 * v_i + f_i * DT   (no speed cap; landmarks do not collide)

and, on the new positions, agent ``i``'s reward::

    r_i = (1 - local_ratio) * ( - sum_l min_j |p_j - l| ) + local_ratio * ( - #{j != i : d_ij < 0.3} )

The observation is ``[v_i, p_i, l_1 - p_i, ..., l_N - p_i, p_j - p_i (j != i, index order),
c_j (j != i)]`` in float32, where the messages ``c_j`` are always 2 zeros (spread agents are
silent); ``state()`` is the concatenation of all agents' observations. Episodes are truncated after
``max_cycles`` steps, never terminated. Every copy has its own ``numpy`` generator seeded like
mpe2's (``gymnasium.utils.seeding.np_random``) and draws the agents' then the landmarks' positions
uniformly in ``[-1, 1]^2`` in mpe2's order, so a copy reset with seed ``s`` starts exactly where
mpe2 reset with ``s`` starts, and later (unseeded) resets continue the same stream.

Floating-point operations follow mpe2's order (contact forces summed in partner order after the
action force, landmark distances subtracted one by one), so trajectories match bit for bit on the
same numpy build, not merely to rounding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding
from pettingzoo import ParallelEnv

from marlbench.envs.array import ArrayStep, EpisodeRecord
from marlbench.envs.particles.parallel_api import actions_batch, per_agent
from marlbench.envs.snapshot import core_state, restore_core

DT = 0.1
"""mpe2 ``World.dt``."""
DAMPING = 0.25
"""mpe2 ``World.damping``: fraction of velocity lost per step."""
SENSITIVITY = 5.0
"""mpe2 ``_set_action``: force per unit of action (``agent.accel`` is None in spread)."""
CONTACT_FORCE = 1e2
"""mpe2 ``World.contact_force``."""
CONTACT_MARGIN = 1e-3
"""mpe2 ``World.contact_margin``: the softplus width ``k`` of the penetration."""
AGENT_SIZE = 0.15
"""Agent radius in spread; two agents collide (penalty and contact force) below twice it."""
COMM_DIM = 2
"""mpe2 spread's ``world.dim_c``: message width of the (silent, all-zero) communication slots."""
N_ACTIONS = 5
"""Discrete(5) / Box(0, 1, (5,)): no-op, left, right, down, up."""
DISCRETE_FORCES = SENSITIVITY * np.array([[0.0, 0.0], [-1.0, 0.0], [1.0, 0.0], [0.0, -1.0], [0.0, 1.0]])
"""Action force of each discrete action (mpe2 sets a unit component, then scales by 5)."""


@dataclass(frozen=True)
class SpreadConfig:
    """Options of ``mpe-spread``: mpe2's ``N``, ``local_ratio``, ``max_cycles``, ``continuous_actions``."""

    n_agents: int = 3
    local_ratio: float = 0.5
    max_cycles: int = 25
    continuous: bool = False

    @property
    def obs_dim(self) -> int:
        """Own velocity and position, landmark offsets, other agents' offsets and messages."""
        n = self.n_agents
        return 4 + 2 * n + (2 + COMM_DIM) * (n - 1)


def spread_spaces(config: SpreadConfig) -> tuple[spaces.Box, spaces.Space, spaces.Box]:
    """One agent's observation and action spaces and the state space, as mpe2 declares them."""
    inf = np.float32(np.inf)
    obs = spaces.Box(-inf, inf, (config.obs_dim,), np.float32)
    act: spaces.Space = (
        spaces.Box(low=0, high=1, shape=(N_ACTIONS,)) if config.continuous else spaces.Discrete(N_ACTIONS)
    )
    state = spaces.Box(-inf, inf, (config.n_agents * config.obs_dim,), np.float32)
    return obs, act, state


class SpreadCore:
    """``E`` copies of simple_spread as arrays: ``pos``/``vel`` ``[E, N, 2]``, ``landmarks`` ``[E, N, 2]``,
    ``t`` ``[E]`` (steps since reset), one generator per copy in ``rngs``."""

    def __init__(self, config: SpreadConfig, num_envs: int) -> None:
        self.config = config
        self.num_envs = num_envs
        e, n = num_envs, config.n_agents
        self.pos = np.zeros((e, n, 2))
        self.vel = np.zeros((e, n, 2))
        self.landmarks = np.zeros((e, n, 2))
        self.t = np.zeros(e, dtype=np.int64)
        self.rngs = [seeding.np_random(None)[0] for _ in range(e)]
        self._eye = np.eye(n)
        self._others = np.array([[j for j in range(n) if j != i] for i in range(n)], dtype=np.int64)
        self._others = self._others.reshape(n, n - 1)
        self._rows = np.arange(n)[:, None]
        self._dist_min = AGENT_SIZE + AGENT_SIZE
        self._obs = np.zeros((e, n, config.obs_dim), dtype=np.float32)  # message slots stay zero
        self._refresh()

    def seed(self, seeds: list[int | None]) -> None:
        """Restart copy ``i``'s generator from ``seeds[i]``, like mpe2's ``reset(seed)``."""
        self.rngs = [seeding.np_random(s)[0] for s in seeds]

    def reset(self, mask: np.ndarray | None = None) -> None:
        """New episodes for the copies in ``mask`` (all when None), each from its own generator."""
        n = self.config.n_agents
        index = range(self.num_envs) if mask is None else np.flatnonzero(mask).tolist()
        for i in index:
            draw = self.rngs[i].uniform(-1, +1, (2 * n, 2))  # agents first, then landmarks
            self.pos[i] = draw[:n]
            self.landmarks[i] = draw[n:]
            self.vel[i] = 0.0
            self.t[i] = 0
        self._refresh()

    def _refresh(self) -> None:
        """Geometry of the current positions, shared by forces, rewards and observations.

        ``_delta`` ``[E, N, N, 2]`` = ``p_i - p_j``; ``_dist`` ``[E, N, N]`` = ``|p_i - p_j|`` with
        1.0 on the diagonal (no self-collision, no 0/0; off the diagonal adding 0.0 is exact);
        ``_rel`` ``[E, N, N, 2]`` = ``l_k - p_i``; ``_nearest`` ``[E, N]``: each landmark's closest agent.
        """
        pos = self.pos
        delta = pos[:, :, None, :] - pos[:, None, :, :]
        dx, dy = delta[..., 0], delta[..., 1]
        self._delta = delta
        self._dist = np.sqrt(dx * dx + dy * dy) + self._eye
        rel = self.landmarks[:, None, :, :] - pos[:, :, None, :]
        rx, ry = rel[..., 0], rel[..., 1]
        self._rel = rel
        self._nearest = np.sqrt(rx * rx + ry * ry).min(axis=1)

    def forces(self, actions: np.ndarray) -> np.ndarray:
        """``[E, N, 2]`` action forces from ``[E, N, 5]`` continuous or ``[E, N]`` discrete actions."""
        e, n = self.num_envs, self.config.n_agents
        a = np.asarray(actions)
        if self.config.continuous:
            if a.shape != (e, n, N_ACTIONS):
                raise ValueError(f"continuous actions must have shape {(e, n, N_ACTIONS)}, got {a.shape}")
            if a.dtype.kind != "f":
                a = a.astype(np.float64)
            a = np.clip(a, a.dtype.type(0), a.dtype.type(1))  # mpe2's ClipOutOfBoundsWrapper
            u = np.empty((e, n, 2))
            u[..., 0] = a[..., 2] - a[..., 1]  # the difference in the action's own dtype, as mpe2
            u[..., 1] = a[..., 4] - a[..., 3]
            u *= SENSITIVITY
            return u
        index = a.reshape(e, n)
        if index.dtype.kind not in "iu":
            if not np.array_equal(index, np.round(index)):
                raise ValueError("discrete actions must be whole numbers 0..4")
            index = index.astype(np.int64)
        if (index.astype(np.uint64) >= N_ACTIONS).any():  # negatives wrap to huge values
            raise ValueError(f"discrete actions must be in 0..{N_ACTIONS - 1}")
        return DISCRETE_FORCES[index]

    def step(self, actions: np.ndarray) -> np.ndarray:
        """Advance every copy one step; returns the rewards ``[E, N]`` (float64)."""
        force = self.forces(actions)
        n = self.config.n_agents
        if n > 1:
            k, dist = CONTACT_MARGIN, self._dist
            penetration = np.logaddexp(0, -(dist - self._dist_min) / k) * k
            contact = CONTACT_FORCE * self._delta / dist[..., None] * penetration[..., None]  # 0 on i == j
            for j in range(n):  # partner by partner, in the order mpe2's pair loop adds them
                force = contact[:, :, j] + force
        self.pos = self.pos + self.vel * DT
        self.vel = self.vel * (1 - DAMPING)
        self.vel += (force / 1.0) * DT
        self.t += 1
        self._refresh()
        return self.rewards()

    def rewards(self) -> np.ndarray:
        """``[E, N]``: the coverage reward and per-agent collision penalty mixed by ``local_ratio``."""
        n, ratio = self.config.n_agents, self.config.local_ratio
        nearest = self._nearest
        coverage = -nearest[:, 0]
        for k in range(1, n):  # subtracted landmark by landmark, as mpe2 sums them
            coverage = coverage - nearest[:, k]
        local = -(self._dist < self._dist_min).sum(axis=-1).astype(np.float64)  # [E, N]
        return coverage[:, None] * (1 - ratio) + local * ratio

    def observe(self) -> np.ndarray:
        """``[E, N, obs_dim]`` float32 observations (the layout of the module docstring)."""
        e, n = self.num_envs, self.config.n_agents
        obs = self._obs
        obs[:, :, 0:2] = self.vel
        obs[:, :, 2:4] = self.pos
        obs[:, :, 4 : 4 + 2 * n] = self._rel.reshape(e, n, 2 * n)
        if n > 1:  # p_j - p_i is delta[j, i]
            other = self._delta[:, self._others, self._rows]  # [E, N, N-1, 2]
            obs[:, :, 4 + 2 * n : 4 + 2 * n + 2 * (n - 1)] = other.reshape(e, n, 2 * (n - 1))
        return obs.copy()

    def place(
        self,
        pos: np.ndarray | None = None,
        vel: np.ndarray | None = None,
        landmarks: np.ndarray | None = None,
        env_index: int | slice = slice(None),
    ) -> None:
        """Set positions/velocities by hand (tests copy mpe2's world state in through this)."""
        for target, value in ((self.pos, pos), (self.vel, vel), (self.landmarks, landmarks)):
            if value is not None:
                target[env_index] = value
        self._refresh()


class SpreadParallelEnv(ParallelEnv):
    """One copy behind the PettingZoo parallel API, as mpe2's ``simple_spread_v3.parallel_env``.

    ``reset(seed=s)`` restarts the generator, ``reset()`` continues it; rewards are per agent;
    every agent is truncated after ``max_cycles`` steps (then ``agents`` is empty); infos are empty.
    """

    metadata = {"name": "simple_spread_v3", "render_modes": [], "is_parallelizable": True}

    def __init__(self, config: SpreadConfig, seed: int | None = None) -> None:
        self.config = config
        self.core = SpreadCore(config, 1)
        self.core.seed([seed])
        self.core.reset()
        self.possible_agents = [f"agent_{i}" for i in range(config.n_agents)]
        self.agents: list[str] = []
        self.max_cycles = config.max_cycles
        self.render_mode = None
        obs, act, state = spread_spaces(config)
        self._obs_space, self._act_space, self.state_space = obs, act, state

    def observation_space(self, agent: str) -> spaces.Space:
        return self._obs_space

    def action_space(self, agent: str) -> spaces.Space:
        return self._act_space

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
        if seed is not None:
            self.core.seed([seed])
        self.core.reset()
        self.agents = list(self.possible_agents)
        obs = self.core.observe()[0]
        return per_agent(self.agents, obs), {a: {} for a in self.agents}

    def step(
        self, actions: dict[str, Any]
    ) -> tuple[
        dict[str, np.ndarray], dict[str, float], dict[str, bool], dict[str, bool], dict[str, dict[str, Any]]
    ]:
        batch = actions_batch(self.agents, actions)
        rewards = self.core.step(batch)[0].tolist()
        obs = self.core.observe()[0]
        agents = self.agents
        truncated = bool(self.core.t[0] >= self.max_cycles)
        if truncated:
            self.agents = []
        return (
            per_agent(agents, obs),
            dict(zip(agents, rewards, strict=True)),
            dict.fromkeys(agents, False),
            dict.fromkeys(agents, truncated),
            {a: {} for a in agents},
        )

    def state(self) -> np.ndarray:
        return self.core.observe()[0].reshape(-1)

    def render(self) -> None:
        return None

    def close(self) -> None:
        return None


class SpreadArrayEnv:
    """``num_envs`` copies as one native :class:`marlbench.envs.array.ArrayEnv`.

    Copy ``i`` is seeded ``seed + i`` (as the loop adapter over mpe2 seeds its copies), so for the
    same seed and actions it reproduces :class:`marlbench.envs.array.ParallelArrayEnv` over mpe2,
    resets included. Rewards are rounded to float32 before they enter the episode returns, as there.
    """

    def __init__(self, config: SpreadConfig, num_envs: int, seed: int | None = None) -> None:
        if num_envs < 1:
            raise ValueError("num_envs must be at least 1")
        self.config = config
        self.num_envs = num_envs
        self.core = SpreadCore(config, num_envs)
        self.agents = [f"agent_{i}" for i in range(config.n_agents)]
        self.observation_space, self.action_space, state = spread_spaces(config)
        self.state_shape: tuple[int, ...] | None = state.shape
        self.episode_length = config.max_cycles
        self.with_state = True
        """Kept for the loop adapter's interface; the state is a reshape of the observations here."""
        self._seed = seed
        self._returns = np.zeros((num_envs, config.n_agents))
        self._started = False

    def _seeds(self, base: int | None) -> list[int | None]:
        return [None if base is None else base + i for i in range(self.num_envs)]

    def reset(self, seed: int | None = None) -> np.ndarray:
        self.core.seed(self._seeds(self._seed if seed is None else seed))
        self.core.reset()
        self._returns[:] = 0.0
        self._started = True
        return self.core.observe()

    def state(self) -> np.ndarray:
        return self.core.observe().reshape(self.num_envs, -1)

    def step(self, actions: np.ndarray) -> ArrayStep:
        if not self._started:
            raise RuntimeError("call reset() before step()")
        core = self.core
        e, n = self.num_envs, self.config.n_agents
        rewards = core.step(actions).astype(np.float32)
        self._returns += rewards
        done = core.t >= self.episode_length
        obs = core.observe()
        final_obs = np.zeros_like(obs)
        episodes: list[EpisodeRecord] = []
        if done.any():
            final_obs[done] = obs[done]
            episodes = self._records(done)
            core.reset(done)
            self._returns[done] = 0.0
            obs = core.observe()
        truncated = np.repeat(done[:, None], n, axis=1)
        return ArrayStep(
            obs=obs,
            rewards=rewards,
            terminated=np.zeros((e, n), dtype=bool),
            truncated=truncated,
            alive=np.ones((e, n), dtype=bool),
            done=done,
            final_obs=final_obs,
            state=obs.reshape(e, -1).copy(),
            final_state=final_obs.reshape(e, -1).copy(),
            episodes=episodes,
        )

    def _records(self, done: np.ndarray) -> list[EpisodeRecord]:
        """One record per finished copy (a loop over finished copies only, once per episode)."""
        returns = self._returns.tolist()
        lengths = self.core.t.tolist()
        return [
            EpisodeRecord(
                env_index=i,
                rewards=dict(zip(self.agents, returns[i], strict=True)),
                lengths=dict.fromkeys(self.agents, lengths[i]),
            )
            for i in np.flatnonzero(done).tolist()
        ]

    def get_state(self) -> dict[str, Any]:
        """Everything a resumed run needs to continue these copies exactly (see envs.snapshot)."""
        return {"core": core_state(self.core), "returns": self._returns.copy(), "started": self._started}

    def set_state(self, state: dict[str, Any]) -> None:
        restore_core(self.core, state["core"])
        self._returns = np.array(state["returns"], dtype=self._returns.dtype)
        self._started = bool(state["started"])

    def close(self) -> None:
        return None
