"""Execute run specs: build env and algorithm, train, evaluate, checkpoint, record to the ledger.

One run goes through :func:`run`. Several seeds go through :func:`run_many`, each in its own
process when ``jobs > 1``. Everything a run writes goes through :class:`marlbench.ledger.Ledger`;
the run row's status tells how it ended (finished, failed, interrupted, diverged; a process that
vanished shows as crashed).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import socket
import time
import traceback
import uuid
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from marlbench.config import RunSpec, package_versions, resolve
from marlbench.envs.array import EpisodeRecord
from marlbench.envs.wrap import DEAD
from marlbench.errors import Diverged, MarlbenchError
from marlbench.progress import NullProgress, ProgressSink

HEARTBEAT_SECONDS = 30.0


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (the envs are seeded by their own reset)."""
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def new_run_id(spec: RunSpec) -> str:
    env = "".join(c if c.isalnum() or c == "-" else "-" for c in spec.env.split(":")[-1]).strip("-")
    return f"{spec.algo}-{env}-s{spec.seed}-{uuid.uuid4().hex[:6]}"


# ---------------------------------------------------------------------------------------------
# evaluation
# ---------------------------------------------------------------------------------------------
def run_episode(algo: Any, env: Any, seed: int, max_steps: int) -> EpisodeRecord:
    """One deterministic episode of ``algo`` on a ParallelEnv; per-agent return, length, metrics."""
    obs, _ = env.reset(seed=seed)
    if hasattr(algo, "reset_episode"):
        algo.reset_episode()
    agents = list(env.possible_agents)
    returns = dict.fromkeys(agents, 0.0)
    lengths = dict.fromkeys(agents, 0)
    metrics: dict[str, dict[str, float]] = {}
    done: set[str] = set()
    for _ in range(max_steps):
        if not env.agents:
            break
        actions = algo.act({a: obs[a] for a in env.agents}, deterministic=True)
        obs, rewards, terms, truncs, infos = env.step(actions)
        for agent, reward in rewards.items():
            if agent in done or (infos.get(agent) or {}).get(DEAD):
                continue
            returns[agent] += float(reward)
            lengths[agent] += 1
            if terms.get(agent) or truncs.get(agent):
                done.add(agent)
        for agent, info in infos.items():
            if isinstance(info, dict) and info.get("episode_metrics"):
                metrics[agent] = {k: float(v) for k, v in info["episode_metrics"].items()}
    return EpisodeRecord(env_index=0, rewards=returns, lengths=lengths, metrics=metrics)


def evaluate(algo: Any, env: Any, episodes: int, seed: int, max_steps: int) -> list[EpisodeRecord]:
    """``episodes`` deterministic episodes with seeds ``seed, seed+1, ...`` (the same every round)."""
    return [run_episode(algo, env, seed + i, max_steps) for i in range(episodes)]


def episode_rows(record: EpisodeRecord, **fixed: Any) -> list[dict[str, Any]]:
    """Ledger rows (one per agent) for one episode."""
    rows = []
    for agent, reward in record.rewards.items():
        row = {**fixed, "agent": agent, "reward": float(reward), "length": int(record.lengths.get(agent, 0))}
        for name, value in record.metrics.get(agent, {}).items():
            row[f"metric_{name}"] = float(value)
        rows.append(row)
    return rows


# ---------------------------------------------------------------------------------------------
# the recorder an algorithm reports to
# ---------------------------------------------------------------------------------------------
class RunRecorder:
    """Receives an algorithm's progress; writes episodes, runs evaluations and checkpoints on time."""

    def __init__(
        self,
        ledger: Any,
        run_id: str,
        spec: RunSpec,
        env_ctx: Any,
        progress: ProgressSink,
        episode_offset: int = 0,
        eval_offset: int = 0,
    ) -> None:
        self.ledger = ledger
        self.run_id = run_id
        self.spec = spec
        self.env_ctx = env_ctx
        self.progress = progress
        self.algo: Any = None
        self.started = time.time()
        self.session_start = self.started  # for steps/s: not shifted on resume
        self.episodes = ledger.chunk_writer("episodes", run_id)
        self.eval_writer = ledger.chunk_writer("evals", run_id, flush_rows=1)
        self.episode_count = episode_offset
        self.eval_count = eval_offset
        self.eval_every = spec.eval_every_steps()
        self.last_eval_step = -1
        self.next_eval = self.eval_every
        self.next_checkpoint = spec.checkpoint_every or 0
        self.last_heartbeat = time.time()
        self.recent = deque(maxlen=100)
        self.stats: dict[str, float] = {}
        self.steps = 0
        self._last_update = 0.0
        self._eval_env: Any = None
        self.max_eval_steps = max(10 * env_ctx.spec.length_for(env_ctx.options), 10_000)

    def attach(self, algo: Any, steps_done: int = 0) -> None:
        self.algo = algo
        self.steps = steps_done
        self.start_steps = steps_done
        while self.next_eval <= steps_done:
            self.next_eval += self.eval_every
        if self.spec.checkpoint_every:
            while self.next_checkpoint <= steps_done:
                self.next_checkpoint += self.spec.checkpoint_every

    # Recorder protocol ---------------------------------------------------------------------------
    def log_episodes(self, env_steps: int, episodes: list[EpisodeRecord]) -> None:
        wall = time.time() - self.started
        rows: list[dict[str, Any]] = []
        for record in episodes:
            rows += episode_rows(
                record, run_id=self.run_id, episode=self.episode_count, step=int(env_steps), wall_time=wall
            )
            self.episode_count += 1
            self.recent.append(float(np.mean(list(record.rewards.values()))))
        self.episodes.add(rows)

    def log_stats(self, env_steps: int, stats: Mapping[str, float]) -> None:
        self.stats.update(stats)

    def tick(self, env_steps: int) -> None:
        self.steps = int(env_steps)
        now = time.time()
        if now - self._last_update > 0.25:
            self._last_update = now
            elapsed = max(now - self.session_start, 1e-9)
            self.progress.update(
                self.run_id,
                self.steps,
                {
                    "rate": (self.steps - self.start_steps) / elapsed,
                    "reward": float(np.mean(self.recent)) if self.recent else None,
                },
            )
        if self.spec.eval_episodes > 0 and self.steps >= self.next_eval:
            while self.next_eval <= self.steps:
                self.next_eval += self.eval_every
            self.evaluate()
        if self.spec.checkpoint_every and self.steps >= self.next_checkpoint:
            while self.next_checkpoint <= self.steps:
                self.next_checkpoint += self.spec.checkpoint_every
            self.checkpoint()
        if now - self.last_heartbeat > HEARTBEAT_SECONDS:
            self.heartbeat()

    # work done on time ---------------------------------------------------------------------------
    def evaluation_env(self) -> Any:
        if self._eval_env is None:
            seed = 1_000_003 + self.spec.seed
            make = getattr(self.algo, "eval_env", None)
            self._eval_env = make(seed) if callable(make) else self.env_ctx.make(seed)
        return self._eval_env

    def evaluate(self, episodes: int | None = None) -> list[EpisodeRecord]:
        """Deterministic evaluation now; rows go to ``evals`` with the current training step."""
        count = self.spec.eval_episodes if episodes is None else episodes
        self.last_eval_step = self.steps
        records = evaluate(
            self.algo, self.evaluation_env(), count, 10_000 * (self.spec.seed + 1), self.max_eval_steps
        )
        rows: list[dict[str, Any]] = []
        for i, record in enumerate(records):
            rows += episode_rows(
                record, run_id=self.run_id, eval_id=self.eval_count, step=self.steps, episode=i
            )
        self.eval_count += 1
        self.eval_writer.add(rows)
        self.eval_writer.flush()
        return records

    def checkpoint(self) -> str:
        """Save the algorithm to ``checkpoints/<run_id>/latest`` (replacing the previous one whole)."""
        base = self.ledger.checkpoint_dir(self.run_id)
        tmp = base / f".tmp-{uuid.uuid4().hex[:8]}"
        self.algo.save(tmp)
        (tmp / "marlbench.json").write_text(
            json.dumps({"steps": self.steps, "episodes": self.episode_count, "evals": self.eval_count})
        )
        final = base / "latest"
        old = base / f".old-{uuid.uuid4().hex[:8]}"
        if final.exists():
            os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
        rel = str(final.relative_to(self.ledger.root))
        self.episodes.flush()
        self.ledger.update_run(self.run_id, checkpoint=rel, steps=self.steps, agent_steps=self._agent_steps())
        return rel

    def heartbeat(self) -> None:
        self.last_heartbeat = time.time()
        self.episodes.flush()
        self.ledger.update_run(
            self.run_id,
            steps=self.steps,
            agent_steps=self._agent_steps(),
            wall_time_s=time.time() - self.started,
        )

    def _agent_steps(self) -> int:
        return int(self.steps * self.env_ctx.n_agents)

    def close(self) -> None:
        self.episodes.close()
        self.eval_writer.close()
        if self._eval_env is not None:
            try:
                self._eval_env.close()
            finally:
                self._eval_env = None


# ---------------------------------------------------------------------------------------------
# one run
# ---------------------------------------------------------------------------------------------
def prepare(spec: RunSpec) -> tuple[Any, Any, Any]:
    """Resolve ``spec`` (ConfigError on any problem): returns (algo spec, env context, config)."""
    import dataclasses

    from marlbench.algos import get_algo
    from marlbench.algos.base import EnvContext
    from marlbench.envs import get_spec

    resolve(spec)
    algo_spec = get_algo(spec.algo)
    env_spec = get_spec(spec.env)
    env_ctx = EnvContext(env_spec, dict(spec.resolved["env_options"]), spec.seed)
    config_cls = algo_spec.config_cls()
    names = {f.name for f in dataclasses.fields(config_cls)}
    config = config_cls(**{k: v for k, v in spec.resolved["hyperparams"].items() if k in names})
    return algo_spec, env_ctx, config


def run(
    spec: RunSpec,
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
    algo_spec, env_ctx, config = prepare(spec)
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
        checkpoint_dir = ledger.root / row["checkpoint"]
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
        if hasattr(algo, "close"):
            algo.close()
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
        recorder.attach(algo, int(getattr(algo, "steps_done", 0)))
        algo.learn(spec.steps, recorder)
        recorder.steps = max(recorder.steps, int(getattr(algo, "steps_done", recorder.steps)))
        if spec.eval_episodes > 0 and recorder.last_eval_step != recorder.steps:
            recorder.evaluate()  # the final evaluation, unless tick() just made it at this step
        recorder.checkpoint()
        status = "finished"
    except KeyboardInterrupt:
        status, error = "interrupted", "stopped by the user (Ctrl-C)"
        if algo is not None and recorder.algo is not None:
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
            if algo is not None and hasattr(algo, "close"):
                algo.close()
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


# ---------------------------------------------------------------------------------------------
# many runs
# ---------------------------------------------------------------------------------------------
def failure_row(spec: RunSpec, status: str, error: str = "") -> dict[str, Any]:
    """What :func:`run_many` returns for a run that raised instead of returning its ledger row."""
    return {"status": status, "error": error, "algo": spec.algo, "seed": spec.seed, "variant": spec.variant}


def _run_or_failure(
    spec: RunSpec, ledger: Any, progress: ProgressSink, resume: str | None, threads: int | None
):
    """:func:`run`, with an exception turned into a :func:`failure_row` (the runner recorded it)."""
    try:
        return run(spec, ledger, progress, resume=resume, threads=threads)
    except MarlbenchError as exc:
        return failure_row(spec, "failed", str(exc))
    except Exception as exc:
        return failure_row(spec, "failed", f"{type(exc).__name__}: {exc}")


def _child(spec_json: str, ledger_root: str, queue: Any, threads: int, resume: str | None) -> dict[str, Any]:
    """Entry point of a worker process."""
    from marlbench.ledger import Ledger
    from marlbench.progress import QueueProgress

    spec = RunSpec.from_json(spec_json)
    try:
        return _run_or_failure(spec, Ledger(ledger_root, create=True), QueueProgress(queue), resume, threads)
    except KeyboardInterrupt:
        return failure_row(spec, "interrupted")


def run_many(
    specs: list[RunSpec],
    ledger: Any,
    jobs: int = 1,
    progress: ProgressSink | None = None,
    *,
    resumes: list[str | None] | None = None,
    keep_going: bool = False,
) -> list[dict[str, Any]]:
    """Run ``specs``; ``jobs > 1`` runs them in that many worker processes at once.

    All specs are resolved first, so a bad one stops everything before anything is written.
    ``resumes[i]``, when given, is the id of an interrupted run that ``specs[i]`` continues.
    Returns the final run rows, or :func:`failure_row` for runs that raised: always so in worker
    processes, and in one process when ``keep_going`` (a sweep goes on past a failed run; a plain
    ``train`` stops at the first error so that a refusal ends as one clear message).
    """
    for spec in specs:
        prepare(spec)
    ledger.check_writable()
    progress = progress or NullProgress()
    resumes = list(resumes) if resumes is not None else [None] * len(specs)
    if jobs <= 1 or len(specs) == 1:
        if keep_going:
            return [
                _run_or_failure(s, ledger, progress, r, None) for s, r in zip(specs, resumes, strict=True)
            ]
        return [run(s, ledger, progress, resume=r) for s, r in zip(specs, resumes, strict=True)]

    import multiprocessing as mp
    import queue as queue_mod
    from concurrent.futures import ProcessPoolExecutor

    from marlbench.progress import QueueProgress

    threads = int(os.environ.get("MARLBENCH_THREADS", "1"))
    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager:
        events = manager.Queue()
        with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
            futures = [
                pool.submit(_child, s.to_json(), str(ledger.root), events, threads, r)
                for s, r in zip(specs, resumes, strict=True)
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
