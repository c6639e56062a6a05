"""``marlbench query``: DuckDB SQL over a fixture ledger, damaged files skipped, bad SQL a clear error."""

from __future__ import annotations

import io
import json
import sys

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from marlbench import api
from marlbench.cli import app
from marlbench.errors import ConfigError

runner = CliRunner()


@pytest.fixture
def fixture_ledger(ledger):
    """Two finished runs (ppo, maddpg), 2 agents, 3 episodes each, one evaluation, some metrics."""
    for run_id, algo, base in (("ppo-1", "ppo", 1.0), ("maddpg-1", "maddpg", 10.0)):
        ledger.put_run({"run_id": run_id, "algo": algo, "env": "mpe-spread", "status": "finished"})
        ledger.append(
            "episodes",
            run_id,
            [
                {
                    "episode": e,
                    "agent": a,
                    "step": 25 * (e + 1),
                    "wall_time": e,
                    "reward": base + e,
                    "length": 25,
                }
                for e in range(3)
                for a in ("agent_0", "agent_1")
            ],
        )
        ledger.append(
            "evals",
            run_id,
            [
                {
                    "eval_id": 0,
                    "step": 75,
                    "episode": e,
                    "agent": "agent_0",
                    "reward": base * (e + 1),
                    "length": 25,
                }
                for e in range(2)
            ],
        )
        ledger.append("metrics", run_id, [{"step": 75, "wall_time": 1.0, "name": "loss", "value": base}])
    return ledger


def invoke(ledger, *args: str):
    return runner.invoke(app, ["query", *args, "--ledger", str(ledger.root)])


def test_the_issue_example_averages_evals_by_algo(fixture_ledger) -> None:
    sql = "SELECT algo, avg(reward) AS r FROM evals JOIN runs USING (run_id) GROUP BY algo ORDER BY algo"
    frame = api.query(fixture_ledger, sql)
    assert frame.values.tolist() == [["maddpg", 15.0], ["ppo", 1.5]]


def test_every_table_is_a_view_with_its_columns(fixture_ledger) -> None:
    counts = api.query(
        fixture_ledger,
        "SELECT (SELECT count(*) FROM runs) r, (SELECT count(*) FROM episodes) e, "
        "(SELECT count(*) FROM evals) v, (SELECT count(*) FROM metrics) m",
    )
    assert counts.values.tolist() == [[2, 12, 4, 2]]
    status = api.query(fixture_ledger, "SELECT DISTINCT status, policy, env_options FROM runs, evals")
    assert status.values.tolist() == [["finished", "", ""]]
    loss = api.query(fixture_ledger, "SELECT run_id, value FROM metrics WHERE name = 'loss' ORDER BY value")
    assert loss.values.tolist() == [["ppo-1", 1.0], ["maddpg-1", 10.0]]


def test_a_damaged_file_is_skipped_with_a_warning(fixture_ledger) -> None:
    (fixture_ledger.root / "episodes" / "ppo-1" / "00000009-1-bad.parquet").write_bytes(b"not parquet")
    result = invoke(fixture_ledger, "SELECT count(*) AS n FROM episodes", "--format", "csv")
    assert result.exit_code == 0, result.output
    assert "n\n12\n" in result.output
    assert "skipping damaged ledger file" in result.output and "bad.parquet" in result.output


def test_a_chunk_without_the_base_columns_counts_as_damaged(fixture_ledger) -> None:
    path = fixture_ledger.root / "evals" / "ppo-1" / "00000009-1-odd.parquet"
    pq.write_table(pa.table({"x": [1]}), path)
    with pytest.warns(UserWarning, match="missing columns"):
        frame = api.query(fixture_ledger, "SELECT count(*) FROM evals")
    assert frame.iloc[0, 0] == 4


def test_older_eval_files_without_policy_read_as_the_default(fixture_ledger) -> None:
    old = pa.table(
        {"run_id": ["ppo-1"], "eval_id": [1], "step": [100], "episode": [0], "agent": ["agent_0"]}
        | {"reward": [7.0], "length": [25]}
    )
    pq.write_table(old, fixture_ledger.root / "evals" / "ppo-1" / "00000005-1-old.parquet")
    frame = api.query(fixture_ledger, "SELECT policy, env_options FROM evals WHERE eval_id = 1")
    assert frame.values.tolist() == [["", ""]]


def test_bad_sql_is_one_clear_message_exit_2(fixture_ledger) -> None:
    result = invoke(fixture_ledger, "SELECT nonsense FROM nowhere")
    assert result.exit_code == 2, result.output
    assert "error: the SQL statement failed" in result.output and "nowhere" in result.output
    assert "fix:" in result.output and "Traceback" not in result.output
    empty = invoke(fixture_ledger, "  ")
    assert empty.exit_code == 2 and "no SQL statement given" in empty.output


def test_formats_write_what_they_say(fixture_ledger) -> None:
    sql = "SELECT run_id, algo FROM runs ORDER BY run_id"
    as_csv = invoke(fixture_ledger, sql, "--format", "csv")
    assert pd.read_csv(io.StringIO(as_csv.stdout)).values.tolist() == [
        ["maddpg-1", "maddpg"],
        ["ppo-1", "ppo"],
    ]
    as_json = invoke(fixture_ledger, sql, "--format", "json")
    assert json.loads(as_json.stdout) == [
        {"run_id": "maddpg-1", "algo": "maddpg"},
        {"run_id": "ppo-1", "algo": "ppo"},
    ]
    as_md = invoke(fixture_ledger, sql, "--format", "markdown")
    assert as_md.stdout.splitlines()[:3] == ["| run_id | algo |", "|---|---|", "| maddpg-1 | maddpg |"]
    table = invoke(fixture_ledger, sql)
    assert table.exit_code == 0 and "maddpg-1" in table.output
    bad = invoke(fixture_ledger, sql, "--format", "xml")
    assert bad.exit_code == 2 and "unknown format 'xml'" in bad.output


def test_an_empty_ledger_has_empty_views(ledger) -> None:
    frame = api.query(ledger, "SELECT count(*) FROM episodes")
    assert frame.iloc[0, 0] == 0
    assert list(api.query(ledger, "SELECT * FROM metrics").columns) == [
        "run_id",
        "step",
        "wall_time",
        "name",
        "value",
    ]


def test_missing_duckdb_names_the_extra(fixture_ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "duckdb", None)
    with pytest.raises(ConfigError) as err:
        api.query(fixture_ledger, "SELECT 1")
    assert 'pip install "marlbench[query]"' in err.value.fix


def test_only_the_tables_a_statement_names_are_read(fixture_ledger) -> None:
    import warnings

    (fixture_ledger.root / "evals" / "ppo-1" / "00000009-1-bad.parquet").write_bytes(b"junk")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the damaged evals file is never opened
        assert api.query(fixture_ledger, "SELECT count(*) FROM Episodes").iloc[0, 0] == 12
    with pytest.warns(UserWarning, match="bad.parquet"):
        assert api.query(fixture_ledger, "SELECT count(*) FROM evals").iloc[0, 0] == 4
