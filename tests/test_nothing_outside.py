"""No command writes outside the ledger, the cache and the paths the user names (here: the temp dir)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CLI = [sys.executable, "-c", "from marlbench.cli import app; app()"]


@pytest.mark.slow
def test_short_sb3_and_maddpg_runs_leave_the_temp_dir_empty(tmp_path: Path) -> None:
    temp, cache, ledger = tmp_path / "tmp", tmp_path / "cache", tmp_path / "ledger"
    temp.mkdir()
    env = {**os.environ, "TMPDIR": str(temp), "MARLBENCH_CACHE": str(cache), "COLUMNS": "200"}
    env.pop("TORCHINDUCTOR_CACHE_DIR", None)
    runs = [
        ["train", "ppo", "--env", "mpe-spread", "--steps", "128", "--set", "n_envs=1", "--set", "n_steps=32"],
        ["train", "maddpg", "--env", "mpe-spread", "--steps", "300", "--set", "learning_starts=64"],
    ]
    for args in runs:
        done = subprocess.run(
            [*CLI, *args, "--set", "batch_size=32", "--eval-episodes", "1", "--ledger", str(ledger)],
            env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(p.name for p in temp.iterdir()) == []  # no SB3-<date>, no torchinductor_<user>
    assert (ledger / "runs").is_dir()
