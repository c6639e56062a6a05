"""Fault injection with real signals (issue 19, "done when"): training processes SIGKILLed at seeded
random moments, then resumed.

Twenty runs (PPO and DQN through SB3, MADDPG, CTEDD; five each, all of one seed per algorithm) are
started in child processes of a forkserver that has marlbench, torch and SB3 loaded, and each is
SIGKILLed after a random delay once its run row exists: at any moment, in an update, an episode
chunk's Parquet write or a checkpoint save. After each kill the ledger must read without a warning,
the killed run must read ``crashed``, and every run that had finished must still be finished with
all its rows. Each crashed run with a checkpoint is then resumed; it must record no row twice, train
exactly its budget with the uninterrupted run's evaluation schedule, and (MADDPG, CTEDD: see
:data:`EXACT`) end with exactly the episodes and evaluations of an uninterrupted run of the same
seed: same seed, same result across a crash.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from marlbench.ledger import Ledger, LedgerWarning

REPLAY = {
    "batch_size": 32,
    "learning_starts": 64,
    "learn_every": 10,
    "buffer_size": 5000,
    "save_replay": True,
}
KINDS: dict[str, tuple[str, int, dict[str, Any]]] = {
    "ppo": ("mpe-spread", 320, {"n_envs": 1, "n_steps": 32, "batch_size": 32, "n_epochs": 1}),
    "dqn": ("mpe-spread", 1500, {"learning_starts": 50, "buffer_size": 2000, "batch_size": 16}),
    "maddpg": (
        "mpe-spread",
        1500,
        {**REPLAY, "hidden_size": 32},
    ),
    "ctedd": (
        "cn-v1",
        1500,
        {**REPLAY, "test_every": 0},
    ),
}
"""Algorithm -> (env, steps, hyperparameters): runs of about a second here."""
EXACT = ("maddpg", "ctedd")
"""Resumed bit for bit (their checkpoints hold the native envs' state and, with ``save_replay``, the
replay buffer). SB3's checkpoints hold neither its env copies nor its rollout: a resumed SB3 run
keeps the budget, the schedule and every row, but restarts its episodes."""
TRIALS = 5
"""Kills per algorithm (20 in all)."""
PRELOAD = [
    "marlbench.api",
    "marlbench.training.runner",
    "marlbench.algos.maddpg",
    "marlbench.algos.ctedd",
    "marlbench.algos.sb3.learner",
    "marlbench.envs.mpe",
    "marlbench.envs.particles",
    "marlbench.envs.wrap",
]
"""Loaded once by the forkserver, so a child starts training at once."""


def train(root: str, algo: str) -> None:
    """One run of ``algo`` (the child's whole life, unless it is killed first)."""
    from marlbench import api
    from marlbench.algos.base import torch_threads

    env, steps, hyperparams = KINDS[algo]
    with torch_threads(1):
        api.train(
            algo,
            env,
            steps=steps,
            seed=0,
            ledger=api.open_ledger(root, create=True),
            hyperparams=hyperparams,
            eval_every=steps // 4,
            eval_episodes=1,
            checkpoint_every=steps // 6,
        )


@pytest.fixture(scope="module")
def server() -> mp.context.BaseContext:
    context = mp.get_context("forkserver")
    context.set_forkserver_preload([*PRELOAD, __name__])
    return context


def rows_of(ledger: Ledger, run_id: str) -> tuple[Any, Any]:
    """The run's episode and evaluation rows, in a stable order, without wall-clock columns."""
    episodes = ledger.episodes([run_id]).drop(columns=["run_id", "wall_time"])
    evals = ledger.evals([run_id]).drop(columns=["run_id"])
    episodes = episodes.sort_values(["episode", "agent"]).reset_index(drop=True)
    evals = evals.sort_values(["eval_id", "episode", "agent"]).reset_index(drop=True)
    return episodes, evals


def new_run_file(runs: Path, known: set[str], deadline: float) -> str | None:
    while time.monotonic() < deadline:
        fresh = {p.stem for p in runs.glob("*.parquet")} - known if runs.is_dir() else set()
        if fresh:
            return fresh.pop()
        time.sleep(0.005)
    return None


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume(server, tmp_path: Path, fault_line) -> None:
    from marlbench import api

    ledger = Ledger(tmp_path / "ledger", create=True)
    rng = np.random.default_rng(19)
    reference: dict[str, tuple[Any, Any]] = {}
    duration: dict[str, float] = {}
    for algo in KINDS:  # an uninterrupted run per algorithm, in a child as the killed ones
        known = set(ledger.runs()["run_id"]) if len(ledger.runs()) else set()
        child = server.Process(target=train, args=(str(ledger.root), algo))
        child.start()
        run_id = new_run_file(ledger.root / "runs", known, time.monotonic() + 60)
        started = time.monotonic()
        child.join(120)
        assert child.exitcode == 0 and run_id, f"{algo}: the uninterrupted run failed"
        duration[algo] = time.monotonic() - started  # from the run row to the end
        reference[algo] = rows_of(ledger, run_id)

    counts = {"crashed": 0, "finished first": 0, "no checkpoint yet": 0}
    resumed = duplicates = lost = 0
    exact, equal = [0, 0], [0, 0]  # [SB3, in-repo]: resumed runs, of them equal to the uninterrupted
    finished_rows = {r: len(ledger.episodes([r])) for r in ledger.runs()["run_id"]}
    for trial in range(TRIALS * len(KINDS)):
        algo = list(KINDS)[trial % len(KINDS)]
        known = set(ledger.runs()["run_id"])
        child = server.Process(target=train, args=(str(ledger.root), algo))
        child.start()
        run_id = new_run_file(ledger.root / "runs", known, time.monotonic() + 60)
        assert run_id is not None, f"trial {trial}: the run never started"
        time.sleep(rng.uniform(0.0, duration[algo]))
        if child.is_alive():
            os.kill(child.pid, signal.SIGKILL)
        child.join(30)
        with warnings.catch_warnings():
            warnings.simplefilter("error", LedgerWarning)  # every file whole: nothing skipped
            runs = ledger.runs().set_index("run_id")
            for done, n in finished_rows.items():  # 0 finished runs lost
                assert runs.loc[done, "status"] == "finished" and len(ledger.episodes([done])) == n
        if child.exitcode == 0 or runs.loc[run_id, "status"] == "finished":
            # done before the kill, or killed after its finished row (while compacting, exiting):
            # either way whole, with every row of the uninterrupted run
            assert len(ledger.episodes([run_id])) == len(reference[algo][0]), f"trial {trial} ({algo})"
            counts["finished first"] += 1
            finished_rows[run_id] = len(ledger.episodes([run_id]))
            continue
        assert child.exitcode == -signal.SIGKILL
        assert runs.loc[run_id, "status"] == "crashed", f"trial {trial} ({algo})"
        counts["crashed"] += 1
        if not runs.loc[run_id, "checkpoint"]:
            counts["no checkpoint yet"] += 1
            continue
        row = api.resume(run_id, ledger=ledger)
        assert row["status"] == "finished", row["error"]
        resumed += 1
        episodes, evals = rows_of(ledger, run_id)
        duplicates += int(episodes.duplicated(["episode", "agent"]).sum())
        duplicates += int(evals.duplicated(["eval_id", "episode", "agent"]).sum())
        ref_episodes, ref_evals = reference[algo]
        lost += max(0, len(ref_episodes) - len(episodes)) + max(0, len(ref_evals) - len(evals))
        same = episodes.equals(ref_episodes) and evals.equals(ref_evals)
        assert same or algo not in EXACT, f"trial {trial} ({algo}): resumed, not as the uninterrupted run"
        exact[algo in EXACT] += 1
        equal[algo in EXACT] += same
        keys = ["eval_id", "step", "episode", "agent"]  # the budget and the schedule are the run's
        assert row["steps"] == KINDS[algo][1], f"trial {trial} ({algo}): {row['steps']} steps"
        assert evals[keys].equals(ref_evals[keys]), f"trial {trial} ({algo}): other evaluations"
        finished_rows[run_id] = len(ledger.episodes([run_id]))
    fault_line(
        f"SIGKILL x{TRIALS * len(KINDS)} ({', '.join(KINDS)})",
        f"{counts['crashed']} crashed, {counts['finished first']} finished before the kill, "
        f"0 finished runs lost, every ledger read whole; {resumed} resumed: {duplicates} duplicate rows, "
        f"{lost} lost, {equal[1]}/{exact[1]} of {'/'.join(EXACT)} equal to an uninterrupted run"
        f" (SB3: {equal[0]}/{exact[0]}, same rows and schedule, episodes restart)",
    )
    assert counts["crashed"] >= TRIALS * len(KINDS) // 2, counts  # most kills land mid-run
    assert (duplicates, lost) == (0, 0)
