"""The two faces of the particle core: a PettingZoo ``ParallelEnv`` and a native ``ArrayEnv``.

Both wrap :class:`~marlbench.envs.particles.core.ParticleCore` and draw initial positions from one
``numpy`` generator, in the same order, so for the same seed and actions the ``ParallelEnv`` and an
``ArrayEnv`` with one copy give identical trajectories (observations, rewards, states), including
across episodes: the ``ArrayEnv`` resets a finished copy at once, the ``ParallelEnv`` when its
caller calls ``reset()`` without a seed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from marlbench.envs.array import ArrayStep, EpisodeRecord
from marlbench.envs.particles.core import DISCRETE_FORCES, ParticleConfig
from marlbench.envs.particles.parallel_api import actions_batch, per_agent
from marlbench.envs.particles.tasks import make_core
from marlbench.envs.snapshot import core_state, restore_core


def _spaces(config: ParticleConfig) -> tuple[spaces.Box, spaces.Space, spaces.Box]:
    low = -np.inf if config.obs == "relative" else 0.0  # displacements and velocities are signed
    obs = spaces.Box(low, np.inf, (config.obs_dim,), np.float32)
    act: spaces.Space = (
        spaces.Box(-1.0, 1.0, (2,), np.float32)
        if config.continuous
        else spaces.Discrete(len(DISCRETE_FORCES))
    )
    state = spaces.Box(-np.inf, np.inf, (config.state_dim,), np.float32)
    return obs, act, state


class ParticleParallelEnv(ParallelEnv):
    """One copy of a particle task behind the PettingZoo parallel API.

    Agents are ``agent_0 .. agent_{N-1}``. Every agent receives the same (team) reward. Episodes
    end by truncation after ``max_cycles`` steps (there is no terminal state); on that step each
    agent's ``infos[agent]["episode_metrics"]`` holds its episode metrics. ``state()`` gives the full
    state (see :meth:`ParticleCore.state`). ``make(seed)`` seeds the generator; ``reset()`` without a
    seed continues it, ``reset(seed=s)`` restarts it.
    """

    metadata = {"name": "marlbench_particles", "render_modes": [], "is_parallelizable": True}

    def __init__(self, config: ParticleConfig, seed: int | None = None) -> None:
        self.config = config
        self.core = make_core(config, 1, seed)
        self.possible_agents = [f"agent_{i}" for i in range(config.n_agents)]
        self.agents: list[str] = []
        self.max_cycles = config.max_cycles
        self.render_mode = None
        obs, act, state = _spaces(config)
        self._obs_spaces = dict.fromkeys(self.possible_agents, obs)
        self._act_spaces = dict.fromkeys(self.possible_agents, act)
        self.state_space = state

    def observation_space(self, agent: str) -> spaces.Space:
        return self._obs_spaces[agent]

    def action_space(self, agent: str) -> spaces.Space:
        return self._act_spaces[agent]

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
        if seed is not None:
            self.core.seed(seed)
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
        reward = float(self.core.step(batch)[0])
        obs = self.core.observe()[0]
        finished = bool(self.core.t[0] >= self.max_cycles)
        agents = self.agents
        infos: dict[str, dict[str, Any]] = {a: {} for a in agents}
        if finished:
            metrics = self.core.episode_metrics()
            for i, a in enumerate(agents):
                infos[a]["episode_metrics"] = {name: float(v[0, i]) for name, v in metrics.items()}
            self.agents = []
        return (
            per_agent(agents, obs),
            dict.fromkeys(agents, reward),
            dict.fromkeys(agents, False),
            dict.fromkeys(agents, finished),
            infos,
        )

    def state(self) -> np.ndarray:
        return self.core.state()[0]

    def render(self) -> None:
        return None

    def close(self) -> None:
        return None


class ParticleArrayEnv:
    """``num_envs`` copies of a particle task as one native :class:`marlbench.envs.array.ArrayEnv`.

    ``step`` takes actions ``[E, N, 2]`` (continuous) or ``[E, N]`` (discrete) and returns an
    :class:`ArrayStep`; a copy reaching ``max_cycles`` steps is reset at once (all copies share the
    episode length, so they finish together). ``reset(seed=None)`` restarts from the constructor's
    seed, like :class:`marlbench.envs.array.ParallelArrayEnv`.
    """

    def __init__(self, config: ParticleConfig, num_envs: int, seed: int | None = None) -> None:
        if num_envs < 1:
            raise ValueError("num_envs must be at least 1")
        self.config = config
        self.num_envs = num_envs
        self.core = make_core(config, num_envs, seed)
        self.agents = [f"agent_{i}" for i in range(config.n_agents)]
        self.observation_space, self.action_space, state = _spaces(config)
        self.state_shape: tuple[int, ...] | None = state.shape
        self.episode_length = config.max_cycles
        self._seed = seed
        self._started = False

    def reset(self, seed: int | None = None) -> np.ndarray:
        self.core.seed(self._seed if seed is None else seed)
        self.core.reset()
        self._started = True
        return self.core.observe()

    def state(self) -> np.ndarray:
        return self.core.state()

    def step(self, actions: np.ndarray) -> ArrayStep:
        if not self._started:
            raise RuntimeError("call reset() before step()")
        core = self.core
        e, n = self.num_envs, self.config.n_agents
        reward = core.step(actions).astype(np.float32)
        done = core.t >= self.episode_length
        obs = core.observe()
        state = core.state()
        final_obs = np.zeros_like(obs)
        final_state = np.zeros_like(state)
        episodes: list[EpisodeRecord] = []
        if done.any():
            final_obs[done] = obs[done]
            final_state[done] = state[done]
            episodes = self._records(done)
            core.reset(done)
            obs = core.observe()
            state = core.state()
        return ArrayStep(
            obs=obs,
            rewards=np.repeat(reward[:, None], n, axis=1),
            terminated=np.zeros((e, n), dtype=bool),
            truncated=np.repeat(done[:, None], n, axis=1),
            alive=np.ones((e, n), dtype=bool),
            done=done,
            final_obs=final_obs,
            state=state,
            final_state=final_state,
            episodes=episodes,
        )

    def _records(self, done: np.ndarray) -> list[EpisodeRecord]:
        """One record per finished copy (a loop over finished copies only, once per episode)."""
        core = self.core
        metrics = core.episode_metrics()
        names = list(metrics)
        columns = [metrics[name].tolist() for name in names]  # python floats, [E][N] each
        returns = core.episode_return.tolist()
        lengths = core.t.tolist()
        agents = self.agents
        records = []
        for i in np.flatnonzero(done).tolist():
            rows = zip(agents, zip(*(column[i] for column in columns), strict=True), strict=True)
            metrics_i = {a: dict(zip(names, row, strict=True)) for a, row in rows}
            records.append(
                EpisodeRecord(
                    env_index=i,
                    rewards=dict.fromkeys(agents, returns[i]),
                    lengths=dict.fromkeys(agents, lengths[i]),
                    metrics=metrics_i,
                )
            )
        return records

    def get_state(self) -> dict[str, Any]:
        """Everything a resumed run needs to continue these copies exactly (see envs.snapshot)."""
        return {"core": core_state(self.core), "started": self._started}

    def set_state(self, state: dict[str, Any]) -> None:
        restore_core(self.core, state["core"])
        self._started = bool(state["started"])

    def close(self) -> None:
        return None
