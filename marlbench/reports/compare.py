"""The compare table: one row per algorithm (and variant) x environment, from ledger DataFrames.
:func:`compare` computes it; :mod:`marlbench.reports.render` writes it (Rich, Markdown, CSV, LaTeX, JSON).

Score: for each run, the mean over the episodes of its last evaluation during training (or, with
``eval_options``, of its latest post-hoc ``marlbench evaluate --env-opt`` evaluation with those
env options: :func:`marlbench.reports.selection.posthoc_evals`) of the return aggregated over
agents (``team-mean`` by default, or ``team-sum``); then across the seeds of a row: mean, IQM
and a 95% percentile bootstrap CI of the mean (stratified by environment; one row is one
environment, so it resamples seeds). Only ``finished`` runs with an evaluation are scored;
the others are counted in ``excluded`` and listed. Two scored runs of one row with the same seed
are one seed, not two: the latest finished one is kept (``merged`` counts the others, the caption
says so). Rows with fewer than :data:`FEW_SEEDS` seeds are flagged where they are shown: with
2-4 seeds a percentile bootstrap CI is little more than the range, and the IQM of 3 or fewer
scores is their mean.

Fields of every row (the CSV columns and the JSON ``rows`` objects; stable, documented in
:data:`FIELDS`)::

    label, algo, variant, setting, policy, env, preset, seeds, runs, excluded, mean, iqm, ci_low,
    ci_high, std, steps, wall_time_s, steps_per_s, updates, untrained, collision_rate, completion_rate,
    collision_rate@low, completion_rate@low, collision_rate@high, completion_rate@high, p_improvement,
    p_improvement_low, p_improvement_high, per_agent, running_mean, running_games, percent_human,
    percent_human_paper

The ``<rate>@<traffic>`` fields show a SMARTS run's rates under both densities of paper 000 (its
final evaluations, ``final_evals``); ``collision_rate`` stays that of the last training evaluation.

``per_agent`` is an object ``{agent: mean over seeds of the agent's last-evaluation return}`` in
JSON and, with ``--per-agent``, one CSV column ``per_agent:<agent>`` per agent. Missing values
are ``null`` in JSON and empty in CSV.

A CTEDD run gives a row per policy it tested (paper 001's Fig. 5): :mod:`marlbench.reports.policies`.
Atari environments (those with human reference scores, :data:`marlbench.envs.atari_scores.HUMAN_REFERENCE`)
also get paper 002's Fig. 7 columns, from the training episodes passed as ``episodes`` (each one a
whole game with its raw, unclipped score):

* ``running_mean``: per run, the mean raw score of its last :data:`~marlbench.reports.data.RUNNING_WINDOW`
  (100) training games, the paper's "running mean" (it does not define it; 100 games is the
  usual Atari window, SB3's ``ep_rew_mean``, and about what an exponential average with decay 0.99
  spans); then the mean over the row's scored seeds;
* ``percent_human``: ``100 * (running_mean - random) / (human - random)`` with the random-play and
  human-expert scores of Mnih et al. 2015 (Pong -20.7 / 9.3, Breakout 1.7 / 31.8): random play
  is 0%, the human expert 100%;
* ``percent_human_paper``: the same with the game's lowest score (Pong -21, Breakout 0) in place of
  random play, which is how paper 002's table computed its column (random Pong 1%, Breakout 5%).

The reference scores are named in the caption (``references`` in JSON). Other environments leave
these fields empty. The reference scores are plain data (:mod:`marlbench.envs.atari_scores`): scoring
a ledger's Atari runs needs no ale-py.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from marlbench.envs.atari_scores import GAME_FLOOR, HUMAN_REFERENCE, percent_human
from marlbench.reports.data import (
    AGGREGATION_WORDS,
    RUNNING_WINDOW,
    add_groups,
    agent_order,
    agent_scores,
    run_scores,
    running_scores,
)
from marlbench.reports.densities import DENSITY_FIELDS, density_fields, density_rates
from marlbench.reports.policies import POLICY_FIELD, narrow_to_global, policies_text, split_policies
from marlbench.reports.stats import (
    CONFIDENCE,
    RESAMPLES,
    STATISTIC_FUNCTIONS,
    Summary,
    probability_of_improvement,
    stratified_statistic,
)

FIELDS: dict[str, str] = {
    "label": "algo, or algo/variant, plus [differing config keys] when one algo/variant/env has several",
    "algo": "algorithm name",
    "variant": "preset variant ('' for runs outside presets)",
    "setting": "config keys that tell this row from others of the same algo/variant/env ('' if none)",
    "policy": POLICY_FIELD,
    "env": "environment name",
    "preset": "preset(s) the runs came from, comma-joined ('' if none)",
    "seeds": "number of scored runs (finished, with an evaluation)",
    "runs": "number of runs in the ledger for this row, scored or not",
    "excluded": "runs not scored (failed, crashed, diverged, interrupted, running, no evaluation)",
    "mean": "mean over seeds of the final score",
    "iqm": "interquartile mean over seeds of the final score",
    "ci_low": "lower end of the 95% stratified bootstrap CI of the mean",
    "ci_high": "upper end of the 95% stratified bootstrap CI of the mean",
    "std": "sample standard deviation over seeds",
    "steps": "mean env steps per scored run",
    "wall_time_s": "mean wall-clock seconds per scored run",
    "steps_per_s": "mean env steps per second of the scored runs",
    "updates": "mean gradient updates per scored run (empty when unknown: runs recorded before the count)",
    "untrained": "true when every scored run of a learning algorithm made 0 gradient updates (a budget "
    "at or below its warm-up): the score is an untrained policy's",
    "collision_rate": "share of agent-episodes of the last evaluation with a collision (SMARTS)",
    "completion_rate": "share of agent-episodes of the last evaluation that reached the goal (SMARTS)",
    **DENSITY_FIELDS,
    "p_improvement": "with --vs: probability that a seed of this row beats a seed of the baseline "
    "(empty on the baseline's own row)",
    "p_improvement_low": "with --vs: lower end of the 95% bootstrap CI of p_improvement",
    "p_improvement_high": "with --vs: upper end of the 95% bootstrap CI of p_improvement",
    "per_agent": "mean over seeds of each agent's last-evaluation return",
    "running_mean": f"Atari: mean over seeds of the mean raw score of each run's last {RUNNING_WINDOW} "
    "training games",
    "running_games": f"Atari: training games in the running mean (fewest over seeds; {RUNNING_WINDOW} "
    "unless a run played fewer)",
    "percent_human": "Atari: running_mean as % of human expert, 100 (score - random) / (human - random), "
    "random and human scores of Mnih et al. 2015",
    "percent_human_paper": "Atari: running_mean as % of human expert with the game's lowest score in place "
    "of random play (paper 002's Fig. 7 column)",
}
"""Every field of a compare row and its meaning (the JSON/CSV contract)."""

ATARI_FIELDS = ("running_mean", "running_games", "percent_human", "percent_human_paper")
"""The fields only Atari rows fill."""


@dataclass(frozen=True)
class HumanReference:
    """Reference scores of one Atari game: random play and human expert (Mnih et al. 2015), floor."""

    random: float
    human: float
    floor: float
    """The game's lowest possible score (paper 002's baseline for % of human expert)."""


def human_references() -> dict[str, HumanReference]:
    """Env name -> its reference scores (Mnih et al. 2015, and the game's floor)."""
    return {env: HumanReference(*HUMAN_REFERENCE[env], GAME_FLOOR[env]) for env in HUMAN_REFERENCE}


def running_mean_runs(runs: pd.DataFrame) -> list[str]:
    """Ids of the ``runs`` whose environment has human reference scores (their episodes feed the table)."""
    references = human_references()
    return [r for r, env in zip(runs["run_id"], runs["env"], strict=True) if env in references]


FEW_SEEDS = 5
"""Rows with fewer seeds than this get a caveat next to their IQM and CI."""
UNTRAINED = "0 updates"
"""The mark of a row whose runs never learned (the ``untrained`` field), in the human formats."""
NO_POSTHOC = "no evaluation with those env options"
"""Why a finished run is left out of a table scored by ``--eval-options`` it was never evaluated with."""


def options_text(options: Mapping[str, Any]) -> str:
    """``{"traffic": "high"}`` -> ``traffic=high``."""
    return ", ".join(f"{k}={v}" for k, v in options.items())


@dataclass
class CompareTable:
    """The result of :func:`compare`: rows, the runs left out, and how the score was computed."""

    rows: pd.DataFrame
    excluded: pd.DataFrame
    aggregation: str
    vs: str | None = None
    agents: list[str] = field(default_factory=list)
    references: dict[str, HumanReference] = field(default_factory=dict)
    """Reference scores of the table's Atari environments (named in the caption)."""
    merged: int = 0
    """Scored runs left out because a later run of the same row had the same seed."""
    eval_options: dict[str, Any] | None = None
    """The env options of the post-hoc evaluations that score the runs (None: training evaluations)."""
    stale_note: str = ""
    """Runs of an earlier version of the preset left out (:mod:`marlbench.reports.stale`), or ''."""

    @property
    def evaluation_words(self) -> str:
        """Which evaluation scores a run, in words."""
        if self.eval_options is None:
            return "the last training evaluation"
        return f"the latest post-hoc evaluation with {options_text(self.eval_options)}"

    @property
    def score_text(self) -> str:
        """One sentence saying which evaluation, score and aggregation the table shows."""
        pct = round(CONFIDENCE * 100)
        return (
            f"Final score per seed: mean return over {self.evaluation_words}'s episodes, "
            f"{AGGREGATION_WORDS[self.aggregation]}; across seeds: mean, IQM and {pct}% stratified "
            f"bootstrap CI of the mean ({RESAMPLES:,} resamples)."
        )

    @property
    def references_text(self) -> str:
        """The Atari columns and their reference scores in words ('' without Atari rows)."""
        if not self.references:
            return ""
        refs = sorted(self.references.items())  # scores as the papers write them (:g): -20.7, 9.3, -21
        games = ", ".join(f"{env} {ref.random:g} / {ref.human:g}" for env, ref in refs)
        floors = ", ".join(f"{env} {ref.floor:g}" for env, ref in refs)
        return (
            f"Atari: running mean = mean raw score of each run's last {RUNNING_WINDOW} training games "
            f"(whole games, unclipped), averaged over seeds; % human = 100 (running mean - random) / "
            f"(human - random), with the random-play / human-expert scores of Mnih et al. 2015: {games}; "
            f"% human (paper) puts the game's lowest score ({floors}) in place of random play, as "
            f"paper 002's Fig. 7 does."
        )

    @property
    def caveats_text(self) -> str:
        """Few seeds and merged duplicates, in words ('' when neither applies)."""
        parts = []
        if len(self.rows) and (self.rows["seeds"] < FEW_SEEDS).any():
            parts.append(
                f"* fewer than {FEW_SEEDS} seeds: the CI is close to the range of the scores and the "
                "IQM of 3 or fewer seeds is their mean"
            )
        if self.merged:
            runs = "run" if self.merged == 1 else "runs"
            parts.append(f"{self.merged} earlier {runs} of an already scored seed left out (latest kept)")
        if len(self.rows) and self.rows["untrained"].fillna(False).astype(bool).any():
            parts.append(
                f"{UNTRAINED}: the row's runs made no gradient update (their budget was at or below the "
                "warm-up, learning_starts), so its score is an untrained policy's"
            )
        return "; ".join(parts) + ("." if parts else "")

    @property
    def caption(self) -> str:
        """The score sentence, the caveats, then the Atari references when the table has Atari rows."""
        texts = (self.score_text, policies_text(self.rows), self.caveats_text, self.references_text)
        return " ".join(t for t in texts if t)

    def excluded_text(self) -> str:
        """'3 runs not scored: 2 failed, 1 crashed' or ''."""
        if self.excluded.empty:
            return ""
        counts = self.excluded["reason"].value_counts()
        parts = ", ".join(f"{n} {reason}" for reason, n in counts.items())
        n = len(self.excluded)
        text = f"{n} run{'s' if n != 1 else ''} not scored: {parts} (see 'marlbench runs')"
        if self.eval_options is not None and (self.excluded["reason"] == NO_POSTHOC).any():
            pairs = " ".join(f"--env-opt {k}={v}" for k, v in self.eval_options.items())
            text += f"; evaluate them with: marlbench evaluate RUN {pairs}"
        return text


def compare(
    runs: pd.DataFrame,
    evals: pd.DataFrame,
    *,
    aggregate: str = "team-mean",
    vs: str | None = None,
    episodes: pd.DataFrame | None = None,
    eval_options: Mapping[str, Any] | None = None,
) -> CompareTable:
    """The compare table of ``runs`` (ledger ``runs()`` rows) using their ``evals`` rows.

    ``episodes`` (ledger ``episodes()`` rows of the runs :func:`running_mean_runs` names) gives the
    Atari rows their running mean and % of human expert; without it those fields stay empty.
    ``vs`` names the baseline (an algo, a variant, an ``algo/variant`` label, a policy: ``ctedd-l-1``); each
    row then gets the probability of improvement over the baseline's row on the same env. ValueError when
    the baseline has no row, or more than one on an environment. ``eval_options`` scores each run by
    its latest post-hoc evaluation with those env options (runs without one are excluded).
    """
    eval_options = None if eval_options is None else dict(eval_options)
    runs, evals = split_policies(add_groups(runs), evals, eval_options)
    scores = run_scores(evals, aggregate, eval_options).set_index("run_id")
    per_agent = agent_scores(evals, eval_options)
    references = {env: ref for env, ref in human_references().items() if env in set(runs["env"])}
    games = episodes if episodes is not None and references else pd.DataFrame()
    running = running_scores(games, aggregate=aggregate).set_index("run_id")
    densities = density_rates(runs, evals)
    finished = runs["status"] == "finished"
    has_eval = runs["run_id"].isin(scores.index)
    scored = runs[finished & has_eval]
    latest = scored.sort_values("finished_at", kind="stable")
    latest = latest.drop_duplicates(["group_key", "env", "seed"], keep="last")
    merged = int((scored["source_run"] == "").sum() - (latest["source_run"] == "").sum())
    scored = scored[scored["run_id"].isin(latest["run_id"])]
    reason = np.where(~finished, runs["status"], "no evaluation" if eval_options is None else NO_POSTHOC)
    left_out = ~(finished & has_eval) & (runs["source_run"] == "")  # a policy's copy is not another run
    excluded = runs[left_out].assign(reason=reason[left_out.to_numpy()])
    excluded = excluded[["run_id", "label", "env", "seed", "status", "reason"]].reset_index(drop=True)

    records: list[dict[str, Any]] = []
    seeds_of: dict[tuple[str, str], np.ndarray] = {}
    for (key, env), group in runs.groupby(["group_key", "env"], sort=False):
        first = group.iloc[0]
        mine = scored[(scored["group_key"] == key) & (scored["env"] == env)]
        values = scores.loc[mine["run_id"], "score"].to_numpy(float) if len(mine) else np.array([])
        seeds_of[(first["label"], env)] = values
        summary = Summary.of(values)
        wall = mine["wall_time_s"].to_numpy(float)
        steps = mine["steps"].to_numpy(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            rate = np.where(wall > 0, steps / wall, np.nan)
        agents = per_agent[per_agent["run_id"].isin(mine["run_id"])]
        updates = mine.get("updates", pd.Series(np.nan, index=mine.index)).to_numpy(float)
        presets = sorted({p for p in group["preset"] if p})
        records.append(
            {
                "label": first["label"],
                "algo": first["algo"],
                "variant": first["variant"],
                "setting": first["setting"],
                "policy": first["policy"],
                "env": env,
                "preset": ",".join(presets),
                "seeds": summary.n,
                "runs": len(group),
                "excluded": len(group) - len(mine),
                "mean": summary.mean,
                "iqm": summary.iqm,
                "ci_low": summary.ci_low,
                "ci_high": summary.ci_high,
                "std": summary.std,
                "steps": _nanmean(steps),
                "wall_time_s": _nanmean(wall),
                "steps_per_s": _nanmean(rate),
                "updates": _nanmean(updates),
                "untrained": bool(
                    first["algo"] != "random"
                    and updates.size
                    and np.all(np.isfinite(updates) & (updates == 0))
                ),
                "collision_rate": _nanmean(scores.loc[mine["run_id"], "collision_rate"].to_numpy(float)),
                "completion_rate": _nanmean(scores.loc[mine["run_id"], "completion_rate"].to_numpy(float)),
                **density_fields(densities, list(mine["run_id"])),
                "p_improvement": math.nan,
                "p_improvement_low": math.nan,
                "p_improvement_high": math.nan,
                "per_agent": agents.groupby("agent")["score"].mean().to_dict(),
                **_atari_fields(str(env), references, running, list(mine["run_id"])),
            }
        )
    rows = pd.DataFrame(records, columns=list(FIELDS))
    if len(rows):
        rows = rows.sort_values(["env", "label"], kind="stable").reset_index(drop=True)
    if vs:
        improvements = np.array(_improvements(rows, seeds_of, vs), dtype=float).reshape(-1, 3)
        rows["p_improvement"], rows["p_improvement_low"], rows["p_improvement_high"] = improvements.T
    agents = agent_order(a for d in rows["per_agent"] for a in d)
    return CompareTable(
        rows=rows,
        excluded=excluded,
        aggregation=aggregate,
        vs=vs,
        agents=agents,
        references=references,
        merged=merged,
        eval_options=eval_options,
    )


def _atari_fields(
    env: str, references: dict[str, HumanReference], running: pd.DataFrame, run_ids: list[str]
) -> dict[str, float]:
    """The Atari fields of one row from its scored runs' running means (NaN off Atari or without games)."""
    out = dict.fromkeys(ATARI_FIELDS, math.nan)
    mine = running.reindex(run_ids).dropna(subset=["running_mean"])
    if env not in references or mine.empty:
        return out
    mean = float(mine["running_mean"].mean())
    out["running_mean"] = mean
    out["running_games"] = float(mine["games"].min())
    out["percent_human"] = percent_human(env, mean)
    out["percent_human_paper"] = percent_human(env, mean, baseline="floor")
    return out


def _nanmean(values: np.ndarray) -> float:
    values = np.asarray(values, dtype=float)
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else math.nan


def _improvements(
    rows: pd.DataFrame, seeds_of: dict[tuple[str, str], np.ndarray], vs: str
) -> list[tuple[float, float, float]]:
    """(P(row > baseline), CI low, CI high) on each row's environment.

    NaN where the env has no baseline row, and on the baseline's own row (P = 1/2 by definition
    says nothing). The CI resamples both rows' seeds (:func:`~marlbench.reports.stats.stratified_statistic`).
    """
    plain = rows["algo"] + "/" + rows["variant"]
    # most specific first: a label, a variant, a policy (ctedd-l-1), algo/variant, an algo (CTEDD: its G row)
    broad = [narrow_to_global(rows, m) for m in (rows["variant"] == vs, plain == vs, rows["algo"] == vs)]
    for is_base in (rows["label"] == vs, broad[0], rows["policy"] == vs, *broad[1:]):
        if is_base.any():
            break
    else:
        known = ", ".join(sorted(set(rows["label"])))
        raise ValueError(f"--vs {vs}: no row matches it; rows are: {known}")
    base_by_env: dict[str, str] = {}
    for env, group in rows[is_base].groupby("env"):
        if len(group) > 1:
            raise ValueError(
                f"--vs {vs} matches {len(group)} rows on {env}: {', '.join(group['label'])}; "
                "name one of them exactly"
            )
        base_by_env[str(env)] = str(group["label"].iloc[0])
    nothing = (math.nan, math.nan, math.nan)
    out: list[tuple[float, float, float]] = []
    for label, env in zip(rows["label"], rows["env"], strict=True):
        base = base_by_env.get(env)
        mine, theirs = seeds_of[(label, env)], seeds_of.get((base, env), np.array([]))
        if base is None or base == label or not (mine.size and theirs.size):
            out.append(nothing)
            continue
        value = probability_of_improvement(mine, theirs)
        _, low, high = stratified_statistic(
            [(mine, theirs)], STATISTIC_FUNCTIONS["probability-of-improvement"]
        )
        out.append((value, low, high))
    return out
