"""Deterministic evaluation: one episode, a round of episodes, and the ledger rows they make.

The runner's periodic evaluation, ``marlbench evaluate`` and CTEDD's per-variant tests all run
episodes through here, under one cap on episode length (:func:`max_episode_steps`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marlbench.algos.base import optional_hook
from marlbench.envs.array import EpisodeRecord
from marlbench.envs.wrap import DEAD


def max_episode_steps(env_spec: Any, options: dict[str, Any]) -> int:
    """The step cap of one evaluation episode (see :meth:`EnvSpec.eval_step_cap`)."""
    return env_spec.eval_step_cap(options)


def evaluation_env(algo: Any, env_ctx: Any, seed: int) -> Any:
    """The ParallelEnv ``algo`` is evaluated on: its ``eval_env`` hook's, else a fresh one of ``env_ctx``."""
    make = optional_hook(algo, "eval_env")
    return make(seed) if make is not None else env_ctx.make(seed)


def run_episode(algo: Any, env: Any, seed: int, max_steps: int) -> EpisodeRecord:
    """One deterministic episode of ``algo`` on a ParallelEnv; per-agent return, length, metrics."""
    obs, _ = env.reset(seed=seed)
    reset = optional_hook(algo, "reset_episode")
    if reset is not None:
        reset()
    agents = list(env.possible_agents)
    returns = dict.fromkeys(agents, 0.0)
    lengths = dict.fromkeys(agents, 0)
    metrics: dict[str, dict[str, float]] = {}
    done: set[str] = set()
    for _ in range(max_steps):
        if not env.agents:
            break
        actions = algo.act({a: obs[a] for a in env.agents}, deterministic=True)
        obs, rewards, terms, truncs, infos = env.step(actions)
        for agent, reward in rewards.items():
            if agent in done or (infos.get(agent) or {}).get(DEAD):
                continue
            returns[agent] += float(reward)
            lengths[agent] += 1
            if terms.get(agent) or truncs.get(agent):
                done.add(agent)
        for agent, info in infos.items():
            if isinstance(info, dict) and info.get("episode_metrics"):
                metrics[agent] = {k: float(v) for k, v in info["episode_metrics"].items()}
    return EpisodeRecord(env_index=0, rewards=returns, lengths=lengths, metrics=metrics)


def evaluate(algo: Any, env: Any, episodes: int, seed: int, max_steps: int) -> list[EpisodeRecord]:
    """``episodes`` deterministic episodes with seeds ``seed, seed+1, ...`` (the same every round)."""
    return [run_episode(algo, env, seed + i, max_steps) for i in range(episodes)]


def episode_rows(record: EpisodeRecord, **fixed: Any) -> list[dict[str, Any]]:
    """Ledger rows (one per agent) for one episode."""
    rows = []
    for agent, reward in record.rewards.items():
        row = {**fixed, "agent": agent, "reward": float(reward), "length": int(record.lengths.get(agent, 0))}
        for name, value in record.metrics.get(agent, {}).items():
            row[f"metric_{name}"] = float(value)
        rows.append(row)
    return rows


POSTHOC_ENV_SEED = 2_000_003
"""Seed of a post-hoc evaluation's env (plus the run's seed); episode ``i`` of run seed ``s`` resets
with ``POSTHOC_EPISODE_SEED * (s + 1) + i``. Training evaluations use other seeds."""
POSTHOC_EPISODE_SEED = 20_000


def posthoc_records(
    algo: Any, env_ctx: Any, seed: int, options: Mapping[str, Any], episodes: int
) -> list[EpisodeRecord]:
    """``episodes`` deterministic episodes of ``algo`` under the full env ``options``, seeded as every
    post-hoc evaluation is: ``marlbench evaluate`` and a run's final evaluations (``final_evals``)
    give the same episodes for the same policy and options.

    ``env_ctx`` (the algorithm's own: its ``eval_env`` hook builds from it) holds ``options`` for
    the evaluation only and gets its own options back afterwards.
    """
    own = env_ctx.options
    env_ctx.options = dict(options)
    try:
        env = evaluation_env(algo, env_ctx, POSTHOC_ENV_SEED + seed)
        try:
            cap = max_episode_steps(env_ctx.spec, env_ctx.options)
            return evaluate(algo, env, episodes, POSTHOC_EPISODE_SEED * (seed + 1), cap)
        finally:
            env.close()
    finally:
        env_ctx.options = own
