"""The recorder on its own: episode rows, eval ids, the checkpoint swap, the heartbeat."""

from __future__ import annotations

import json

import pytest

from marlbench.config import RunSpec, resolve
from marlbench.envs.array import EpisodeRecord
from marlbench.training import recorder as recorder_mod
from marlbench.training.progress import NullProgress
from marlbench.training.recorder import RunRecorder

pytestmark = pytest.mark.usefixtures("fake_algo")


def make_recorder(ledger, fake_algo, episode_offset: int = 0, eval_offset: int = 0, **spec_kwargs):
    """A recorder for a registered run of the fake on user_env:make (agents a and b)."""
    resolved = resolve(RunSpec("fake", "user_env:make", steps=100, **spec_kwargs))
    ledger.put_run({"run_id": "r1", "algo": "fake", "env": "user_env:make", "status": "running"})
    recorder = RunRecorder(
        ledger, "r1", resolved.spec, resolved.env, NullProgress(), episode_offset, eval_offset
    )
    recorder.attach(fake_algo(resolved.env, resolved.config, 0))
    return recorder


def record(a: float, b: float, metric: float | None = None) -> EpisodeRecord:
    metrics = {"b": {"captures": metric}} if metric is not None else {}
    return EpisodeRecord(0, {"a": a, "b": b}, {"a": 2, "b": 4}, metrics)


def test_episode_rows_per_agent_numbered_from_the_offset(ledger, fake_algo) -> None:
    recorder = make_recorder(ledger, fake_algo, episode_offset=7)
    recorder.log_episodes(40, [record(1.0, 2.0), record(3.0, 4.0, metric=5.0)])
    recorder.log_episodes(80, [record(6.0, 7.0)])
    recorder.close()
    rows = ledger.episodes(["r1"]).sort_values(["episode", "agent"])
    assert rows[["episode", "agent", "step", "reward", "length"]].values.tolist() == [
        [7, "a", 40, 1.0, 2],
        [7, "b", 40, 2.0, 4],
        [8, "a", 40, 3.0, 2],
        [8, "b", 40, 4.0, 4],
        [9, "a", 80, 6.0, 2],
        [9, "b", 80, 7.0, 4],
    ]
    captures = rows.set_index(["episode", "agent"])["metric_captures"]
    assert captures[(8, "b")] == 5.0 and captures.isna().sum() == 5
    assert (rows["wall_time"] >= 0).all()


def test_eval_ids_count_up_from_the_offset_whoever_evaluates(ledger, fake_algo) -> None:
    recorder = make_recorder(ledger, fake_algo, eval_offset=3, eval_episodes=2)
    assert recorder.log_evaluation(10, [record(1.0, 1.0)], policy="local") == 3
    recorder.steps = 20
    recorder.evaluate()  # the runner's own round: eval_episodes deterministic episodes
    assert recorder.last_eval_return == 5.0  # team mean (2 + 8) / 2, shown in the progress lines
    assert recorder.log_evaluation(30, [record(2.0, 2.0)]) == 5
    recorder.close()
    evals = ledger.evals(["r1"])
    by_id = evals.groupby("eval_id").agg(
        step=("step", "first"), rows=("agent", "size"), policy=("policy", "first")
    )
    assert by_id.to_dict("index") == {
        3: {"step": 10, "rows": 2, "policy": "local"},
        4: {"step": 20, "rows": 4, "policy": ""},
        5: {"step": 30, "rows": 2, "policy": ""},
    }
    # user_env's known returns: a earns 1 per step for 2 steps, b 2 per step for 4 steps
    runner_round = evals[evals["eval_id"] == 4]
    assert sorted(runner_round["reward"]) == [2.0, 2.0, 8.0, 8.0]


def test_checkpoint_replaces_latest_whole_and_a_failed_save_leaves_it(ledger, fake_algo) -> None:
    recorder = make_recorder(ledger, fake_algo)
    recorder.algo.steps_done = recorder.steps = 10
    rel = recorder.checkpoint()
    latest = ledger.root / rel
    assert ledger.get_run("r1")["checkpoint"] == rel and ledger.get_run("r1")["steps"] == 10
    assert json.loads((latest / "marlbench.json").read_text()) == {"steps": 10, "episodes": 0, "evals": 0}

    def broken_save(directory) -> None:
        directory.mkdir(parents=True)
        (directory / "fake.json").write_text("{half a file")
        raise OSError("disk full")

    recorder.algo.steps_done = recorder.steps = 20
    recorder.algo.save = broken_save
    with pytest.raises(OSError, match="disk full"):
        recorder.checkpoint()
    assert json.loads((latest / "fake.json").read_text())["steps_done"] == 10  # the old one, whole
    assert sorted(p.name for p in latest.parent.iterdir()) == ["latest"]  # no temporary left behind
    assert ledger.get_run("r1")["steps"] == 10
    recorder.close()


def test_heartbeat_flushes_episodes_and_updates_the_run_row(ledger, fake_algo, monkeypatch) -> None:
    recorder = make_recorder(ledger, fake_algo, eval_episodes=0)
    recorder.log_episodes(5, [record(1.0, 2.0)])
    recorder.tick(5)
    assert len(ledger.episodes(["r1"])) == 0 and ledger.get_run("r1")["steps"] == 0  # not due yet
    monkeypatch.setattr(recorder_mod, "HEARTBEAT_SECONDS", 0.0)
    recorder.tick(6)
    row = ledger.get_run("r1")
    assert (row["steps"], row["agent_steps"]) == (6, 12) and row["wall_time_s"] > 0
    assert len(ledger.episodes(["r1"])) == 2  # readable while the run goes on
    recorder.close()
