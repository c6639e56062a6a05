"""Shared fixtures and tiny settings: every test gets its own ledger directory and never touches
./marlbench-runs; ``TINY`` holds hyperparameters small enough for a few hundred env steps.

Test modules import the constants with ``from conftest import TINY`` (tests/ is on sys.path).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("MARLBENCH_THREADS", "1")

TINY_PPO: dict[str, Any] = {"n_envs": 1, "n_steps": 32, "batch_size": 32, "n_epochs": 1}
"""PPO with one env copy, 32-step rollouts and one epoch: a few hundred steps take a second."""

_TINY_OFF_POLICY_SB3: dict[str, Any] = {"learning_starts": 50, "buffer_size": 2000, "batch_size": 16}
_TINY_REPLAY: dict[str, Any] = {
    "batch_size": 32,
    "learning_starts": 64,
    "learn_every": 10,
    "buffer_size": 5000,
}

TINY: dict[str, dict[str, Any]] = {
    "ppo": TINY_PPO,
    "a2c": {"n_envs": 1, "n_steps": 5},
    "trpo": {"n_envs": 1, "n_steps": 64, "batch_size": 64, "n_critic_updates": 1},
    "recurrent-ppo": TINY_PPO,
    "dqn": _TINY_OFF_POLICY_SB3,
    "qrdqn": _TINY_OFF_POLICY_SB3,
    "sac": _TINY_OFF_POLICY_SB3,
    "td3": _TINY_OFF_POLICY_SB3,
    "ddpg": _TINY_OFF_POLICY_SB3,
    "maddpg": {**_TINY_REPLAY, "hidden_size": 32},
    "maddpg-distributed": {**_TINY_REPLAY, "hidden_size": 32, "sync_every": 50},
    "ctedd": {
        **_TINY_REPLAY,
        "distill_batch_size": 50,
        "distill_every": 200,
        "test_every": 200,
        "test_episodes": 4,
    },
    "lbs": {"learning_starts": 50, "buffer_size": 2000, "batch_size": 16, "num_envs": 1},
    "idqn": {"learning_starts": 50, "buffer_size": 2000, "batch_size": 16, "num_envs": 1},
    "idqn-shared-buffer": {"learning_starts": 50, "buffer_size": 2000, "batch_size": 16, "num_envs": 1},
    "ps-dqn": {"learning_starts": 50, "buffer_size": 2000, "batch_size": 16, "num_envs": 1},
    "random": {"num_envs": 1},
}
"""Per algorithm: hyperparameters for a run of a few hundred env steps (every registered algorithm)."""


def tiny_cli_args(algo: str = "ppo", steps: int = 200, eval_episodes: int = 2) -> list[str]:
    """``marlbench train`` arguments for a tiny run of ``algo``: ``--steps``, ``--set`` pairs, evaluation."""
    sets = [arg for key, value in TINY[algo].items() for arg in ("--set", f"{key}={value}")]
    return ["--steps", str(steps), *sets, "--eval-episodes", str(eval_episodes)]


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Small networks on a shared 2-core machine: a second intra-op thread only adds waiting."""
    from marlbench.algos.base import torch_threads

    with torch_threads(1):
        yield


@pytest.fixture
def ledger_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh ledger directory, also exported as MARLBENCH_LEDGER for CLI tests."""
    path = tmp_path / "ledger"
    monkeypatch.setenv("MARLBENCH_LEDGER", str(path))
    return path


@pytest.fixture
def ledger(ledger_dir: Path):
    from marlbench.ledger import Ledger

    return Ledger(ledger_dir, create=True)


@pytest.fixture
def fake_algo() -> Iterator[type]:
    """The ``fake`` algorithm (:class:`fakes.FakeAlgorithm`) in the real registry, for one test."""
    from fakes import FakeAlgorithm, register_fake, unregister_fake

    register_fake()
    try:
        yield FakeAlgorithm
    finally:
        unregister_fake()


# ---- fault-injection summary ------------------------------------------------------------------
FAULT_LINES: dict[str, str] = {}
"""Fault class -> its figures, filled by the fault tests through :func:`fault_line`; printed at the
end of the session (one line per class, the README's reliability section quotes them)."""


@pytest.fixture
def fault_line() -> Any:
    """``fault_line("crash+resume x10", "0 duplicate rows, 0 lost")`` records one summary line."""

    def record(fault: str, figures: str) -> None:
        FAULT_LINES[fault] = figures

    return record


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if FAULT_LINES:
        terminalreporter.section("fault injection")
        for fault in sorted(FAULT_LINES):
            terminalreporter.write_line(f"{fault}: {FAULT_LINES[fault]}")
