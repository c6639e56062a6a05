"""Rates under both traffic densities of paper 000 for ``compare``: the ``<rate>@<traffic>`` fields.

A SMARTS run of a paper-000 preset is evaluated after training under ``traffic=low`` and ``high``
(its ``final_evals``); :func:`~marlbench.reports.selection.rates_by_option` picks each run's latest
evaluation per density (a training evaluation counts for the run's own density).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from marlbench.reports.data import COLLISION_METRIC, COMPLETION_METRIC
from marlbench.reports.selection import rates_by_option, run_options

TRAFFIC_LEVELS = ("low", "high")
"""The densities paper 000 judges a policy under; the ``<rate>@<level>`` fields."""
DENSITY_METRICS = {"collision_rate": COLLISION_METRIC, "completion_rate": COMPLETION_METRIC}
DENSITY_FIELDS: dict[str, str] = {
    f"{rate}@{level}": f"{rate} of each run's latest evaluation under traffic={level}, mean over seeds "
    "(SMARTS; final or post-hoc evaluations, training ones count for the run's own traffic)"
    for level in TRAFFIC_LEVELS
    for rate in DENSITY_METRICS
}


def density_rates(runs: pd.DataFrame, evals: pd.DataFrame) -> pd.DataFrame:
    """Per run with a ``traffic`` option and value: its rates there (:func:`rates_by_option`)."""
    traffic = [r for r in runs.to_dict("records") if "traffic" in run_options(r)]
    if not traffic or COLLISION_METRIC not in evals:
        return pd.DataFrame(columns=["run_id", "traffic", *DENSITY_METRICS])
    return rates_by_option(pd.DataFrame(traffic), evals, "traffic", "low", DENSITY_METRICS)


def density_fields(densities: pd.DataFrame, run_ids: list[str]) -> dict[str, float]:
    """The ``<rate>@<level>`` fields of one row: each rate's mean over its runs that have the level."""
    mine = densities[densities["run_id"].isin(run_ids)]
    return {
        f"{rate}@{level}": _nanmean(mine.loc[mine["traffic"] == level, rate].to_numpy(float))
        for level in TRAFFIC_LEVELS
        for rate in DENSITY_METRICS
    }


def _nanmean(values: np.ndarray) -> float:
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    return float(finite.mean()) if finite.size else math.nan
