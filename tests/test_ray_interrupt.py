"""Ctrl-C stops a preset sweep on Ray: every run task is cancelled, checkpoints and is marked
``interrupted``; the command exits 130 and leaves no Ray process of the local Ray it started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from marlbench.ledger import Ledger

pytest.importorskip("ray")

PRESET = """\
description = "two long MADDPG runs, to interrupt"
[defaults]
env = "mpe-spread"
steps = 200000
seeds = 2
eval_episodes = 1
hyperparams = { learning_starts = 64, batch_size = 32, hidden_size = 16 }
[[variants]]
name = "maddpg"
algo = "maddpg"
"""


def _ray_processes() -> int:
    found = subprocess.run(["pgrep", "-f", "raylet|gcs_server"], capture_output=True, text=True)
    return len(found.stdout.split())


@pytest.mark.slow
def test_ctrl_c_of_preset_run_on_ray_interrupts_every_run(tmp_path: Path, fault_line) -> None:
    path = tmp_path / "long.toml"
    path.write_text(PRESET)
    ledger_dir = tmp_path / "ledger"
    before = _ray_processes()
    command = [
        sys.executable, "-c", "from marlbench.cli import app; app()",
        "preset", "run", str(path), "--ray", "--ledger", str(ledger_dir),
    ]  # fmt: skip
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    started = time.monotonic()
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            runs = Ledger(ledger_dir).runs() if (ledger_dir / "runs").is_dir() else None
            if (
                runs is not None
                and (runs["algo"] == "maddpg").sum() == 2
                and set(runs["status"]) == {"running"}
            ):
                break
            time.sleep(0.5)
        else:
            pytest.fail("the runs never started")
        time.sleep(3.0)
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=180)
    finally:
        proc.kill()
    assert proc.returncode == 130, output
    runs = Ledger(ledger_dir).runs()
    maddpg = runs[runs["algo"] == "maddpg"]
    assert list(maddpg["status"]) == ["interrupted", "interrupted"], output
    assert all(maddpg["checkpoint"]) and all(0 < s < 200_000 for s in maddpg["steps"])
    assert "interrupted:" in output
    deadline = time.monotonic() + 30
    while _ray_processes() > before and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _ray_processes() <= before, "the local Ray marlbench started is still running"
    fault_line(
        "Ctrl-C of preset run --ray",
        f"exit 130, 2 runs interrupted with checkpoints, local Ray gone, {time.monotonic() - started:.0f} s",
    )
