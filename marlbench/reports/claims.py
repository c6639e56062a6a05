"""Verdicts on the papers' claims (issue 16): pure functions from ledger DataFrames to a :class:`Verdict`.

For a claim (:class:`marlbench.preset_parts.Claim`) the runs of arm A and arm B (one stratum per
pair of variants, e.g. one per environment) are scored, and a statistic with a 95% percentile
bootstrap CI is computed; the bootstrap resamples each arm of each stratum on its own (rliable's
stratified bootstrap, Agarwal et al. 2021), seeded, :data:`~marlbench.reports.stats.RESAMPLES` times.

* ``probability-of-improvement``: P(A > B), ties 1/2, averaged over strata; no difference = 0.5.
* ``per-agent``: the same for every agent on its own; reproduced only when every agent's CI says so,
  contradicted when some agent's CI says the opposite.
* ``ratio``: mean(A) / mean(B) averaged over strata (e.g. wall times); no difference = 1. With
  ``expect`` (the paper's range) a CI entirely outside the range contradicts the claim.
* ``threshold``: mean(A) against the paper's value (e.g. 123% of human expert).
* ``describe``: A's (and B's) mean with its CI; nothing to test ("reported").

Verdict: **reproduced** when the CI excludes "no difference" in the claimed direction,
**contradicted** when it excludes it in the other direction, **inconclusive** otherwise (also when
an arm has fewer than 2 runs: no interval), **missing** when an arm has no finished run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from marlbench.preset_parts import Claim
from marlbench.reports.data import (
    agent_scores,
    aggregate_agents,
    filter_runs,
    run_scores,
    running_scores,
    training_evals,
)
from marlbench.reports.stats import STATISTIC_FUNCTIONS, stratified_statistic

FEW_SEEDS = 5
"""Fewer runs than this in an arm: the verdict says so (a CI from 2-4 seeds is fragile)."""
VERDICTS = ("reproduced", "contradicted", "inconclusive", "missing", "reported")


@dataclass(frozen=True)
class AgentResult:
    agent: str
    value: float
    low: float
    high: float
    verdict: str


@dataclass(frozen=True)
class Verdict:
    """A claim's outcome on the runs of one budget."""

    claim: Claim
    verdict: str
    value: float = float("nan")
    low: float = float("nan")
    high: float = float("nan")
    null: float = float("nan")
    n_a: int = 0
    n_b: int = 0
    budget: str = ""
    """The budget the runs used, e.g. ``tier night: 300,000 steps, seeds 0-4``."""
    wall_hours: float = 0.0
    """Wall-clock hours of the runs used (both arms)."""
    agents: tuple[AgentResult, ...] = ()
    notes: tuple[str, ...] = ()
    command: str = ""
    """What produces the missing runs (``missing``) or more seeds."""
    extra: dict[str, float] = field(default_factory=dict)

    def statistic_words(self) -> str:
        return statistic_words(self.claim)


def statistic_words(claim: Claim) -> str:
    """A short name of the claim's statistic, e.g. ``P(A>B) of last-eval (team-mean)``."""
    score = claim.score + ("" if claim.score in ("wall-time", "percent-human") else f", {claim.aggregate}")
    sides = [f"{side}: {p.upper()}" for side, p in (("A", claim.policy_a), ("B", claim.policy_b)) if p]
    if sides:  # the policy a side's CTEDD runs are scored by (their variant tests)
        score += f"; {', '.join(sides)}"
    words = {
        "probability-of-improvement": f"P(A>B) of {score}",
        "per-agent": f"P(A>B) of {claim.score} per agent",
        "ratio": f"mean(A)/mean(B) of {claim.score}",
        "threshold": f"mean(A) of {score} vs {claim.threshold:g}" if claim.threshold is not None else "",
        "describe": f"mean(A) of {score}",
    }
    return words[claim.statistic]


# ---------------------------------------------------------------------------------------------
# scores of runs
# ---------------------------------------------------------------------------------------------
def policy_evals(evals: pd.DataFrame, policy: str) -> pd.DataFrame:
    """Evaluations during training of the run's own policy (``policy`` "") or of its tests of ``policy``."""
    if not policy:
        return training_evals(evals)
    chosen = evals[evals["policy"] == policy] if "policy" in evals else evals.iloc[:0]
    return chosen[chosen["env_options"] == ""] if "env_options" in chosen else chosen


def _last_only(evals: pd.DataFrame) -> pd.DataFrame:
    if evals.empty:
        return evals
    return evals[evals["eval_id"] == evals.groupby("run_id")["eval_id"].transform("max")]


def run_score_table(
    claim: Claim, runs: pd.DataFrame, evals: pd.DataFrame, episodes: pd.DataFrame | None, policy: str
) -> pd.DataFrame:
    """One row per (run, agent) with ``score``; ``agent`` is "team" unless the statistic is per agent."""
    from marlbench.envs.atari_scores import percent_human

    ids = list(runs["run_id"])
    chosen = policy_evals(evals[evals["run_id"].isin(ids)], policy)
    if policy:  # run_scores keeps only the run's own policy: relabel the tests as its evaluations
        chosen = chosen.assign(policy="")
    if claim.statistic == "per-agent":
        return agent_scores(_last_only(chosen))
    if claim.score in ("last-eval", "collision-rate", "completion-rate"):
        table = run_scores(chosen, claim.aggregate)
        column = {"last-eval": "score"}.get(claim.score, claim.score.replace("-", "_"))
        return pd.DataFrame({"run_id": table["run_id"], "agent": "team", "score": table[column]})
    if claim.score == "late-spread":
        team = (
            aggregate_agents(chosen, claim.aggregate, ["run_id", "eval_id", "episode"])
            if len(chosen)
            else chosen
        )
        means = team.groupby(["run_id", "eval_id"])["reward"].mean() if len(team) else pd.Series(dtype=float)
        rows = []
        for run_id, series in means.groupby(level=0):
            late = series.sort_index().tail(claim.late_evals)
            if len(late) >= 2:
                rows.append({"run_id": run_id, "agent": "team", "score": float(np.std(late, ddof=1))})
        return pd.DataFrame(rows, columns=["run_id", "agent", "score"])
    if claim.score == "wall-time":
        per_step = runs["wall_time_s"].astype(float) / runs["steps"].clip(lower=1).astype(float)
        return pd.DataFrame({"run_id": runs["run_id"], "agent": "team", "score": per_step})
    mine = episodes[episodes["run_id"].isin(ids)] if episodes is not None else pd.DataFrame()
    table = (
        running_scores(mine, aggregate=claim.aggregate)
        if len(mine)
        else pd.DataFrame(columns=["run_id", "running_mean"])
    )
    values = table["running_mean"].astype(float)
    if claim.score == "percent-human":
        env_of = runs.set_index("run_id")["env"]
        values = pd.Series(
            [
                percent_human(env_of[r], v, baseline="floor")
                for r, v in zip(table["run_id"], values, strict=True)
            ],
            dtype=float,
        )
    return pd.DataFrame({"run_id": table["run_id"], "agent": "team", "score": values.to_numpy()})


def decide(claim: Claim, low: float, high: float, null: float) -> str:
    """The verdict of a CI ``[low, high]`` against ``null`` (no difference) in the claim's direction."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return "inconclusive"
    if claim.statistic == "ratio" and claim.expect is not None:
        lo, hi = claim.expect
        if high < lo or low > hi:
            return "contradicted"
    m = claim.margin
    if claim.direction == "greater":
        return "reproduced" if low > null else "contradicted" if high < null else "inconclusive"
    if claim.direction == "less":
        return "reproduced" if high < null else "contradicted" if low > null else "inconclusive"
    if claim.direction == "no-worse":
        return "contradicted" if high < null else "reproduced" if low >= null - m else "inconclusive"
    inside = null - m <= low and high <= null + m  # equivalent
    outside = high < null - m or low > null + m
    return "reproduced" if inside else "contradicted" if outside else "inconclusive"


# ---------------------------------------------------------------------------------------------
# which runs, at which budget
# ---------------------------------------------------------------------------------------------
def run_budget(tags: str, total_steps: int) -> str:
    """A run's budget name: its tier (``tier:<name>`` tag) or its step budget."""
    tiers = [t.removeprefix("tier:") for t in str(tags).split(",") if t.startswith("tier:")]
    return f"tier {tiers[0]}" if tiers else f"{int(total_steps):,} steps"


def claim_runs(
    claim: Claim, preset: str, runs: pd.DataFrame, tier: str | None = None
) -> tuple[str, pd.DataFrame, list[str]]:
    """``(budget, runs, missing variants)``: the finished runs of the claim's variants at one budget.

    The budget is ``tier`` when given, else the largest budget (most steps) at which every variant
    of the claim has a finished run; ``missing`` lists the variants without one (then ``runs`` is the
    part that exists at the best budget).
    """
    if runs.empty:
        return (f"tier {tier}" if tier else ""), runs, list(dict.fromkeys(claim.variants()))
    mine = filter_runs(runs, preset=preset)
    mine = mine[(mine["status"] == "finished") & mine["variant"].isin(claim.variants())].copy()
    mine["budget"] = [run_budget(t, s) for t, s in zip(mine["tags"], mine["total_steps"], strict=True)]
    if tier:
        mine = mine[mine["budget"] == f"tier {tier}"]
    wanted = list(dict.fromkeys(claim.variants()))
    ranked = sorted(
        mine.groupby("budget"),
        key=lambda item: (set(item[1]["variant"]) >= set(wanted), item[1]["total_steps"].sum()),
        reverse=True,
    )
    if not ranked:
        return (f"tier {tier}" if tier else ""), mine, wanted
    budget, chosen = ranked[0]
    return str(budget), chosen, [v for v in wanted if v not in set(chosen["variant"])]


def _seed_words(seeds: Sequence[int]) -> str:
    seeds = sorted(int(s) for s in seeds)
    if seeds and seeds == list(range(seeds[0], seeds[-1] + 1)) and len(seeds) > 2:
        return f"seeds {seeds[0]}-{seeds[-1]}"
    return "seeds " + ",".join(str(s) for s in seeds)


def evaluate_claim(
    claim: Claim,
    preset: str,
    runs: pd.DataFrame,
    evals: pd.DataFrame,
    episodes: pd.DataFrame | None = None,
    *,
    tier: str | None = None,
    command: str = "",
) -> Verdict:
    """The verdict on ``claim`` from the ledger's ``runs``, ``evals`` (and ``episodes`` for training-game
    scores). ``command`` is what produces missing runs, e.g. ``marlbench preset run P --tier night``."""
    budget, chosen, missing = claim_runs(claim, preset, runs, tier)
    if missing:
        return Verdict(
            claim,
            "missing",
            budget=budget,
            command=command,
            notes=(f"no finished runs of {', '.join(missing)}",),
        )
    steps = sorted(set(int(s) for s in chosen["total_steps"]))
    budget_text = f"{budget}: {'/'.join(f'{s:,}' for s in steps)} steps, {_seed_words(set(chosen['seed']))}"
    wall = float(chosen["wall_time_s"].fillna(0).sum()) / 3600
    pairs = list(zip(claim.a, claim.b or [None] * len(claim.a), strict=True))
    scores = {}
    for side, policy in (("a", claim.policy_a), ("b", claim.policy_b)):
        names = claim.a if side == "a" else claim.b
        scores[side] = run_score_table(claim, chosen[chosen["variant"].isin(names)], evals, episodes, policy)
    variant_of = chosen.set_index("run_id")["variant"]
    agents = sorted(set(scores["a"]["agent"])) if claim.statistic == "per-agent" else ["team"]

    def arm(side: str, variant: str | None, agent: str) -> np.ndarray | None:
        if variant is None:
            return None
        table = scores[side]
        rows = table[(table["run_id"].map(variant_of) == variant) & (table["agent"] == agent)]
        values = rows["score"].to_numpy(float)
        return values[np.isfinite(values)]

    function = STATISTIC_FUNCTIONS[claim.statistic]
    null = {"ratio": 1.0, "threshold": claim.threshold}.get(claim.statistic, 0.5)
    results = []
    for agent in agents:
        strata = [(arm("a", a, agent), arm("b", b, agent)) for a, b in pairs]
        if any(x is not None and x.size == 0 for s in strata for x in s):
            return Verdict(
                claim,
                "missing",
                budget=budget_text,
                command=command,
                notes=(f"runs without a {claim.score} score",),
            )
        value, low, high = stratified_statistic(strata, function)  # type: ignore[arg-type]
        results.append(AgentResult(agent, value, low, high, decide(claim, low, high, float(null or 0.0))))
    n_a = int(sum(len(arm("a", a, agents[0])) for a in claim.a))  # type: ignore[arg-type]
    n_b = int(sum(len(arm("b", b, agents[0])) for b in claim.b))  # type: ignore[arg-type]
    notes = []
    if min(n_a, n_b if claim.b else n_a) < FEW_SEEDS:
        notes.append(f"few seeds (n < {FEW_SEEDS}): the interval is fragile; run more seeds with {command}")
    if claim.statistic == "per-agent":
        verdicts = {r.verdict for r in results}
        verdict = (
            "contradicted"
            if "contradicted" in verdicts
            else "reproduced"
            if verdicts == {"reproduced"}
            else "inconclusive"
        )
        worst = min(results, key=lambda r: r.low if np.isfinite(r.low) else -np.inf)
        value, low, high = worst.value, worst.low, worst.high
        notes.append(f"value and CI: the agent with the lowest bound ({worst.agent})")
    else:
        verdict, value, low, high = results[0].verdict, results[0].value, results[0].low, results[0].high
    if claim.statistic == "describe":
        verdict = "reported"
    elif budget == "tier smoke" and verdict in ("reproduced", "contradicted"):
        # the smoke tier checks the pipeline in minutes: what it shows is not evidence about a paper
        notes.append(f"smoke tier: a pipeline check, too short to count ({verdict} at this budget)")
        verdict = "inconclusive"
    if not np.isfinite(low):
        notes.append("an arm has fewer than 2 runs: no interval")
    return Verdict(
        claim,
        verdict,
        value,
        low,
        high,
        float(null or 0.0),
        n_a,
        n_b,
        budget_text,
        wall,
        tuple(results) if claim.statistic == "per-agent" else (),
        tuple(notes),
        command,
    )
