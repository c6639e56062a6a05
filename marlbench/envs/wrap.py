"""The one place where environments are wrapped with SuperSuit for shared-weight learners.

The chain, written out (as CleanRL does) so it is easy to audit::

    ParallelEnv
      -> pad_observations_v0      (only if agents' observation shapes differ)
      -> pad_action_space_v0      (only if agents' action spaces differ)
      -> AgentDeathPadding        (agents that leave early stay with zero observations, so the
                                   vectorized learner always sees N slots; written here because
                                   SuperSuit 3.11's black_death_v3 ends every episode one step late:
                                   it tests ``(terminations & truncations).all()`` instead of ``|``,
                                   adding a spurious all-zero transition to each episode)
      -> pettingzoo_env_to_vec_env_v1   (each agent becomes one slot of a vector env)
      -> concat_vec_envs_v1(n_envs, base_class="gymnasium")   (n_envs copies side by side; with
                                   the ``workers`` env option, in worker processes: .subproc)
      -> agent_tracking_vec_env   (SB3 VecEnv face; per-agent episode returns)

Slot ``k`` of the result is agent ``possible_agents[k % N]`` of copy ``k // N``.

Atari games (1 agent, Gymnasium envs) go to SB3 as a ``DummyVecEnv`` under :func:`game_score_vec_env`,
which records one episode per whole game. Both trackers collect finished episodes as
:class:`marlbench.envs.array.EpisodeRecord` in their ``finished`` list for the learner to report.
"""

from __future__ import annotations

from typing import Any

import numpy as np

DEAD = "marlbench_dead"
"""Info key set on the padded steps of an agent that has already left the episode."""


def _pad_wrapper_class() -> type:
    from pettingzoo.utils.wrappers import BaseParallelWrapper

    class AgentDeathPadding(BaseParallelWrapper):
        """Keep every agent in the episode until all have left (zero observation, zero reward).

        Departed agents get ``infos[agent][DEAD] = True``; terminations and truncations stay False
        until the last agent leaves, when each agent gets its own flags (an agent that left earlier
        is reported terminated).
        """

        def _zeros(self, agent: str) -> np.ndarray:
            space = self.observation_space(agent)
            return np.zeros(space.shape, dtype=space.dtype)

        def reset(self, seed: int | None = None, options: dict | None = None) -> Any:
            obs, infos = self.env.reset(seed=seed, options=options)
            self.agents = list(self.env.possible_agents)
            full = {a: obs[a] if a in obs else self._zeros(a) for a in self.agents}
            return full, {a: infos.get(a, {}) for a in self.agents}

        def step(self, actions: dict[str, Any]) -> Any:
            live = list(self.env.agents)
            obs, rewards, terms, truncs, infos = self.env.step({a: actions[a] for a in live if a in actions})
            finished = not self.env.agents
            out_obs, out_rew, out_term, out_trunc, out_info = {}, {}, {}, {}, {}
            for agent in self.agents:
                out_obs[agent] = obs[agent] if agent in obs else self._zeros(agent)
                out_rew[agent] = float(rewards.get(agent, 0.0))
                info = dict(infos.get(agent, {}))
                if agent not in live:
                    info[DEAD] = True
                out_info[agent] = info
                out_term[agent] = bool(terms.get(agent, agent not in live)) if finished else False
                out_trunc[agent] = bool(truncs.get(agent, False)) if finished else False
            if finished:
                self.agents = []
            return out_obs, out_rew, out_term, out_trunc, out_info

    return AgentDeathPadding


def pad_agent_death(env: Any) -> Any:
    """Wrap a ParallelEnv so departed agents stay with zero observations until the episode ends."""
    return _pad_wrapper_class()(env)


def shared_policy_env(env: Any) -> Any:
    """Pad and black-death wrap a ParallelEnv so one policy can act for every agent."""
    import supersuit as ss

    agents = list(env.possible_agents)
    obs_shapes = {env.observation_space(a).shape for a in agents}
    act_spaces = [env.action_space(a) for a in agents]
    if len(obs_shapes) > 1:
        env = ss.pad_observations_v0(env)
    if any(space != act_spaces[0] for space in act_spaces[1:]):
        env = ss.pad_action_space_v0(env)
    return pad_agent_death(env)


def concat_vec_env(make: Any, n_envs: int, seed: int, workers: int = 1) -> tuple[Any, list[str]]:
    """``n_envs`` copies of ``make(seed)`` as one SuperSuit vector env with a slot per agent per copy.

    ``workers > 1`` steps the copies in that many processes
    (:class:`marlbench.envs.subproc.SubprocConcatVecEnv`: the same copies, seeds and arrays).
    Returns the vector env and the agent names in slot order (for one copy).
    """
    import supersuit as ss

    env = shared_policy_env(make(seed))
    agents = list(env.possible_agents)
    vec = ss.pettingzoo_env_to_vec_env_v1(env)
    if workers > 1 and n_envs > 1:
        from marlbench.envs.subproc import SubprocConcatVecEnv

        return SubprocConcatVecEnv(vec, n_envs, workers), agents
    vec = ss.concat_vec_envs_v1(vec, n_envs, num_cpus=0, base_class="gymnasium")
    return vec, agents


# ---------------------------------------------------------------------------------------------
# SB3 vector-env trackers: the VecEnv face of the chain, recording finished episodes per agent
# ---------------------------------------------------------------------------------------------
def agent_tracking_vec_env(venv: Any, agents: list[str]) -> Any:
    """SB3 VecEnv over :func:`concat_vec_env`'s env that records per-agent episodes in ``.finished``."""
    return _tracker_class()(venv, agents)


def game_score_vec_env(venv: Any, agent: str) -> Any:
    """SB3 VecEnv over Atari games (a ``DummyVecEnv``): one episode per whole game in ``.finished``."""
    return _game_score_class()(venv, agent)


def _tracker_class() -> type:
    from supersuit.vector.sb3_vector_wrapper import SB3VecEnvWrapper

    from marlbench.envs.array import EpisodeRecord

    class AgentTrackingVecEnv(SB3VecEnvWrapper):
        """SB3 VecEnv over SuperSuit's concat env that also keeps per-agent episode returns.

        Slot ``k`` is agent ``agents[k % N]`` of copy ``k // N``. A copy's episode is finished when
        all its slots report done on the same step (SuperSuit resets a copy only when every agent
        is done; AgentDeathPadding keeps departed agents in place with zero reward and marks
        their padded steps, which are not counted in the agent's length).
        """

        def __init__(self, venv: Any, agents: list[str]) -> None:
            super().__init__(venv)
            self.agents = agents
            self.n_agents = len(agents)
            self.copies = self.num_envs // self.n_agents
            self._seed: int | None = None
            self.finished: list[EpisodeRecord] = []
            self._reset_tracking()

        def _reset_tracking(self) -> None:
            self._returns = np.zeros(self.num_envs, dtype=np.float64)
            self._lengths = np.zeros(self.num_envs, dtype=np.int64)
            self._active = np.ones(self.num_envs, dtype=bool)
            self._metrics: list[dict[str, float]] = [{} for _ in range(self.num_envs)]

        def seed(self, seed: int | None = None) -> list[int | None]:
            # SuperSuit's concat env has no seed(); seed the next reset instead (SB3 calls seed then reset).
            self._seed = seed
            return [seed] * self.num_envs

        def reset(self, seed: int | None = None, options: Any = None) -> np.ndarray:
            if seed is not None:
                self._seed = seed
            observations, self.reset_infos = self.venv.reset(seed=self._seed)
            self._seed = None
            self._reset_tracking()
            return observations

        def step_wait(self) -> Any:
            observations, rewards, terminations, truncations, infos = self.venv.step_wait()
            dones = np.logical_or(terminations, truncations)
            self._returns += np.where(self._active, rewards, 0.0)
            self._lengths += self._active
            for k, info in enumerate(infos):
                if not isinstance(info, dict):
                    continue
                metrics = info.get("episode_metrics")
                if metrics:
                    self._metrics[k] = {m: float(v) for m, v in metrics.items()}
                if info.get(DEAD) and self._active[k]:
                    # the agent left on the previous step: undo this padded step's count
                    self._active[k] = False
                    self._lengths[k] -= 1
            copy_done = dones.reshape(self.copies, self.n_agents).all(axis=1)
            for c in np.flatnonzero(copy_done):
                slots = range(c * self.n_agents, (c + 1) * self.n_agents)
                self.finished.append(
                    EpisodeRecord(
                        env_index=int(c),
                        rewards={self.agents[k % self.n_agents]: float(self._returns[k]) for k in slots},
                        lengths={self.agents[k % self.n_agents]: int(self._lengths[k]) for k in slots},
                        metrics={
                            self.agents[k % self.n_agents]: self._metrics[k]
                            for k in slots
                            if self._metrics[k]
                        },
                    )
                )
                for k in slots:
                    self._returns[k] = 0.0
                    self._lengths[k] = 0
                    self._active[k] = True
                    self._metrics[k] = {}
            return observations, rewards, dones, infos

    return AgentTrackingVecEnv


def _game_score_class() -> type:
    from stable_baselines3.common.vec_env import VecEnvWrapper

    from marlbench.envs.array import EpisodeRecord

    class GameScoreVecEnv(VecEnvWrapper):
        """SB3 VecEnv over Atari games that records one episode per whole game.

        Each copy's :class:`marlbench.envs.atari.GameScore` reports a finished game in
        ``info["game"]``; the record's reward is the raw (unclipped) score, its length the number
        of the learner's actions in the game (as evaluation counts it; steps the wrappers take
        themselves, FIRE after a reset, are not actions), and its ``clipped_return`` metric the sum
        of the clipped rewards. Lost lives (terminal for the learner in training) do not end a record.
        """

        def __init__(self, venv: Any, agent: str) -> None:
            super().__init__(venv)
            self.agent = agent
            self.finished: list[EpisodeRecord] = []
            self._actions = np.zeros(self.num_envs, dtype=np.int64)

        def reset(self) -> Any:
            self._actions[:] = 0
            return self.venv.reset()

        def step_wait(self) -> Any:
            observations, rewards, dones, infos = self.venv.step_wait()
            self._actions += 1
            for k, info in enumerate(infos):
                game = info.get("game")
                if game:
                    self.finished.append(
                        EpisodeRecord(
                            env_index=k,
                            rewards={self.agent: float(game["score"])},
                            lengths={self.agent: int(self._actions[k])},
                            metrics={self.agent: {"clipped_return": float(game["clipped_return"])}},
                        )
                    )
                    self._actions[k] = 0
            return observations, rewards, dones, infos

    return GameScoreVecEnv


# ---------------------------------------------------------------------------------------------
# CTEDD: the state beside each observation
# ---------------------------------------------------------------------------------------------
def _state_observation_class() -> type:
    from gymnasium import spaces
    from pettingzoo import ParallelEnv

    class StateObservationEnv(ParallelEnv):
        """A ParallelEnv whose agent observations are ``concat(o_i, state())``.

        The runner's episodes hand an algorithm per-agent observations only; this wrapper carries
        the full state alongside, for a policy that reads it (CTEDD's global policy
        ``pi_theta(s)``). A local policy reads the first ``obs_dim`` entries and nothing else.
        """

        metadata = {"name": "marlbench_state_observation", "render_modes": [], "is_parallelizable": True}

        def __init__(self, env: Any, state_dim: int) -> None:
            self.env = env
            self.possible_agents = list(env.possible_agents)
            self.render_mode = None
            self._spaces = {}
            for agent in self.possible_agents:
                width = int(np.prod(env.observation_space(agent).shape)) + state_dim
                self._spaces[agent] = spaces.Box(-np.inf, np.inf, (width,), np.float32)

        @property
        def agents(self) -> list[str]:  # type: ignore[override]
            return self.env.agents

        def observation_space(self, agent: str) -> Any:
            return self._spaces[agent]

        def action_space(self, agent: str) -> Any:
            return self.env.action_space(agent)

        def _augment(self, obs: dict[str, Any]) -> dict[str, np.ndarray]:
            state = np.asarray(self.env.state(), dtype=np.float32).reshape(-1)
            return {a: np.concatenate([np.asarray(o, np.float32).reshape(-1), state]) for a, o in obs.items()}

        def reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict, dict]:
            obs, infos = self.env.reset(seed=seed, options=options)
            return self._augment(obs), infos

        def step(self, actions: dict[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
            obs, rewards, terms, truncs, infos = self.env.step(actions)
            return self._augment(obs), rewards, terms, truncs, infos

        def state(self) -> np.ndarray:
            return self.env.state()

        def render(self) -> None:
            return None

        def close(self) -> None:
            self.env.close()

    return StateObservationEnv


def state_observation_env(env: Any, state_dim: int) -> Any:
    """Wrap a ParallelEnv so each agent observes ``concat(o_i, state())`` (``state_dim`` entries of state)."""
    return _state_observation_class()(env, state_dim)
