"""The DQN base agent of paper 004 (Table 1) and its epsilon schedule.

Table 1: CNN [32, 64, 64], kernel 2, stride 1, learning rate 0.00016, mini-batch 32, buffer 120,000
per agent, epsilon 0.1 -> 0.001, target update every 1,000 steps. The choices the paper leaves open
are documented on their fields.
"""

from __future__ import annotations

from dataclasses import dataclass

from marlbench.algos import hparams
from marlbench.algos.base import hp
from marlbench.errors import ConfigError


@dataclass
class DQNConfig:
    """The DQN base agent of paper 004 (Table 1), shared by LBS, IDQN, IDQN-shared-buffer and PS-DQN."""

    learning_rate: float = hp(0.00016, "Adam step size (Table 1)", low=0.0, low_open=True)
    batch_size: int = hparams.batch_size(32, "B of each SGD step, Table 1")
    buffer_size: int = hparams.buffer_size(
        120_000, "per agent, Table 1; a shared buffer is the union of the agents' buffers"
    )
    exploration_initial_eps: float = hp(0.1, "epsilon at the start of training (Table 1)", low=0.0, high=1.0)
    exploration_final_eps: float = hp(0.001, "epsilon after the decay (Table 1)", low=0.0, high=1.0)
    exploration_fraction: float = hp(
        0.1,
        "fraction of the run over which epsilon decays linearly (not in the paper; SB3's default: "
        "80k of 800k steps)",
        low=0.0,
        high=1.0,
    )
    target_update_interval: int = hp(
        1_000, "env steps between copies of the online networks into the targets (Table 1)", low=1, steps=True
    )
    cnn_channels: str = hp("32,64,64", "output channels of the conv layers, comma separated (Table 1)")
    kernel_size: int = hp(2, "square kernel of every conv layer (Table 1)", low=1)
    stride: int = hp(1, "stride of every conv layer (Table 1)", low=1)
    head_hidden: int = hp(
        0, "width of a ReLU dense layer between the convs and the Q head; 0: none (Table 1 lists none)", low=0
    )
    gamma: float = hparams.gamma(0.99, "not in Table 1; the usual DQN value")
    # not hparams.learning_starts: the DQN family counts env steps here, not stored transitions
    learning_starts: int = hp(
        1_000, "env steps collected before the first SGD step (not in Table 1)", low=0, steps=True
    )
    train_freq: int = hp(
        4, "env steps per learning step, as in DQN (Mnih et al. 2015; not in Table 1)", low=1
    )
    gradient_steps: int = hp(1, "SGD steps of every learner at each learning step", low=1)
    loss: str = hp(
        "mse",
        "per-sample loss: mse (0.5 delta^2, the L2 loss of section 3) or huber",
        choices=("mse", "huber"),
    )
    optimizer: str = hp("adam", "optimizer of every network (not in the paper)", choices=("adam", "sgd"))
    # not hparams.grad_clip: here 0 is allowed and disables the clip
    max_grad_norm: float = hp(10.0, "per-network gradient norm clip; 0 disables (SB3's DQN default)", low=0.0)
    num_envs: int = hparams.num_envs(4)
    obs_storage: str = hp(
        "uint8",
        "replay dtype of observations: uint8 (exact for pursuit's integer counts) or float32",
        choices=("uint8", "float32"),
    )
    device: str = hp(
        "auto", "torch device: auto (cuda when available), cpu or cuda", choices=("auto", "cpu", "cuda")
    )

    def channels(self) -> tuple[int, ...]:
        """``cnn_channels`` parsed to integers."""
        try:
            values = tuple(int(part) for part in self.cnn_channels.split(",") if part.strip())
        except ValueError:
            values = ()
        if not values or any(v < 1 for v in values):
            raise ConfigError(
                f"cnn_channels={self.cnn_channels!r} is not a list of positive integers",
                "write it like --set cnn_channels=32,64,64",
            )
        return values

    def validate(self) -> None:
        self.channels()
        if self.exploration_final_eps > self.exploration_initial_eps:
            raise ConfigError(
                "exploration_final_eps is larger than exploration_initial_eps",
                "epsilon decays: give a final value <= the initial one",
            )


def linear_epsilon(step: int, total: int, config: DQNConfig) -> float:
    """Epsilon after ``step`` of ``total`` env steps: linear from initial to final over a fraction."""
    span = config.exploration_fraction * total
    if span <= 0 or step >= span:
        return config.exploration_final_eps
    frac = step / span
    return config.exploration_initial_eps + frac * (
        config.exploration_final_eps - config.exploration_initial_eps
    )
