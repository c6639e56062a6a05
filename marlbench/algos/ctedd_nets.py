"""CTEDD's networks and losses (paper 001, sections 3-4), as pure pieces the learner composes.

* :class:`GlobalTower` is one half of the global policy network of Fig. 1: a shared global layer
  over the full state and one local head per agent. CTEDD builds two symmetric towers, the
  deterministic part ``pi_theta_i(s)`` and the stochastic part ``sigma_omega_i(s)``.
* :func:`make_critic` is the centralized ``Q(s, a_1..a_N)`` (64x64, section 5.2).
* The losses are pure functions with the paper's equations in their names and time-suffixed
  arguments (``q_t``, ``r_t``, ``q_tp1``), checked against hand-worked numbers in the tests:
  :func:`critic_loss` (eq. 2), :func:`deterministic_policy_loss` (eq. 4), :func:`exploration_loss`
  (eq. 5 with the advantage of section 4.1) and :func:`distillation_loss` (eq. 6).
* :func:`alpha_at` is the entropy-weight schedule of section 5.2 (0.1 -> 0.001 over 3M steps).

Actions live in a normalised box ``[-1, 1]^A`` inside the learner (``tanh`` of the deterministic
head); the learner maps them onto the environment's box. ``sigma`` is in the same units.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from marlbench.nets import BatchedMLP, make_member_mlp, numpy_forward

LOG_2PI_E = math.log(2.0 * math.pi * math.e)


class GlobalTower(nn.Module):
    """Fig. 1: ``s -> act(W_g s + b_g)`` (the shared global layer) ``-> head_i`` for every agent ``i``.

    ``forward(state [B, S]) -> [N, B, out]``. The global layer is one linear layer with
    ``global_hidden`` units shared by all agents; each head is an MLP with one hidden layer of
    ``head_hidden`` units (section 5.2: 64 and 64). The heads are one :class:`BatchedMLP` (one
    batched matrix product per layer for all agents) fed the same global features.

    ``trunk=None`` builds heads only; they then read features from another tower's global layer
    (``sigma_global="shared"``: the stochastic heads on the deterministic part's features).
    """

    def __init__(
        self,
        n_agents: int,
        state_dim: int,
        out_dim: int,
        *,
        global_hidden: int = 64,
        head_hidden: int = 64,
        activation: str = "relu",
        batched: bool = True,
        generator: torch.Generator | None = None,
        own_trunk: bool = True,
    ) -> None:
        super().__init__()
        self.n_agents, self.state_dim, self.out_dim = n_agents, state_dim, out_dim
        self.activation = activation
        self.trunk: BatchedMLP | None = (
            BatchedMLP(1, state_dim, (), global_hidden, activation, generator=generator)
            if own_trunk
            else None
        )
        self.heads = make_member_mlp(
            n_agents, global_hidden, (head_hidden,), out_dim, activation, batched, generator
        )

    def features(self, state: torch.Tensor) -> torch.Tensor:
        """``[B, S] -> [1, B, global_hidden]``: the shared global layer, activated."""
        assert self.trunk is not None, "this tower reads another tower's features"
        return _ACT[self.activation](self.trunk(state.unsqueeze(0)))

    def heads_forward(self, features: torch.Tensor) -> torch.Tensor:
        """``[1, B, H] -> [N, B, out]``: every agent's local head on the same global features."""
        return self.heads(features)

    def forward(self, state: torch.Tensor) -> torch.Tensor:
        return self.heads(self.features(state))

    def numpy_features(self, state: np.ndarray) -> np.ndarray:
        assert self.trunk is not None
        return NP_ACT[self.activation](numpy_forward(self.trunk, np.asarray(state, np.float32)[None]))

    def numpy_heads(self, features: np.ndarray) -> np.ndarray:
        # numpy's matmul broadcasts a size-1 stack axis through a slow non-BLAS loop: repeat it first
        return numpy_forward(self.heads, np.repeat(features, self.n_agents, axis=0))

    def numpy_forward(self, state: np.ndarray) -> np.ndarray:
        """:meth:`forward` in numpy for acting: ``[B, S] -> [N, B, out]``."""
        return self.numpy_heads(self.numpy_features(state))


_ACT = {"relu": torch.relu, "tanh": torch.tanh, "elu": torch.nn.functional.elu}
NP_ACT = {
    "relu": lambda h: np.maximum(h, 0.0),
    "tanh": np.tanh,
    "elu": lambda h: np.where(h > 0, h, np.expm1(np.minimum(h, 0.0))),
}


def make_critic(
    in_dim: int,
    hidden: int = 64,
    layers: int = 2,
    activation: str = "relu",
    generator: torch.Generator | None = None,
) -> BatchedMLP:
    """The centralized ``Q(s, a_1..a_N)``: ``[1, B, S + N*A] -> [1, B, 1]`` (section 5.2: 64x64)."""
    return BatchedMLP(1, in_dim, (hidden,) * layers, 1, activation, generator=generator)


def sigma_from_pre(pre: torch.Tensor, sigma_min: float, sigma_max: float) -> torch.Tensor:
    """``log sigma`` squashed smoothly into ``[log sigma_min, log sigma_max]`` (a sigmoid in log space).

    A hard clamp would stop eq. (5)'s gradient at the bounds; the sigmoid keeps it (small) there.
    """
    lo, hi = math.log(sigma_min), math.log(sigma_max)
    return lo + (hi - lo) * torch.sigmoid(pre)


def numpy_log_sigma(pre: np.ndarray, sigma_min: float, sigma_max: float) -> np.ndarray:
    lo, hi = math.log(sigma_min), math.log(sigma_max)
    return lo + (hi - lo) / (1.0 + np.exp(-pre))


def init_sigma_bias_(tower: GlobalTower, sigma_init: float, sigma_min: float, sigma_max: float) -> None:
    """Start every agent's ``sigma`` near ``sigma_init`` in every state (last layer: bias set, weights/10)."""
    lo, hi = math.log(sigma_min), math.log(sigma_max)
    share = (math.log(sigma_init) - lo) / (hi - lo)
    last = tower.heads.layers[-1] if isinstance(tower.heads, BatchedMLP) else None
    with torch.no_grad():
        if last is not None:
            last.weight.mul_(0.1)
            last.bias.fill_(math.log(share / (1.0 - share)))
        else:  # LoopMLP: the last nn.Linear of every member
            for net in tower.heads.members:  # type: ignore[union-attr]
                net[-1].weight.mul_(0.1)
                net[-1].bias.fill_(math.log(share / (1.0 - share)))


# ---------------------------------------------------------------------------------------------
# losses (pure functions)
# ---------------------------------------------------------------------------------------------
def critic_loss(
    q_t: torch.Tensor, r_t: torch.Tensor, discount_t: torch.Tensor, q_tp1: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. (2), averaged over the batch: ``(Q(s_t, a_t) - r_t - gamma Q'(s_t+1, pi~(s_t+1)))^2``.

    All arguments ``[B]``; ``discount_t`` is ``gamma * (1 - terminated)``; ``q_tp1`` comes from the
    target networks and is treated as a constant. Returns ``(loss, td_error [B])``.
    """
    if not q_t.shape == r_t.shape == discount_t.shape == q_tp1.shape:
        raise ValueError(f"shapes differ: {q_t.shape}, {r_t.shape}, {discount_t.shape}, {q_tp1.shape}")
    target = (r_t + discount_t * q_tp1).detach()
    td = target - q_t
    return td.pow(2).mean(), td


def deterministic_policy_loss(q_pi: torch.Tensor) -> torch.Tensor:
    """Eq. (4) as a loss: ``-mean_B Q(s, pi(s))``; its gradient w.r.t. theta is minus eq. (4)'s estimate."""
    return -q_pi.mean()


def gaussian_log_prob(a: torch.Tensor, mu: torch.Tensor, log_sigma: torch.Tensor) -> torch.Tensor:
    """``log N(a; mu, diag sigma^2)`` summed over the last (action) axis."""
    z = (a - mu) * torch.exp(-log_sigma)
    return (-0.5 * z.pow(2) - log_sigma - 0.5 * math.log(2.0 * math.pi)).sum(-1)


def gaussian_entropy(log_sigma: torch.Tensor) -> torch.Tensor:
    """Shannon entropy of ``N(mu, diag sigma^2)``: ``sum_d (log sigma_d + log(2 pi e) / 2)``."""
    return (log_sigma + 0.5 * LOG_2PI_E).sum(-1)


def exploration_loss(
    a_t: torch.Tensor,
    mu_t: torch.Tensor,
    log_sigma_t: torch.Tensor,
    advantage_t: torch.Tensor,
    alpha: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. (5) as a loss to minimise (its negative), for the stochastic part ``omega`` only.

    ``a_t`` ``[N, B, A]`` are the sampled (unclipped) actions, ``mu_t`` the deterministic parts that
    sampled them (constants: eq. (5) does not train theta), ``log_sigma_t`` ``[N, B, A]`` the
    stochastic parts, ``advantage_t`` ``[B]`` = ``Q(s, a_sampled) - Q(s, pi(s))`` (section 4.1, one
    joint value for every agent; a constant). Per agent ``i``::

        - 1/|B| sum_B [ log pi~_i(s, a_i) * A  +  alpha * H(pi~_i(s, .)) ]

    summed over agents (each ``omega_i`` only moves its own term, as the paper simplifies). The
    paper writes the entropy term as a sum over B, not a mean; we average both terms so ``alpha``
    does not scale with the batch. Returns ``(loss, mean entropy per agent)``.
    """
    if a_t.shape != mu_t.shape or a_t.shape != log_sigma_t.shape or advantage_t.shape != a_t.shape[1:2]:
        raise ValueError(
            f"shapes: a {a_t.shape}, mu {mu_t.shape}, log_sigma {log_sigma_t.shape}, A {advantage_t.shape}"
        )
    log_prob = gaussian_log_prob(a_t, mu_t.detach(), log_sigma_t)  # [N, B]
    entropy = gaussian_entropy(log_sigma_t)  # [N, B]
    per_agent = (log_prob * advantage_t.detach() + alpha * entropy).mean(1)
    return -per_agent.sum(), entropy.detach().mean()


def distillation_loss(teacher: torch.Tensor, student: torch.Tensor) -> torch.Tensor:
    """Eq. (6): ``1/|B| sum_B sum_i ||pi_theta_i(s) - pi^_theta'_i(o_i, m_-i)||^2`` (``[N, B, A]`` each)."""
    if teacher.shape != student.shape:
        raise ValueError(f"teacher {teacher.shape} and student {student.shape} differ")
    return (teacher.detach() - student).pow(2).sum(-1).sum(0).mean()


def alpha_at(step: int, start: float, end: float, anneal_steps: int, schedule: str = "linear") -> float:
    """Entropy weight after ``step`` env steps (section 5.2: 0.1 decremented to 0.001 over 3M, then flat).

    ``linear`` follows "gradually decremented"; ``geometric`` interpolates in log space instead.
    """
    if anneal_steps <= 0:
        return end
    frac = min(max(step / anneal_steps, 0.0), 1.0)
    if schedule == "linear":
        return start + (end - start) * frac
    if schedule == "geometric":
        return math.exp(math.log(start) + (math.log(end) - math.log(start)) * frac)
    raise ValueError(f"unknown alpha schedule {schedule!r}; choose linear or geometric")
