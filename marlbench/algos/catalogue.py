"""The catalogue of RL methods (paper 003, the Papers-with-Code list) and how marlbench offers each.

A row names a method, how marlbench offers it (an algorithm name, an option of one, or not at all),
its action spaces and one line of description. Whether an in-repo algorithm is runnable is read
from the registry, so a row says "planned" until its class is registered.
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


CATALOGUE: tuple[CatalogueRow, ...] = (
    CatalogueRow(
        "PPO",
        "ppo",
        "SB3, shared weights",
        "discrete, continuous",
        "clipped surrogate policy gradient; the papers' strongest shared-weight baseline",
    ),
    CatalogueRow(
        "A2C",
        "a2c",
        "SB3, shared weights",
        "discrete, continuous",
        "synchronous advantage actor-critic (n-step returns, entropy bonus)",
    ),
    CatalogueRow(
        "A3C",
        "a2c",
        "as a2c (synchronous); asynchrony is not reproduced",
        "discrete, continuous",
        "asynchronous actor-critic; A2C is its synchronous, equally good variant",
    ),
    CatalogueRow(
        "DQN", "dqn", "SB3, shared weights", "discrete", "Q-learning with a target network and replay"
    ),
    CatalogueRow(
        "Double Q-learning",
        None,
        "not offered: SB3 dqn uses plain max targets",
        "discrete",
        "decouples action selection from evaluation to curb overestimation",
    ),
    CatalogueRow(
        "Dueling Network",
        None,
        "not offered: no SB3 policy; planned as an in-repo DQN option",
        "discrete",
        "separate value and advantage streams in the Q-network",
    ),
    CatalogueRow(
        "QR-DQN",
        "qrdqn",
        "sb3-contrib, shared weights",
        "discrete",
        "distributional DQN with quantile regression",
    ),
    CatalogueRow(
        "DDPG",
        "ddpg",
        "SB3, shared weights",
        "continuous",
        "deterministic policy gradient with replay and target networks",
    ),
    CatalogueRow(
        "TD3",
        "td3",
        "SB3, shared weights",
        "continuous",
        "DDPG with clipped double Q, delayed updates and target smoothing",
    ),
    CatalogueRow(
        "Soft Actor Critic",
        "sac",
        "SB3, shared weights",
        "continuous",
        "maximum-entropy off-policy actor-critic",
    ),
    CatalogueRow(
        "TRPO",
        "trpo",
        "sb3-contrib, shared weights",
        "discrete, continuous",
        "policy gradient inside a KL trust region",
    ),
    CatalogueRow(
        "Recurrent PPO",
        "recurrent-ppo",
        "sb3-contrib, shared weights",
        "discrete, continuous",
        "PPO with an LSTM policy for partial observability",
    ),
    CatalogueRow(
        "MADDPG",
        "maddpg",
        "in-repo",
        "discrete (Gumbel-softmax), continuous",
        "decentralized actors, one centralized critic per agent (paper 000)",
    ),
    CatalogueRow(
        "Prioritized Experience Replay",
        "maddpg",
        "option --per (rank-based or proportional)",
        "any off-policy",
        "replay transitions in proportion to their TD error (paper 000 eq. 7)",
    ),
    CatalogueRow(
        "Experience Replay",
        "maddpg",
        "built into every off-policy learner",
        "any off-policy",
        "learn from a buffer of past transitions",
    ),
    CatalogueRow(
        "CTEDD",
        "ctedd",
        "in-repo",
        "continuous",
        "centralized training, policy distillation into local communicating policies (paper 001)",
    ),
    CatalogueRow(
        "LBS", "lbs", "in-repo", "discrete", "large batch sharing across independent DQN agents (paper 004)"
    ),
    CatalogueRow("IDQN", "idqn", "in-repo", "discrete", "independent DQN learners, own network and buffer"),
    CatalogueRow(
        "PS-DQN", "ps-dqn", "in-repo", "discrete", "one DQN network and buffer shared by all agents"
    ),
    CatalogueRow(
        "IDQN, shared buffer",
        "idqn-shared-buffer",
        "in-repo",
        "discrete",
        "independent DQNs sampling one buffer shared by all agents",
    ),
    CatalogueRow(
        "Q-Learning",
        None,
        "not offered: tabular; use dqn",
        "discrete",
        "off-policy TD control on a table of action values",
    ),
    CatalogueRow("Sarsa", None, "not offered: tabular", "discrete", "on-policy TD control"),
    CatalogueRow(
        "Expected Sarsa",
        None,
        "not offered: tabular",
        "discrete",
        "Sarsa with the expectation over next actions",
    ),
    CatalogueRow(
        "REINFORCE", None, "not offered: use a2c/ppo", "discrete, continuous", "Monte Carlo policy gradient"
    ),
    CatalogueRow("DPG", "ddpg", "as ddpg", "continuous", "deterministic policy gradient"),
    CatalogueRow(
        "N-step Returns",
        None,
        "not offered as an option yet",
        "any",
        "bootstrap after n rewards instead of one",
    ),
    CatalogueRow("Noisy Linear Layer", None, "not offered", "discrete", "parametric exploration noise"),
    CatalogueRow("R2D2", None, "not offered", "discrete", "recurrent replay distributed DQN"),
    CatalogueRow("Ape-X", None, "not offered", "discrete", "distributed prioritized replay"),
    CatalogueRow("D4PG", None, "not offered", "continuous", "distributed distributional DDPG"),
    CatalogueRow("ACER", None, "not offered", "discrete", "actor-critic with experience replay"),
    CatalogueRow("V-trace", None, "not offered", "discrete, continuous", "off-policy correction for IMPALA"),
    CatalogueRow("Retrace", None, "not offered", "discrete", "safe off-policy return estimation"),
    CatalogueRow("TD Lambda", None, "not offered: tabular/linear", "any", "eligibility-trace TD learning"),
    CatalogueRow(
        "MuZero", None, "not offered: model-based planning", "discrete", "learned model plus tree search"
    ),
    CatalogueRow(
        "AlphaZero",
        None,
        "not offered: needs a perfect simulator",
        "discrete",
        "self-play with Monte-Carlo tree search",
    ),
    CatalogueRow("Monte-Carlo Tree Search", None, "not offered", "discrete", "planning by simulation"),
    CatalogueRow("IQL", None, "not offered: offline RL", "any", "implicit Q-learning from fixed data"),
)


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
