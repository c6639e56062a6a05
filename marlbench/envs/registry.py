"""The environment registry: a name maps to a factory returning a PettingZoo ``ParallelEnv``.

Conventions every registered environment follows (in-repo environments and wrapped upstream ones):

* ``make(seed=None, **options)`` returns a fresh ``ParallelEnv``. ``options`` are the keys of
  ``EnvSpec.options``; their defaults there fix their types (``--env-opt key=value`` is parsed
  to that type).
* Per-agent episode metrics (collision, completion, captures, ...) are reported through
  ``infos[agent]["episode_metrics"]``: a ``dict[str, float]`` present at least on the step where the
  agent's episode ends (terminated or truncated). The names are those listed in ``EnvSpec.metrics``.
  Recorders keep the last value seen for each agent, so an env may also report them every step.
* A family may offer ``make_array(num_envs, seed, **options)`` returning a native batched
  :class:`marlbench.envs.array.ArrayEnv` (many copies stepped as arrays). When absent, the generic
  adapter :class:`marlbench.envs.array.ParallelArrayEnv` loops over ``num_envs`` ParallelEnvs.
"""

from __future__ import annotations

import contextlib
import importlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from marlbench.errors import ConfigError, nearest
from marlbench.values import check_env_option, parse_typed

OptionValue = bool | int | float | str


@dataclass(frozen=True)
class EnvSpec:
    """What the registry knows about one environment, before building it."""

    name: str
    make: Callable[..., Any]
    """``make(seed=None, **options) -> pettingzoo.ParallelEnv``."""
    description: str
    n_agents: int | Callable[[Mapping[str, Any]], int]
    """Number of agents, or a function of the resolved options."""
    episode_length: int | Callable[[Mapping[str, Any]], int]
    obs_kind: str
    """``vector`` or ``image``."""
    action_kind: str | Callable[[Mapping[str, Any]], str]
    """``discrete`` or ``continuous``, or a function of the resolved options."""
    options: Mapping[str, OptionValue] = field(default_factory=dict)
    option_help: Mapping[str, str] = field(default_factory=dict)
    option_choices: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    metrics: tuple[str, ...] = ()
    paper: str = ""
    make_array: Callable[..., Any] | None = None
    """Optional native batched env: ``make_array(num_envs, seed, **options) -> ArrayEnv``."""
    single_agent: bool = False
    family: str = ""
    image_layout: Callable[[Mapping[str, Any]], tuple[int, tuple[int, int, int]] | None] | None = None
    """For flat vector observations that end with images: ``options -> (offset, (C, H, W))`` of the
    image stack in one agent's observation, or None when the options leave the image out. Learners
    with an image branch (:mod:`marlbench.nets.image`) read it."""

    def resolve_options(self, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Defaults overlaid with ``given`` (strings are parsed to the default's type)."""
        resolved: dict[str, Any] = dict(self.options)
        for key, raw in (given or {}).items():
            if key not in self.options:
                valid = ", ".join(sorted(self.options)) or "none"
                raise ConfigError(
                    f"environment '{self.name}' has no option '{key}'",
                    f"{nearest(key, list(self.options))}valid options: {valid}",
                )
            value = check_env_option(
                key, parse_typed(raw, self.options[key], f"--env-opt {key}"), self.options[key]
            )
            choices = self.option_choices.get(key)
            if choices and value not in choices:
                raise ConfigError(
                    f"--env-opt {key}={value} is not allowed",
                    f"choose one of: {', '.join(choices)}",
                )
            resolved[key] = value
        return resolved

    def agents_for(self, options: Mapping[str, Any]) -> int:
        return self.n_agents(options) if callable(self.n_agents) else self.n_agents

    def length_for(self, options: Mapping[str, Any]) -> int:
        return self.episode_length(options) if callable(self.episode_length) else self.episode_length

    def action_kind_for(self, options: Mapping[str, Any]) -> str:
        return self.action_kind(options) if callable(self.action_kind) else self.action_kind

    def image_for(self, options: Mapping[str, Any]) -> tuple[int, tuple[int, int, int]] | None:
        return self.image_layout(options) if self.image_layout is not None else None

    def eval_step_cap(self, options: Mapping[str, Any]) -> int:
        """The step cap of one evaluation episode: ten episode lengths, at least 10,000 steps.

        A deterministic policy can stall an env whose episodes end on success only; the cap keeps
        an evaluation finite without cutting any ordinary episode short.
        """
        return max(10 * self.length_for(options), 10_000)


_REGISTRY: dict[str, EnvSpec] = {}
_LOADED = False


def register(spec: EnvSpec) -> EnvSpec:
    """Add ``spec`` to the registry (the last registration of a name wins)."""
    _REGISTRY[spec.name] = spec
    return spec


def _load_builtin() -> None:
    """Import the built-in families once. A family whose optional dependency is absent is skipped."""
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    for module in BUILTIN_FAMILIES:
        try:
            importlib.import_module(module)
        except ImportError as exc:  # optional dependency missing: the family is simply absent
            _MISSING_FAMILIES[module] = str(exc)


BUILTIN_FAMILIES: list[str] = [
    "marlbench.envs.mpe",
    "marlbench.envs.smarts_intersection",
    "marlbench.envs.particles",
    "marlbench.envs.sisl",
    "marlbench.envs.atari",
]
_MISSING_FAMILIES: dict[str, str] = {}


def all_specs() -> dict[str, EnvSpec]:
    _load_builtin()
    return dict(sorted(_REGISTRY.items()))


_IMPORT_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


def get_spec(name: str) -> EnvSpec:
    """The spec for a registered name or a user's ``package.module:factory``."""
    _load_builtin()
    if name in _REGISTRY:
        return _REGISTRY[name]
    if ":" in name:
        return _spec_from_import_path(name)
    known = sorted(_REGISTRY)
    raise ConfigError(
        f"unknown environment '{name}'",
        f"{nearest(name, known)}run 'marlbench envs' for the list, or pass package.module:factory",
    )


def _spec_from_import_path(path: str) -> EnvSpec:
    if not _IMPORT_PATH.match(path):
        raise ConfigError(
            f"'{path}' is not an import path of the form package.module:factory",
            "write it like mypkg.envs:make_env",
        )
    module_name, attr = path.split(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # any import failure of user code is a user error
        raise ConfigError(
            f"cannot import module '{module_name}' for --env {path}: {type(exc).__name__}: {exc}",
            "check the module is installed or on PYTHONPATH",
        ) from None
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise ConfigError(
            f"module '{module_name}' has no callable '{attr}'", "name a function that returns a ParallelEnv"
        )

    import inspect

    # the factory's keyword arguments with simple defaults become --env-opt options
    options: dict[str, OptionValue] = {}
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        parameters = []
    for param in parameters:
        if param.name != "seed" and isinstance(param.default, bool | int | float | str):
            options[param.name] = param.default

    def make(seed: int | None = None, **options: Any) -> Any:
        try:
            env = factory(**options)
        except TypeError as exc:
            raise ConfigError(f"{path}(...) failed: {exc}", "check the --env-opt names") from None
        except Exception as exc:  # user code: its failure is the user's to fix, not a traceback
            raise ConfigError(f"{path}() raised {type(exc).__name__}: {exc}", "fix that factory") from None
        if not hasattr(env, "possible_agents") or not hasattr(env, "step"):
            raise ConfigError(
                f"{path}() returned {type(env).__name__}, not a PettingZoo ParallelEnv",
                "return a ParallelEnv (wrap an AEC env with pettingzoo.utils.conversions.aec_to_parallel)",
            )
        _default_render_mode(env)
        return env

    probed: dict[tuple, tuple[int, str, int, int]] = {}

    def probe(given: Mapping[str, Any]) -> tuple[int, str, int, int]:
        """(agents, action kind, observation rank, episode length) of the env built with ``given``."""
        key = tuple(sorted(given.items()))
        if key not in probed:
            from gymnasium import spaces

            env = make(**given)
            try:
                if not env.possible_agents:
                    raise ConfigError(f"{path}() made an env with no agents", "give it possible_agents")
                first = env.possible_agents[0]
                kind = "discrete" if isinstance(env.action_space(first), spaces.Discrete) else "continuous"
                rank = len(env.observation_space(first).shape or ())
                length = int(getattr(env, "max_cycles", 0) or getattr(env, "max_episode_steps", 0) or 0)
                probed[key] = (len(env.possible_agents), kind, rank, length)
            finally:
                env.close()
        return probed[key]

    defaults = probe(options)  # also proves the factory returns a ParallelEnv before anything runs
    return EnvSpec(
        name=path,
        make=make,
        description=f"user environment {path}",
        n_agents=lambda o: probe(o)[0],
        episode_length=lambda o: probe(o)[3],
        obs_kind="image" if defaults[2] == 3 else "vector",
        action_kind=lambda o: probe(o)[1],
        options=options,
        option_help={k: f"keyword argument of {attr}()" for k in options},
        family="user",
    )


def _default_render_mode(env: Any) -> None:
    """Give a user env without ``render_mode`` one of None, as PettingZoo's ParallelEnv documents:
    SuperSuit's vector wrapper (the SB3 learners' path) reads ``env.unwrapped.render_mode``."""
    for target in (env, getattr(env, "unwrapped", env)):
        if not hasattr(target, "render_mode"):
            with contextlib.suppress(AttributeError, TypeError):  # slots or a read-only property
                target.render_mode = None


def split_options(pairs: list[str] | None) -> dict[str, str]:
    """Parse ``["k=v", ...]`` from ``--env-opt`` / ``--set`` into a dict of strings."""
    out: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"'{pair}' is not of the form key=value", "write it like continuous=true")
        out[key.strip()] = value.strip()
    return out
