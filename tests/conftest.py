"""Shared fixtures: every test gets its own ledger directory and never touches ./marlbench-runs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("MARLBENCH_THREADS", "1")


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
