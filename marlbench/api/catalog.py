"""What exists: environments, algorithms and presets (for ``marlbench envs``, ``algos``, ``preset list``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class EnvInfo:
    """A registered environment at its default options."""

    name: str
    description: str
    agents: int
    episode_length: int
    observations: str
    actions: str
    """The action kind at the default options."""
    action_kinds: tuple[str, ...]
    """Every action kind an option can select (e.g. discrete and continuous)."""
    metrics: tuple[str, ...]
    paper: str
    options: tuple[tuple[str, Any, str], ...]
    """``(option, default, meaning)`` for each ``--env-opt``."""


def _env_info(spec: Any) -> EnvInfo:
    options = spec.resolve_options({})
    kinds = {spec.action_kind_for(options)}
    if "continuous" in spec.options or "action" in spec.options:
        kinds = {"discrete", "continuous"}
    meanings = []
    for key, default in spec.options.items():
        choices = spec.option_choices.get(key)
        meanings.append(
            (key, default, spec.option_help.get(key, "") + (f" ({'|'.join(choices)})" if choices else ""))
        )
    return EnvInfo(
        name=spec.name,
        description=spec.description,
        agents=spec.agents_for(options),
        episode_length=spec.length_for(options),
        observations=spec.obs_kind,
        actions=spec.action_kind_for(options),
        action_kinds=tuple(sorted(kinds)),
        metrics=tuple(spec.metrics),
        paper=spec.paper,
        options=tuple(meanings),
    )


def list_envs() -> list[EnvInfo]:
    """Every registered environment."""
    from marlbench.envs import all_specs

    return [_env_info(spec) for spec in all_specs().values()]


def describe_env(name: str) -> EnvInfo:
    """One environment (a registered name or ``package.module:factory``); ConfigError if unknown."""
    from marlbench.envs import get_spec

    return _env_info(get_spec(name))


@dataclass(frozen=True)
class AlgoInfo:
    """A registered algorithm and its hyperparameters."""

    name: str
    description: str
    source: str
    action_kinds: tuple[str, ...]
    hyperparams: tuple[tuple[str, Any, str], ...]
    """``(name, default, meaning)`` for each ``--set`` key."""


def list_algos() -> list[dict[str, str]]:
    """The catalogue of RL methods (paper 003): method, command, available, how, actions, description."""
    from marlbench.algos import all_algos
    from marlbench.algos.catalogue import catalogue_rows

    return catalogue_rows(all_algos())


def describe_algo(name: str) -> AlgoInfo:
    """One registered algorithm; ConfigError if unknown."""
    from marlbench.algos import get_algo
    from marlbench.algos.base import describe_config

    spec = get_algo(name)
    return AlgoInfo(
        spec.name,
        spec.description,
        spec.source,
        tuple(sorted(spec.action_kinds)),
        tuple(describe_config(spec.config_cls())),
    )


def presets() -> tuple[list[Any], list[Any]]:
    """``(presets, directories searched)``; a broken preset file is a ``(path, ConfigError)`` pair."""
    from marlbench.presets import all_presets, preset_dirs

    return all_presets(), preset_dirs()


def algo_status(algo: str) -> str:
    """'' when ``algo`` is registered, 'not built yet' when the catalogue plans it, else 'unknown'."""
    from marlbench.presets import algo_status as status

    return status(algo)


def load_preset(name: str) -> Any:
    """The :class:`~marlbench.presets.Preset` named ``name`` (or at that .toml path)."""
    from marlbench.presets import load_preset as load

    return load(name)
