"""The console script pins PYTHONHASHSEED (same seed, same result across processes: SMARTS depends
on the hash seed) by replacing itself once, and keeps a hash seed the user set."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from marlbench.cli import entry


def test_a_command_without_a_hash_seed_reexecs_itself_with_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTHONHASHSEED", raising=False)
    monkeypatch.delenv("MARLBENCH_NO_REEXEC", raising=False)
    monkeypatch.setattr(sys, "argv", ["marlbench", "compare", "--preset", "x"])
    calls = []

    def fake_exec(path: str, argv: list[str]) -> None:
        calls.append((path, argv, os.environ["PYTHONHASHSEED"]))
        raise SystemExit(0)

    monkeypatch.setattr(os, "execv", fake_exec)
    with pytest.raises(SystemExit):
        entry.main()
    assert calls == [(sys.executable, [sys.executable, "-m", "marlbench", "compare", "--preset", "x"], "0")]


def test_a_hash_seed_the_user_set_is_kept_and_nothing_reexecs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONHASHSEED", "7")
    monkeypatch.setattr(os, "execv", lambda *a: pytest.fail("must not exec"))
    ran = []
    monkeypatch.setattr("marlbench.cli.app", lambda **kw: ran.append(kw))
    entry.main()
    assert ran == [{"prog_name": "marlbench"}] and os.environ["PYTHONHASHSEED"] == "7"


def test_the_script_really_replaces_itself_and_runs() -> None:
    """For real, without a hash seed: the command re-executes as ``python -m marlbench`` and prints
    its usage under the script's name."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONHASHSEED", "MARLBENCH_NO_REEXEC")}
    code = "import sys; sys.argv = ['marlbench', '--help']; from marlbench.cli import entry; entry.main()"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "Usage: marlbench" in out.stdout
