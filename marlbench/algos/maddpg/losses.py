"""MADDPG's losses as pure functions (paper 000, Algorithm 1; prioritized weights of eq. 7).

Shapes: ``[N, B]`` (agent ``i``'s critic on its mini-batch); ``alive`` masks agents that had left
the episode, and each agent's loss averages over the transitions it was alive for.
"""

from __future__ import annotations

import torch


def critic_targets(
    r_t: torch.Tensor, terminal_t: torch.Tensor, q_t: torch.Tensor, gamma: float
) -> torch.Tensor:
    """``y = r_i + gamma * (1 - terminal_i) * Q'_i(x', a'_1..a'_N)``, ``a'_k = mu'_k(o'_k)`` (Algorithm 1)."""
    return r_t + gamma * (1.0 - terminal_t) * q_t


def weighted_critic_loss(
    q_tm1: torch.Tensor, y: torch.Tensor, weights: torch.Tensor, alive: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(sum_i 1/S_i sum_j w_j (y_j - Q_i(x_j, a_j))^2, delta = y - Q)``.

    Algorithm 1's critic loss ``L`` with eq. 7's importance weights ``w``.
    ``S_i`` counts the transitions agent ``i`` was alive for; ``weights`` are ones without PER.
    """
    td = y - q_tm1
    n_alive = alive.sum(1).clamp(min=1.0)
    return ((weights * alive * td.pow(2)).sum(1) / n_alive).sum(), td


def regularised_actor_loss(
    q_pi: torch.Tensor, pre: torch.Tensor, alive: torch.Tensor, actor_reg: float
) -> torch.Tensor:
    """``sum_i [-1/S_i sum_j Q_i(x_j, .., mu_i(o_ij), ..) + actor_reg * mean(pre_i^2)]``.

    Ascends ``Q_i`` along ``grad_{a_i}`` (Algorithm 1's actor update); the penalty on the squared
    policy pre-activation ``pre`` (``[N, B, A]``) is the MADDPG code's.
    """
    n_alive = alive.sum(1).clamp(min=1.0)
    reg = pre.pow(2).mean(dim=(1, 2))
    return (-(alive * q_pi).sum(1) / n_alive + actor_reg * reg).sum()
