"""Evaluate a saved run: rebuild its algorithm from the checkpoint and run deterministic episodes."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from marlbench.config import RunSpec
from marlbench.envs.array import EpisodeRecord
from marlbench.errors import LedgerError


def evaluate_run(
    ledger: Any, run_id: str, episodes: int, env_overrides: Mapping[str, str] | None = None
) -> Reevaluation:
    """Run ``episodes`` deterministic episodes of a run's last checkpoint; rows go to ``evals``.

    ``env_overrides`` changes env options for this evaluation only (e.g. ``traffic=high``); they are
    stored in the rows' ``env_options`` column. Returns the per-agent (and team) results.
    """
    from marlbench.algos import build
    from marlbench.algos.base import optional_hook
    from marlbench.config import resolve
    from marlbench.training.evaluation import episode_rows, evaluate, evaluation_env, max_episode_steps
    from marlbench.training.runner import load_checkpoint, seed_everything

    row = ledger.get_run(run_id)
    if not row.get("checkpoint"):
        raise LedgerError(
            f"run '{row['run_id']}' has no checkpoint (status {row['status']})",
            "only runs that finished or were interrupted after a checkpoint can be evaluated",
        )
    checkpoint = ledger.saved_checkpoint(row)
    spec = RunSpec.from_json(row["config"])
    resolved = resolve(spec)
    algo_spec, env_ctx, config = resolved.algo, resolved.env, resolved.config
    eval_options = env_ctx.spec.resolve_options({**spec.resolved["env_options"], **(env_overrides or {})})
    seed_everything(spec.seed)
    algo = build(algo_spec, env_ctx, config, spec.seed, spec.device)
    load_checkpoint(algo, checkpoint, row["run_id"])
    env_ctx.options = eval_options
    env = evaluation_env(algo, env_ctx, 2_000_003 + spec.seed)
    try:
        max_steps = max_episode_steps(env_ctx.spec, eval_options)
        records = evaluate(algo, env, episodes, 20_000 * (spec.seed + 1), max_steps)
    finally:
        env.close()
        close = optional_hook(algo, "close")
        if close is not None:
            close()
    previous = ledger.evals([row["run_id"]])
    eval_id = int(previous["eval_id"].max()) + 1 if len(previous) else 0
    rows: list[dict[str, Any]] = []
    for i, record in enumerate(records):
        rows += episode_rows(
            record,
            run_id=row["run_id"],
            eval_id=eval_id,
            step=int(row["steps"]),
            episode=i,
            env_options=json.dumps(eval_options, sort_keys=True),
        )
    ledger.append("evals", row["run_id"], rows)

    metric_names, results = summarize(records)
    return Reevaluation(row["run_id"], episodes, dict(env_overrides or {}), metric_names, results)


@dataclass(frozen=True)
class AgentResult:
    """Mean and (population) std of the return of one agent, or of the team, over the episodes."""

    label: str
    mean: float
    std: float
    metrics: dict[str, float]
    """Mean of each env metric (NaN where the agent never reported it)."""
    team: bool = False
    """The ``all agents`` row: every agent's episodes pooled."""


@dataclass(frozen=True)
class Reevaluation:
    """What :func:`evaluate_run` measured: one result per agent, then ``all agents`` for a team."""

    run_id: str
    episodes: int
    env_overrides: dict[str, str]
    metric_names: list[str]
    results: list[AgentResult]
    """One per agent, in the env's order; a last ``all agents`` row when there is more than one agent
    (e.g. the collision and completion rate of the team, paper 000)."""


def summarize(records: Sequence[EpisodeRecord]) -> tuple[list[str], list[AgentResult]]:
    """``(metric names, results)`` of finished episodes: per agent, then all agents pooled."""
    metric_names = sorted({m for r in records for a in r.metrics.values() for m in a})
    agents = list(records[0].rewards)
    groups = [(agent, [agent]) for agent in agents]
    if len(agents) > 1:
        groups.append(("all agents", agents))  # e.g. the collision and completion rate of the team
    results = []
    for label, members in groups:
        returns = np.array([r.rewards[a] for r in records for a in members])
        metrics = {}
        for name in metric_names:
            values = np.array([r.metrics.get(a, {}).get(name, np.nan) for r in records for a in members])
            metrics[name] = float(np.nanmean(values)) if not np.all(np.isnan(values)) else math.nan
        results.append(
            AgentResult(label, float(returns.mean()), float(returns.std()), metrics, team=len(members) > 1)
        )
    return metric_names, results
