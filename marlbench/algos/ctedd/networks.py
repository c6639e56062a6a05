"""CTEDD's networks (paper 001, Figs. 1-2 and section 5.2), built from :mod:`marlbench.nets` members.

* :class:`GlobalTower` is one half of the global policy network of Fig. 1: a shared global layer
  over the full state and one local head per agent. CTEDD builds two symmetric towers, the
  deterministic part ``pi_theta_i(s)`` and the stochastic part ``sigma_omega_i(s)``.
* :func:`make_critic` is the centralized ``Q(s, a_1..a_N)`` (64x64, section 5.2).
* :class:`LocalPolicy` is a distilled local policy of Fig. 2 (the students of eq. 6): part 1
  ``m_i = f_i(o_i)`` and part 2 ``a_i = g_i(o_i, m_{j != i})``, one hidden layer of 64 each, the
  same network as the MADDPG-1/-3 baselines; without messages one MLP with two hidden layers.
* :class:`NumpyCopy` runs any of them in numpy for acting (torch's per-call overhead is larger
  than the arithmetic of one env step), through :func:`marlbench.nets.numpy_layers`.

Actions live in a normalised box ``[-1, 1]^A`` inside the learner (``tanh`` of the deterministic
head); the learner maps them onto the environment's box. ``sigma`` is in the same units.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from marlbench.algos.ctedd.config import CTEDDConfig, Dims
from marlbench.nets import BatchedMLP, MemberNet, make_member_mlp, numpy_layers
from marlbench.nets import activation as activation_of


class NumpyCopy:
    """``nets`` applied in sequence (activation between all layers), in numpy on copies of the weights.

    Each net runs through :func:`marlbench.nets.numpy_layers`, with the activation between nets too
    (a tower's global layer is activated before its heads). The copies are refreshed whenever a
    parameter changed (an optimizer step, ``load_state_dict`` or a test editing a weight bumps its
    version counter).
    """

    def __init__(self, *nets: MemberNet, activation: str) -> None:
        self.nets, self.activation = nets, activation
        self._key: tuple[tuple[int, int], ...] = ()
        self._layers: list[list[tuple[np.ndarray, np.ndarray]]] = []

    def __call__(self, x: np.ndarray) -> np.ndarray:
        key = tuple((id(p), p._version) for net in self.nets for p in net.parameters())
        if key != self._key:
            self._layers = [net.numpy_params() for net in self.nets]
            self._key = key
        h = np.asarray(x, dtype=np.float32)
        for i, layers in enumerate(self._layers):
            if i:
                h = activation_of(self.activation).numpy(h)
            h = numpy_layers(layers, h, self.activation)
        return h


class GlobalTower(nn.Module):
    """Fig. 1: ``s -> act(W_g s + b_g)`` (the shared global layer) ``-> head_i`` for every agent ``i``.

    ``forward(state [B, S]) -> [N, B, out]``. The global layer is one linear layer with
    ``global_hidden`` units shared by all agents; each head is an MLP with one hidden layer of
    ``head_hidden`` units (section 5.2: 64 and 64). The heads are one :class:`BatchedMLP` (one
    batched matrix product per layer for all agents) fed the same global features.

    ``own_trunk=False`` builds heads only; they then read features from another tower's global
    layer (``sigma_global="shared"``: the stochastic heads on the deterministic part's features).
    """

    def __init__(
        self,
        n_agents: int,
        state_dim: int,
        out_dim: int,
        *,
        global_hidden: int = 64,
        head_hidden: int = 64,
        activation: str = "relu",
        batched: bool = True,
        generator: torch.Generator | None = None,
        own_trunk: bool = True,
    ) -> None:
        super().__init__()
        self.n_agents, self.state_dim, self.out_dim = n_agents, state_dim, out_dim
        self.activation = activation
        self._act = activation_of(activation).torch
        self.trunk: BatchedMLP | None = (
            BatchedMLP(1, state_dim, (), global_hidden, activation, generator=generator)
            if own_trunk
            else None
        )
        self.heads = make_member_mlp(
            n_agents, global_hidden, (head_hidden,), out_dim, activation, batched, generator
        )

    def features(self, state: torch.Tensor) -> torch.Tensor:
        """``[B, S] -> [1, B, global_hidden]``: the shared global layer, activated."""
        assert self.trunk is not None, "this tower reads another tower's features"
        return self._act(self.trunk(state.unsqueeze(0)))

    def heads_forward(self, features: torch.Tensor) -> torch.Tensor:
        """``[1, B, H] -> [N, B, out]``: every agent's local head on the same global features."""
        return self.heads(features)

    def forward(self, state: torch.Tensor) -> torch.Tensor:
        return self.heads(self.features(state))

    def numpy_copy(self, features_from: GlobalTower | None = None) -> NumpyCopy:
        """This tower in numpy, ``[1, B, S] -> [N, B, out]``; heads alone read ``features_from``'s layer."""
        trunk = self.trunk if self.trunk is not None else (features_from.trunk if features_from else None)
        assert trunk is not None, "a heads-only tower needs the tower whose global layer it reads"
        return NumpyCopy(trunk, self.heads, activation=self.activation)


def make_global_networks(
    dims: Dims, cfg: CTEDDConfig, generator: torch.Generator
) -> tuple[GlobalTower, GlobalTower, BatchedMLP]:
    """``pi_theta``, ``sigma_omega`` (started near ``sigma_init``) and ``Q``, built in this order.

    The order fixes the initial weights for a seed; the students (:mod:`.distill`) come next.
    """
    n, act_dim, state_dim = dims.n_agents, dims.act_dim, dims.state_dim
    tower = {
        "global_hidden": cfg.global_hidden,
        "head_hidden": cfg.head_hidden,
        "activation": cfg.activation,
        "batched": cfg.batched_networks,
        "generator": generator,
    }
    policy = GlobalTower(n, state_dim, act_dim, **tower)
    sigma = GlobalTower(n, state_dim, act_dim, own_trunk=cfg.sigma_global == "own", **tower)
    init_sigma_bias_(sigma, cfg.sigma_init, cfg.sigma_min, cfg.sigma_max)
    critic = make_critic(
        state_dim + n * act_dim, cfg.critic_hidden, cfg.critic_layers, cfg.activation, generator
    )
    return policy, sigma, critic


def make_critic(
    in_dim: int,
    hidden: int = 64,
    layers: int = 2,
    activation: str = "relu",
    generator: torch.Generator | None = None,
) -> BatchedMLP:
    """The centralized ``Q(s, a_1..a_N)``: ``[1, B, S + N*A] -> [1, B, 1]`` (section 5.2: 64x64)."""
    return BatchedMLP(1, in_dim, (hidden,) * layers, 1, activation, generator=generator)


def sigma_from_pre(pre: torch.Tensor, sigma_min: float, sigma_max: float) -> torch.Tensor:
    """``log sigma`` squashed smoothly into ``[log sigma_min, log sigma_max]`` (a sigmoid in log space).

    A hard clamp would stop eq. (5)'s gradient at the bounds; the sigmoid keeps it (small) there.
    """
    lo, hi = math.log(sigma_min), math.log(sigma_max)
    return lo + (hi - lo) * torch.sigmoid(pre)


def numpy_log_sigma(pre: np.ndarray, sigma_min: float, sigma_max: float) -> np.ndarray:
    """:func:`sigma_from_pre` in numpy."""
    lo, hi = math.log(sigma_min), math.log(sigma_max)
    return lo + (hi - lo) / (1.0 + np.exp(-pre))


def init_sigma_bias_(tower: GlobalTower, sigma_init: float, sigma_min: float, sigma_max: float) -> None:
    """Start every agent's ``sigma`` near ``sigma_init`` in every state (last layer: bias set, weights/10)."""
    lo, hi = math.log(sigma_min), math.log(sigma_max)
    share = (math.log(sigma_init) - lo) / (hi - lo)
    last = tower.heads.layers[-1] if isinstance(tower.heads, BatchedMLP) else None
    with torch.no_grad():
        if last is not None:
            last.weight.mul_(0.1)
            last.bias.fill_(math.log(share / (1.0 - share)))
        else:  # LoopMLP: the last nn.Linear of every member
            for net in tower.heads.members:  # type: ignore[union-attr]
                net[-1].weight.mul_(0.1)
                net[-1].bias.fill_(math.log(share / (1.0 - share)))


class LocalPolicy(nn.Module):
    """Fig. 2: every agent's local policy, ``obs [N, M, obs_dim] -> [N, M, act_dim]`` pre-``tanh``.

    With messages (``comm_dim > 0``) part 1 (the ``speaker``) computes ``m_i = tanh(f_i(o_i))`` and
    part 2 (the ``listener``) ``g_i(o_i, m_{j != i})``, each with one hidden layer of ``hidden``;
    row ``m`` of every agent must then belong to the same joint sample. Without messages the
    ``body`` is one MLP with two hidden layers of ``hidden`` per agent, reading ``o_i`` only.
    """

    def __init__(
        self,
        n_agents: int,
        obs_dim: int,
        act_dim: int,
        comm_dim: int,
        *,
        hidden: int = 64,
        activation: str = "relu",
        batched: bool = True,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.n_agents, self.comm_dim = n_agents, comm_dim
        self.body = self.speaker = self.listener = None
        if comm_dim == 0:
            self.body = make_member_mlp(
                n_agents, obs_dim, (hidden, hidden), act_dim, activation, batched, generator
            )
            self._numpy = NumpyCopy(self.body, activation=activation)
            return
        listener_in = obs_dim + (n_agents - 1) * comm_dim
        self.speaker = make_member_mlp(n_agents, obs_dim, (hidden,), comm_dim, activation, batched, generator)
        self.listener = make_member_mlp(
            n_agents, listener_in, (hidden,), act_dim, activation, batched, generator
        )
        others = [[j for j in range(n_agents) if j != i] for i in range(n_agents)]
        self.register_buffer("others", torch.tensor(others, dtype=torch.long).reshape(n_agents, n_agents - 1))
        self._numpy_speaker = NumpyCopy(self.speaker, activation=activation)
        self._numpy = NumpyCopy(self.listener, activation=activation)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        if self.body is not None:
            return self.body(obs)
        assert self.speaker is not None and self.listener is not None
        n, m = obs.shape[0], obs.shape[1]
        received = torch.tanh(self.speaker(obs))[self.others]  # [N, N-1, M, C]: what agent i hears
        received = received.permute(0, 2, 1, 3).reshape(n, m, -1)
        return self.listener(torch.cat([obs, received], dim=-1))

    def numpy_forward(self, obs: np.ndarray) -> np.ndarray:
        """:meth:`forward` in numpy, for acting."""
        if self.body is not None:
            return self._numpy(obs)
        n, m = obs.shape[0], obs.shape[1]
        received = np.tanh(self._numpy_speaker(obs))[self.others.numpy()]
        received = received.transpose(0, 2, 1, 3).reshape(n, m, -1)
        return self._numpy(np.concatenate([obs, received], axis=-1))
