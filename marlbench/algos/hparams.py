"""Hyperparameter fields shared by the in-repo off-policy learners (MADDPG, CTEDD, the DQN family).

Each function returns one :func:`~marlbench.algos.base.hp` field: its range and help text are
declared here once, and each config composes the fields it has, with its paper's default and a
word on where that default comes from::

    @dataclass
    class MADDPGConfig:
        gamma: float = hparams.gamma(0.95, "paper 001 / MADDPG code")
        buffer_size: int = hparams.buffer_size(1_000_000, "MADDPG code")
"""

from __future__ import annotations

from typing import Any

from marlbench.algos.base import hp


def _why(source: str) -> str:
    return f" ({source})" if source else ""


def gamma(default: float, source: str = "") -> Any:
    """Discount factor."""
    return hp(default, f"discount factor{_why(source)}", low=0.0, high=1.0)


def tau(default: float, source: str = "") -> Any:
    """Polyak rate of the soft target update, ``theta' <- tau theta + (1 - tau) theta'``."""
    return hp(default, f"soft target update rate{_why(source)}", low=0.0, high=1.0, low_open=True)


def batch_size(default: int, source: str = "") -> Any:
    return hp(default, f"mini-batch size{_why(source)}", low=1)


def buffer_size(default: int, source: str = "") -> Any:
    return hp(default, f"replay capacity in transitions{_why(source)}", low=1)


def learning_starts(default: int, source: str = "") -> Any:
    return hp(default, f"stored transitions before learning starts{_why(source)}", low=0, steps=True)


def grad_clip(default: float, source: str = "") -> Any:
    """Clip of each network's gradient norm (MADDPG: one norm per agent's member network)."""
    return hp(default, f"per-network gradient norm clip{_why(source)}", low=0.0, low_open=True)


def num_envs(default: int, source: str = "") -> Any:
    return hp(
        default, f"environment copies stepped together (each counts as an env step){_why(source)}", low=1
    )


def batched_networks(default: bool = True) -> Any:
    return hp(default, "one batched network for all agents (false: a Python loop, for comparison)")


def save_replay(default: bool = False) -> Any:
    return hp(default, "checkpoints include the replay buffer (large) for exact resumes")


def torch_threads(default: int = 1) -> Any:
    return hp(default, "torch threads while learning (0: torch's default)", low=0)
