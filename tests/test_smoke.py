"""Registry x environment: every algorithm on every registered env it supports, a few hundred steps.

Each pair trains through :func:`marlbench.api.train` into a fresh ledger and must finish with the
budget's step count, per-agent training episodes and one evaluation round. Pairs that cannot work
are skipped with the reason: the algorithm's refusal (its ``check_env`` or its constructor), a
missing optional package, or the cost of an env that the suite runs with one algorithm only.
"""

from __future__ import annotations

import importlib.util

import pytest
from conftest import TINY

from marlbench import api
from marlbench.algos import all_algos
from marlbench.config import RunSpec, resolve
from marlbench.envs import all_specs
from marlbench.errors import ConfigError

STEPS = 200
"""The budget of every pair; the largest stride of a TINY learner (TRPO's 64-step rollout) lies above it."""

STRIDE = 64

ENV_OPTIONS: dict[str, dict[str, object]] = {
    "pursuit": {"max_cycles": 50, "n_pursuers": 3, "n_evaders": 5, "x_size": 8, "y_size": 8},
}
"""Smaller envs where the default one is long or large (pursuit: 500 steps, 8 pursuers on 16 x 16)."""

ONE_ALGO: dict[str, str] = {"atari-pong": "a2c", "smarts-intersection": "ppo"}
"""Envs that take seconds per run: the suite trains one algorithm on them (their own tests do more)."""

NOT_RUN: dict[str, str] = {
    "atari-breakout": "Atari runs one game in the smoke test (atari-pong); test_atari covers both",
}

NEEDS: dict[str, str] = {"atari": "ale_py", "smarts": "smarts"}
"""Optional package each env family needs."""


FAST_ENV: dict[str, str] = {name: "pursuit" for name in ("lbs", "idqn", "idqn-shared-buffer", "ps-dqn")}
"""The one pair per algorithm in the fast suite (``-m "not slow"``): mpe-spread, or the image env
pursuit for the CNN learners. The rest of the matrix is marked slow (``make test`` runs it)."""


OWN_TEST: dict[str, str] = {"maddpg-distributed": "starts Ray: tests/test_distributed.py trains it"}
"""Algorithms the matrix leaves to their own test module."""

PARTICLE_SB3_ENV = "cn-v1"
"""The particle task SB3 baselines run on: the four tasks share one core and one SB3 wrapper path,
so the other three train the in-repo learners (which read each task's own state and roles) only."""


def pairs() -> list:
    out = []
    for env in all_specs():
        for algo in all_algos():
            if algo in OWN_TEST:
                continue
            fast = FAST_ENV.get(algo, "mpe-spread") == env
            marks = [] if fast else [pytest.mark.slow]
            out.append(pytest.param(algo, env, id=f"{algo}-{env}", marks=marks))
    return out


def runnable_options(algo: str, env: str) -> dict[str, object]:
    """The env options the pair runs with: the smoke defaults, with the action kind the algorithm needs.

    Skips the test, with the reason, when the algorithm refuses the env under every action kind.
    """
    options = dict(ENV_OPTIONS.get(env, {}))
    spec = all_specs()[env]
    tries = [options]
    if "continuous" in spec.options:
        tries += [{**options, "continuous": value} for value in (True, False)]
    if "action" in spec.options:
        tries += [{**options, "action": value} for value in spec.option_choices.get("action", ())]
    refusal = None
    for candidate in tries:
        try:
            resolve(RunSpec(algo, env, steps=STEPS, env_options=candidate, hyperparams=TINY[algo]))
            return candidate
        except ConfigError as err:
            if err.key != "env":
                raise
            refusal = refusal or err
    pytest.skip(f"{algo} refuses {env}: {refusal}")


@pytest.mark.parametrize(("algo", "env"), pairs())
def test_algorithm_on_environment(algo: str, env: str, ledger) -> None:
    spec = all_specs()[env]
    if env in NOT_RUN:
        pytest.skip(NOT_RUN[env])
    if env in ONE_ALGO and ONE_ALGO[env] != algo:
        pytest.skip(f"{env} is slow to run: the smoke test trains {ONE_ALGO[env]} on it only")
    if (
        spec.family == "particles"
        and env != PARTICLE_SB3_ENV
        and "shared weights" in all_algos()[algo].source
    ):
        pytest.skip(
            f"SB3 baselines share one wrapper path on the particle tasks: {PARTICLE_SB3_ENV} runs {algo}"
        )
    needed = NEEDS.get(spec.family)
    if needed and importlib.util.find_spec(needed) is None:
        pytest.skip(f"{env} needs the optional package {needed}")
    options = runnable_options(algo, env)
    try:
        row = api.train(
            algo,
            env=env,
            steps=STEPS,
            seed=0,
            ledger=ledger,
            env_options=options,
            hyperparams=TINY[algo],
            eval_every=STEPS,
            eval_episodes=1,
        )
    except ConfigError as err:  # a constructor's refusal (e.g. a CNN learner on vector observations)
        assert len(ledger.runs()) == 0  # ... leaves the ledger untouched
        pytest.skip(f"{algo} refuses {env}: {err}")

    assert row["status"] == "finished", row["error"]
    resolved_options = spec.resolve_options(options)
    n_agents = spec.agents_for(resolved_options)
    assert row["total_steps"] == STEPS and STEPS <= row["steps"] <= STEPS + STRIDE
    assert row["n_agents"] == n_agents and row["agent_steps"] == row["steps"] * n_agents
    evals = ledger.last_eval(row["run_id"])
    assert len(evals) == n_agents and (evals["step"] == row["steps"]).all()
    if spec.length_for(resolved_options) <= STEPS // 2:
        episodes = ledger.episodes([row["run_id"]])
        assert len(episodes) and episodes.groupby("episode").size().eq(n_agents).all()
