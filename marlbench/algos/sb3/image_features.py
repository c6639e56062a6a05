"""SB3 features for flat observations that carry an image stack (SMARTS with ``bev=true``).

The shared-weights SB3 policies (one network for every agent, paper 000's PPO) get the image branch
of :mod:`marlbench.nets.image` as their features extractor: the CNN encodes the image stack into
64 features, the vector groups pass through unchanged, and SB3's ``net_arch`` MLP (64x64 for
paper 000) follows for the policy and value heads.
"""

from __future__ import annotations

from typing import Any

import torch
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

from marlbench.nets.image import BatchedImageEncoder, ImageLayout


class VectorImageExtractor(BaseFeaturesExtractor):
    """``[B, in] -> [B, in - C*H*W + 64]``: the image at ``image_start`` replaced by its CNN features."""

    def __init__(self, observation_space: Any, image_shape: tuple[int, int, int], image_start: int) -> None:
        layout = ImageLayout(tuple(int(v) for v in image_shape), (int(image_start),))  # type: ignore[arg-type]
        encoder = BatchedImageEncoder(1, int(observation_space.shape[0]), layout)
        super().__init__(observation_space, encoder.out_dim)
        self.encoder = encoder

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return self.encoder(observations.float()[None])[0]
