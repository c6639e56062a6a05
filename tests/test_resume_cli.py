"""`train --resume` and Ctrl-C from the command line: the hint names the real run, a finished run is
not re-run, and flags that --resume would ignore are refused (exit 2, nothing written)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner
from user_env import Interrupt

from marlbench.cli import app

pytestmark = pytest.mark.usefixtures("fake_algo")
runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args), env={"COLUMNS": "250"})


def test_ctrl_c_hint_names_the_interrupted_run(ledger) -> None:
    Interrupt.remaining = 30  # Ctrl-C after 30 env steps of 200
    result = invoke(
        "train", "fake", "--env", "user_env:make_interrupting", "--steps", "200", "--eval-episodes", "1"
    )
    assert result.exit_code == 130, result.output
    (run_id,) = ledger.runs()["run_id"].tolist()
    assert ledger.get_run(run_id)["status"] == "interrupted"
    assert f"marlbench train --resume {run_id}" in result.output and "RUN_ID" not in result.output


def test_resume_of_a_finished_run_is_refused(ledger) -> None:
    assert (
        invoke("train", "fake", "--env", "user_env:make", "--steps", "40", "--eval-episodes", "1").exit_code
        == 0
    )
    (row,) = ledger.runs().to_dict("records")
    before = (row["finished_at"], len(ledger.evals([row["run_id"]])))
    result = invoke("train", "--resume", row["run_id"])
    assert (
        result.exit_code == 2
        and "already finished" in result.output
        and "marlbench evaluate" in result.output
    )
    after = ledger.get_run(row["run_id"])
    assert (after["finished_at"], len(ledger.evals([row["run_id"]]))) == before  # nothing re-run


@pytest.mark.parametrize(
    "flags",
    [["--steps", "50"], ["--set", "noise=0.5"], ["--env-opt", "length=3"], ["--per"]],
)  # --env confirms an import-path env; another env than the run's is refused (tests/test_faults.py)
def test_flags_that_resume_would_ignore_are_refused(ledger, flags: list[str]) -> None:
    result = invoke("train", "--resume", "any-run", *flags)
    assert result.exit_code == 2 and "would be ignored" in result.output and flags[0] in result.output
    assert "Traceback" not in result.output and len(ledger.runs()) == 0
