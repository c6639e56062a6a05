"""A one-decision-per-step matching game, the cheapest env a learner can be seen to learn on.

Each step every agent observes a one-hot target among ``n_actions`` and earns 1 when its action
names it (else 0); targets are drawn anew every step. A random policy earns ``length / n_actions``
per agent and episode, a perfect one ``length``. Loaded as ``--env match_env:make`` (tests/ on the
path); the distributed tests put tests/ on the Ray workers' PYTHONPATH too.
"""

from __future__ import annotations

import numpy as np
from gymnasium import spaces
from pettingzoo.utils.env import ParallelEnv


class MatchEnv(ParallelEnv):
    metadata = {"name": "match_v0"}
    render_mode = None

    def __init__(self, length: int = 5, n_actions: int = 3) -> None:
        self.possible_agents = ["a", "b"]
        self.length, self.n_actions = length, n_actions
        self.max_cycles = length
        self.rng = np.random.default_rng(0)

    def observation_space(self, agent: str) -> spaces.Box:
        return spaces.Box(0.0, 1.0, (self.n_actions,), np.float32)

    def action_space(self, agent: str) -> spaces.Discrete:
        return spaces.Discrete(self.n_actions)

    def _draw(self) -> dict[str, np.ndarray]:
        self.targets = {a: int(self.rng.integers(self.n_actions)) for a in self.agents}
        return {a: np.eye(self.n_actions, dtype=np.float32)[t] for a, t in self.targets.items()}

    def reset(self, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self.agents = list(self.possible_agents)
        self.t = 0
        return self._draw(), {a: {} for a in self.agents}

    def step(self, actions):
        self.t += 1
        rewards = {a: float(int(actions[a]) == self.targets[a]) for a in self.agents}
        done = self.t >= self.length
        terms = dict.fromkeys(self.agents, done)
        truncs = dict.fromkeys(self.agents, False)
        infos = {a: {} for a in self.agents}
        obs = self._draw()
        if done:
            self.agents = []
        return obs, rewards, terms, truncs, infos


def make(length: int = 5, n_actions: int = 3) -> MatchEnv:
    return MatchEnv(length=length, n_actions=n_actions)
