"""Several runs: one after another, or ``jobs`` at a time in spawned worker processes.

Each worker trains one run with :func:`marlbench.training.runner.run` and reports progress through
a queue; every run still writes its own ledger files, so concurrent runs never share a file.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
import time
from typing import Any

from marlbench.config import Resolved, RunSpec, resolve, thread_count
from marlbench.errors import MarlbenchError
from marlbench.training.progress import NullProgress, ProgressSink
from marlbench.training.runner import run


def failure_row(spec: RunSpec, status: str, error: str = "") -> dict[str, Any]:
    """What :func:`run_many` returns for a run that raised instead of returning its ledger row."""
    config = json.dumps({"env_options": spec.env_options, "hyperparams": spec.hyperparams}, default=str)
    return {
        "status": status,
        "error": error,
        "algo": spec.algo,
        "env": spec.env,
        "seed": spec.seed,
        "preset": spec.preset,
        "variant": spec.variant,
        "config": config,  # the settings as given, as a ledger row holds them (for the results table)
    }


def _run_or_failure(
    resolved: Resolved, ledger: Any, progress: ProgressSink, resume: str | None, threads: int | None
):
    """:func:`run`, with an exception turned into a :func:`failure_row` (the runner recorded it)."""
    try:
        return run(resolved, ledger, progress, resume=resume, threads=threads)
    except MarlbenchError as exc:
        return failure_row(resolved.spec, "failed", str(exc))
    except Exception as exc:
        return failure_row(resolved.spec, "failed", f"{type(exc).__name__}: {exc}")


_EVENTS: Any = None
"""The progress queue of this worker process (set by :func:`_init_worker`)."""
ORPHAN_GRACE_SECONDS = 30.0
"""How long a worker whose parent died may take to checkpoint and mark its run before it is ended."""


def _init_worker(events: Any, parent_pid: int) -> None:
    """Set up a worker: its progress queue, and death with its parent.

    On Linux the kernel sends the worker SIGINT when the parent dies (``PR_SET_PDEATHSIG``); a
    watchdog thread does the same anywhere by polling the parent pid. SIGINT is Ctrl-C for the
    runner, so the run is checkpointed and marked ``interrupted``; a worker still alive
    :data:`ORPHAN_GRACE_SECONDS` later is ended (its run then reads as ``crashed``).
    """
    global _EVENTS
    _EVENTS = events
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            import ctypes

            pr_set_pdeathsig = 1
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGINT, 0, 0, 0)
    signal.signal(signal.SIGTERM, _interrupt)  # a scheduler's SIGTERM to the group: as Ctrl-C
    signal.signal(signal.SIGINT, _interrupt)  # once: the parent forwards a Ctrl-C it alone received
    if os.getppid() != parent_pid:  # the parent died before the death signal was armed
        os.kill(os.getpid(), signal.SIGINT)
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True, name="parent-watchdog").start()


def _interrupt(signum: int, frame: Any) -> None:
    """Ctrl-C for the runner, once: later SIGINT/SIGTERM are ignored, so the copy the parent forwards
    (or a second signal to the group) cannot break the run's checkpoint and ``interrupted`` row."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


def _watch_parent(parent_pid: int, poll: float = 0.5) -> None:
    while os.getppid() == parent_pid:
        time.sleep(poll)
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(ORPHAN_GRACE_SECONDS)
    os._exit(1)


def _child(spec_json: str, ledger_root: str, threads: int, resume: str | None) -> dict[str, Any]:
    """Entry point of a worker process.

    The parent's :class:`Resolved` objects do not cross the process boundary (the registry's lazy
    loaders do not pickle), so the worker resolves its spec from JSON: once in this process.
    """
    from marlbench.ledger import Ledger
    from marlbench.training.progress import QueueProgress

    spec = RunSpec.from_json(spec_json)
    try:
        resolved = resolve(spec)
        return _run_or_failure(
            resolved, Ledger(ledger_root, create=True), QueueProgress(_EVENTS), resume, threads
        )
    except KeyboardInterrupt:
        return failure_row(spec, "interrupted")


def run_many(
    runs: list[Resolved],
    ledger: Any,
    jobs: int = 1,
    progress: ProgressSink | None = None,
    *,
    resumes: list[str | None] | None = None,
    keep_going: bool = False,
) -> list[dict[str, Any]]:
    """Run the resolved ``runs``; ``jobs > 1`` runs them in that many worker processes at once.

    Every spec was resolved (checked) by the caller, so a bad one has stopped everything before
    anything is written. ``resumes[i]``, when given, is the id of an interrupted run that
    ``runs[i]`` continues.
    Returns the final run rows, or :func:`failure_row` for runs that raised: always so in worker
    processes, and in one process when ``keep_going`` (a sweep goes on past a failed run; a plain
    ``train`` stops at the first error so that a refusal ends as one clear message).
    """
    ledger.check_writable()
    progress = progress or NullProgress()
    resumes = list(resumes) if resumes is not None else [None] * len(runs)
    if jobs <= 1 or len(runs) == 1:
        if keep_going:
            return [_run_or_failure(x, ledger, progress, r, None) for x, r in zip(runs, resumes, strict=True)]
        return [run(x, ledger, progress, resume=r) for x, r in zip(runs, resumes, strict=True)]

    import multiprocessing as mp
    import queue as queue_mod
    from concurrent.futures import ProcessPoolExecutor

    from marlbench.training.progress import QueueProgress

    threads = thread_count()
    ctx = mp.get_context("spawn")
    # a plain queue handed over at process start, not a Manager: no server process to orphan
    events = ctx.Queue()
    init = (events, os.getpid())
    with ProcessPoolExecutor(
        max_workers=jobs, mp_context=ctx, initializer=_init_worker, initargs=init
    ) as pool:
        futures = [
            pool.submit(_child, x.spec.to_json(), str(ledger.root), threads, r)
            for x, r in zip(runs, resumes, strict=True)
        ]
        try:
            while not all(f.done() for f in futures):
                with contextlib.suppress(queue_mod.Empty):
                    QueueProgress.replay(events.get(timeout=0.2), progress)
            while True:
                try:
                    QueueProgress.replay(events.get_nowait(), progress)
                except queue_mod.Empty:
                    break
        except KeyboardInterrupt:
            # A terminal's Ctrl-C reaches the whole process group; a SIGINT sent to this process
            # alone (kill -INT, a supervisor) is forwarded. Workers act on the first one only and
            # mark their runs interrupted.
            for process in list(getattr(pool, "_processes", {}).values()):
                with contextlib.suppress(OSError):
                    os.kill(process.pid, signal.SIGINT)
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        return [f.result() for f in futures]
