"""The Python API behind the CLI: train runs and read the ledger as pandas DataFrames.

Example::

    from marlbench import api

    row = api.train("ppo", env="mpe-spread", steps=20_000, seed=0, hyperparams={"learning_rate": 3e-4})
    ledger = api.open_ledger()                  # ./marlbench-runs or $MARLBENCH_LEDGER
    runs = ledger.runs()                        # one row per run
    episodes = ledger.episodes([row["run_id"]]) # one row per agent per training episode
    evals = ledger.last_eval(row["run_id"])     # the last deterministic evaluation, per agent
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from marlbench.config import RunSpec


def open_ledger(path: str | os.PathLike | None = None, *, create: bool = False) -> Any:
    """The ledger at ``path`` (default ``$MARLBENCH_LEDGER`` or ``./marlbench-runs``)."""
    from marlbench.ledger import Ledger

    return Ledger(path, create=create)


def make_specs(
    algo: str,
    env: str,
    *,
    seeds: Sequence[int] = (0,),
    steps: int = 100_000,
    env_options: Mapping[str, Any] | None = None,
    hyperparams: Mapping[str, Any] | None = None,
    eval_every: int | None = None,
    eval_episodes: int = 10,
    checkpoint_every: int | None = None,
    tags: Sequence[str] = (),
    preset: str = "",
    variant: str = "",
) -> list[RunSpec]:
    """One :class:`RunSpec` per seed."""
    return [
        RunSpec(
            algo=algo,
            env=env,
            seed=int(seed),
            steps=int(steps),
            env_options=dict(env_options or {}),
            hyperparams=dict(hyperparams or {}),
            eval_every=eval_every,
            eval_episodes=eval_episodes,
            checkpoint_every=checkpoint_every,
            tags=list(tags),
            preset=preset,
            variant=variant,
        )
        for seed in seeds
    ]


def train(
    algo: str,
    env: str,
    *,
    steps: int = 100_000,
    seed: int = 0,
    ledger: Any = None,
    progress: Any = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """Train one run and return its ledger row (see :func:`make_specs` for the keyword arguments)."""
    from marlbench.runner import run

    ledger = ledger if ledger is not None else open_ledger(create=True)
    (spec,) = make_specs(algo, env, seeds=[seed], steps=steps, **kwargs)
    return run(spec, ledger, progress)


def train_many(
    specs: list[RunSpec], *, jobs: int = 1, ledger: Any = None, progress: Any = None
) -> list[dict]:
    """Train several runs, ``jobs`` at a time in separate processes."""
    from marlbench.runner import run_many

    ledger = ledger if ledger is not None else open_ledger(create=True)
    return run_many(specs, ledger, jobs=jobs, progress=progress)
