"""The small surface every algorithm exposes, and the hyperparameter machinery they share.

An algorithm is a hyperparameter dataclass (defaults from its paper, one docstring line per field,
ranges declared with :func:`hp`) plus a class with::

    __init__(env: EnvContext, config, seed: int)
    learn(total_steps: int, recorder: Recorder) -> None    # total_steps counts environment steps
    act(observations: dict[str, np.ndarray], deterministic: bool = True) -> dict[str, action]
    save(directory: Path) -> None
    load(directory: Path) -> None
    steps_done: int                                          # env steps learned so far (restored by load)
    updates_done: int                                        # gradient updates so far (optional)

It does not own the ledger or the CLI: it reports finished episodes and progress to the
:class:`Recorder` it is given, which decides when to evaluate and checkpoint.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from marlbench.envs.array import EpisodeRecord
from marlbench.envs.registry import EnvSpec
from marlbench.errors import ConfigError, nearest
from marlbench.values import parse_typed

if TYPE_CHECKING:  # torch stays unimported until a learner is built
    from marlbench.nets.image import ImageLayout


def hp(
    default: Any,
    help: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    choices: tuple[Any, ...] | None = None,
    steps: bool = False,
) -> Any:
    """A hyperparameter field: ``default``, one-line ``help`` and the range it must lie in.

    ``low``/``high`` are inclusive unless ``low_open`` (then ``value > low``). ``steps`` declares a
    value counted in env steps (a warm-up, a period, a horizon): ``preset run --scale`` scales it
    with the budget (:func:`marlbench.algos.budget.step_valued`).
    """
    meta = {"help": help, "low": low, "high": high, "low_open": low_open, "choices": choices, "steps": steps}
    if isinstance(default, list | dict):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


def check_value(name: str, value: Any, meta: Mapping[str, Any]) -> None:
    """Raise ConfigError when ``value`` breaks the range or choices declared in ``meta``."""
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        raise ConfigError(
            f"{name}={value!r} is not allowed", f"choose one of: {', '.join(map(str, choices))}"
        )
    if isinstance(value, int | float) and not isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{name}={value} is not finite", "give a finite number")
        low, high = meta.get("low"), meta.get("high")
        if low is not None:
            if meta.get("low_open") and not value > low:
                raise ConfigError(f"{name}={value} is out of range", f"it must be > {low}")
            if not meta.get("low_open") and value < low:
                raise ConfigError(f"{name}={value} is out of range", f"it must be >= {low}")
        if high is not None and value > high:
            raise ConfigError(f"{name}={value} is out of range", f"it must be <= {high}")


ENV_COPIES = {"num_envs": "n_envs", "n_envs": "num_envs"}
"""One name for the env copies: ``num_envs`` (the in-repo learners' field) also sets SB3's ``n_envs``,
and ``n_envs`` the in-repo ``num_envs``; the resolved config (and so the run's hash) is the same."""


def resolve_config(config_cls: type, overrides: Mapping[str, Any] | None, algo: str) -> Any:
    """Build ``config_cls`` from its defaults and ``overrides`` (``--set`` values), validated."""
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    defaults = config_cls()
    values: dict[str, Any] = {}
    for given, raw in (overrides or {}).items():
        key = ENV_COPIES[given] if given not in fields and ENV_COPIES.get(given) in fields else given
        if key in values:
            raise ConfigError(f"'{algo}': num_envs and n_envs name the same setting", "give one of them")
        if key not in fields:
            valid = ", ".join(sorted(fields))
            raise ConfigError(
                f"'{algo}' has no hyperparameter '{key}'",
                f"{nearest(key, list(fields))}valid keys: {valid}",
            )
        values[key] = parse_typed(raw, getattr(defaults, key), f"--set {key}")
    config = dataclasses.replace(defaults, **values)
    for name, f in fields.items():
        check_value(name, getattr(config, name), f.metadata)
    validate = getattr(config, "validate", None)
    if callable(validate):
        validate()
    return config


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads (0: leave the count as it is), then restore it."""
    import torch

    before = torch.get_num_threads()
    if n > 0:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def describe_config(config_cls: type) -> list[tuple[str, Any, str]]:
    """``(name, default, help)`` for each hyperparameter, for ``marlbench algos --show``."""
    defaults = config_cls()
    return [
        (f.name, getattr(defaults, f.name), f.metadata.get("help", ""))
        for f in dataclasses.fields(config_cls)
    ]


@dataclass
class EnvContext:
    """What an algorithm is told about its environment: the spec, resolved options, the seed."""

    spec: EnvSpec
    options: dict[str, Any]
    seed: int

    def make(self, seed: int | None = None) -> Any:
        """A fresh PettingZoo ParallelEnv."""
        return self.spec.make(seed=self.seed if seed is None else seed, **self.options)

    def make_array(self, num_envs: int, seed: int | None = None, with_state: bool = True) -> Any:
        """``num_envs`` copies as an :class:`~marlbench.envs.array.ArrayEnv`."""
        from marlbench.envs.array import make_array_env

        return make_array_env(
            self.spec, self.options, num_envs, self.seed if seed is None else seed, with_state=with_state
        )

    @property
    def n_agents(self) -> int:
        return self.spec.agents_for(self.options)

    @property
    def action_kind(self) -> str:
        return self.spec.action_kind_for(self.options)

    @property
    def image_layout(self) -> ImageLayout | None:
        """Where one agent's flat observation carries an image stack (None: vector only)."""
        found = self.spec.image_for(self.options)
        if found is None:
            return None
        from marlbench.nets.image import ImageLayout

        return ImageLayout(found[1], (found[0],))


@dataclass(frozen=True)
class VectorEnvProbe:
    """What one copy of an env as an ArrayEnv shows a learner: its agents and spaces."""

    agents: list[str]
    observation_space: Any
    action_space: Any
    state_shape: tuple[int, ...] | None


def probe_vector_env(env: EnvContext, algo: str) -> VectorEnvProbe:
    """Open one ArrayEnv copy of ``env``, read its agents and spaces, close it.

    Raises ConfigError (naming the fix) unless the observations are 1-d vectors, which the MLP
    learners (MADDPG, CTEDD) need.
    """
    from gymnasium import spaces

    probe = env.make_array(1)
    try:
        found = VectorEnvProbe(
            list(probe.agents), probe.observation_space, probe.action_space, probe.state_shape
        )
    finally:
        probe.close()
    obs_space = found.observation_space
    if not isinstance(obs_space, spaces.Box) or len(obs_space.shape) != 1:
        raise ConfigError(
            f"{algo} needs vector observations, '{env.spec.name}' gives {obs_space}",
            "pick a vector-observation environment (see 'marlbench envs')",
        )
    return found


class Recorder(Protocol):
    """Where an algorithm reports progress (implemented by ``training.recorder.RunRecorder``)."""

    def tick(self, env_steps: int) -> None:
        """Report that ``env_steps`` environment steps (in total) have been taken.

        May evaluate or checkpoint the algorithm before returning.
        """

    def log_episodes(self, env_steps: int, episodes: list[EpisodeRecord]) -> None:
        """Record finished training episodes (per-agent returns, lengths, metrics)."""

    def log_stats(self, env_steps: int, stats: Mapping[str, float]) -> None:
        """Training statistics (losses, entropy); shown in progress, not stored per step."""

    def log_evaluation(self, env_steps: int, records: list[EpisodeRecord], policy: str = "") -> int:
        """Store one round of deterministic episodes the algorithm ran itself; returns its eval id.

        ``policy`` names the policy evaluated when it is not the algorithm's own acting policy
        (CTEDD tests its global and distilled policies each round). The recorder assigns the id,
        counting up from 0 together with the runner's own evaluations; rows with a non-empty
        ``policy`` never count as the run's score.
        """


class Algorithm(Protocol):
    """What the runner calls on every algorithm (see the module docstring for the signatures).

    Optional hooks, looked up by name with :func:`optional_hook` (an algorithm defines only those it
    needs):

    * ``eval_env(seed) -> ParallelEnv``: the env its evaluation episodes run on, when acting needs
      the same wrapping as training (SB3's padding and frame stacks, CTEDD's global state);
      default: a fresh env from the run's :class:`EnvContext`.
    * ``reset_episode() -> None``: called before each evaluation episode (recurrent state).
    * ``close() -> None``: release env copies and worker processes once the run has ended.
    """

    steps_done: int

    def learn(self, total_steps: int, recorder: Recorder) -> None: ...

    def act(self, observations: Mapping[str, np.ndarray], deterministic: bool = True) -> dict[str, Any]: ...

    def save(self, directory: Path) -> None: ...

    def load(self, directory: Path) -> None: ...


def updates_of(algo: Any) -> int | None:
    """The gradient updates ``algo`` made so far (``updates_done``); None when it does not count them."""
    value = getattr(algo, "updates_done", None)
    return None if value is None else int(value)


OPTIONAL_HOOKS = ("eval_env", "reset_episode", "close")
"""The optional hooks of :class:`Algorithm`, by name."""


def optional_hook(algo: Any, name: str) -> Callable[..., Any] | None:
    """``algo``'s optional hook ``name`` (one of :data:`OPTIONAL_HOOKS`), or None when it has none."""
    if name not in OPTIONAL_HOOKS:
        raise ValueError(f"'{name}' is not an optional hook of Algorithm ({', '.join(OPTIONAL_HOOKS)})")
    hook = getattr(algo, name, None)
    return hook if callable(hook) else None


@dataclass(frozen=True)
class AlgoSpec:
    """A registry entry: how to build an algorithm and what it supports."""

    name: str
    description: str
    config_cls: Callable[[], type]
    """Returns the hyperparameter dataclass (a callable so heavy imports wait until needed)."""
    algo_cls: Callable[[], type]
    """Returns the algorithm class (imported lazily)."""
    action_kinds: frozenset[str]
    source: str
    """How marlbench offers it, e.g. 'SB3, shared weights' or 'in-repo'."""
    paper: str = ""
    multi_agent: bool = True
    needs_global_state: bool = False
    on_policy: bool = False
    option_flags: Mapping[str, str] = field(default_factory=dict)
    """CLI conveniences that map to hyperparameters, e.g. ``{'per': 'per'}``."""

    def check_env(self, env: EnvContext) -> None:
        """Refuse an env whose action kind this algorithm cannot handle, naming the fix."""
        kind = env.action_kind
        if kind in self.action_kinds:
            return
        fix = f"'{self.name}' needs {' or '.join(sorted(self.action_kinds))} actions"
        if "continuous" in env.spec.options and kind == "discrete":
            fix += "; use --env-opt continuous=true"
        elif "continuous" in env.spec.options and kind == "continuous":
            fix += "; use --env-opt continuous=false"
        elif "action" in env.spec.options:
            fix += f"; use --env-opt action={'continuous' if kind == 'discrete' else 'discrete'}"
        else:
            fix += "; pick another algorithm (see 'marlbench algos')"
        raise ConfigError(f"'{self.name}' cannot act in '{env.spec.name}' ({kind} actions)", fix)
