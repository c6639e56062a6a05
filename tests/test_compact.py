"""Compaction of a finished run's chunks (marlbench.ledger.compact): one file per table, the same rows,
and no row lost or doubled by a crash half-way or a reader running alongside."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from marlbench import api
from marlbench.ledger import Ledger
from marlbench.ledger import compact as compact_mod
from marlbench.ledger import store as store_mod
from marlbench.ledger.files import parquet_files

pytestmark = pytest.mark.usefixtures("fake_algo")
TABLES = ("episodes", "evals", "metrics")


def frames(ledger: Ledger, run_id: str) -> dict[str, pd.DataFrame]:
    return {t: getattr(ledger, t)([run_id]) for t in TABLES}


def chunks(ledger: Ledger, table: str, run_id: str) -> list[str]:
    return [p.name for p in parquet_files(ledger.root / table / run_id)]


def uncompacted_run(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> str:
    """A finished fake run (8 episodes, 4 evaluations, diagnostics) whose chunks were left as written."""
    monkeypatch.setattr(Ledger, "compact_run", lambda self, run_id: 0)
    row = api.train("fake", "cn-v1", steps=200, ledger=ledger, eval_every=50, eval_episodes=2)
    monkeypatch.undo()
    return row["run_id"]


def test_a_finished_run_keeps_one_file_per_table_with_the_same_rows(ledger, monkeypatch) -> None:
    run_id = uncompacted_run(ledger, monkeypatch)
    assert len(chunks(ledger, "evals", run_id)) == 4  # one per evaluation round
    before = frames(ledger, run_id)
    assert ledger.compact_run(run_id) > 0
    for table in ("evals",):
        (name,) = chunks(ledger, table, run_id)
        assert name == "00000003-merged-00000000.parquet"
    after = frames(ledger, run_id)
    for table in TABLES:
        pd.testing.assert_frame_equal(before[table], after[table])
    assert ledger.compact_run(run_id) == 0  # nothing left to merge


def test_training_compacts_at_the_end(ledger) -> None:
    row = api.train("fake", "cn-v1", steps=200, ledger=ledger, eval_every=50, eval_episodes=2)
    assert [len(chunks(ledger, t, row["run_id"])) for t in ("episodes", "evals")] == [1, 1]
    assert len(ledger.evals([row["run_id"]])) == 4 * 2 * 3


def test_a_crash_before_the_parts_are_deleted_doubles_nothing(ledger, monkeypatch, tmp_path) -> None:
    run_id = uncompacted_run(ledger, monkeypatch)
    before = frames(ledger, run_id)
    copy = tmp_path / "copy"
    shutil.copytree(ledger.root, copy)
    monkeypatch.setattr(
        Path, "unlink", lambda self, missing_ok=False: (_ for _ in ()).throw(KeyboardInterrupt)
    )
    with pytest.raises(KeyboardInterrupt):
        compact_mod.compact_run(copy, run_id)
    monkeypatch.undo()
    crashed = Ledger(copy)
    assert len(list((copy / "evals" / run_id).glob("*.parquet"))) == 5  # 4 parts + the merged file
    for table in TABLES:
        pd.testing.assert_frame_equal(before[table], getattr(crashed, table)([run_id]))
    # a later evaluation comes after the merged rows, and compacting again leaves one file
    crashed.append(
        "evals",
        run_id,
        [
            {
                "eval_id": 9,
                "step": 200,
                "episode": 0,
                "agent": "agent_0",
                "reward": 1.0,
                "length": 25,
                "env_options": '{"n": 1}',
                "policy": "",
            }
        ],
    )
    assert crashed.evals([run_id])["eval_id"].tolist()[-1] == 9
    crashed.compact_run(run_id)
    assert chunks(crashed, "evals", run_id) == ["00000004-merged-00000000.parquet"]
    assert len(crashed.evals([run_id])) == len(before["evals"]) + 1


def test_a_reader_during_compaction_sees_every_row_once(ledger, monkeypatch) -> None:
    run_id = uncompacted_run(ledger, monkeypatch)
    expected = ledger.evals([run_id])
    real, fired = store_mod.read_table, []

    def compacting_read(path, schema, metrics):  # the run finishes between listing and reading
        if not fired:
            fired.append(path)
            compact_mod.compact_run(ledger.root, run_id)
        return real(path, schema, metrics)

    monkeypatch.setattr(store_mod, "read_table", compacting_read)
    pd.testing.assert_frame_equal(ledger.evals([run_id]), expected)


def test_a_damaged_chunk_leaves_its_table_alone(ledger, monkeypatch) -> None:
    run_id = uncompacted_run(ledger, monkeypatch)
    parts = parquet_files(ledger.root / "evals" / run_id)
    parts[1].write_bytes(b"not parquet")
    with pytest.warns(UserWarning):
        ledger.compact_run(run_id)
    assert [p.name for p in parquet_files(ledger.root / "evals" / run_id)] == [p.name for p in parts]
