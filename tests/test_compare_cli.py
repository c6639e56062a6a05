"""The compare and report commands through the CLI: formats on stdout, notes on stderr, clear exits."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from test_reports import mpe_ledger, smarts_ledger
from typer.testing import CliRunner

from marlbench.cli import app
from marlbench.reports.compare import FIELDS, compare

runner = CliRunner()


def invoke(*args: str, columns: int = 250):
    return runner.invoke(app, list(args), env={"COLUMNS": str(columns)})


def assert_user_error(result, *needles: str) -> None:
    assert result.exit_code == 2, result.output
    assert "error:" in result.output and "Traceback" not in result.output, result.output
    for needle in needles:
        assert needle in result.output, f"{needle!r} not in {result.output!r}"


def test_commands_are_registered_and_help_stays_light() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("compare", "report", "preset"):
        assert command in result.output
    code = (
        "import sys, marlbench.cli; "
        "print([m for m in ('pandas', 'matplotlib', 'seaborn', 'torch', 'scipy') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_compare_on_an_empty_ledger_says_what_produces_runs(ledger_dir: Path) -> None:
    assert_user_error(invoke("compare"), "has no runs", "marlbench preset run quickstart")


def test_compare_filters_that_match_nothing(ledger_dir: Path) -> None:
    mpe_ledger(ledger_dir)
    assert_user_error(
        invoke("compare", "--env", "pursuit"),
        "no runs match env pursuit",
        "mpe-spread",
        "marlbench train ppo --env pursuit",
    )
    assert_user_error(invoke("compare", "--preset", "biswas-per"), "marlbench preset run biswas-per")
    assert_user_error(invoke("compare", "--format", "xml"), "unknown format 'xml'")
    assert_user_error(invoke("compare", "--vs", "qmix"), "--vs qmix")


def test_compare_json_on_stdout_and_notes_on_stderr(ledger_dir: Path) -> None:
    ledger = mpe_ledger(ledger_dir)
    result = invoke("compare", "--format", "json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["fields"] == list(FIELDS)
    (row,) = payload["rows"]
    want = compare(ledger.runs(), ledger.evals()).rows.iloc[0]
    assert row["mean"] == pytest.approx(want["mean"]) == pytest.approx(6.0)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((want["ci_low"], want["ci_high"]))
    assert row["seeds"] == 3 and row["excluded"] == 4 and row["collision_rate"] is None
    assert {r["run_id"] for r in payload["excluded"]} == {"ppo-failed", "ppo-int", "ppo-dead", "ppo-noeval"}
    assert "4 runs not scored" in result.stderr


def test_compare_rich_table_names_the_score_and_the_excluded_runs(ledger_dir: Path) -> None:
    mpe_ledger(ledger_dir)
    result = invoke("compare", "--aggregate", "team-sum")
    assert result.exit_code == 0, result.output
    assert "team sum over agents" in result.output and "95% stratified bootstrap CI" in result.output
    assert "1 crashed" in result.output and "1 failed" in result.output
    assert "18.00" in result.output  # team-sum mean: (6 + 15 + 33) / 3
    assert_user_error(invoke("compare", "--aggregate", "best"), "team-mean or team-sum")


def test_compare_markdown_csv_latex_through_the_cli(ledger_dir: Path) -> None:
    smarts_ledger(ledger_dir)
    md = invoke("compare", "--env", "smarts-intersection", "--per-agent", "--format", "markdown")
    assert md.exit_code == 0, md.output
    table_lines = [line for line in md.stdout.splitlines() if line.startswith("|")]
    assert len(table_lines) == 2 + 6  # header, rule, six algorithm/variant rows
    assert "collision" in table_lines[0] and "agent_3" in table_lines[0]
    csv = invoke("compare", "--algo", "maddpg", "--format", "csv")
    frame = pd.read_csv(io.StringIO(csv.stdout))
    assert set(frame["algo"]) == {"maddpg"} and len(frame) == 5
    assert frame.set_index("label").loc["maddpg/batch-64", "mean"] == pytest.approx(6.5)
    latex = invoke("compare", "--preset", "biswas-per", "--format", "latex", "--vs", "uniform")
    assert latex.exit_code == 0, latex.output
    first, body = latex.stdout.split("\n", 1)
    assert "booktabs" in first and first.startswith("%")  # says what the table needs
    assert body.startswith("\\begin{table}") and "\\begin{tabular}" in latex.stdout
    assert "\\label{tab:marlbench-" in latex.stdout
    assert "P(> uniform)" in latex.stdout and "maddpg/per-rank" in latex.stdout


@pytest.mark.slow
def test_report_without_runs_prints_the_producing_command(ledger_dir: Path, tmp_path: Path) -> None:
    mpe_ledger(ledger_dir)
    result = invoke("report", "--figure", "batch-size", "--out", str(tmp_path / "out"))
    assert_user_error(
        result, "no finished runs for figure 'batch-size'", "marlbench preset run biswas-batch-size"
    )
    assert not (tmp_path / "out").exists()
    result = invoke("report", "--figure", "learning-curves", "--env", "pursuit")
    assert_user_error(result, "marlbench train ppo --env pursuit --seeds 3")
    assert_user_error(invoke("report", "--figure", "batchsize"), "no figure named 'batchsize'", "batch-size")
    # these runs have evaluations but recorded no training episodes
    result = invoke(
        "report", "--figure", "learning-curves", "--source", "train", "--out", str(tmp_path / "o")
    )
    assert_user_error(result, "recorded no training episodes", "--source eval")
    result = invoke("report", "--figure", "learning-curves", "--out", str(tmp_path / "o"))
    assert result.exit_code == 0 and (tmp_path / "o" / "learning-curves.pdf").exists()


@pytest.mark.slow
def test_report_writes_png_and_pdf_and_prints_the_paths(ledger_dir: Path, tmp_path: Path) -> None:
    smarts_ledger(ledger_dir)
    out = tmp_path / "figs"
    result = invoke("report", "--figure", "batch-size", "--out", str(out), "--svg")
    assert result.exit_code == 0, result.output
    for suffix in ("png", "pdf", "svg"):
        path = out / f"batch-size.{suffix}"
        assert path.stat().st_size > 1000
        assert str(path) in result.stdout
    assert (out / "batch-size.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "batch-size.pdf").read_bytes()[:5] == b"%PDF-"
    curves = invoke(
        "report",
        "--figure",
        "learning-curves",
        "--env",
        "smarts-intersection",
        "--algo",
        "ppo",
        "--out",
        str(out),
    )
    assert curves.exit_code == 0, curves.output
    assert (out / "learning-curves-smarts-intersection-ppo.png").exists()  # filters in the name


def test_report_list_says_which_figures_have_runs(ledger_dir: Path) -> None:
    smarts_ledger(ledger_dir)
    result = invoke("report", "--list")
    assert result.exit_code == 0, result.output
    lines = {line.split()[1]: line for line in result.output.splitlines() if line.startswith("│ ")}
    assert "4 finished (all variants)" in lines["batch-size"]
    assert "4 finished" in lines["ppo-vs-maddpg"] and "learning-curves" in lines


def test_few_seeds_duplicates_and_bracketed_labels_are_shown_honestly(ledger_dir: Path) -> None:
    """n < 5 is flagged next to IQM and CI, a re-run seed counts once, Rich keeps '[...]' labels."""
    from marlbench.reports.compare import compare as build
    from marlbench.reports.render import display_rows, to_rich

    ledger = smarts_ledger(ledger_dir)
    runs = ledger.runs()
    runs = runs[runs["preset"] == "biswas-batch-size"]
    twin = runs.iloc[[0]].assign(run_id="twin-of-first", finished_at=runs["finished_at"].max() + 1)
    evals = ledger.evals()
    twin_evals = evals[evals["run_id"] == runs["run_id"].iloc[0]].assign(run_id="twin-of-first")
    table = build(pd.concat([runs, twin]), pd.concat([evals, twin_evals]))
    assert table.merged == 1 and "latest kept" in table.caption
    assert set(table.rows["seeds"]) == {2}  # the twin did not become a third seed
    header, cells = display_rows(table)
    iqm, ci = header.index("IQM"), header.index("95% CI")
    assert all(row[iqm].endswith("*") and row[ci].endswith("*") for row in cells)
    assert "fewer than 5 seeds" in table.caption
    rich_table = to_rich(table)
    labelled = table.rows.assign(label=["maddpg [batch_size=64]", "maddpg [batch_size=1024]"])
    table.rows = labelled
    from rich.console import Console

    console = Console(width=200, record=True)
    console.print(to_rich(table))
    assert "maddpg [batch_size=64]" in console.export_text()
    assert rich_table.row_count == 2


def test_report_names_files_by_their_filters_and_writes_one_named_file(
    ledger_dir: Path, tmp_path: Path
) -> None:
    smarts_ledger(ledger_dir)
    folder = tmp_path / "figs"
    first = invoke("report", "--figure", "learning-curves", "--algo", "ppo", "--out", str(folder))
    second = invoke("report", "--figure", "learning-curves", "--algo", "maddpg", "--out", str(folder))
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    names = sorted(p.name for p in folder.iterdir())
    assert names == [
        "learning-curves-maddpg.pdf",
        "learning-curves-maddpg.png",
        "learning-curves-ppo.pdf",
        "learning-curves-ppo.png",
    ]  # the second did not overwrite the first
    one = tmp_path / "named" / "curves.png"
    result = invoke("report", "--figure", "learning-curves", "--algo", "ppo", "--out", str(one))
    assert result.exit_code == 0, result.output
    assert [p.name for p in one.parent.iterdir()] == ["curves.png"]
    assert one.read_bytes().startswith(b"\x89PNG")
