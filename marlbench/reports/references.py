"""The random-policy reference of tables and figures.

A reference run is a finished ``random`` run (tagged ``reference`` when planned by
:mod:`marlbench.training.references` for every environment of a preset, or trained by hand with
``marlbench train random --env ENV``). It belongs to the runs of another algorithm when both played
the same environment with the same resolved env options; ``compare`` adds it as a ``random`` row and
the learning-curve figures draw its score as a dashed horizontal line.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from marlbench.algos.random_policy import REFERENCE_ALGO
from marlbench.reports.data import TEAM, agent_scores, run_scores


def env_key(row: Any) -> str:
    """The (env, resolved env options) of a run row, as one comparable string."""
    from marlbench.config import RunSpec

    try:
        options = RunSpec.from_json(str(row["config"])).identity()["env_options"]
    except (ValueError, TypeError, KeyError):  # a synthetic or damaged config: the env name only
        options = None
    return json.dumps([row["env"], options], sort_keys=True, default=str)


def is_reference(runs: pd.DataFrame) -> pd.Series:
    """Which rows of ``runs`` are finished ``random`` runs (any of them will do as the reference)."""
    return (runs["algo"] == REFERENCE_ALGO) & (runs["status"] == "finished")


def matching_references(chosen: pd.DataFrame, every: pd.DataFrame) -> pd.DataFrame:
    """The reference runs of ``every`` that played an env (with options) of ``chosen``, not in it.

    One per env key: the latest finished one.
    """
    if chosen.empty or every.empty:
        return every.iloc[0:0]
    wanted = {env_key(row) for row in chosen.to_dict("records")}
    refs = every[is_reference(every) & ~every["run_id"].isin(chosen["run_id"])]
    if refs.empty:
        return refs
    refs = refs.assign(_key=[env_key(row) for row in refs.to_dict("records")])
    refs = refs[refs["_key"].isin(wanted)].sort_values("finished_at", kind="stable")
    return refs.drop_duplicates("_key", keep="last").drop(columns="_key")


def with_references(chosen: pd.DataFrame, every: pd.DataFrame) -> pd.DataFrame:
    """``chosen`` plus its matching reference runs (see :func:`matching_references`)."""
    refs = matching_references(chosen, every)
    return chosen if refs.empty else pd.concat([chosen, refs], ignore_index=True)


def reference_levels(refs: pd.DataFrame, evals: pd.DataFrame, aggregate: str) -> pd.DataFrame:
    """One row per (env, agent) of the reference runs: their final evaluation score.

    ``agent`` is the agent's name for per-agent panels, and ``team`` with the ``aggregate``
    (team-mean / team-sum) score for team panels. Columns: env, agent, score.
    """
    columns = ["env", "agent", "score"]
    mine = evals[evals["run_id"].isin(refs["run_id"])] if len(refs) else evals.iloc[0:0]
    if mine.empty:
        return pd.DataFrame(columns=columns)
    env_of = refs.set_index("run_id")["env"]
    per_agent = agent_scores(mine)
    per_agent["env"] = per_agent["run_id"].map(env_of)
    parts = [per_agent[columns]]
    if aggregate in ("team-mean", "team-sum"):
        team = run_scores(mine, aggregate)
        team["env"], team["agent"] = team["run_id"].map(env_of), TEAM
        parts.append(team[columns])
    return pd.concat(parts, ignore_index=True).groupby(["env", "agent"], as_index=False)["score"].mean()
