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

A budget at or below a learner's warm-up (:func:`warmup`) trains nothing: :func:`warmup_warning`
says so before the run starts. ``preset run --scale`` scales the hyperparameters counted in env
steps (:func:`step_valued`, :func:`scale_hyperparams`) with the budget.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Collection
from dataclasses import dataclass
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


# ---------------------------------------------------------------------------------------------
# warm-up: budgets too short to learn
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Warmup:
    """What keeps a learner from its first gradient update: a hyperparameter and its cost in env steps."""

    name: str
    """The hyperparameter (``learning_starts`` for every learner that has a warm-up)."""
    value: int
    """Its value, in its own units."""
    env_steps: int
    """Env steps collected before the first gradient update can happen."""
    per_env_step: int = 1
    """The hyperparameter's units per env step: 1, or the agents for SB3's shared-weights learners
    (one SB3 timestep per agent of the concatenated vector env)."""


def warmup(algo: str, config: Any, n_agents: int = 1) -> Warmup | None:
    """The warm-up of ``algo`` under ``config`` (None when it learns from its first rollout).

    * MADDPG, CTEDD: the first learning phase is the first ``learn_every`` boundary at which the
      buffer holds ``min(learning_starts, buffer_size)`` transitions (one per env step);
    * the DQN family: ``learning_starts`` env steps;
    * SB3 off-policy: SB3 trains once ``num_timesteps > learning_starts``, ``n_agents`` timesteps
      per env step on a multi-agent env;
    * SB3 on-policy and the random policy: no warm-up.
    """
    starts = getattr(config, "learning_starts", None)
    if not isinstance(starts, int) or isinstance(starts, bool):
        return None
    entry = _sb3_entry(algo)
    if entry is not None:
        if entry.on_policy:
            return None
        per = max(1, int(n_agents))
        return Warmup("learning_starts", starts, starts // per, per)
    learn_every = getattr(config, "learn_every", None)
    if isinstance(learn_every, int) and learn_every > 0:
        buffer = int(getattr(config, "buffer_size", starts))
        first = max(1, min(starts, buffer))
        return Warmup("learning_starts", starts, math.ceil(first / learn_every) * learn_every)
    return Warmup("learning_starts", starts, starts)


def warmup_warning(algo: str, config: Any, steps: int, n_agents: int = 1) -> str:
    """A warning when a budget of ``steps`` env steps is at or below ``algo``'s warm-up ('' otherwise).

    Such a run makes no gradient update (or one learning phase at its very end): its score is an
    untrained policy's. The warning names the hyperparameter and a value that leaves nine tenths of
    the budget to learning.
    """
    found = warmup(algo, config, n_agents)
    if found is None or steps > found.env_steps:
        return ""
    suggest = max(1, steps // 10) * found.per_env_step
    return (
        f"{algo}: a budget of {steps:,} env steps is at or below its warm-up ({found.name}="
        f"{found.value:,}: no gradient update before {found.env_steps:,} env steps), so the run would "
        f"not learn; use {found.name}={suggest} (--set {found.name}={suggest}) or more than "
        f"{found.env_steps:,} steps"
    )


# ---------------------------------------------------------------------------------------------
# scaling a budget (preset run --scale)
# ---------------------------------------------------------------------------------------------
def step_valued(config_cls: type) -> tuple[str, ...]:
    """The hyperparameters of ``config_cls`` counted in env steps (declared with ``hp(..., steps=True)``).

    ``preset run --scale`` multiplies them with the budget, so a shorter run keeps its warm-up,
    target-update period, test and distillation schedule and annealing horizon in proportion.
    """
    return tuple(f.name for f in dataclasses.fields(config_cls) if f.metadata.get("steps"))


def scale_hyperparams(
    algo: str, env: str, hyperparams: dict[str, Any], scale: float
) -> tuple[dict[str, Any], list[tuple[str, Any, Any]]]:
    """``hyperparams`` with every step-valued hyperparameter of ``algo`` multiplied by ``scale``.

    The value scaled is the one the run would use: the given one, else the environment's default
    (Atari), else the algorithm's. Each is rounded and kept at least 1 (0, meaning "never", stays
    0). Returns the new overrides and ``(name, before, after)`` of each change. An unknown
    algorithm is returned unchanged (resolving the spec reports it).
    """
    from marlbench.algos import all_algos

    spec = all_algos().get(algo)
    if spec is None or scale == 1:
        return dict(hyperparams), []
    config_cls = spec.config_cls()
    defaults = config_cls()
    env_given: dict[str, Any] = {}
    if ":" not in env:  # an import-path env is never imported here (and is no Atari game)
        from marlbench.algos.sb3.config import SB3_ALGOS, env_defaults
        from marlbench.envs import get_spec
        from marlbench.errors import ConfigError

        if algo in SB3_ALGOS:
            try:
                env_given = env_defaults(algo, get_spec(env))
            except ConfigError:  # an unknown env: resolving the spec reports it
                env_given = {}
    out = dict(hyperparams)
    changes: list[tuple[str, Any, Any]] = []
    for name in step_valued(config_cls):
        value = out.get(name, env_given.get(name, getattr(defaults, name)))
        if isinstance(value, str):
            try:
                value = int(value)
            except ValueError:
                continue  # resolving the spec reports the malformed value
        if not isinstance(value, int) or isinstance(value, bool) or value == 0:
            continue
        new = max(1, round(value * scale))
        if new != value:
            out[name] = new
            changes.append((name, value, new))
    return out, changes
