"""One run: resolve its spec, build env and algorithm, train, evaluate, checkpoint, record.

:func:`run` trains one run to its budget. Everything it writes goes through
:class:`marlbench.ledger.Ledger`; the run row's status tells how it ended (finished, failed,
interrupted, diverged; a process that vanished shows as crashed). Several runs go through
:func:`marlbench.training.parallel.run_many`.
"""

from __future__ import annotations

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

from marlbench.algos.base import optional_hook
from marlbench.config import Resolved, RunSpec, package_versions
from marlbench.errors import Diverged, MarlbenchError
from marlbench.training.progress import NullProgress, ProgressSink
from marlbench.training.recorder import RunRecorder


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (the envs are seeded by their own reset)."""
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def new_run_id(spec: RunSpec) -> str:
    env = "".join(c if c.isalnum() or c == "-" else "-" for c in spec.env.split(":")[-1]).strip("-")
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
    torch.set_num_threads(threads or int(os.environ.get("MARLBENCH_THREADS", "1")))
    seed_everything(spec.seed)

    episode_offset = eval_offset = 0
    checkpoint_dir: Path | None = None
    if resume:
        row = ledger.get_run(resume)
        run_id = row["run_id"]
        if not row.get("checkpoint"):
            raise MarlbenchError(f"run '{run_id}' has no checkpoint to resume from", "train it again instead")
        checkpoint_dir = ledger.saved_checkpoint(row)
        meta = json.loads((checkpoint_dir / "marlbench.json").read_text())
        episode_offset, eval_offset = int(meta.get("episodes", 0)), int(meta.get("evals", 0))
    else:
        run_id = new_run_id(spec)

    now = time.time()
    base_row = {
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
        "created_at": now,
        "finished_at": float("nan"),
        "wall_time_s": 0.0,
        "steps": 0,
        "total_steps": spec.steps,
        "agent_steps": 0,
        "n_agents": env_ctx.n_agents,
        "versions": json.dumps(package_versions()),
        "error": "",
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "checkpoint": "",
        "resumed_from": "",
    }
    if resume:
        previous = ledger.get_run(run_id)
        base_row.update(
            created_at=previous["created_at"],
            checkpoint=previous["checkpoint"],
            resumed_from=previous["status"],
        )
    # Build the algorithm before writing anything: a constructor that refuses the environment (a
    # ConfigError, e.g. LBS on vector observations) must leave the ledger untouched.
    algo = build(algo_spec, env_ctx, config, spec.seed, spec.device)
    try:
        ledger.put_run(base_row)
    except BaseException:
        _close(algo)
        raise

    recorder = RunRecorder(ledger, run_id, spec, env_ctx, progress, episode_offset, eval_offset)
    if resume:
        # wall time continues from where the interrupted run stopped (episodes' wall_time too)
        recorder.started -= float(previous.get("wall_time_s") or 0.0)
    progress.start(run_id, spec.steps, f"{spec.algo} {spec.env} s{spec.seed}")
    status, error = "failed", ""
    try:
        if checkpoint_dir is not None:
            algo.load(checkpoint_dir)
        recorder.attach(algo, int(algo.steps_done))
        algo.learn(spec.steps, recorder)
        recorder.steps = max(recorder.steps, int(algo.steps_done))
        if spec.eval_episodes > 0 and recorder.last_eval_step != recorder.steps:
            recorder.evaluate()  # the final evaluation, unless tick() just made it at this step
        recorder.checkpoint()
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
        raise
    finally:
        try:
            recorder.close()
        finally:
            _close(algo)
            final = ledger.update_run(
                run_id,
                status=status,
                error=error,
                steps=recorder.steps,
                agent_steps=recorder._agent_steps(),
                wall_time_s=time.time() - recorder.started,
                finished_at=time.time(),
            )
            progress.update(run_id, recorder.steps, {})
            progress.finish(run_id, status)
    return final


def _close(algo: Any) -> None:
    """Call the algorithm's optional ``close`` hook."""
    close = optional_hook(algo, "close")
    if close is not None:
        close()
