"""Array view of multi-agent environments, for the in-repo learners (MADDPG, CTEDD, LBS).

An :class:`ArrayEnv` steps ``num_envs`` copies of one environment and speaks numpy arrays with a
fixed agent axis: observations ``[E, N, *obs_shape]``, rewards ``[E, N]``. Agents that leave an
episode early stay in the arrays with zero observations, zero reward and ``alive == False`` (the
same convention as SuperSuit's ``black_death_v3``), so learners always see ``N`` agents. A copy
whose episode ends is reset at once; its last observation is in ``final_obs`` and its finished
episode (per-agent return, length and metrics) in ``episodes``.

Native batched environments implement the protocol directly; :class:`ParallelArrayEnv` adapts any
PettingZoo ``ParallelEnv`` factory by looping over the copies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

import numpy as np
from gymnasium import spaces


@dataclass
class EpisodeRecord:
    """One finished episode of one env copy: per-agent return, length and metrics."""

    env_index: int
    rewards: dict[str, float]
    lengths: dict[str, int]
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass
class ArrayStep:
    """The result of :meth:`ArrayEnv.step`."""

    obs: np.ndarray
    """``[E, N, *obs_shape]``: next observations (first observation of the new episode where reset)."""
    rewards: np.ndarray
    """``[E, N]`` float32."""
    terminated: np.ndarray
    """``[E, N]`` bool: the agent reached a terminal state on this step (no bootstrapping)."""
    truncated: np.ndarray
    """``[E, N]`` bool: the agent's episode was cut by a time limit on this step."""
    alive: np.ndarray
    """``[E, N]`` bool: the agent acted on this step (False for agents already gone)."""
    done: np.ndarray
    """``[E]`` bool: the copy finished its episode on this step and was reset."""
    final_obs: np.ndarray
    """``[E, N, *obs_shape]``: for done copies, the last observation before the reset."""
    state: np.ndarray | None = None
    """``[E, *state_shape]`` global state aligned with ``obs`` (post-reset for done copies), if offered."""
    final_state: np.ndarray | None = None
    """``[E, *state_shape]``: for done copies, the global state before the reset."""
    episodes: list[EpisodeRecord] = field(default_factory=list)


class ArrayEnv(Protocol):
    """A batch of ``num_envs`` copies of a multi-agent env with a fixed agent axis."""

    num_envs: int
    agents: list[str]
    observation_space: spaces.Space
    """One agent's observation space (identical for all agents after padding)."""
    action_space: spaces.Space
    """One agent's action space (identical for all agents after padding)."""
    state_shape: tuple[int, ...] | None

    def reset(self, seed: int | None = None) -> np.ndarray: ...

    def step(self, actions: np.ndarray) -> ArrayStep: ...

    def state(self) -> np.ndarray | None: ...

    def close(self) -> None: ...


class ParallelArrayEnv:
    """Loop-based :class:`ArrayEnv` over ``num_envs`` PettingZoo ParallelEnvs from ``make(seed)``.

    Observations of differing sizes are zero-padded to the largest (as SuperSuit's
    ``pad_observations_v0``); heterogeneous action spaces are refused (the in-repo learners assume
    one action space per environment).
    """

    def __init__(self, make: Callable[[int], Any], num_envs: int, seed: int, with_state: bool = True) -> None:
        self.num_envs = num_envs
        self.with_state = with_state
        """Collect the global state on every step (set False when no learner reads it: it is not free)."""
        self._envs = [make(seed + i) for i in range(num_envs)]
        first = self._envs[0]
        self.agents: list[str] = list(first.possible_agents)
        obs_spaces = [first.observation_space(a) for a in self.agents]
        act_spaces = [first.action_space(a) for a in self.agents]
        shapes = {s.shape for s in obs_spaces}
        if len(shapes) == 1:
            self.observation_space = obs_spaces[0]
            self._pad_to = None
        else:
            if any(len(s.shape) != 1 for s in obs_spaces):
                raise ValueError("observations of different shapes can only be padded when they are vectors")
            width = max(s.shape[0] for s in obs_spaces)
            self._pad_to = width
            self.observation_space = spaces.Box(-np.inf, np.inf, (width,), np.float32)
        if any(a != act_spaces[0] for a in act_spaces[1:]):
            raise ValueError(
                "agents have different action spaces; the in-repo learners need one action space"
            )
        self.action_space = act_spaces[0]
        self._seed = seed
        self._obs_shape = self.observation_space.shape
        state = self._state_of(first)
        self.state_shape = None if state is None else tuple(state.shape)
        n = len(self.agents)
        self._returns = np.zeros((num_envs, n), dtype=np.float64)
        self._lengths = np.zeros((num_envs, n), dtype=np.int64)
        self._metrics: list[dict[str, dict[str, float]]] = [{} for _ in range(num_envs)]
        self._alive = np.ones((num_envs, n), dtype=bool)
        self._episode_count = 0

    @staticmethod
    def _state_of(env: Any) -> np.ndarray | None:
        try:
            return np.asarray(env.state(), dtype=np.float32)
        except (NotImplementedError, AttributeError):
            return None
        except Exception:
            return None

    def _obs_array(self, obs: dict[str, Any]) -> np.ndarray:
        out = np.zeros((len(self.agents), *self._obs_shape), dtype=np.float32)
        for j, agent in enumerate(self.agents):
            if agent in obs:
                value = np.asarray(obs[agent], dtype=np.float32)
                if self._pad_to is None:
                    out[j] = value
                else:
                    out[j, : value.shape[0]] = value
        return out

    def _reset_one(self, i: int, seed: int | None) -> np.ndarray:
        env = self._envs[i]
        obs, _ = env.reset(seed=seed)
        self._returns[i] = 0.0
        self._lengths[i] = 0
        self._metrics[i] = {}
        self._alive[i] = [agent in env.agents for agent in self.agents]  # an env may place some later
        return self._obs_array(obs)

    def reset(self, seed: int | None = None) -> np.ndarray:
        base = self._seed if seed is None else seed
        return np.stack([self._reset_one(i, base + i) for i in range(self.num_envs)])

    def state(self) -> np.ndarray | None:
        if self.state_shape is None:
            return None
        return np.stack([self._state_of(env) for env in self._envs])

    def step(self, actions: np.ndarray) -> ArrayStep:
        e, n = self.num_envs, len(self.agents)
        obs_out = np.zeros((e, n, *self._obs_shape), dtype=np.float32)
        final_obs = np.zeros_like(obs_out)
        rewards = np.zeros((e, n), dtype=np.float32)
        terminated = np.zeros((e, n), dtype=bool)
        truncated = np.zeros((e, n), dtype=bool)
        alive_before = self._alive.copy()
        done = np.zeros(e, dtype=bool)
        keep_state = self.with_state and self.state_shape is not None
        states = np.zeros((e, *self.state_shape), np.float32) if keep_state else None
        final_states = None if states is None else np.zeros_like(states)
        episodes: list[EpisodeRecord] = []
        for i, env in enumerate(self._envs):
            live = [a for a in env.agents]
            act = {a: actions[i, self.agents.index(a)] for a in live}
            if isinstance(self.action_space, spaces.Discrete):
                act = {a: int(v) for a, v in act.items()}
            obs, rew, term, trunc, infos = env.step(act)
            for j, agent in enumerate(self.agents):
                if agent not in act:
                    continue
                rewards[i, j] = float(rew.get(agent, 0.0))
                terminated[i, j] = bool(term.get(agent, False))
                truncated[i, j] = bool(trunc.get(agent, False))
                self._returns[i, j] += rewards[i, j]
                self._lengths[i, j] += 1
                metrics = (infos.get(agent) or {}).get("episode_metrics")
                if metrics:
                    self._metrics[i][agent] = {k: float(v) for k, v in metrics.items()}
                if terminated[i, j] or truncated[i, j]:
                    self._alive[i, j] = False
            obs_arr = self._obs_array(obs)
            if states is not None:
                states[i] = self._state_of(env)
            if not env.agents:
                done[i] = True
                final_obs[i] = obs_arr
                if final_states is not None:
                    final_states[i] = states[i]
                episodes.append(
                    EpisodeRecord(
                        env_index=i,
                        rewards={a: float(self._returns[i, j]) for j, a in enumerate(self.agents)},
                        lengths={a: int(self._lengths[i, j]) for j, a in enumerate(self.agents)},
                        metrics=dict(self._metrics[i]),
                    )
                )
                self._episode_count += 1
                obs_arr = self._reset_one(i, None)
                if states is not None:
                    states[i] = self._state_of(env)
            obs_out[i] = obs_arr
        return ArrayStep(
            obs=obs_out,
            rewards=rewards,
            terminated=terminated,
            truncated=truncated,
            alive=alive_before,
            done=done,
            final_obs=final_obs,
            state=states,
            final_state=final_states,
            episodes=episodes,
        )

    def close(self) -> None:
        for env in self._envs:
            env.close()


def make_array_env(
    spec: Any, options: dict[str, Any], num_envs: int, seed: int, with_state: bool = True
) -> ArrayEnv:
    """The native batched env of ``spec`` if it has one, else the loop adapter.

    ``with_state=False`` lets the loop adapter skip collecting ``state()`` on every step (a native
    batched env has its state at hand and ignores the flag). An env with the ``workers`` option
    (smarts-intersection) steps its copies in worker processes when it resolves to more than one
    (:mod:`marlbench.envs.subproc`: same arrays as the loop adapter here).
    """
    from marlbench.envs.subproc import without_execution_options, workers_for

    workers = workers_for(spec, options, num_envs)
    options = without_execution_options(spec, options)
    if workers > 1 and spec.make_array is None:
        return subprocess_array_env(
            partial(_make_copy, spec.make, options), num_envs, seed, workers, with_state
        )
    if spec.make_array is not None:
        env = spec.make_array(num_envs=num_envs, seed=seed, **options)
        if isinstance(env, ParallelArrayEnv):  # a family's make_array may hand back the loop adapter
            env.with_state = with_state
        return env
    return ParallelArrayEnv(
        partial(_make_copy, spec.make, options), num_envs=num_envs, seed=seed, with_state=with_state
    )


def _make_copy(make: Callable[..., Any], options: dict[str, Any], seed: int) -> Any:
    """Copy ``seed`` of an env: ``make(seed=seed, **options)`` (worker processes unpickle it)."""
    return make(seed=seed, **options)


def subprocess_array_env(
    make: Callable[[int], Any], num_envs: int, seed: int, workers: int, with_state: bool = True
) -> ArrayEnv:
    """:class:`ParallelArrayEnv`'s copies of ``make(seed)`` over ``workers`` processes (same arrays)."""
    from marlbench.envs.subproc import SubprocArrayEnv

    return SubprocArrayEnv(partial(_loop_share, make, with_state), num_envs, seed, workers)


def _loop_share(make: Callable[[int], Any], with_state: bool, count: int, seed: int) -> ParallelArrayEnv:
    """One worker's block of copies (a module-level function: worker processes unpickle it)."""
    return ParallelArrayEnv(make, num_envs=count, seed=seed, with_state=with_state)
