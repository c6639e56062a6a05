"""Distributed MADDPG as an :class:`~marlbench.algos.base.Algorithm` (paper 000, sec. IV, Fig. 5).

:class:`DistributedMADDPG` is what the runner builds for ``marlbench train maddpg --distributed``
(registry name ``maddpg-distributed``). It keeps the runner's contract, so ``train``, ``resume``
and ``evaluate`` work unchanged: the driver process (this object) hands the collectors' episodes to
the recorder, which evaluates the driver's copy of the actors deterministically and checkpoints
on its schedule; ``save``/``load`` write the single-process MADDPG checkpoint format
(``maddpg.pt``), so a distributed run's checkpoint also loads into plain MADDPG.

``learn`` starts (or joins) Ray (:mod:`.ray_runtime`), creates the actors of :mod:`.actors`, keeps
every collector busy with chunks of ``sync_every`` env steps until the budget is submitted, and
stops the learners. Every wait on an actor has a timeout: a dead actor ends the run as ``failed``
with its error, never a hang; Ray started here is shut down in ``finally``.

Same seed, same initial parameters; but asynchronous learners apply their updates in the order
they finish, so two runs with one seed are not bit-identical (the paper's design, not a bug).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from marlbench.algos.base import EnvContext, Recorder, torch_threads
from marlbench.distributed.actors import (
    Collector,
    Learner,
    ParameterHolder,
    Replay,
    load_network_state,
    make_maddpg,
    network_state,
)
from marlbench.distributed.config import DistributedMADDPGConfig, base_config
from marlbench.distributed.ray_runtime import RayRuntime, address_from_env, import_ray
from marlbench.errors import ConfigError, Diverged, MarlbenchError

WAIT_S = 1.0
POLL_S = 0.05
PULL_TIMEOUT_S = 10.0


class DistributedMADDPG:
    """MADDPG with collectors and asynchronous learners on Ray (see the module docstring)."""

    def __init__(self, env: EnvContext, config: DistributedMADDPGConfig | None = None, seed: int = 0) -> None:
        self.env = env
        self.config = cfg = config or DistributedMADDPGConfig()
        self.seed = seed
        self.base = base_config(cfg)
        self.local = make_maddpg(env, self.base, seed)  # acting, evaluation and checkpoints
        self.agents = self.local.agents
        self.steps_done = 0
        self.updates_done = 0
        self.runtime: RayRuntime | None = None
        self._actors: dict[str, Any] = {}
        self.report: dict[str, Any] = {}
        """After :meth:`learn`: ``learner_updates`` (per learner), ``history`` ((learner, base
        version, new version) per update), ``collector_versions`` ((collector, weight version, weight
        fingerprint) per chunk), ``start_version``, ``startup_s`` (actors up), ``wall_s`` (training)."""

    # --- the Algorithm surface ---------------------------------------------------------------------
    def act(self, observations: Mapping[str, np.ndarray], deterministic: bool = True) -> dict[str, Any]:
        return self.local.act(observations, deterministic)

    def save(self, directory: Path) -> None:
        """The holder's parameters and optimizers (when it is alive) in MADDPG's checkpoint format."""
        self._pull_state()
        self.local.steps_done, self.local.updates_done = self.steps_done, self.updates_done
        self.local.save(directory)

    def load(self, directory: Path) -> None:
        self.local.load(directory)
        self.steps_done, self.updates_done = self.local.steps_done, self.local.updates_done

    def learn(self, total_steps: int, recorder: Recorder) -> None:
        cfg = self.config
        address = address_from_env() if cfg.ray == "cluster" else ""
        if cfg.ray == "cluster" and not address:
            raise ConfigError(
                "this run is configured for a Ray cluster (ray=cluster) but no address is given",
                "pass --ray-address ADDR or set RAY_ADDRESS",
            )
        self.runtime = RayRuntime(address).start()
        try:
            with torch_threads(cfg.torch_threads):
                self._train(total_steps, recorder)
        finally:
            self.close()

    def close(self) -> None:
        """Pull the last parameters, kill the actors, stop a Ray started here (idempotent)."""
        if self._actors:
            self._pull_state()
            ray = import_ray()
            for actor in self._actors.values():
                with contextlib.suppress(Exception):  # already dead: nothing to release
                    ray.kill(actor)
            self._actors = {}
        if self.runtime is not None:
            self.runtime.stop()
            self.runtime = None
        self.local.close()

    # --- the driver loop ---------------------------------------------------------------------------
    def _spawn(self) -> tuple[Any, Any, list[Any], list[Any]]:
        ray = import_ray()
        cfg, base, seed = self.config, self.base, self.seed
        env = (self.env.spec.name, dict(self.env.options), self.env.seed)
        workers = cfg.collectors + cfg.learners
        share = min(1.0, float(ray.cluster_resources().get("CPU", 1.0)) / workers)
        service = {"num_cpus": 0, "max_restarts": 0}
        holder = (
            ray.remote(ParameterHolder)
            .options(**service)
            .remote(env, base, seed, network_state(self.local), self.updates_done)
        )
        replay = ray.remote(Replay).options(**service).remote(env, base, seed)
        worker = {"num_cpus": share, "max_restarts": 0}
        collectors = [
            ray.remote(Collector).options(**worker).remote(i, env, base, seed, holder, replay)
            for i in range(cfg.collectors)
        ]
        learners = [
            ray.remote(Learner).options(**worker).remote(i, env, base, seed, holder, replay)
            for i in range(cfg.learners)
        ]
        self._actors = {"holder": holder, "replay": replay}
        self._actors |= {f"collector {i}": a for i, a in enumerate(collectors)}
        self._actors |= {f"learner {i}": a for i, a in enumerate(learners)}
        return holder, replay, collectors, learners

    def _train(self, total_steps: int, recorder: Recorder) -> None:
        ray = import_ray()
        cfg = self.config
        spawned = time.time()
        holder, replay, collectors, learners = self._spawn()
        # training starts once every actor is up (worker processes take seconds to import torch)
        self._get([actor.pid.remote() for actor in self._actors.values()], "an actor starting up")
        startup_s = time.time() - spawned
        learner_refs = {learner.run.remote(cfg.paced): f"learner {i}" for i, learner in enumerate(learners)}
        pending: dict[Any, int] = {}
        idle = list(range(cfg.collectors))
        submitted = start_steps = self.steps_done
        start_version, started, versions = self.updates_done, time.time(), []
        unit = max(1, self.base.num_envs)
        last_progress = time.time()
        while pending or submitted < total_steps:
            while (
                idle and submitted < total_steps and self._may_collect(submitted - start_steps, start_version)
            ):
                n = -(-min(cfg.sync_every, total_steps - submitted) // unit) * unit
                i = idle.pop(0)
                pending[collectors[i].collect.remote(n, submitted)] = i
                submitted += n
            ready, _ = ray.wait([*pending, *learner_refs], num_returns=1, timeout=POLL_S if idle else WAIT_S)
            if not ready:
                version = int(self._get(holder.version_now.remote(), "the parameter holder"))
                if version != self.updates_done:
                    self.updates_done, last_progress = version, time.time()
                if time.time() - last_progress > cfg.stall_timeout_s:
                    raise RuntimeError(
                        f"distributed MADDPG: no actor reported progress for {cfg.stall_timeout_s:.0f} s"
                    )
                continue
            ref = ready[0]
            if ref in learner_refs:
                self._get(ref, learner_refs[ref])
                raise RuntimeError(f"distributed MADDPG: {learner_refs[ref]} stopped before the run ended")
            i = pending.pop(ref)
            idle.append(i)
            result = self._get(ref, f"collector {i}")
            self.steps_done += int(result["steps"])
            versions.append((i, int(result["version"]), float(result["weights"])))
            version, actor = self._get(holder.actor_weights.remote(), "the parameter holder")
            self.local.actor.load_state_dict(actor)
            self.updates_done = int(version)
            if result["episodes"]:
                recorder.log_episodes(self.steps_done, result["episodes"])
            replay.anneal_beta.remote(self.steps_done / max(total_steps, 1))
            elapsed = max(time.time() - started, 1e-9)
            recorder.log_stats(
                self.steps_done,
                {
                    "updates": float(self.updates_done),
                    "updates_per_s": (self.updates_done - start_version) / elapsed,
                    "env_steps_per_s": (self.steps_done - start_steps) / elapsed,
                    "weight_version": float(result["version"]),
                },
            )
            recorder.tick(self.steps_done)
            last_progress = time.time()
        self._get(holder.stop.remote(), "the parameter holder")
        counts = [self._get(ref, name) for ref, name in learner_refs.items()]
        self.report = {
            "learner_updates": [int(c) for c in counts],
            "history": self._get(holder.history.remote(), "the parameter holder"),
            "collector_versions": versions,
            "start_version": start_version,
            "startup_s": startup_s,
            "wall_s": time.time() - started,
        }
        self._pull_state()

    def _may_collect(self, session_steps: int, start_version: int) -> bool:
        """Paced runs: hold collection back while the learners are more than one round of chunks
        (``sync_every`` x collectors env steps) behind the single-process schedule of updates."""
        cfg = self.config
        if not cfg.paced:
            return True
        behind = session_steps - cfg.sync_every * cfg.collectors
        warmup = max(1, min(cfg.learning_starts, cfg.buffer_size))
        due = ((behind - warmup) // cfg.learn_every + 1) * cfg.updates_per_learn if behind >= warmup else 0
        return self.updates_done - start_version >= due

    def _get(self, ref: Any, name: str, timeout: float | None = None) -> Any:
        """``ray.get`` with an actor's death or error turned into the error the runner records."""
        ray = import_ray()
        from ray import exceptions as rex

        try:
            return ray.get(ref, timeout=timeout if timeout is not None else self.config.stall_timeout_s)
        except rex.RayTaskError as err:
            cause = getattr(err, "cause", None)
            if isinstance(cause, Diverged | MarlbenchError):
                raise cause from None
            raise RuntimeError(f"distributed MADDPG: {name} failed: {cause!r}") from None
        except rex.RayActorError as err:
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise RuntimeError(f"distributed MADDPG: {name} died ({reason})") from None
        except rex.GetTimeoutError:
            waited = timeout or self.config.stall_timeout_s
            raise RuntimeError(f"distributed MADDPG: {name} did not answer within {waited:.0f} s") from None

    def _pull_state(self) -> None:
        """Copy the holder's parameters and optimizers into the driver's MADDPG (when it is alive)."""
        holder = self._actors.get("holder")
        if holder is None:
            return
        try:
            version, state = self._get(holder.state.remote(), "the parameter holder", PULL_TIMEOUT_S)
        except (RuntimeError, MarlbenchError, Diverged):
            return  # the holder is gone: keep the last parameters pulled
        load_network_state(self.local, state)
        self.updates_done = int(version)
