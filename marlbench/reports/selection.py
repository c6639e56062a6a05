"""Which evaluation rounds score a run: its last one during training, or its latest post-hoc one.

Training evaluations (``env_options == ""``) use the run's own env options. ``marlbench evaluate RUN
--env-opt k=v`` adds post-hoc rounds, each stored with the JSON of all the env options it used;
``compare --eval-options k=v`` scores runs by those (:func:`posthoc_evals`). Rounds of another
policy of the run (CTEDD's variant tests, ``policy != ""``) never score it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pandas as pd


def training_evals(evals: pd.DataFrame) -> pd.DataFrame:
    """Evaluations of the run's own policy made during training (the run's own env options): not later
    ``evaluate`` calls, nor tests of other policies of the run (the ``policy`` column)."""
    if "env_options" in evals:
        evals = evals[evals["env_options"] == ""]
    if "policy" in evals:
        evals = evals[evals["policy"] == ""]
    return evals


def last_evals(evals: pd.DataFrame, eval_options: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """The rows of each run's last evaluation during training (highest ``eval_id``).

    With ``eval_options`` (``{option: value}``, e.g. from ``compare --eval-options traffic=high``):
    the rows of each run's latest post-hoc evaluation (``marlbench evaluate --env-opt``) made with
    those option values instead (:func:`posthoc_evals`).
    """
    evals = training_evals(evals) if eval_options is None else posthoc_evals(evals, eval_options)
    if evals.empty:
        return evals
    last = evals.groupby("run_id")["eval_id"].transform("max")
    return evals[evals["eval_id"] == last]


def posthoc_evals(evals: pd.DataFrame, options: Mapping[str, Any]) -> pd.DataFrame:
    """Rows of the run's own policy evaluated after training with every option of ``options`` at its
    value (the stored ``env_options`` JSON holds all options of that evaluation; a string value is
    read as the stored option's type: ``n_agents=4`` matches 4, ``continuous=true`` matches true)."""
    if "env_options" not in evals or evals.empty:
        return evals.iloc[0:0]
    evals = evals[evals["env_options"] != ""]
    if "policy" in evals:
        evals = evals[evals["policy"] == ""]
    matching = {text for text in evals["env_options"].unique() if _options_match(text, options)}
    return evals[evals["env_options"].isin(matching)]


def _options_match(text: str, options: Mapping[str, Any]) -> bool:
    """Whether the stored options JSON ``text`` has every key of ``options`` at the same value."""
    from marlbench.errors import ConfigError
    from marlbench.values import parse_typed

    try:
        stored = json.loads(text)
    except ValueError:
        return False
    if not isinstance(stored, dict):
        return False
    for key, wanted in options.items():
        if key not in stored:
            return False
        have = stored[key]
        try:
            value = parse_typed(wanted, have, key) if isinstance(wanted, str) and have is not None else wanted
        except ConfigError:
            return False
        if value != have and str(wanted) != str(have):
            return False
    return True
