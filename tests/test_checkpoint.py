"""Checkpoints of in-repo learners: atomic writes (a SIGKILL mid-save loses nothing), checked loads."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from test_lbs import SIGNAL, make_algo

from marlbench.algos.base import EnvContext, resolve_config
from marlbench.algos.checkpoint import read_checkpoint
from marlbench.algos.dqn.config import DQNConfig
from marlbench.algos.dqn.lbs import IDQN, LBS
from marlbench.errors import ConfigError

TESTS = Path(__file__).resolve().parent

# The child saves an IDQN checkpoint over the parent's, with torch.save slowed down: it writes the
# first half of the real bytes, says so, and hangs, so the parent can SIGKILL it mid-write.
CHILD = textwrap.dedent(
    """
    import io, sys, time
    import torch
    sys.path.insert(0, {tests!r})
    from test_lbs import IDQN, make_algo

    real_save = torch.save

    def half_then_hang(obj, f):
        buffer = io.BytesIO()
        real_save(obj, buffer)
        data = buffer.getvalue()
        with open(f, "wb") as out:
            out.write(data[: len(data) // 2])
            out.flush()
            print("writing", f, flush=True)
            time.sleep(120)

    torch.save = half_then_hang
    make_algo(IDQN, seed=3).save({directory!r})
    """
)


def _params(algo: object) -> list[torch.Tensor]:
    return [p.detach().clone() for p in algo.online.parameters()]


def test_dqn_checkpoint_survives_sigkill_during_save(tmp_path: Path, fault_line) -> None:
    saved = make_algo(IDQN, seed=0)
    saved.save(tmp_path)
    expected = _params(saved)
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD.format(tests=str(TESTS), directory=str(tmp_path))],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])},
    )
    try:
        line = child.stdout.readline()  # blocks until the child is half way through its write
        assert line.startswith("writing"), line
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()
    half_written = Path(line.split(" ", 1)[1].strip())
    assert half_written.exists() and half_written.stat().st_size > 0  # the kill did land mid-write
    assert half_written != tmp_path / "dqn.pt"
    fresh = make_algo(IDQN, seed=9)
    fresh.load(tmp_path)  # the old checkpoint, whole
    assert all(torch.equal(a, b) for a, b in zip(_params(fresh), expected, strict=True))
    # the next save replaces both the stray partial file and the checkpoint
    other = make_algo(IDQN, seed=5)
    other.save(tmp_path)
    fresh.load(tmp_path)
    assert all(torch.equal(a, b) for a, b in zip(_params(fresh), _params(other), strict=True))
    fault_line(
        "SIGKILL during a checkpoint save", "the previous checkpoint loads whole, the next save replaces it"
    )


def test_dqn_load_refuses_another_shape_or_algorithm(tmp_path: Path) -> None:
    make_algo(IDQN).save(tmp_path)
    with pytest.raises(ConfigError, match="cnn_channels"):
        make_algo(IDQN, cnn_channels="8,16").load(tmp_path)
    with pytest.raises(ConfigError, match="head_hidden"):
        make_algo(IDQN, head_hidden=4).load(tmp_path)
    with pytest.raises(ConfigError, match="algorithm='IDQN'"):
        make_algo(LBS).load(tmp_path)
    config = resolve_config(DQNConfig, {"cnn_channels": "8,8", "device": "cpu"}, "IDQN")
    two_agents = IDQN(EnvContext(SIGNAL, {"n_agents": 2}, 0), config, 0)
    with pytest.raises(ConfigError, match="n_learners"):
        two_agents.load(tmp_path)
    with pytest.raises(ConfigError, match="no IDQN checkpoint"):
        make_algo(IDQN).load(tmp_path / "missing")


def test_a_checkpoint_without_a_shape_record_is_refused(tmp_path: Path) -> None:
    torch.save({"online": {}}, tmp_path / "dqn.pt")  # the format before shape-checked loads
    with pytest.raises(ConfigError, match="records no network shape"):
        read_checkpoint(tmp_path, "dqn.pt", "IDQN", {"algorithm": "IDQN"})
