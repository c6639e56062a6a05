"""How a training budget is counted: the unit each learner's loop advances in, the steps a budget
really trains, small budgets fitted by SB3's on-policy rollouts, and the default evaluation schedule.

Every learner stops at the first whole unit at or past ``--steps`` (a unit is what one pass of
its loop collects), so a run overshoots its budget by less than one unit:

* SB3 on-policy (PPO, A2C, TRPO, RecurrentPPO): one rollout, ``n_steps x n_envs`` env steps;
* SB3 off-policy: ``train_freq x n_envs`` env steps (``train_freq`` counted in steps);
* in-repo learners (MADDPG, CTEDD, the DQN family): ``num_envs`` env steps (one step of every copy).

An SB3 on-policy rollout longer than the whole budget (PPO's 2,048 x 4 = 8,192 env steps for
``--steps 1000``) would train several times the budget, so :func:`fit_rollout` shortens
``n_steps`` to the smallest rollout that covers the budget, unless the user set ``n_steps``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Collection
from typing import Any

EVAL_SHARE = 0.1
"""The default evaluation schedule spends at most this share of a run's env steps on evaluation."""
MAX_DEFAULT_EVALS = 10
"""Evaluations of the default schedule when the budget affords them (the last one at the end)."""


def _sb3_entry(algo: str) -> Any:
    from marlbench.algos.sb3.config import SB3_ALGOS

    return SB3_ALGOS.get(algo)


def steps_per_round(algo: str, config: Any) -> int:
    """Env steps one pass of ``algo``'s training loop collects (see the module docstring)."""
    entry = _sb3_entry(algo)
    if entry is None:
        return max(1, int(getattr(config, "num_envs", 1)))
    n_envs = int(config.n_envs)
    if entry.on_policy:
        return int(config.n_steps) * n_envs
    freq = getattr(config, "train_freq", 1)
    return (freq if isinstance(freq, int) else 1) * n_envs


def planned_steps(steps: int, unit: int) -> int:
    """The env steps a budget of ``steps`` trains: whole units, the first at or past ``steps``."""
    return math.ceil(steps / unit) * unit


def fit_rollout(algo: str, config: Any, steps: int, given: Collection[str]) -> tuple[Any, str]:
    """``config`` with an SB3 on-policy rollout no longer than needed to cover ``steps``.

    Returns the (possibly changed) config and a note saying what changed ('' when nothing did).
    ``given`` holds the hyperparameter names the user set: a user's ``n_steps`` is never changed.
    """
    entry = _sb3_entry(algo)
    if entry is None or not entry.on_policy or "n_steps" in given:
        return config, ""
    n_envs = int(config.n_envs)
    if int(config.n_steps) * n_envs <= steps:
        return config, ""
    fitted = max(1, math.ceil(steps / n_envs))
    note = (
        f"{algo}: one rollout of n_steps={config.n_steps} x n_envs={n_envs} = "
        f"{config.n_steps * n_envs:,} env steps is more than --steps {steps:,}, so this run uses "
        f"n_steps={fitted} (set n_steps yourself with --set n_steps=N)"
    )
    return dataclasses.replace(config, n_steps=fitted), note


def default_eval_every(steps: int, eval_episodes: int, episode_length: int) -> int:
    """Env steps between evaluations when the user gives none.

    Up to :data:`MAX_DEFAULT_EVALS` evaluations, as many as fit in :data:`EVAL_SHARE` of the
    budget (``eval_episodes x episode_length`` env steps each, the episode length being the env's
    cap, so the estimate errs on the cheap side); at least one, at the end of the run.
    """
    cost = max(1, eval_episodes * episode_length)
    count = min(MAX_DEFAULT_EVALS, max(1, int(EVAL_SHARE * steps // cost)))
    return max(1, steps // count)
