"""Paper 002's actor-critic models as Stable-Baselines3 policies, with temperature and optimizer options.

Paper 002: Lamb et al., "Deep Reinforcement Learning with Actor-Critic" (``papers/002_...``).

* **Model 2** (``policy=cnn``), section 4: conv 8x8 stride 4 pad 2 (16 channels) -> 20x20 on the
  paper's 80x80 input, conv 4x4 stride 2 pad 1 (32 channels) -> 10x10, flattened to 3200 and fed to
  a linear actor head and a linear value head. :class:`PaperCNN` with ``model=2`` and SB3's
  ``ActorCriticPolicy`` with ``net_arch=[]`` (the heads read the features directly).
* **Model 3** (``policy=cnn-lstm``), section 4: the same two convs plus conv 4x4 stride 2 pad 0
  (32 channels) -> 4x4, flattened to 512, one LSTM of 256, linear actor and value heads.
  :class:`PaperCNN` with ``model=3`` and :class:`Model3Policy` (sb3-contrib's recurrent policy with
  one LSTM shared by both heads).
* "Between each convolutional layer batch normalization and ReLU are applied": we apply batch norm
  and the activation after every conv, the last one included, so the heads read rectified features
  (a linear head on a linear conv would make the last conv and the head one linear map).
  ``activation=silu`` swaps ReLU for SiLU (section 5, Elfwing et al. 2017).
* On 84x84 frames (the standard preprocessing) the first conv gives 21x21 instead of 20x20; the
  second is 10x10 and the third 4x4 either way, so the heads have the paper's sizes (3200, 512).

Batch norm uses batch statistics in SB3's training phase and running statistics while collecting
rollouts and evaluating (SB3 switches ``set_training_mode``). sb3-contrib pads recurrent sequences
with zero frames, which then also enter the batch statistics of Model 3's convs (the losses mask them).

**Temperature** (section 5): the action distribution is ``softmax(logits / T)`` with
``T = max(T_min, T_init - (T_init - T_min) * episode / C)``, annealed over finished games
(:class:`TemperatureSchedule`; C is 10,000 for Pong and 50,000 for Breakout in the paper). The
same tempered distribution is used for sampling, log-probabilities and the entropy bonus;
deterministic actions (argmax) do not depend on T.

**A2C with Model 3** (``a2c --set policy=cnn-lstm``) runs :class:`RecurrentA2C`: sb3-contrib's
RecurrentPPO rollout machinery (LSTM states stored per step, sequences cut at episode starts,
backpropagation through each rollout of ``n_steps``, i.e. truncated BPTT with chunk ``n_steps``)
with A2C's update in place of PPO's: one gradient step per rollout on the whole batch, loss
``-A log pi + vf_coef (R - V)^2 - ent_coef H``, exactly SB3's A2C loss.

**Optimizer** (section 4): "RMSProp with ... weight decay with a coefficient of 0.1";
:func:`optimizer_spec` builds the optimizer class and arguments for ``optimizer`` in
``rmsprop`` (torch RMSprop, alpha 0.99), ``rmsprop-tf`` (SB3's TF-style RMSprop, as the RL Zoo's A2C
Atari rows), ``adam``, or ``""`` (the algorithm's own default), each with ``weight_decay``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch as th
from gymnasium import spaces
from sb3_contrib import RecurrentPPO
from sb3_contrib.common.recurrent.policies import RecurrentActorCriticPolicy
from sb3_contrib.common.recurrent.type_aliases import RNNStates
from stable_baselines3.common.distributions import CategoricalDistribution, Distribution
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.common.utils import explained_variance
from torch import nn

from marlbench.errors import ConfigError

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "silu": nn.SiLU, "tanh": nn.Tanh}

# (out_channels, kernel, stride, padding) of the convs, section 4 of paper 002.
MODEL_CONVS: dict[int, tuple[tuple[int, int, int, int], ...]] = {
    2: ((16, 8, 4, 2), (32, 4, 2, 1)),
    3: ((16, 8, 4, 2), (32, 4, 2, 1), (32, 4, 2, 0)),
}


def conv_output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Spatial size after a convolution (floor division, as torch computes it)."""
    return (size + 2 * padding - kernel) // stride + 1


class PaperCNN(BaseFeaturesExtractor):
    """The convolutional trunk of paper 002's Model 2 (``model=2``) or Model 3 (``model=3``).

    Each conv is followed by batch norm and the activation; the output is flattened
    (3200 features for Model 2, 512 for Model 3 on 80x80 or 84x84 frames). Input: channels-first
    images, ``[batch, frames, H, W]`` already divided by 255 by SB3.
    """

    def __init__(self, observation_space: spaces.Box, model: int = 2, activation: str = "relu") -> None:
        if model not in MODEL_CONVS:
            raise ConfigError(f"paper 002 has no CNN model {model}", "use model 2 (cnn) or 3 (cnn-lstm)")
        if activation not in ACTIVATIONS:
            raise ConfigError(f"unknown activation '{activation}'", f"choose one of {', '.join(ACTIVATIONS)}")
        channels, height, width = (int(x) for x in observation_space.shape)
        layers: list[nn.Module] = []
        in_channels = channels
        for out_channels, kernel, stride, padding in MODEL_CONVS[model]:
            height = conv_output_size(height, kernel, stride, padding)
            width = conv_output_size(width, kernel, stride, padding)
            if height < 1 or width < 1:
                raise ConfigError(
                    f"observations of shape {tuple(observation_space.shape)} are too small for "
                    f"paper 002's Model {model}",
                    "use image observations of at least 36x36 (Atari frames are 84x84), or policy=auto",
                )
            layers += [
                nn.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=padding),
                nn.BatchNorm2d(out_channels),
                ACTIVATIONS[activation](),
            ]
            in_channels = out_channels
        super().__init__(observation_space, features_dim=in_channels * height * width)
        self.model = model
        self.convs = nn.Sequential(*layers)
        self.flatten = nn.Flatten()

    def conv_shapes(self, observations: th.Tensor) -> list[tuple[int, ...]]:
        """``(channels, H, W)`` after each conv block for a batch of ``observations`` (for checks)."""
        shapes = []
        x = observations
        for layer in self.convs:
            x = layer(x)
            if isinstance(layer, nn.Conv2d):
                shapes.append(tuple(x.shape[1:]))
        return shapes

    def forward(self, observations: th.Tensor) -> th.Tensor:
        return self.flatten(self.convs(observations))


# ---------------------------------------------------------------------------------------------
# temperature
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TemperatureSchedule:
    """Paper 002's linearly annealed softmax temperature (section 5).

    ``T(episode) = max(T_min, T_init - (T_init - T_min) * episode / C)``; ``C = episodes``.
    """

    initial: float
    minimum: float
    episodes: int

    @classmethod
    def parse(cls, text: str, episodes: int) -> TemperatureSchedule | None:
        """``""`` -> None (no temperature); ``"2.0"`` -> constant 2; ``"5.0:1.0"`` -> 5 annealed to 1."""
        text = str(text).strip()
        if not text:
            return None
        fix = "write temperature=T (constant) or temperature=T_init:T_min, e.g. 5.0:1.0"
        parts = text.split(":")
        if len(parts) > 2:
            raise ConfigError(f"temperature='{text}' does not parse", fix)
        try:
            values = [float(p) for p in parts]
        except ValueError:
            raise ConfigError(f"temperature='{text}' does not parse", fix) from None
        initial, minimum = values[0], values[-1]
        if not (initial > 0 and minimum > 0) or minimum > initial:
            raise ConfigError(f"temperature='{text}' is not allowed", "need T_init >= T_min > 0")
        if minimum != initial and episodes < 1:
            raise ConfigError(
                f"temperature='{text}' is annealed but temperature_episodes={episodes}",
                "set temperature_episodes=C, the number of episodes over which T falls to T_min",
            )
        return cls(initial, minimum, max(int(episodes), 1))

    def value(self, episode: int) -> float:
        delta = self.initial - self.minimum
        return max(self.minimum, self.initial - delta * episode / self.episodes)


class TemperatureMixin:
    """Scales a categorical policy's logits by ``1 / temperature`` before the softmax."""

    temperature: float = 1.0

    def _get_action_dist_from_latent(self, latent_pi: th.Tensor) -> Distribution:
        if isinstance(self.action_dist, CategoricalDistribution):  # type: ignore[attr-defined]
            logits = self.action_net(latent_pi) / self.temperature  # type: ignore[attr-defined]
            return self.action_dist.proba_distribution(action_logits=logits)  # type: ignore[attr-defined]
        return super()._get_action_dist_from_latent(latent_pi)  # type: ignore[misc]

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()  # type: ignore[misc]
        data["temperature"] = self.temperature
        return data


class TemperatureActorCriticPolicy(TemperatureMixin, ActorCriticPolicy):
    """SB3's ``ActorCriticPolicy`` with a softmax temperature (Model 2 with :class:`PaperCNN`)."""

    def __init__(self, *args: Any, temperature: float = 1.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.temperature = float(temperature)


class TemperatureRecurrentPolicy(TemperatureMixin, RecurrentActorCriticPolicy):
    """sb3-contrib's ``RecurrentActorCriticPolicy`` with a softmax temperature."""

    def __init__(self, *args: Any, temperature: float = 1.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.temperature = float(temperature)


class Model3Policy(TemperatureRecurrentPolicy):
    """Paper 002's Model 3 head: one LSTM (256) read by both the actor and the value head.

    sb3-contrib's ``shared_lstm=True`` detaches the critic from the LSTM (only the actor's gradient
    trains it); Model 3 is one network trained by the whole actor-critic loss, so here the value
    loss reaches the LSTM and the CNN too. Use with ``features_extractor_class=PaperCNN`` and
    ``features_extractor_kwargs={"model": 3}`` and ``net_arch=[]``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["shared_lstm"] = True
        kwargs["enable_critic_lstm"] = False
        kwargs.setdefault("lstm_hidden_size", 256)
        super().__init__(*args, **kwargs)

    def _latent(
        self, obs: th.Tensor, lstm_states: tuple[th.Tensor, th.Tensor], episode_starts: th.Tensor
    ) -> tuple[th.Tensor, tuple[th.Tensor, th.Tensor]]:
        features = self.extract_features(obs)
        return self._process_sequence(features, lstm_states, episode_starts, self.lstm_actor)

    def forward(
        self, obs: th.Tensor, lstm_states: RNNStates, episode_starts: th.Tensor, deterministic: bool = False
    ) -> tuple[th.Tensor, th.Tensor, th.Tensor, RNNStates]:
        latent, states = self._latent(obs, lstm_states.pi, episode_starts)
        values = self.value_net(self.mlp_extractor.forward_critic(latent))
        distribution = self._get_action_dist_from_latent(self.mlp_extractor.forward_actor(latent))
        actions = distribution.get_actions(deterministic=deterministic)
        log_prob = distribution.log_prob(actions)
        actions = actions.reshape((-1, *self.action_space.shape))  # type: ignore[misc]
        return actions, values, log_prob, RNNStates(states, states)

    def predict_values(
        self, obs: th.Tensor, lstm_states: tuple[th.Tensor, th.Tensor], episode_starts: th.Tensor
    ) -> th.Tensor:
        latent, _ = self._latent(obs, lstm_states, episode_starts)
        return self.value_net(self.mlp_extractor.forward_critic(latent))

    def evaluate_actions(
        self, obs: th.Tensor, actions: th.Tensor, lstm_states: RNNStates, episode_starts: th.Tensor
    ) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
        latent, _ = self._latent(obs, lstm_states.pi, episode_starts)
        values = self.value_net(self.mlp_extractor.forward_critic(latent))
        distribution = self._get_action_dist_from_latent(self.mlp_extractor.forward_actor(latent))
        return values, distribution.log_prob(actions), distribution.entropy()


# ---------------------------------------------------------------------------------------------
# A2C with a recurrent policy
# ---------------------------------------------------------------------------------------------
class RecurrentA2C(RecurrentPPO):
    """A2C's update on sb3-contrib's recurrent rollouts (paper 002's Model 3 trained actor-critic style).

    Construct it like RecurrentPPO; ``batch_size`` and ``n_epochs`` are ignored (one step per
    rollout on the whole batch) and there is no ratio or clipping. Padded sequence entries are
    masked out of every mean.
    """

    def train(self) -> None:
        self.policy.set_training_mode(True)
        self._update_learning_rate(self.policy.optimizer)
        for data in self.rollout_buffer.get(batch_size=None):  # one batch: the whole rollout
            actions = data.actions
            if isinstance(self.action_space, spaces.Discrete):
                actions = actions.long().flatten()
            mask = data.mask > 1e-8
            values, log_prob, entropy = self.policy.evaluate_actions(
                data.observations, actions, data.lstm_states, data.episode_starts
            )
            values = values.flatten()
            advantages = data.advantages
            if self.normalize_advantage:
                advantages = (advantages - advantages[mask].mean()) / (advantages[mask].std() + 1e-8)
            policy_loss = -(advantages * log_prob)[mask].mean()
            value_loss = ((data.returns - values) ** 2)[mask].mean()
            entropy_loss = -(entropy[mask].mean() if entropy is not None else -log_prob[mask].mean())
            loss = policy_loss + self.ent_coef * entropy_loss + self.vf_coef * value_loss
            self.policy.optimizer.zero_grad()
            loss.backward()
            th.nn.utils.clip_grad_norm_(self.policy.parameters(), self.max_grad_norm)
            self.policy.optimizer.step()
        self._n_updates += 1
        buffer_values = self.rollout_buffer.values.flatten()
        buffer_returns = self.rollout_buffer.returns.flatten()
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/explained_variance", explained_variance(buffer_values, buffer_returns))
        self.logger.record("train/entropy_loss", entropy_loss.item())
        self.logger.record("train/policy_loss", policy_loss.item())
        self.logger.record("train/value_loss", value_loss.item())


# ---------------------------------------------------------------------------------------------
# optimizers
# ---------------------------------------------------------------------------------------------
OPTIMIZERS: tuple[str, ...] = ("", "rmsprop", "rmsprop-tf", "adam")


def optimizer_spec(
    optimizer: str,
    weight_decay: float,
    *,
    on_policy: bool,
    a2c_rms_prop: bool = False,
    rms_prop_eps: float = 1e-5,
) -> dict[str, Any]:
    """The ``optimizer_class`` / ``optimizer_kwargs`` entries of SB3's ``policy_kwargs`` ({} = SB3's own).

    ``optimizer=""`` keeps the algorithm's default: RMSprop(alpha=0.99, eps=rms_prop_eps) for A2C
    with ``use_rms_prop`` (``a2c_rms_prop``), Adam otherwise (eps 1e-5 for SB3's actor-critic
    policies, torch's 1e-8 for the Q-network policies); it returns {} when ``weight_decay`` is 0 so
    SB3 builds that default itself. ``rmsprop`` is torch's RMSprop with alpha 0.99 (paper 002),
    ``rmsprop-tf`` SB3's TF-style RMSprop (the RL Zoo's A2C Atari rows), both with ``rms_prop_eps``.
    """
    if optimizer not in OPTIMIZERS:
        raise ConfigError(f"optimizer='{optimizer}' is not known", f"choose one of: {', '.join(OPTIMIZERS)}")
    if not optimizer and weight_decay == 0.0:
        return {}
    name = optimizer or ("rmsprop" if a2c_rms_prop else "adam")
    if name == "rmsprop":
        cls: type[th.optim.Optimizer] = th.optim.RMSprop
        kwargs: dict[str, Any] = {"alpha": 0.99, "eps": rms_prop_eps}
    elif name == "rmsprop-tf":
        from stable_baselines3.common.sb2_compat.rmsprop_tf_like import RMSpropTFLike

        cls, kwargs = RMSpropTFLike, {"alpha": 0.99, "eps": rms_prop_eps}
    else:
        cls, kwargs = th.optim.Adam, {"eps": 1e-5 if on_policy else 1e-8}
    return {"optimizer_class": cls, "optimizer_kwargs": {**kwargs, "weight_decay": float(weight_decay)}}


def entropy_of(probabilities: Sequence[float] | th.Tensor) -> float:
    """Shannon entropy (nats) of a probability vector."""
    p = th.as_tensor(probabilities, dtype=th.float64)
    p = p[p > 0]
    return float(-(p * p.log()).sum())
