"""Distributed MADDPG on Ray (paper 000, Fig. 5): asynchronous learners, ledger rows, faults, bad input.

One local Ray serves the whole module (:func:`ray_session`; starting one takes ~10 s on 2 cores);
the runs join it, and the fixture's teardown checks that no Ray process of that session is left.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import TINY
from fakes import CtrlCAt, FakeRecorder
from rollouts import mean_return
from typer.testing import CliRunner

from marlbench.algos.base import EnvContext
from marlbench.cli import app
from marlbench.envs import get_spec
from marlbench.errors import ConfigError

pytest.importorskip("ray")

from marlbench.distributed import ray_runtime  # noqa: E402
from marlbench.distributed.config import DistributedMADDPGConfig  # noqa: E402
from marlbench.distributed.driver import DistributedMADDPG  # noqa: E402

runner = CliRunner()
TINY_D = TINY["maddpg-distributed"]


def _ray_processes(marker: str) -> list[str]:
    """Command lines of live processes that mention ``marker`` (our Ray session's temp dir)."""
    out = subprocess.run(["pgrep", "-af", marker], capture_output=True, text=True).stdout
    return [
        line
        for line in out.splitlines()
        if "pgrep" not in line and ("raylet" in line or "gcs_server" in line)
    ]


@pytest.fixture(scope="module")
def ray_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ray_runtime.RayRuntime]:
    cache = tmp_path_factory.mktemp("c")
    before = os.environ.get("MARLBENCH_CACHE")
    os.environ["MARLBENCH_CACHE"] = str(cache)
    path_before = os.environ.get("PYTHONPATH")
    # Ray's workers inherit this environment: they import the test env (match_env) like the driver
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).parent), path_before]))
    runtime = ray_runtime.RayRuntime(num_cpus=2).start()
    try:
        assert runtime.owned and runtime.temp_dir is not None
        assert str(runtime.temp_dir).startswith(str(cache))  # Ray's files stay in marlbench's cache
        assert _ray_processes(str(runtime.temp_dir))  # the check below can see them
        yield runtime
    finally:
        runtime.stop()
        if path_before is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = path_before
        if before is None:
            os.environ.pop("MARLBENCH_CACHE", None)
        else:
            os.environ["MARLBENCH_CACHE"] = before
    deadline = time.time() + 20
    while _ray_processes(str(runtime.temp_dir)) and time.time() < deadline:
        time.sleep(0.5)
    assert _ray_processes(str(runtime.temp_dir)) == []


def _ctx() -> EnvContext:
    spec = get_spec("mpe-spread")
    return EnvContext(spec, spec.resolve_options({}), seed=0)


def _config(**overrides: Any) -> DistributedMADDPGConfig:
    return dataclasses.replace(DistributedMADDPGConfig(**TINY_D), **overrides)


# --- bad input: exit 2, nothing written, no Ray started ----------------------------------------------
@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["ppo", "--distributed"], "has no distributed mode"),
        (["maddpg", "--distributed", "--learners", "0"], "--learners 0"),
        (["maddpg", "--distributed", "--collectors", "0"], "--collectors 0"),
        (["maddpg", "--distributed", "--ray-address", "127.0.0.1:9"], "no Ray cluster answers"),
        (["maddpg", "--distributed", "--ray-address", "nonsense"], "is not host:port"),
        (["maddpg", "--learners", "2"], "need --distributed"),
    ],
)
def test_bad_distributed_input_exits_2_and_writes_nothing(
    ledger_dir: Path, args: list[str], words: str
) -> None:
    result = runner.invoke(app, ["train", *args, "--env", "mpe-spread", "--steps", "100"])
    assert result.exit_code == 2, result.output
    assert words in result.output and "Traceback" not in result.output
    assert not ledger_dir.exists()


def test_missing_ray_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ConfigError, match=r'pip install "marlbench\[ray\]"'):
        ray_runtime.import_ray()


def test_a_long_cache_path_moves_the_session_to_a_short_private_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MARLBENCH_CACHE", str(tmp_path / ("x" * 80)))
    runtime = ray_runtime.RayRuntime()
    short = runtime._make_temp_dir()
    try:
        assert len(str(short)) <= ray_runtime.MAX_TEMP_DIR_CHARS and runtime._private_temp
    finally:
        runtime._restore()
    assert not short.exists()  # removed with the session


def test_saving_the_replay_is_refused() -> None:
    with pytest.raises(ConfigError, match="replay"):
        DistributedMADDPGConfig(save_replay=True).validate()


# --- with Ray ---------------------------------------------------------------------------------------
@pytest.mark.slow
def test_learners_update_asynchronously_and_collectors_use_new_weights(ray_session) -> None:
    algo = DistributedMADDPG(_ctx(), _config(learners=2, paced=False), seed=0)
    recorder = FakeRecorder()
    algo.learn(1500, recorder)
    report = algo.report
    counts = report["learner_updates"]
    assert len(counts) == 2 and all(c > 0 for c in counts), counts  # both learners applied updates
    history = report["history"]
    assert len(history) == sum(counts) == algo.updates_done
    by_learner = {i: [new for who, _, new in history if who == i] for i in (0, 1)}
    # versions interleave: each learner applied updates between two of the other's
    assert min(by_learner[0]) < max(by_learner[1]) and min(by_learner[1]) < max(by_learner[0])
    assert [new for _, _, new in history] == list(range(1, len(history) + 1))  # one holder, one count
    chunks = report["collector_versions"]
    assert max(v for _, v, _ in chunks) > report["start_version"]  # collectors pulled newer weights ...
    assert len({w for _, _, w in chunks}) > 1  # ... and acted with them
    assert algo.steps_done == 1500 and recorder.episodes  # every env step collected, episodes reported
    assert ray_session.owned  # the run joined the module's Ray and left it running


@pytest.mark.slow
def test_distributed_rows_match_a_single_run_and_resume_after_ctrl_c(ray_session, ledger) -> None:
    import json

    from marlbench import api

    common = {"steps": 600, "seed": 0, "ledger": ledger, "eval_every": 300, "eval_episodes": 1}
    single = api.train("maddpg", "mpe-spread", hyperparams=TINY["maddpg"], **common)
    name, hyper = api.distributed_run("maddpg", TINY["maddpg"], collectors=1, learners=2, sync_every=50)
    with pytest.raises(KeyboardInterrupt):
        api.train(name, "mpe-spread", hyperparams=hyper, progress=CtrlCAt(200), **common)
    (stopped,) = [r for r in ledger.runs().to_dict("records") if r["algo"] == name]
    assert stopped["status"] == "interrupted" and 200 <= stopped["steps"] < 600 and stopped["checkpoint"]
    dist = api.resume(stopped["run_id"], ledger=ledger)
    assert single["status"] == dist["status"] == "finished", dist["error"]
    assert dist["steps"] == 600 and dist["resumed_from"] == "interrupted"
    assert set(single) == set(dist)  # the run row: same columns
    for table in (ledger.episodes, ledger.evals):
        a, b = table([single["run_id"]]), table([dist["run_id"]])
        assert list(a.columns) == list(b.columns) and len(b) > 0
    episodes = ledger.episodes([dist["run_id"]])
    assert (
        episodes["step"].max() <= 600 and episodes.groupby("episode").size().eq(3).all()
    )  # no episode twice
    # the final evaluation (the one at 300 is skipped when Ctrl-C came in that very tick)
    assert ledger.evals([dist["run_id"]])["step"].max() == 600
    resolved = json.loads(dist["config"])["resolved"]["hyperparams"]
    assert {k: resolved[k] for k in ("collectors", "learners", "sync_every", "ray")} == {
        "collectors": 1,
        "learners": 2,
        "sync_every": 50,
        "ray": "local",
    }
    assert (ledger.root / dist["checkpoint"] / "maddpg.pt").exists()  # MADDPG's checkpoint format


@pytest.mark.slow
def test_a_killed_learner_fails_the_run_with_its_error_in_bounded_time(
    ray_session, ledger, monkeypatch: pytest.MonkeyPatch, fault_line
) -> None:
    import ray

    from marlbench import api

    spawn = DistributedMADDPG._spawn

    def spawn_then_kill(self: DistributedMADDPG) -> Any:
        actors = spawn(self)
        pid = ray.get(actors[3][0].pid.remote())  # learner 0's worker process
        threading.Timer(1.0, os.kill, (pid, signal.SIGKILL)).start()
        return actors

    monkeypatch.setattr(DistributedMADDPG, "_spawn", spawn_then_kill)
    started = time.time()
    with pytest.raises(RuntimeError, match="learner 0 died"):
        api.train("maddpg-distributed", "mpe-spread", steps=50_000, hyperparams=TINY_D, ledger=ledger)
    assert time.time() - started < 90
    (row,) = ledger.runs().to_dict("records")
    assert row["status"] == "failed" and "learner 0 died" in row["error"]
    fault_line("SIGKILL of a Ray learner actor", f"run failed naming it in {time.time() - started:.0f} s")


@pytest.mark.slow
def test_distributed_maddpg_beats_a_random_policy_on_mpe_spread(ray_session) -> None:
    """mpe-spread with 2 agents and 2 landmarks (25-step episodes, mpe2's dynamics): 1 collector + 2
    asynchronous learners, 8,000 env steps, learning from 1,000 stored transitions, one update per
    5 env steps per learner (paced), batch 256, lr 1e-3, 64x64. Measured here: ~1,370 updates in
    45 s, random -19.8 and distributed MADDPG -13.7 per agent and episode. Required margin: 3
    (the learners' interleaving varies from run to run; the collector's seed is fixed).
    """
    spec = get_spec("mpe-spread")
    ctx = EnvContext(spec, spec.resolve_options({"n_agents": 2}), seed=0)
    config = DistributedMADDPGConfig(
        batch_size=256, learn_every=5, learning_starts=1_000, actor_lr=1e-3, critic_lr=1e-3, hidden_size=64
    )
    algo = DistributedMADDPG(ctx, config, seed=0)
    algo.learn(8_000, FakeRecorder())
    sampler_env = ctx.make(seed=0)
    random_return = mean_return(lambda obs: {a: sampler_env.action_space(a).sample() for a in obs}, ctx)
    learned_return = mean_return(algo.act, ctx)
    assert min(algo.report["learner_updates"]) >= 300  # both learners took part
    assert learned_return > random_return + 3.0, (learned_return, random_return)


@pytest.mark.slow
def test_preset_run_on_ray_finishes_every_run_and_a_second_run_starts_nothing(
    ray_session, tmp_path: Path, ledger_dir: Path
) -> None:
    from conftest import TINY_PPO

    from marlbench.ledger import Ledger

    hyper = ", ".join(f"{key} = {value}" for key, value in TINY_PPO.items())
    path = tmp_path / "tiny.toml"
    path.write_text(
        'description = "two tiny PPO runs"\n[defaults]\nenv = "mpe-spread"\nsteps = 200\nseeds = 2\n'
        f'eval_episodes = 1\nhyperparams = {{ {hyper} }}\n[[variants]]\nname = "ppo"\nalgo = "ppo"\n'
    )
    first = runner.invoke(app, ["preset", "run", str(path), "--ray"])
    assert first.exit_code == 0, first.output
    runs = Ledger(ledger_dir).runs()
    assert set(runs["status"]) == {"finished"}
    ppo = runs[runs["algo"] == "ppo"]  # (a sweep may add a reference run of a random policy)
    assert sorted(ppo["seed"]) == [0, 1]
    assert os.getpid() not in set(ppo["pid"])  # trained in Ray workers, not in this process
    second = runner.invoke(app, ["preset", "run", str(path), "--ray"])
    assert second.exit_code == 0 and "nothing to do" in second.output, second.output
    assert len(Ledger(ledger_dir).runs()) == len(runs)
    refused = runner.invoke(app, ["preset", "run", str(path), "--ray", "--jobs", "2"])
    assert refused.exit_code == 2 and "drop --jobs" in refused.output
