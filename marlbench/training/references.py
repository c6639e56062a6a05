"""Reference runs: one evaluated ``random`` run per environment a sweep trains on.

A learning curve means little without the score of acting at random in the same environment.
:func:`reference_runs` plans, for every distinct environment and env options among a sweep's runs,
one run of :class:`~marlbench.algos.random_policy.RandomPolicy`: one episode of play and a final
evaluation of :data:`REFERENCE_EPISODES` episodes. Its spec has no preset, variant or tag-dependent
part, so its config hash is the same from every preset: the sweep's twin check runs it once per
ledger and skips it afterwards (computed once, cached as a normal run). ``compare`` shows it as the
``random`` row beside the runs of that environment and the learning-curve figures as a dashed line.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from marlbench.algos.random_policy import REFERENCE_ALGO, REFERENCE_TAG
from marlbench.config import Resolved, RunSpec, resolve

REFERENCE_EPISODES = 20
"""Evaluation episodes of a reference run (a fixed number, so every preset shares one run)."""


def reference_spec(env: str, env_options: dict, episode_length: int) -> RunSpec:
    """The ``random`` run of ``env`` with ``env_options`` (seed 0, one episode, a final evaluation)."""
    steps = max(1, int(episode_length))
    return RunSpec(
        algo=REFERENCE_ALGO,
        env=env,
        seed=0,
        steps=steps,
        env_options=dict(env_options),
        eval_every=steps,
        eval_episodes=REFERENCE_EPISODES,
        tags=[REFERENCE_TAG],
    )


def reference_runs(runs: Sequence[Resolved]) -> list[Resolved]:
    """One resolved reference run per distinct (env, resolved env options) of ``runs``.

    Runs that are themselves ``random`` runs need none. Returned in first-seen order.
    """
    seen: dict[str, Resolved] = {}
    for run in runs:
        if run.spec.algo == REFERENCE_ALGO:
            continue
        options = run.spec.resolved.get("env_options", run.spec.env_options)
        key = json.dumps([run.spec.env, options], sort_keys=True, default=str)
        if key in seen:
            continue
        length = run.env.spec.length_for(options)
        seen[key] = resolve(reference_spec(run.spec.env, options, length))
    return list(seen.values())
