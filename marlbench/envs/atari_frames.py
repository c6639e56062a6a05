"""Paper 002's 160x160 crop of the Atari screen, as an option of the ``atari-*`` environments.

Paper 002 (Lamb et al., section 4, Models 1-3): "the 210 x 160 x 3 image returned by the gym
environment at each time step is cropped to 160x160, converted to grayscale, downsampled to 80x80".
``--env-opt crop=160`` applies that crop to every raw frame before :mod:`marlbench.envs.atari`'s
grayscale resize (``WarpFrame``); with ``screen_size=80`` the chain is the paper's, with the
default 84 it is the crop resized to 84x84. ``crop=0`` (the default) keeps the full frame, the
standard DQN-style preprocessing that the SB3 / RL Zoo reference rows and Mnih et al.'s human
scores assume.

Write-down (the paper does not say which 160 of the 210 rows it keeps): rows 34 to 193 and all 160
columns, :data:`CROP_TOP` = 34. That drops Pong's score board above and the bar below the field and
keeps Breakout's bricks, paddle and walls (its score digits at the top are cut, as in Pong). It is
the crop of Kostrikov's pytorch-a3c (the A3C rows of the paper's Fig. 7 are his code), written here
from that description, not copied.

Kept apart from :mod:`marlbench.envs.atari` so the crop and its check need neither ale-py nor OpenCV.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from marlbench.errors import ConfigError

PAPER_CROP = 160
"""Side of paper 002's square crop (section 4)."""

CROP_TOP = 34
"""First screen row kept by ``crop=160`` (our choice; the paper does not say)."""

CROP_CHOICES: tuple[int, ...] = (0, PAPER_CROP)
"""Allowed values of the ``crop`` option: 0 (full frame) or 160 (paper 002)."""


def check_crop(value: Any) -> int:
    """The ``crop`` option as an int; ConfigError unless it is 0 or 160."""
    try:
        crop = int(value)
    except (TypeError, ValueError):
        crop = -1
    if isinstance(value, bool) or crop not in CROP_CHOICES or float(value) != crop:
        raise ConfigError(
            f"--env-opt crop={value} is not supported",
            f"use crop=0 (full frame, the default) or crop={PAPER_CROP} (paper 002's 160x160 crop)",
        )
    return crop


def crop_frame(frame: np.ndarray, crop: int) -> np.ndarray:
    """``frame`` (``[210, 160, ...]``) cropped as the ``crop`` option says: rows
    ``CROP_TOP : CROP_TOP + 160``, all 160 columns, for ``crop=160``; the frame itself for 0."""
    if crop == 0:
        return frame
    if frame.shape[0] < CROP_TOP + crop or frame.shape[1] < crop:
        raise ConfigError(
            f"a {frame.shape[0]}x{frame.shape[1]} frame is too small for --env-opt crop={crop}",
            "crop=160 expects the 210x160 Atari screen; use crop=0",
        )
    return frame[CROP_TOP : CROP_TOP + crop, :crop]


class CropFrame(gym.ObservationWrapper):
    """Crops every raw ALE frame with :func:`crop_frame` (paper 002, section 4); sits below
    ``WarpFrame`` so the grayscale resize sees the cropped frame."""

    def __init__(self, env: gym.Env, crop: int) -> None:
        super().__init__(env)
        self.crop = check_crop(crop)
        space = env.observation_space
        shape = crop_frame(np.zeros(space.shape, space.dtype), self.crop).shape
        self.observation_space = gym.spaces.Box(0, 255, shape, space.dtype)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(crop_frame(observation, self.crop))
