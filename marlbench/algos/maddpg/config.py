"""MADDPG hyperparameters (paper 000, sec. III.C; message channels of paper 001).

The defaults are paper 000's (lr 1e-4 / 1e-3) and the MADDPG code's (warm-up 25,600 transitions,
one update per 100 steps). ``train maddpg --set comm_dim=1`` is therefore *not* paper 001's
MADDPG-1 baseline: that one lives in the presets ``ctedd-testing`` / ``ctedd-learning`` (sec. 5.2:
lr 0.01 for actor and critic, batch 1024, gamma 0.95, ``use_state``; warm-up 1024 episodes =
``learning_starts`` 1024 x episode length, i.e. 25,600 on cn-v1 / cn-v2 and 51,200 on push-forward /
predator-prey; env option ``obs=relative``). Run it with ``marlbench preset run ctedd-testing``.
"""

from __future__ import annotations

from dataclasses import dataclass

from marlbench.algos import hparams
from marlbench.algos.base import hp
from marlbench.errors import ConfigError


@dataclass
class MADDPGConfig:
    """MADDPG hyperparameters; defaults from paper 000 (sec. III.C) unless noted (paper 001's baseline
    settings: the ``ctedd-testing`` preset, see the module docstring)."""

    hidden_size: int = hp(64, "units per hidden layer of actor and critic (paper 000: 64x64)", low=1)
    hidden_layers: int = hp(2, "hidden layers of actor and critic (paper 000: 64x64)", low=1)
    activation: str = hp("relu", "hidden activation (paper 000: ReLU)", choices=("relu", "tanh", "elu"))
    actor_lr: float = hp(
        1e-4,
        "actor Adam learning rate (paper 000; paper 001: 0.01, preset ctedd-testing)",
        low=0.0,
        low_open=True,
    )
    critic_lr: float = hp(
        1e-3,
        "critic Adam learning rate (paper 000; paper 001: 0.01, preset ctedd-testing)",
        low=0.0,
        low_open=True,
    )
    batch_size: int = hparams.batch_size(1024, "per agent; paper 000, 64 in its batch-size study")
    gamma: float = hparams.gamma(0.95, "paper 001 / MADDPG code")
    tau: float = hparams.tau(0.01, "MADDPG code")
    buffer_size: int = hparams.buffer_size(1_000_000, "MADDPG code")
    learning_starts: int = hparams.learning_starts(
        25_600, "MADDPG code: 1024 episodes x 25 steps; 51,200 on 50-step tasks"
    )
    learn_every: int = hp(100, "env steps between learning phases (MADDPG code)", low=1)
    updates_per_learn: int = hp(1, "gradient steps per agent in each learning phase (MADDPG code)", low=1)
    grad_clip: float = hparams.grad_clip(0.5, "per agent, MADDPG code")
    actor_reg: float = hp(1e-3, "weight of the squared policy pre-activation (MADDPG code)", low=0.0)
    per: bool = hp(False, "prioritized experience replay (paper 000, eq. 7)")
    per_mode: str = hp(
        "rank", "prioritization: rank-based (paper 000) or proportional", choices=("rank", "proportional")
    )
    per_alpha: float | None = hp(None, "priority exponent; empty: 0.7 rank, 0.6 proportional (Schaul et al.)")
    per_beta0: float | None = hp(
        None, "initial IS exponent, annealed to 1; empty: 0.5 rank, 0.4 proportional"
    )
    per_eps: float = hp(1e-6, "added to |TD error| so no priority is zero", low=0.0)
    per_resort_fraction: float = hp(0.02, "rank PER: re-sort when this share of priorities changed", low=0.0)
    minibatch_per_agent: bool = hp(True, "each agent samples its own mini-batch and priorities (Algorithm 1)")
    comm_dim: int = hp(
        0,
        "message size: 0 none, 1 MADDPG-1, 3 MADDPG-3 (paper 001; its baseline: preset ctedd-testing)",
        low=0,
    )
    comm_hidden: int = hp(64, "hidden units of each policy part with messages (paper 001, sec. 5.2)", low=1)
    noise_std: float = hp(0.1, "continuous actions: Gaussian exploration std, share of half-range", low=0.0)
    gumbel_temperature: float = hp(
        1.0, "discrete actions: Gumbel-softmax temperature", low=0.0, low_open=True
    )
    num_envs: int = hparams.num_envs(1)
    use_state: bool = hp(False, "critic sees the env's global state instead of all observations")
    batched_networks: bool = hparams.batched_networks()
    save_replay: bool = hparams.save_replay()
    torch_threads: int = hparams.torch_threads(1)

    def validate(self) -> None:
        for name in ("per_alpha", "per_beta0"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, int | float) and 0.0 <= value <= 1.0):
                raise ConfigError(f"{name}={value!r} is out of range", "it must lie in [0, 1]")
