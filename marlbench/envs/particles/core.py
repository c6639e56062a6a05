"""Batched array core of the four particle environments of paper 001 (CTEDD), section 5.1.

One :class:`ParticleCore` steps ``E`` copies of a task at once: every quantity is an array with a
leading copy axis (agent positions ``[E, N, 2]``, landmark positions ``[E, K, 2]``), and a step is a
few vector operations with no Python loop over copies or agents. Both public faces use it: the
PettingZoo ``ParallelEnv`` (``E = 1``) and the native ``ArrayEnv`` (see ``faces.py``).

Physics (section 5.1 adopts the multi-agent particle framework of [19, 23]; this is our own
implementation of a damped point-mass, not MPE's code). Each step, for agent ``i`` with action
``u_i`` (a 2-d force in ``[-1, 1]^2``, or one of five discrete unit forces)::

    v_i <- (1 - DAMPING) * v_i + SENSITIVITY * u_i * DT      (unit mass)
    v_i <- v_i * min(1, max_speed / |v_i|)                     (when max_speed > 0)
    p_i <- p_i + v_i * DT

with ``DT = 0.1``, ``DAMPING = 0.25``, ``SENSITIVITY = 5`` (the particle framework's usual
constants), so a full push along one axis reaches speed 2 (0.2 per step). Agents pass through one
another (no contact forces): a collision is only penalised, never simulated. The world has no
walls, except that prey in predator-prey are kept inside ``[-arena, arena]^2`` (a prey in an open
plane could flee forever). All entities start uniformly in ``[-1, 1]^2`` with zero velocity.

Reward (shared: every agent receives the same team value each step), after the agents moved::

    r = - sum_k min_i |p_i - l_k|                 (distance term; caught prey no longer count)
        - 1 * #{agents overlapping another agent}   (collision: |p_i - p_j| < 2 * agent_radius)
        + task term                                 (cn-v2 penalty, push bonus, capture bonus)

Paper's wording: "a penalty of -1.0 for all agents involved in the collision"; with one team value
we add -1 per collided agent (a two-agent collision costs the team -2).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DT = 0.1
"""Integration step in seconds."""
DAMPING = 0.25
"""Fraction of velocity lost per step."""
SENSITIVITY = 5.0
"""Force per unit of action (unit mass, so also the acceleration)."""
SPAWN = 1.0
"""Entities start uniformly in ``[-SPAWN, SPAWN]^2``."""
COLLISION_PENALTY = 1.0
"""Section 5.1: -1.0 for every agent involved in a collision."""
BONUS = 10.0
"""Section 5.1: +10.0 for a joint push (push-forward) or a capture (predator-prey)."""
CN_V2_PENALTY = 10.0
"""Section 5.1: -10.0 when two agents are closer to the wrong landmark (cn-v2)."""

DISCRETE_FORCES = np.array([[0.0, 0.0], [-1.0, 0.0], [1.0, 0.0], [0.0, -1.0], [0.0, 1.0]])
"""Discrete(5) actions: no-op, left, right, down, up (unit forces)."""

TASKS = ("cn-v1", "cn-v2", "push-forward", "predator-prey")

OBSERVATIONS = ("distance", "relative")
"""Local observation kinds (the ``obs`` option); see :meth:`ParticleCore.observe` and the package doc."""


def squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``|a_i - b_j|^2`` as ``[E, I, J]`` for points ``a`` ``[E, I, 2]`` and ``b`` ``[E, J, 2]``."""
    dx = a[:, :, None, 0] - b[:, None, :, 0]
    dy = a[:, :, None, 1] - b[:, None, :, 1]
    dx *= dx
    dy *= dy
    dx += dy
    return dx


@dataclass(frozen=True)
class ParticleConfig:
    """Everything that defines one task; the registered env options are a subset of these fields."""

    task: str
    """One of :data:`TASKS`."""
    n_agents: int = 3
    """Agents (predators in predator-prey); 3 in every task of the paper."""
    n_landmarks: int = 3
    """Landmarks (prey in predator-prey): 3 in cn-v1 and push-forward, 2 in cn-v2 and predator-prey."""
    max_cycles: int = 25
    """Episode length in steps (paper: 25 for cn-v1/cn-v2, 50 for push-forward/predator-prey)."""
    continuous: bool = True
    """2-d force in ``[-1, 1]^2`` (paper's algorithms are DDPG-style, continuous); else Discrete(5)."""
    agent_radius: float = 0.15
    """Collision zone radius: two agents collide when their centres are closer than twice this."""
    max_speed: float = 2.0
    """Speed cap in units per second (0 disables it); 2.0 makes the top speed the same in every direction."""
    occupy_radius: float = 0.1
    """cn-v1/cn-v2 metric only: a landmark counts as occupied when an agent's centre is this close."""
    penalty_rule: str = "paper"
    """cn-v2: ``paper`` penalises the stated case (two agents closer to the "far" landmark, see
    :class:`NavigationCore`); ``strict`` penalises every split other than 2+1 (also 3+0)."""
    push_zone_offset: float = 0.2
    """push-forward: the push zone is centred this far left (-x) of its landmark."""
    push_zone_radius: float = 0.15
    """push-forward: radius of the push zone."""
    push_distance: float = 0.05
    """push-forward: how far right (+x) the landmarks move on a joint push."""
    prey_step: float = 0.1
    """predator-prey: fixed distance a prey moves every step."""
    capture_radius: float = 0.35
    """predator-prey: a prey is caught when every predator's centre is within this distance."""
    arena: float = 1.0
    """predator-prey: prey stay inside ``[-arena, arena]^2``."""
    prey_directions: int = 16
    """predator-prey: evenly spaced headings a prey compares when fleeing."""
    obs: str = "distance"
    """Local observation: ``distance`` (scalar distances, the literal sec. 5.1 reading) or ``relative``
    (relative position vectors plus own velocity, MPE's convention); see :meth:`ParticleCore.observe`."""

    @property
    def obs_dim(self) -> int:
        """``distance``: one distance per other agent and landmark / prey; ``relative``: a 2-d vector
        per other agent and landmark / prey, then the agent's own 2-d velocity."""
        seen = self.n_agents - 1 + self.n_landmarks
        return 2 * seen + 2 if self.obs == "relative" else seen

    @property
    def state_dim(self) -> int:
        """Positions and velocities of agents and landmarks (plus prey-free flags in predator-prey)."""
        extra = self.n_landmarks if self.task == "predator-prey" else 0
        return 4 * self.n_agents + 4 * self.n_landmarks + extra


class ParticleCore:
    """``E`` copies of one particle task, stepped together as arrays.

    Public arrays (read them; write them only through :meth:`place`): ``pos``/``vel`` ``[E, N, 2]``,
    ``landmarks``/``landmark_vel`` ``[E, K, 2]``, ``free`` ``[E, K]`` (False once a prey is caught),
    ``t`` ``[E]`` (steps since reset). Episode accumulators feed :meth:`episode_metrics`.
    """

    def __init__(self, config: ParticleConfig, num_envs: int, seed: int | None = None) -> None:
        self.config = config
        self.num_envs = num_envs
        self.rng = np.random.default_rng(seed)
        e, n, k = num_envs, config.n_agents, config.n_landmarks
        self.pos = np.zeros((e, n, 2))
        self.vel = np.zeros((e, n, 2))
        self.landmarks = np.zeros((e, k, 2))
        self.landmark_vel = np.zeros((e, k, 2))
        self.free = np.ones((e, k), dtype=bool)
        self.t = np.zeros(e, dtype=np.int64)
        self.episode_return = np.zeros(e)
        self.collision_steps = np.zeros((e, n))
        self.event_count = np.zeros(e)
        """Pushes (push-forward), captures (predator-prey) or penalised steps (cn-v2) this episode."""
        self._not_self = ~np.eye(n, dtype=bool)
        self._row = np.arange(n)[:, None]
        # observation columns of the agent-to-entity distance matrix: other agents, then landmarks
        self._obs_cols = np.array(
            [[j for j in range(n) if j != i] + list(range(n, n + k)) for i in range(n)], dtype=np.int64
        )
        self._refresh()

    # ---------------------------------------------------------------- setup

    def seed(self, seed: int | None) -> None:
        """Restart the random stream used for initial positions."""
        self.rng = np.random.default_rng(seed)

    def reset(self, mask: np.ndarray | None = None) -> None:
        """Draw new episodes for the copies in ``mask`` (all copies when None)."""
        if mask is None:
            mask = np.ones(self.num_envs, dtype=bool)
        m = int(mask.sum())
        if m == 0:
            return
        n = self.config.n_agents
        draw = self.rng.uniform(-SPAWN, SPAWN, size=(m, n + self.config.n_landmarks, 2))
        self.pos[mask] = draw[:, :n]
        self.vel[mask] = 0.0
        self.landmarks[mask] = self._clip_landmarks(draw[:, n:])
        self.landmark_vel[mask] = 0.0
        self.free[mask] = True
        self.t[mask] = 0
        self.episode_return[mask] = 0.0
        self.collision_steps[mask] = 0.0
        self.event_count[mask] = 0.0
        self._refresh()

    def place(
        self,
        pos: np.ndarray | None = None,
        vel: np.ndarray | None = None,
        landmarks: np.ndarray | None = None,
        landmark_vel: np.ndarray | None = None,
        env_index: int | slice = slice(None),
    ) -> None:
        """Set positions/velocities by hand (tests, demonstrations); distances are recomputed."""
        for target, value in ((self.pos, pos), (self.vel, vel), (self.landmarks, landmarks)):
            if value is not None:
                target[env_index] = value
        if landmark_vel is not None:
            self.landmark_vel[env_index] = landmark_vel
        self._refresh()

    def _clip_landmarks(self, landmarks: np.ndarray) -> np.ndarray:
        return landmarks

    # ---------------------------------------------------------------- stepping

    def forces(self, actions: np.ndarray) -> np.ndarray:
        """``[E, N, 2]`` forces from continuous ``[E, N, 2]`` or discrete ``[E, N]`` actions."""
        if self.config.continuous:
            return np.clip(np.asarray(actions, dtype=np.float64), -1.0, 1.0) * SENSITIVITY
        index = np.asarray(actions).astype(np.int64, copy=False).reshape(self.num_envs, self.config.n_agents)
        if index.min() < 0 or index.max() >= len(DISCRETE_FORCES):
            raise ValueError(f"discrete actions must be in 0..{len(DISCRETE_FORCES) - 1}")
        return DISCRETE_FORCES[index] * SENSITIVITY

    def step(self, actions: np.ndarray) -> np.ndarray:
        """Advance every copy one step; returns the team reward ``[E]`` (float64)."""
        prev_pos = self.pos
        vel = self.vel * (1.0 - DAMPING) + self.forces(actions) * DT
        if self.config.max_speed > 0:
            speed = np.hypot(vel[..., 0], vel[..., 1])
            vel *= np.minimum(1.0, self.config.max_speed / np.maximum(speed, 1e-12))[..., None]
        self.vel = vel
        self.pos = prev_pos + vel * DT
        reward = self._move_landmarks(prev_pos)
        self._refresh()
        collided = self.collided()
        nearest = self._al.min(axis=1)  # [E, K]: each landmark's closest agent
        reward -= np.where(self.free, nearest, 0.0).sum(axis=-1)
        reward -= COLLISION_PENALTY * collided.sum(axis=-1)
        reward += self._task_reward()
        self.t += 1
        self.collision_steps += collided
        self.episode_return += reward
        return reward

    def _move_landmarks(self, prev_pos: np.ndarray) -> np.ndarray:
        """Task rule for landmarks after the agents moved; returns its reward term ``[E]``."""
        return np.zeros(self.num_envs)

    def _task_reward(self) -> np.ndarray | float:
        """Task term computed on the post-step distances (cn-v2 penalty)."""
        return 0.0

    def _refresh(self) -> None:
        """Recompute agent-to-entity distances ``[E, N, N+K]`` (agents first, then landmarks)."""
        entities = np.concatenate([self.pos, self.landmarks], axis=1)
        self._dist = np.sqrt(squared_distances(self.pos, entities))
        n = self.config.n_agents
        self._aa = self._dist[:, :, :n]
        self._al = self._dist[:, :, n:]

    # ---------------------------------------------------------------- views

    def observe(self) -> np.ndarray:
        """``[E, N, obs_dim]`` float32 local observations, by ``config.obs``.

        ``distance`` (``obs_dim = N-1+K``): each agent's Euclidean distances to the other agents, then
        to each landmark; the literal reading of section 5.1 ("its Euclidean distance from other
        agents and all the landmarks"), no velocities and no positions.

        ``relative`` (``obs_dim = 2(N-1+K) + 2``): for each other agent, then each landmark, the
        displacement ``p_entity - p_self`` as ``(dx, dy)``, then the agent's own velocity
        ``(vx, vy)``. No absolute position and no other agent's velocity, so section 5.1's "does not
        tell the velocity and moving direction of other agents ... nor the actual location of any
        landmark" still holds; this is MPE's convention and the one a memoryless local policy can
        steer by (the package docstring gives the measurements).

        In both, other agents are listed in index order, skipping the observer.
        """
        if self.config.obs != "relative":
            return self._dist[:, self._row, self._obs_cols].astype(np.float32)
        entities = np.concatenate([self.pos, self.landmarks], axis=1)  # [E, N+K, 2]
        offsets = entities[:, None, :, :] - self.pos[:, :, None, :]  # [E, N, N+K, 2]: entity - self
        seen = offsets[:, self._row, self._obs_cols].reshape(self.num_envs, self.config.n_agents, -1)
        return np.concatenate([seen, self.vel], axis=-1).astype(np.float32)

    def state(self) -> np.ndarray:
        """``[E, state_dim]`` float32 full state for centralized learners.

        Layout: agent positions ``(N, 2)``, agent velocities ``(N, 2)``, landmark positions
        ``(K, 2)``, landmark velocities ``(K, 2)`` (zero for static landmarks; displacement / DT for
        pushed landmarks and prey), each flattened row-major; predator-prey appends ``K`` flags,
        1.0 while a prey is still free.
        """
        e = self.num_envs
        parts = [
            self.pos.reshape(e, -1),
            self.vel.reshape(e, -1),
            self.landmarks.reshape(e, -1),
            self.landmark_vel.reshape(e, -1),
        ]
        if self.config.task == "predator-prey":
            parts.append(self.free)
        return np.concatenate(parts, axis=-1).astype(np.float32)

    def collided(self) -> np.ndarray:
        """``[E, N]`` bool: the agent overlaps another agent now."""
        return ((self._aa < 2.0 * self.config.agent_radius) & self._not_self).any(axis=-1)

    def episode_metrics(self) -> dict[str, np.ndarray]:
        """Per-agent episode metrics so far, each ``[E, N]`` float64 (team values repeated)."""
        return {"collisions": self.collision_steps.copy()}

    def _team(self, value: np.ndarray) -> np.ndarray:
        return np.repeat(np.asarray(value, dtype=np.float64)[:, None], self.config.n_agents, axis=1)
