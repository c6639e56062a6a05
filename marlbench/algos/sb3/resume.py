"""Resuming an SB3 run inside a collection round without training past its budget.

SB3 collects whole rounds: an on-policy rollout of ``n_steps``, or ``train_freq`` steps off-policy,
per env copy. A checkpoint (a ``--checkpoint-every`` step, Ctrl-C) can fall inside a round, whose
partial rollout is not saved. Collecting whole rounds from there would train past the budget
(``--steps`` is a whole number of rounds) and shift every later update, so a resumed run first
collects just the rest of that round, with the weights it had (they change only at a round's end),
updates as the round's end would, and goes on at the uninterrupted run's boundaries.
"""

from __future__ import annotations

import copy
from typing import Any


def _on_policy(model: Any) -> bool:
    """A rollout-buffer learner (off-policy ones have a replay buffer, and ``n_steps`` there means
    n-step returns)."""
    return hasattr(model, "rollout_buffer")


def round_per_copy(model: Any) -> int | None:
    """Env steps per copy in one collection round (None when rounds are counted in episodes)."""
    if _on_policy(model):
        return int(model.n_steps)
    freq = getattr(model, "train_freq", None)
    unit = getattr(getattr(freq, "unit", None), "value", None)
    return int(freq.frequency) if unit == "step" else None


def rest_of_round(model: Any, remaining: int) -> int:
    """Agent-steps left of the round ``model.num_timesteps`` stands in, at most ``remaining``
    (0 on a boundary)."""
    per_copy = round_per_copy(model)
    if per_copy is None or remaining <= 0:
        return 0
    rollout = per_copy * model.n_envs
    done = int(model.num_timesteps) % rollout
    return 0 if done == 0 else min(rollout - done, remaining)


def learn_short_round(model: Any, agent_steps: int, callback: Any) -> None:
    """One round of ``agent_steps`` (a multiple of the env copies), then SB3's update after it."""
    per_copy = agent_steps // model.n_envs
    if _on_policy(model):
        full_steps, full_buffer = model.n_steps, model.rollout_buffer
        short = copy.copy(full_buffer)  # reset() gives the copy arrays of its own size
        short.buffer_size = per_copy
        short.reset()
        model.n_steps, model.rollout_buffer = per_copy, short
        try:
            model.learn(total_timesteps=agent_steps, callback=callback, reset_num_timesteps=False)
        finally:
            model.n_steps, model.rollout_buffer = full_steps, full_buffer
        return
    full_freq = model.train_freq
    model.train_freq = full_freq._replace(frequency=per_copy)
    try:
        model.learn(total_timesteps=agent_steps, callback=callback, reset_num_timesteps=False)
    finally:
        model.train_freq = full_freq
