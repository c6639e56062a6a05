"""Evaluation helper for the learning tests (tests/ is on sys.path, as for fakes and user_env)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from marlbench.algos.base import EnvContext


def mean_return(
    policy: Callable[[dict[str, Any]], dict[str, Any]],
    ctx: EnvContext,
    episodes: int = 20,
    seed: int = 1000,
) -> float:
    """Mean over episodes of the per-agent mean return of ``policy`` on a fresh env from ``ctx``.

    Episode ``k`` is reset with seed ``seed + k``, so two policies are scored on the same starts.
    """
    env = ctx.make(seed=seed)
    returns = []
    for ep in range(episodes):
        obs, _ = env.reset(seed=seed + ep)
        total = dict.fromkeys(env.possible_agents, 0.0)
        while env.agents:
            obs, rewards, _, _, _ = env.step(policy(obs))
            for agent, r in rewards.items():
                total[agent] += r
        returns.append(float(np.mean(list(total.values()))))
    env.close()
    return float(np.mean(returns))
