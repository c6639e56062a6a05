"""Test doubles shared by the algorithm tests (tests/ is on sys.path, as for user_env)."""

from __future__ import annotations

from collections.abc import Mapping

from marlbench.envs.array import EpisodeRecord


class FakeRecorder:
    """Collects what an algorithm reports (the runner's recorder evaluates/checkpoints instead)."""

    def __init__(self) -> None:
        self.ticks: list[int] = []
        self.episodes: list[EpisodeRecord] = []
        self.stats: list[dict[str, float]] = []

    def tick(self, env_steps: int) -> None:
        self.ticks.append(env_steps)

    def log_episodes(self, env_steps: int, episodes: list[EpisodeRecord]) -> None:
        self.episodes += episodes

    def log_stats(self, env_steps: int, stats: Mapping[str, float]) -> None:
        self.stats.append(dict(stats))
