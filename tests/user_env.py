"""A user's own environment, loaded by tests through ``--env user_env:make`` (tests/ is on sys.path)."""

from __future__ import annotations

import numpy as np
from gymnasium import spaces
from pettingzoo.utils.env import ParallelEnv


class CountingEnv(ParallelEnv):
    """Two agents; agent ``a`` leaves after 2 steps, ``b`` after ``length``. Reward 1 (a) and 2 (b) per step.

    Known returns make it a fixture for per-agent bookkeeping: a gets 2.0 over 2 steps, b gets
    2 * length over ``length`` steps; ``episode_metrics`` reports the step count on each agent's
    last step.
    """

    metadata = {"name": "counting_v0"}
    render_mode = None

    def __init__(self, length: int = 4, continuous: bool = False) -> None:
        self.possible_agents = ["a", "b"]
        self.length = length
        self.continuous = continuous
        self.max_cycles = length

    def observation_space(self, agent: str) -> spaces.Box:
        return spaces.Box(-10.0, 10.0, (2,), np.float32)

    def action_space(self, agent: str) -> spaces.Space:
        return spaces.Box(-1.0, 1.0, (2,), np.float32) if self.continuous else spaces.Discrete(2)

    def _obs(self) -> dict[str, np.ndarray]:
        return {a: np.array([self.t, i], np.float32) for i, a in enumerate(self.agents)}

    def reset(self, seed: int | None = None, options: dict | None = None):
        self.agents = list(self.possible_agents)
        self.t = 0
        return self._obs(), {a: {} for a in self.agents}

    def step(self, actions):
        self.t += 1
        rewards = {a: (1.0 if a == "a" else 2.0) for a in self.agents}
        ends = {a: (a == "a" and self.t == 2) or self.t == self.length for a in self.agents}
        terms = dict(ends)
        truncs = dict.fromkeys(self.agents, False)
        infos = {a: ({"episode_metrics": {"steps": float(self.t)}} if ends[a] else {}) for a in self.agents}
        obs = self._obs()
        self.agents = [a for a in self.agents if not ends[a]]
        return obs, rewards, terms, truncs, infos


def make(length: int = 4, continuous: bool = False) -> CountingEnv:
    return CountingEnv(length=length, continuous=continuous)


def not_an_env() -> int:
    return 3


class Interrupt:
    """Raise KeyboardInterrupt once, on the global step given by ``at`` (shared by every env copy)."""

    remaining: int | None = None


class InterruptingEnv(CountingEnv):
    """CountingEnv that simulates the user's Ctrl-C once, after ``Interrupt.remaining`` steps."""

    def step(self, actions):
        if Interrupt.remaining is not None:
            Interrupt.remaining -= 1
            if Interrupt.remaining <= 0:
                Interrupt.remaining = None
                raise KeyboardInterrupt
        return super().step(actions)


def make_interrupting(length: int = 4) -> InterruptingEnv:
    return InterruptingEnv(length=length)
