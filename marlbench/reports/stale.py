"""Runs of an older version of a preset: left out of its verdicts, figures and tables.

A preset evolves (a variant gains an env option, a tier a new schedule); the runs it produced
before keep its name and variant labels in the ledger, but they are another experiment. A run of
preset ``P`` counts as ``P``'s only while the preset, as it is now, would produce the same run:

* a run tagged ``tier:<name>`` must have the config hash that the current tier gives its variant
  and seed (with the run's own ``eval_episodes``, which ``preset run --eval-episodes`` may change);
* any other run (the paper budget or ``--scale``) must have the env options the variant resolves to
  now (its budget and step-valued hyperparameters follow the scale and are not checked).

A run whose variant the preset no longer has is stale too. Runs without a preset are never stale.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd


def stale_mask(runs: pd.DataFrame, preset_name: str) -> pd.Series:
    """True for the rows of ``runs`` (already aliased to ``preset_name``) that are stale."""
    from marlbench.errors import MarlbenchError
    from marlbench.presets import load_preset

    if runs.empty or "preset" not in runs:
        return pd.Series(False, index=runs.index)
    try:
        preset = load_preset(preset_name)
    except MarlbenchError:
        return pd.Series(False, index=runs.index)
    cache: dict[tuple[Any, ...], str | None] = {}
    out = []
    for row in runs.to_dict("records"):
        if row.get("preset") != preset_name or not row.get("variant"):
            out.append(False)
            continue
        out.append(not _current(preset, row, cache))
    return pd.Series(out, index=runs.index)


class StaleCount(int):
    """How many runs were left out as stale; ``tiers``: the budget tiers they had run at."""

    tiers: tuple[str, ...]

    def __new__(cls, count: int, tiers: tuple[str, ...] = ()) -> StaleCount:
        made = super().__new__(cls, count)
        made.tiers = tiers
        return made


def drop_stale(runs: pd.DataFrame, preset_name: str | None) -> tuple[pd.DataFrame, StaleCount]:
    """``runs`` without the stale runs of ``preset_name`` (its own and the twins it adopted), and
    how many were left out (with their tiers). Runs of other presets stay."""
    from marlbench.reports.data import adopt_aliases

    if not preset_name or runs.empty:
        return runs, StaleCount(0)
    aliased = adopt_aliases(runs, preset_name)
    mask = stale_mask(aliased, preset_name)
    stale = set(aliased.loc[mask, "run_id"])
    tags = aliased.loc[mask, "tags"] if "tags" in aliased else pd.Series([], dtype=object)
    tiers = tuple(sorted({t for t in map(_tier_of, tags) if t}))
    return runs[~runs["run_id"].isin(stale)], StaleCount(len(stale), tiers)


def stale_note(count: int, preset_name: str) -> str:
    """The line that says runs were left out, and why, with the command that reruns them (at the
    tiers they had run at, when ``count`` is a :class:`StaleCount` that knows them)."""
    tiers = getattr(count, "tiers", ())
    rerun = " or ".join(f"marlbench preset run {preset_name} --tier {t}" for t in tiers)
    return (
        f"{count} run(s) of an earlier version of preset {preset_name} left out (their settings differ "
        f"from the preset's now); rerun with: {rerun or f'marlbench preset run {preset_name}'}"
    )


def _tier_of(tags: Any) -> str | None:
    for tag in str(tags or "").split(","):
        if tag.startswith("tier:"):
            return tag.split(":", 1)[1]
    return None


def _current(preset: Any, row: dict[str, Any], cache: dict[tuple[Any, ...], str | None]) -> bool:
    from marlbench.config import RunSpec, resolve
    from marlbench.errors import MarlbenchError

    variant = str(row["variant"])
    if variant not in {v.name for v in preset.variants}:
        return False
    try:
        spec_row = RunSpec.from_json(str(row["config"]))
    except (ValueError, TypeError, KeyError):
        return True  # an unreadable config is not ours to judge
    tier = _tier_of(row.get("tags"))
    if tier is not None:
        key = ("tier", variant, tier, int(row["seed"]), spec_row.eval_episodes)
        if key not in cache:
            cache[key] = _tier_hash(preset, variant, tier, int(row["seed"]), spec_row.eval_episodes)
        want = cache[key]
        return want is None or want == str(row["config_hash"])
    key = ("options", variant)
    if key not in cache:
        try:
            (spec,) = [s for s in preset.specs(seeds=[0]) if s.variant == variant]
            cache[key] = json.dumps(resolve(spec).spec.resolved.get("env_options", {}), sort_keys=True)
        except (MarlbenchError, ValueError):
            cache[key] = None
    if cache[key] is None:
        return True
    have = spec_row.resolved.get("env_options", spec_row.env_options)
    try:  # the options as the env resolves them now (a run may have recorded only those it was given)
        from marlbench.envs import get_spec

        have = dict(get_spec(str(row["env"])).resolve_options(have))
    except (MarlbenchError, ValueError, KeyError):
        pass
    return json.dumps(have, sort_keys=True, default=str) == cache[key]


def _tier_hash(preset: Any, variant: str, tier: str, seed: int, eval_episodes: int) -> str | None:
    """The config hash the current ``tier`` gives ``variant`` at ``seed`` (None: cannot tell)."""
    from marlbench.config import resolve
    from marlbench.errors import MarlbenchError

    try:
        specs = [
            s
            for s in preset.specs(seeds=[seed], tier=tier, eval_episodes=eval_episodes)
            if s.variant == variant
        ]
        if not specs:
            return ""  # the tier no longer runs this variant: stale
        return resolve(specs[0]).spec.config_hash()
    except (MarlbenchError, ValueError):
        return None
