"""What learners do to member networks' parameters: per-member gradient clipping, target updates.

A *member network* holds ``n`` independent networks (agents, or agents x seeds) with every
parameter stacked along a leading member axis (:class:`~marlbench.nets.BatchedMLP`,
:class:`~marlbench.nets.BatchedCNN`), or as a loop of separate networks
(:class:`~marlbench.nets.LoopMLP`); each exposes its members' squared gradient norms and a per-member
gradient scaling, which is all :func:`clip_grad_norm_per_member_` needs.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import torch
from torch import nn


class MemberGrads(Protocol):
    """A network made of members whose gradients can be measured and scaled one member at a time."""

    def member_sq_grad_norms(self) -> torch.Tensor: ...

    def scale_member_grads_(self, scale: torch.Tensor) -> None: ...


def stacked_sq_grad_norms(params: Iterable[nn.Parameter], n_members: int) -> torch.Tensor:
    """``[n_members]`` squared gradient norms of parameters stacked along a leading member axis."""
    params = [p for p in params if p.grad is not None]
    total = torch.zeros(n_members, device=params[0].device if params else None)
    for p in params:
        total = total + p.grad.detach().pow(2).flatten(1).sum(1)
    return total


def scale_stacked_grads_(params: Iterable[nn.Parameter], scale: torch.Tensor) -> None:
    """Multiply member ``m``'s slice of every stacked gradient by ``scale[m]``."""
    for p in params:
        if p.grad is not None:
            p.grad.mul_(scale.view(-1, *([1] * (p.grad.dim() - 1))))


def clip_grad_norm_per_member_(nets: Iterable[MemberGrads], max_norm: float) -> torch.Tensor:
    """Clip each member's gradient (over all of ``nets`` together) to norm ``max_norm``.

    Equivalent to ``torch.nn.utils.clip_grad_norm_`` applied to each agent's own parameters, as if
    every agent had a separate optimizer. Returns the ``[n_members]`` norms before clipping.
    """
    nets = list(nets)
    sq = torch.stack([net.member_sq_grad_norms() for net in nets]).sum(0)
    norms = sq.sqrt()
    scale = (max_norm / (norms + 1e-6)).clamp(max=1.0)
    for net in nets:
        net.scale_member_grads_(scale)
    return norms


@torch.no_grad()
def soft_update_(target: nn.Module, source: nn.Module, tau: float) -> None:
    """Polyak averaging ``theta' <- tau * theta + (1 - tau) * theta'`` (paper 000, Algorithm 1, last line)."""
    t_params = list(target.parameters())
    s_params = list(source.parameters())
    if len(t_params) != len(s_params):
        raise ValueError("target and source have different parameter lists")
    torch._foreach_lerp_(t_params, s_params, tau)


@torch.no_grad()
def hard_update_(target: nn.Module, source: nn.Module) -> None:
    """Copy ``source``'s parameters into ``target``."""
    for t, s in zip(target.parameters(), source.parameters(), strict=True):
        t.copy_(s)
