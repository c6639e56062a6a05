"""Hyperparameters of distributed MADDPG (paper 000, sec. IV, Fig. 5): MADDPG's plus the topology."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from marlbench.algos.base import hp
from marlbench.algos.maddpg import MADDPGConfig
from marlbench.errors import ConfigError


@dataclass
class DistributedMADDPGConfig(MADDPGConfig):
    """MADDPG's hyperparameters (same defaults) and how the work is spread over Ray actors.

    Paper 000 used one collector node and two learner nodes; it gives no weight-sync interval, so
    ``sync_every`` defaults to ``learn_every`` (100): collectors change weights as often as the
    single-process learner does.
    """

    collectors: int = hp(
        1, "Ray actors collecting experience with their own env copies (paper 000: 1)", low=1
    )
    learners: int = hp(2, "Ray actors computing updates asynchronously (paper 000: 2)", low=1)
    sync_every: int = hp(100, "env steps a collector takes between pulls of the newest actor weights", low=1)
    ray: str = hp(
        "local", "local: a Ray started for the run; cluster: RAY_ADDRESS", choices=("local", "cluster")
    )
    paced: bool = hp(
        True, "keep the single-process updates per env step: learners never ahead, collectors wait for them"
    )
    stall_timeout_s: float = hp(120.0, "fail the run when no actor reports progress for this long", low=1.0)

    def validate(self) -> None:
        super().validate()
        if self.save_replay:
            raise ConfigError(
                "distributed MADDPG checkpoints do not include the replay actor's buffer",
                "drop --set save_replay=true (a resumed run refills its replay before learning)",
            )


def base_config(config: DistributedMADDPGConfig) -> MADDPGConfig:
    """The single-process part of ``config``: what the wrapped MADDPG networks and losses take."""
    return MADDPGConfig(**{f.name: getattr(config, f.name) for f in dataclasses.fields(MADDPGConfig)})
