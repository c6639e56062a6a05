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
preset is run (so a preset may name an algorithm that is not built yet).
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
from marlbench.config import Resolved, RunSpec
from marlbench.errors import ConfigError, nearest

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
}
"""Keys shared by ``[defaults]`` and each ``[[variants]]`` entry."""

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

    def variant(self, name: str) -> Variant:
        for v in self.variants:
            if v.name == name:
                return v
        raise KeyError(name)

    def labels(self) -> dict[str, str]:
        """Variant name -> label, in file order."""
        return {v.name: v.label for v in self.variants}

    def specs(self, seeds: list[int] | None = None, scale: float = 1.0) -> list[RunSpec]:
        """One RunSpec per variant and seed (variant-major), budgets multiplied by ``scale``.

        ``scale`` multiplies ``steps``, ``eval_every`` and ``checkpoint_every`` (each at least 1).
        Every spec is stamped with this preset's name and its variant.
        """
        if not (isinstance(scale, int | float) and math.isfinite(scale) and scale > 0):
            raise ConfigError(f"--scale {scale} must be a positive number", "e.g. --scale 0.1 for a tenth")
        chosen = list(self.seeds) if seeds is None else list(seeds)

        def scaled(value: int | None) -> int | None:
            return None if value is None else max(1, round(value * scale))

        return [
            RunSpec(
                algo=v.algo,
                env=v.env,
                seed=seed,
                steps=scaled(v.steps) or 1,
                env_options=dict(v.env_options),
                hyperparams=dict(v.hyperparams),
                eval_every=scaled(v.eval_every),
                eval_episodes=v.eval_episodes,
                checkpoint_every=scaled(v.checkpoint_every),
                preset=self.name,
                variant=v.name,
            )
            for v in self.variants
            for seed in chosen
        ]

    def total_steps(self, seeds: list[int] | None = None, scale: float = 1.0) -> int:
        return sum(s.steps for s in self.specs(seeds, scale))


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
def _type_ok(value: Any, kind: str) -> bool:
    if kind == "str":
        return isinstance(value, str)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "table":
        return isinstance(value, dict)
    if kind == "array of tables":
        return isinstance(value, list) and all(isinstance(v, dict) for v in value)
    if kind == "int or array of int":
        ints = value if isinstance(value, list) else [value]
        return all(isinstance(v, int) and not isinstance(v, bool) for v in ints)
    raise AssertionError(kind)


def _check_table(path: Path, where: str, data: Mapping[str, Any], allowed: Mapping[str, str]) -> None:
    """Unknown keys and wrong types in one TOML table -> ConfigError naming the file and key."""
    for key, value in data.items():
        full = f"{where}{key}"
        if key not in allowed:
            raise ConfigError(
                f"preset {path}: unknown key '{full}'",
                f"{nearest(key, list(allowed))}valid keys there: {', '.join(allowed)}",
            )
        if not _type_ok(value, allowed[key]):
            raise ConfigError(
                f"preset {path}: key '{full}' must be {allowed[key]}, not {type(value).__name__} ({value!r})",
                f"write it as a TOML {allowed[key]}",
            )
        if key in ("env_options", "hyperparams"):
            for sub, item in value.items():
                if not isinstance(item, _SCALAR):
                    raise ConfigError(
                        f"preset {path}: '{full}.{sub}' must be a string, number or boolean",
                        "nested tables and arrays are not options",
                    )
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
                index=i,
            )
        )
    return Preset(
        name=name,
        path=path,
        paper=data.get("paper", ""),
        feeds=data.get("feeds", ""),
        figure=data.get("figure", ""),
        description=data.get("description", ""),
        seeds=tuple(seed_list),
        variants=tuple(variants),
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


def check_runnable(preset: Preset, specs: list[RunSpec]) -> list[Resolved]:
    """Resolve every spec (algorithm, env, options, hyperparameters); ConfigError names file and key."""
    from marlbench.config import resolve

    by_name = {v.name: v for v in preset.variants}
    resolved = []
    for spec in specs:
        variant = by_name[spec.variant]
        try:
            resolved.append(resolve(spec))
        except ConfigError as err:
            raise ConfigError(
                f"preset {preset.path}, variants[{variant.index}] ('{variant.name}'), "
                f"{_toml_key(err.key, variant)}: {err.message}",
                err.fix,
            ) from None
    return resolved


def _toml_key(key: str, variant: Variant) -> str:
    """How a preset names the part of a spec that :func:`marlbench.config.resolve` blamed."""
    if key == "algo":
        return f"algo = '{variant.algo}'"
    if key == "env":
        return f"env = '{variant.env}'"
    return key or "settings"
