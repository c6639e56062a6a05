"""Batched MLPs: ``n_members`` independent MLPs (one per agent) computed as one network.

:class:`BatchedMLP` stacks every member's weights as ``[n_members, in, out]``, so one
``torch.baddbmm`` per layer runs every agent's network in a single forward and backward pass.
Input and output carry the member axis first: ``[n_members, batch, in] -> [n_members, batch, out]``.
:class:`LoopMLP` has the same interface over a ``ModuleList`` of ordinary MLPs; it is the slow path
(agents with different shapes, or the reference in benchmarks), never the default.
:func:`numpy_forward` / :func:`numpy_layers` run them in numpy for acting.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from marlbench.nets.activations import activation, activation_module
from marlbench.nets.updates import scale_stacked_grads_, stacked_sq_grad_norms


def mlp(in_dim: int, hidden: Sequence[int], out_dim: int, activation: str = "relu") -> nn.Sequential:
    """A plain MLP ``in_dim -> hidden... -> out_dim`` with ``activation`` between layers (none at the end)."""
    layers: list[nn.Module] = []
    width = in_dim
    for h in hidden:
        layers += [nn.Linear(width, h), activation_module(activation)]
        width = h
    layers.append(nn.Linear(width, out_dim))
    return nn.Sequential(*layers)


class BatchedLinear(nn.Module):
    """``n_members`` independent linear layers: ``y[m] = x[m] @ weight[m] + bias[m]``.

    ``weight`` is ``[n_members, in, out]`` (the transpose of ``nn.Linear.weight`` for each member) and
    ``bias`` ``[n_members, 1, out]``. Initialised like ``nn.Linear`` (uniform in +-1/sqrt(in)).
    """

    def __init__(
        self, n_members: int, in_dim: int, out_dim: int, generator: torch.Generator | None = None
    ) -> None:
        super().__init__()
        self.n_members, self.in_dim, self.out_dim = n_members, in_dim, out_dim
        self.weight = nn.Parameter(torch.empty(n_members, in_dim, out_dim))
        self.bias = nn.Parameter(torch.empty(n_members, 1, out_dim))
        bound = 1.0 / math.sqrt(in_dim) if in_dim > 0 else 0.0
        with torch.no_grad():
            nn.init.uniform_(self.weight, -bound, bound, generator=generator)
            nn.init.uniform_(self.bias, -bound, bound, generator=generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)

    def extra_repr(self) -> str:
        return f"n_members={self.n_members}, in_dim={self.in_dim}, out_dim={self.out_dim}"


class BatchedMLP(nn.Module):
    """``n_members`` independent MLPs computed together: ``[members, batch, in] -> [members, batch, out]``.

    Mathematically identical to a loop of ``n_members`` separate ``nn.Linear`` stacks (tested), but
    one kernel per layer serves all members, so the cost grows far slower than linearly in the
    number of agents. An input with a size-1 leading axis is broadcast to every member.
    """

    def __init__(
        self,
        n_members: int,
        in_dim: int,
        hidden: Sequence[int] = (64, 64),
        out_dim: int = 1,
        activation: str = "relu",
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.n_members, self.in_dim, self.out_dim = n_members, in_dim, out_dim
        self.hidden = tuple(hidden)
        self.activation = activation
        widths = [in_dim, *self.hidden, out_dim]
        self.layers = nn.ModuleList(
            BatchedLinear(n_members, a, b, generator=generator)
            for a, b in zip(widths[:-1], widths[1:], strict=True)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        act_ = activation(self.activation).inplace
        first = self.layers[0]
        if x.shape[0] == 1 and self.n_members > 1:
            # one input for every member: a single GEMM against all members' weights side by side
            batch = x.shape[1]
            wide = first.weight.transpose(0, 1).reshape(self.in_dim, -1)  # [in, members * out]
            x = (x[0] @ wide).view(batch, self.n_members, -1).transpose(0, 1) + first.bias
        else:
            x = first(x)
        for layer in self.layers[1:]:
            # in place is safe: baddbmm's backward needs its inputs, not its output
            x = layer(act_(x))
        return x

    def member(self, index: int) -> nn.Sequential:
        """A standalone ``nn.Sequential`` copy of member ``index`` (for export or inspection)."""
        net = mlp(self.in_dim, self.hidden, self.out_dim, self.activation)
        linears = [m for m in net if isinstance(m, nn.Linear)]
        with torch.no_grad():
            for lin, layer in zip(linears, self.layers, strict=True):
                lin.weight.copy_(layer.weight[index].T)
                lin.bias.copy_(layer.bias[index, 0])
        return net

    def numpy_params(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Copies of each layer's ``(weight [members, in, out], bias [members, 1, out])``."""
        return [
            (layer.weight.detach().numpy().copy(), layer.bias.detach().numpy().copy())
            for layer in self.layers
        ]

    def member_sq_grad_norms(self) -> torch.Tensor:
        """``[n_members]``: each member's squared gradient norm over all its parameters."""
        return stacked_sq_grad_norms(self.parameters(), self.n_members)

    def scale_member_grads_(self, scale: torch.Tensor) -> None:
        """Multiply member ``m``'s gradients by ``scale[m]``."""
        scale_stacked_grads_(self.parameters(), scale)


class LoopMLP(nn.Module):
    """The loop fallback with :class:`BatchedMLP`'s interface: a ``ModuleList`` of ordinary MLPs."""

    def __init__(
        self,
        n_members: int,
        in_dim: int,
        hidden: Sequence[int] = (64, 64),
        out_dim: int = 1,
        activation: str = "relu",
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.n_members, self.in_dim, self.out_dim = n_members, in_dim, out_dim
        self.hidden = tuple(hidden)
        self.activation = activation
        self.members = nn.ModuleList(mlp(in_dim, hidden, out_dim, activation) for _ in range(n_members))
        if generator is not None:  # same distribution as nn.Linear's default, from the given generator
            with torch.no_grad():
                for net in self.members:
                    for lin in net:
                        if isinstance(lin, nn.Linear):
                            bound = 1.0 / math.sqrt(lin.in_features)
                            nn.init.uniform_(lin.weight, -bound, bound, generator=generator)
                            nn.init.uniform_(lin.bias, -bound, bound, generator=generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] == 1 and self.n_members > 1:
            return torch.stack([net(x[0]) for net in self.members])
        return torch.stack([net(x[m]) for m, net in enumerate(self.members)])

    def member(self, index: int) -> nn.Sequential:
        return self.members[index]

    def numpy_params(self) -> list[tuple[np.ndarray, np.ndarray]]:
        layers = zip(*[[m for m in net if isinstance(m, nn.Linear)] for net in self.members], strict=True)
        return [
            (
                np.stack([lin.weight.detach().numpy().T for lin in per_member]),
                np.stack([lin.bias.detach().numpy()[None] for lin in per_member]),
            )
            for per_member in layers
        ]

    def member_sq_grad_norms(self) -> torch.Tensor:
        out = torch.zeros(self.n_members)
        for m, net in enumerate(self.members):
            grads = [p.grad.detach().pow(2).sum() for p in net.parameters() if p.grad is not None]
            if grads:
                out[m] = torch.stack(grads).sum()
        return out

    def scale_member_grads_(self, scale: torch.Tensor) -> None:
        for m, net in enumerate(self.members):
            for p in net.parameters():
                if p.grad is not None:
                    p.grad.mul_(scale[m])


MemberNet = BatchedMLP | LoopMLP


def numpy_layers(
    layers: Sequence[tuple[np.ndarray, np.ndarray]], x: np.ndarray, activation_name: str = "relu"
) -> np.ndarray:
    """A batched MLP in numpy: ``h <- act(h @ W + b)`` per layer, no activation after the last.

    ``layers`` are ``(weight [members, in, out], bias [members, 1, out])`` pairs (as
    :meth:`BatchedMLP.numpy_params` returns them); ``x`` is ``[members or 1, batch, in]``, a size-1
    leading axis serving every member. Returns ``[members, batch, out]``.
    """
    members = layers[0][0].shape[0]
    if x.shape[0] == 1 and members > 1:  # numpy's matmul broadcasts a stack axis through a slow loop
        x = np.repeat(x, members, axis=0)
    act = activation(activation_name).numpy
    h = x
    for i, (weight, bias) in enumerate(layers):
        h = np.matmul(h, weight) + bias
        if i < len(layers) - 1:
            h = act(h)
    return h


def numpy_forward(net: MemberNet, x: np.ndarray) -> np.ndarray:
    """``net(x)`` computed with numpy (:func:`numpy_layers`), for acting.

    For one env step the batch is a handful of rows, where torch's per-operation overhead is
    several times the arithmetic. The weights are copied once per change of the parameters
    (detected through their version counters, which every in-place update bumps).
    """
    if hasattr(type(net), "numpy_forward"):  # convolutions (nets.image) run in torch
        return net.numpy_forward(x)  # type: ignore[union-attr]
    # The parameter list is walked once per network (module traversal costs more than the matmuls
    # of a small MLP); only its version counters are read on every call. Learners change weights in
    # place (optimizer steps, soft updates, ``load_state_dict``), which bumps the versions; a
    # ``deepcopy`` of the network copies this list along with the parameters it names.
    watched = net.__dict__.get("_numpy_params")
    if watched is None:
        watched = list(net.parameters())
        net.__dict__["_numpy_params"] = watched
    key = tuple([p._version for p in watched])
    cache = net.__dict__.get("_numpy_cache")
    if cache is None or cache[0] != key:
        cache = (key, net.numpy_params())
        net.__dict__["_numpy_cache"] = cache
    return numpy_layers(cache[1], np.asarray(x, dtype=np.float32), net.activation)


def make_member_mlp(
    n_members: int,
    in_dim: int,
    hidden: Sequence[int],
    out_dim: int,
    activation: str = "relu",
    batched: bool = True,
    generator: torch.Generator | None = None,
) -> MemberNet:
    """A :class:`BatchedMLP` (default) or its :class:`LoopMLP` fallback."""
    cls = BatchedMLP if batched else LoopMLP
    return cls(n_members, in_dim, hidden, out_dim, activation, generator=generator)
