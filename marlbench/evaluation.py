"""Evaluate a saved run: rebuild its algorithm from the checkpoint and run deterministic episodes."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from marlbench.config import RunSpec
from marlbench.errors import LedgerError


def evaluate_run(
    ledger: Any, run_id: str, episodes: int, env_overrides: Mapping[str, str] | None = None
) -> Any:
    """Run ``episodes`` deterministic episodes of a run's last checkpoint; rows go to ``evals``.

    ``env_overrides`` changes env options for this evaluation only (e.g. ``traffic=high``); they are
    stored in the rows' ``env_options`` column. Returns a Rich table summarising per-agent results.
    """
    from rich.table import Table

    from marlbench.algos import build
    from marlbench.runner import episode_rows, evaluate, prepare, seed_everything

    row = ledger.get_run(run_id)
    if not row.get("checkpoint"):
        raise LedgerError(
            f"run '{row['run_id']}' has no checkpoint (status {row['status']})",
            "only runs that finished or were interrupted after a checkpoint can be evaluated",
        )
    spec = RunSpec.from_json(row["config"])
    algo_spec, env_ctx, config = prepare(spec)
    eval_options = env_ctx.spec.resolve_options({**spec.resolved["env_options"], **(env_overrides or {})})
    seed_everything(spec.seed)
    algo = build(algo_spec, env_ctx, config, spec.seed, spec.device)
    algo.load(ledger.root / row["checkpoint"])
    env_ctx.options = eval_options
    make = getattr(algo, "eval_env", None)
    env = make(2_000_003 + spec.seed) if callable(make) else env_ctx.make(2_000_003 + spec.seed)
    try:
        max_steps = max(10 * env_ctx.spec.length_for(eval_options), 10_000)
        records = evaluate(algo, env, episodes, 20_000 * (spec.seed + 1), max_steps)
    finally:
        env.close()
        if hasattr(algo, "close"):
            algo.close()
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

    table = Table(
        title=f"{row['run_id']}: {episodes} deterministic episodes ({json.dumps(dict(env_overrides or {}))})"
    )
    metric_names = sorted({m for r in records for a in r.metrics.values() for m in a})
    table.add_column("agent")
    table.add_column("mean return")
    table.add_column("std")
    for name in metric_names:
        table.add_column(f"{name} rate" if name in ("collided", "reached_goal", "off_road") else name)
    agents = list(records[0].rewards)
    groups = [(agent, [agent]) for agent in agents]
    if len(agents) > 1:
        groups.append(("all agents", agents))  # e.g. the collision and completion rate of the team
    for label, members in groups:
        returns = np.array([r.rewards[a] for r in records for a in members])
        cells = [label, f"{returns.mean():.3f}", f"{returns.std():.3f}"]
        for name in metric_names:
            values = np.array([r.metrics.get(a, {}).get(name, np.nan) for r in records for a in members])
            cells.append(f"{np.nanmean(values):.3f}" if not np.all(np.isnan(values)) else "-")
        table.add_row(*cells, end_section=label == agents[-1] and len(groups) > len(agents))
    return table
