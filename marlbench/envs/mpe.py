"""MPE particle environments from the ``mpe2`` package (``pettingzoo.mpe`` is deprecated)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marlbench.envs.registry import EnvSpec, register


def make_spread(
    seed: int | None = None,
    n_agents: int = 3,
    max_cycles: int = 25,
    continuous: bool = False,
    local_ratio: float = 0.5,
) -> Any:
    """MPE ``simple_spread_v3``: N agents cover N landmarks, penalised for collisions.

    The reward mixes a global coverage term and a local collision term (``local_ratio``), so
    per-agent rewards differ slightly; the ledger stores them per agent.
    """
    from mpe2 import simple_spread_v3

    env = simple_spread_v3.parallel_env(
        N=n_agents, max_cycles=max_cycles, continuous_actions=continuous, local_ratio=local_ratio
    )
    if seed is not None:
        env.reset(seed=seed)
    return env


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
        options={"n_agents": 3, "max_cycles": 25, "continuous": False, "local_ratio": 0.5},
        option_help={
            "n_agents": "number of agents (and landmarks)",
            "max_cycles": "episode length in steps",
            "continuous": "continuous actions (5-d force vector) instead of Discrete(5)",
            "local_ratio": "weight of the local (collision) reward against the global one",
        },
        metrics=(),
        paper="000 (baseline), 001 (CN-V1 is its 3-agent form)",
        family="mpe",
    )
)
