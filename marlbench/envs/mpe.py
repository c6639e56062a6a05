"""MPE ``simple_spread`` as ``mpe-spread``: native batched arrays by default, mpe2 as the reference.

``backend=native`` (default) is :mod:`marlbench.envs.particles.spread`, our array implementation
with mpe2's dynamics, observations, rewards, episode length and seeding (checked array by array
against mpe2 in ``tests/test_native_spread.py``); ``backend=mpe2`` runs mpe2's
``simple_spread_v3`` itself (``pettingzoo.mpe`` is deprecated), looped per copy for the array
learners.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marlbench.envs.registry import EnvSpec, register
from marlbench.errors import ConfigError

BACKENDS = ("native", "mpe2")


def _config(n_agents: int, max_cycles: int, continuous: bool, local_ratio: float, backend: str) -> Any:
    """Validated options as a :class:`SpreadConfig` (user errors name the fix)."""
    from marlbench.envs.particles.spread import SpreadConfig

    if backend not in BACKENDS:
        raise ConfigError(f"--env-opt backend={backend} is unknown", f"choose one of: {', '.join(BACKENDS)}")
    if int(n_agents) < 1:
        raise ConfigError(f"n_agents must be at least 1, got {n_agents}", "set --env-opt n_agents=3")
    if int(max_cycles) < 1:
        raise ConfigError(f"max_cycles must be at least 1, got {max_cycles}", "set --env-opt max_cycles=25")
    if not 0.0 <= float(local_ratio) <= 1.0:
        raise ConfigError(
            f"local_ratio must be in [0, 1], got {local_ratio}", "set --env-opt local_ratio=0.5"
        )
    return SpreadConfig(int(n_agents), float(local_ratio), int(max_cycles), bool(continuous))


def _mpe2_spread(seed: int | None, config: Any) -> Any:
    from mpe2 import simple_spread_v3

    env = simple_spread_v3.parallel_env(
        N=config.n_agents,
        max_cycles=config.max_cycles,
        continuous_actions=config.continuous,
        local_ratio=config.local_ratio,
    )
    if seed is not None:
        env.reset(seed=seed)
    return env


def make_spread(
    seed: int | None = None,
    n_agents: int = 3,
    max_cycles: int = 25,
    continuous: bool = False,
    local_ratio: float = 0.5,
    backend: str = "native",
) -> Any:
    """MPE ``simple_spread_v3``: N agents cover N landmarks, penalised for collisions.

    The reward mixes a global coverage term and a local collision term (``local_ratio``), so
    per-agent rewards differ slightly; the ledger stores them per agent.
    """
    config = _config(n_agents, max_cycles, continuous, local_ratio, backend)
    if backend == "mpe2":
        return _mpe2_spread(seed, config)
    from marlbench.envs.particles.spread import SpreadParallelEnv

    env = SpreadParallelEnv(config, seed=seed)
    if seed is not None:
        env.reset(seed=seed)
    return env


def make_spread_array(
    num_envs: int,
    seed: int | None = None,
    n_agents: int = 3,
    max_cycles: int = 25,
    continuous: bool = False,
    local_ratio: float = 0.5,
    backend: str = "native",
) -> Any:
    """``num_envs`` copies as an ArrayEnv: native arrays, or the loop adapter over mpe2 envs."""
    config = _config(n_agents, max_cycles, continuous, local_ratio, backend)
    if backend == "mpe2":
        from marlbench.envs.array import ParallelArrayEnv

        return ParallelArrayEnv(lambda s: _mpe2_spread(s, config), num_envs=num_envs, seed=int(seed or 0))
    from marlbench.envs.particles.spread import SpreadArrayEnv

    return SpreadArrayEnv(config, num_envs=num_envs, seed=seed)


def _n(options: Mapping[str, Any]) -> int:
    return int(options["n_agents"])


register(
    EnvSpec(
        name="mpe-spread",
        make=make_spread,
        description="MPE simple_spread: N agents cooperate to cover N landmarks without colliding",
        n_agents=_n,
        episode_length=lambda o: int(o["max_cycles"]),
        obs_kind="vector",
        action_kind=lambda o: "continuous" if o["continuous"] else "discrete",
        options={
            "n_agents": 3,
            "max_cycles": 25,
            "continuous": False,
            "local_ratio": 0.5,
            "backend": "native",
        },
        option_help={
            "n_agents": "number of agents (and landmarks)",
            "max_cycles": "episode length in steps",
            "continuous": "continuous actions (5-d force vector) instead of Discrete(5)",
            "local_ratio": "weight of the local (collision) reward against the global one",
            "backend": "native: batched numpy giving mpe2's arrays; mpe2: the reference package itself",
        },
        option_choices={"backend": BACKENDS},
        metrics=(),
        paper="000 (baseline), 001 (CN-V1 is its 3-agent form)",
        make_array=make_spread_array,
        family="mpe",
    )
)
