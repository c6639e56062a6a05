"""Policy distillation (paper 001, section 4.2, eq. 6): global teacher -> local students, chronologically.

The students regress onto the teacher's deterministic actions ``pi_theta(s)`` over replayed
transitions taken **in the order they were stored** (section 4.2: "chronological mini-batches"),
each mini-batch repeated ``repeats`` times ("a few iterations"), with no extra environment samples.
One teacher trains one student per message size in ``comm_dims``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np
import torch

from marlbench.algos.ctedd.config import CTEDDConfig, Dims, variant_name
from marlbench.algos.ctedd.losses import distillation_loss
from marlbench.algos.ctedd.networks import LocalPolicy
from marlbench.errors import Diverged


def make_students(
    comm_dims: tuple[int, ...], dims: Dims, cfg: CTEDDConfig, generator: torch.Generator
) -> tuple[dict[int, LocalPolicy], dict[int, torch.optim.Optimizer]]:
    """One :class:`LocalPolicy` (and its Adam) per message size, built in ``comm_dims`` order."""
    students: dict[int, LocalPolicy] = {}
    optimizers: dict[int, torch.optim.Optimizer] = {}
    for c in comm_dims:
        students[c] = LocalPolicy(
            dims.n_agents,
            dims.obs_dim,
            dims.act_dim,
            c,
            hidden=cfg.distill_hidden,
            activation=cfg.activation,
            batched=cfg.batched_networks,
            generator=generator,
        )
        optimizers[c] = torch.optim.Adam(students[c].parameters(), lr=cfg.distill_lr)
    return students, optimizers


def chronological_batches(data: Mapping[str, np.ndarray], batch_size: int) -> Iterator[dict[str, np.ndarray]]:
    """Consecutive mini-batches of ``data`` (arrays with the transition axis first), oldest first."""
    size = len(next(iter(data.values())))
    for start in range(0, size, batch_size):
        yield {key: value[start : start + batch_size] for key, value in data.items()}


def distill_step(
    students: Mapping[int, LocalPolicy],
    optimizers: Mapping[int, torch.optim.Optimizer],
    teacher_t: torch.Tensor,
    obs_t: torch.Tensor,
    repeats: int,
) -> dict[str, float]:
    """Eq. (6) on one mini-batch: ``repeats`` Adam steps of every student towards ``teacher_t``.

    ``teacher_t`` ``[N, B, A]`` are the teacher's normalised actions (``tanh pi_theta(s)``), ``obs_t``
    ``[N, B, obs_dim]`` every agent's observation in the same joint rows. Returns the last loss of
    each student as ``distill_loss_<c>``.
    """
    stats: dict[str, float] = {}
    for c, student in students.items():
        optimizer = optimizers[c]
        for _ in range(repeats):
            loss = distillation_loss(teacher_t, torch.tanh(student(obs_t)))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        value = loss.item()
        if not np.isfinite(value):
            raise Diverged(f"CTEDD distillation loss of {variant_name(c)} became non-finite ({value})")
        stats[f"distill_loss_{c}"] = value
    return stats
