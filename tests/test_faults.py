"""Faults (issue 19, items 5 and 6): a full disk ends in one message with the run marked failed and no
temp files left, the workers of ``--jobs 2`` die with their parent, and an SB3 checkpoint runs no code
(item 7)."""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import pytest
from typer.testing import CliRunner

from marlbench.cli import app
from marlbench.ledger import Ledger
from marlbench.ledger import files as ledger_files

pytestmark = pytest.mark.usefixtures("fake_algo")
FULL = OSError(errno.ENOSPC, "No space left on device")
TRAIN = ["train", "fake", "--env", "cn-v1", "--steps", "200", "--eval-every", "50", "--eval-episodes", "1"]


def leftovers(root: Path) -> list[Path]:
    """Temporary files and folders of atomic writes (``.x.tmp``, ``.tmp-*``, ``.old-*``) under ``root``."""
    return [p for p in root.rglob(".*") if p.name.endswith(".tmp") or p.name[:5] in (".tmp-", ".old-")]


def fill_disk(monkeypatch, *, rows_fit: bool, checkpoints_fit: bool = True) -> None:
    """From now on chunk writes (and run rows unless ``rows_fit``, checkpoints unless ``checkpoints_fit``)
    fail half-way with ENOSPC, as on a full disk."""
    real = ledger_files.pq.write_table

    def write_table(table, where, *args, **kwargs):
        if not rows_fit or f"{os.sep}runs{os.sep}" not in str(getattr(where, "name", where)):
            where.write(b"PAR1 half a file")
            raise FULL
        return real(table, where, *args, **kwargs)

    monkeypatch.setattr(ledger_files.pq, "write_table", write_table)
    if not checkpoints_fit:
        from fakes import FakeAlgorithm

        def save(self, directory: Path) -> None:
            directory.mkdir(parents=True, exist_ok=True)
            (directory / "fake.json").write_text("{")
            raise FULL

        monkeypatch.setattr(FakeAlgorithm, "save", save)


def check_one_message(result) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and result.output.count("error:") == 1
    assert "no space left on" in result.output and "free space or choose another --ledger" in result.output


@pytest.mark.parametrize("checkpoints_fit", [True, False])
def test_full_disk_marks_the_run_failed_with_one_message(
    ledger, monkeypatch, checkpoints_fit, fault_line
) -> None:
    ledger.check_writable()
    fill_disk(monkeypatch, rows_fit=True, checkpoints_fit=checkpoints_fit)
    extra = [] if checkpoints_fit else ["--checkpoint-every", "30"]
    result = CliRunner().invoke(app, [*TRAIN, *extra])
    check_one_message(result)
    (row,) = ledger.runs().to_dict("records")
    assert row["status"] == "failed" and "no space left on" in row["error"]
    assert leftovers(ledger.root) == []
    fault_line("full disk", "one message, exit 2, run marked failed with the reason, 0 temp files left")


def test_full_disk_everywhere_still_one_message_and_no_leftovers(ledger, monkeypatch) -> None:
    from marlbench.ledger.store import Ledger

    real_put = Ledger._put_normalized
    calls = []

    def put_once(self, full):  # the first run row fits, then the disk is full
        calls.append(full["status"])
        if len(calls) > 1:
            fill_disk(monkeypatch, rows_fit=False, checkpoints_fit=False)
        return real_put(self, full)

    monkeypatch.setattr(Ledger, "_put_normalized", put_once)
    check_one_message(CliRunner().invoke(app, TRAIN))
    assert leftovers(ledger.root) == []


def test_a_full_disk_before_the_start_is_named(ledger_dir, monkeypatch) -> None:
    def full_fsync(fd: int) -> None:
        raise FULL

    monkeypatch.setattr(os, "fsync", full_fsync)
    check_one_message(CliRunner().invoke(app, TRAIN))
    assert leftovers(ledger_dir) == []


PARENT = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {tests!r})
    from marlbench import api
    tiny = {{"n_envs": 1, "n_steps": 32, "batch_size": 32, "n_epochs": 1}}
    specs = api.make_specs(
        "ppo", "user_env:make", seeds=[0, 1], steps=10**8, eval_episodes=0, hyperparams=tiny
    )
    api.train_many(specs, jobs=2, ledger=api.open_ledger({ledger!r}, create=True))
    """
)


def children_of(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True).stdout
    pairs = [tuple(int(x) for x in line.split()) for line in out.splitlines() if line.strip()]
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        kids = [p for p, pp in pairs if pp == parent]
        found += kids
        todo += kids
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z")


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="uses /proc and ps")
def test_killing_the_parent_of_jobs_2_ends_its_workers(ledger_dir, fault_line) -> None:
    code = PARENT.format(tests=str(Path(__file__).parent), ledger=str(ledger_dir))
    parent = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while len(list((ledger_dir / "runs").glob("*.parquet"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        workers = children_of(parent.pid)
        assert len(workers) >= 2
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 45
        while any(alive(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert [p for p in workers if alive(p)] == []
        statuses = Ledger(ledger_dir).runs()["status"].tolist()
        assert len(statuses) == 2 and set(statuses) <= {"interrupted", "crashed"}, statuses
        fault_line("SIGKILL of the --jobs 2 parent", f"0/{len(workers)} orphans, runs {sorted(statuses)}")
    finally:
        parent.kill()
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


class _Payload:
    """Unpickling this creates ``path``: the planted code of a hostile ``model.zip``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


def plant(model_zip: Path, marker: Path) -> None:
    """Rewrite ``model_zip`` with a cloudpickled payload in its ``data`` entry, as an attacker would."""
    import base64
    import json
    import pickle
    import zipfile

    with zipfile.ZipFile(model_zip) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    data = json.loads(entries["data"])
    blob = base64.b64encode(pickle.dumps(_Payload(marker))).decode()
    data["policy_class"] = {":type:": "<class 'type'>", ":serialized:": blob}
    entries["data"] = json.dumps(data).encode()
    with zipfile.ZipFile(model_zip, "w") as archive:
        for name, content in entries.items():
            archive.writestr(name, content)


@pytest.mark.slow
def test_an_sb3_checkpoint_cannot_run_code(ledger, tmp_path) -> None:
    from conftest import TINY_PPO
    from stable_baselines3 import PPO

    from marlbench import api

    row = api.train("ppo", "mpe-spread", steps=64, ledger=ledger, hyperparams=TINY_PPO, eval_episodes=1)
    model_zip = ledger.root / row["checkpoint"] / "model.zip"
    marker = tmp_path / "payload-ran"
    plant(model_zip, marker)
    with warnings.catch_warnings(), contextlib.suppress(Exception):  # the crafted entry is live:
        warnings.simplefilter("ignore")
        PPO.load(model_zip, device="cpu")  # SB3's own loader runs it
    assert marker.exists()
    marker.unlink()
    result = api.evaluate(row["run_id"], 1, ledger=ledger)  # marlbench loads the same file
    assert not marker.exists() and len(result.results) == 4  # 3 agents and the team


def planted_run(ledger, tmp_path: Path, monkeypatch, module: str, **changes: str) -> tuple[dict, Path]:
    """A finished fake run whose ledger row now names ``module:make``, a module that creates the
    returned marker file when imported (the planted code of a ledger from elsewhere)."""
    import json as json_mod

    from marlbench import api

    row = api.train("fake", "user_env:make", steps=20, ledger=ledger, eval_episodes=1)
    marker = tmp_path / "imported"
    (tmp_path / f"{module}.py").write_text(
        f"import pathlib\npathlib.Path({str(marker)!r}).touch()\nfrom user_env import make\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    config = json_mod.loads(row["config"])
    ledger.update_run(row["run_id"], config=json_mod.dumps({**config, "env": f"{module}:make"}), **changes)
    return row, marker


def test_evaluate_does_not_import_an_env_the_ledger_names(ledger, tmp_path, monkeypatch) -> None:
    """Item 9: a ledger's ``module:factory`` env is imported only when the user names it again."""
    row, marker = planted_run(ledger, tmp_path, monkeypatch, "planted_env")
    result = CliRunner().invoke(app, ["evaluate", row["run_id"], "--episodes", "1"])
    assert result.exit_code == 2 and "--trust-ledger" in result.output, result.output
    assert not marker.exists() and "Traceback" not in result.output
    confirmed = CliRunner().invoke(
        app, ["evaluate", row["run_id"], "--episodes", "1", "--env", "planted_env:make"]
    )
    assert confirmed.exit_code == 0, confirmed.output
    assert marker.exists()


def test_resume_does_not_import_an_env_the_ledger_names(ledger, tmp_path, monkeypatch) -> None:
    """Item 9 for ``train --resume``: as for evaluate, the user names the import-path env again."""
    row, marker = planted_run(ledger, tmp_path, monkeypatch, "planted_resume_env", status="interrupted")
    refused = CliRunner().invoke(app, ["train", "--resume", row["run_id"]])
    assert refused.exit_code == 2 and "--trust-ledger" in refused.output, refused.output
    assert not marker.exists() and "Traceback" not in refused.output
    other = CliRunner().invoke(app, ["train", "--resume", row["run_id"], "--env", "cn-v1"])
    assert other.exit_code == 2 and "trains on 'planted_resume_env:make'" in other.output, other.output
    assert ledger.get_run(row["run_id"])["status"] == "interrupted"  # nothing touched
    confirmed = CliRunner().invoke(
        app, ["train", "--resume", row["run_id"], "--env", "planted_resume_env:make"]
    )
    assert confirmed.exit_code == 0, confirmed.output
    assert marker.exists() and ledger.get_run(row["run_id"])["status"] == "finished", confirmed.output


def test_preset_show_runs_no_code_that_a_preset_names(tmp_path, monkeypatch, ledger_dir) -> None:
    """Item 9: ``preset show FILE`` neither imports nor calls the env factory the file names."""
    imported, called = tmp_path / "imported", tmp_path / "called"
    (tmp_path / "shown_env.py").write_text(
        f"import pathlib\npathlib.Path({str(imported)!r}).touch()\n"
        f"def make(seed=None):\n    pathlib.Path({str(called)!r}).touch()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    preset = tmp_path / "shown.toml"
    preset.write_text(
        'description = "x"\n[defaults]\nenv = "shown_env:make"\nsteps = 100\nseeds = 1\n'
        '[[variants]]\nname = "ppo"\nalgo = "ppo"\n'
    )
    result = CliRunner().invoke(app, ["preset", "show", str(preset), "--ledger", str(ledger_dir)])
    assert result.exit_code == 0, result.output
    assert "not checked" in " ".join(result.output.split()) and "shown_env:make" in result.output
    assert not imported.exists() and not called.exists()


@pytest.mark.skipif(sys.platform != "linux", reason="uses /proc")
def test_a_zombie_process_counts_as_ended() -> None:
    """A run whose process died unreaped (a zombie: exists for kill(pid, 0)) reads as crashed."""
    from marlbench.ledger.store import _pid_alive

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # not waited for: it stays a zombie
        state = Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        if state == "Z":
            break
        time.sleep(0.05)
    try:
        assert not _pid_alive(child.pid)
        assert _pid_alive(os.getpid())
    finally:
        child.wait()


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="uses /proc and ps")
def test_sigint_to_the_parent_of_jobs_2_alone_interrupts_both_runs(ledger_dir, fault_line) -> None:
    """``kill -INT PARENT`` (not the group, as a terminal's Ctrl-C would): the parent forwards it,
    both workers checkpoint and mark their runs ``interrupted``, and none is left running."""
    code = PARENT.format(tests=str(Path(__file__).parent), ledger=str(ledger_dir))
    parent = subprocess.Popen([sys.executable, "-c", code], start_new_session=True, stderr=subprocess.DEVNULL)
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while len(list((ledger_dir / "runs").glob("*.parquet"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        workers = children_of(parent.pid)
        assert len(workers) >= 2
        time.sleep(1.0)  # both runs past their start
        parent.send_signal(signal.SIGINT)
        parent.wait(timeout=60)
        deadline = time.monotonic() + 30  # multiprocessing's resource tracker ends just after
        while any(alive(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert [p for p in workers if alive(p)] == []
        statuses = Ledger(ledger_dir).runs()["status"].tolist()
        assert statuses == ["interrupted", "interrupted"], statuses
        fault_line("SIGINT to the --jobs 2 parent alone", f"runs {statuses}, 0/{len(workers)} left")
    finally:
        parent.kill()
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
