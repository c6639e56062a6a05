"""Whether a policy trained under some env options can act under others (same agents and spaces).

``marlbench evaluate --env-opt`` and a run's ``final_evals`` (:mod:`marlbench.config`) both refuse
options that change the agents or the observation/action shapes: a policy's input and output
layers are fixed by them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np

_SIGNATURES: dict[tuple[str, str], dict[str, tuple[Any, ...]]] = {}
"""Space signatures already read in this process, by env name and options (a preset resolves each
seed's spec: the env is opened once per option set, not once per seed)."""


def space_change(env_spec: Any, trained: Mapping[str, Any], asked: Mapping[str, Any]) -> str | None:
    """None when a policy trained under env options ``trained`` can act under ``asked`` (same agents,
    same observation and action space shapes), else what changes, in words: "agents (3 agents,
    observations (18,), actions Discrete(5) -> 4 agents, ...)" or "observation or action shapes (...)".
    Nothing is opened when the options are equal."""
    if dict(trained) == dict(asked):
        return None
    before, after = _signature(env_spec, trained), _signature(env_spec, asked)
    if before == after:
        return None
    what = "agents" if set(before) != set(after) else "observation or action shapes"
    return f"{what} ({_describe(before)} -> {_describe(after)})"


def _signature(env_spec: Any, options: Mapping[str, Any]) -> dict[str, tuple[Any, ...]]:
    key = (str(env_spec.name), json.dumps(dict(options), sort_keys=True, default=str))
    if key not in _SIGNATURES:
        _SIGNATURES[key] = _space_signature(env_spec, options)
    return _SIGNATURES[key]


def _space_signature(env_spec: Any, options: Mapping[str, Any]) -> dict[str, tuple[Any, ...]]:
    """Agent -> (observation space kind and shape, action space kind and shape) of one fresh env."""
    env = env_spec.make(seed=0, **options)
    try:
        return {
            agent: (_space_shape(env.observation_space(agent)), _space_shape(env.action_space(agent)))
            for agent in env.possible_agents
        }
    finally:
        close = getattr(env, "close", None)
        if callable(close):
            close()


def _space_shape(space: Any) -> tuple[Any, ...]:
    """What a policy's input or output layer depends on: the space's kind, shape and sizes."""
    extra = getattr(space, "n", None)
    nvec = getattr(space, "nvec", None)
    return (
        type(space).__name__,
        tuple(space.shape or ()),
        None if extra is None else int(extra),
        None if nvec is None else tuple(np.asarray(nvec).tolist()),
    )


def _describe(signature: Mapping[str, tuple[Any, ...]]) -> str:
    """'3 agents, observations (18,), actions Discrete(5)' for the first agent."""
    if not signature:
        return "no agents"
    obs, act = next(iter(signature.values()))
    action = f"{act[0]}({act[2]})" if act[2] is not None else f"{act[0]}{act[1]}"
    return f"{len(signature)} agents, observations {obs[1]}, actions {action}"
