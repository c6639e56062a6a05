"""Env copies in worker processes (:mod:`marlbench.envs.subproc`, the ``workers`` env option).

Cheap envs (mpe-spread's one-copy env, tests/match_env.py) check that W workers give exactly the
in-process arrays and episodes, for the in-repo learners' ArrayEnv and SB3's concat vec env; that a
killed worker, an env error and a Ctrl-C end in a clear error with no process left; and that close
joins every worker. One slow test steps SMARTS with 2 copies over 2 workers and checks that neither
close nor a killed worker leaves a SUMO process of this test behind.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from functools import partial
from pathlib import Path
from typing import Any

import match_env
import numpy as np
import pytest
from gymnasium import spaces

from marlbench.envs.array import ParallelArrayEnv, subprocess_array_env
from marlbench.envs.mpe import make_spread
from marlbench.envs.subproc import EnvWorkerError, SubprocArrayEnv, available_cores, shares, workers_for
from marlbench.errors import ConfigError

SPREAD = partial(make_spread, max_cycles=7, continuous=True)
"""A one-copy ParallelEnv with a state and continuous actions; 7-step episodes."""


def match_copy(seed: int, length: int = 5) -> Any:
    """tests/match_env.py copy (``seed`` is taken at reset, as ParallelArrayEnv resets copy i with it)."""
    return match_env.make(length=length)


class SlowStep(match_env.MatchEnv):
    """Sleeps in step (a SMARTS step stand-in long enough to press Ctrl-C during it)."""

    def step(self, actions: Any) -> Any:
        time.sleep(1.0)
        return super().step(actions)


class Broken(match_env.MatchEnv):
    def step(self, actions: Any) -> Any:
        raise ValueError("the simulator fell over")


def slow_copy(seed: int) -> Any:
    return SlowStep()


def broken_copy(seed: int) -> Any:
    return Broken()


def refusing_copy(seed: int) -> Any:
    raise ConfigError("this env needs SUMO", "install it")


def gone(pid: int) -> bool:
    """Whether ``pid`` no longer exists (a reaped worker)."""
    return not Path(f"/proc/{pid}").exists()


def assert_same_step(a: Any, b: Any) -> None:
    for name in ("obs", "rewards", "terminated", "truncated", "alive", "done", "final_obs", "state"):
        x, y = getattr(a, name), getattr(b, name)
        if x is None or y is None:
            assert x is None and y is None, name
        else:
            assert x.dtype == y.dtype and x.shape == y.shape, name
            np.testing.assert_array_equal(x, y, err_msg=name)
    assert a.episodes == b.episodes


def test_shares_split_copies_evenly() -> None:
    assert shares(5, 2) == [(0, 3), (3, 2)]
    assert shares(2, 2) == [(0, 1), (1, 1)]


@pytest.mark.parametrize("make", [SPREAD, match_copy], ids=["spread", "match"])
def test_workers_give_the_in_process_arrays(make: Any) -> None:
    """3 copies over 2 workers (shares 2 + 1) vs the loop adapter: equal arrays and episodes, step by step."""
    ref = ParallelArrayEnv(make, num_envs=3, seed=11)
    sub = subprocess_array_env(make, num_envs=3, seed=11, workers=2)
    try:
        assert sub.workers == 2 and sub.agents == ref.agents and sub.state_shape == ref.state_shape
        np.testing.assert_array_equal(sub.reset(), ref.reset())
        rng = np.random.default_rng(0)
        finished: list[int] = []
        for _ in range(16):
            if isinstance(ref.action_space, spaces.Box):
                actions = rng.uniform(0, 1, (3, len(ref.agents), *ref.action_space.shape)).astype(np.float32)
            else:
                actions = rng.integers(0, ref.action_space.n, (3, len(ref.agents)))
            a, b = sub.step(actions), ref.step(actions)
            assert_same_step(a, b)
            finished += [e.env_index for e in a.episodes]
        assert len(finished) >= 6 and set(finished) == {0, 1, 2}  # copy 2 (worker 1) finishes too
        if ref.state_shape is not None:
            np.testing.assert_array_equal(sub.state(), ref.state())
        np.testing.assert_array_equal(sub.reset(seed=5), ref.reset(seed=5))
    finally:
        sub.close()
        ref.close()


def test_killed_worker_raises_naming_it_and_leaves_no_process() -> None:
    sub = subprocess_array_env(match_copy, num_envs=2, seed=0, workers=2)
    pids = sub.pids
    sub.reset()
    os.kill(pids[1], signal.SIGKILL)
    started = time.monotonic()
    with pytest.raises(
        EnvWorkerError, match=r"env worker 1 .*died during step with exit code -9 \(SIGKILL\)"
    ):
        sub.step(np.zeros((2, 2), np.int64))
    assert time.monotonic() - started < 10
    assert all(gone(p) for p in pids)
    sub.close()  # closing again is harmless


def test_close_joins_every_worker() -> None:
    sub = subprocess_array_env(match_copy, num_envs=3, seed=0, workers=3)
    pids = sub.pids
    assert len(pids) == 3 and not any(gone(p) for p in pids)
    sub.reset()
    sub.close()
    assert all(gone(p) for p in pids)
    with pytest.raises(EnvWorkerError, match="closed"):
        sub.reset()


def test_env_errors_are_reported_and_close_the_workers() -> None:
    sub = subprocess_array_env(broken_copy, num_envs=2, seed=0, workers=2)
    pids = sub.pids
    sub.reset()
    with pytest.raises(EnvWorkerError, match="env worker 0 raised ValueError: the simulator fell over"):
        sub.step(np.zeros((2, 2), np.int64))
    assert all(gone(p) for p in pids)
    with pytest.raises(ConfigError, match="this env needs SUMO") as info:
        subprocess_array_env(refusing_copy, num_envs=2, seed=0, workers=2)
    assert info.value.fix == "install it"


def test_ctrl_c_in_the_parent_closes_the_workers() -> None:
    """SIGINT in the parent while workers step: KeyboardInterrupt, and no worker left (they ignore it)."""
    sub = subprocess_array_env(slow_copy, num_envs=2, seed=0, workers=2)
    pids = sub.pids
    sub.reset()
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        sub.step(np.zeros((2, 2), np.int64))
    timer.join()
    assert all(gone(p) for p in pids)


def test_sb3_vec_env_in_workers_matches_in_process() -> None:
    """SB3's SuperSuit chain: 3 copies over 2 workers give the in-process observations, rewards and infos."""
    from marlbench.envs.wrap import concat_vec_env

    make = partial(make_spread, max_cycles=7, continuous=False)
    ref, _ = concat_vec_env(make, 3, seed=4)
    sub, agents = concat_vec_env(make, 3, seed=4, workers=2)
    try:
        assert type(sub).__name__ == "SubprocConcatVecEnv" and sub.num_envs == ref.num_envs == 9
        assert agents == ["agent_0", "agent_1", "agent_2"]
        (obs, infos), (want_obs, want_infos) = sub.reset(seed=4), ref.reset(seed=4)
        np.testing.assert_array_equal(obs, want_obs)
        np.testing.assert_equal(infos, want_infos)
        rng = np.random.default_rng(1)
        for _ in range(16):
            actions = rng.integers(0, 5, 9)
            got, want = sub.step(actions), ref.step(actions)
            for x, y in zip(got[:4], want[:4], strict=True):
                assert x.dtype == y.dtype
                np.testing.assert_array_equal(x, y)
            np.testing.assert_equal(got[4], want[4])  # infos: per-slot dicts
    finally:
        sub.close()
        ref.close()


def test_workers_option_of_smarts() -> None:
    """Checked at resolve; left out of the resolved options at auto (config hashes stay as they were)."""
    from marlbench.envs import get_spec

    spec = get_spec("smarts-intersection")
    assert "workers" not in spec.resolve_options({})
    assert spec.resolve_options({"workers": "2"})["workers"] == 2
    with pytest.raises(ConfigError, match="workers=-1"):
        spec.resolve_options({"workers": "-1"})
    assert workers_for(spec, {}, copies=64) == available_cores()
    assert workers_for(spec, {"workers": 4}, copies=2) == 2
    assert workers_for(spec, {"workers": 1}, copies=4) == 1
    assert workers_for(get_spec("mpe-spread"), {}, copies=4) == 1  # envs without the option: in-process


def test_ppo_learns_the_same_with_workers() -> None:
    """SB3 PPO over 2 copies: the same weights and episodes with the copies in 2 workers as in-process."""
    import torch
    from stable_baselines3 import PPO

    from marlbench.envs.wrap import agent_tracking_vec_env, concat_vec_env

    def train(workers: int) -> tuple[torch.Tensor, list[Any]]:
        venv, agents = concat_vec_env(partial(make_spread, max_cycles=7), 2, seed=3, workers=workers)
        vec = agent_tracking_vec_env(venv, agents)
        vec.seed(3)
        model = PPO("MlpPolicy", vec, n_steps=16, batch_size=32, n_epochs=1, seed=3, verbose=0)
        model.learn(96)
        vec.close()
        weights = torch.cat([p.detach().flatten() for p in model.policy.parameters()])
        return weights, [(e.env_index, e.rewards, e.lengths) for e in vec.finished]

    (w1, e1), (w2, e2) = train(1), train(2)
    assert torch.equal(w1, w2)
    assert e1 == e2 and len(e1) >= 4


@pytest.mark.slow
def test_smarts_copies_in_two_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    """2 SMARTS copies over 2 workers: the arrays of both copies in one process for ~50 steps (episode
    ends included), one SUMO process per copy while they run, none left after close or a killed worker.

    SMARTS' trajectories depend on Python's string hashing (PYTHONHASHSEED): the reference is one
    worker process holding both copies, with the same hash seed as the two workers.
    """
    pytest.importorskip("smarts.core")
    pytest.importorskip("sumo")
    from test_smarts_training import our_sumo_processes

    from marlbench.envs import get_spec
    from marlbench.envs.array import _make_copy, make_array_env

    marker = f"MARLBENCH_SUBPROC_TEST={os.getpid()}-{time.time_ns()}"
    monkeypatch.setenv(*marker.split("="))  # workers and their SUMO processes inherit it
    monkeypatch.setenv("PYTHONHASHSEED", "0")
    spec = get_spec("smarts-intersection")
    options = spec.resolve_options({"workers": "2", "max_steps": "30"})
    sub = make_array_env(spec, options, num_envs=2, seed=7)
    one = {k: v for k, v in options.items() if k != "workers"}
    ref = subprocess_array_env(partial(_make_copy, spec.make, one), num_envs=2, seed=7, workers=1)
    try:
        assert isinstance(sub, SubprocArrayEnv) and sub.workers == 2 and ref.workers == 1
        np.testing.assert_array_equal(sub.reset(), ref.reset())
        assert len(our_sumo_processes(marker.encode())) == 4  # one per copy
        rng = np.random.default_rng(0)
        finished = 0
        for _ in range(50):
            actions = rng.integers(0, 4, (2, 4))
            a, b = sub.step(actions), ref.step(actions)
            assert_same_step(a, b)
            finished += len(a.episodes)
        assert finished >= 2
    finally:
        sub.close()
        ref.close()
    assert our_sumo_processes(marker.encode()) == []

    sub = make_array_env(spec, options, num_envs=2, seed=7)
    sub.reset()
    assert len(our_sumo_processes(marker.encode())) == 2
    os.kill(sub.pids[0], signal.SIGKILL)
    with pytest.raises(EnvWorkerError, match="env worker 0 .*SIGKILL"):
        sub.step(np.zeros((2, 4), np.int64))
    assert our_sumo_processes(marker.encode()) == []  # killed with the worker's process group, not later


def test_workers_do_not_enter_the_config_hash() -> None:
    """Workers change how copies are stepped, not what a seed trains: one experiment, one hash."""
    from marlbench.config import RunSpec, resolve

    def hashed(**options: str) -> str:
        spec = RunSpec("maddpg", "smarts-intersection", env_options=options)
        resolve(spec)
        return spec.config_hash()

    assert hashed() == hashed(workers="2") == hashed(workers="1")
    assert hashed() != hashed(traffic="high")
