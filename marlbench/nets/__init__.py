"""Networks shared by the in-repo learners (MADDPG, CTEDD, the DQN family).

Member networks: ``n`` independent networks (agents, or agents x seeds) stored stacked and computed
as one, so one forward and one backward serve every member.

* :mod:`.mlp`: :class:`BatchedMLP` (and its loop fallback :class:`LoopMLP`), :func:`numpy_forward`
  and :func:`numpy_layers` for acting in numpy.
* :mod:`.cnn`: :class:`BatchedCNN`, the DQN family's image Q-networks.
* :mod:`.image`: :class:`BatchedImageMLP`, a CNN branch for flat inputs that carry images (the
  SMARTS bird's-eye view), then the MLP.
* :mod:`.activations`: the one activation table (torch module, functions, numpy twin).
* :mod:`.updates`: per-member gradient clipping (each agent's gradient clipped by its own norm,
  as when every agent has its own optimizer) and target-network updates.
"""

from marlbench.nets.activations import ACTIVATIONS, Activation, activation, activation_module
from marlbench.nets.cnn import BatchedCNN
from marlbench.nets.image import (
    BatchedImageEncoder,
    BatchedImageMLP,
    ImageLayout,
    make_member_net,
)
from marlbench.nets.mlp import (
    BatchedLinear,
    BatchedMLP,
    LoopMLP,
    MemberNet,
    make_member_mlp,
    mlp,
    numpy_forward,
    numpy_layers,
)
from marlbench.nets.updates import (
    MemberGrads,
    clip_grad_norm_per_member_,
    hard_update_,
    soft_update_,
)

__all__ = [
    "ACTIVATIONS",
    "Activation",
    "BatchedCNN",
    "BatchedImageEncoder",
    "BatchedImageMLP",
    "ImageLayout",
    "BatchedLinear",
    "BatchedMLP",
    "LoopMLP",
    "MemberGrads",
    "MemberNet",
    "activation",
    "activation_module",
    "clip_grad_norm_per_member_",
    "hard_update_",
    "make_member_mlp",
    "make_member_net",
    "mlp",
    "numpy_forward",
    "numpy_layers",
    "soft_update_",
]
