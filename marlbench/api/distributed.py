"""Distributed training options: ``marlbench train ALGO --distributed`` (paper 000, Fig. 5).

:func:`distributed_run` checks the options completely before anything starts or is written (the
algorithm has a distributed mode, counts are positive, Ray is installed, a given cluster answers)
and returns the registry name and hyperparameters the run specs take.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from marlbench.errors import ConfigError

DISTRIBUTED_ALGOS = {"maddpg": "maddpg-distributed"}
"""Algorithms with a distributed mode -> the registry entry that trains it."""


def distributed_run(
    algo: str,
    hyperparams: Mapping[str, Any] | None = None,
    *,
    collectors: int | None = None,
    learners: int | None = None,
    sync_every: int | None = None,
    ray_address: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """``(algorithm name, hyperparameters)`` for a distributed run of ``algo``; ConfigError if wrong.

    ``ray_address`` (else ``$RAY_ADDRESS``) names a running cluster, recorded as ``ray=cluster``
    (the address itself is not part of the run's identity; it is put in ``RAY_ADDRESS`` for the
    run's processes); without one a local Ray is started for each run (``ray=local``).
    """
    from marlbench.distributed.ray_runtime import address_from_env, check_address, import_ray

    if algo not in DISTRIBUTED_ALGOS:
        raise ConfigError(
            f"'{algo}' has no distributed mode",
            f"--distributed works with: {', '.join(DISTRIBUTED_ALGOS)}; drop --distributed",
        )
    merged = dict(hyperparams or {})
    given = {"collectors": collectors, "learners": learners, "sync_every": sync_every}
    for key, value in given.items():
        if value is None:
            continue
        flag = f"--{key.replace('_', '-')}"
        if value < 1:
            raise ConfigError(f"{flag} {value} must be at least 1", f"e.g. {flag} 2")
        if key in merged:
            raise ConfigError(f"two values for {key}: {flag} and --set {key}={merged[key]}", "give one")
        merged[key] = value
    import_ray()
    address = address_from_env(ray_address)
    check_address(address)
    if ray_address:
        os.environ["RAY_ADDRESS"] = ray_address
    merged["ray"] = "cluster" if address else "local"
    return DISTRIBUTED_ALGOS[algo], merged


def use_ray_address(address: str | None) -> None:
    """Check ``address`` answers and hand it to the runs of this process (``--resume`` of a cluster run)."""
    from marlbench.distributed.ray_runtime import check_address

    if address:
        check_address(address)
        os.environ["RAY_ADDRESS"] = address


def run_planned_on_ray(planned: list[Any], *, ledger: Any, progress: Any = None) -> list[dict]:
    """:func:`~marlbench.api.run_planned` with each run a Ray task (local Ray, or ``$RAY_ADDRESS``)."""
    from marlbench.distributed.ray_runtime import address_from_env, check_address, import_ray
    from marlbench.training.ray_sweep import execute_on_ray

    import_ray()
    check_address(address_from_env())
    return execute_on_ray(planned, ledger, progress=progress)
