"""Test doubles: a recorder that collects what an algorithm reports, and a fake algorithm.

tests/ is on sys.path (as for user_env), so ``register_fake()`` can put :class:`FakeAlgorithm` in
the real algorithm registry under the name ``fake`` (the ``fake_algo`` fixture in conftest does it
for one test). It acts at random on any ParallelEnv, learns nothing, and keeps a record of what it
was told, so the runner, recorder, evaluation schedule and sweep can be tested in milliseconds.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from marlbench.algos.base import EnvContext, Recorder, hp
from marlbench.envs.array import EpisodeRecord
from marlbench.errors import ConfigError, Diverged


class FakeRecorder:
    """Collects what an algorithm reports (the runner's recorder evaluates/checkpoints instead)."""

    def __init__(self) -> None:
        self.ticks: list[int] = []
        self.episodes: list[EpisodeRecord] = []
        self.stats: list[dict[str, float]] = []
        self.evaluations: list[tuple[int, str, list[EpisodeRecord]]] = []

    def tick(self, env_steps: int) -> None:
        self.ticks.append(env_steps)

    def log_episodes(self, env_steps: int, episodes: list[EpisodeRecord]) -> None:
        self.episodes += episodes

    def log_stats(self, env_steps: int, stats: Mapping[str, float]) -> None:
        self.stats.append(dict(stats))

    def log_evaluation(self, env_steps: int, records: list[EpisodeRecord], policy: str = "") -> int:
        self.evaluations.append((env_steps, policy, records))
        return len(self.evaluations) - 1


STOPS = ("interrupt", "error", "diverge")


@dataclass
class FakeConfig:
    """Hyperparameters of the fake: how it steps and how (and when) it stops early."""

    steps_per_tick: int = hp(1, "env steps counted per env step taken (a vectorized learner's stride)", low=1)
    stop_at: int = hp(0, "stop with `stop_with` once this many env steps are done (0: never)", low=0)
    stop_with: str = hp("interrupt", "how to stop: Ctrl-C, a RuntimeError or divergence", choices=STOPS)
    refuse: bool = hp(False, "refuse the environment in the constructor (a ConfigError)")
    noise: float = hp(1.0, "scale of the random training actions (continuous spaces)", low=0.0)


class FakeAlgorithm:
    """Random training actions, a fixed deterministic rule (action 0 / zeros), and a log of its calls."""

    instances: ClassVar[list[FakeAlgorithm]] = []
    """Every instance built since the last ``register_fake()``, in order."""

    def __init__(self, env: EnvContext, config: FakeConfig, seed: int) -> None:
        if config.refuse:
            raise ConfigError(f"fake refuses '{env.spec.name}'", "set refuse=false")
        self.env, self.config, self.seed = env, config, seed
        self.rng = np.random.default_rng(seed)
        probe = env.make(seed)
        self.spaces = {agent: probe.action_space(agent) for agent in probe.possible_agents}
        probe.close()
        self.steps_done = 0
        self.ticks: list[int] = []
        self.deterministic_acts = 0
        self.episode_resets = 0
        self.saved_at: list[int] = []
        self.loaded_at: int | None = None
        self.closed = False
        FakeAlgorithm.instances.append(self)

    def act(self, observations: Mapping[str, np.ndarray], deterministic: bool = True) -> dict[str, Any]:
        self.deterministic_acts += bool(deterministic)
        return {agent: self._action(agent, deterministic) for agent in observations}

    def _action(self, agent: str, deterministic: bool) -> Any:
        space = self.spaces[agent]
        if hasattr(space, "n"):
            return 0 if deterministic else int(self.rng.integers(space.n))
        if deterministic:
            return np.clip(np.zeros(space.shape, space.dtype), space.low, space.high)
        sample = self.rng.normal(0.0, self.config.noise, space.shape)
        return np.clip(sample, space.low, space.high).astype(space.dtype)

    def learn(self, total_steps: int, recorder: Recorder) -> None:
        env = self.env.make(self.seed + self.steps_done)
        try:
            while self.steps_done < total_steps:
                self._episode(env, total_steps, recorder)
        finally:
            env.close()

    def _episode(self, env: Any, total_steps: int, recorder: Recorder) -> None:
        obs, _ = env.reset(seed=int(self.rng.integers(2**31)))
        returns = dict.fromkeys(env.possible_agents, 0.0)
        lengths = dict.fromkeys(env.possible_agents, 0)
        metrics: dict[str, dict[str, float]] = {}
        while env.agents and self.steps_done < total_steps:
            obs, rewards, _, _, infos = env.step(
                self.act({a: obs[a] for a in env.agents}, deterministic=False)
            )
            for agent, reward in rewards.items():
                returns[agent] += float(reward)
                lengths[agent] += 1
                if (infos.get(agent) or {}).get("episode_metrics"):
                    metrics[agent] = dict(infos[agent]["episode_metrics"])
            self.steps_done += self.config.steps_per_tick
            if not env.agents:
                recorder.log_episodes(self.steps_done, [EpisodeRecord(0, returns, lengths, metrics)])
            recorder.log_stats(self.steps_done, {"steps": float(self.steps_done)})
            self.ticks.append(self.steps_done)
            recorder.tick(self.steps_done)
            self._maybe_stop()

    def _maybe_stop(self) -> None:
        cfg = self.config
        if not cfg.stop_at or self.steps_done != cfg.stop_at:
            return
        if cfg.stop_with == "interrupt":
            raise KeyboardInterrupt
        if cfg.stop_with == "diverge":
            raise Diverged(f"fake diverged at step {self.steps_done}")
        raise RuntimeError(f"fake failed at step {self.steps_done}")

    def reset_episode(self) -> None:
        self.episode_resets += 1

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        state = {"steps_done": self.steps_done, "rng": self.rng.bit_generator.state}
        (directory / "fake.json").write_text(json.dumps(state))
        self.saved_at.append(self.steps_done)

    def load(self, directory: Path) -> None:
        state = json.loads((directory / "fake.json").read_text())
        self.steps_done = int(state["steps_done"])
        self.rng.bit_generator.state = state["rng"]
        self.loaded_at = self.steps_done

    def close(self) -> None:
        self.closed = True


def register_fake() -> None:
    """Put ``fake`` into the real algorithm registry (undo with :func:`unregister_fake`)."""
    from marlbench.algos import register_in_repo

    FakeAlgorithm.instances = []
    register_in_repo(
        "fake",
        "fakes",
        "FakeAlgorithm",
        "FakeConfig",
        description="test double: random actions, records its calls",
        action_kinds=frozenset({"discrete", "continuous"}),
    )


def unregister_fake() -> None:
    from marlbench.algos import IN_REPO

    IN_REPO.pop("fake", None)


class CtrlCAt:
    """A progress sink that presses Ctrl-C once the run has passed ``at`` env steps."""

    def __init__(self, at: int) -> None:
        self.at, self.fired = at, False

    def start(self, run_id: str, total: int, label: str) -> None:
        pass

    def update(self, run_id: str, steps: int, info: dict[str, Any]) -> None:
        if not self.fired and steps >= self.at:
            self.fired = True
            raise KeyboardInterrupt

    def finish(self, run_id: str, status: str) -> None:
        pass
