"""Large Batch Sharing (LBS) and its baselines, paper 004 (sections 3-4, Appendix A, Table 1).

Four learners on the same DQN base (:mod:`marlbench.algos.dqn.learner`), differing only in which
transitions each learner's SGD step uses:

========================  ===========  ====================================================
registry name             networks     mini-batch of learner ``i``
========================  ===========  ====================================================
``idqn``                  one/agent    ``B`` uniform from agent ``i``'s own buffer
``idqn-shared-buffer``    one/agent    ``B`` uniform from the union of all agents' buffers
``ps-dqn``                one shared   ``B`` uniform from the union of all agents' buffers
``lbs``                   one/agent    ``B`` down-sampled by ``p2`` from a large batch of ``K``
========================  ===========  ====================================================

LBS learning step (section 3, "We recall the Large Batch Sharing algorithm goes as follows"):

1. every agent ``j`` draws ``D`` transitions (``D = B`` in the paper) from its own buffer with
   distribution ``p1`` (uniform, or proportional to ``|TD| + td_eps``); the ``M`` draws together
   form the large batch of ``K = D * M`` transitions (the paper's ``K = B * M``: ``K`` is the large
   batch size, 256 with Table 1's ``B = 32`` and 8 pursuers, not a free constant);
2. every learner ``i`` computes its own absolute TD errors ``|delta_ik| = |Q_i(s_k, a_k) - y_ik|``
   on all ``K`` transitions and draws ``B`` of them with replacement from
   ``p2_ik = (|delta_ik| + td_eps) / sum_k' (|delta_ik'| + td_eps)`` (``td_eps > 0`` keeps
   ``p_k > 0``, which section 3 requires);
3. learner ``i`` takes one SGD step on ``(1/B) sum_k w_ik * l(Q_i(s_k, a_k), y_ik)`` with
   ``w_ik = 1 / (K * p2_ik)`` (section 3: ``G_k = w_k grad l``, ``w_k = 1/(K p_k)``).

Choices where the paper is vague (each a hyperparameter):

* The large batch is built once per learning step and shared by all learners (Figure 1: the
  agents' mini-batches are aggregated into one large batch, each agent then down-samples it).
* ``p1 = td``: each buffer keeps one priority per transition, the owner's last ``|TD| + td_eps``
  (the agent that collected it measures it when it is in a large batch), new transitions get the
  buffer's maximum priority (PER). Like the paper, the weights correct ``p2`` only.
* A shared buffer is the union of the per-agent buffers (``N x buffer_size`` transitions): with
  ``p1 = p2 = uniform`` LBS then draws each transition of the union with the same probability as
  ``idqn-shared-buffer``, with weights 1 — the equivalence section 3 states.
* ``ps-dqn`` takes one SGD step of ``B`` per learning step on its single network (its replay ratio
  per transition is ``1/N`` of the independent learners'; raise ``gradient_steps`` to match it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from marlbench.algos.base import EnvContext, hp
from marlbench.algos.dqn.config import DQNConfig
from marlbench.algos.dqn.learner import MultiAgentDQN, Selection, q_learning_targets

__all__ = ["DQNConfig", "IDQN", "IDQNSharedBuffer", "LBS", "LBSConfig", "PSDQN", "lbs_downsample"]


@dataclass
class LBSConfig(DQNConfig):
    """Table 1's DQN base plus the two sampling distributions of Large Batch Sharing (section 3)."""

    p1: str = hp(
        "uniform",
        "step 1: how each agent draws from its own buffer: uniform (paper) or td (|TD| priorities)",
        choices=("uniform", "td"),
    )
    p2: str = hp(
        "td",
        "step 2: down-sampling of the large batch: td (p_k ~ |TD_k|, paper) or uniform",
        choices=("td", "uniform"),
    )
    draw_size: int = hp(
        0, "transitions each agent contributes to the large batch; 0: batch_size (paper)", low=0
    )
    td_eps: float = hp(
        1e-6, "added to |TD| so every p_k > 0 (section 3 requires p_k > 0)", low=0.0, low_open=True
    )


def lbs_downsample(
    td_abs: torch.Tensor, batch_size: int, p2: str, td_eps: float, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Section 3, step 2-3: draw ``batch_size`` of ``K`` items per learner and their weights.

    ``td_abs`` is ``[L, K]`` (learner ``i``'s ``|delta|`` on the large batch). Returns indices
    ``[L, B]`` drawn with replacement from ``p_k = (|delta_k| + td_eps) / sum`` (or ``1/K`` when
    ``p2 = "uniform"``) and weights ``w_k = 1 / (K p_k)``.
    """
    n, k = td_abs.shape
    if p2 == "td":
        priority = td_abs.double() + td_eps
        probs = priority / priority.sum(-1, keepdim=True)
    else:
        probs = torch.full((n, k), 1.0 / k, dtype=torch.float64, device=td_abs.device)
    # torch.multinomial draws on the CPU generator; probabilities stay in float64 for the weights.
    chosen = torch.multinomial(probs.cpu().float(), batch_size, replacement=True, generator=generator)
    chosen = chosen.to(td_abs.device)
    weights = 1.0 / (k * probs.gather(-1, chosen))
    return chosen, weights.float()


class IDQN(MultiAgentDQN):
    """Independent DQN: each agent learns from its own buffer with its own network (section 2)."""

    def _select(self) -> Selection:
        assert self.replay is not None
        index, _ = self.replay.sample(self.config.batch_size, self.rng)  # uniform: weights are ones
        agent = np.broadcast_to(np.arange(self.n_agents)[:, None], index.shape)
        return Selection(agent, index)


class IDQNSharedBuffer(MultiAgentDQN):
    """IDQN with one replay buffer shared by all agents: LBS with ``p1 = p2 = uniform`` (section 4)."""

    def _select(self) -> Selection:
        assert self.replay is not None
        agent, index = self.replay.sample_union(self.n_learners, self.config.batch_size, self.rng)
        return Selection(agent, index)


class PSDQN(IDQNSharedBuffer):
    """Parameter sharing: one network, trained on the union of all agents' transitions (section 2)."""

    parameter_sharing = True


class LBS(MultiAgentDQN):
    """Large Batch Sharing (section 3): independent networks that share a few TD-selected transitions."""

    config: LBSConfig

    def __init__(self, env: EnvContext, config: LBSConfig, seed: int) -> None:
        self.replay_sampler = "proportional" if config.p1 == "td" else "uniform"
        self.priority_eps = config.td_eps
        super().__init__(env, config, seed)

    def large_batch(self) -> tuple[np.ndarray, np.ndarray]:
        """Step 1: ``(agent, position)``, both ``[M, D]``: agent ``j`` draws ``D`` from its buffer by p1.

        The replay was built with p1's sampler; its importance weights are dropped because, as in
        the paper, the weights correct p2 only.
        """
        assert self.replay is not None
        index, _ = self.replay.sample(self.config.draw_size or self.config.batch_size, self.rng)
        agent = np.broadcast_to(np.arange(self.n_agents)[:, None], index.shape)
        return agent, index

    def _select(self) -> Selection:
        cfg = self.config
        agent, index = self.large_batch()
        agent, index = agent.reshape(-1), index.reshape(-1)
        obs, actions, rewards, next_obs, terminated = self._batch(agent, index)
        with torch.no_grad():
            q = self.online.forward_shared(obs)  # [M, K, A]: every learner on the whole large batch
            k = q.shape[1]
            q_taken = q.gather(-1, actions.expand(self.n_learners, k).unsqueeze(-1)).squeeze(-1)
            next_q = self.target.forward_shared(next_obs).max(-1).values
            targets = q_learning_targets(rewards, terminated, next_q, cfg.gamma)
            td_abs = (q_taken - targets).abs()
        chosen, weights = lbs_downsample(td_abs, cfg.batch_size, cfg.p2, cfg.td_eps, self.torch_gen)
        # p1 = td: each transition's priority is its owner's |TD| (a no-op for uniform p1)
        assert self.replay is not None
        owner_td = td_abs[torch.as_tensor(agent, device=td_abs.device), torch.arange(k, device=td_abs.device)]
        self.replay.update_priorities(agent, index, owner_td.double().cpu().numpy())
        chosen_np = chosen.cpu().numpy()
        sel_agent = agent[chosen_np]
        own = sel_agent == np.arange(self.n_learners)[:, None]
        stats = {
            "td_abs_mean": float(td_abs.mean()),
            "own_fraction": float(own.mean()),
            "weight_max": float(weights.max()),
        }
        return Selection(sel_agent, index[chosen_np], weights, targets.gather(-1, chosen), stats)
