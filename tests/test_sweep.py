"""The sweep: plan (skip / running / resume / run by config hash), adopt twins, execute, resume."""

from __future__ import annotations

import pytest

from marlbench.config import RunSpec, resolve
from marlbench.ledger import Ledger
from marlbench.presets import alias_tag
from marlbench.training.sweep import adopt_twins, execute, plan


def _row(
    ledger: Ledger, run_id: str, spec: RunSpec, status: str, checkpoint: str = "", **extra: object
) -> None:
    ledger.put_run(
        {
            "run_id": run_id,
            "config_hash": spec.config_hash(),
            "algo": spec.algo,
            "env": spec.env,
            "seed": spec.seed,
            "status": status,
            "checkpoint": checkpoint,
            "steps": 100,
            "host": "elsewhere",
            **extra,
        }
    )


def test_plan_matches_twins_by_config_hash(ledger: Ledger) -> None:
    runs = [
        resolve(RunSpec(algo="ppo", env="mpe-spread", seed=s, steps=200, preset="p", variant="v"))
        for s in range(5)
    ]
    specs = [r.spec for r in runs]
    _row(ledger, "done", specs[0], "finished", "checkpoints/done/latest")
    _row(ledger, "stopped", specs[1], "interrupted", "checkpoints/stopped/latest")
    _row(ledger, "nockpt", specs[2], "interrupted")
    _row(ledger, "broke", specs[3], "failed", "checkpoints/broke/latest")
    _row(ledger, "busy", specs[4], "running")
    other = resolve(RunSpec(algo="ppo", env="mpe-spread", seed=0, steps=300)).spec  # not a twin
    _row(ledger, "other", other, "finished")
    planned = plan(runs, ledger.runs())
    assert [(p.action, p.run_id) for p in planned] == [
        ("skip", "done"),
        ("resume", "stopped"),
        ("run", ""),
        ("run", ""),
        ("running", "busy"),
    ]
    assert "failed" in planned[3].note


def test_finished_twin_of_another_preset_is_adopted(ledger: Ledger) -> None:
    from marlbench.reports.data import filter_runs

    mine = resolve(RunSpec(algo="ppo", env="mpe-spread", seed=0, steps=200, preset="b", variant="uniform"))
    twin = resolve(RunSpec(algo="ppo", env="mpe-spread", seed=0, steps=200, preset="a", variant="batch-1024"))
    _row(ledger, "theirs", twin.spec, "finished", preset="a", variant="batch-1024")
    planned = plan([mine], ledger.runs())
    assert planned[0].action == "skip" and "identical run of a/batch-1024" in planned[0].note
    assert adopt_twins(planned, ledger) == 1
    assert adopt_twins(plan([mine], ledger.runs()), ledger) == 0  # tagged once
    assert ledger.get_run("theirs")["tags"].split(",") == [alias_tag("b", "uniform")]
    runs = ledger.runs()
    assert filter_runs(runs, preset="a")["variant"].tolist() == ["batch-1024"]
    adopted = filter_runs(runs, preset="b", variants=["uniform"])
    assert adopted["run_id"].tolist() == ["theirs"] and adopted["variant"].tolist() == ["uniform"]


# ---------------------------------------------------------------------------------------------
# execute, with the fake algorithm
# ---------------------------------------------------------------------------------------------
def fake_specs(*hyperparams: dict) -> list:
    return [
        resolve(RunSpec("fake", "user_env:make", seed=s, steps=60, hyperparams=h, preset="p", variant="v"))
        for s, h in enumerate(hyperparams)
    ]


def test_execute_then_skip_then_resume_only_the_interrupted_run(ledger: Ledger, fake_algo) -> None:
    resolved = fake_specs({}, {"stop_at": 30})
    with pytest.raises(KeyboardInterrupt):  # Ctrl-C stops the sweep once its run is marked
        execute(plan(resolved, ledger.runs()), ledger)
    runs = ledger.runs().set_index("seed")
    assert runs.loc[0, "status"] == "finished" and runs.loc[1, "status"] == "interrupted"
    done, stopped = runs.loc[0, "run_id"], runs.loc[1, "run_id"]
    done_time = ledger.get_run(done)["updated_at"]

    planned = plan(resolved, ledger.runs())
    assert [(p.action, p.run_id) for p in planned] == [("skip", done), ("resume", stopped)]
    (row,) = execute(planned, ledger)
    assert (row["run_id"], row["status"], row["resumed_from"], row["steps"]) == (
        stopped,
        "finished",
        "interrupted",
        60,
    )
    assert fake_algo.instances[-1].loaded_at == 30
    assert len(ledger.runs()) == 2 and ledger.get_run(done)["updated_at"] == done_time

    again = plan(resolved, ledger.runs())
    assert [p.action for p in again] == ["skip", "skip"] and execute(again, ledger) == []
    assert len(fake_algo.instances) == 3  # nothing built for skipped runs


def test_execute_goes_on_past_a_failed_run(ledger: Ledger, fake_algo) -> None:
    rows = execute(plan(fake_specs({"stop_at": 20, "stop_with": "error"}, {}), ledger.runs()), ledger)
    assert [r["status"] for r in rows] == ["failed", "finished"]
    assert "fake failed at step 20" in rows[0]["error"]
    assert sorted(ledger.runs()["status"]) == ["failed", "finished"]
    # a failed twin does not count as done: the next plan runs it again
    assert [p.action for p in plan(fake_specs({"stop_at": 20, "stop_with": "error"}), ledger.runs())] == [
        "run"
    ]
