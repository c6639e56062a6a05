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
      -> concat_vec_envs_v1(n_envs, base_class="gymnasium")   (n_envs copies side by side)
      -> marlbench.algos.sb3.AgentTrackingVecEnv   (SB3 VecEnv face; per-agent episode returns)

Slot ``k`` of the result is agent ``possible_agents[k % N]`` of copy ``k // N``.
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


def concat_vec_env(make: Any, n_envs: int, seed: int) -> tuple[Any, list[str]]:
    """``n_envs`` copies of ``make(seed)`` as one SuperSuit vector env with a slot per agent per copy.

    Returns the vector env and the agent names in slot order (for one copy).
    """
    import supersuit as ss

    env = shared_policy_env(make(seed))
    agents = list(env.possible_agents)
    vec = ss.pettingzoo_env_to_vec_env_v1(env)
    vec = ss.concat_vec_envs_v1(vec, n_envs, num_cpus=0, base_class="gymnasium")
    return vec, agents
