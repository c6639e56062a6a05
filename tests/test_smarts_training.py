"""Training on smarts-intersection end to end through the CLI (issue 4), with CI-sized budgets.

One module fixture runs, as a user would (each command in its own process, with a fresh ledger
and scenario cache):

1. ``marlbench train maddpg --env smarts-intersection --env-opt bev=true --per --steps 300`` (small
   batch, early start);
2. ``marlbench train ppo --env smarts-intersection --env-opt bev=true --env-opt traffic=high --steps 256``;
3. ``marlbench evaluate MADDPG_RUN --episodes 2 --env-opt traffic=high``;

(1 and 2 side by side) and records after the trainings and after the evaluation which SUMO
processes of this test are still alive. The tests then
check the ledger: both trained on the bird's-eye image, with an image branch in their networks;
per-agent episodes of the four egos with their metrics and rewards that add up,
the high-traffic evaluation with its options, rates consistent with the metric columns, and no
SUMO process left behind. Episodes are capped at 150 steps (``max_steps``) to keep it short.

A unit test with a fake simulator checks the reset's wait for egos whose spawn SMARTS delays.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

pytest.importorskip("smarts.core")
pytest.importorskip("sumo")

from marlbench.ledger import Ledger  # noqa: E402

pytestmark = [
    pytest.mark.filterwarnings("ignore:Use of deprecated parameter lane:UserWarning"),
    pytest.mark.filterwarnings("ignore:path is deprecated:DeprecationWarning"),
]

AGENTS = [f"agent_{i}" for i in range(4)]
FLAGS = ["metric_collided", "metric_reached_goal", "metric_off_road", "metric_off_route"]
METRICS = [*FLAGS, "metric_distance_travelled"]
MAX_STEPS = 150
MADDPG_STEPS, PPO_STEPS = 300, 256
# The env's reward weights (defaults of smarts-intersection): progress, collision, off road, goal.
PROGRESS, COLLISION, OFF_ROAD, GOAL = 0.1, 10.0, 10.0, 10.0

COMMANDS: dict[str, list[str]] = {
    "maddpg": [
        "train", "maddpg", "--env", "smarts-intersection", "--per", "--steps", str(MADDPG_STEPS),
        "--set", "learning_starts=100", "--set", "learn_every=50", "--batch-size", "32",
        "--eval-episodes", "1", "--eval-every", "100000", "--env-opt", f"max_steps={MAX_STEPS}",
        "--env-opt", "bev=true", "--set", "buffer_size=2000",
    ],
    "ppo": [
        "train", "ppo", "--env", "smarts-intersection", "--env-opt", "traffic=high",
        "--steps", str(PPO_STEPS), "--set", "n_envs=1", "--set", "n_steps=64", "--set", "batch_size=64",
        "--eval-episodes", "1", "--eval-every", "100000", "--env-opt", f"max_steps={MAX_STEPS}",
        "--env-opt", "bev=true",
    ],
}  # fmt: skip


def our_sumo_processes(marker: bytes) -> list[int]:
    """PIDs of ``sumo`` processes started by this test: children of this process (zombies included)
    or processes whose environment holds ``marker`` (this test's own cache path, so SUMO processes
    of other programs on the machine never count, and orphans re-parented to init still do)."""
    me = os.getpid()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            comm = stat[stat.index("(") + 1 : stat.rindex(")")]
            if not comm.startswith("sumo"):
                continue
            ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
            if ppid == me or marker in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except (OSError, ValueError):
            continue
    return found


def marlbench(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``marlbench ARGS`` in a fresh Python process, as a user runs it (output captured)."""
    code = "from marlbench.cli import app; app()"  # typer reads sys.argv[1:]: the args below
    return subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run the three commands once; the ledger, each command's result and the SUMO survivors.

    The CLI runs in subprocesses: SMARTS needs real file descriptors for stdout/stderr (its
    pybullet import redirects them), which ``CliRunner`` does not have; and a subprocess checks
    cleanup at process exit too, where orphaned SUMO processes would show up.
    """
    root = tmp_path_factory.mktemp("smarts-training")
    cache = root / "cache"
    env = {
        **os.environ,
        "MARLBENCH_LEDGER": str(root / "ledger"),
        "MARLBENCH_CACHE": str(cache),
        "MARLBENCH_THREADS": "1",
    }
    marker = f"MARLBENCH_CACHE={cache}".encode()
    results: dict[str, subprocess.CompletedProcess[str]] = {}
    survivors: dict[str, list[int]] = {}
    # the two trainings side by side (two SUMO processes at once), as two users' runs would be,
    # on a scenario built once beforehand (two processes building one cache entry would race)
    from marlbench.envs.smarts_intersection.scenario import build_scenario

    build_scenario(root=cache / "smarts", log=lambda line: None)
    with concurrent.futures.ThreadPoolExecutor(len(COMMANDS)) as pool:
        futures = {name: pool.submit(marlbench, args, env) for name, args in COMMANDS.items()}
        results.update({name: future.result() for name, future in futures.items()})
    survivors["train"] = our_sumo_processes(marker)
    ledger = Ledger(root / "ledger")
    runs = ledger.runs().set_index("algo")
    maddpg_id = str(runs.loc["maddpg", "run_id"]) if "maddpg" in runs.index else "missing"
    results["evaluate"] = marlbench(
        ["evaluate", maddpg_id, "--episodes", "2", "--env-opt", "traffic=high"], env
    )
    survivors["evaluate"] = our_sumo_processes(marker)
    return {"ledger": ledger, "results": results, "survivors": survivors, "marker": marker}


def _run(trained: dict[str, Any], algo: str) -> dict[str, Any]:
    runs = trained["ledger"].runs()
    (row,) = runs[runs["algo"] == algo].to_dict("records")
    return row


@pytest.mark.slow
def test_maddpg_per_and_ppo_high_traffic_runs_finish(trained: dict[str, Any]) -> None:
    for name, result in trained["results"].items():
        assert result.returncode == 0, f"{name}: {result.stdout}\n{result.stderr[-3000:]}"
    for algo, budget in (("maddpg", MADDPG_STEPS), ("ppo", PPO_STEPS)):
        row = _run(trained, algo)
        assert row["status"] == "finished" and row["error"] == "", row["error"]
        assert row["env"] == "smarts-intersection" and row["n_agents"] == 4
        assert budget <= row["steps"] < budget + 64  # PPO stops at the end of a 64-step rollout
        resolved = json.loads(row["config"])["resolved"]
        assert resolved["env_options"]["max_steps"] == MAX_STEPS
        assert resolved["env_options"]["bev"] is True
        if algo == "maddpg":
            assert resolved["hyperparams"]["per"] is True and resolved["hyperparams"]["batch_size"] == 32
        else:
            assert resolved["env_options"]["traffic"] == "high"


@pytest.mark.slow
def test_both_trained_networks_have_the_image_branch(trained: dict[str, Any]) -> None:
    """The saved weights hold the CNN of marlbench.nets.image: MADDPG's actor and critic (one
    member per agent), PPO's shared features extractor; the vector part of the input skips it."""
    import io
    import zipfile

    import torch

    from marlbench.envs.smarts_intersection import features as F
    from marlbench.nets.image import CONV_CHANNELS

    ledger = trained["ledger"]
    maddpg = torch.load(ledger.saved_checkpoint(_run(trained, "maddpg")) / "maddpg.pt", weights_only=False)
    first = (CONV_CHANNELS[0], F.STACK, 8, 8)
    assert tuple(maddpg["actor"]["body.encoder.conv_weight.0"].shape) == (4, *first)
    assert tuple(maddpg["critic"]["encoder.conv_weight.0"].shape) == (4, *first)
    vector = F.STACK * F.FRAME_SIZE
    assert maddpg["shape"]["image"] == [[F.STACK, F.BEV_PIXELS, F.BEV_PIXELS], [vector]]
    with zipfile.ZipFile(ledger.saved_checkpoint(_run(trained, "ppo")) / "model.zip") as archive:
        policy = torch.load(io.BytesIO(archive.read("policy.pth")), weights_only=True)
    assert tuple(policy["features_extractor.encoder.conv_weight.0"].shape) == (1, *first)


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["maddpg", "ppo"])
def test_training_episodes_hold_the_four_agents_and_their_metrics(trained: dict[str, Any], algo: str) -> None:
    row = _run(trained, algo)
    episodes = trained["ledger"].episodes([row["run_id"]])
    assert episodes["episode"].nunique() >= 1, "episodes last at most 150 of the 256-300 steps"
    for _, group in episodes.groupby("episode"):
        assert sorted(group["agent"]) == AGENTS  # one row per ego, every episode
    assert set(METRICS) <= set(episodes.columns)
    assert (episodes["step"] <= row["steps"]).all() and episodes["step"].is_monotonic_increasing
    driven = episodes[episodes["length"] > 0]
    # An ego sits an episode out only if SMARTS never placed it: then nothing may be recorded for it.
    absent = episodes[episodes["length"] == 0]
    assert (absent["reward"] == 0.0).all() and absent[METRICS].isna().all().all()
    assert len(driven) >= 0.9 * len(episodes)
    assert (driven["length"] <= MAX_STEPS).all()
    for flag in FLAGS:
        assert set(driven[flag].unique()) <= {0.0, 1.0}, flag
    assert (driven["metric_distance_travelled"] >= 0).all()
    assert (driven["metric_collided"] + driven["metric_reached_goal"] <= 1).all()  # both end the episode
    # The recorded return is the sum of the env's reward terms: progress, penalties, goal bonus.
    expected = (
        PROGRESS * driven["metric_distance_travelled"]
        - COLLISION * driven["metric_collided"]
        - OFF_ROAD * driven[["metric_off_road", "metric_off_route"]].max(axis=1)
        + GOAL * driven["metric_reached_goal"]
    )
    np.testing.assert_allclose(driven["reward"], expected, atol=1e-3)


@pytest.mark.slow
def test_evaluate_with_high_traffic_stores_its_options_and_consistent_rates(trained: dict[str, Any]) -> None:
    from marlbench.reports.data import run_scores
    from marlbench.reports.paper000 import safety_rates

    output = trained["results"]["evaluate"].stdout
    assert "collided rate" in output and "reached_goal rate" in output
    row = _run(trained, "maddpg")
    evals = trained["ledger"].evals([row["run_id"]])
    later = evals[evals["env_options"] != ""]
    during = evals[evals["env_options"] == ""]
    assert len(during) == 4 and len(later) == 2 * 4  # the run's final evaluation; 2 episodes x 4 egos
    assert later["eval_id"].nunique() == 1 and later["eval_id"].iloc[0] > during["eval_id"].max()
    options = {json.dumps(json.loads(text), sort_keys=True) for text in later["env_options"]}
    (stored,) = options
    assert json.loads(stored)["traffic"] == "high" and json.loads(stored)["max_steps"] == MAX_STEPS
    assert set(METRICS) <= set(later.columns)
    assert sorted(later["agent"]) == sorted(AGENTS * 2)

    runs = trained["ledger"].runs()
    runs = runs[runs["run_id"] == row["run_id"]].assign(label="maddpg")
    rates = safety_rates(runs, evals).set_index("traffic")
    assert set(rates.index) == {"low", "high"}  # the run's own density during training, then high
    for traffic, frame in (("low", during), ("high", later)):
        for rate, metric in (
            ("collision_rate", "metric_collided"),
            ("completion_rate", "metric_reached_goal"),
        ):
            value = rates.loc[traffic, rate]
            assert 0.0 <= value <= 1.0
            assert value == pytest.approx(frame[metric].mean())
    (score,) = run_scores(evals).to_dict("records")  # compare's rates: training evaluations only
    assert score["collision_rate"] == pytest.approx(during["metric_collided"].mean())
    assert score["completion_rate"] == pytest.approx(during["metric_reached_goal"].mean())


@pytest.mark.slow
def test_no_sumo_process_survives_any_command(trained: dict[str, Any]) -> None:
    assert trained["survivors"] == {"train": [], "evaluate": []}
    assert our_sumo_processes(trained["marker"]) == []


# ---------------------------------------------------------------------------------------------
# the reset waits for egos SMARTS spawns a step late
# ---------------------------------------------------------------------------------------------
class FakeSim:
    """Stands in for SMARTS: ``late`` egos are pending at reset and appear after ``delay`` steps."""

    def __init__(self, late: set[str], delay: int, done_on_spawn: frozenset[str] = frozenset()) -> None:
        self.agent_manager = SimpleNamespace(pending_agent_ids=set(late))
        self.delay = delay
        self.done_on_spawn = done_on_spawn
        self.steps: list[dict] = []

    def step(self, actions: dict) -> tuple[dict, dict, dict, dict]:
        self.steps.append(actions)
        if len(self.steps) >= self.delay:
            self.agent_manager.pending_agent_ids = set()
        present = [a for a in AGENTS if a not in self.agent_manager.pending_agent_ids]
        observations = {a: f"obs-{a}-{len(self.steps)}" for a in present}
        dones = {a: a in self.done_on_spawn for a in present}
        return observations, {}, dones, {}


def _await(sim: FakeSim, observations: dict[str, str]) -> dict[str, str]:
    from marlbench.envs.smarts_intersection.env import SmartsIntersectionEnv

    env = SmartsIntersectionEnv.__new__(SmartsIntersectionEnv)  # no simulator: only the wait is tested
    env._procs = SimpleNamespace(sim=sim)
    return env._await_spawns(observations)


def test_reset_waits_for_egos_spawned_late() -> None:
    from marlbench.envs.smarts_intersection.env import SPAWN_STEPS

    all_there = FakeSim(set(), delay=1)
    assert _await(all_there, {"agent_0": "o"}) == {"agent_0": "o"} and all_there.steps == []
    late = FakeSim({"agent_1", "agent_2", "agent_3"}, delay=2)
    observations = _await(late, {"agent_0": "obs-agent_0-0"})
    assert sorted(observations) == AGENTS and late.steps == [{}, {}]  # no actions while waiting
    assert observations["agent_0"] == "obs-agent_0-2"  # the latest observation of every ego
    crashed = FakeSim({"agent_3"}, delay=1, done_on_spawn=frozenset({"agent_3"}))
    assert sorted(_await(crashed, {"agent_0": "o"})) == AGENTS[:3]  # done while spawning: sits out
    never = FakeSim({"agent_3"}, delay=10_000)
    assert sorted(_await(never, {"agent_0": "o"})) == AGENTS[:3] and len(never.steps) == SPAWN_STEPS
