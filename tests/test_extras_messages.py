"""A missing optional dependency names the project's own extra, which installs everything it needs."""

from __future__ import annotations

import importlib
import sys

import pytest

from marlbench.errors import ConfigError


def test_missing_smarts_names_the_marlbench_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from marlbench.envs.smarts_intersection import sumo

    monkeypatch.setitem(sys.modules, "smarts.core", None)  # makes 'import smarts.core' fail
    with pytest.raises(ConfigError) as caught:
        sumo.sumo_binary_for_smarts()
    assert 'pip install "marlbench[smarts]"' in caught.value.fix  # not smarts[sumo] alone


def test_missing_ale_names_the_marlbench_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "ale_py" else real(name)
    )
    monkeypatch.delitem(sys.modules, "marlbench.envs.atari", raising=False)
    with pytest.raises(ImportError, match=r'pip install "marlbench\[atari\]"'):
        importlib.import_module("marlbench.envs.atari")
    monkeypatch.undo()
    importlib.import_module("marlbench.envs.atari")  # the real module is back for later tests
