"""Env copies in worker processes: the ``workers`` env option (SMARTS on every core).

A SMARTS step costs tens of milliseconds of Python and SUMO; one process steps its copies one after
another on one core. Here ``W`` worker processes each hold a contiguous share of the ``E`` copies
and step them at the same time:

* :class:`SubprocArrayEnv` (in-repo learners): each worker holds a
  :class:`~marlbench.envs.array.ParallelArrayEnv` over its share, seeded as the in-process adapter
  seeds those copies (copy ``i`` gets ``seed + i``), so the arrays are the same, step by step.
* :class:`SubprocConcatVecEnv` (SB3): each worker holds SuperSuit's ``ConcatVecEnv`` over its share
  of copies of one pickled env, as ``concat_vec_envs_v1`` builds in-process (copy ``i`` reset with
  ``seed + i``). SuperSuit's own ``num_cpus`` path is not used: it forks, seeds per process instead
  of per copy (different episodes from in-process) and blocks forever on a hung worker.

Workers are started with ``spawn`` (SMARTS' pybullet and torch are not fork-safe), run in their own
process group (with SIGINT ignored: a Ctrl-C reaches the parent only, which closes them) and leave
when the parent's end of their pipe closes (a killed parent takes them and their SUMO processes
with it). The parent never waits without a deadline: a worker that dies raises
:class:`EnvWorkerError` naming it and its exit code, after its whole process group (its SUMO
processes) is killed and every other worker closed. ``close()`` (also on garbage collection and at
exit) closes every worker's envs and joins the workers.

``workers`` changes how copies are stepped, never what they compute: it is left out of a run's
resolved options at its default (``auto``) so that a run's config hash stays as it was. (SMARTS'
trajectories depend on Python's string hashing: equal across processes only with one fixed
``PYTHONHASHSEED``, which workers inherit; the same holds for two runs in separate processes.)
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import multiprocessing as mp
import os
import signal
import time
import traceback
import weakref
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

import numpy as np

EXECUTION_OPTIONS = frozenset({"workers"})
"""Env options that choose how copies are run, not what they compute (results never depend on them)."""
START_METHOD = "spawn"
"""``spawn``: SMARTS (pybullet) and torch do not survive ``fork``; ``forkserver`` started no faster."""
TIMEOUT_S = 300.0
"""Longest wait for one reply of a live worker (a SMARTS reset starts SUMO: seconds, not minutes)."""
CLOSE_TIMEOUT_S = 30.0
POLL_S = 0.2


class EnvWorkerError(RuntimeError):
    """An env worker process died, hung, or its env raised."""


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask, else the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def workers_for(spec: Any, options: Mapping[str, Any], copies: int) -> int:
    """How many worker processes step ``copies`` copies of ``spec`` (1: in this process).

    Only built-in envs that declare the ``workers`` option use workers; ``0`` (auto, also when the
    option is absent from ``options``) is :func:`available_cores`. Never more than ``copies``.
    """
    if spec.family == "user" or "workers" not in spec.options:
        return 1
    requested = int(options.get("workers", 0) or 0)
    return max(1, min(requested if requested > 0 else available_cores(), copies))


def without_execution_options(spec: Any, options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` minus those of :data:`EXECUTION_OPTIONS` that ``spec`` declares (its factory's)."""
    if spec.family == "user":
        return dict(options)
    return {k: v for k, v in options.items() if k not in EXECUTION_OPTIONS}


def shares(copies: int, workers: int) -> list[tuple[int, int]]:
    """``(first copy, count)`` of each worker: contiguous blocks, sizes differing by at most one."""
    base, extra = divmod(copies, workers)
    out, start = [], 0
    for w in range(workers):
        count = base + (1 if w < extra else 0)
        out.append((start, count))
        start += count
    return out


# ---------------------------------------------------------------------------------------------
# the worker process
# ---------------------------------------------------------------------------------------------
def _describe(exc: BaseException) -> tuple[Any, ...]:
    from marlbench.errors import MarlbenchError

    if isinstance(exc, MarlbenchError):  # a user's mistake stays one (exit 2 through the CLI)
        return ("marlbench", type(exc), exc.message, exc.fix)
    return ("other", f"{type(exc).__name__}: {exc}", traceback.format_exc())


def _worker_main(conn: Any, blob: bytes, attrs: tuple[str, ...]) -> None:
    """Build the object from ``blob`` (a pickled factory), then run ``(method, args)`` requests."""
    import cloudpickle

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and closes us

    def _terminate(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)  # unwind through the finally below: SUMO is closed

    signal.signal(signal.SIGTERM, _terminate)
    with contextlib.suppress(OSError):
        os.setpgid(0, 0)  # our SUMO children join our group: the parent can kill it whole
    obj = None
    try:
        try:
            obj = cloudpickle.loads(blob)()
            conn.send(("ok", {a: getattr(obj, a) for a in attrs}))
        except Exception as exc:
            conn.send(("error", _describe(exc)))
            return
        while True:
            try:
                method, args = conn.recv()
            except (EOFError, OSError):
                return  # the parent is gone
            if method == "close":
                return
            try:
                conn.send(("ok", getattr(obj, method)(*args)))
            except Exception as exc:
                conn.send(("error", _describe(exc)))
    finally:
        if obj is not None:
            with contextlib.suppress(Exception):
                obj.close()
        with contextlib.suppress(Exception):
            conn.send(("closed", None))
        conn.close()


# ---------------------------------------------------------------------------------------------
# the parent's side
# ---------------------------------------------------------------------------------------------
_LIVE: weakref.WeakSet[WorkerPool] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:  # registered after multiprocessing's own exit hook, so it runs first
    for pool in list(_LIVE):
        pool.close()


class WorkerPool:
    """Worker processes, one object each (built by ``factories[w]()`` there), asked in lockstep."""

    def __init__(
        self, factories: Sequence[Callable[[], Any]], attrs: tuple[str, ...], timeout: float = TIMEOUT_S
    ) -> None:
        import cloudpickle

        self.timeout = timeout
        self._done = False
        self._conns: list[Any] = []
        self._procs: list[Any] = []
        ctx = mp.get_context(START_METHOD)
        _LIVE.add(self)
        try:
            for factory in factories:
                parent, child = ctx.Pipe()
                proc = ctx.Process(
                    target=_worker_main, args=(child, cloudpickle.dumps(factory), attrs), daemon=True
                )
                proc.start()
                child.close()
                self._conns.append(parent)
                self._procs.append(proc)
            self.info: list[dict[str, Any]] = self._gather("start")
        except BaseException:
            self.close()
            raise

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._procs]

    def request(self, calls: Sequence[tuple[str, tuple[Any, ...]]]) -> list[Any]:
        """Send ``calls[w]`` to worker ``w`` (all first, so they work at once), then their replies."""
        if self._done:
            raise EnvWorkerError("the env workers are closed")
        for w, call in enumerate(calls):
            try:
                self._conns[w].send(call)
            except OSError:
                self._fail(w, call[0])
        return self._gather(calls[0][0])

    def _gather(self, what: str) -> list[Any]:
        deadline = time.monotonic() + self.timeout
        replies, problem = [], None
        try:
            for w in range(len(self._procs)):
                kind, payload = self._reply(w, deadline, what)
                if kind == "error" and problem is None:
                    problem = (w, payload)
                replies.append(payload)
        except BaseException:  # a dead worker, a timeout, Ctrl-C: leave no worker behind
            self.close()
            raise
        if problem is not None:
            self.close()
            w, (tag, *rest) = problem
            if tag == "marlbench":
                cls, message, fix = rest
                raise cls(message, fix)
            raise EnvWorkerError(f"env worker {w} raised {rest[0]} during {what}\n{rest[1]}")
        return replies

    def _reply(self, w: int, deadline: float, what: str) -> tuple[str, Any]:
        conn, proc = self._conns[w], self._procs[w]
        while True:
            try:
                if conn.poll(POLL_S):
                    message = conn.recv()
                    if message[0] != "closed":
                        return message
            except (EOFError, OSError):
                time.sleep(0.05)  # the pipe is closed: the worker is on its way out
            if not proc.is_alive():
                self._fail(w, what)
            if time.monotonic() > deadline:
                self._fail(w, what, hung=True)

    def _fail(self, w: int, what: str, hung: bool = False) -> None:
        proc = self._procs[w]
        if hung:
            message = f"env worker {w} (pid {proc.pid}) sent nothing for {self.timeout:.0f} s during {what}"
        else:
            proc.join(1)
            code = proc.exitcode
            how = f"exit code {code}"
            if code is not None and code < 0:
                how += f" ({signal.Signals(-code).name})"
            message = f"env worker {w} (pid {proc.pid}) died during {what} with {how}"
        self.close()
        raise EnvWorkerError(f"{message}; its env copies are lost, the run cannot go on")

    def close(self) -> None:
        """Close every worker's envs (SUMO included), join the workers; kill any that do not leave."""
        if self._done:
            return
        for conn, proc in zip(self._conns, self._procs, strict=True):
            if proc.is_alive():
                with contextlib.suppress(OSError):
                    conn.send(("close", ()))
        deadline = time.monotonic() + CLOSE_TIMEOUT_S
        for proc in self._procs:
            proc.join(max(0.0, deadline - time.monotonic()))
            if proc.is_alive():
                proc.kill()
                proc.join(5)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)  # what a killed worker left: its SUMO processes
        for conn in self._conns:
            conn.close()
        self._done = True
        _LIVE.discard(self)

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()


class SubprocArrayEnv:
    """An :class:`~marlbench.envs.array.ArrayEnv` whose ``num_envs`` copies step in ``workers`` processes.

    Worker ``w`` holds ``make_share(count, first_seed)``, the loop adapter over its block of copies
    (:func:`marlbench.envs.array.subprocess_array_env` builds it from a one-copy factory): copy ``i``
    is built and reset with ``seed + i`` as in-process, so both give the same arrays and episodes.
    """

    def __init__(
        self,
        make_share: Callable[[int, int], Any],
        num_envs: int,
        seed: int,
        workers: int,
        timeout: float = TIMEOUT_S,
    ) -> None:
        self.num_envs = num_envs
        self._shares = shares(num_envs, max(1, min(workers, num_envs)))
        factories = [partial(make_share, n, seed + a) for a, n in self._shares]
        attrs = ("agents", "observation_space", "action_space", "state_shape")
        self._pool = WorkerPool(factories, attrs, timeout)
        first = self._pool.info[0]
        self.agents: list[str] = list(first["agents"])
        self.observation_space = first["observation_space"]
        self.action_space = first["action_space"]
        self.state_shape: tuple[int, ...] | None = first["state_shape"]

    @property
    def workers(self) -> int:
        return len(self._shares)

    @property
    def pids(self) -> list[int]:
        return self._pool.pids

    def reset(self, seed: int | None = None) -> np.ndarray:
        calls = [("reset", (None if seed is None else seed + a,)) for a, _ in self._shares]
        return np.concatenate(self._pool.request(calls))

    def state(self) -> np.ndarray | None:
        if self.state_shape is None:
            return None
        return np.concatenate(self._pool.request([("state", ())] * len(self._shares)))

    def step(self, actions: np.ndarray) -> Any:
        actions = np.asarray(actions)
        steps = self._pool.request([("step", (actions[a : a + n],)) for a, n in self._shares])

        def cat(name: str) -> Any:
            parts = [getattr(s, name) for s in steps]
            return None if parts[0] is None else np.concatenate(parts)

        episodes = [
            dataclasses.replace(ep, env_index=ep.env_index + a)
            for (a, _), s in zip(self._shares, steps, strict=True)
            for ep in s.episodes
        ]
        names = (
            "obs",
            "rewards",
            "terminated",
            "truncated",
            "alive",
            "done",
            "final_obs",
            "state",
            "final_state",
        )
        return dataclasses.replace(steps[0], **{n: cat(n) for n in names}, episodes=episodes)  # an ArrayStep

    def close(self) -> None:
        self._pool.close()


def _concat_share(blob: bytes, count: int) -> Any:
    import cloudpickle
    from supersuit.vector.concat_vec_env import ConcatVecEnv

    return ConcatVecEnv([partial(cloudpickle.loads, blob)] * count)


class SubprocConcatVecEnv:
    """SuperSuit's ``ConcatVecEnv`` face (what ``concat_vec_envs_v1`` returns) over ``workers`` processes.

    ``vec_env`` is one copy (a ``pettingzoo_env_to_vec_env_v1`` env); each worker holds
    cloudpickle copies of it, as ``concat_vec_envs_v1`` makes in-process, and a ``reset(seed)``
    resets copy ``i`` with ``seed + i`` as there.
    """

    def __init__(self, vec_env: Any, copies: int, workers: int, timeout: float = TIMEOUT_S) -> None:
        import cloudpickle

        blob = cloudpickle.dumps(vec_env)
        self._shares = shares(copies, max(1, min(workers, copies)))
        factories = [partial(_concat_share, blob, n) for _, n in self._shares]
        attrs = ("num_envs", "observation_space", "action_space", "render_mode", "metadata")
        self._pool = WorkerPool(factories, attrs, timeout)
        info = self._pool.info
        self.num_envs = sum(i["num_envs"] for i in info)
        self.observation_space = info[0]["observation_space"]
        self.action_space = info[0]["action_space"]
        self.render_mode = info[0]["render_mode"]
        self.metadata = info[0]["metadata"]
        ends = np.cumsum([i["num_envs"] for i in info])
        self._slots = [(int(e - i["num_envs"]), int(e)) for e, i in zip(ends, info, strict=True)]
        self._actions: Any = None

    @property
    def pids(self) -> list[int]:
        return self._pool.pids

    def reset(self, seed: int | None = None, options: Any = None) -> tuple[np.ndarray, list[Any]]:
        calls = [("reset", (None if seed is None else seed + a, options)) for a, _ in self._shares]
        replies = self._pool.request(calls)
        return np.concatenate([r[0] for r in replies]), [i for r in replies for i in r[1]]

    def step_async(self, actions: Any) -> None:
        self._actions = np.asarray(actions)

    def step_wait(self) -> tuple[Any, ...]:
        actions, self._actions = self._actions, None
        replies = self._pool.request([("step", (actions[a:b],)) for a, b in self._slots])
        obs, rew, term, trunc = (np.concatenate([r[k] for r in replies]) for k in range(4))
        return obs, rew, term, trunc, [i for r in replies for i in r[4]]

    def step(self, actions: Any) -> tuple[Any, ...]:
        self.step_async(actions)
        return self.step_wait()

    def env_is_wrapped(self, wrapper_class: type) -> list[bool]:
        return sum(self._pool.request([("env_is_wrapped", (wrapper_class,))] * len(self._shares)), [])

    def render(self) -> Any:
        raise NotImplementedError("env copies in worker processes do not render")

    def close(self) -> None:
        self._pool.close()
