"""Issue 18 (items 3, 4, 8): what a new user trips over in the CLI.

Help that names what goes after an option, rows that can be told apart, whole run ids, a user env
without ``render_mode``, progress lines into a log file, a fast ``compare``, a CSV without empty
Atari/SMARTS columns and ``report --list`` commands with a budget.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import TINY, tiny_cli_args
from test_reports import mpe_ledger, smarts_ledger
from typer.testing import CliRunner

from marlbench.cli import app
from marlbench.cli.common import setting_labels
from marlbench.training.progress import LineProgress, RichProgress, progress_every, terminal_progress

runner = CliRunner()


def invoke(*args: str, columns: int = 250):
    return runner.invoke(app, list(args), env={"COLUMNS": str(columns)})


# ---- --help ---------------------------------------------------------------------------------------
def test_help_shows_metavars_not_python_types() -> None:
    train = invoke("train", "--help")
    assert train.exit_code == 0, train.output
    for tag in ("<bool>", "<int>", "<str>", "<list[str]>", "<float>"):
        assert tag not in train.output, tag
    lines = {line.split()[1]: line for line in train.output.splitlines() if line.startswith("│ --")}
    assert lines["--steps"].split()[2] == "N"
    assert lines["--set"].split()[2] == "K=V" and lines["--env-opt"].split()[2] == "K=V"
    assert lines["--env"].split()[3] == "ENV"  # after the short form -e
    assert lines["--resume"].split()[2] == "RUN_ID" and lines["--ledger"].split()[2] == "DIR"
    assert lines["--per"].split()[2] == "Prioritized"  # a flag: nothing between name and help
    root = invoke("--help")
    assert "<bool>" not in root.output


def test_arguments_are_named_in_capitals_required_bare_optional_in_brackets() -> None:
    envs = invoke("envs", "--help")
    assert "Usage: marlbench envs [OPTIONS] [NAME]" in envs.output, envs.output
    assert "show" not in envs.output.split("Arguments")[1].split("\n")[1]
    show = invoke("runs", "show", "--help")
    assert "Usage: marlbench runs show [OPTIONS] RUN_ID" in show.output, show.output
    missing = invoke("runs", "show")
    assert missing.exit_code == 2 and "Missing argument 'RUN_ID'" in missing.output


# ---- rows that can be told apart ------------------------------------------------------------------
def test_setting_labels_name_preset_variants_and_differing_settings() -> None:
    def row(algo: str, hyper: dict, preset: str = "", variant: str = "") -> dict:
        config = json.dumps({"hyperparams": hyper, "env_options": {}})
        return {"algo": algo, "env": "mpe-spread", "preset": preset, "variant": variant, "config": config}

    rows = [
        row("ppo", {"learning_rate": 0.001, "n_steps": 32}),
        row("ppo", {"learning_rate": 0.01, "n_steps": 32}),
        row("maddpg", {"batch_size": 64}),
        row("maddpg", {}, preset="biswas-per", variant="per-rank.mpe-spread"),
    ]
    assert setting_labels(rows) == ["learning_rate=0.001", "learning_rate=0.01", "-", "biswas-per/per-rank"]


def wide_console(monkeypatch: pytest.MonkeyPatch, module: object, width: int) -> io.StringIO:
    """Point ``module.console`` at a Console of ``width`` columns writing into the returned buffer."""
    from rich.console import Console

    screen = io.StringIO()
    monkeypatch.setattr(module, "console", lambda stderr=False: Console(file=screen, width=width))
    return screen


def test_runs_table_tells_runs_apart_and_never_cuts_an_id(
    ledger_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import marlbench.cli.runs as runs_cli
    from marlbench.ledger import Ledger

    smarts_ledger(ledger_dir)
    ids = list(Ledger(ledger_dir).runs()["run_id"])
    wide = wide_console(monkeypatch, runs_cli, 200)
    assert invoke("runs").exit_code == 0
    rows = [line.split("│") for line in wide.getvalue().splitlines() if line.startswith("│")]
    assert sorted(r[1].strip() for r in rows) == sorted(ids)
    assert {r[4].strip() for r in rows} >= {"biswas-per/per-rank", "biswas-batch-size/batch-64"}
    narrow = wide_console(monkeypatch, runs_cli, 80)  # two lines per run: the whole id alone
    assert invoke("runs").exit_code == 0
    lines = narrow.getvalue().splitlines()
    assert sorted(line for line in lines if not line.startswith(" ")) == sorted(ids)
    assert all(len(line) <= 80 for line in lines)
    assert "    biswas-per/uniform  finished" in narrow.getvalue()


def test_user_env_without_render_mode_trains_on_the_sb3_path_and_is_named_by_module(
    tmp_path: Path, ledger_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = (Path(__file__).parent / "user_env.py").read_text().replace("    render_mode = None\n", "")
    assert "render_mode" not in source
    (tmp_path / "bare_env.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    result = invoke("train", "ppo", "--env", "bare_env:make", *tiny_cli_args("ppo", steps=64))
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output and "AttributeError" not in result.output
    assert "ppo-bare-env-s0-" in result.output  # the module names the run, not the factory 'make'
    assert "variant / settings" in result.output  # the end-of-training table tells runs apart
    assert TINY["ppo"]  # the tiny settings this used


# ---- progress into a file --------------------------------------------------------------------------
class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_line_progress_prints_a_line_every_interval_and_at_the_end() -> None:
    stream, clock = io.StringIO(), FakeClock()
    sink = LineProgress(stream, every=10.0, clock=clock)
    sink.start("ppo-x-s0-abc", 1000, "ppo x s0")
    for t, steps in ((3, 100), (9.9, 200), (10, 300), (15, 400), (20.5, 500)):
        clock.now = t
        sink.update("ppo-x-s0-abc", steps, {"rate": 50.0, "reward": -1.5})
    sink.finish("ppo-x-s0-abc", "finished")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 4, lines  # start, at t=10 and t=20.5, end
    assert "started, 1,000 steps" in lines[0]
    assert (
        lines[1]
        == "[progress] ppo-x-s0-abc  300/1,000 steps (30%)  50 steps/s  reward -1.50 (recent episodes)"
    )
    assert "500/1,000" in lines[2]
    assert lines[3] == "[progress] ppo-x-s0-abc: finished at 500/1,000 steps"
    clock.now = 40
    sink.update("ppo-x-s0-abc", 600, {"rate": 50.0, "reward": None, "eval_return": -20.25})
    assert (
        stream.getvalue()
        .splitlines()[-1]
        .endswith("reward -1.50 (recent episodes)  eval -20.25 (latest evaluation)")
    )  # the latest reward is kept while no episode ended since


def test_terminal_progress_is_lines_off_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # not a terminal
    monkeypatch.delenv("MARLBENCH_PROGRESS", raising=False)
    monkeypatch.setenv("MARLBENCH_PROGRESS_EVERY", "2.5")
    sink = terminal_progress()
    assert isinstance(sink, LineProgress) and sink.every == 2.5
    monkeypatch.setenv("MARLBENCH_PROGRESS_EVERY", "soon")
    assert progress_every() == 10.0
    monkeypatch.setenv("MARLBENCH_PROGRESS", "1")
    assert isinstance(terminal_progress(), RichProgress)


def test_training_into_a_pipe_prints_progress_lines(tmp_path: Path) -> None:
    args = ["train", "random", "--env", "mpe-spread", *tiny_cli_args("random", steps=200)]
    env = {"MARLBENCH_PROGRESS_EVERY": "0.0001", "MARLBENCH_LEDGER": str(tmp_path / "l")}
    code = f"import sys; sys.argv = ['marlbench', *{args!r}]; from marlbench.cli import app; app()"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**_env(), **env}, timeout=120
    )
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("[progress] random-mpe-spread-s0")]
    assert "started" in lines[0] and "finished at" in lines[-1], done.stderr
    assert any("/200 steps" in line for line in lines[1:-1]), done.stderr


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "MARLBENCH_PROGRESS"}


# ---- compare: fast, and a CSV without empty columns ------------------------------------------------
def test_compare_does_not_import_scipy(ledger_dir: Path) -> None:
    mpe_ledger(ledger_dir)
    code = textwrap.dedent(
        f"""
        import sys
        from typer.testing import CliRunner
        from marlbench.cli import app
        result = CliRunner().invoke(app, ["compare", "--ledger", {str(ledger_dir)!r}, "--format", "json"])
        assert result.exit_code == 0, result.output
        print(sorted(m for m in ("scipy.stats", "matplotlib", "seaborn", "torch") if m in sys.modules))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_bootstrap_and_iqm_agree_with_scipy_to_the_last_bit() -> None:
    from scipy import stats as scipy_stats

    from marlbench.reports import stats

    rng = np.random.default_rng(7)
    for n in (2, 3, 5, 8, 13):
        scores = rng.normal(size=n)
        for statistic in ("mean", "iqm"):

            def pooled(*strata: np.ndarray, axis: int = -1, name: str = statistic) -> np.ndarray:
                joined = np.concatenate(strata, axis=axis)
                if name == "mean":
                    return np.mean(joined, axis=axis)
                return scipy_stats.trim_mean(joined, 0.25, axis=axis)

            want = scipy_stats.bootstrap(
                (scores,),
                pooled,
                n_resamples=stats.RESAMPLES,
                method="percentile",
                paired=False,
                vectorized=True,
                rng=np.random.default_rng(stats.BOOTSTRAP_SEED),
            ).confidence_interval
            assert stats.bootstrap_ci([scores], statistic) == (float(want.low), float(want.high))
        assert stats.iqm(scores) == scipy_stats.trim_mean(scores, 0.25)
    band = rng.normal(size=(4, 6))
    low, high = stats.bootstrap_band(band)
    want = scipy_stats.bootstrap(
        (band,),
        lambda s, axis=-1: np.nanmean(s, axis=axis),
        axis=0,
        n_resamples=2_000,
        method="percentile",
        vectorized=True,
        rng=np.random.default_rng(stats.BOOTSTRAP_SEED),
    ).confidence_interval
    assert np.array_equal(low, want.low) and np.array_equal(high, want.high)
    a, b = np.array([1.0, 2.0, 2.0, 5.0]), np.array([2.0, 3.0, 0.0])
    u = scipy_stats.mannwhitneyu(a, b, alternative="greater").statistic
    assert stats.probability_of_improvement(a, b) == pytest.approx(u / 12, abs=1e-15)


def test_csv_drops_the_optional_columns_no_row_fills(ledger_dir: Path) -> None:
    mpe_ledger(ledger_dir)
    mpe = invoke("compare", "--format", "csv")
    assert mpe.exit_code == 0, mpe.output
    header = mpe.stdout.splitlines()[0].split(",")
    for dropped in ("collision_rate", "completion_rate", "percent_human", "running_mean", "p_improvement"):
        assert dropped not in header
    for kept in ("label", "variant", "env", "mean", "ci_low", "ci_high", "steps"):
        assert kept in header
    as_json = json.loads(invoke("compare", "--format", "json").stdout)
    assert "percent_human" in as_json["rows"][0]  # JSON keeps every field (null)


def test_csv_keeps_an_optional_column_a_row_fills(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MARLBENCH_LEDGER", str(tmp_path / "smarts"))
    smarts_ledger(tmp_path / "smarts")
    result = invoke("compare", "--format", "csv")
    frame = pd.read_csv(io.StringIO(result.stdout))
    assert "collision_rate" in frame.columns and frame["collision_rate"].notna().all()
    assert "percent_human" not in frame.columns


# ---- report --list --------------------------------------------------------------------------------
def test_report_list_suggests_preset_runs_with_a_budget(
    ledger_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import marlbench.cli.reports as reports_cli

    screen = wide_console(monkeypatch, reports_cli, 400)
    result = invoke("report", "--list")
    assert result.exit_code == 0, result.output
    commands = [line for line in screen.getvalue().splitlines() if "marlbench preset run" in line]
    assert commands, screen.getvalue()
    assert all("--tier smoke" in line for line in commands), commands
    screen = wide_console(monkeypatch, reports_cli, 400)
    invoke("report", "--list", "--tier", "night")
    assert "--tier night" in screen.getvalue() and "--tier smoke" not in screen.getvalue()


def test_runs_with_a_bogus_status_is_one_error_not_an_empty_table(ledger_dir: Path) -> None:
    mpe_ledger(ledger_dir)
    result = invoke("runs", "--status", "bogus")
    assert result.exit_code == 2 and "not a run status" in result.output, result.output
    assert "no runs" not in result.output and "Traceback" not in result.output
