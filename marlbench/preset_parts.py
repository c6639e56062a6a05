"""The ``[[claims]]`` and ``[tiers]`` parts of a preset file: what the paper claims, at which budgets.

A **claim** (issue 16) is a checkable statement of the paper: variants A and B of the preset, the
score of each run, and the statistic whose 95% confidence interval decides the verdict::

    [[claims]]
    id = "ppo-beats-maddpg"                  # unique in the preset
    text = "PPO gives better rewards for all agents (sec. III.D, Fig. 2)"
    a = "ppo-shared"                         # a variant, or a list: one stratum per position
    b = "maddpg"                             # paired with a by position (same length)
    statistic = "per-agent"                  # see STATISTICS
    score = "last-eval"                      # see SCORES (default last-eval)
    aggregate = "team-mean"                  # team-mean | team-sum (per-agent statistics ignore it)
    direction = "greater"                    # see DIRECTIONS (default greater)
    # threshold = 123.0                      # statistic = "threshold": A's mean against this value
    # expect = [3.0, 3.5]                    # statistic = "ratio": the paper's range
    # margin = 0.2                           # direction no-worse / equivalent: tolerance around the null
    # policy_a = "ctedd-l-1"                 # score A's tests of this policy (CTEDD), not its evaluations

A **tier** is a named budget (``smoke``, ``night``, ``paper``). It replaces the steps, seeds and
evaluation schedule of every run, may keep only some variants, and sets step-valued
hyperparameters per algorithm (``[tiers.night.hyperparams.maddpg] learning_starts = 2_560``) or per
variant (a key naming a variant; it wins over its algorithm's) so a short budget still learns.
The ``paper`` tier, when not written, is the file's own budget.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from marlbench.errors import ConfigError, nearest

STATISTICS = ("probability-of-improvement", "per-agent", "ratio", "threshold", "describe")
"""P(A > B) pooled over agents; P(A > B) of every agent; mean(A) / mean(B); mean(A) against a value;
means of A (and B) reported without a claim to test."""
SCORES = (
    "last-eval",
    "late-spread",
    "wall-time",
    "running-mean",
    "percent-human",
    "collision-rate",
    "completion-rate",
)
"""A run's score: its last evaluation's mean return; the std of its last evaluations' means; its
wall-clock seconds per env step; the mean of its last 100 training games; that as % of human
expert (paper 002's column); the collision / completion rate of its last evaluation."""
DIRECTIONS = ("greater", "less", "no-worse", "equivalent")
AGGREGATES = ("team-mean", "team-sum")
TIER_ORDER = ("smoke", "night", "paper")
"""The conventional tiers, cheapest first."""

CLAIM_KEYS: dict[str, str] = {
    "id": "str",
    "text": "str",
    "a": "str or array of str",
    "b": "str or array of str",
    "statistic": "str",
    "score": "str",
    "aggregate": "str",
    "direction": "str",
    "threshold": "number",
    "expect": "array of 2 numbers",
    "margin": "number",
    "policy_a": "str",
    "policy_b": "str",
    "late_evals": "int",
}
TIER_KEYS: dict[str, str] = {
    "about": "str",
    "steps": "int",
    "seeds": "int or array of int",
    "eval_every": "int",
    "eval_episodes": "int",
    "checkpoint_every": "int",
    "variants": "array of str",
    "hyperparams": "table of tables",
}


@dataclass(frozen=True)
class Claim:
    """One claim of a paper, as the preset states it (see the module docstring)."""

    id: str
    text: str
    a: tuple[str, ...]
    b: tuple[str, ...] = ()
    statistic: str = "probability-of-improvement"
    score: str = "last-eval"
    aggregate: str = "team-mean"
    direction: str = "greater"
    threshold: float | None = None
    expect: tuple[float, float] | None = None
    margin: float = 0.0
    policy_a: str = ""
    policy_b: str = ""
    late_evals: int = 5

    def variants(self) -> tuple[str, ...]:
        return (*self.a, *self.b)


@dataclass(frozen=True)
class Tier:
    """A named budget; None / empty fields keep the file's values."""

    name: str
    about: str = ""
    steps: int | None = None
    seeds: tuple[int, ...] | None = None
    eval_every: int | None = None
    eval_episodes: int | None = None
    checkpoint_every: int | None = None
    variants: tuple[str, ...] = ()
    hyperparams: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Algorithm or variant name -> hyperparameters this tier sets for those variants."""

    def keeps(self, variant: str) -> bool:
        return not self.variants or variant in self.variants

    def overrides(self, algo: str, variant: str) -> dict[str, Any]:
        """The hyperparameters this tier sets for ``variant`` of ``algo`` (the variant's win)."""
        return {**self.hyperparams.get(algo, {}), **self.hyperparams.get(variant, {})}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def _type_ok(value: Any, kind: str) -> bool:
    strings = value if isinstance(value, list) else [value]
    checks = {
        "str": lambda: isinstance(value, str),
        "int": lambda: _is_int(value),
        "number": lambda: _is_number(value),
        "str or array of str": lambda: bool(strings) and all(isinstance(s, str) for s in strings),
        "array of str": lambda: isinstance(value, list) and all(isinstance(s, str) for s in value),
        "int or array of int": lambda: bool(strings) and all(_is_int(s) and s >= 0 for s in strings),
        "array of 2 numbers": lambda: (
            isinstance(value, list) and len(value) == 2 and all(_is_number(v) for v in value)
        ),
        "table": lambda: isinstance(value, dict),
        "array of tables": lambda: isinstance(value, list) and all(isinstance(v, dict) for v in value),
        "table of tables": lambda: (
            isinstance(value, dict) and all(isinstance(v, dict) for v in value.values())
        ),
    }
    return checks[kind]()


def check_table(path: Path, where: str, data: Mapping[str, Any], allowed: Mapping[str, str]) -> None:
    """Unknown keys and wrong types in one TOML table -> ConfigError naming the file and key."""
    for key, value in data.items():
        if key not in allowed:
            raise ConfigError(
                f"preset {path}: unknown key '{where}{key}'",
                f"{nearest(key, list(allowed))}valid keys there: {', '.join(allowed)}",
            )
        if not _type_ok(value, allowed[key]):
            raise ConfigError(
                f"preset {path}: key '{where}{key}' must be {allowed[key]},"
                f" not {type(value).__name__} ({value!r})",
                f"write it as a TOML {allowed[key]}",
            )


def _choice(path: Path, where: str, key: str, value: str, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise ConfigError(
            f"preset {path}: '{where}{key}' = '{value}' is unknown",
            f"{nearest(value, list(allowed))}choose one of: {', '.join(allowed)}",
        )
    return value


def _names(value: str | list[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def parse_claims(path: Path, raw: Sequence[Mapping[str, Any]], variants: Sequence[str]) -> tuple[Claim, ...]:
    """The checked ``[[claims]]`` of ``path`` (``variants``: the preset's variant names)."""
    claims: list[Claim] = []
    for i, item in enumerate(raw):
        where = f"claims[{i}]."
        check_table(path, where, item, CLAIM_KEYS)
        for key in ("id", "text", "a"):
            if key not in item:
                raise ConfigError(f"preset {path}: '{where}{key}' is missing", f"set {where}{key}")
        statistic = _choice(path, where, "statistic", item.get("statistic", STATISTICS[0]), STATISTICS)
        a, b = _names(item["a"]), _names(item.get("b", []))
        one_sided = statistic in ("threshold", "describe")
        if not one_sided and len(a) != len(b):
            raise ConfigError(
                f"preset {path}: '{where}a' has {len(a)} variant(s) and '{where}b' {len(b)}",
                "give b one variant per variant of a (paired by position: one stratum each)",
            )
        for name in (*a, *b):
            if name not in variants:
                raise ConfigError(
                    f"preset {path}: '{where}' names variant '{name}', which the preset does not have",
                    f"{nearest(name, list(variants))}use one of: {', '.join(variants)}",
                )
        if statistic == "threshold" and "threshold" not in item:
            raise ConfigError(
                f"preset {path}: '{where}threshold' is missing", "a threshold claim needs a value"
            )
        if any(c.id == item["id"] for c in claims):
            raise ConfigError(f"preset {path}: claim id '{item['id']}' repeats", "give each claim its own id")
        expect = tuple(float(v) for v in item["expect"]) if "expect" in item else None
        if expect is not None and expect[0] > expect[1]:
            raise ConfigError(
                f"preset {path}: '{where}expect' = {list(expect)} is reversed", "write [low, high]"
            )
        late = item.get("late_evals", 5)
        if late < 2:
            raise ConfigError(
                f"preset {path}: '{where}late_evals' = {late} < 2", "the spread needs 2 or more"
            )
        claims.append(
            Claim(
                id=item["id"],
                text=item["text"],
                a=a,
                b=b,
                statistic=statistic,
                score=_choice(path, where, "score", item.get("score", "last-eval"), SCORES),
                aggregate=_choice(path, where, "aggregate", item.get("aggregate", "team-mean"), AGGREGATES),
                direction=_choice(path, where, "direction", item.get("direction", "greater"), DIRECTIONS),
                threshold=float(item["threshold"]) if "threshold" in item else None,
                expect=expect,  # type: ignore[arg-type]
                margin=float(item.get("margin", 0.0)),
                policy_a=item.get("policy_a", ""),
                policy_b=item.get("policy_b", ""),
                late_evals=late,
            )
        )
    return tuple(claims)


def parse_tiers(
    path: Path, raw: Mapping[str, Any], variants: Sequence[str], algos: Sequence[str] = ()
) -> dict[str, Tier]:
    """The checked ``[tiers]`` of ``path``, plus an implicit ``paper`` tier (the file's budget).

    ``variants`` and ``algos`` are the preset's: the only names ``hyperparams`` tables may have."""
    tiers: dict[str, Tier] = {}
    for name, item in raw.items():
        where = f"tiers.{name}."
        if not isinstance(item, dict):
            raise ConfigError(f"preset {path}: 'tiers.{name}' must be a table", f"write [tiers.{name}]")
        check_table(path, where, item, TIER_KEYS)
        for key in ("steps", "eval_every", "eval_episodes", "checkpoint_every"):
            if key in item and item[key] < (0 if key == "eval_episodes" else 1):
                raise ConfigError(
                    f"preset {path}: '{where}{key}' = {item[key]} is out of range", "give a positive integer"
                )
        for kept in item.get("variants", []):
            if kept not in variants:
                raise ConfigError(
                    f"preset {path}: '{where}variants' names '{kept}', which the preset does not have",
                    f"{nearest(kept, list(variants))}use one of: {', '.join(variants)}",
                )
        for key, values in item.get("hyperparams", {}).items():
            if key not in (*variants, *algos):
                known = list(dict.fromkeys([*algos, *variants]))
                raise ConfigError(
                    f"preset {path}: '{where}hyperparams.{key}' names no algorithm or variant of the preset",
                    f"{nearest(key, known)}use one of: {', '.join(known)}",
                )
            for sub, value in values.items():
                if not isinstance(value, str | int | float | bool):
                    raise ConfigError(
                        f"preset {path}: '{where}hyperparams.{key}.{sub}' must be a string, number, boolean",
                        "nested tables and arrays are not options",
                    )
        seeds = item.get("seeds")
        seed_tuple = None if seeds is None else tuple(range(seeds) if isinstance(seeds, int) else seeds)
        if seed_tuple is not None and (not seed_tuple or len(set(seed_tuple)) != len(seed_tuple)):
            raise ConfigError(
                f"preset {path}: '{where}seeds' = {seeds!r} is empty or repeats", "write seeds = 5"
            )
        tiers[name] = Tier(
            name=name,
            about=item.get("about", ""),
            steps=item.get("steps"),
            seeds=seed_tuple,
            eval_every=item.get("eval_every"),
            eval_episodes=item.get("eval_episodes"),
            checkpoint_every=item.get("checkpoint_every"),
            variants=tuple(item.get("variants", [])),
            hyperparams={algo: dict(values) for algo, values in item.get("hyperparams", {}).items()},
        )
    tiers.setdefault("paper", Tier("paper", about="the file's own budget"))
    return tiers


def tier_tag(name: str) -> str:
    """The tag a run of tier ``name`` carries (tags do not enter the config hash)."""
    return f"tier:{name}"


def tier_budget(tier: Tier | None, steps: int, every: int | None, scale: float) -> tuple[int, int | None]:
    """``(steps, every)`` of one run under ``tier`` (or ``scale``): an interval the tier does not set
    is scaled with the steps, so evaluations and checkpoints keep their number."""
    if tier is not None and tier.steps is not None:
        scale = tier.steps / steps
        steps = tier.steps
    else:
        steps = max(1, round(steps * scale))
    return steps, None if every is None else max(1, round(every * scale))


def check_eval_episodes(episodes: int | None) -> None:
    """``preset run --eval-episodes``: None (the preset's own) or 1 .. MAX_EPISODES; ConfigError otherwise."""
    from marlbench.config import MAX_EPISODES

    if episodes is not None and not 1 <= episodes <= MAX_EPISODES:
        raise ConfigError(
            f"--eval-episodes {episodes:,} must lie between 1 and {MAX_EPISODES:,}", "e.g. --eval-episodes 10"
        )


def scale_lines(preset: Any, specs: Sequence[Any], scale: float) -> list[str]:
    """What ``--scale`` runs, one line per variant: its steps and the hyperparameters it scaled."""
    from marlbench.algos.budget import scale_hyperparams

    lines = []
    for v in preset.variants:
        spec = next((s for s in specs if s.variant == v.name), None)
        if spec is None:
            continue
        parts = [f"steps {v.steps:,} -> {spec.steps:,}"]
        for key, before, after in (
            ("eval_every", v.eval_every, spec.eval_every),
            ("checkpoint_every", v.checkpoint_every, spec.checkpoint_every),
        ):
            if before is not None:
                parts.append(f"{key} {before:,} -> {after:,}")
        _, changes = scale_hyperparams(v.algo, v.env, v.hyperparams, scale)
        parts += [f"{key} {before:,} -> {after:,}" for key, before, after in changes]
        lines.append(f"--scale {scale:g}, {v.name} ({v.algo}): " + "; ".join(parts))
    return lines


def check_final_evals(path: Path, where: str, tables: Sequence[Mapping[str, Any]]) -> None:
    """``final_evals`` (``[{ traffic = "low" }, { traffic = "high" }]``): one table of scalar env
    options per evaluation made after training; names and values are checked when the preset is
    run (:func:`marlbench.config.final_eval_options`)."""
    for i, table in enumerate(tables):
        for key, value in table.items():
            if not isinstance(value, str | int | float | bool):
                raise ConfigError(
                    f"preset {path}: '{where}[{i}].{key}' must be a string, number or boolean",
                    'each entry is one table of env options, e.g. { traffic = "high" }',
                )


def check_runnable(preset: Any, specs: list[Any]) -> list[Any]:
    """Resolve every spec (algorithm, env, options, hyperparameters); ConfigError names file and key."""
    from marlbench.config import resolve

    by_name = {v.name: v for v in preset.variants}
    resolved = []
    for spec in specs:
        variant = by_name[spec.variant]
        try:
            resolved.append(resolve(spec))
        except ConfigError as err:
            key = _toml_key(err.key, variant)
            where = err.message if err.message.startswith(f"{key}[") else f"{key}: {err.message}"
            raise ConfigError(
                f"preset {preset.path}, variants[{variant.index}] ('{variant.name}'), {where}", err.fix
            ) from None
    return resolved


def _toml_key(key: str, variant: Any) -> str:
    """How a preset names the part of a spec that :func:`marlbench.config.resolve` blamed."""
    if key == "algo":
        return f"algo = '{variant.algo}'"
    if key == "env":
        return f"env = '{variant.env}'"
    return key or "settings"
