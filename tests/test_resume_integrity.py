"""Resume keeps the ledger exact (issue 19, items 1, 2 and 4): rows recorded after the checkpoint a
run restarts from are dropped before it goes on, one writer per run, and a damaged checkpoint is
refused before the run row is touched."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from marlbench import api
from marlbench.cli import app
from marlbench.errors import LedgerError
from marlbench.ledger import files as ledger_files

pytestmark = pytest.mark.usefixtures("fake_algo")
STRAIGHT = {"episodes": 8 * 3, "evals": 4 * 2 * 3}
"""A 200-step fake run on cn-v1 (25-step episodes, 3 agents), evaluated every 50 steps with 2 episodes."""


class Killed(BaseException):
    """Stands for SIGKILL: nothing in the runner handles it on purpose."""


def crashed_after_checkpoint(ledger, fake_algo) -> str:
    """A run checkpointed at step 100 whose episodes and evaluation up to step 160 reached the ledger,
    then 'killed': its row says running under a pid that no longer exists."""

    def kill_at_160(self) -> None:
        if self.steps_done == 160:
            raise Killed

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fake_algo, "_maybe_stop", kill_at_160)
        with pytest.raises(Killed):
            api.train(
                "fake",
                "cn-v1",
                steps=200,
                ledger=ledger,
                eval_every=50,
                eval_episodes=2,
                checkpoint_every=100,
            )
    (run_id,) = ledger.runs()["run_id"]
    meta = json.loads((ledger.root / "checkpoints" / run_id / "latest" / "marlbench.json").read_text())
    assert meta == {"steps": 100, "episodes": 4, "evals": 2}
    # flushed past the checkpoint: episodes at steps 125 and 150, the evaluation at 150
    assert ledger.episodes([run_id])["step"].max() == 150 and ledger.evals([run_id])["eval_id"].max() == 2
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    ledger.update_run(run_id, status="running", pid=int(dead.stdout), error="")
    assert ledger.get_run(run_id)["status"] == "crashed"
    return run_id


def test_resume_after_a_crash_records_no_row_twice(ledger, fake_algo) -> None:
    run_id = crashed_after_checkpoint(ledger, fake_algo)
    row = api.resume(run_id, ledger=ledger)
    assert (row["status"], row["steps"], row["resumed_from"]) == ("finished", 200, "crashed")
    episodes, evals = ledger.episodes([run_id]), ledger.evals([run_id])
    assert (len(episodes), len(evals)) == (STRAIGHT["episodes"], STRAIGHT["evals"])
    assert not episodes.duplicated(["episode", "agent"]).any()
    assert not evals.duplicated(["eval_id", "episode", "agent"]).any()
    assert episodes.groupby("episode")["step"].first().tolist() == [25, 50, 75, 100, 125, 150, 175, 200]
    assert evals.groupby("eval_id")["step"].first().to_dict() == {0: 50, 1: 100, 2: 150, 3: 200}


def test_a_crash_while_dropping_rows_loses_nothing_before_the_checkpoint(
    ledger, fake_algo, monkeypatch
) -> None:
    run_id = crashed_after_checkpoint(ledger, fake_algo)
    before = ledger.episodes([run_id])
    kept = before[before["episode"] < 4].reset_index(drop=True)
    real = ledger_files.write_atomic

    def killed(table, path) -> None:  # the process dies while rewriting a chunk
        raise KeyboardInterrupt

    monkeypatch.setattr("marlbench.ledger.integrity.write_atomic", killed)
    with pytest.raises(KeyboardInterrupt):
        api.resume(run_id, ledger=ledger)
    now = ledger.episodes([run_id])
    assert now[now["episode"] < 4].reset_index(drop=True).equals(kept)  # nothing before it lost
    assert not list(ledger.root.rglob(".*.tmp"))
    monkeypatch.setattr("marlbench.ledger.integrity.write_atomic", real)
    api.resume(run_id, ledger=ledger)  # dropping again is harmless
    assert len(ledger.episodes([run_id])) == STRAIGHT["episodes"]
    assert len(ledger.evals([run_id])) == STRAIGHT["evals"]


def test_later_evaluations_survive_a_resume(ledger, fake_algo) -> None:
    run_id = crashed_after_checkpoint(ledger, fake_algo)
    api.evaluate(run_id, 1, {"max_cycles": "10"}, ledger=ledger)  # marlbench evaluate between
    api.resume(run_id, ledger=ledger)
    evals = ledger.evals([run_id])
    assert len(evals[evals["env_options"] != ""]) == 3  # 1 episode x 3 agents, kept
    assert len(evals[evals["env_options"] == ""]) == STRAIGHT["evals"]


def interrupted(ledger) -> dict:
    with pytest.raises(KeyboardInterrupt):
        api.train("fake", "cn-v1", steps=100, ledger=ledger, eval_episodes=1, hyperparams={"stop_at": 60})
    return ledger.runs().to_dict("records")[0]


def test_a_run_being_written_is_locked(ledger, fault_line) -> None:
    row = interrupted(ledger)
    with ledger.lock_run(row["run_id"]):  # another resume of it is under way
        with pytest.raises(LedgerError, match=f"running elsewhere, pid {os.getpid()} on host "):
            api.resume(row["run_id"], ledger=ledger)
        result = CliRunner().invoke(app, ["train", "--resume", row["run_id"]])
        assert result.exit_code == 2 and "running elsewhere" in result.output, result.output
        assert ledger.get_run(row["run_id"])["updated_at"] == row["updated_at"]  # untouched
    # released when its holder ends; a lock file left by a dead pid does not block
    lock = ledger.root / "runs" / f"{row['run_id']}.lock"
    lock.write_text(json.dumps({"pid": 999999, "host": "elsewhere"}))
    assert api.resume(row["run_id"], ledger=ledger)["status"] == "finished"
    assert len(ledger.episodes([row["run_id"]])) == 3 * 3  # episodes ending at 25, 50, 85
    fault_line("two resumes at once", "the second refused (running elsewhere, pid, host), run untouched")


def test_a_lock_held_by_another_process_names_it(ledger) -> None:
    row = interrupted(ledger)
    code = (
        "import sys, time; from marlbench.ledger import Ledger; "
        f"lock = Ledger({str(ledger.root)!r}).lock_run({row['run_id']!r}).acquire(); "
        "print('held', flush=True); time.sleep(60)"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(LedgerError, match=f"pid {holder.pid} on host"):
            api.resume(row["run_id"], ledger=ledger)
    finally:
        holder.kill()
        holder.wait()
    assert api.resume(row["run_id"], ledger=ledger)["status"] == "finished"  # dead holder: taken over


@pytest.mark.parametrize(
    ("damage", "phrase"),
    [
        ("garbage", "cannot be loaded"),
        ("no-state", "cannot be loaded"),
        ("meta", "is damaged"),
        ("deleted", "is missing"),
    ],
)
def test_a_damaged_checkpoint_leaves_the_run_as_it_was(ledger, damage: str, phrase: str) -> None:
    row = interrupted(ledger)
    checkpoint = ledger.root / row["checkpoint"]
    if damage == "garbage":
        (checkpoint / "fake.json").write_bytes(b"\x00\xffnot json")
    elif damage == "no-state":
        (checkpoint / "fake.json").unlink()
    elif damage == "meta":
        (checkpoint / "marlbench.json").write_text("{")
    else:
        for path in checkpoint.iterdir():
            path.unlink()
        checkpoint.rmdir()
    result = CliRunner().invoke(app, ["train", "--resume", row["run_id"]])
    assert result.exit_code == 2 and phrase in result.output and "Traceback" not in result.output
    after = ledger.get_run(row["run_id"])
    assert (after["status"], after["steps"], after["updated_at"]) == ("interrupted", 60, row["updated_at"])


@pytest.mark.slow
def test_crash_and_resume_at_ten_random_moments(ledger, fake_algo, fault_line) -> None:
    """SIGKILL stand-in at 10 seeded random steps: after each resume, 0 duplicate rows and 0 lost."""
    import numpy as np

    duplicates = lost = 0
    for kill_at in sorted(np.random.default_rng(19).choice(np.arange(31, 200), 10, replace=False).tolist()):

        def kill(self, at: int = kill_at) -> None:
            if self.steps_done == at:
                raise Killed

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(fake_algo, "_maybe_stop", kill)
            with pytest.raises(Killed):
                api.train("fake", "cn-v1", steps=200, ledger=ledger, eval_every=40, checkpoint_every=30)
        run_id = ledger.runs().sort_values("created_at")["run_id"].iloc[-1]
        meta = json.loads((ledger.root / "checkpoints" / run_id / "latest" / "marlbench.json").read_text())
        kept = ledger.episodes([run_id]).query(f"episode < {meta['episodes']}").reset_index(drop=True)
        api.resume(run_id, ledger=ledger)
        episodes, evals = ledger.episodes([run_id]), ledger.evals([run_id])
        duplicates += int(episodes.duplicated(["episode", "agent"]).sum())
        duplicates += int(evals.duplicated(["eval_id", "episode", "agent"]).sum())
        before = episodes[episodes["episode"] < meta["episodes"]].reset_index(drop=True)
        lost += len(kept) - len(before.merge(kept))
        assert sorted(episodes["episode"].unique()) == list(range(episodes["episode"].nunique()))
        assert evals.groupby("eval_id")["step"].first().tolist() == [40, 80, 120, 160, 200]
    fault_line("crash+resume x10", f"{duplicates} duplicate rows, {lost} lost")
    assert (duplicates, lost) == (0, 0)
