"""Verdicts as text: the ``marlbench verdict`` table (rows), Markdown, JSON, and the results page.

Every table states the honesty rules of issue 16: the score (a run's last evaluation mean unless
the claim says otherwise), the aggregation over agents, the seeds and budget, and the reward
convention (per agent, per episode, undiscounted; EPyMARL and MARLlib report other scales).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from marlbench.reports.claims import Verdict

CONVENTION = (
    "Rewards are undiscounted returns per agent per episode, as the environment gives them; team "
    "scores average (team-mean) or add (team-sum) the agents of each episode. EPyMARL and MARLlib "
    "report other scales (e.g. episode returns summed over agents, or over a fixed horizon): compare "
    "with them only after converting."
)
SCORE_WORDS = {
    "last-eval": "mean return of the run's last deterministic evaluation",
    "late-spread": "std of the means of the run's last evaluations",
    "wall-time": "the run's wall-clock seconds per env step (budgets rounded to whole rollouts differ)",
    "running-mean": "mean raw score of the run's last 100 training games",
    "percent-human": "running mean as % of human expert, paper 002's column (game floor as baseline)",
    "collision-rate": "collision rate of the run's last evaluation",
    "completion-rate": "completion rate of the run's last evaluation",
}


@dataclass(frozen=True)
class TierPlan:
    """A tier of a preset: its runs and projected hours (NaN when some pair was never measured)."""

    name: str
    about: str
    runs: int
    steps: int
    hours: float
    unknown: tuple[str, ...] = ()


@dataclass(frozen=True)
class PresetVerdicts:
    """Every claim of one preset, judged on one ledger."""

    preset: str
    paper: str
    description: str
    verdicts: tuple[Verdict, ...]
    tiers: tuple[TierPlan, ...] = ()
    machine: str = ""
    figures: tuple[str, ...] = field(default_factory=tuple)
    """Paths (relative to the page) of the figures drawn for this preset."""


def number(value: float) -> str:
    if not math.isfinite(value):
        return "-"
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def ci_text(v: Verdict) -> str:
    return f"[{number(v.low)}, {number(v.high)}]" if math.isfinite(v.low) else "-"


def hours_text(hours: float) -> str:
    """``4.6 h``, ``12 min`` under an hour, ``unknown`` for NaN."""
    if not math.isfinite(hours):
        return "unknown"
    return f"{hours:.1f} h" if hours >= 1 else f"{max(1, round(hours * 60))} min"


def verdict_record(v: Verdict) -> dict[str, Any]:
    """One verdict as plain data (the JSON format)."""

    def plain(x: float) -> float | None:
        return x if math.isfinite(x) else None

    c = v.claim
    return {
        "id": c.id,
        "text": c.text,
        "a": list(c.a),
        "b": list(c.b),
        "statistic": v.statistic_words(),
        "direction": c.direction,
        "score": c.score,
        "aggregate": "per-agent" if c.statistic == "per-agent" else c.aggregate,
        "verdict": v.verdict,
        "value": plain(v.value),
        "ci_low": plain(v.low),
        "ci_high": plain(v.high),
        "no_difference": plain(v.null),
        "n_a": v.n_a,
        "n_b": v.n_b,
        "budget": v.budget,
        "wall_hours": round(v.wall_hours, 3),
        "agents": [
            {"agent": a.agent, "value": plain(a.value), "ci_low": plain(a.low), "ci_high": plain(a.high)}
            for a in v.agents
        ],
        "notes": list(v.notes),
        "command": v.command,
    }


def to_json(items: Sequence[PresetVerdicts]) -> str:
    return json.dumps(
        [
            {
                "preset": p.preset,
                "paper": p.paper,
                "claims": [verdict_record(v) for v in p.verdicts],
                "tiers": [
                    {
                        "tier": t.name,
                        "runs": t.runs,
                        "steps": t.steps,
                        "hours": t.hours if math.isfinite(t.hours) else None,
                    }
                    for t in p.tiers
                ],
            }
            for p in items
        ],
        indent=2,
    )


def table_rows(p: PresetVerdicts) -> list[list[str]]:
    """Rows of the claims table: claim, verdict, statistic, value, CI, n A/B, budget, wall time, notes."""
    rows = []
    for v in p.verdicts:
        notes = list(v.notes)
        if v.verdict == "missing":
            notes.append(run_words(p, v))
        rows.append(
            [
                v.claim.id,
                "not run" if v.verdict == "missing" and not v.n_a else v.verdict,
                v.statistic_words(),
                number(v.value),
                ci_text(v),
                f"{v.n_a}/{v.n_b}" if v.claim.b else str(v.n_a),
                v.budget or "-",
                f"{v.wall_hours:.2f} h" if v.wall_hours else "-",
                "; ".join(notes),
            ]
        )
    return rows


def run_words(p: PresetVerdicts, v: Verdict) -> str:
    """``run: COMMAND (projected H)`` for a claim without its runs."""
    hours = next((t.hours for t in p.tiers if v.command.endswith(f"--tier {t.name}")), math.nan)
    return f"run: {v.command} (projected {hours_text(hours)})"


HEADER = ["claim", "verdict", "statistic", "value", "95% CI", "n (A/B)", "budget", "wall time", "notes"]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(p: PresetVerdicts, *, level: int = 2) -> str:
    """One preset's section: claims with their paper text, the claims table, tiers, conventions."""
    lines = [f"{'#' * level} {p.preset}", ""]
    if p.paper:
        lines.append(f"Paper {p.paper}. {p.description}")
        lines.append("")
    for v in p.verdicts:
        c = v.claim
        versus = f"{', '.join(c.a)} vs {', '.join(c.b)}" if c.b else ", ".join(c.a)
        lines.append(f"- **{c.id}**: {c.text} ({versus}; score: {SCORE_WORDS[c.score]}, {c.direction})")
    lines += ["", "| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(_cell(x) for x in row) + " |" for row in table_rows(p)]
    if any(v.agents for v in p.verdicts):
        lines += ["", "Per agent, P(A>B) [95% CI]:"]
        for v in p.verdicts:
            if v.agents:
                parts = ", ".join(
                    f"{a.agent} {number(a.value)} [{number(a.low)}, {number(a.high)}]" for a in v.agents
                )
                lines.append(f"- {v.claim.id}: {parts}")
    if p.tiers:
        lines += ["", "Tiers (projected hours: one run at a time, from measured rates):", ""]
        lines += ["| tier | runs | env steps | projected | about |", "|---|---|---|---|---|"]
        for t in p.tiers:
            extra = f" (no rate for {', '.join(t.unknown)})" if t.unknown else ""
            lines.append(
                f"| {t.name} | {t.runs} | {t.steps:,} | {hours_text(t.hours)}{extra} | {_cell(t.about)} |"
            )
    for path in p.figures:
        lines += ["", f"![{p.preset}]({path})"]
    lines.append("")
    return "\n".join(lines)


def results_page(items: Sequence[PresetVerdicts], machine: str, ledger: str, command: str) -> str:
    """The whole ``results/README.md``: headline table, then one section per preset."""
    lines = [
        "# Results: the papers' claims, checked",
        "",
        f"Generated by `{command}` from the ledger `{ledger}`; every number below comes from it. "
        f"Machine: {machine}.",
        "",
        'Verdicts: **reproduced** when the 95% stratified bootstrap CI excludes "no difference" in the '
        "claimed direction, **contradicted** when it excludes it in the other direction, **inconclusive** "
        "otherwise, **not run** when the ledger lacks the runs (the command and its projected hours are "
        "given). A verdict holds at the budget run, which is stated; few seeds (n < 5) make it fragile.",
        "",
        f"Scores: {SCORE_WORDS['last-eval']} unless a claim says otherwise. {CONVENTION}",
        "",
        "| preset | claim | verdict | value | 95% CI | budget |",
        "|---|---|---|---|---|---|",
    ]
    for p in items:
        for row in table_rows(p):
            budget = row[6] if row[1] != "not run" else f"{row[8].split('; ')[-1]}"
            lines.append(f"| {p.preset} | {row[0]} | {row[1]} | {row[3]} | {row[4]} | {_cell(budget)} |")
    lines.append("")
    for p in items:
        lines.append(markdown(p))
    return "\n".join(lines)
