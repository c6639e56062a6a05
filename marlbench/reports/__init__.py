"""Reports: ledger DataFrames -> aggregates -> tables and figures. Nothing here writes files.

* :mod:`.stats`: IQM, stratified bootstrap CIs and probability of improvement (SciPy).
* :mod:`.data`: selecting, grouping and aggregating runs, episodes and evaluations.
* :mod:`.compare`: the ``marlbench compare`` table (computing it); :mod:`.render`: its formats.
* :mod:`.figures`: the figure registry (:func:`register_figure`, :func:`get_figure`).
* :mod:`.curves`, :mod:`.paper000`: the figures that ship with marlbench.

This package imports no pandas or matplotlib until a function that needs them is called.
"""

from __future__ import annotations

from marlbench.reports.figures import (
    Drawing,
    Figure,
    FigureOptions,
    Needs,
    ReportData,
    all_figures,
    get_figure,
    register_figure,
)

__all__ = [
    "Drawing",
    "Figure",
    "FigureOptions",
    "Needs",
    "ReportData",
    "all_figures",
    "get_figure",
    "register_figure",
]
