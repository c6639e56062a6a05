"""The one activation table of the in-repo learners: each name's torch module, functions and numpy twin."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class Activation:
    """One activation in every form the networks need."""

    module: type[nn.Module]
    """For ``nn.Sequential`` stacks (:func:`marlbench.nets.mlp`)."""
    torch: Callable[[torch.Tensor], torch.Tensor]
    inplace: Callable[[torch.Tensor], torch.Tensor]
    """Overwrites its argument (safe after a layer whose backward does not need its output)."""
    numpy: Callable[[np.ndarray], np.ndarray]
    """The numpy version for acting; may overwrite its argument."""


ACTIVATIONS: dict[str, Activation] = {
    "relu": Activation(nn.ReLU, torch.relu, torch.relu_, lambda h: np.maximum(h, 0.0, out=h)),
    "tanh": Activation(nn.Tanh, torch.tanh, torch.tanh_, lambda h: np.tanh(h, out=h)),
    "elu": Activation(
        nn.ELU,
        torch.nn.functional.elu,
        torch.nn.functional.elu_,
        lambda h: np.where(h > 0, h, np.expm1(np.minimum(h, 0.0))),
    ),
}


def activation(name: str) -> Activation:
    """The table entry for ``name`` (``relu``, ``tanh`` or ``elu``)."""
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"unknown activation '{name}'; choose one of {sorted(ACTIVATIONS)}") from None


def activation_module(name: str) -> nn.Module:
    """A fresh activation module for ``name``."""
    return activation(name).module()
