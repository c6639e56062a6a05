"""Which evaluation rounds score a run: its last one during training, or its latest post-hoc one.

Training evaluations (``env_options == ""``) use the run's own env options. ``marlbench evaluate RUN
--env-opt k=v`` adds post-hoc rounds, each stored with the JSON of all the env options it used;
``compare --eval-options k=v`` scores runs by those (:func:`posthoc_evals`). A run spec's
``final_evals`` (the paper-000 presets: traffic low and high) makes such rounds itself after
training: they are post-hoc rounds too, so a run's last-eval score stays its training one.
Rounds of another policy of the run (CTEDD's variant tests, ``policy != ""``) never score it.
:func:`rates_by_option` gives each run's rates per value of one option (traffic density).
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


def rates_by_option(
    runs: pd.DataFrame, evals: pd.DataFrame, option: str, default: str, metrics: Mapping[str, str]
) -> pd.DataFrame:
    """Per run and value of env ``option``: the mean of each ``metrics`` column (name -> eval column)
    over the run's latest evaluation under that value, and its episode count.

    Training evaluations count for the run's own value of ``option`` (from its ``config``; ``default``
    when it has none); post-hoc rounds (final evaluations, ``marlbench evaluate --env-opt``) for the
    value they were made with, and replace training ones of the same value. Only the run's own
    policy counts. Columns: run_id, ``option``, each metric name (NaN without its column), episodes.
    """
    columns = ["run_id", option, *metrics, "episodes"]
    evals = evals[evals["run_id"].isin(runs["run_id"])]
    if evals.empty:
        return pd.DataFrame(columns=columns)
    own = {row["run_id"]: str(run_options(row).get(option, default)) for row in runs.to_dict("records")}

    def value_of(run_id: str, env_options: str) -> str:
        if not env_options:
            return own.get(run_id, default)
        try:
            return str(json.loads(env_options).get(option, own.get(run_id, default)))
        except (ValueError, AttributeError):
            return "?"

    if "policy" in evals:
        evals = evals[evals["policy"] == ""]
    stored = evals["env_options"] if "env_options" in evals else pd.Series("", index=evals.index)
    evals = evals.assign(_value=[value_of(r, o) for r, o in zip(evals["run_id"], stored, strict=True)])
    evals = evals.assign(_later=stored != "")
    last = evals.groupby(["run_id", "_value", "_later"])["eval_id"].transform("max")
    chosen = evals[evals["eval_id"] == last]
    chosen = chosen[chosen["_later"] == chosen.groupby(["run_id", "_value"])["_later"].transform("max")]
    present = {name: (col, "mean") for name, col in metrics.items() if col in chosen}
    out = chosen.groupby(["run_id", "_value"], as_index=False).agg(**present, episodes=("episode", "nunique"))
    for name in metrics:
        if name not in out:
            out[name] = float("nan")
    return out.rename(columns={"_value": option})[columns]


def run_options(row: Mapping[str, Any]) -> dict[str, Any]:
    """The resolved env options of a ledger run row (its ``config`` JSON); {} when unreadable."""
    try:
        config = json.loads(row["config"])
        return dict(config.get("resolved", {}).get("env_options") or config.get("env_options", {}))
    except (ValueError, TypeError, KeyError, AttributeError):
        return {}
