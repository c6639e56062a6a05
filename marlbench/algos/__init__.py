"""The algorithm registry: name -> :class:`~marlbench.algos.base.AlgoSpec`.

SB3 baselines are built from :data:`marlbench.algos.sb3.SB3_ALGOS`; in-repo algorithms are listed
in :data:`IN_REPO`. Classes are imported lazily so ``marlbench --help`` stays instant.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from functools import partial
from typing import Any

from marlbench.algos.base import AlgoSpec, EnvContext
from marlbench.errors import ConfigError, nearest


def _sb3_specs() -> dict[str, AlgoSpec]:
    from marlbench.algos.sb3.config import SB3_ALGOS, sb3_config_cls

    specs = {}
    for name, entry in SB3_ALGOS.items():
        pkg = "SB3" if entry.module == "stable_baselines3" else "sb3-contrib"
        specs[name] = AlgoSpec(
            name=name,
            description=entry.description,
            config_cls=partial(sb3_config_cls, name),
            algo_cls=partial(_sb3_factory, name),
            action_kinds=entry.action_kinds,
            source=f"{pkg}, shared weights",
            on_policy=entry.on_policy,
        )
    return specs


def _sb3_factory(name: str) -> Callable[..., Any]:
    from marlbench.algos.sb3.learner import SB3Shared

    return partial(SB3Shared, name=name)


def _lazy(module: str, attr: str) -> Callable[[], Any]:
    def load() -> Any:
        return getattr(importlib.import_module(module), attr)

    return load


IN_REPO: dict[str, dict[str, Any]] = {}
"""In-repo algorithms: name -> AlgoSpec keyword arguments (module/class given as strings)."""


def register_in_repo(name: str, module: str, cls: str, config: str, **kwargs: Any) -> None:
    IN_REPO[name] = {"module": module, "cls": cls, "config": config, **kwargs}


def _in_repo_specs() -> dict[str, AlgoSpec]:
    specs = {}
    for name, entry in IN_REPO.items():
        entry = dict(entry)
        module, cls, config = entry.pop("module"), entry.pop("cls"), entry.pop("config")
        factory = entry.pop("factory", None)
        specs[name] = AlgoSpec(
            name=name,
            config_cls=_lazy(module, config),
            algo_cls=factory or _lazy(module, cls),
            source=entry.pop("source", "in-repo"),
            **entry,
        )
    return specs


def all_algos() -> dict[str, AlgoSpec]:
    """Every runnable algorithm, SB3 baselines and in-repo ones, by name."""
    return {**_sb3_specs(), **_in_repo_specs()}


def get_algo(name: str) -> AlgoSpec:
    algos = all_algos()
    if name in algos:
        return algos[name]
    from marlbench.algos.catalogue import CATALOGUE

    planned = {row.command for row in CATALOGUE if row.command and row.offered == "in-repo"}
    if name in planned:
        raise ConfigError(f"'{name}' is planned but not built yet", "run 'marlbench algos' to see what runs")
    raise ConfigError(
        f"unknown algorithm '{name}'", f"{nearest(name, sorted(algos))}run 'marlbench algos' for the list"
    )


def build(spec: AlgoSpec, env: EnvContext, config: Any, seed: int, device: str = "cpu") -> Any:
    """Instantiate the algorithm of ``spec``."""
    import inspect

    cls = spec.algo_cls()
    try:
        takes_device = "device" in inspect.signature(cls).parameters
    except (TypeError, ValueError):
        takes_device = False
    return cls(env, config, seed, device=device) if takes_device else cls(env, config, seed)


# ---- in-repo algorithms (classes imported lazily) ---------------------------------------------
_DISCRETE = frozenset({"discrete"})
_BOTH = frozenset({"discrete", "continuous"})

register_in_repo(
    "lbs",
    "marlbench.algos.dqn.lbs",
    "LBS",
    "LBSConfig",
    description="Large Batch Sharing: independent DQNs learning from a shared large batch (paper 004)",
    action_kinds=_DISCRETE,
    paper="004",
)
register_in_repo(
    "idqn",
    "marlbench.algos.dqn.lbs",
    "IDQN",
    "DQNConfig",
    description="independent DQN: own network and own buffer per agent (paper 004 baseline)",
    action_kinds=_DISCRETE,
    paper="004",
)
register_in_repo(
    "idqn-shared-buffer",
    "marlbench.algos.dqn.lbs",
    "IDQNSharedBuffer",
    "DQNConfig",
    description="independent DQNs sampling one shared buffer uniformly (paper 004 baseline)",
    action_kinds=_DISCRETE,
    paper="004",
)
register_in_repo(
    "ps-dqn",
    "marlbench.algos.dqn.lbs",
    "PSDQN",
    "DQNConfig",
    description="parameter-sharing DQN: one network and one buffer for all agents (paper 004 baseline)",
    action_kinds=_DISCRETE,
    paper="004",
)
register_in_repo(
    "maddpg",
    "marlbench.algos.maddpg",
    "MADDPG",
    "MADDPGConfig",
    description="MADDPG: decentralized actors, a critic per agent, optional PER and messages (paper 000)",
    action_kinds=_BOTH,
    paper="000, 001 (MADDPG-1/-3 with comm_dim)",
)
register_in_repo(
    "maddpg-distributed",
    "marlbench.distributed.driver",
    "DistributedMADDPG",
    "DistributedMADDPGConfig",
    description="MADDPG with Ray collectors and asynchronous learners (paper 000, Fig. 5; marlbench[ray])",
    action_kinds=_BOTH,
    paper="000",
)
register_in_repo(
    "ctedd",
    "marlbench.algos.ctedd.learner",
    "CTEDD",
    "CTEDDConfig",
    description="CTEDD: global policies with a shared global layer and learned exploration (eq. 5), "
    "distilled into local policies with 1-d / 3-d messages (paper 001)",
    action_kinds=frozenset({"continuous"}),
    paper="001",
)
register_in_repo(
    "random",
    "marlbench.algos.random_policy",
    "RandomPolicy",
    "RandomConfig",
    description="uniform random actions, no learning: the reference row of 'compare' and the dashed "
    "line of the learning-curve figures",
    action_kinds=_BOTH,
    source="in-repo (reference)",
    multi_agent=False,  # any number of agents, one included
)
