"""Rendering the compare table: Rich, Markdown, CSV, LaTeX and JSON (text only; the CLI writes it).

The human formats (Rich, Markdown, LaTeX) show the cells of :func:`display_rows`; CSV and JSON carry
every field of :data:`marlbench.reports.compare.FIELDS` (the stable contract documented there).
"""

from __future__ import annotations

import io
import json
import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from marlbench.reports.compare import ATARI_FIELDS, FEW_SEEDS, FIELDS, UNTRAINED, CompareTable
from marlbench.reports.data import RUNNING_WINDOW
from marlbench.reports.stats import CONFIDENCE, RESAMPLES

FORMATS = ("rich", "markdown", "csv", "latex", "json")


def _num(value: float, digits: int = 2) -> str:
    return "-" if value is None or not np.isfinite(value) else f"{value:,.{digits}f}"


def _percent_points(value: float) -> str:
    """A value already in percent: '123%'."""
    return "-" if value is None or not np.isfinite(value) else f"{value:,.0f}%"


def _pct(value: float) -> str:
    return "-" if value is None or not np.isfinite(value) else f"{100 * value:.1f}%"


def _duration(seconds: float) -> str:
    if seconds is None or not np.isfinite(seconds):
        return "-"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"


def display_rows(table: CompareTable, per_agent: bool = False) -> tuple[list[str], list[list[str]]]:
    """Header and text cells shown by the human formats (Rich, Markdown, LaTeX)."""
    rows = table.rows
    header = ["algorithm", "env", "seeds", "mean", "IQM", "95% CI", "steps", "wall time", "env steps/s"]
    header.append("updates")
    # rates under both traffic densities (paper 000's final evaluations) in place of the last training
    # evaluation's, when a row has both (CSV and JSON keep every field)
    both = bool(rows[["collision_rate@low", "collision_rate@high"]].notna().all(axis=1).any())
    densities = [r for r in ("collision_rate", "completion_rate") if both]
    metrics = [
        (name, title)
        for name, title in (("collision_rate", "collision"), ("completion_rate", "completion"))
        if rows[name].notna().any() and not both
    ]
    header += [title for _, title in metrics]
    header += [f"{rate.split('_')[0]} low / high" for rate in densities]
    atari = bool(rows[list(ATARI_FIELDS)].notna().any().any()) or bool(table.references)
    if atari:
        header += [f"running mean ({RUNNING_WINDOW} games)", "% human", "% human (paper)"]
    if table.vs:
        header.append(f"P(> {table.vs})")
    if per_agent:
        header += table.agents
    cells: list[list[str]] = []
    for row in rows.to_dict("records"):
        few = "*" if 0 < row["seeds"] < FEW_SEEDS else ""
        ci = (
            "-" if not np.isfinite(row["ci_low"]) else f"[{_num(row['ci_low'])}, {_num(row['ci_high'])}]{few}"
        )
        seeds = str(row["seeds"]) + (f" (+{row['excluded']} not scored)" if row["excluded"] else "")
        iqm = _num(row["iqm"]) + (few if np.isfinite(row["iqm"]) else "")
        line = [
            row["label"],
            row["env"],
            seeds,
            _num(row["mean"]),
            iqm,
            ci,
            _num(row["steps"], 0),
            _duration(row["wall_time_s"]),
            _num(row["steps_per_s"], 0),
            UNTRAINED if row["untrained"] else _num(row["updates"], 0),
        ]
        line += [_pct(row[name]) for name, _ in metrics]
        line += [f"{_pct(row[f'{rate}@low'])} / {_pct(row[f'{rate}@high'])}" for rate in densities]
        if atari:
            line += [
                _running(row["running_mean"], row["running_games"]),
                _percent_points(row["percent_human"]),
                _percent_points(row["percent_human_paper"]),
            ]
        if table.vs:
            line.append(_improvement(row))
        if per_agent:
            line += [_num(row["per_agent"].get(agent, math.nan)) for agent in table.agents]
        cells.append(line)
    return header, cells


def _improvement(row: dict[str, Any]) -> str:
    """'0.83 [0.50, 1.00]', '0.83' without a CI, '-' on the baseline's row."""
    value, low, high = row["p_improvement"], row["p_improvement_low"], row["p_improvement_high"]
    if not np.isfinite(value):
        return "-"
    return _num(value) + (f" [{_num(low)}, {_num(high)}]" if np.isfinite(low) else "")


def _running(mean: float, games: float) -> str:
    """'16.20', or '16.20 (40 games)' when a run played fewer games than the window."""
    if not np.isfinite(mean):
        return "-"
    short = np.isfinite(games) and games < RUNNING_WINDOW
    return _num(mean) + (f" ({games:.0f} games)" if short else "")


def flat_frame(table: CompareTable, per_agent: bool = False) -> pd.DataFrame:
    """The rows as a flat DataFrame (the CSV): every field, per-agent means as ``per_agent:<agent>``."""
    frame = table.rows.drop(columns=["per_agent"]).copy()
    if per_agent:
        for agent in table.agents:
            frame[f"per_agent:{agent}"] = [d.get(agent, math.nan) for d in table.rows["per_agent"]]
    return frame


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return None if not math.isfinite(float(value)) else float(value)
    return value


def to_json(table: CompareTable) -> str:
    """``{"score", "aggregation", "confidence", "resamples", "vs", "fields", "rows", "excluded",
    "running_window", "references", "references_text"}``.

    ``references`` maps each Atari environment of the table to ``{"random", "human", "floor"}``
    (empty without Atari rows); ``references_text`` says the same in words ('' without them).
    """
    payload = {
        "score": table.score_text,
        "aggregation": table.aggregation,
        "confidence": CONFIDENCE,
        "resamples": RESAMPLES,
        "vs": table.vs,
        "fields": list(FIELDS),
        "rows": [{k: _clean(row[k]) for k in FIELDS} for row in table.rows.to_dict("records")],
        "excluded": [_clean(r) for r in table.excluded.to_dict("records")],
        "running_window": RUNNING_WINDOW,
        "references": {
            env: {"random": ref.random, "human": ref.human, "floor": ref.floor}
            for env, ref in sorted(table.references.items())
        },
        "references_text": table.references_text,
    }
    return json.dumps(payload, indent=2)


def to_csv(table: CompareTable, per_agent: bool = False) -> str:
    buffer = io.StringIO()
    flat_frame(table, per_agent).to_csv(buffer, index=False, lineterminator="\n")
    return buffer.getvalue()


def to_markdown(table: CompareTable, per_agent: bool = False) -> str:
    header, cells = display_rows(table, per_agent)

    def line(items: Sequence[str]) -> str:
        return "| " + " | ".join(item.replace("|", "\\|") for item in items) + " |"

    numeric = {i for i, name in enumerate(header) if name not in ("algorithm", "env", "95% CI")}
    rule = ["---:" if i in numeric else "---" for i in range(len(header))]
    out = [line(header), "| " + " | ".join(rule) + " |", *(line(c) for c in cells)]
    return "\n".join(out) + f"\n\n{table.caption}\n"


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def to_latex(table: CompareTable, per_agent: bool = False) -> str:
    """A ``table`` environment with a booktabs ``tabular`` (needs ``\\usepackage{booktabs}``)."""
    header, cells = display_rows(table, per_agent)
    align = "ll" + "r" * (len(header) - 2)
    envs = "-".join(sorted({str(e) for e in table.rows["env"]})) or "runs"
    body = [
        r"% needs \usepackage{booktabs} (\toprule, \midrule, \bottomrule)",
        r"\begin{table}[t]",
        r"\centering",
        rf"\caption{{{latex_escape(table.caption)}}}",
        rf"\label{{tab:marlbench-{re.sub(r'[^A-Za-z0-9-]', '-', envs)}}}",
        rf"\begin{{tabular}}{{{align}}}",
        r"\toprule",
        " & ".join(latex_escape(h) for h in header) + r" \\",
        r"\midrule",
        *(" & ".join(latex_escape(c) for c in row) + r" \\" for row in cells),
        r"\bottomrule",
        r"\end{tabular}",
        r"\end{table}",
    ]
    return "\n".join(body) + "\n"


def to_rich(table: CompareTable, per_agent: bool = False) -> Any:
    """A Rich Table (title: the score; caption: the runs left out)."""
    from rich.markup import escape
    from rich.table import Table

    header, cells = display_rows(table, per_agent)
    out = Table(
        title=escape(table.caption), caption=escape(table.excluded_text()) or None, title_justify="left"
    )
    for i, name in enumerate(header):
        out.add_column(name, justify="left" if i < 2 or name == "95% CI" else "right")
    for row in cells:
        out.add_row(*(escape(cell) for cell in row))  # a label like 'a2c [steps=4000]' is not markup
    return out


def render(table: CompareTable, fmt: str, per_agent: bool = False) -> str:
    """``table`` as text in ``fmt`` (markdown, csv, latex, json); Rich is printed by the CLI."""
    if fmt == "markdown":
        return to_markdown(table, per_agent)
    if fmt == "csv":
        return to_csv(table, per_agent)
    if fmt == "latex":
        return to_latex(table, per_agent)
    if fmt == "json":
        return to_json(table)
    raise ValueError(f"unknown format {fmt!r}; valid: {', '.join(FORMATS)}")
