"""Member networks for flat observations that carry images: a small CNN per member, then the MLP.

Paper 000's observation (sec. III.A) is three frames of seven feature groups, the seventh "a
bird's-eye view gray-scale image with the agent at the centre"; the paper gives the 64x64 dense
layers and nothing about the image branch. Ours, per member (agent) and per image in its input:

==========================  ====================================================================
layer                       shape for one ``3 x 64 x 64`` image stack (three frames as channels)
==========================  ====================================================================
Conv 8x8, stride 4, ReLU    ``3 x 64 x 64 -> 8 x 15 x 15``
Conv 4x4, stride 2, ReLU    ``8 x 15 x 15 -> 16 x 6 x 6``
Flatten, Linear, ReLU       ``576 -> 64`` image features
==========================  ====================================================================

(a Nature-DQN-shaped encoder with a quarter of its channels: the images hold four gray levels of
road, ego and vehicles, and every critic encodes every agent's image, so the encoder runs
``N x N x batch`` times per update). The image's pixels in the input are replaced by its 64
features, the rest of the input (the vector groups, actions) passes through unchanged, and the
member's MLP follows. An input that holds several images (a MADDPG critic sees every agent's
observation) encodes each with the member's one encoder, so the critic of agent ``i`` has one set
of convolution weights for all the agents' images.

All members' parameters are stacked along a leading member axis (the convolutions run member by
member, dense; the dense layers as batched matmuls), so
per-member gradient clipping (:func:`~marlbench.nets.clip_grad_norm_per_member_`) and target updates
work as for :class:`~marlbench.nets.BatchedMLP`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from marlbench.errors import ConfigError
from marlbench.nets.mlp import BatchedLinear, BatchedMLP, MemberNet, make_member_mlp
from marlbench.nets.updates import scale_stacked_grads_, stacked_sq_grad_norms

CONV_CHANNELS: tuple[int, ...] = (8, 16)
CONV_KERNELS: tuple[int, ...] = (8, 4)
CONV_STRIDES: tuple[int, ...] = (4, 2)
IMAGE_FEATURES = 64


@dataclass(frozen=True)
class ImageLayout:
    """Where images lie in a flat input: at each offset in ``starts`` begin the ``C*H*W`` values of
    one ``shape = (C, H, W)`` image, row-major (channel, row, column)."""

    shape: tuple[int, int, int]
    starts: tuple[int, ...]

    @property
    def pixels(self) -> int:
        c, h, w = self.shape
        return c * h * w

    def repeated(self, period: int, copies: int) -> ImageLayout:
        """The layout of ``copies`` such inputs side by side, each ``period`` values wide."""
        return ImageLayout(self.shape, tuple(k * period + s for k in range(copies) for s in self.starts))

    def kept_columns(self, in_dim: int) -> np.ndarray:
        """Indices of the input's columns that are not pixels (checked: images inside, not overlapping)."""
        keep = np.ones(in_dim, dtype=bool)
        for start in self.starts:
            end = start + self.pixels
            if start < 0 or end > in_dim or not keep[start:end].all():
                raise ValueError(f"image at {start}..{end} overlaps another or leaves an input of {in_dim}")
            keep[start:end] = False
        return np.flatnonzero(keep)


def _stacked_uniform(shape: tuple[int, ...], fan_in: int, generator: torch.Generator | None) -> nn.Parameter:
    """Like ``torch.nn``'s default initialisation (uniform in +-1/sqrt(fan_in)), per member."""
    bound = 1.0 / math.sqrt(fan_in)
    return nn.Parameter(torch.empty(shape).uniform_(-bound, bound, generator=generator))


class BatchedImageEncoder(nn.Module):
    """``[members or 1, B, in] -> [members, B, kept + K * features]``: each image's pixels replaced
    by its CNN features (appended after the input's other columns, in the order of ``layout.starts``)."""

    def __init__(
        self,
        n_members: int,
        in_dim: int,
        layout: ImageLayout,
        generator: torch.Generator | None = None,
        channels: Sequence[int] = CONV_CHANNELS,
        kernels: Sequence[int] = CONV_KERNELS,
        strides: Sequence[int] = CONV_STRIDES,
        features: int = IMAGE_FEATURES,
    ) -> None:
        super().__init__()
        self.n_members, self.in_dim, self.layout = n_members, in_dim, layout
        self.strides = tuple(strides)
        self.register_buffer("keep", torch.from_numpy(layout.kept_columns(in_dim)), persistent=False)
        c, h, w = layout.shape
        self.conv_weight = nn.ParameterList()
        self.conv_bias = nn.ParameterList()
        for out, k, s in zip(channels, kernels, self.strides, strict=True):
            fan_in = c * k * k
            self.conv_weight.append(_stacked_uniform((n_members, out, c, k, k), fan_in, generator))
            self.conv_bias.append(_stacked_uniform((n_members, out), fan_in, generator))
            h, w, c = (h - k) // s + 1, (w - k) // s + 1, out
            if h < 1 or w < 1:
                raise ConfigError(
                    f"images of shape {layout.shape} are too small for the image branch's convolutions",
                    "use larger images (the bird's-eye view is 64 x 64)",
                )
        self.project = BatchedLinear(n_members, c * h * w, features, generator=generator)
        self.features = features
        self.out_dim = int(self.keep.numel()) + len(layout.starts) * features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m, b = self.n_members, x.shape[1]
        k, (c, h, w), p = len(self.layout.starts), self.layout.shape, self.layout.pixels
        images = torch.stack([x[..., s : s + p] for s in self.layout.starts], dim=2)  # [M or 1, B, K, P]
        weights, biases = list(self.conv_weight), list(self.conv_bias)
        # Dense convolutions member by member: on CPU a grouped convolution over the members is
        # about 2.5x slower for the same work (benchmarks/image_bench.py).
        if images.shape[0] == 1 and m > 1:  # one input for all: the first layer's filters side by side
            shared = images[0].reshape(b * k, c, h, w)
            first = F.conv2d(shared, weights[0].flatten(0, 1), biases[0].flatten(), stride=self.strides[0])
            parts = list(torch.relu(first).chunk(m, dim=1))
        else:
            own = images.reshape(m, b * k, c, h, w)
            parts = [
                torch.relu(F.conv2d(own[i], weights[0][i], biases[0][i], stride=self.strides[0]))
                for i in range(m)
            ]
        for layer in range(1, len(weights)):
            stride = self.strides[layer]
            parts = [
                torch.relu(F.conv2d(z, weights[layer][i], biases[layer][i], stride=stride))
                for i, z in enumerate(parts)
            ]
        z = torch.stack([part.flatten(1) for part in parts])  # [M, B*K, c*h*w]
        feats = torch.relu(self.project(z)).reshape(m, b, k * self.features)
        if x.shape[0] == 1 and m > 1:
            x = x.expand(m, -1, -1)
        return torch.cat([x.index_select(-1, self.keep), feats], dim=-1)


class BatchedImageMLP(nn.Module):
    """:class:`BatchedImageEncoder` then a :class:`~marlbench.nets.BatchedMLP`, with BatchedMLP's
    interface (``[members or 1, B, in] -> [members, B, out]``, per-member gradient norms)."""

    def __init__(
        self,
        n_members: int,
        in_dim: int,
        layout: ImageLayout,
        hidden: Sequence[int] = (64, 64),
        out_dim: int = 1,
        activation: str = "relu",
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.n_members, self.in_dim, self.out_dim = n_members, in_dim, out_dim
        self.hidden, self.activation = tuple(hidden), activation
        self.encoder = BatchedImageEncoder(n_members, in_dim, layout, generator)
        self.mlp = BatchedMLP(n_members, self.encoder.out_dim, hidden, out_dim, activation, generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.encoder(x))

    def numpy_forward(self, x: np.ndarray) -> np.ndarray:
        """``forward`` without gradients on a numpy input (acting); torch runs the convolutions."""
        with torch.no_grad():
            return self(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))).numpy()

    def member_sq_grad_norms(self) -> torch.Tensor:
        return stacked_sq_grad_norms(self.parameters(), self.n_members)

    def scale_member_grads_(self, scale: torch.Tensor) -> None:
        scale_stacked_grads_(self.parameters(), scale)


def make_member_net(
    n_members: int,
    in_dim: int,
    hidden: Sequence[int],
    out_dim: int,
    activation: str = "relu",
    batched: bool = True,
    generator: torch.Generator | None = None,
    layout: ImageLayout | None = None,
) -> MemberNet | BatchedImageMLP:
    """:func:`~marlbench.nets.make_member_mlp`, or a :class:`BatchedImageMLP` when the input holds
    images (``layout``; batched only: ConfigError for ``batched=False``)."""
    if layout is None:
        return make_member_mlp(n_members, in_dim, hidden, out_dim, activation, batched, generator)
    if not batched:
        raise ConfigError(
            "batched_networks=false has no image branch", "drop --set batched_networks=false on image inputs"
        )
    return BatchedImageMLP(n_members, in_dim, layout, hidden, out_dim, activation, generator)
