"""The catalogue of RL methods (paper 003, the Papers-with-Code list) and how marlbench offers each.

A row names a method, how marlbench offers it (an algorithm name, an option of one, or not at all),
its action spaces and one line of description. Paper 003's rows come first, in its order: the 50
methods of the page stored in ``papers/003`` (page 1 of 2 of Papers with Code's Reinforcement
Learning methods; page 2 is not in the stored text). marlbench's own learners and baselines
follow. Whether an in-repo algorithm is runnable is read from the registry, so a row says
"planned" until its class is registered.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class CatalogueRow:
    name: str
    """The method's name as the catalogue (paper 003) gives it."""
    command: str | None
    """The marlbench algorithm name that runs it, or None."""
    offered: str
    """How it is offered: 'SB3, shared weights', 'in-repo', 'option ...', 'not offered: why'."""
    actions: str
    description: str


_D, _C, _DC = "discrete", "continuous", "discrete, continuous"
_MADDPG_ACTIONS = "discrete (Gumbel-softmax), continuous"

_ROWS: tuple[tuple[str, str | None, str, str, str], ...] = (
    (
        "Q-Learning",
        None,
        "not offered: tabular; its deep form is dqn",
        _D,
        "off-policy TD control on a table of action values",
    ),
    (
        "PPO",
        "ppo",
        "SB3, shared weights",
        _DC,
        "clipped surrogate policy gradient; the papers' strongest shared-weight baseline",
    ),
    (
        "Experience Replay",
        "dqn",
        "built into every off-policy learner: dqn, qrdqn, sac, td3, ddpg, maddpg, ctedd, lbs, idqn",
        "any off-policy",
        "learn from a buffer of past transitions",
    ),
    ("DQN", "dqn", "SB3, shared weights", _D, "Q-learning with a target network and replay"),
    (
        "HOC",
        None,
        "not offered: the catalogue gives no description; not an RL learner marlbench can place",
        "-",
        "High-Order Consensuses",
    ),
    (
        "CARLA",
        None,
        "not offered: a driving simulator, not a method; marlbench's driving env is smarts-intersection",
        "-",
        "open urban driving simulator",
    ),
    (
        "DPO",
        None,
        "not offered: preference fine-tuning of language models, no environment reward",
        "-",
        "Direct Preference Optimization",
    ),
    (
        "Counterfactuals",
        None,
        "not offered: an explanation method, not a learner",
        "-",
        "counterfactual explanations",
    ),
    (
        "AM",
        None,
        "not offered: an attention policy for routing problems; marlbench has MLP/CNN policies",
        _D,
        "Attention Model",
    ),
    (
        "GA",
        None,
        "not offered: gradient-free search; every learner here is gradient-based",
        "any",
        "Genetic Algorithms",
    ),
    (
        "DDPG",
        "ddpg",
        "SB3, shared weights",
        _C,
        "deterministic policy gradient with replay and target networks",
    ),
    ("REINFORCE", None, "not offered: use a2c/ppo (learned baseline)", _DC, "Monte Carlo policy gradient"),
    (
        "Monte-Carlo Tree Search",
        None,
        "not offered: needs a simulator that can be copied",
        _D,
        "planning by simulation",
    ),
    (
        "Prioritized Experience Replay",
        "maddpg",
        "maddpg only: --per (rank or proportional, eq. 7; "
        "paper 000); lbs --set p1=td draws by |TD| without IS weights; not SB3 (train dqn --per is refused)",
        _MADDPG_ACTIONS,
        "replay transitions in proportion to their TD error (paper 000 eq. 7)",
    ),
    (
        "TD3",
        "td3",
        "SB3, shared weights",
        _C,
        "DDPG with clipped double Q, delayed updates and target smoothing",
    ),
    (
        "AlphaZero",
        None,
        "not offered: needs a perfect simulator",
        _D,
        "self-play with Monte-Carlo tree search",
    ),
    (
        "Double Q-learning",
        None,
        "not offered: dqn and the in-repo DQN family use plain max targets "
        "(td3's clipped double Q is the continuous cousin)",
        _D,
        "decouples action selection from evaluation to curb overestimation",
    ),
    (
        "A2C",
        "a2c",
        "SB3, shared weights",
        _DC,
        "synchronous advantage actor-critic (n-step returns, entropy bonus)",
    ),
    ("TRPO", "trpo", "sb3-contrib, shared weights", _DC, "policy gradient inside a KL trust region"),
    ("Soft Actor Critic", "sac", "SB3, shared weights", _C, "maximum-entropy off-policy actor-critic"),
    (
        "A3C",
        "a2c",
        "as a2c, synchronous (asynchrony is not reproduced)",
        _DC,
        "asynchronous actor-critic; A2C is its synchronous variant",
    ),
    ("Sarsa", None, "not offered: tabular", _D, "on-policy TD control"),
    (
        "REM",
        None,
        "not offered: needs an ensemble of Q-heads mixed at random; qrdqn is the distributional DQN here",
        _D,
        "Random Ensemble Mixture of Q estimates",
    ),
    ("MuZero", None, "not offered: model-based planning", _D, "learned model plus tree search"),
    (
        "MADDPG",
        "maddpg",
        "in-repo",
        _MADDPG_ACTIONS,
        "decentralized actors, one centralized critic per agent (paper 000)",
    ),
    (
        "URL",
        None,
        "not offered: umbrella sampling over an ensemble of agents",
        "any",
        "Umbrella Reinforcement Learning",
    ),
    (
        "V-trace",
        None,
        "not offered: no asynchronous actor-learner (IMPALA) here",
        _DC,
        "off-policy correction for IMPALA",
    ),
    ("Retrace", None, "not offered", _D, "safe off-policy return estimation"),
    (
        "N-step Returns",
        "dqn",
        "dqn, sac, td3, ddpg: --set n_steps=N (SB3's n-step replay); a2c is n-step by design (n_steps)",
        "any",
        "bootstrap after n rewards instead of one",
    ),
    ("R2D2", None, "not offered: no recurrent replay learner", _D, "recurrent replay distributed DQN"),
    (
        "Firefly algorithm",
        None,
        "not offered: a metaheuristic optimizer, not an RL learner",
        "-",
        "swarm search",
    ),
    (
        "Dueling Network",
        None,
        "not offered: no SB3 policy; planned as an in-repo DQN option",
        _D,
        "separate value and advantage streams in the Q-network",
    ),
    ("DPG", "ddpg", "as ddpg", _C, "deterministic policy gradient"),
    (
        "RLAIF",
        None,
        "not offered: fine-tunes language models from AI preference labels",
        "-",
        "Reinforcement Learning from AI Feedback",
    ),
    (
        "Go-Explore",
        None,
        "not offered: needs envs that save and restore their state; PettingZoo's do not",
        _D,
        "archive of visited cells, return then explore",
    ),
    ("IQL", None, "not offered: offline RL", "any", "implicit Q-learning from fixed data"),
    (
        "Accumulating Eligibility Trace",
        None,
        "not offered: no learner keeps traces (ppo/a2c gae_lambda is the forward view)",
        "any",
        "trace incremented by each visit",
    ),
    (
        "TD Lambda",
        None,
        "not offered as TD(lambda); ppo/a2c --set gae_lambda weights n-step returns alike (forward view)",
        "any",
        "eligibility-trace TD learning",
    ),
    (
        "Stochastic Dueling Network",
        None,
        "not offered: ACER's value head; ACER is not offered",
        _DC,
        "stochastic Q and deterministic V estimates kept consistent",
    ),
    ("ACER", None, "not offered", _D, "actor-critic with experience replay"),
    (
        "SCST",
        None,
        "not offered: REINFORCE with a greedy-decoding baseline for sequence models",
        "-",
        "Self-critical Sequence Training",
    ),
    (
        "Eligibility Trace",
        None,
        "not offered: no learner keeps traces (ppo/a2c gae_lambda is the forward view)",
        "any",
        "memory vector for credit assignment",
    ),
    ("Noisy Linear Layer", None, "not offered", _D, "parametric exploration noise"),
    ("D4PG", None, "not offered", _C, "distributed distributional DDPG"),
    (
        "Ape-X",
        None,
        "not offered; the nearest is maddpg-distributed (Ray collectors, --per)",
        _D,
        "distributed prioritized replay",
    ),
    (
        "AlphaStar",
        None,
        "not offered: StarCraft II league training, far beyond a benchmark run",
        _D,
        "SL from replays, then league self-play",
    ),
    ("Expected Sarsa", None, "not offered: tabular", _D, "Sarsa with the expectation over next actions"),
    (
        "Rainbow DQN",
        None,
        "not offered as one learner: dqn has n_steps, qrdqn is distributional, PER is maddpg's; "
        "no double Q, dueling or noisy layers",
        _D,
        "DQN with six extensions combined",
    ),
    (
        "DD-PPO",
        None,
        "not offered: multi-machine synchronous PPO; ppo runs vectorized envs on one machine",
        _DC,
        "Decentralized Distributed PPO",
    ),
    ("TLA", None, "not offered: the catalogue gives no description", "-", "Temporally Layered Architecture"),
    ("QR-DQN", "qrdqn", "sb3-contrib, shared weights", _D, "distributional DQN with quantile regression"),
    (
        "Recurrent PPO",
        "recurrent-ppo",
        "sb3-contrib, shared weights",
        _DC,
        "PPO with an LSTM policy for partial observability",
    ),
    (
        "Distributed MADDPG",
        "maddpg-distributed",
        "in-repo, Ray (train maddpg --distributed)",
        _MADDPG_ACTIONS,
        "collectors and asynchronous learners on Ray (paper 000, Fig. 5)",
    ),
    (
        "CTEDD",
        "ctedd",
        "in-repo",
        _C,
        "centralized training, policy distillation into local communicating policies (paper 001)",
    ),
    ("LBS", "lbs", "in-repo", _D, "large batch sharing across independent DQN agents (paper 004)"),
    ("IDQN", "idqn", "in-repo", _D, "independent DQN learners, own network and buffer"),
    ("PS-DQN", "ps-dqn", "in-repo", _D, "one DQN network and buffer shared by all agents"),
    (
        "IDQN, shared buffer",
        "idqn-shared-buffer",
        "in-repo",
        _D,
        "independent DQNs sampling one buffer shared by all agents",
    ),
    (
        "Random policy",
        "random",
        "in-repo baseline",
        _DC,
        "uniformly random actions: the floor every learning test beats",
    ),
)
"""``(name, command, offered, actions, description)``: paper 003's methods first, in its order."""

CATALOGUE: tuple[CatalogueRow, ...] = tuple(CatalogueRow(*row) for row in _ROWS)


def catalogue_rows(runnable: Iterable[str]) -> list[dict[str, str]]:
    """Rows with availability resolved against ``runnable`` (the registry's names; 'planned' for
    unbuilt in-repo ones). The registry is passed in, so the catalogue imports nothing above it."""
    runnable = set(runnable)
    rows = []
    for row in CATALOGUE:
        if row.command is None:
            status = "no"
        elif row.command in runnable:
            status = "yes"
        else:
            status = "planned"
        rows.append(
            {
                "method": row.name,
                "command": row.command or "-",
                "available": status,
                "how": row.offered,
                "actions": row.actions,
                "description": row.description,
            }
        )
    return rows
