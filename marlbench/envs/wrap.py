"""The one place where environments are wrapped with SuperSuit for shared-weight learners.

The chain, written out (as CleanRL does) so it is easy to audit::

    ParallelEnv
      -> pad_observations_v0      (only if agents' observation shapes differ)
      -> pad_action_space_v0      (only if agents' action spaces differ)
      -> black_death_v3           (agents that leave early stay with zero observations, so the
                                   vectorized learner always sees N slots)
      -> pettingzoo_env_to_vec_env_v1   (each agent becomes one slot of a vector env)
      -> concat_vec_envs_v1(n_envs, base_class="gymnasium")   (n_envs copies side by side)
      -> marlbench.algos.sb3.AgentTrackingVecEnv   (SB3 VecEnv face; per-agent episode returns)

Slot ``k`` of the result is agent ``possible_agents[k % N]`` of copy ``k // N``.
"""

from __future__ import annotations

from typing import Any


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
    return ss.black_death_v3(env)


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
