"""CTEDD's losses (paper 001, sections 4.1-4.2) as pure functions, and the entropy-weight schedule.

Arguments carry time suffixes (``q_t``, ``r_t``, ``q_tp1``) as in rlax; shapes are checked. Each is
tested against hand-worked numbers. Actions are in the normalised box ``[-1, 1]^A``.
"""

from __future__ import annotations

import math

import torch

LOG_2PI_E = math.log(2.0 * math.pi * math.e)


def q_target(r_t: torch.Tensor, discount_t: torch.Tensor, q_tp1: torch.Tensor) -> torch.Tensor:
    """Eq. (2)'s regression target ``y = r_t + gamma (1 - terminated) Q'(s_t+1, pi~(s_t+1))``, a constant.

    ``discount_t`` is ``gamma * (1 - terminated)``; ``q_tp1`` comes from the target networks.
    """
    return (r_t + discount_t * q_tp1).detach()


def critic_loss(
    q_t: torch.Tensor, r_t: torch.Tensor, discount_t: torch.Tensor, q_tp1: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. (2), averaged over the batch: ``(Q(s_t, a_t) - y)^2`` with ``y`` from :func:`q_target`.

    All arguments ``[B]``. Returns ``(loss, td_error [B])``.
    """
    if not q_t.shape == r_t.shape == discount_t.shape == q_tp1.shape:
        raise ValueError(f"shapes differ: {q_t.shape}, {r_t.shape}, {discount_t.shape}, {q_tp1.shape}")
    td = q_target(r_t, discount_t, q_tp1) - q_t
    return td.pow(2).mean(), td


def deterministic_policy_loss(q_pi: torch.Tensor, pre_t: torch.Tensor, actor_reg: float) -> torch.Tensor:
    """Eq. (4) as a loss: ``-mean_B Q(s, pi(s)) + actor_reg * mean(pre^2)``.

    Its gradient w.r.t. theta is minus eq. (4)'s estimate plus the MADDPG code's penalty on the
    squared pre-``tanh`` output ``pre_t`` (``[N, B, A]``) that keeps the heads off saturation.
    """
    return -q_pi.mean() + actor_reg * pre_t.pow(2).mean()


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
    """Entropy weight of eq. (5) after ``step`` env steps (sec. 5.2: 0.1 decremented to 0.001 over 3M).

    ``linear`` follows "gradually decremented"; ``geometric`` interpolates in log space instead;
    after ``anneal_steps`` the weight stays at ``end``.
    """
    if anneal_steps <= 0:
        return end
    frac = min(max(step / anneal_steps, 0.0), 1.0)
    if schedule == "linear":
        return start + (end - start) * frac
    if schedule == "geometric":
        return math.exp(math.log(start) + (math.log(end) - math.log(start)) * frac)
    raise ValueError(f"unknown alpha schedule {schedule!r}; choose linear or geometric")


def sigma_pull(
    a_t: torch.Tensor, mu_t: torch.Tensor, log_sigma_t: torch.Tensor, advantage_t: torch.Tensor
) -> float:
    """The gradient of eq. (5)'s advantage term on ``log sigma``, averaged over agents, batch and
    action dimensions: ``mean_B (z^2 - 1) A`` with ``z = (a - mu) / sigma`` (a diagnostic: compare it
    with ``alpha``, the entropy term's push; sigma falls only while the pull outweighs it)."""
    with torch.no_grad():
        z2 = ((a_t - mu_t) * torch.exp(-log_sigma_t)).pow(2)
        return float(((z2 - 1.0) * advantage_t[None, :, None]).mean())
