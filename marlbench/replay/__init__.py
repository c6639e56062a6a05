"""Replay: one priority convention, two ring buffers, three samplers, one sum-tree.

* :class:`ReplayBuffer` (:mod:`.buffer`): a preallocated ring of *joint* transitions whose fields
  are declared up front, filled ``E`` at a time, with a pluggable :class:`Sampler` (MADDPG, CTEDD).
  It may carry ``K`` priority channels over one storage (MADDPG: one per agent, so agent ``i``'s
  critic samples by its own TD errors, paper 000 Algorithm 1) and then samples ``[K, B]`` at once.
* :class:`AgentReplay` (:mod:`.agents`): one ring per agent (the DQN family of paper 004); its
  docstring says why it is a separate class.
* Samplers (:mod:`.samplers`): uniform, rank-based and proportional prioritized replay.

Every buffer follows one interface: ``sample`` returns indices and importance weights (ones under
uniform sampling) and ``update_priorities`` takes TD errors, the buffer adding its ``eps`` (a no-op
under uniform sampling), so a learner never asks which buffer it holds.
"""

from marlbench.replay.agents import AgentReplay, Transitions
from marlbench.replay.buffer import FieldSpec, ReplayBuffer, check_replay_memory, make_replay
from marlbench.replay.samplers import (
    DEFAULT_ALPHA,
    DEFAULT_BETA0,
    ProportionalSampler,
    RankSampler,
    Sampler,
    UniformSampler,
    importance_weights,
    priority_keys,
)

__all__ = [
    "DEFAULT_ALPHA",
    "DEFAULT_BETA0",
    "AgentReplay",
    "FieldSpec",
    "ProportionalSampler",
    "RankSampler",
    "ReplayBuffer",
    "Sampler",
    "Transitions",
    "UniformSampler",
    "check_replay_memory",
    "importance_weights",
    "make_replay",
    "priority_keys",
]
