"""Measured training speeds (env steps per second) and the hours a preset tier is projected to take.

How the table was measured: on 2026-12-02, 02:48-03:40 UTC, on this project's 2-core CPU machine
while several other jobs shared the two cores (load average 9-15): the figures are what a very busy
machine does, several times below a quiet one (ENVIRONMENT.md: SMARTS alone ~50 env steps/s, here
~6), so a quiet night runs faster than projected. Each is one short real run of ``marlbench train
ALGO --env ENV --steps N --eval-every N --eval-episodes 2`` with the settings in ``measured``; the
rate is the run's env steps over its ``wall_time_s`` in the ledger (start-up, learning and one small
evaluation included, not a preset's evaluation schedule). Off-policy learners were measured with
``learning_starts`` of 500-1,000 steps so most of the run learns, the MADDPG family with one update
per 25 steps; a tier with sparser updates runs faster.

:func:`projected_seconds` prefers the ledger's own finished runs (same preset variant, else same
algorithm and environment) to this table.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class Rate:
    """``steps_per_s`` of ``algo`` on any of ``envs`` when the run's hyperparameters (or env options)
    include ``when``."""

    algo: str
    envs: tuple[str, ...]
    steps_per_s: float
    when: Mapping[str, Any] = field(default_factory=dict)
    measured: str = ""


MPE = ("mpe-spread",)
PARTICLES = ("cn-v1", "cn-v2", "push-forward", "predator-prey")
ATARI = ("atari-pong", "atari-breakout")
SMARTS = ("smarts-intersection",)

RATES: tuple[Rate, ...] = (
    Rate("ppo", MPE, 374.0, measured="24,576 steps in 65.8 s, net_arch 64,64, SB3 defaults (n_envs 4)"),
    Rate(
        "maddpg",
        MPE,
        524.0,
        measured="8,000 steps in 15.3 s, batch 1024, learning_starts 1000, learn_every 25",
    ),
    Rate(
        "ctedd",
        PARTICLES,
        1130.0,
        measured="cn-v1 1391/s, predator-prey 1129/s; learn_every 25, test_every 0",
    ),
    Rate(
        "maddpg-distributed",
        MPE,
        144.0,
        measured="6,000 steps in 41.7 s incl. Ray start, 1 collector, 2 learners",
    ),
    Rate("maddpg", PARTICLES, 917.0, measured="cn-v1, comm_dim 1, use_state, batch 1024, learn_every 25"),
    Rate("idqn", ("pursuit",), 50.8, measured="2,500 steps in 49.2 s, learning_starts 500"),
    Rate("idqn-shared-buffer", ("pursuit",), 50.8, measured="taken as idqn's (same networks and updates)"),
    Rate("lbs", ("pursuit",), 28.7, measured="2,500 steps in 87.0 s, learning_starts 500, p1 uniform, p2 td"),
    Rate("ps-dqn", ("pursuit",), 95.7, measured="2,500 steps in 26.1 s, learning_starts 500"),
    Rate("a2c", ATARI, 66.5, {"policy": "cnn-lstm"}, "Model 3: 8,448 steps in 127 s, n_envs 1, n_steps 768"),
    Rate("a2c", ATARI, 100.0, {"policy": "cnn"}, "Model 2: taken as 1.5x Model 3 (not measured)"),
    Rate("a2c", ATARI, 358.0, measured="20,000 steps in 55.8 s, RL Zoo settings (n_envs 16)"),
    Rate("ppo", ATARI, 52.5, measured="20,480 steps in 390 s, RL Zoo settings (n_envs 8)"),
    Rate("dqn", ATARI, 10.6, measured="3,837 steps in 362 s (stopped at 400 s), learning_starts 1000"),
    Rate("qrdqn", ATARI, 10.6, measured="taken as dqn's (not measured)"),
    Rate(
        "maddpg",
        SMARTS,
        4.7,
        {"bev": True},
        "estimated: the vector-only 5.9/s plus one image-critic update per 100 steps (4.2 s at batch "
        "1024, benchmarks/image_bench.py)",
    ),
    Rate(
        "maddpg",
        SMARTS,
        5.9,
        measured="1,500 steps in 253 s incl. SUMO start, learning_starts 500, batch 1024",
    ),
    Rate("ppo", SMARTS, 6.2, measured="936 of 2,048 steps in 151 s incl. SUMO start (n_envs 1)"),
)
"""The measured table (see the module docstring); the first matching entry with most ``when`` wins."""


def table_rate(algo: str, env: str, hyperparams: Mapping[str, Any], rates: Sequence[Rate] = RATES) -> float:
    """Env steps/s of the table for one run, NaN when nothing was measured for ``algo`` on ``env``."""
    matching = [
        r
        for r in rates
        if r.algo == algo and env in r.envs and all(hyperparams.get(k) == v for k, v in r.when.items())
    ]
    if not matching:
        return float("nan")
    return max(matching, key=lambda r: len(r.when)).steps_per_s


MIN_STEPS = 5_000
"""Finished runs shorter than this do not give the ledger's rates."""


def ledger_rates(runs: pd.DataFrame) -> dict[tuple[str, ...], float]:
    """Median env steps/s of the ledger's finished runs, by (preset, variant) and by (algo, env)."""
    if runs.empty:
        return {}
    # runs of a few thousand steps are mostly start-up: they would make every projection long
    done = runs[(runs["status"] == "finished") & (runs["wall_time_s"] > 0) & (runs["steps"] >= MIN_STEPS)]
    rate = done["steps"].astype(float) / done["wall_time_s"].astype(float)
    out: dict[tuple[str, ...], float] = {}
    for keys in (["preset", "variant"], ["algo", "env"]):
        for key, values in rate.groupby([done[k] for k in keys]):
            out[tuple(key)] = float(values.median())
    return out


def projected_seconds(specs: Sequence[Any], runs: pd.DataFrame | None = None) -> tuple[float, list[str]]:
    """Seconds to train ``specs`` one after another, and the (algo, env) pairs without any rate.

    A spec's rate is the ledger's for its preset variant, else the ledger's for its algorithm and
    environment, else :data:`RATES`.
    """
    known = ledger_rates(runs) if runs is not None else {}
    total, unknown = 0.0, []
    for spec in specs:
        if spec.algo == "random":  # a reference run: a few evaluation episodes, no training
            continue
        rate = known.get((spec.preset, spec.variant)) or known.get((spec.algo, spec.env))
        if not rate:
            # ``when`` may name env options too (the SMARTS image)
            rate = table_rate(spec.algo, spec.env, {**spec.env_options, **spec.hyperparams})
        if not math.isfinite(rate):
            unknown.append(f"{spec.algo} on {spec.env}")
            continue
        total += spec.steps / rate
    return total, sorted(set(unknown))
