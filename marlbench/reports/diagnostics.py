"""The ``diagnostics`` figure: a run's training statistics (the ``metrics`` table) against env steps.

One panel per statistic the learner logged (critic and actor losses, Q values, TD-error size, PER
beta, epsilon, LBS own-fraction, SB3's logger values ...), one line per run. With ``--run RUN_ID``
(repeatable, or comma-separated; unique prefixes work) it draws those runs whatever their status, so
a crashed or diverged run can be looked at; otherwise the finished runs the filters select.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from marlbench.errors import ConfigError
from marlbench.reports.figures import Drawing, Figure, FigureOptions, Needs, ReportData, register_figure

if TYPE_CHECKING:
    import pandas as pd

MAX_PANELS = 24
"""Statistics drawn at most (in name order); the rest are named in a note."""


class RunFigure(Figure):
    """A figure of named runs: ``--run`` picks runs by id or prefix, of any status."""

    def select(self, runs: pd.DataFrame, options: FigureOptions) -> pd.DataFrame:
        if not options.runs:
            return super().select(runs, options)
        ids = list(runs["run_id"])
        chosen = []
        for wanted in options.runs:
            matches = [wanted] if wanted in ids else [r for r in ids if r.startswith(wanted)]
            if len(matches) != 1:
                found = f"is ambiguous: it matches {', '.join(matches[:5])}" if matches else "matches no run"
                raise ConfigError(f"run id '{wanted}' {found}", "see the run ids with: marlbench runs")
            chosen += matches
        return runs[runs["run_id"].isin(chosen)]


def metric_panels(metrics: pd.DataFrame) -> list[str]:
    """The statistics to draw: those with at least one finite value, sorted by name."""
    import numpy as np

    if not len(metrics):
        return []
    finite = metrics[np.isfinite(metrics["value"].to_numpy(dtype=float))]
    return sorted(finite["name"].unique())


def draw_diagnostics(data: ReportData, options: FigureOptions) -> Drawing:
    """Panels of ``value`` against ``step``, one per statistic, a line per run."""
    import matplotlib.pyplot as plt
    import pandas as pd

    metrics = data.metrics if data.metrics is not None else pd.DataFrame(columns=["run_id", "name"])
    names = metric_panels(metrics)
    notes: list[str] = []
    without = sorted(set(data.runs["run_id"]) - set(metrics["run_id"]))
    if without:
        notes.append(f"no diagnostics recorded for: {', '.join(without)}")
    if len(names) > MAX_PANELS:
        notes.append(f"{len(names) - MAX_PANELS} more statistics not drawn: {', '.join(names[MAX_PANELS:])}")
        names = names[:MAX_PANELS]
    if not names:
        fig, ax = plt.subplots(figsize=(5, 2))
        ax.axis("off")
        ax.text(0.5, 0.5, "no training diagnostics recorded", ha="center", va="center")
        return Drawing(fig, notes)
    cols = min(4, len(names))
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.6 * rows), squeeze=False)
    run_ids = list(dict.fromkeys(data.runs["run_id"]))
    for ax, name in zip(axes.flat, names, strict=False):
        panel = metrics[metrics["name"] == name]
        for run_id in run_ids:
            line = panel[panel["run_id"] == run_id].sort_values("step")
            if len(line):
                ax.plot(line["step"], line["value"], label=run_id, linewidth=1.2)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("env steps", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    if 1 < len(run_ids) <= 8:
        axes.flat[0].legend(fontsize=6)
    title = run_ids[0] if len(run_ids) == 1 else f"{len(run_ids)} runs"
    fig.suptitle(f"training diagnostics: {title}", fontsize=10)
    fig.tight_layout()
    return Drawing(fig, notes)


register_figure(
    RunFigure(
        name="diagnostics",
        description="a run's training statistics (losses, Q values, PER beta, ...) against env steps",
        needs=Needs(metrics=True),
        draw=draw_diagnostics,
    )
)
