"""Shared fixtures: every test gets its own ledger directory and never touches ./marlbench-runs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("MARLBENCH_THREADS", "1")


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
