"""MADDPG (Lowe et al. 2017) as run in paper 000, with prioritized replay and message channels.

Modules: :mod:`.config` (hyperparameters), :mod:`.policy` (the actors, message channels, Gumbel
actions), :mod:`.losses` (pure loss functions), :mod:`.learner` (collection, updates, checkpoints).

Paper 000, Algorithm 1: decentralized actors ``mu_i(o_i)``, one centralized critic per agent
``Q_i(x, a_1..a_N)``, targets ``y = r_i + gamma * Q'_i(x', a'_1..a'_N)|a'_k = mu'_k(o'_k)``, critic loss
``L = 1/S sum_j (y^j - Q_i(x^j, a^j))^2``, actor update along ``grad_{a_i} Q_i``, soft target updates
``theta' <- tau theta + (1 - tau) theta'``. Prioritized replay weights the critic loss by eq. 7.

Message channels (paper 001, Fig. 2, sec. 5.2; MADDPG-1 / MADDPG-3 with ``comm_dim`` 1 / 3): agent
``i``'s policy is part 1, ``m_i = f_i(o_i)``, and part 2, ``a_i = g_i(o_i, m_{j != i})``, each with one
hidden layer of 64. Gradients of ``Q_i`` reach other agents' part 1 through the messages, so the
channel is trained end to end through the critics.

Choices where the papers are vague (each a hyperparameter where reasonable people differ):

* Every agent's actor and critic is one member of a :class:`~marlbench.nets.BatchedMLP`: one
  forward/backward serves all agents. Summing the agents' losses leaves each agent's gradient
  unchanged (members share no parameters) and Adam is element-wise, so this equals N separate
  optimizers. Gradient clipping (0.5) is applied per agent to the norm of its whole gradient (the
  MADDPG code clips each variable separately). The ArrayEnv pads observations and refuses mixed
  action spaces, so agents are always homogeneous here; ``batched_networks=false`` is the loop.
* ``minibatch_per_agent`` (default true): as Algorithm 1's "for agent i: sample a random minibatch",
  each critic gets its own mini-batch; with prioritized replay each agent has its own priority
  channel fed by its own TD errors. When false, all agents share one mini-batch and one priority,
  the mean over agents of ``|delta_i|``.
* ``x`` is the concatenation of all agents' observations (as MADDPG does on the particle worlds);
  ``use_state`` switches to the environment's global state when it offers one.
* Discrete actions: exploration samples from ``softmax(logits)`` (the Gumbel-max trick), the buffer
  stores one-hot actions, target actions are hard Gumbel samples of the target policy, and the
  actor is trained with the straight-through Gumbel-softmax at ``gumbel_temperature``. Continuous
  actions: ``tanh`` squashed into the action box, Gaussian exploration noise of ``noise_std`` times
  the half-range, clipped to the box.
* ``actor_reg`` penalises the squared pre-activation of the policy output (1e-3, as in the MADDPG
  authors' code that paper 001 takes its defaults from).
* Messages are ``tanh``-bounded continuous vectors.
* ``torch_threads`` = 1: the networks are small, so extra intra-op threads buy little, and where
  cores are shared (parallel runs, CI) they made one update 10-25x slower in our measurements.
  Acting runs in numpy on a cached copy of the actor (torch's per-call overhead is larger than
  the arithmetic of one env step).
* One gradient step per agent every ``learn_every`` (100) env steps, as in the MADDPG authors' code
  and RLlib (which paper 000 used): with batch 1024 that replays about 10 transitions per agent per
  env step. ``learning_starts`` = 1024 x 25, the same codes' warm-up; it counts stored transitions,
  so a run resumed without its replay buffer refills it before learning again.
"""

from marlbench.algos.maddpg.config import MADDPGConfig
from marlbench.algos.maddpg.learner import MADDPG
from marlbench.algos.maddpg.policy import Policy

__all__ = ["MADDPG", "MADDPGConfig", "Policy"]
