"""The recorder an algorithm reports to: episodes, statistics, evaluations and checkpoints on time.

:class:`RunRecorder` implements :class:`marlbench.algos.base.Recorder`. An algorithm never sees
the ledger: it hands finished episodes (:meth:`RunRecorder.log_episodes`), its own evaluation
rounds (:meth:`RunRecorder.log_evaluation`) and statistics to the recorder, which writes them and
decides when to evaluate and checkpoint.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections import deque
from collections.abc import Mapping
from typing import Any

import numpy as np

from marlbench.algos.base import updates_of
from marlbench.config import RunSpec
from marlbench.envs.array import EpisodeRecord
from marlbench.training.diagnostics import Diagnostics, tensorboard_dir
from marlbench.training.evaluation import (
    episode_rows,
    evaluate,
    evaluation_env,
    max_episode_steps,
    posthoc_records,
)
from marlbench.training.progress import ProgressSink

HEARTBEAT_SECONDS = 30.0


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
        self.diagnostics = Diagnostics(ledger, run_id, spec.steps, tensorboard_dir())
        self.episode_count = episode_offset
        self.eval_count = eval_offset
        self.eval_every = spec.eval_every_steps()
        self.last_eval_step = -1
        self.last_eval_return: float | None = None
        """Mean return (over episodes, team mean over agents) of the latest own-policy evaluation."""
        self.next_eval = self.eval_every
        self.next_checkpoint = spec.checkpoint_every or 0
        self.last_heartbeat = time.time()
        self.recent = deque(maxlen=100)
        self.stats: dict[str, float] = {}
        self.steps = 0
        self._last_update = 0.0
        self._eval_env: Any = None
        self.max_eval_steps = max_episode_steps(env_ctx.spec, env_ctx.options)

    def attach(self, algo: Any, steps_done: int = 0) -> None:
        self.algo = algo
        self.steps = steps_done
        self.start_steps = steps_done
        if steps_done and self.eval_count:  # a resume: the kept evaluations count as made
            kept = self.ledger.evals([self.run_id])
            own = kept[(kept["policy"] == "") & (kept["env_options"] == "")] if len(kept) else kept
            self.last_eval_step = int(own["step"].max()) if len(own) else -1
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
        self.diagnostics.episodes(rows)

    def log_stats(self, env_steps: int, stats: Mapping[str, float]) -> None:
        """Keep the newest value of each statistic and record them (thinned) in the ``metrics`` table."""
        self.stats.update(stats)
        self.diagnostics.stats(int(env_steps), time.time() - self.started, stats)

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
                    "updates_rate": self.stats.get("updates_per_s"),  # learners that report it
                    "eval_return": self.last_eval_return,
                },
            )
        if self.spec.eval_episodes > 0 and self.steps >= self.next_eval:
            # an evaluation due at or past the budget is the runner's final one, made once at the end
            # (a learner may overshoot the budget by part of a rollout: no evaluation fires there)
            at_budget = self.next_eval >= self.spec.steps
            while self.next_eval <= self.steps:
                self.next_eval += self.eval_every
            if not at_budget:
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
            self._eval_env = evaluation_env(self.algo, self.env_ctx, 1_000_003 + self.spec.seed)
        return self._eval_env

    def evaluate(self, episodes: int | None = None) -> list[EpisodeRecord]:
        """Deterministic evaluation now; rows go to ``evals`` with the current training step."""
        count = self.spec.eval_episodes if episodes is None else episodes
        self.last_eval_step = self.steps
        records = evaluate(
            self.algo, self.evaluation_env(), count, 10_000 * (self.spec.seed + 1), self.max_eval_steps
        )
        self.log_evaluation(self.steps, records)
        if records:
            self.last_eval_return = float(np.mean([np.mean(list(r.rewards.values())) for r in records]))
        return records

    def log_evaluation(
        self, env_steps: int, records: list[EpisodeRecord], policy: str = "", env_options: str = ""
    ) -> int:
        """Store one round of deterministic episodes under the next eval id; returns that id.

        ``policy`` names the policy evaluated when it is not the algorithm's own acting policy (CTEDD
        tests its global and distilled policies each round). ``env_options`` is the JSON of all env
        options of a final evaluation ('' for the run's own options): such a round is post-hoc, kept
        out of the training schedule and TensorBoard's evaluation curve. Eval ids count up from 0 in
        the order rounds are logged, whoever ran them.
        """
        eval_id = self.eval_count
        rows: list[dict[str, Any]] = []
        for i, record in enumerate(records):
            rows += episode_rows(
                record, run_id=self.run_id, eval_id=eval_id, step=int(env_steps), episode=i, policy=policy
            )
        if env_options:
            rows = [row | {"env_options": env_options} for row in rows]
        self.eval_count += 1
        self.eval_writer.add(rows)
        self.eval_writer.flush()
        if not env_options:
            self.diagnostics.evaluation(rows)
        return eval_id

    def final_evaluations(self) -> int:
        """The spec's final evaluations (``final_evals``): one deterministic round per option set, at
        the current step, stored with that set's env options; returns how many rounds it made.

        A resumed run (stopped during them) skips the sets it already recorded at this step: each
        round is written whole, and a redone one would repeat it exactly (post-hoc seeds).
        """
        sets = self.spec.resolved.get("final_evals") or []
        episodes = self.spec.final_episodes()
        if not sets or episodes <= 0:
            return 0
        kept = self.ledger.evals([self.run_id])
        if len(kept):
            kept = kept[(kept["policy"] == "") & (kept["env_options"] != "") & (kept["step"] == self.steps)]
        done = set(kept["env_options"]) if len(kept) else set()
        made = 0
        for options in sets:
            text = json.dumps(options, sort_keys=True)
            if text in done:
                continue
            records = posthoc_records(self.algo, self.env_ctx, self.spec.seed, options, episodes)
            self.log_evaluation(self.steps, records, env_options=text)
            made += 1
        return made

    def checkpoint(self) -> str:
        """Save the algorithm to ``checkpoints/<run_id>/latest`` (replacing the previous one whole).

        The new checkpoint is written beside ``latest`` and renamed over it, so a save that fails
        (or is killed) leaves the previous checkpoint as it was.
        """
        # rows before the checkpoint reach the ledger first: a crash between the two then leaves
        # rows past the old checkpoint (dropped on resume), never a checkpoint past missing rows
        self.episodes.flush()
        base = self.ledger.checkpoint_dir(self.run_id)
        tmp = base / f".tmp-{uuid.uuid4().hex[:8]}"
        try:
            self.algo.save(tmp)
            (tmp / "marlbench.json").write_text(
                json.dumps({"steps": self.steps, "episodes": self.episode_count, "evals": self.eval_count})
            )
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        final = base / "latest"
        old = base / f".old-{uuid.uuid4().hex[:8]}"
        if final.exists():
            os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
        rel = str(final.relative_to(self.ledger.root))
        self.ledger.update_run(
            self.run_id,
            checkpoint=rel,
            steps=self.steps,
            agent_steps=self._agent_steps(),
            updates=updates_of(self.algo),
        )
        return rel

    def heartbeat(self) -> None:
        self.last_heartbeat = time.time()
        self.episodes.flush()
        self.ledger.update_run(
            self.run_id,
            steps=self.steps,
            agent_steps=self._agent_steps(),
            wall_time_s=time.time() - self.started,
            updates=updates_of(self.algo),
        )

    def _agent_steps(self) -> int:
        return int(self.steps * self.env_ctx.n_agents)

    def close(self) -> None:
        self.episodes.close()
        self.eval_writer.close()
        self.diagnostics.close()
        if self._eval_env is not None:
            try:
                self._eval_env.close()
            finally:
                self._eval_env = None
