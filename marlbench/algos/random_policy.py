"""The uniform random policy: the reference every learner must beat.

Each agent draws its action uniformly from its action space (``Discrete(n)``: each of the ``n``
actions with probability ``1/n``; ``Box``: uniform between the bounds) at every step, ignoring its
observation. ``learn`` only plays the environment (so a ``random`` run has episode rows like any
other and a flat learning curve); nothing is trained. ``compare`` shows a ``random`` run of the
same environment and options as a reference row, and the learning-curve figures draw its score as
a dashed line (:mod:`marlbench.api.references` plans one per environment of a preset).

Same seed, same result: the actions come from one ``numpy`` generator seeded by the run's seed,
saved in the checkpoint. Imports stay light (tables import :data:`REFERENCE_ALGO` from here).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from marlbench.algos import hparams

if TYPE_CHECKING:
    from gymnasium import spaces

    from marlbench.algos.base import EnvContext, Recorder

REFERENCE_ALGO = "random"
"""The registry name of this policy."""
REFERENCE_TAG = "reference"
"""The tag of the random runs tables and figures use as their reference."""


@dataclass
class RandomConfig:
    """The random policy has no hyperparameters but the number of env copies it plays."""

    num_envs: int = hparams.num_envs(1)


def sample(space: spaces.Space, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """``shape`` independent uniform draws from ``space`` (``Discrete`` or bounded ``Box``)."""
    from gymnasium import spaces

    if isinstance(space, spaces.Discrete):
        return space.start + rng.integers(0, int(space.n), size=shape)
    if isinstance(space, spaces.Box):
        low = np.broadcast_to(space.low, space.shape)
        high = np.broadcast_to(space.high, space.shape)
        if not (np.isfinite(low).all() and np.isfinite(high).all()):
            raise ValueError(f"cannot draw uniformly from an unbounded action space {space}")
        draws = rng.uniform(low, high, size=(*shape, *space.shape))
        return draws.astype(space.dtype, copy=False)
    raise ValueError(f"the random policy supports Discrete and Box actions, not {space}")


class RandomPolicy:
    """Acts uniformly at random; ``learn`` plays ``total_steps`` env steps and records the episodes."""

    def __init__(self, env: EnvContext, config: RandomConfig | None = None, seed: int = 0) -> None:
        self.env = env
        self.config = config or RandomConfig()
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.steps_done = 0
        self.updates_done = 0
        """The random policy never learns: always 0 gradient updates."""
        probe = env.make_array(1, with_state=False)
        try:
            self.agents: list[str] = list(probe.agents)
            self.action_space = probe.action_space
        finally:
            probe.close()
        self._train_env: Any = None

    def act(self, observations: Mapping[str, np.ndarray], deterministic: bool = True) -> dict[str, Any]:
        """A uniform action for every agent in ``observations`` (``deterministic`` changes nothing)."""
        return {agent: sample(self.action_space, self.rng, ()) for agent in observations}

    def learn(self, total_steps: int, recorder: Recorder) -> None:
        """Play random actions on ``num_envs`` copies until ``steps_done >= total_steps``."""
        if self._train_env is None:
            self._train_env = self.env.make_array(
                self.config.num_envs, seed=self.env.seed + self.steps_done, with_state=False
            )
            self._train_env.reset()
        env = self._train_env
        shape = (env.num_envs, len(self.agents))
        while self.steps_done < total_steps:
            step = env.step(sample(self.action_space, self.rng, shape))
            self.steps_done += env.num_envs
            if step.episodes:
                recorder.log_episodes(self.steps_done, step.episodes)
            recorder.tick(self.steps_done)

    def save(self, directory: Path) -> None:
        from marlbench.algos.checkpoint import write_checkpoint

        state = {"format": 1, "shape": {"agents": len(self.agents)}, "steps_done": self.steps_done}
        state["rng"] = self.rng.bit_generator.state
        write_checkpoint(directory, "random.pt", state)

    def load(self, directory: Path) -> None:
        from marlbench.algos.checkpoint import read_checkpoint

        state = read_checkpoint(Path(directory), "random.pt", "random", {"agents": len(self.agents)})
        self.steps_done = int(state["steps_done"])
        self.rng.bit_generator.state = state["rng"]
        self.close()

    def close(self) -> None:
        if self._train_env is not None:
            self._train_env.close()
            self._train_env = None
