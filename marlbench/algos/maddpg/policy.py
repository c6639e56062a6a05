"""MADDPG's decentralized actors: every agent's policy as one member network, optional message channels."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from marlbench.algos.maddpg.config import MADDPGConfig
from marlbench.errors import ConfigError
from marlbench.nets import ImageLayout, make_member_mlp, make_member_net, numpy_forward


def _gumbel(shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    u = torch.rand(shape, generator=generator).clamp_(1e-10, 1.0 - 1e-7)
    return -torch.log(-torch.log(u))


def gumbel_action(
    logits: torch.Tensor, temperature: float, hard_sample: bool, generator: torch.Generator
) -> torch.Tensor:
    """A one-hot Gumbel-max sample of ``softmax(logits)``, straight-through unless ``hard_sample``.

    Forward: ``one_hot(argmax(logits + g))`` with Gumbel noise ``g``. Backward (``hard_sample``
    false): the gradient of ``softmax((logits + g) / temperature)``, the straight-through
    Gumbel-softmax MADDPG trains discrete actors with. ``hard_sample`` (target actions): no gradient.
    """
    noisy = logits + _gumbel(tuple(logits.shape), generator)
    hard = F.one_hot(noisy.argmax(-1), logits.shape[-1]).to(logits.dtype)
    if hard_sample:
        return hard
    # softmax written out: torch.softmax over a last axis this short is several times slower
    scaled = noisy / temperature
    exp = (scaled - scaled.detach().amax(dim=-1, keepdim=True)).exp()
    soft = exp / exp.sum(dim=-1, keepdim=True)
    return hard - soft.detach() + soft


class Policy(nn.Module):
    """All agents' policies: ``[N, M, obs_dim] -> [N, M, act_dim]`` pre-activations.

    Without messages each agent's output depends on its own rows only. With messages (``comm_dim``
    > 0) row ``m`` of every agent must belong to the same joint sample, because agent ``i`` reads the
    messages the others computed from their observations in that row.

    ``layout``: where each agent's observation carries an image stack; the body then has an image
    branch (:class:`~marlbench.nets.BatchedImageMLP`: a small CNN per agent before the MLP).
    """

    def __init__(
        self,
        n_agents: int,
        obs_dim: int,
        act_dim: int,
        config: MADDPGConfig,
        generator: torch.Generator,
        layout: ImageLayout | None = None,
    ) -> None:
        super().__init__()
        self.n_agents, self.comm_dim = n_agents, config.comm_dim
        batched, act = config.batched_networks, config.activation
        if layout is not None and config.comm_dim:
            raise ConfigError(
                "message channels (comm_dim > 0) have no image branch",
                "use --set comm_dim=0, or --env-opt bev=false for vector observations",
            )
        if config.comm_dim == 0:
            hidden = (config.hidden_size,) * config.hidden_layers
            self.body = make_member_net(n_agents, obs_dim, hidden, act_dim, act, batched, generator, layout)
            self.speaker = self.listener = None
        else:
            self.body = None
            part1_in, part2_in = obs_dim, obs_dim + (n_agents - 1) * config.comm_dim
            self.speaker = make_member_mlp(
                n_agents, part1_in, (config.comm_hidden,), config.comm_dim, act, batched, generator
            )
            self.listener = make_member_mlp(
                n_agents, part2_in, (config.comm_hidden,), act_dim, act, batched, generator
            )
            others = [[j for j in range(n_agents) if j != i] for i in range(n_agents)]
            self.register_buffer(
                "others", torch.tensor(others, dtype=torch.long).reshape(n_agents, n_agents - 1)
            )
            self._others_np = self.others.numpy().copy()  # acting indexes with it every step

    @property
    def independent(self) -> bool:
        """True when agent i's output depends on agent i's observation only."""
        return self.comm_dim == 0

    def nets(self) -> list[nn.Module]:
        return [n for n in (self.body, self.speaker, self.listener) if n is not None]

    def messages(self, obs: torch.Tensor) -> torch.Tensor:
        """``[N, M, comm_dim]``: part 1 of every agent."""
        assert self.speaker is not None
        return torch.tanh(self.speaker(obs))

    def numpy_forward(self, obs: np.ndarray) -> np.ndarray:
        """:meth:`forward` in numpy, for acting (see :func:`marlbench.nets.numpy_forward`)."""
        if self.body is not None:
            return numpy_forward(self.body, obs)
        assert self.speaker is not None and self.listener is not None
        n, m = obs.shape[0], obs.shape[1]
        received = self.numpy_messages(obs)[self._others_np]
        received = received.transpose(0, 2, 1, 3).reshape(n, m, -1)
        return numpy_forward(self.listener, np.concatenate([obs, received], axis=-1))

    def numpy_messages(self, obs: np.ndarray) -> np.ndarray:
        assert self.speaker is not None
        return np.tanh(numpy_forward(self.speaker, obs))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        if self.body is not None:
            return self.body(obs)
        assert self.listener is not None
        n, m = obs.shape[0], obs.shape[1]
        received = self.messages(obs)[self.others]  # [N, N-1, M, C]: what agent i hears
        received = received.permute(0, 2, 1, 3).reshape(n, m, -1)
        return self.listener(torch.cat([obs, received], dim=-1))
