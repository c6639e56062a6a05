"""Presets: one TOML file per experiment of a paper, expanded into run specs.

A preset names the paper and the figure or table it feeds, the defaults shared by its runs and
its variants (each an algorithm with overrides and a label). Example (``presets/quickstart.toml``)::

    name = "quickstart"                      # optional; must equal the file name when given
    paper = "marlbench demo"
    feeds = "README table and figure"
    figure = "learning-curves"               # the 'marlbench report' figure it feeds, if any
    description = "PPO and A2C on mpe-spread, small budget"

    [defaults]                               # every key may also be set per variant
    env = "mpe-spread"
    steps = 30_000
    seeds = 3                                # N (0..N-1) or a list [0, 4, 7]
    eval_every = 3_000
    eval_episodes = 5
    env_options = { max_cycles = 25 }
    hyperparams = { n_envs = 4 }

    [[variants]]
    name = "ppo"                             # stored as the run's variant
    label = "PPO (shared weights)"
    algo = "ppo"
    hyperparams = { n_steps = 256 }          # merged over defaults.hyperparams

Presets are found by name in ``$MARLBENCH_PRESETS`` (directories, ``os.pathsep``-separated), then
the ``presets/`` directory of the source tree, then ``./presets``; a path to a ``.toml`` file works
too. Loading checks keys and types; algorithm names and hyperparameters are checked when the
preset is run (so a preset may name an algorithm that is not built yet). The ``[[claims]]`` and
``[tiers]`` parts are described in :mod:`marlbench.preset_parts`.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import marlbench
from marlbench.algos.budget import scale_hyperparams
from marlbench.config import RunSpec
from marlbench.errors import ConfigError, nearest
from marlbench.preset_parts import (
    Claim,
    Tier,
    check_eval_episodes,
    check_final_evals,
    check_runnable,  # noqa: F401  (re-exported: marlbench.presets.check_runnable)
    check_table,
    parse_claims,
    parse_tiers,
    tier_budget,
    tier_tag,
)

_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")
_SCALAR = (str, int, float, bool)

PRESET_KEYS: dict[str, str] = {
    "name": "str",
    "paper": "str",
    "feeds": "str",
    "figure": "str",
    "description": "str",
    "defaults": "table",
    "variants": "array of tables",
    "claims": "array of tables",
    "tiers": "table",
}
"""Top-level keys of a preset file and their TOML types."""

RUN_KEYS: dict[str, str] = {
    "algo": "str",
    "env": "str",
    "steps": "int",
    "eval_every": "int",
    "eval_episodes": "int",
    "checkpoint_every": "int",
    "env_options": "table",
    "hyperparams": "table",
    "final_evals": "array of tables",
    "final_eval_episodes": "int",
}
"""Keys shared by ``[defaults]`` and each ``[[variants]]`` entry (a variant's ``final_evals`` list
replaces the defaults'; :func:`marlbench.preset_parts.check_final_evals`)."""

DEFAULTS_KEYS = {**RUN_KEYS, "seeds": "int or array of int"}
VARIANT_KEYS = {"name": "str", "label": "str", **RUN_KEYS}


@dataclass(frozen=True)
class Variant:
    """One arm of a preset: an algorithm with its settings (defaults already merged in)."""

    name: str
    label: str
    algo: str
    env: str
    steps: int
    env_options: dict[str, Any] = field(default_factory=dict)
    hyperparams: dict[str, Any] = field(default_factory=dict)
    eval_every: int | None = None
    eval_episodes: int = 10
    checkpoint_every: int | None = None
    final_evals: tuple[dict[str, Any], ...] = ()
    final_eval_episodes: int | None = None
    index: int = 0
    """Position in the file (for error messages: ``variants[index]``)."""


@dataclass(frozen=True)
class Preset:
    """A loaded, type-checked preset."""

    name: str
    path: Path
    paper: str
    feeds: str
    figure: str
    description: str
    seeds: tuple[int, ...]
    variants: tuple[Variant, ...]
    claims: tuple[Claim, ...] = ()
    tiers: dict[str, Tier] = field(default_factory=dict)

    def tier(self, name: str) -> Tier:
        """The tier ``name``; ConfigError naming the preset's tiers when it has none of that name."""
        if name not in self.tiers:
            raise ConfigError(
                f"preset {self.name} has no tier '{name}'",
                f"{nearest(name, list(self.tiers))}choose one of: {', '.join(self.tiers)}",
            )
        return self.tiers[name]

    def variant(self, name: str) -> Variant:
        for v in self.variants:
            if v.name == name:
                return v
        raise KeyError(name)

    def labels(self) -> dict[str, str]:
        """Variant name -> label, in file order."""
        return {v.name: v.label for v in self.variants}

    def specs(
        self,
        seeds: list[int] | None = None,
        scale: float | None = None,
        tier: str | None = None,
        eval_episodes: int | None = None,
    ) -> list[RunSpec]:
        """One RunSpec per variant and seed (variant-major), at the budget of ``tier`` or ``scale``.

        ``scale`` multiplies ``steps``, ``eval_every``, ``checkpoint_every`` and every step-valued
        hyperparameter of the variant's algorithm (:func:`~marlbench.algos.budget.scale_hyperparams`;
        each at least 1). A tier (:class:`~marlbench.preset_parts.Tier`) sets them instead, with its
        seeds, variants and per-algorithm hyperparameters, and tags each run ``tier:<name>``; giving
        both is refused. ``eval_episodes`` replaces every variant's (and the tier's). Every spec is
        stamped with this preset's name and its variant.
        """
        check_eval_episodes(eval_episodes)
        if tier is not None and scale is not None:
            raise ConfigError("--tier and --scale together", "give one: a tier sets the budget itself")
        chosen_tier = self.tier(tier) if tier is not None else None
        scale = 1.0 if scale is None else scale
        if not (isinstance(scale, int | float) and math.isfinite(scale) and scale > 0):
            raise ConfigError(f"--scale {scale} must be a positive number", "e.g. --scale 0.1 for a tenth")
        default_seeds = chosen_tier.seeds if chosen_tier and chosen_tier.seeds else self.seeds
        chosen = list(default_seeds) if seeds is None else list(seeds)
        out = []
        for v in self.variants:
            if chosen_tier is not None and not chosen_tier.keeps(v.name):
                continue
            steps, eval_every = tier_budget(chosen_tier, v.steps, v.eval_every, scale)
            _, checkpoint_every = tier_budget(chosen_tier, v.steps, v.checkpoint_every, scale)
            hyperparams, episodes, tags = dict(v.hyperparams), v.eval_episodes, []
            if chosen_tier is not None:
                eval_every = chosen_tier.eval_every or eval_every
                checkpoint_every = chosen_tier.checkpoint_every or checkpoint_every
                if chosen_tier.eval_episodes is not None:
                    episodes = chosen_tier.eval_episodes
                hyperparams.update(chosen_tier.overrides(v.algo, v.name))
                tags = [tier_tag(chosen_tier.name)]
            elif scale != 1:
                hyperparams, _ = scale_hyperparams(v.algo, v.env, hyperparams, scale)
            episodes = episodes if eval_episodes is None else eval_episodes
            out += [
                RunSpec(
                    algo=v.algo,
                    env=v.env,
                    seed=seed,
                    steps=steps,
                    env_options=dict(v.env_options),
                    hyperparams=dict(hyperparams),
                    eval_every=eval_every,
                    eval_episodes=episodes,
                    checkpoint_every=checkpoint_every,
                    final_evals=[dict(t) for t in v.final_evals],
                    final_eval_episodes=v.final_eval_episodes,
                    tags=list(tags),
                    preset=self.name,
                    variant=v.name,
                )
                for seed in chosen
            ]
        return out

    def total_steps(
        self, seeds: list[int] | None = None, scale: float | None = None, tier: str | None = None
    ) -> int:
        return sum(s.steps for s in self.specs(seeds, scale, tier))


# ---------------------------------------------------------------------------------------------
# finding preset files
# ---------------------------------------------------------------------------------------------
def preset_dirs() -> list[Path]:
    """Where presets are looked up, in order: $MARLBENCH_PRESETS, the installed package, ./presets.

    The package's ``preset_files`` is a link to the top-level ``presets/`` in a source checkout
    and a copy of it in an installed wheel.
    """
    dirs = [Path(p) for p in os.environ.get("MARLBENCH_PRESETS", "").split(os.pathsep) if p]
    dirs.append(Path(marlbench.__file__).parent / "preset_files")
    dirs.append(Path.cwd() / "presets")
    unique: list[Path] = []
    for d in dirs:
        resolved = d.expanduser().resolve()
        if resolved not in unique:
            unique.append(resolved)
    return unique


def preset_files() -> dict[str, Path]:
    """Preset name -> file, the first directory of :func:`preset_dirs` winning."""
    found: dict[str, Path] = {}
    for directory in preset_dirs():
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob("*.toml")):
            found.setdefault(path.stem, path)
    return found


def find_preset(name_or_path: str) -> Path:
    """The file of a preset given by name or by the path of a ``.toml`` file; ConfigError if none."""
    candidate = Path(name_or_path).expanduser()
    if name_or_path.endswith(".toml") or os.sep in name_or_path:
        if candidate.is_file():
            return candidate
        raise ConfigError(f"preset file {candidate} does not exist", "give an existing .toml file or a name")
    files = preset_files()
    if name_or_path in files:
        return files[name_or_path]
    known = sorted(files)
    where = ", ".join(str(d) for d in preset_dirs())
    raise ConfigError(
        f"no preset named '{name_or_path}' (looked in {where})",
        f"{nearest(name_or_path, known)}run 'marlbench preset list' to see them"
        + ("" if known else "; set MARLBENCH_PRESETS to a directory of .toml presets"),
    )


# ---------------------------------------------------------------------------------------------
# loading and checking
# ---------------------------------------------------------------------------------------------
def _check_table(path: Path, where: str, data: Mapping[str, Any], allowed: Mapping[str, str]) -> None:
    """:func:`check_table`, plus scalar-only option tables and positive integers."""
    check_table(path, where, data, allowed)
    for key, value in data.items():
        full = f"{where}{key}"
        if key in ("env_options", "hyperparams"):
            for sub, item in value.items():
                if not isinstance(item, _SCALAR):
                    raise ConfigError(
                        f"preset {path}: '{full}.{sub}' must be a string, number or boolean",
                        "nested tables and arrays are not options",
                    )
        if key == "final_evals":
            check_final_evals(path, full, value)
        if allowed[key] == "int" and value < (0 if key == "eval_episodes" else 1):
            raise ConfigError(f"preset {path}: '{full}' = {value} is out of range", "give a positive integer")


def load_preset(name_or_path: str) -> Preset:
    """Load and check a preset by name or path; ConfigError names the file, the key and the fix."""
    path = find_preset(name_or_path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"preset {path} is not valid TOML: {err}", "fix the syntax at that line") from None
    except OSError as err:
        raise ConfigError(f"cannot read preset {path}: {err.strerror or err}", "check the file") from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"preset {path} is not UTF-8 text ({err.reason})", "save it as UTF-8") from None
    return parse_preset(data, path)


def parse_preset(data: Mapping[str, Any], path: Path) -> Preset:
    """A :class:`Preset` from the parsed TOML ``data`` of ``path``."""
    _check_table(path, "", data, PRESET_KEYS)
    name = data.get("name", path.stem)
    if name != path.stem:
        raise ConfigError(
            f"preset {path}: name '{name}' differs from the file name '{path.stem}'",
            f"rename the file to {name}.toml or drop the name key",
        )
    if not _NAME.fullmatch(name):
        raise ConfigError(
            f"preset {path}: name '{name}' is not allowed", "use lower-case letters, digits, '-', '_', '.'"
        )
    defaults = dict(data.get("defaults", {}))
    _check_table(path, "defaults.", defaults, DEFAULTS_KEYS)
    raw_variants = data.get("variants", [])
    if not raw_variants:
        raise ConfigError(
            f"preset {path}: no [[variants]]", "add at least one [[variants]] with name and algo"
        )
    seeds = defaults.pop("seeds", 1)
    seed_list = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    if not seed_list or any(s < 0 for s in seed_list) or len(set(seed_list)) != len(seed_list):
        raise ConfigError(
            f"preset {path}: 'defaults.seeds' = {seeds!r} is not a count or a list of distinct seeds",
            "write seeds = 3 or seeds = [0, 1, 2]",
        )
    variants: list[Variant] = []
    for i, raw in enumerate(raw_variants):
        where = f"variants[{i}]."
        _check_table(path, where, raw, VARIANT_KEYS)
        merged = {**defaults, **raw}
        merged["env_options"] = {**defaults.get("env_options", {}), **raw.get("env_options", {})}
        merged["hyperparams"] = {**defaults.get("hyperparams", {}), **raw.get("hyperparams", {})}
        for key in ("name", "algo", "env", "steps"):
            if key not in merged:
                hint = "" if key == "name" else f" (or defaults.{key})"
                raise ConfigError(f"preset {path}: '{where}{key}' is missing", f"set {where}{key}{hint}")
        if not _NAME.fullmatch(merged["name"]):
            raise ConfigError(
                f"preset {path}: '{where}name' = '{merged['name']}' is not allowed",
                "use lower-case letters, digits, '-', '_', '.'",
            )
        if merged["name"] in {v.name for v in variants}:
            raise ConfigError(
                f"preset {path}: variant name '{merged['name']}' repeats", "give each a unique name"
            )
        variants.append(
            Variant(
                name=merged["name"],
                label=merged.get("label", merged["name"]),
                algo=merged["algo"],
                env=merged["env"],
                steps=merged["steps"],
                env_options=merged["env_options"],
                hyperparams=merged["hyperparams"],
                eval_every=merged.get("eval_every"),
                eval_episodes=merged.get("eval_episodes", 10),
                checkpoint_every=merged.get("checkpoint_every"),
                final_evals=tuple(merged.get("final_evals", ())),
                final_eval_episodes=merged.get("final_eval_episodes"),
                index=i,
            )
        )
    names = [v.name for v in variants]
    return Preset(
        name=name,
        path=path,
        paper=data.get("paper", ""),
        feeds=data.get("feeds", ""),
        figure=data.get("figure", ""),
        description=data.get("description", ""),
        seeds=tuple(seed_list),
        variants=tuple(variants),
        claims=parse_claims(path, data.get("claims", []), names),
        tiers=parse_tiers(path, data.get("tiers", {}), names, [v.algo for v in variants]),
    )


def all_presets() -> list[Preset | tuple[Path, ConfigError]]:
    """Every preset found, loaded; a malformed one appears as ``(path, error)`` instead."""
    out: list[Preset | tuple[Path, ConfigError]] = []
    for path in preset_files().values():
        try:
            out.append(load_preset(str(path)))
        except ConfigError as err:
            out.append((path, err))
    return out


def algo_status(algo: str) -> str:
    """'' when ``algo`` is registered, 'not built yet' when the catalogue plans it, else 'unknown'."""
    from marlbench.algos import all_algos
    from marlbench.algos.catalogue import CATALOGUE

    if algo in all_algos():
        return ""
    planned = {row.command for row in CATALOGUE if row.command}
    return "not built yet" if algo in planned else "unknown algorithm"


ALIAS_PREFIX = "preset:"
"""Tags starting with this mark a finished run adopted by another preset (see :func:`alias_tag`)."""


def alias_tag(preset: str, variant: str) -> str:
    """The tag marking a run as the twin adopted by ``preset`` for ``variant``.

    A sweep adds it to an identical finished run of another preset instead of training it again;
    tables and figures of ``preset`` then count that run as ``variant``'s.
    """
    return f"{ALIAS_PREFIX}{preset}/{variant}"
