"""From ledger DataFrames to scores and curves: selection, grouping, aggregation over agents and seeds.

Everything here takes and returns pandas DataFrames (the ledger's ``runs``, ``episodes`` and
``evals`` tables, see :mod:`marlbench.ledger`); nothing reads or writes files.

Vocabulary used by tables and figures:

* **group**: the runs that differ only by seed: same algorithm, variant, environment and resolved
  configuration. Its ``label`` is ``algo`` or ``algo/variant``; when one (algo, variant, env) holds
  several configurations, the keys that differ are appended (``ppo [steps=20000]``).
* **aggregation over agents**: rewards are stored per agent; ``per-agent`` keeps them apart,
  ``team-mean`` averages the agents of each episode, ``team-sum`` adds them.
* **final score of a run**: the mean, over the episodes of its last evaluation during training, of
  the aggregated return (never the best episode ever seen).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from marlbench.presets import ALIAS_PREFIX
from marlbench.reports.selection import last_evals, posthoc_evals, training_evals  # noqa: F401 (re-exported)
from marlbench.reports.stats import bootstrap_band

AGGREGATIONS = ("per-agent", "team-mean", "team-sum")
TEAM = "team"
"""The ``agent`` value of rows aggregated over agents."""

AGGREGATION_WORDS = {
    "per-agent": "per agent",
    "team-mean": "team mean over agents",
    "team-sum": "team sum over agents",
}
COLLISION_METRIC = "metric_collided"
COMPLETION_METRIC = "metric_reached_goal"


def check_aggregation(aggregate: str, allowed: Sequence[str] = AGGREGATIONS) -> str:
    """``aggregate`` if allowed, else ValueError (the CLI turns it into a message)."""
    if aggregate not in allowed:
        raise ValueError(f"unknown aggregation {aggregate!r}; valid: {', '.join(allowed)}")
    return aggregate


def split_list(text: str | Sequence[str] | None) -> list[str]:
    """``"a,b"`` or ``["a", "b,c"]`` -> ``["a", "b", "c"]``; None -> []."""
    if text is None:
        return []
    parts = [text] if isinstance(text, str) else list(text)
    return [p.strip() for part in parts for p in part.split(",") if p.strip()]


# ---------------------------------------------------------------------------------------------
# selecting and grouping runs
# ---------------------------------------------------------------------------------------------
def filter_runs(
    runs: pd.DataFrame,
    *,
    env: str | None = None,
    algos: Sequence[str] = (),
    preset: str | None = None,
    variants: Sequence[str] = (),
    tags: Sequence[str] = (),
) -> pd.DataFrame:
    """Rows of ``runs`` on ``env``, with one of ``algos`` (algo names or ``algo/variant`` labels), etc.

    ``tags``: only runs that carry every one of them (``train --tag``; the ``tags`` column is
    comma-joined).

    With ``preset``, a run stamped with another preset but tagged ``preset:<preset>/<variant>`` (an
    identical twin that a sweep of ``preset`` adopted instead of running it again) is kept, with its
    ``preset`` and ``variant`` columns set to the adopting preset's.
    """
    if preset:
        runs = adopt_aliases(runs, preset)
    keep = pd.Series(True, index=runs.index)
    if env:
        keep &= runs["env"] == env
    if algos:
        labels = runs["algo"] + "/" + runs["variant"]
        keep &= runs["algo"].isin(algos) | labels.isin(algos) | runs["variant"].isin(algos)
    if preset:
        keep &= runs["preset"] == preset
    if variants:
        keep &= runs["variant"].isin(variants)
    if tags:
        wanted = set(tags)
        keep &= runs["tags"].fillna("").map(lambda text: wanted <= set(str(text).split(",")))
    return runs[keep].copy()


def adopt_aliases(runs: pd.DataFrame, preset: str) -> pd.DataFrame:
    """``runs`` with twins adopted by ``preset`` (see ``presets.alias_tag``) restamped as its runs."""
    runs = runs.copy()
    prefix = f"{ALIAS_PREFIX}{preset}/"
    for index, tags, own in zip(runs.index, runs["tags"], runs["preset"], strict=True):
        if own == preset or prefix not in tags:
            continue
        variant = next(t[len(prefix) :] for t in tags.split(",") if t.startswith(prefix))
        runs.loc[index, ["preset", "variant"]] = [preset, variant]
    return runs


def base_labels(runs: pd.DataFrame) -> pd.Series:
    """``algo``, or ``algo/variant`` when the run has a variant named other than its algorithm."""
    named = (runs["variant"] != "") & (runs["variant"] != runs["algo"])
    return runs["algo"] + np.where(named, "/" + runs["variant"], "")


def _identity(row: Mapping[str, Any]) -> dict[str, Any]:
    """What defines a run's experiment apart from its seed, from its stored config."""
    from marlbench.config import RunSpec

    try:
        identity = RunSpec.from_json(str(row["config"])).identity()
    except (ValueError, TypeError, KeyError):  # synthetic or damaged config: fall back on the row
        identity = {"algo": row["algo"], "env": row["env"], "steps": int(row["total_steps"])}
    identity.pop("seed", None)
    return identity


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping):
            out.update(_flatten(value, f"{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def add_groups(runs: pd.DataFrame) -> pd.DataFrame:
    """``runs`` plus ``setting`` (differing config keys, "" when unique) and ``label`` columns.

    Runs share a group when algo, variant, env and the seed-free configuration are equal.
    """
    runs = runs.copy()
    if runs.empty:
        runs["setting"] = pd.Series(dtype=str)
        runs["label"] = pd.Series(dtype=str)
        runs["group_key"] = pd.Series(dtype=str)
        return runs
    identities = [_identity(row) for row in runs.to_dict("records")]
    keys = [
        json.dumps({**i, "variant": v}, sort_keys=True, default=str)
        for i, v in zip(identities, runs["variant"], strict=True)
    ]
    runs["group_key"] = keys
    settings = [""] * len(runs)
    base = list(zip(runs["algo"], runs["variant"], runs["env"], strict=True))
    by_base: dict[tuple[str, str, str], dict[str, dict[str, Any]]] = {}
    for b, key, identity in zip(base, keys, identities, strict=True):
        by_base.setdefault(b, {})[key] = _flatten(identity)
    names: dict[str, str] = {}
    for configs in by_base.values():
        if len(configs) < 2:
            continue
        flat = list(configs.values())
        fields = sorted({k for f in flat for k in f})
        differing = [k for k in fields if len({json.dumps(f.get(k), default=str) for f in flat}) > 1]
        for key, f in configs.items():
            parts = [f"{k.split('.')[-1]}={f.get(k)}" for k in differing]
            names[key] = ", ".join(parts) if parts else key[:8]
    for i, key in enumerate(keys):
        settings[i] = names.get(key, "")
    runs["setting"] = settings
    runs["label"] = base_labels(runs) + np.where(runs["setting"] != "", " [" + runs["setting"] + "]", "")
    return runs


# ---------------------------------------------------------------------------------------------
# final scores
# ---------------------------------------------------------------------------------------------
def aggregate_agents(frame: pd.DataFrame, aggregate: str, keys: Sequence[str]) -> pd.DataFrame:
    """Rows per agent -> rows per ``keys`` (one per episode) with ``agent`` = "team" (mean or sum)."""
    check_aggregation(aggregate, ("team-mean", "team-sum"))
    how = "mean" if aggregate == "team-mean" else "sum"
    out = frame.groupby(list(keys), as_index=False, sort=False).agg(
        reward=("reward", how), **{c: (c, "first") for c in frame.columns if c in ("step", "wall_time")}
    )
    out["agent"] = TEAM
    return out


def run_scores(
    evals: pd.DataFrame, aggregate: str = "team-mean", eval_options: Mapping[str, Any] | None = None
) -> pd.DataFrame:
    """One row per run: its final score (``aggregate`` over agents) from its last evaluation.

    ``eval_options``: from its latest post-hoc evaluation with those env options instead
    (:func:`last_evals`). Columns: run_id, eval_step, eval_episodes, score, collision_rate,
    completion_rate (NaN for envs without those metrics).
    """
    check_aggregation(aggregate, ("team-mean", "team-sum"))
    last = last_evals(evals, eval_options)
    columns = ["run_id", "eval_step", "eval_episodes", "score", "collision_rate", "completion_rate"]
    if last.empty:
        return pd.DataFrame(columns=columns)
    team = aggregate_agents(last, aggregate, ["run_id", "episode"])
    out = team.groupby("run_id").agg(score=("reward", "mean"), eval_episodes=("episode", "nunique"))
    out["eval_step"] = last.groupby("run_id")["step"].max()
    for name, metric in (("collision_rate", COLLISION_METRIC), ("completion_rate", COMPLETION_METRIC)):
        out[name] = last.groupby("run_id")[metric].mean() if metric in last else np.nan
    return out.reset_index()[columns]


RUNNING_WINDOW = 100
"""Training episodes in a running mean (the Atari convention, e.g. SB3's ``ep_rew_mean``)."""


def running_scores(
    episodes: pd.DataFrame, window: int = RUNNING_WINDOW, aggregate: str = "team-mean"
) -> pd.DataFrame:
    """One row per run: the mean ``aggregate`` return of its last ``window`` training episodes.

    Episodes are taken in the order the run recorded them (its ``episode`` counter). Columns:
    run_id, running_mean, games (episodes averaged: ``window``, or fewer when the run has fewer).
    """
    columns = ["run_id", "running_mean", "games"]
    if episodes.empty:
        return pd.DataFrame(columns=columns)
    team = aggregate_agents(episodes, aggregate, ["run_id", "episode"])
    last = team.sort_values(["run_id", "episode"], kind="stable").groupby("run_id").tail(window)
    out = last.groupby("run_id", as_index=False).agg(
        running_mean=("reward", "mean"), games=("episode", "size")
    )
    return out[columns]


def agent_scores(evals: pd.DataFrame, eval_options: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """One row per (run, agent): the agent's mean return over its run's last evaluation (see
    :func:`last_evals` for ``eval_options``)."""
    last = last_evals(evals, eval_options)
    if last.empty:
        return pd.DataFrame(columns=["run_id", "agent", "score"])
    return last.groupby(["run_id", "agent"], as_index=False).agg(score=("reward", "mean"))


_NUMBER = re.compile(r"(\d+)")


def agent_order(agents: Iterable[str]) -> list[str]:
    """Agents in natural order (agent_2 before agent_10), the team last."""

    def key(name: str) -> tuple[int, list[Any]]:
        return (name == TEAM, [int(p) if p.isdigit() else p for p in _NUMBER.split(name)])

    return sorted(set(agents), key=key)


# ---------------------------------------------------------------------------------------------
# learning curves
# ---------------------------------------------------------------------------------------------
def eval_curves(runs: pd.DataFrame, evals: pd.DataFrame, aggregate: str = "per-agent") -> pd.DataFrame:
    """Per run and agent, the mean return of each evaluation during training.

    Columns: run_id, agent, point (the eval_id), step (training env steps), reward.
    """
    check_aggregation(aggregate)
    evals = training_evals(evals[evals["run_id"].isin(runs["run_id"])])
    columns = ["run_id", "agent", "point", "step", "reward"]
    if evals.empty:
        return pd.DataFrame(columns=columns)
    if aggregate != "per-agent":
        evals = aggregate_agents(evals, aggregate, ["run_id", "eval_id", "episode"])
    out = evals.groupby(["run_id", "agent", "eval_id"], as_index=False).agg(
        step=("step", "first"), reward=("reward", "mean")
    )
    return out.rename(columns={"eval_id": "point"})[columns]


def train_curves(
    runs: pd.DataFrame, episodes: pd.DataFrame, aggregate: str = "per-agent", bins: int = 40
) -> pd.DataFrame:
    """Per run and agent, the mean training-episode return in each of ``bins`` equal step intervals.

    The intervals split ``[0, largest budget of the group]``; runs of one group share them so seeds
    line up. Columns: run_id, agent, point (interval index), step (the interval's right end),
    wall_time (mean seconds since the run started), reward.
    """
    check_aggregation(aggregate)
    columns = ["run_id", "agent", "point", "step", "wall_time", "reward"]
    episodes = episodes[episodes["run_id"].isin(runs["run_id"])]
    if episodes.empty:
        return pd.DataFrame(columns=columns)
    if aggregate != "per-agent":
        episodes = aggregate_agents(episodes, aggregate, ["run_id", "episode"])
    key = runs.set_index("run_id")["group_key"] if "group_key" in runs else runs.set_index("run_id")["algo"]
    budget = runs.set_index("run_id")["total_steps"].astype(float)
    group_of = episodes["run_id"].map(key)
    last_step = episodes.groupby(group_of)["step"].max()
    budget_of = budget.groupby(key).max()
    top = np.maximum(group_of.map(budget_of).to_numpy(float), group_of.map(last_step).to_numpy(float))
    top = np.where(top > 0, top, 1.0)
    point = np.clip(np.ceil(episodes["step"].to_numpy(float) / top * bins) - 1, 0, bins - 1).astype(int)
    frame = episodes.assign(point=point, top=top)
    out = frame.groupby(["run_id", "agent", "point"], as_index=False).agg(
        reward=("reward", "mean"), wall_time=("wall_time", "mean"), top=("top", "first")
    )
    out["step"] = (out["point"] + 1) / bins * out["top"]
    return out[columns]


def across_seeds(
    curves: pd.DataFrame, runs: pd.DataFrame, by: Sequence[str] = ("label", "env")
) -> pd.DataFrame:
    """Mean over seeds and 95% bootstrap CI of the mean at each point of each group and agent.

    ``curves`` comes from :func:`eval_curves` or :func:`train_curves`; ``runs`` gives each run's
    ``by`` columns. Columns: *by, agent, point, step, (wall_time,) mean, ci_low, ci_high, seeds.
    """
    by = list(by)
    meta = runs.set_index("run_id")[by]
    data = curves.join(meta, on="run_id")
    has_wall = "wall_time" in data
    pieces = []
    for keys, group in data.groupby([*by, "agent"], sort=False):
        matrix = group.pivot_table(index="run_id", columns="point", values="reward", aggfunc="mean")
        points = matrix.columns.to_numpy()
        values = matrix.to_numpy(float)
        low, high = bootstrap_band(values)
        piece = pd.DataFrame(
            {
                "point": points,
                "step": group.groupby("point")["step"].mean().reindex(points).to_numpy(),
                "mean": np.nanmean(values, axis=0),
                "ci_low": low,
                "ci_high": high,
                "seeds": np.sum(np.isfinite(values), axis=0),
            }
        )
        if has_wall:
            piece["wall_time"] = group.groupby("point")["wall_time"].mean().reindex(points).to_numpy()
        for name, value in zip([*by, "agent"], keys, strict=True):
            piece[name] = value
        pieces.append(piece)
    columns = [
        *by,
        "agent",
        "point",
        "step",
        *(["wall_time"] if has_wall else []),
        "mean",
        "ci_low",
        "ci_high",
    ]
    if not pieces:
        return pd.DataFrame(columns=[*columns, "seeds"])
    return pd.concat(pieces, ignore_index=True)[[*columns, "seeds"]]


def wall_time_at_steps(runs: pd.DataFrame, episodes: pd.DataFrame, curves: pd.DataFrame) -> pd.Series:
    """Wall-clock seconds at each curve row's ``step``, interpolated from the run's training episodes."""
    out = np.full(len(curves), np.nan)
    for run_id, index in curves.groupby("run_id").groups.items():
        run_eps = episodes[episodes["run_id"] == run_id].drop_duplicates("episode").sort_values("step")
        if run_eps.empty:
            continue
        xs = np.concatenate([[0.0], run_eps["step"].to_numpy(float)])
        ys = np.concatenate([[0.0], run_eps["wall_time"].to_numpy(float)])
        positions = curves.index.get_indexer(index)
        out[positions] = np.interp(curves.loc[index, "step"].to_numpy(float), xs, ys)
    return pd.Series(out, index=curves.index)
