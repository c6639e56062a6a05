"""Several runs: one after another, or ``jobs`` at a time in spawned worker processes.

Each worker trains one run with :func:`marlbench.training.runner.run` and reports progress through
a queue; every run still writes its own ledger files, so concurrent runs never share a file.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

from marlbench.config import Resolved, RunSpec, resolve
from marlbench.errors import MarlbenchError
from marlbench.training.progress import NullProgress, ProgressSink
from marlbench.training.runner import run


def failure_row(spec: RunSpec, status: str, error: str = "") -> dict[str, Any]:
    """What :func:`run_many` returns for a run that raised instead of returning its ledger row."""
    return {"status": status, "error": error, "algo": spec.algo, "seed": spec.seed, "variant": spec.variant}


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


def _child(spec_json: str, ledger_root: str, queue: Any, threads: int, resume: str | None) -> dict[str, Any]:
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
            resolved, Ledger(ledger_root, create=True), QueueProgress(queue), resume, threads
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

    threads = int(os.environ.get("MARLBENCH_THREADS", "1"))
    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager:
        events = manager.Queue()
        with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
            futures = [
                pool.submit(_child, x.spec.to_json(), str(ledger.root), events, threads, r)
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
                # children received the same SIGINT and mark their runs interrupted
                pool.shutdown(wait=True, cancel_futures=True)
                raise
            return [f.result() for f in futures]
