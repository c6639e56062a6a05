"""Figure ``distributed`` (paper 000, Fig. 5): single-process MADDPG vs distributed MADDPG.

Per-agent panels of the mean episode return against env steps (top row) and against wall-clock
time (bottom row), one curve per variant: the mean over seeds with its 95% bootstrap band (the
machinery of :mod:`marlbench.reports.curves`). The heading gives the wall time per env step of the
single-process runs over the distributed ones (above 1: distributed is faster). Training episodes
by default, as the paper plots RLlib's mean episode reward; ``--source eval`` switches.
"""

from __future__ import annotations

import pandas as pd

from marlbench.reports.curves import (
    curve_summary,
    draw_agent_panels,
    label_order,
    no_points_error,
    seeds_words,
    source_words,
)
from marlbench.reports.figures import Drawing, Figure, FigureOptions, Needs, ReportData, register_figure

NEEDS = Needs(
    preset="biswas-distributed",
    variants=("single", "distributed", "single.mpe-spread", "distributed.mpe-spread"),
)
"""The SMARTS pair and its mpe-spread proxy (``.mpe-spread``); each pair is drawn when it has runs."""
PRODUCE = "marlbench preset run biswas-distributed"
DISTRIBUTED_ALGO = "maddpg-distributed"


def speedup(runs: pd.DataFrame) -> float | None:
    """Mean wall seconds per env step of single-process MADDPG over that of distributed MADDPG."""
    per_step = runs["wall_time_s"].astype(float) / runs["steps"].astype(float).where(runs["steps"] > 0)
    by_algo = per_step.groupby(runs["algo"]).mean()
    if "maddpg" not in by_algo or DISTRIBUTED_ALGO not in by_algo or not by_algo[DISTRIBUTED_ALGO] > 0:
        return None
    return float(by_algo["maddpg"] / by_algo[DISTRIBUTED_ALGO])


def draw_distributed(data: ReportData, options: FigureOptions) -> Drawing:
    source = options.source or "train"
    runs, summary = curve_summary(data, options, source, with_wall_time=True)
    if summary.empty:
        raise no_points_error(source)
    present = set(runs["variant"])
    suffixes = {v.partition(".")[2] for v in present}  # only pairs of which some variant ran
    notes = [
        f"distributed: no finished runs of variant {v} yet; run: {PRODUCE}"
        for v in NEEDS.variants
        if v not in present and v.partition(".")[2] in suffixes
    ]
    envs = ", ".join(sorted(runs["env"].unique()))
    heading = f"MADDPG: single process vs collectors + asynchronous learners (Fig. 5) on {envs}"
    ratio = speedup(runs)
    if ratio is not None:
        heading += f"; single/distributed wall time per env step: {ratio:.2f}x"
    figure = draw_agent_panels(
        summary,
        runs,
        label_order(runs, data.labels),
        title=heading,
        subtitle=f"{source_words(source, options.bins)}; {seeds_words(runs, summary)}",
        aggregate=options.aggregate,
        rows=[("step", "vs env steps"), ("wall_time", "vs wall-clock time")],
    )
    return Drawing(figure, notes)


register_figure(
    Figure(
        name="distributed",
        description="MADDPG single process vs distributed (1 collector + 2 async learners, Ray)",
        paper="000 Fig. 5",
        needs=NEEDS,
        produce=PRODUCE,
        draw=draw_distributed,
        default_source="train",
    )
)
