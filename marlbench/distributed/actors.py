"""The Ray actors of distributed MADDPG (paper 000, sec. IV, Fig. 5): parameter holder, replay,
collectors and asynchronous learners. Each wraps the single-process :class:`~marlbench.algos.maddpg.MADDPG`
(its networks, losses, replay and collection step), so nothing of MADDPG is written twice.

* :class:`ParameterHolder`: the one copy of the parameters that counts, with both Adam optimizers
  and the target networks. A learner's gradients are applied the moment they arrive, each bumping
  the parameter ``version``; the soft target update (Algorithm 1, ``theta' <- tau theta + (1 - tau)
  theta'``) follows every applied update, where the parameters live.
* :class:`Replay`: **one replay actor** holding the run's :class:`~marlbench.replay.ReplayBuffer`.
  Chosen over a shard per learner because rank-based PER (eq. 7) ranks every stored transition
  against all others: shards would rank within a shard and each learner would see only its share
  of the experience. A learner fetches only its mini-batch (``batch_size`` x agents rows), never
  the buffer, and sends the new ``|TD|`` priorities back. Shards would pay off with many learners
  on many nodes; with the paper's two learners one actor is the simpler and exact choice.
* :class:`Collector`: steps its own env copies with the newest actor weights it has, pulled from the
  holder every ``sync_every`` env steps (the version used is recorded), and pushes transitions to
  the replay actor.
* :class:`Learner`: loops ``pull parameters -> sample -> gradients -> apply`` with no barrier between
  learners: an update may be computed on parameters another learner has moved on since (its
  staleness is recorded). This is the asynchrony paper 000 credits with "exploration in parameter
  space". ``paced`` runs keep the single-process number of updates per env step (learners wait
  when ahead; the driver holds collection back when they lag by more than a round of chunks), so
  they compare with single-process MADDPG at equal sample use; unpaced ones run everything free.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any

import numpy as np
import torch

from marlbench.algos.base import EnvContext
from marlbench.algos.maddpg import MADDPG, MADDPGConfig
from marlbench.nets import soft_update_

NETWORKS = ("actor", "critic", "target_actor", "target_critic")
OPTIMIZERS = ("actor_opt", "critic_opt")
IDLE_SLEEP_S = 0.02
"""How long a paced learner waits when it is ahead of the env steps collected."""


def env_context(env_name: str, options: dict[str, Any], seed: int) -> EnvContext:
    """Rebuild the run's :class:`EnvContext` by name inside an actor (works on any cluster node)."""
    from marlbench.envs import get_spec

    return EnvContext(get_spec(env_name), dict(options), seed)


def make_maddpg(env: EnvContext, config: MADDPGConfig, seed: int, replay: bool = False) -> MADDPG:
    """A MADDPG with one thread; its own replay buffer is a 1-slot placeholder unless ``replay``."""
    torch.set_num_threads(max(1, config.torch_threads))
    if not replay:
        config = dataclasses.replace(config, buffer_size=1, per=False, save_replay=False)
    return MADDPG(env, config, seed)


def network_state(algo: MADDPG, optimizers: bool = True) -> dict[str, Any]:
    """The networks (and optimizers) of ``algo`` as picklable state dicts."""
    names = NETWORKS + (OPTIMIZERS if optimizers else ())
    return {name: getattr(algo, name).state_dict() for name in names}


def load_network_state(algo: MADDPG, state: dict[str, Any]) -> None:
    for name, value in state.items():
        getattr(algo, name).load_state_dict(value)


class ParameterHolder:
    """The parameters, optimizers and targets; applies learners' gradients as they arrive."""

    def __init__(self, env: tuple, config: MADDPGConfig, seed: int, state: dict[str, Any], updates: int):
        self.algo = make_maddpg(env_context(*env), config, seed)
        load_network_state(self.algo, state)
        self.version = int(updates)
        self.start_version = self.version
        self.log: list[tuple[int, int, int]] = []
        """``(learner, version its gradients were computed on, version they produced)`` per update."""
        self.stopped = False

    def actor_weights(self) -> tuple[int, dict[str, Any]]:
        return self.version, self.algo.actor.state_dict()

    def weights(self) -> tuple[int, int, bool, dict[str, Any]]:
        """``(version, updates this session, stop, networks)``: what a learner needs next."""
        session = self.version - self.start_version
        return self.version, session, self.stopped, network_state(self.algo, optimizers=False)

    def apply(self, learner: int, base_version: int, critic_grads: list, actor_grads: list) -> int:
        """Adam steps with a learner's gradients, then the soft target update; returns the new version."""
        algo, tau = self.algo, self.algo.config.tau
        for params, grads, opt in (
            (algo.critic.parameters(), critic_grads, algo.critic_opt),
            (algo.actor.parameters(), actor_grads, algo.actor_opt),
        ):
            for p, g in zip(params, grads, strict=True):
                p.grad = None if g is None else torch.as_tensor(g)
            opt.step()
        soft_update_(algo.target_critic, algo.critic, tau)
        soft_update_(algo.target_actor, algo.actor, tau)
        self.version += 1
        self.log.append((learner, base_version, self.version))
        return self.version

    def state(self) -> tuple[int, dict[str, Any]]:
        return self.version, network_state(self.algo)

    def stop(self) -> None:
        self.stopped = True

    def version_now(self) -> int:
        return self.version

    def pid(self) -> int:
        return os.getpid()

    def history(self) -> list[tuple[int, int, int]]:
        return list(self.log)


class Replay:
    """The run's replay buffer (uniform or PER, per-agent channels) behind one actor."""

    def __init__(self, env: tuple, config: MADDPGConfig, seed: int) -> None:
        self.algo = make_maddpg(env_context(*env), config, seed, replay=True)
        self.buffer = self.algo.replay
        self.rng = np.random.default_rng(seed)

    def add(self, transitions: dict[str, np.ndarray]) -> int:
        self.buffer.add(transitions)
        return self.buffer.total_added

    def sample(self, batch_size: int) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, int]:
        """``(batch, slots, IS weights, transitions added so far)``; an empty batch before any data."""
        if len(self.buffer) == 0:
            return {}, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32), 0
        batch, idx, weights = self.buffer.sample(batch_size, self.rng)
        return batch, idx, weights, self.buffer.total_added

    def stored(self) -> tuple[int, int]:
        """``(transitions held, transitions ever added)``."""
        return len(self.buffer), self.buffer.total_added

    def update_priorities(self, idx: np.ndarray, priorities: np.ndarray) -> None:
        self.buffer.update_priorities(idx, priorities)

    def anneal_beta(self, progress: float) -> None:
        self.buffer.anneal_beta(progress)

    def pid(self) -> int:
        return os.getpid()


class Collector:
    """Steps its own env copies with actor weights pulled every ``sync_every`` env steps."""

    def __init__(self, index: int, env: tuple, config: MADDPGConfig, seed: int, holder: Any, replay: Any):
        name, options, env_seed = env
        # each collector explores its own env seeds and its own action noise
        self.algo = make_maddpg(env_context(name, options, env_seed + 100_003 * index), config, seed)
        self.algo.rng = np.random.default_rng([seed, index, 17])
        self.holder, self.replay = holder, replay
        self.version = -1

    def collect(self, steps: int, steps_done: int) -> dict[str, Any]:
        """Pull the newest actor weights, take ``steps`` env steps, push them to replay.

        ``steps_done`` (the run's env steps so far) offsets the env seeds when the envs open, so a
        resumed run does not replay the episodes it already saw.
        """
        import ray

        self.version, actor = ray.get(self.holder.actor_weights.remote())
        self.algo.actor.load_state_dict(actor)
        if self.algo._train_env is None:
            self.algo.steps_done = steps_done
        chunks: list[dict[str, np.ndarray]] = []
        episodes: list[Any] = []
        taken = 0
        while taken < steps:
            transition, step = self.algo.collect_step()
            chunks.append(transition)
            episodes += step.episodes
            taken += self.algo.config.num_envs
        batch = {key: np.concatenate([c[key] for c in chunks]) for key in chunks[0]}
        ray.get(self.replay.add.remote(batch))
        # a fingerprint of the weights this chunk acted with (tests check they change)
        acted = float(sum(p.detach().abs().sum() for p in self.algo.actor.parameters()))
        return {"steps": taken, "episodes": episodes, "version": self.version, "weights": acted}

    def close(self) -> None:
        self.algo.close()

    def pid(self) -> int:
        return os.getpid()


class Learner:
    """Samples mini-batches, computes MADDPG gradients on the parameters it last pulled, and sends
    them to the holder, with no barrier between learners."""

    def __init__(self, index: int, env: tuple, config: MADDPGConfig, seed: int, holder: Any, replay: Any):
        self.index = index
        self.algo = make_maddpg(env_context(*env), config, seed)
        self.algo.torch_rng.manual_seed(seed * 1_000 + index + 1)  # own Gumbel noise per learner
        self.holder, self.replay = holder, replay
        self.config = config
        self.updates = 0

    def run(self, paced: bool) -> int:
        """Update until the holder says stop; returns how many updates this learner applied."""
        import ray

        cfg = self.config
        warmup = max(1, min(cfg.learning_starts, cfg.buffer_size))
        applied: list[Any] = []
        while True:
            # one round trip per update: Ray runs one caller's calls to an actor in order, so these
            # weights already include this learner's previous update (whose result is checked here)
            *_, (version, session, stop, networks), (batch, idx, weights, added) = ray.get(
                [*applied, self.holder.weights.remote(), self.replay.sample.remote(cfg.batch_size)]
            )
            applied = []
            if stop:
                return self.updates
            # the single process's schedule: updates_per_learn every learn_every steps past warm-up
            allowed = ((added - warmup) // cfg.learn_every + 1) * cfg.updates_per_learn
            if added < warmup or (paced and session >= allowed):
                time.sleep(IDLE_SLEEP_S)
                continue
            load_network_state(self.algo, networks)
            self.algo.actor_opt.zero_grad()
            _, priorities = self.algo.learn_from_batch(batch, weights, step=False)
            critic = [_grad(p) for p in self.algo.critic.parameters()]
            actor = [_grad(p) for p in self.algo.actor.parameters()]
            self.replay.update_priorities.remote(idx, priorities)
            applied = [self.holder.apply.remote(self.index, version, critic, actor)]
            self.updates += 1

    def pid(self) -> int:
        return os.getpid()


def _grad(p: torch.nn.Parameter) -> np.ndarray | None:
    return None if p.grad is None else p.grad.detach().numpy().copy()
