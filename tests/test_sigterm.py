"""SIGTERM (what batch schedulers send) stops a run like Ctrl-C: checkpoint, `interrupted`, real wall time."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from marlbench.ledger import Ledger


@pytest.mark.slow
def test_sigterm_marks_the_run_interrupted_with_its_wall_time(tmp_path: Path, fault_line) -> None:
    ledger_dir = tmp_path / "ledger"
    command = [
        sys.executable, "-c", "from marlbench.cli import app; app()",
        "train", "maddpg", "--env", "mpe-spread",
        "--steps", "200000", "--eval-episodes", "1", "--ledger", str(ledger_dir),
        "--set", "learning_starts=64", "--set", "batch_size=32", "--set", "hidden_size=16",
    ]  # fmt: skip
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if list((ledger_dir / "runs").glob("*.parquet")) if ledger_dir.exists() else []:
                break  # the run row is written when training starts
            time.sleep(0.2)
        time.sleep(2.0)
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, output
    row = Ledger(ledger_dir).runs().iloc[0]
    assert row["status"] == "interrupted" and row["checkpoint"], output
    assert row["wall_time_s"] > 0.5 and 0 < row["steps"] < 200_000
    assert f"marlbench train --resume {row['run_id']}" in output.replace("\n", "")
    assert "interrupted:" in output and "[yellow]" not in output  # styled, not printed as markup
    fault_line("SIGTERM", f"exit 130, run interrupted with checkpoint, wall {row['wall_time_s']:.1f} s kept")
