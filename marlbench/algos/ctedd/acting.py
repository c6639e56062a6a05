"""CTEDD's acting in numpy (paper 001, sections 4.1 and 5.3), and its tests of every policy variant.

:class:`Actor` serves the three kinds of action CTEDD takes, all in the normalised box
``[-1, 1]^A`` and mapped onto the env's box by :meth:`Actor.to_env`:

* exploration, ``a = pi_theta(s) + eps * sigma_omega(s)`` with ``eps ~ N(0, I)`` (section 4.1);
* CTEDD-G, the global policies' deterministic parts ``pi_theta(s)``;
* CTEDD-L-c, the distilled local policies ``pi^_i(o_i, m_{j != i})`` with ``c``-wide messages.

It reads the learner's networks through numpy copies that refresh whenever a weight changes, so
it never holds stale weights.

**Evaluation of the variants.** ``CTEDD.act`` serves the policy named by ``eval_policy``
(``global``, ``local-1``, ``local-3``): the runner evaluates that one, and its rows are the run's
score in ``compare``. The global policy reads the state, which the runner's episodes do not pass:
``CTEDD.eval_env(seed)`` wraps the env so each agent's observation is ``concat(o_i, state)``
(:func:`~marlbench.envs.wrap.state_observation_env`; :meth:`Actor.act` undoes it); the
local policies slice off ``o_i`` and never see the rest. Independently, every ``test_every`` env
steps (paper: 10,000) CTEDD tests **every** variant (``ctedd-g``, ``ctedd-l-<c>``) itself with
:func:`test_round` on ``test_episodes`` (paper: 400) copies of the env stepped as one batched
ArrayEnv (the same start states for each variant and each round), and hands each round to its
recorder, ``log_evaluation(step, records, policy="<variant>")``. The recorder numbers these rounds
together with the runner's own evaluations (eval ids from 0); readers of a run's score keep the
rows with an empty ``policy``, the paper-001 figures read the others.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
from gymnasium import spaces

from marlbench.algos.ctedd.config import GLOBAL_VARIANT, CTEDDConfig, Dims
from marlbench.algos.ctedd.networks import GlobalTower, LocalPolicy, numpy_log_sigma
from marlbench.envs.array import ArrayEnv, EpisodeRecord
from marlbench.errors import ConfigError


class Actor:
    """Numpy acting of one CTEDD learner: exploration, the global and the local policies."""

    def __init__(
        self,
        policy: GlobalTower,
        sigma: GlobalTower,
        students: Mapping[int, LocalPolicy],
        config: CTEDDConfig,
        action_box: spaces.Box,
        rng: np.random.Generator,
        agents: list[str],
        dims: Dims,
    ) -> None:
        self.config, self.students, self.rng = config, students, rng
        self.agents, self.dims = agents, dims
        self._policy = policy.numpy_copy()
        self._sigma = sigma.numpy_copy(features_from=policy)
        self._low = np.asarray(action_box.low, dtype=np.float32)
        self._high = np.asarray(action_box.high, dtype=np.float32)

    def to_env(self, normalised: np.ndarray) -> np.ndarray:
        """Normalised actions ``[-1, 1]`` -> the env's action box."""
        return (self._low + (normalised + 1.0) * 0.5 * (self._high - self._low)).astype(np.float32)

    def global_actions(self, state: np.ndarray) -> np.ndarray:
        """CTEDD-G: deterministic parts ``pi_theta(s)`` for ``state [E, S]`` -> ``[E, N, A]``."""
        return np.tanh(self._policy(np.asarray(state, np.float32)[None])).transpose(1, 0, 2)

    def mu_sigma(self, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``state [E, S]`` -> deterministic actions and exploration stds, both ``[E, N, A]``."""
        cfg = self.config
        mu = self.global_actions(state)
        if cfg.fixed_std > 0:
            return mu, np.full_like(mu, cfg.fixed_std)
        pre = self._sigma(np.asarray(state, np.float32)[None]).transpose(1, 0, 2)
        return mu, np.exp(numpy_log_sigma(pre, cfg.sigma_min, cfg.sigma_max))

    def explore(self, state: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Sample ``a = pi(s) + eps * sigma(s)``: (env actions, clipped normalised, unclipped normalised)."""
        mu, sigma = self.mu_sigma(state)
        raw = (mu + self.rng.standard_normal(mu.shape) * sigma).astype(np.float32)
        clipped = np.clip(raw, -1.0, 1.0)
        return self.to_env(clipped), clipped, raw

    def local_actions(self, comm_dim: int, obs: np.ndarray) -> np.ndarray:
        """CTEDD-L-c: the distilled local policies for observations ``[E, N, obs_dim]`` -> ``[E, N, A]``."""
        pre = self.students[comm_dim].numpy_forward(np.asarray(obs, np.float32).transpose(1, 0, 2))
        return np.tanh(pre).transpose(1, 0, 2)

    def variant_actions(self, variant: str, obs: np.ndarray, state: np.ndarray) -> np.ndarray:
        """Deterministic normalised actions ``[E, N, A]`` of ``variant`` (``ctedd-g`` or ``ctedd-l-<c>``)."""
        if variant == GLOBAL_VARIANT:
            return self.global_actions(state)
        return self.local_actions(int(variant.rsplit("-", 1)[1]), obs)

    def act(
        self, observations: Mapping[str, np.ndarray], deterministic: bool = True
    ) -> dict[str, np.ndarray]:
        """Env actions of the ``eval_policy`` variant for one env's observations.

        Each observation is ``o_i`` or ``concat(o_i, state)`` (the runner's episodes on
        ``CTEDD.eval_env``); the global policy needs the latter (with ``global_input=state``).
        ``deterministic=False`` adds the global policy's exploration noise (local policies are
        deterministic).
        """
        cfg = self.config
        obs, state = self._split(observations)
        if cfg.eval_policy == "global":
            if cfg.global_input == "observations":
                state = obs.reshape(1, -1)
            if state is None:
                raise ConfigError(
                    "CTEDD's global policy needs the state with each observation",
                    "evaluate on CTEDD.eval_env(seed), or use --set eval_policy=local-<c>",
                )
            actions = self.global_actions(state) if deterministic else self.explore(state)[1]
        else:
            actions = self.local_actions(int(cfg.eval_policy.rsplit("-", 1)[1]), obs)
        env_actions = self.to_env(actions)
        return {
            agent: env_actions[0, j].copy() for j, agent in enumerate(self.agents) if agent in observations
        }

    def _split(self, observations: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
        """One env's observations -> ``(obs [1, N, obs_dim], state [1, S] or None)``.

        The state comes from observations ``concat(o_i, state)``
        (:func:`~marlbench.envs.wrap.state_observation_env`); missing agents observe zeros.
        """
        dims = self.dims
        width = dims.obs_dim + dims.state_dim
        obs = np.zeros((1, dims.n_agents, dims.obs_dim), dtype=np.float32)
        state: np.ndarray | None = None
        for j, agent in enumerate(self.agents):
            if agent not in observations:
                continue
            value = np.asarray(observations[agent], dtype=np.float32).reshape(-1)
            obs[0, j, : min(value.size, dims.obs_dim)] = value[: dims.obs_dim]
            if value.size == width and self.config.global_input == "state":
                state = value[dims.obs_dim :][None]
        return obs, state


def test_round(
    env: ArrayEnv,
    variants: list[str],
    seed: int,
    max_steps: int,
    env_actions: Callable[[str, np.ndarray, np.ndarray | None], np.ndarray],
) -> dict[str, list[EpisodeRecord]]:
    """The first episode of every copy of the ArrayEnv ``env`` under each variant, from the same starts.

    ``env_actions(variant, obs [E, N, d], state [E, ...] or None)`` gives the env's actions.
    """
    out: dict[str, list[EpisodeRecord]] = {}
    for variant in variants:
        obs = env.reset(seed=seed)
        state = env.state()
        first: dict[int, EpisodeRecord] = {}
        for _ in range(max_steps):
            step = env.step(env_actions(variant, obs, state))
            for record in step.episodes:
                first.setdefault(record.env_index, record)
            if len(first) >= env.num_envs:
                break
            obs, state = step.obs, step.state
        out[variant] = [first[i] for i in sorted(first)]
    return out
