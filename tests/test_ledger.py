"""Tests for marlbench.ledger: round trips, atomic writes, concurrent and killed writers, damage."""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from marlbench.errors import LedgerError
from marlbench.ledger import RUN_SCHEMA, STALE_SECONDS, Ledger, LedgerWarning, default_ledger_path
from marlbench.ledger import files as ledger_files
from marlbench.ledger import store as ledger_store

HOST = socket.gethostname()


def _episode_rows(episode: int, n_agents: int = 3, **metrics: float) -> list[dict[str, Any]]:
    """One episode's rows, with values derived from (episode, agent) so they can be checked exactly."""
    return [
        {
            "episode": episode,
            "agent": f"agent_{a}",
            "step": 25 * (episode + 1),
            "wall_time": 0.5 * episode,
            "reward": -1.25 * episode + a,
            "length": 25,
            **metrics,
        }
        for a in range(n_agents)
    ]


def _eval_row() -> dict[str, Any]:
    return {"eval_id": 0, "step": 1, "episode": 0, "agent": "a", "reward": 1.0, "length": 1}


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Dict equality where NaN equals NaN."""
    nan = object()
    return {k: nan if v != v else v for k, v in a.items()} == {k: nan if v != v else v for k, v in b.items()}


def _all_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def _dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger(tmp_path / "ledger", create=True)


@pytest.fixture(scope="module")
def ctx() -> mp.context.BaseContext:
    """A forkserver context that has pandas and pyarrow loaded once (cheap, and no fork of threads)."""
    context = mp.get_context("forkserver")
    context.set_forkserver_preload(["marlbench.ledger", __name__])
    return context


# ---- round trips -----------------------------------------------------------------------------


def test_run_round_trip_exact_values(ledger: Ledger) -> None:
    full = {
        "run_id": "ppo-spread-s0-abc",
        "config_hash": "abc123",
        "algo": "ppo",
        "env": "mpe-spread",
        "seed": 7,
        "preset": "quick",
        "variant": "shared",
        "tags": "a,b",
        "config": '{"lr": 0.0003}',
        "status": "finished",
        "created_at": 1000.5,
        "finished_at": 1100.25,
        "wall_time_s": 99.75,
        "steps": 200_000,
        "total_steps": 200_000,
        "agent_steps": 600_000,
        "n_agents": 3,
        "versions": '{"torch": "2.13.0"}',
        "error": "",
        "host": "h1",
        "pid": 4242,
        "checkpoint": "checkpoints/ppo-spread-s0-abc/final.zip",
        "resumed_from": "older",
        "updates": 12_345,
    }
    before = time.time()
    ledger.put_run(full)
    ledger.put_run({"run_id": "minimal", "created_at": 500.0})
    df = ledger.runs()

    assert list(df.columns) == RUN_SCHEMA.names
    assert list(df["run_id"]) == ["minimal", "ppo-spread-s0-abc"]  # sorted by created_at
    got = df.iloc[1].to_dict()
    assert before <= got.pop("updated_at") <= time.time()
    assert got == {k: v for k, v in full.items() if k != "updated_at"}
    assert str(df["seed"].dtype) == "int64" and str(df["created_at"].dtype) == "float64"

    minimal = df.iloc[0].to_dict()
    assert minimal["status"] == "running"  # fresh heartbeat, no host: still running
    assert math.isnan(minimal["finished_at"]) and math.isnan(minimal["wall_time_s"])
    assert minimal["seed"] == 0 and minimal["steps"] == 0 and minimal["pid"] == 0
    assert minimal["algo"] == "" and minimal["tags"] == "" and minimal["error"] == ""

    row = ledger.get_run("ppo-spread-s0-abc")
    assert {k: v for k, v in row.items() if k != "updated_at"} == {
        k: v for k, v in full.items() if k != "updated_at"
    }
    assert type(row["seed"]) is int and type(row["wall_time_s"]) is float


def test_put_run_fills_created_at_and_update_run_changes_only_given(ledger: Ledger) -> None:
    t0 = time.time()
    ledger.put_run({"run_id": "r1", "algo": "ppo", "host": HOST, "pid": os.getpid(), "tags": ["x", "y"]})
    first = ledger.get_run("r1")
    assert t0 <= first["created_at"] <= time.time()
    assert first["tags"] == "x,y" and first["status"] == "running"

    new = ledger.update_run("r1", status="finished", steps=1234, finished_at=5.0)
    assert new["status"] == "finished" and new["steps"] == 1234 and new["finished_at"] == 5.0
    assert new["algo"] == "ppo" and new["created_at"] == first["created_at"]
    assert new["updated_at"] >= first["updated_at"]
    assert _same(ledger.get_run("r1"), new)

    with pytest.raises(LedgerError, match="no run 'ghost'"):
        ledger.update_run("ghost", status="failed")
    with pytest.raises(ValueError, match="status"):
        ledger.update_run("r1", status="crashed")  # derived by readers, never stored
    with pytest.raises(ValueError, match="unknown run columns"):
        ledger.put_run({"run_id": "r2", "stpes": 3})
    with pytest.raises(ValueError, match="integer"):
        ledger.update_run("r1", steps=2.5)
    with pytest.raises(ValueError, match="invalid run_id"):
        ledger.put_run({"run_id": "../escape"})


def test_episodes_and_evals_round_trip(ledger: Ledger) -> None:
    first = [r for e in range(2) for r in _episode_rows(e, metric_coverage=0.5)]
    second = _episode_rows(2, metric_collisions=3.0)
    p1 = ledger.append("episodes", "run-a", first)
    p2 = ledger.append("episodes", "run-a", second)
    ledger.append("episodes", "run-b", _episode_rows(0, n_agents=2))
    assert ledger.append("episodes", "run-a", []) is None
    assert p1 is not None and p2 is not None
    assert p1.name.startswith("00000000-") and p2.name.startswith("00000001-")

    df = ledger.episodes(["run-a"])
    assert list(df.columns) == [
        "run_id",
        "episode",
        "agent",
        "step",
        "wall_time",
        "reward",
        "length",
        "metric_collisions",
        "metric_coverage",
    ]
    assert list(df["episode"]) == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert list(df["reward"]) == [0.0, 1.0, 2.0, -1.25, -0.25, 0.75, -2.5, -1.5, -0.5]
    assert list(df["step"]) == [25, 25, 25, 50, 50, 50, 75, 75, 75]
    assert list(df["agent"]) == ["agent_0", "agent_1", "agent_2"] * 3
    assert set(df["run_id"]) == {"run-a"}
    assert list(df["metric_coverage"].iloc[:6]) == [0.5] * 6 and df["metric_coverage"].iloc[6:].isna().all()
    assert (
        df["metric_collisions"].iloc[:6].isna().all() and list(df["metric_collisions"].iloc[6:]) == [3.0] * 3
    )
    assert str(df["episode"].dtype) == "int64" and str(df["reward"].dtype) == "float64"

    everything = ledger.episodes()
    assert len(everything) == 9 + 2 and list(everything["run_id"].unique()) == ["run-a", "run-b"]
    assert len(ledger.episodes("run-b")) == 2  # a bare string means one run, not its characters
    assert len(ledger.episodes(["nope"])) == 0

    for eval_id, step in ((0, 100), (1, 200)):
        ledger.append(
            "evals",
            "run-a",
            [
                {
                    "eval_id": eval_id,
                    "step": step,
                    "episode": e,
                    "agent": "agent_0",
                    "reward": step + e,
                    "length": 25,
                }
                for e in range(3)
            ],
        )
    evals = ledger.evals()
    base = ["run_id", "eval_id", "step", "episode", "agent", "reward", "length", "env_options", "policy"]
    assert list(evals.columns) == base
    assert (evals["env_options"] == "").all() and (evals["policy"] == "").all()  # defaults when left out
    assert list(evals["reward"]) == [100.0, 101.0, 102.0, 200.0, 201.0, 202.0]
    last = ledger.last_eval("run-a")
    assert list(last["eval_id"]) == [1, 1, 1] and list(last["reward"]) == [200.0, 201.0, 202.0]
    assert len(ledger.last_eval("run-b")) == 0


def test_append_rejects_bad_rows(ledger: Ledger) -> None:
    good = _episode_rows(0)
    with pytest.raises(ValueError, match="unknown ledger table"):
        ledger.append("episode", "r", good)
    with pytest.raises(ValueError, match="unknown columns"):
        ledger.append("episodes", "r", [{**good[0], "rewrd": 1.0}])
    with pytest.raises(ValueError, match="'length'"):
        ledger.append("episodes", "r", [{k: v for k, v in good[0].items() if k != "length"}])
    with pytest.raises(ValueError, match="integers"):
        ledger.append("episodes", "r", [{**good[0], "step": 2.5}])
    with pytest.raises(ValueError, match="another run_id"):
        ledger.append("episodes", "r", [{**good[0], "run_id": "other"}])
    assert _all_files(ledger.root) == []


def test_empty_and_missing_ledger_read_as_empty(tmp_path: Path) -> None:
    missing = Ledger(tmp_path / "not-there")
    assert not missing.root.exists()
    runs = missing.runs()
    assert len(runs) == 0 and list(runs.columns) == RUN_SCHEMA.names
    assert list(missing.episodes().columns) == [
        "run_id",
        "episode",
        "agent",
        "step",
        "wall_time",
        "reward",
        "length",
    ]
    assert list(missing.evals().columns)[:2] == ["run_id", "eval_id"] and len(missing.evals()) == 0
    assert not missing.root.exists()  # reading created nothing


def test_chunk_writer_flushes_by_rows_time_and_close(ledger: Ledger) -> None:
    chunks = ledger.root / "episodes" / "cw"
    writer = ledger.chunk_writer("episodes", "cw", flush_rows=7, flush_seconds=3600)
    writer.add(_episode_rows(0))
    writer.add(_episode_rows(1))
    assert not chunks.exists()  # 6 rows buffered, below flush_rows
    writer.add(_episode_rows(2))  # 9 rows >= 7: one chunk of 9
    assert [len(pd.read_parquet(p)) for p in sorted(chunks.glob("*.parquet"))] == [9]
    writer.add(_episode_rows(3))
    assert writer.flush() is not None and writer.flush() is None
    writer.add(_episode_rows(4))
    writer.close()
    assert [len(pd.read_parquet(p)) for p in sorted(chunks.glob("*.parquet"))] == [9, 3, 3]
    assert list(ledger.episodes(["cw"])["episode"]) == [e for e in range(5) for _ in range(3)]
    with pytest.raises(ValueError, match="closed"):
        writer.add(_episode_rows(5))

    with ledger.chunk_writer("evals", "timed", flush_rows=10_000, flush_seconds=0.0) as timed:
        timed.add([_eval_row()])
        assert len(list((ledger.root / "evals" / "timed").glob("*.parquet"))) == 1  # time says flush


def test_checkpoint_dir_and_delete_run(ledger: Ledger) -> None:
    for run_id in ("keep", "gone"):
        ledger.put_run({"run_id": run_id})
        ledger.append("episodes", run_id, _episode_rows(0))
        ledger.append("evals", run_id, [_eval_row()])
        (ledger.checkpoint_dir(run_id) / "model.pt").write_bytes(b"x")
    assert ledger.checkpoint_dir("gone") == ledger.root / "checkpoints" / "gone"
    ledger.delete_run("gone")
    ledger.delete_run("never-existed")
    assert list(ledger.runs()["run_id"]) == ["keep"]
    assert set(ledger.episodes()["run_id"]) == {"keep"} and set(ledger.evals()["run_id"]) == {"keep"}
    assert not (ledger.root / "checkpoints" / "gone").exists()
    assert (ledger.root / "checkpoints" / "keep" / "model.pt").exists()


# ---- atomic writes ---------------------------------------------------------------------------


def test_failed_replace_keeps_old_file_and_leaves_no_temp(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger.put_run({"run_id": "r", "steps": 10, "host": HOST, "pid": os.getpid()})
    ledger.append("episodes", "r", _episode_rows(0))
    files_before = sorted(_all_files(ledger.root))
    row_before = ledger.get_run("r")

    def broken_replace(src: Any, dst: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ledger_files.os, "replace", broken_replace)
    with pytest.raises(OSError, match="No space left"):
        ledger.update_run("r", status="finished", steps=20)
    with pytest.raises(OSError, match="No space left"):
        ledger.append("episodes", "r", _episode_rows(1))
    monkeypatch.undo()

    assert sorted(_all_files(ledger.root)) == files_before  # no temp file, no new chunk
    assert _same(ledger.get_run("r"), row_before)  # old row intact and readable
    assert len(ledger.episodes()) == 3


def _rewrite_run(root: str, n: int) -> None:
    led = Ledger(root)
    for i in range(n):
        led.update_run("hot", steps=i + 1, config="x" * (i * 50))  # growing file


@pytest.mark.slow
def test_concurrent_reader_sees_whole_rows(ledger: Ledger, ctx: mp.context.BaseContext) -> None:
    """A reader polling while another process rewrites the row sees old or new, never a torn file."""
    ledger.put_run({"run_id": "hot", "steps": 0})
    proc = ctx.Process(target=_rewrite_run, args=(str(ledger.root), 150))
    seen = []
    with warnings.catch_warnings():
        warnings.simplefilter("error", LedgerWarning)
        proc.start()
        while proc.is_alive():
            seen.append(ledger.get_run("hot")["steps"])
            assert len(ledger.runs()) == 1
        proc.join()
        seen.append(ledger.get_run("hot")["steps"])
    assert proc.exitcode == 0
    assert seen == sorted(seen) and seen[-1] == 150
    assert [p.name for p in _all_files(ledger.root)] == ["hot.parquet"]


# ---- concurrent and killed writers ---------------------------------------------------------

WORKERS, RUNS_PER_WORKER, EPISODES, FLUSH_ROWS = 8, 2, 50, 30


def _write_runs(root: str, worker: int, barrier: Any) -> None:
    led = Ledger(root)
    barrier.wait()
    for r in range(RUNS_PER_WORKER):
        run_id = f"w{worker}-r{r}"
        led.put_run({"run_id": run_id, "seed": worker, "status": "running", "host": HOST, "pid": os.getpid()})
        with led.chunk_writer("episodes", run_id, flush_rows=FLUSH_ROWS, flush_seconds=3600) as writer:
            for e in range(EPISODES):
                writer.add(_episode_rows(e))
        led.update_run(run_id, status="finished", steps=EPISODES * 25)


@pytest.mark.parametrize("workers", [WORKERS, 2 * WORKERS])
def test_eight_and_sixteen_processes_lose_nothing(
    ledger: Ledger, ctx: mp.context.BaseContext, workers: int, fault_line
) -> None:
    barrier = ctx.Barrier(workers)
    procs = [ctx.Process(target=_write_runs, args=(str(ledger.root), w, barrier)) for w in range(workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
    assert [p.exitcode for p in procs] == [0] * workers

    with warnings.catch_warnings():
        warnings.simplefilter("error", LedgerWarning)
        runs = ledger.runs()
        episodes = ledger.episodes()
    expected_ids = {f"w{w}-r{r}" for w in range(workers) for r in range(RUNS_PER_WORKER)}
    assert set(runs["run_id"]) == expected_ids and len(runs) == len(expected_ids)
    assert set(runs["status"]) == {"finished"} and set(runs["steps"]) == {EPISODES * 25}
    assert len(episodes) == len(expected_ids) * EPISODES * 3
    keys = set(zip(episodes["run_id"], episodes["episode"], episodes["agent"], strict=True))
    assert keys == {(i, e, f"agent_{a}") for i in expected_ids for e in range(EPISODES) for a in range(3)}
    assert all(len(list((ledger.root / "episodes" / i).glob("*.parquet"))) == 5 for i in expected_ids)
    assert not [p for p in _all_files(ledger.root) if p.name.startswith(".")]
    rows = len(expected_ids) * EPISODES * 3
    fault_line(f"{workers} concurrent writers", f"{len(episodes)}/{rows} rows, 0 duplicates, 0 temp files")


def _write_forever(root: str) -> None:
    led = Ledger(root)
    led.put_run({"run_id": "doomed", "status": "running", "host": HOST, "pid": os.getpid()})
    writer = led.chunk_writer("episodes", "doomed", flush_rows=FLUSH_ROWS, flush_seconds=3600)
    episode = 0
    while True:
        writer.add(_episode_rows(episode))
        episode += 1
        if episode % 10 == 0:
            led.update_run("doomed", steps=episode * 25)


def test_sigkilled_writer_leaves_readable_ledger_and_crashed_run(
    ledger: Ledger, ctx: mp.context.BaseContext, fault_line
) -> None:
    ledger.put_run({"run_id": "neighbour", "status": "finished"})
    proc = ctx.Process(target=_write_forever, args=(str(ledger.root),))
    proc.start()
    chunks = ledger.root / "episodes" / "doomed"
    deadline = time.monotonic() + 30
    while len(list(chunks.glob("*.parquet"))) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert proc.is_alive(), "the writer must still be writing when it is killed"
    assert ledger.runs().set_index("run_id").loc["doomed", "status"] == "running"
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(timeout=10)
    assert proc.exitcode == -signal.SIGKILL

    with warnings.catch_warnings():
        warnings.simplefilter("error", LedgerWarning)
        runs = ledger.runs().set_index("run_id")
        episodes = ledger.episodes(["doomed"])
    assert runs.loc["doomed", "status"] == "crashed"
    assert runs.loc["neighbour", "status"] == "finished"
    assert ledger.get_run("doomed")["status"] == "crashed"
    n_chunks = len(list(chunks.glob("*.parquet")))
    assert n_chunks >= 5
    assert len(episodes) == n_chunks * FLUSH_ROWS  # every flushed chunk is whole and readable
    n_episodes = n_chunks * FLUSH_ROWS // 3
    assert list(episodes["episode"]) == [e for e in range(n_episodes) for _ in range(3)]
    fault_line(
        "SIGKILL during Parquet writes",
        f"ledger readable, run crashed, {n_chunks}/{n_chunks} flushed chunks whole, neighbour kept",
    )


# ---- damage, lookup, staleness, bad roots ----------------------------------------------------


DAMAGED: set[str] = set()
"""The kinds of damage checked so far this session (for the fault-injection summary)."""


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_damaged_files_are_skipped_with_warning(ledger: Ledger, damage: str, fault_line) -> None:
    for run_id in ("good", "bad"):
        ledger.put_run({"run_id": run_id, "algo": "ppo"})
        ledger.append("episodes", run_id, _episode_rows(0))
        ledger.append("episodes", run_id, _episode_rows(1))
    bad_run = ledger.root / "runs" / "bad.parquet"
    bad_chunk = sorted((ledger.root / "episodes" / "bad").glob("*.parquet"))[1]
    for path in (bad_run, bad_chunk):
        data = path.read_bytes()
        garbage = b"\x00not parquet\xff" * 20
        new = {"truncated": data[: len(data) // 2], "garbage": garbage, "empty": b""}[damage]
        path.write_bytes(new)

    with pytest.warns(LedgerWarning, match="bad.parquet"):
        runs = ledger.runs()
    assert list(runs["run_id"]) == ["good"] and runs["algo"].iloc[0] == "ppo"
    with pytest.warns(LedgerWarning, match=bad_chunk.name):
        episodes = ledger.episodes()
    assert len(episodes) == 3 * 3  # good: 2 episodes, bad: its intact first chunk
    assert list(episodes[episodes["run_id"] == "bad"]["episode"]) == [0, 0, 0]
    with pytest.warns(LedgerWarning), pytest.raises(LedgerError, match="damaged"):
        ledger.get_run("bad")
    DAMAGED.add(damage)
    fault_line(
        "damaged files",
        f"{', '.join(sorted(DAMAGED))}: each skipped with a warning naming it, intact rows read",
    )


def test_file_with_wrong_columns_is_skipped(ledger: Ledger) -> None:
    ledger.append("episodes", "r", _episode_rows(0))
    pd.DataFrame({"run_id": ["r"], "reward": [1.0]}).to_parquet(ledger.root / "episodes" / "r" / "zz.parquet")
    with pytest.warns(LedgerWarning, match="zz.parquet"):
        assert len(ledger.episodes()) == 3


def test_get_run_by_prefix(ledger: Ledger) -> None:
    for run_id in ("abc-1", "abc-2", "abc", "xyz-9"):
        ledger.put_run({"run_id": run_id, "seed": len(run_id)})
    assert ledger.get_run("xyz")["run_id"] == "xyz-9"
    assert ledger.get_run("abc-2")["run_id"] == "abc-2"
    assert ledger.get_run("abc")["run_id"] == "abc"  # an exact id wins over longer ids it prefixes
    with pytest.raises(LedgerError, match="ambiguous") as ambiguous:
        ledger.get_run("abc-")
    assert "abc-1" in str(ambiguous.value) and "abc-2" in str(ambiguous.value)
    with pytest.raises(LedgerError) as missing:
        ledger.get_run("nope")
    assert missing.value.message == f"no run 'nope' in ledger {ledger.root}"
    assert missing.value.fix == "run 'marlbench runs' to list them"
    with pytest.raises(LedgerError, match="no run ''"):
        ledger.get_run("")


def test_stale_heartbeat_and_dead_pid_read_as_crashed(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger.put_run({"run_id": "remote", "status": "running", "host": "some-other-host", "pid": 1})
    ledger.put_run({"run_id": "local-alive", "status": "running", "host": HOST, "pid": os.getpid()})
    ledger.put_run({"run_id": "local-dead", "status": "running", "host": HOST, "pid": _dead_pid()})
    ledger.put_run({"run_id": "done", "status": "finished", "host": "some-other-host"})

    def statuses() -> dict[str, str]:
        return dict(zip(ledger.runs()["run_id"], ledger.runs()["status"], strict=True))

    assert statuses() == {
        "remote": "running",
        "local-alive": "running",
        "local-dead": "crashed",
        "done": "finished",
    }
    written = time.time()
    monkeypatch.setattr(ledger_store, "_now", lambda: written + STALE_SECONDS - 5)
    assert statuses()["remote"] == "running"
    monkeypatch.setattr(ledger_store, "_now", lambda: written + STALE_SECONDS + 5)
    assert statuses() == {
        "remote": "crashed",
        "local-alive": "crashed",
        "local-dead": "crashed",
        "done": "finished",
    }
    assert ledger.get_run("remote")["status"] == "crashed"
    # the stored status is untouched: a late heartbeat brings the run back
    monkeypatch.undo()
    ledger.update_run("remote", steps=10)
    assert statuses()["remote"] == "running"


def test_root_that_is_a_file_raises(tmp_path: Path) -> None:
    path = tmp_path / "ledger.txt"
    path.write_text("not a directory")
    with pytest.raises(LedgerError, match="is a file") as err:
        Ledger(path)
    assert str(path) in err.value.message and "--ledger" in (err.value.fix or "")
    with pytest.raises(LedgerError):
        Ledger(path / "sub", create=True)


def test_check_writable(tmp_path: Path) -> None:
    Ledger(tmp_path / "fresh").check_writable()
    assert sorted(p.name for p in (tmp_path / "fresh").iterdir()) == [
        "checkpoints",
        "episodes",
        "evals",
        "runs",
    ]
    assert _all_files(tmp_path / "fresh") == []  # the probe file was removed
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "runs").write_text("a file where a directory belongs")
    with pytest.raises(LedgerError, match="cannot create ledger"):
        Ledger(broken).check_writable()


def test_default_ledger_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MARLBENCH_LEDGER", raising=False)
    assert default_ledger_path() == Path("marlbench-runs")
    monkeypatch.setenv("MARLBENCH_LEDGER", str(tmp_path / "elsewhere"))
    assert default_ledger_path() == tmp_path / "elsewhere"
    assert Ledger().root == tmp_path / "elsewhere"


def test_a_run_row_cannot_point_its_checkpoint_outside_the_ledger(ledger: Ledger, tmp_path: Path) -> None:
    """A ledger copied from elsewhere must not make marlbench load files it chooses."""
    own = ledger.checkpoint_dir("run-a") / "latest"
    own.mkdir()
    other = ledger.checkpoint_dir("run-b") / "latest"
    other.mkdir()
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    assert (
        ledger.saved_checkpoint({"run_id": "run-a", "checkpoint": "checkpoints/run-a/latest"})
        == own.resolve()
    )
    for bad in (
        str(outside),
        "../elsewhere",
        "checkpoints/run-a/../../../elsewhere",
        "checkpoints/run-b/latest",
    ):
        with pytest.raises(LedgerError, match="outside"):
            ledger.saved_checkpoint({"run_id": "run-a", "checkpoint": bad})
    with pytest.raises(LedgerError, match="missing"):
        ledger.saved_checkpoint({"run_id": "run-a", "checkpoint": "checkpoints/run-a/gone"})
    with pytest.raises(LedgerError, match="no checkpoint"):
        ledger.saved_checkpoint({"run_id": "run-a", "checkpoint": ""})
