"""One run: resolve its spec, build env and algorithm, train, evaluate, checkpoint, record.

:func:`run` trains one run to its budget. Everything it writes goes through
:class:`marlbench.ledger.Ledger`; the run row's status tells how it ended (finished, failed,
interrupted, diverged; a process that vanished shows as crashed). Several runs go through
:func:`marlbench.training.parallel.run_many`.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import socket
import time
import traceback
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from marlbench.algos.base import optional_hook, updates_of
from marlbench.config import Resolved, RunSpec, package_versions, thread_count
from marlbench.errors import Diverged, LedgerError, MarlbenchError
from marlbench.ledger.integrity import is_no_space, no_space
from marlbench.training.progress import NullProgress, ProgressSink
from marlbench.training.recorder import RunRecorder


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (the envs are seeded by their own reset)."""
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def new_run_id(spec: RunSpec) -> str:
    # a user env (package.module:factory) is named by its module: factories are mostly called make_env
    name = spec.env.split(":")[0].split(".")[-1]
    env = "".join(c if c.isalnum() or c == "-" else "-" for c in name).strip("-")
    return f"{spec.algo}-{env}-s{spec.seed}-{uuid.uuid4().hex[:6]}"


def run(
    resolved: Resolved,
    ledger: Any,
    progress: ProgressSink | None = None,
    *,
    resume: str | None = None,
    threads: int | None = None,
) -> dict[str, Any]:
    """Train one run to its budget and return its final ledger row.

    ``resume`` continues the run with that id from its last checkpoint (same id, same rows).
    Config errors are raised before anything is written. Training errors are recorded in the run
    row (status failed / diverged / interrupted) and re-raised.
    """
    import torch

    from marlbench.algos import build

    progress = progress or NullProgress()
    spec, algo_spec, env_ctx, config = resolved.spec, resolved.algo, resolved.env, resolved.config
    ledger.check_writable()
    # Small MLPs run fastest on one thread; more threads only add contention with the env and
    # with other runs. MARLBENCH_THREADS raises it (CNN learners may gain).
    torch.set_num_threads(threads or thread_count())
    seed_everything(spec.seed)

    previous: dict[str, Any] = {}
    if resume:
        previous = ledger.get_run(resume)
        run_id = previous["run_id"]
    else:
        run_id = new_run_id(spec)
    # one writer per run: a second resume of the same run (or of a run still training) is refused
    # here, before anything is read or written
    with ledger.lock_run(run_id):
        meta: dict[str, int] = {}
        checkpoint_dir: Path | None = None
        if resume:
            if not previous.get("checkpoint"):
                raise MarlbenchError(
                    f"run '{run_id}' has no checkpoint to resume from", "train it again instead"
                )
            checkpoint_dir = ledger.saved_checkpoint(previous)
            meta = read_meta(checkpoint_dir, run_id)
        # Build the algorithm (and load its checkpoint) before writing anything: a constructor that
        # refuses the environment (a ConfigError, e.g. LBS on vector observations) or a damaged
        # checkpoint must leave the ledger untouched and the run's status as it was.
        algo = build(algo_spec, env_ctx, config, spec.seed, spec.device)
        try:
            if checkpoint_dir is not None:
                load_checkpoint(algo, checkpoint_dir, run_id)
                # rows recorded after this checkpoint are recorded again by the resumed run
                ledger.truncate_run(run_id, meta)
            ledger.put_run(_first_row(run_id, resolved, previous, meta) | {"updates": updates_of(algo)})
        except BaseException as exc:
            _close(algo)
            if is_no_space(exc):
                raise no_space(ledger.root) from exc
            raise
        return _train(resolved, ledger, progress, run_id, algo, previous, meta)


def _first_row(
    run_id: str, resolved: Resolved, previous: dict[str, Any], meta: dict[str, int]
) -> dict[str, Any]:
    """The run row written when training starts (a resumed run keeps its creation time and checkpoint)."""
    spec, env_ctx = resolved.spec, resolved.env
    row = {
        "run_id": run_id,
        "config_hash": spec.config_hash(),
        "algo": spec.algo,
        "env": spec.env,
        "seed": spec.seed,
        "preset": spec.preset,
        "variant": spec.variant,
        "tags": ",".join(spec.tags),
        "config": spec.to_json(),
        "status": "running",
        "created_at": time.time(),
        "finished_at": float("nan"),
        "wall_time_s": 0.0,
        "steps": int(meta.get("steps", 0)),
        "total_steps": spec.steps,
        "agent_steps": int(meta.get("steps", 0)) * env_ctx.n_agents,
        "n_agents": env_ctx.n_agents,
        "versions": json.dumps(package_versions()),
        "error": "",
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "checkpoint": "",
        "resumed_from": "",
    }
    if previous:
        row.update(
            created_at=previous["created_at"],
            checkpoint=previous["checkpoint"],
            resumed_from=previous["status"],
            wall_time_s=float(previous.get("wall_time_s") or 0.0),
        )
    return row


def _train(
    resolved: Resolved,
    ledger: Any,
    progress: ProgressSink,
    run_id: str,
    algo: Any,
    previous: dict[str, Any],
    meta: dict[str, int],
) -> dict[str, Any]:
    """Train the built (and, on resume, loaded) algorithm to its budget; the final run row."""
    spec = resolved.spec
    recorder = RunRecorder(
        ledger, run_id, spec, resolved.env, progress, meta.get("episodes", 0), meta.get("evals", 0)
    )
    if previous:
        # wall time continues from where the interrupted run stopped (episodes' wall_time too)
        recorder.started -= float(previous.get("wall_time_s") or 0.0)
    progress.start(run_id, spec.steps, f"{spec.algo} {spec.env} s{spec.seed}")
    status, error = "failed", ""
    try:
        recorder.attach(algo, int(algo.steps_done))
        algo.learn(spec.steps, recorder)
        recorder.steps = max(recorder.steps, int(algo.steps_done))
        if spec.eval_episodes > 0 and recorder.last_eval_step != recorder.steps:
            recorder.evaluate()  # the final evaluation, unless tick() just made it at this step
        recorder.checkpoint()
        # after the checkpoint: a run stopped during them resumes at the budget and makes the rest
        recorder.final_evaluations()
        recorder.close()
        status = "finished"
    except KeyboardInterrupt:
        status, error = "interrupted", "stopped by the user (Ctrl-C)"
        if recorder.algo is not None:
            try:
                recorder.checkpoint()
            except Exception as exc:  # the interruption matters more than a failed checkpoint
                error += f"; checkpoint failed: {exc}"
        raise
    except Diverged as exc:
        status, error = "diverged", str(exc) or "non-finite loss"
        raise
    except BaseException as exc:
        status, error = "failed", "".join(traceback.format_exception_only(type(exc), exc)).strip()
        if is_no_space(exc):
            full = no_space(ledger.root)
            error = f"{full.message}: {full.fix}"
            raise full from exc
        raise
    finally:
        final = _finish(ledger, recorder, algo, status, error)
        progress.update(run_id, recorder.steps, {})
        progress.finish(run_id, status)
    if final is None:  # the run finished but its row could not be written: the disk is full
        raise no_space(ledger.root)
    return final


def _finish(ledger: Any, recorder: RunRecorder, algo: Any, status: str, error: str) -> dict[str, Any] | None:
    """Flush what is left, close the algorithm and write the final status; None if the row can't be written.

    On the way out of an error nothing here may hide it: a failed flush or row write (a full disk)
    is swallowed, and the row keeps its last stored state (read back as ``crashed``).
    """
    try:
        recorder.close()
    except Exception:
        if status == "finished":
            raise
    finally:
        _close(algo)
    try:
        row = ledger.update_run(
            recorder.run_id,
            status=status,
            error=error,
            steps=recorder.steps,
            agent_steps=recorder._agent_steps(),
            wall_time_s=time.time() - recorder.started,
            finished_at=time.time(),
            updates=updates_of(algo),
        )
    except Exception as exc:
        if is_no_space(exc):
            return None
        raise
    if status == "finished":
        with contextlib.suppress(OSError):  # a full disk keeps the chunks as they are: still whole
            ledger.compact_run(recorder.run_id)
    return row


def read_meta(checkpoint_dir: Path, run_id: str) -> dict[str, int]:
    """The counters a checkpoint was saved at (``marlbench.json``: steps, episodes, evals), checked."""
    path = checkpoint_dir / "marlbench.json"
    try:
        data = json.loads(path.read_text())
        meta = {key: int(data.get(key, 0)) for key in ("steps", "episodes", "evals")}
        if min(meta.values()) < 0:
            raise ValueError("negative counter")
    except (OSError, ValueError, TypeError, AttributeError) as err:
        raise LedgerError(
            f"the checkpoint of run '{run_id}' is damaged ({path}: {err})",
            "restore that folder, or train the run again",
        ) from None
    return meta


def load_checkpoint(algo: Any, checkpoint_dir: Path, run_id: str) -> None:
    """``algo.load(checkpoint_dir)``, any failure (damaged, garbage, missing files) as one LedgerError."""
    try:
        algo.load(checkpoint_dir)
    except MarlbenchError:
        raise
    except Exception as err:
        if is_no_space(err):
            raise
        raise LedgerError(
            f"the checkpoint of run '{run_id}' cannot be loaded ({checkpoint_dir}): "
            f"{type(err).__name__}: {err}",
            "restore that folder, or train the run again; the run keeps its status",
        ) from None


def _close(algo: Any) -> None:
    """Call the algorithm's optional ``close`` hook."""
    close = optional_hook(algo, "close")
    if close is not None:
        close()
