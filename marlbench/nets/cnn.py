"""A batched CNN: ``n`` homogeneous Q-networks of paper 004 (Table 1) evaluated as one network."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from marlbench.errors import ConfigError
from marlbench.nets.updates import scale_stacked_grads_, stacked_sq_grad_norms


class BatchedCNN(nn.Module):
    """``n_nets`` independent CNN Q-networks computed together.

    Layer ``l`` of every network is stored stacked (``[n, out, in, k, k]``); the convolutions run
    as one grouped convolution (``groups=n_nets``) and the dense layers as one batched matmul, so a
    forward/backward over all networks is a single pass (:meth:`forward_shared`, for one large batch
    seen by every network, splits the later convolutions per network: faster there on CPU). Each
    network is, parameter for parameter, ``Conv2d(k, stride) -> ReLU`` per entry of ``channels``,
    ``Flatten``, optionally ``Linear -> ReLU`` of width ``head_hidden``, then ``Linear`` to
    ``n_actions`` (see :meth:`single`). Initialisation follows ``torch.nn``'s default (uniform in
    ``+-1/sqrt(fan_in)``) per network.
    """

    def __init__(
        self,
        n_nets: int,
        obs_shape: tuple[int, int, int],
        n_actions: int,
        channels: tuple[int, ...] = (32, 64, 64),
        kernel_size: int = 2,
        stride: int = 1,
        head_hidden: int = 0,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.n_nets = n_nets
        self.obs_shape = tuple(obs_shape)
        self.n_actions = n_actions
        self.channels = tuple(channels)
        self.kernel_size = kernel_size
        self.stride = stride
        self.head_hidden = head_hidden
        c, h, w = obs_shape
        self.conv_weight = nn.ParameterList()
        self.conv_bias = nn.ParameterList()
        for out in self.channels:
            fan_in = c * kernel_size * kernel_size
            self.conv_weight.append(_uniform((n_nets, out, c, kernel_size, kernel_size), fan_in, generator))
            self.conv_bias.append(_uniform((n_nets, out), fan_in, generator))
            h, w, c = (h - kernel_size) // stride + 1, (w - kernel_size) // stride + 1, out
            if h < 1 or w < 1:
                raise ConfigError(
                    f"observations of shape {obs_shape} are too small for {len(self.channels)} conv layers "
                    f"of kernel {kernel_size} and stride {stride}",
                    "use fewer cnn_channels or a smaller kernel_size",
                )
        self.feature_shape = (c, h, w)
        sizes = [c * h * w] + ([head_hidden] if head_hidden else []) + [n_actions]
        self.head_weight = nn.ParameterList()
        self.head_bias = nn.ParameterList()
        for fan_in, out in zip(sizes[:-1], sizes[1:], strict=True):
            self.head_weight.append(_uniform((n_nets, out, fan_in), fan_in, generator))
            self.head_bias.append(_uniform((n_nets, out), fan_in, generator))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Q-values ``[n, B, A]``: network ``i`` on its own inputs ``x[i]`` (``x``: ``[n, B, C, H, W]``)."""
        n, b = x.shape[:2]
        if n != self.n_nets:
            raise ValueError(f"expected inputs for {self.n_nets} networks, got {n}")
        return self._run(x.transpose(0, 1).reshape(b, n * x.shape[2], *x.shape[3:]))

    def forward_shared(self, x: torch.Tensor) -> torch.Tensor:
        """Q-values ``[n, B, A]`` of every network on the same inputs ``x`` (``[B, C, H, W]``).

        Made for large batches (LBS scores its whole large batch with every network). Every network
        sees the same image, so the first convolution is one dense convolution with all networks'
        filters side by side (``x`` is not copied per network); the later convolutions then run
        network by network on their own channels. On CPU, dense convolutions over a large batch
        beat one grouped convolution: about 1.5x faster than the all-grouped path for Table 1's
        CNN on K = 256 (``benchmarks/lbs_bench.py``). The result equals :meth:`forward` on ``x``
        repeated for each network.
        """
        n = self.n_nets
        weights, biases = list(self.conv_weight), list(self.conv_bias)
        h = F.conv2d(x, weights[0].flatten(0, 1), biases[0].flatten(), stride=self.stride).relu_()
        if len(weights) > 1:
            parts = []
            for i, part in enumerate(h.chunk(n, dim=1)):  # network i's channels of the first layer
                for weight, bias in zip(weights[1:], biases[1:], strict=True):
                    part = F.conv2d(part, weight[i], bias[i], stride=self.stride).relu_()
                parts.append(part)
            h = torch.cat(parts, dim=1)
        return self._head(h)

    def _run(self, h: torch.Tensor) -> torch.Tensor:
        n = self.n_nets
        for weight, bias in zip(self.conv_weight, self.conv_bias, strict=True):
            h = F.conv2d(h, weight.flatten(0, 1), bias.flatten(), stride=self.stride, groups=n)
            h = torch.relu(h)
        return self._head(h)

    def _head(self, h: torch.Tensor) -> torch.Tensor:
        """Dense layers on conv features ``[B, n * c, h, w]`` (network-major channels) -> ``[n, B, A]``."""
        n = self.n_nets
        # [B, n * c, h, w] -> [B, n, c * h * w]: the same (c, h, w) order as nn.Flatten per network.
        h = h.reshape(h.shape[0], n, -1)
        last = len(self.head_weight) - 1
        for j, (weight, bias) in enumerate(zip(self.head_weight, self.head_bias, strict=True)):
            h = torch.einsum("bnf,nof->bno", h, weight) + bias
            if j < last:
                h = torch.relu(h)
        return h.transpose(0, 1)

    def member_sq_grad_norms(self) -> torch.Tensor:
        """``[n_nets]``: each network's squared gradient norm (for :func:`clip_grad_norm_per_member_`)."""
        return stacked_sq_grad_norms(self.parameters(), self.n_nets)

    def scale_member_grads_(self, scale: torch.Tensor) -> None:
        """Multiply network ``i``'s gradients by ``scale[i]``."""
        scale_stacked_grads_(self.parameters(), scale)

    def layer_parameters(self) -> list[nn.Parameter]:
        """Stacked parameters in the order of ``single(i).parameters()`` (weight, bias per layer)."""
        pairs = zip([*self.conv_weight, *self.head_weight], [*self.conv_bias, *self.head_bias], strict=True)
        return [p for pair in pairs for p in pair]

    def single(self, i: int) -> nn.Sequential:
        """Network ``i`` as an ordinary ``nn.Sequential`` holding a copy of its weights."""
        layers: list[nn.Module] = []
        c = self.obs_shape[0]
        with torch.no_grad():
            for weight, bias in zip(self.conv_weight, self.conv_bias, strict=True):
                conv = nn.Conv2d(c, weight.shape[1], self.kernel_size, self.stride)
                conv.weight.copy_(weight[i])
                conv.bias.copy_(bias[i])
                layers += [conv, nn.ReLU()]
                c = weight.shape[1]
            layers.append(nn.Flatten())
            for j, (weight, bias) in enumerate(zip(self.head_weight, self.head_bias, strict=True)):
                linear = nn.Linear(weight.shape[2], weight.shape[1])
                linear.weight.copy_(weight[i])
                linear.bias.copy_(bias[i])
                layers.append(linear)
                if j < len(self.head_weight) - 1:
                    layers.append(nn.ReLU())
        return nn.Sequential(*layers).to(self.conv_weight[0].device)


def _uniform(shape: tuple[int, ...], fan_in: int, generator: torch.Generator | None) -> nn.Parameter:
    bound = 1.0 / math.sqrt(fan_in)
    return nn.Parameter(torch.empty(shape).uniform_(-bound, bound, generator=generator))
