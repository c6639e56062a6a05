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
from marlbench.envs.spaces import space_change
from marlbench.errors import ConfigError, LedgerError
from marlbench.training.evaluation import posthoc_records


@dataclass
class LoadedRun:
    """A run rebuilt from its last checkpoint: its ledger row, spec, resolved settings and algorithm."""

    row: dict[str, Any]
    spec: RunSpec
    resolved: Any
    algo: Any

    @property
    def agents(self) -> list[str]:
        """The agents of the run's environment (the keys :meth:`act` expects)."""
        return list(self.make_env().possible_agents)

    def make_env(self, seed: int | None = None) -> Any:
        """A fresh PettingZoo ParallelEnv of the run's environment and options, seeded."""
        return self.resolved.env.make(seed=seed)

    def act(self, observations: Mapping[str, Any], deterministic: bool = True) -> dict[str, Any]:
        """The policy's actions for ``{agent: observation}`` (deterministic by default)."""
        return self.algo.act(observations, deterministic=deterministic)

    def close(self) -> None:
        """Release the algorithm's env copies and workers, if it holds any."""
        from marlbench.algos.base import optional_hook

        close = optional_hook(self.algo, "close")
        if close is not None:
            close()


def load_run(ledger: Any, run_id: str, purpose: str = "evaluated") -> LoadedRun:
    """Rebuild run ``run_id``'s algorithm and load its last checkpoint (validated before use).

    LedgerError when the run has no checkpoint; the checkpoint is only read from the run's own
    folder in the ledger (:meth:`Ledger.saved_checkpoint`) and loaded without unpickling objects.
    """
    from marlbench.algos import build
    from marlbench.config import resolve
    from marlbench.training.runner import load_checkpoint, seed_everything

    row = ledger.get_run(run_id)
    if not row.get("checkpoint"):
        raise LedgerError(
            f"run '{row['run_id']}' has no checkpoint (status {row['status']})",
            f"only runs that finished or were interrupted after a checkpoint can be {purpose}",
        )
    checkpoint = ledger.saved_checkpoint(row)
    spec = RunSpec.from_json(row["config"])
    resolved = resolve(spec)
    seed_everything(spec.seed)
    algo = build(resolved.algo, resolved.env, resolved.config, spec.seed, spec.device)
    load_checkpoint(algo, checkpoint, row["run_id"])
    return LoadedRun(row, spec, resolved, algo)


def evaluate_run(
    ledger: Any, run_id: str, episodes: int, env_overrides: Mapping[str, str] | None = None
) -> Reevaluation:
    """Run ``episodes`` deterministic episodes of a run's last checkpoint; rows go to ``evals``.

    ``env_overrides`` changes env options for this evaluation only (e.g. ``traffic=high``); they are
    stored in the rows' ``env_options`` column. Returns the per-agent (and team) results.
    """
    from marlbench.training.evaluation import episode_rows

    check_eval_shapes(ledger, run_id, env_overrides)
    loaded = load_run(ledger, run_id)
    row, spec, algo, env_ctx = loaded.row, loaded.spec, loaded.algo, loaded.resolved.env
    eval_options = env_ctx.spec.resolve_options({**spec.resolved["env_options"], **(env_overrides or {})})
    try:
        records = posthoc_records(algo, env_ctx, spec.seed, eval_options, episodes)
    finally:
        loaded.close()
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


def check_eval_shapes(ledger: Any, run_id: str, env_overrides: Mapping[str, str] | None) -> None:
    """ConfigError (before anything is built or evaluated) when ``env_overrides`` change the agents,
    or the shape of an agent's observation or action space, that run ``run_id`` was trained on.

    A trained policy acts on the spaces it was trained on: ``n_agents=4`` on a 3-agent run changes
    every observation. Options that keep the spaces (traffic, episode length) are fine. Nothing is
    opened when the overrides change no option.
    """
    from marlbench.config import resolve

    if not env_overrides:
        return
    row = ledger.get_run(run_id)
    spec = RunSpec.from_json(row["config"])
    env_ctx = resolve(spec).env
    options = env_ctx.spec.resolve_options({**spec.resolved["env_options"], **env_overrides})
    if options == env_ctx.options:
        return
    change = space_change(env_ctx.spec, env_ctx.options, options)
    if change is None:
        return
    changed = {k: v for k, v in options.items() if env_ctx.options.get(k) != v}
    pairs = " ".join(f"--env-opt {k}={v}" for k, v in changed.items())
    raise ConfigError(
        f"{pairs} changes the {change} that run '{row['run_id']}' was trained on; "
        "its policy cannot act there",
        "evaluate with options that keep the agents and spaces (e.g. traffic or episode length), "
        "or train a run with those options",
    )


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
