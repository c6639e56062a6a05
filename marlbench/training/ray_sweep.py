"""A preset's runs spread over Ray: ``marlbench preset run NAME --ray`` (DESIGN.md, "Scale").

:func:`execute_on_ray` takes the plan of :func:`marlbench.training.sweep.plan` (finished twins
already skipped, interrupted ones marked to resume) and submits every ``run`` / ``resume`` entry
as one Ray task (one CPU; a distributed MADDPG run asks for none, its own actors hold the CPUs).
Each task trains with :func:`marlbench.training.runner.run` into the same ledger, so the
guarantees of a local sweep hold: each run writes its own files, its row says how it ended.

* Ray: a local one sized to this machine, or the cluster at ``$RAY_ADDRESS``
  (:class:`~marlbench.distributed.ray_runtime.RayRuntime`); a local one is shut down at the end.
* On a cluster the ledger must be on storage every node sees: a probe task on each node writes
  and removes a file in the ledger before any run starts, and a node that cannot is named.
* Progress: the tasks report through a :class:`ray.util.queue.Queue` that this process drains
  into the progress bars.
* Ctrl-C: every task is cancelled (Ray raises KeyboardInterrupt in it, so the runner checkpoints
  and marks the run ``interrupted``); this process waits for them, then re-raises.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from marlbench.config import RunSpec, resolve
from marlbench.distributed.ray_runtime import RayRuntime, address_from_env, import_ray
from marlbench.errors import LedgerError
from marlbench.training.parallel import _run_or_failure, failure_row
from marlbench.training.progress import NullProgress, ProgressSink, QueueProgress

INTERRUPT_GRACE_S = 60.0
"""How long Ctrl-C waits for cancelled runs to write their checkpoints."""


def _train_task(spec_json: str, ledger_root: str, resume: str | None, queue: Any) -> dict[str, Any]:
    """One run inside a Ray task (resolved here from JSON: the registry's loaders do not pickle)."""
    from marlbench.ledger import Ledger

    spec = RunSpec.from_json(spec_json)
    try:
        return _run_or_failure(
            resolve(spec), Ledger(ledger_root, create=True), QueueProgress(queue), resume, 1
        )
    except KeyboardInterrupt:
        return failure_row(spec, "interrupted")


def _probe_task(ledger_root: str) -> tuple[str, str]:
    """``(host, error)``: write and remove a file in the ledger from a cluster node."""
    probe = Path(ledger_root) / "runs" / f".ray-probe.{socket.gethostname()}.{os.getpid()}"
    try:
        probe.write_bytes(b"marlbench")
        probe.unlink()
    except OSError as err:
        return socket.gethostname(), str(err.strerror or err)
    return socket.gethostname(), ""


def check_shared_ledger(ledger_root: str, nodes: int) -> None:
    """Raise LedgerError unless a task on each of ``nodes`` nodes can write to the ledger."""
    ray = import_ray()
    task = ray.remote(_probe_task).options(num_cpus=0, scheduling_strategy="SPREAD")
    results = ray.get([task.remote(ledger_root) for _ in range(max(1, nodes))])
    bad = sorted({host for host, error in results if error})
    if bad:
        raise LedgerError(
            f"the ledger {ledger_root} is not writable from Ray node(s) {', '.join(bad)}",
            "put the ledger on storage every node mounts at the same path (--ledger / MARLBENCH_LEDGER)",
        )


def execute_on_ray(
    todo: Sequence[Any], ledger: Any, *, progress: ProgressSink | None = None
) -> list[dict[str, Any]]:
    """Run the ``run`` and ``resume`` entries of ``todo`` (:class:`~marlbench.training.sweep.PlannedRun`)
    as Ray tasks; returns their final ledger rows in plan order."""
    work = [p for p in todo if p.action in ("run", "resume")]
    if not work:
        return []
    progress = progress or NullProgress()
    runtime = RayRuntime(address_from_env()).start()
    try:
        ray = import_ray()
        from ray.util.queue import Queue

        root = str(ledger.root)
        if runtime.kind == "cluster":
            check_shared_ledger(root, len(ray.nodes()))
        queue = Queue()
        refs = []
        for item in work:
            cpus = 0 if item.spec.algo == "maddpg-distributed" else 1
            task = ray.remote(_train_task).options(num_cpus=cpus, max_retries=0)
            refs.append(task.remote(item.spec.to_json(), root, item.run_id or None, queue))
        try:
            _wait_all(ray, refs, queue, progress)
        except KeyboardInterrupt:
            for ref in refs:
                ray.cancel(ref)
            ray.wait(refs, num_returns=len(refs), timeout=INTERRUPT_GRACE_S)
            _drain(queue, progress)
            raise
        rows = []
        for item, ref in zip(work, refs, strict=True):
            try:
                rows.append(ray.get(ref))
            except Exception as exc:  # the task itself died (its node, its worker process)
                rows.append(failure_row(item.spec, "failed", f"Ray task failed: {type(exc).__name__}: {exc}"))
        return rows
    finally:
        runtime.stop()


def _wait_all(ray: Any, refs: list[Any], queue: Any, progress: ProgressSink) -> None:
    left = list(refs)
    while left:
        _, left = ray.wait(left, num_returns=len(left), timeout=0.25, fetch_local=False)
        _drain(queue, progress)
        if left:
            time.sleep(0.05)
    _drain(queue, progress)


def _drain(queue: Any, progress: ProgressSink) -> None:
    while True:
        try:
            event = queue.get_nowait()
        except Exception:  # ray.util.queue.Empty, or the queue actor is gone
            return
        QueueProgress.replay(event, progress)
