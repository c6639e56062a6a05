"""The training loop shared by the DQN family of paper 004 (LBS, IDQN, IDQN-shared-buffer, PS-DQN).

:class:`MultiAgentDQN` runs epsilon-greedy collection on a vectorized
:class:`~marlbench.envs.array.ArrayEnv`, stores each agent's transitions in its own buffer
(:class:`~marlbench.replay.AgentReplay`) and trains ``n`` Q-networks as one
:class:`~marlbench.nets.BatchedCNN`; subclasses (:mod:`marlbench.algos.dqn.lbs`) only say how each
learner's mini-batch is chosen (:meth:`MultiAgentDQN._select`).

The loss is the DQN loss of paper 004, section 2: for each learner ``i`` and sampled transition
``k``, ``y_k = r_k + gamma * (1 - terminal_k) * max_a' Q_target_i(s'_k, a')`` and the step minimises
``(1/B) sum_k w_k * l(Q_i(s_k, a_k), y_k)``, with ``w_k = 1/(K p_k)`` (section 3; ``w_k = 1`` under
uniform sampling). ``l`` is the L2 loss ``0.5 * delta^2`` by default, whose derivative with respect
to ``Q`` is the TD error ``delta`` as section 3 assumes.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from marlbench.algos.base import EnvContext, Recorder
from marlbench.algos.checkpoint import read_checkpoint, write_checkpoint
from marlbench.algos.dqn.config import DQNConfig, linear_epsilon
from marlbench.errors import ConfigError, Diverged
from marlbench.nets import BatchedCNN, clip_grad_norm_per_member_
from marlbench.replay import AgentReplay

CHECKPOINT_FILE = "dqn.pt"
STATS_EVERY = 1_000
"""Env steps between two ``Recorder.log_stats`` calls."""


def q_learning_targets(
    r_t: torch.Tensor, terminal_t: torch.Tensor, max_q_t: torch.Tensor, gamma: float
) -> torch.Tensor:
    """``y = r_t + gamma * (1 - terminal_t) * max_a' Q_target(s_t, a')`` (paper 004, section 2)."""
    return r_t + gamma * (1.0 - terminal_t) * max_q_t


def dqn_loss(q_tm1: torch.Tensor, y: torch.Tensor, weights: torch.Tensor | None, kind: str) -> torch.Tensor:
    """Sum over learners of ``(1/B) sum_k w_k l(q_k, y_k)`` for ``[L, B]`` inputs (section 3).

    ``l`` is ``0.5 * delta^2`` (``mse``, the L2 loss of section 3) or the Huber loss; ``weights``
    ``None`` means all 1. Summing the learners' means gives each network exactly the gradient of its
    own mini-batch loss, since the learners share no parameters.
    """
    delta = q_tm1 - y
    per_sample = 0.5 * delta.pow(2) if kind == "mse" else F.smooth_l1_loss(q_tm1, y, reduction="none")
    if weights is not None:
        per_sample = per_sample * weights
    return per_sample.mean(-1).sum()


class Selection(NamedTuple):
    """What each learner trains on at one SGD step: ``[L, B]`` transitions and their weights."""

    agent: np.ndarray
    """``[L, B]`` which agent's buffer each transition comes from."""
    index: np.ndarray
    """``[L, B]`` position in that buffer."""
    weights: torch.Tensor | None = None
    """``[L, B]`` importance weights ``w_k`` (``None``: all 1)."""
    targets: torch.Tensor | None = None
    """``[L, B]`` precomputed targets ``y_k`` (``None``: computed from the target networks)."""
    stats: Mapping[str, float] | None = None


class MultiAgentDQN:
    """DQN learners for homogeneous agents with image observations and discrete actions.

    ``parameter_sharing`` (class attribute): one network and one learner for all agents instead of
    one per agent. Subclasses implement :meth:`_select`. ``learn`` counts env steps over all
    ``num_envs`` copies and runs until ``steps_done >= total_steps`` (so a loaded checkpoint resumes);
    replay buffers are not checkpointed.

    Observations arrive channels last (``[H, W, C]``, PettingZoo's image convention) and are fed to
    the CNN channels first (``obs.transpose(2, 0, 1)``).
    """

    parameter_sharing: ClassVar[bool] = False
    replay_sampler: str = "uniform"
    """How :meth:`AgentReplay.sample` draws from each agent's buffer (LBS with ``p1 = td``: proportional)."""
    priority_eps: float = 1e-6
    """The replay's ``eps`` in ``p = |delta| + eps`` (LBS: ``td_eps``)."""

    def __init__(self, env: EnvContext, config: DQNConfig, seed: int) -> None:
        from gymnasium import spaces

        self.env_ctx = env
        self.config = config
        self.seed = int(seed)
        probe = env.make(self.seed)
        try:
            self.agents: list[str] = list(probe.possible_agents)
            obs_space = probe.observation_space(self.agents[0])
            act_space = probe.action_space(self.agents[0])
        finally:
            probe.close()
        if not isinstance(act_space, spaces.Discrete):
            raise ConfigError(
                f"{type(self).__name__} needs discrete actions; '{env.spec.name}' has {act_space}",
                "pick a discrete-action environment",
            )
        if obs_space.shape is None or len(obs_space.shape) != 3:
            raise ConfigError(
                f"{type(self).__name__} needs image observations [H, W, C]; '{env.spec.name}' gives "
                f"{obs_space.shape}",
                "pick an image environment such as pursuit",
            )
        h, w, c = obs_space.shape
        self.obs_shape = (int(c), int(h), int(w))
        self.n_agents = len(self.agents)
        self.n_actions = int(act_space.n)
        self.n_learners = 1 if self.parameter_sharing else self.n_agents
        if config.device == "auto":
            self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        else:
            if config.device == "cuda" and not torch.cuda.is_available():
                raise ConfigError("device=cuda but no CUDA device is available", "use --set device=cpu")
            self.device = torch.device(config.device)
        self.torch_gen = torch.Generator().manual_seed(self.seed)
        self.online = BatchedCNN(
            self.n_learners,
            self.obs_shape,
            self.n_actions,
            config.channels(),
            config.kernel_size,
            config.stride,
            config.head_hidden,
            generator=self.torch_gen,
        ).to(self.device)
        self.target = copy.deepcopy(self.online).requires_grad_(False)
        if config.optimizer == "adam":
            # Adam is elementwise, so one Adam over the stacked parameters equals one Adam per network.
            self.optimizer: torch.optim.Optimizer = torch.optim.Adam(
                self.online.parameters(), config.learning_rate
            )
        else:
            self.optimizer = torch.optim.SGD(self.online.parameters(), config.learning_rate)
        self.rng = np.random.default_rng(self.seed)
        self.eval_rng = np.random.default_rng(self.seed + 7_919)
        self.steps_done = 0
        self.updates = 0
        self.replay: AgentReplay | None = None
        self._train_env: Any = None
        self._obs: np.ndarray | None = None
        self._total_steps = 0
        self._update_credit = 0.0
        self._stats_sum: dict[str, float] = {}
        self._stats_count = 0

    # -- what subclasses define ------------------------------------------------------------------

    def _select(self) -> Selection:
        """The transitions (and weights) each learner trains on at this SGD step."""
        raise NotImplementedError

    # -- acting ----------------------------------------------------------------------------------

    @staticmethod
    def channels_first(obs: np.ndarray) -> np.ndarray:
        """``[..., H, W, C] -> [..., C, H, W]`` as float32."""
        return np.moveaxis(np.asarray(obs, dtype=np.float32), -1, -3)

    def _to_tensor(self, array: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(array, dtype=torch.float32, device=self.device)

    @torch.no_grad()
    def greedy(self, obs: np.ndarray) -> np.ndarray:
        """Greedy actions ``[E, N]`` for channels-first observations ``[E, N, C, H, W]``."""
        e, n = obs.shape[:2]
        if self.parameter_sharing:
            q = self.online(self._to_tensor(obs.reshape(1, e * n, *obs.shape[2:])))
            return q.argmax(-1).reshape(e, n).cpu().numpy()
        q = self.online(self._to_tensor(obs.swapaxes(0, 1)))
        return q.argmax(-1).T.cpu().numpy()

    def _epsilon_greedy(self, obs: np.ndarray, eps: float, rng: np.random.Generator) -> np.ndarray:
        actions = self.greedy(obs)
        explore = rng.random(actions.shape) < eps
        random_actions = rng.integers(0, self.n_actions, size=actions.shape)
        return np.where(explore, random_actions, actions)

    def epsilon(self) -> float:
        if self._total_steps <= 0:
            return self.config.exploration_final_eps
        return linear_epsilon(self.steps_done, self._total_steps, self.config)

    def act(self, observations: Mapping[str, np.ndarray], deterministic: bool = True) -> dict[str, int]:
        obs = np.zeros((1, self.n_agents, *self.obs_shape), dtype=np.float32)
        for j, agent in enumerate(self.agents):
            if agent in observations:
                obs[0, j] = self.channels_first(observations[agent])
        if deterministic:
            actions = self.greedy(obs)[0]
        else:
            actions = self._epsilon_greedy(obs, self.epsilon(), self.eval_rng)[0]
        return {agent: int(actions[j]) for j, agent in enumerate(self.agents) if agent in observations}

    # -- learning --------------------------------------------------------------------------------

    def _start(self) -> None:
        cfg = self.config
        if self._train_env is None:
            self._train_env = self.env_ctx.make_array(cfg.num_envs, seed=self.seed)
            self._obs = self.channels_first(self._train_env.reset(seed=self.seed))
        if self.replay is None:
            self.replay = AgentReplay(
                self.n_agents,
                cfg.buffer_size,
                self.obs_shape,
                np.uint8 if cfg.obs_storage == "uint8" else np.float32,
                sampler=self.replay_sampler,
                eps=self.priority_eps,
            )

    def learn(self, total_steps: int, recorder: Recorder) -> None:
        """Collect with epsilon-greedy and learn until ``steps_done >= total_steps`` env steps."""
        cfg = self.config
        self._start()
        env, replay = self._train_env, self.replay
        assert replay is not None
        self._total_steps = int(total_steps)
        while self.steps_done < total_steps:
            obs = self._obs
            assert obs is not None
            actions = self._epsilon_greedy(obs, self.epsilon(), self.rng)
            step = env.step(actions)
            next_obs = self.channels_first(step.obs)
            stored_next = next_obs
            if step.done.any():
                stored_next = next_obs.copy()
                stored_next[step.done] = self.channels_first(step.final_obs[step.done])
            replay.add(obs, actions, step.rewards, stored_next, step.terminated, step.alive)
            self._obs = next_obs
            before = self.steps_done
            self.steps_done += env.num_envs
            if step.episodes:
                recorder.log_episodes(self.steps_done, step.episodes)
            if self.steps_done >= cfg.learning_starts and replay.size.min() > 0:
                self._update_credit += env.num_envs / cfg.train_freq
                while self._update_credit >= 1.0:
                    self._update_credit -= 1.0
                    for _ in range(cfg.gradient_steps):
                        self._record(self._update(self._select()))
            if self.steps_done // cfg.target_update_interval > before // cfg.target_update_interval:
                self.sync_target()
            if self.steps_done // STATS_EVERY > before // STATS_EVERY:
                recorder.log_stats(self.steps_done, self._flush_stats())
            recorder.tick(self.steps_done)

    @property
    def updates_done(self) -> int:
        """Gradient updates made so far (every learner's SGD steps counted once each; restored by load)."""
        return self.updates

    def sync_target(self) -> None:
        self.target.load_state_dict(self.online.state_dict())

    def _batch(self, agent: np.ndarray, index: np.ndarray) -> tuple[torch.Tensor, ...]:
        assert self.replay is not None
        t = self.replay.gather(agent, index)
        return (
            self._to_tensor(t.obs),
            torch.as_tensor(t.actions, device=self.device),
            self._to_tensor(t.rewards),
            self._to_tensor(t.next_obs),
            self._to_tensor(t.terminated),
        )

    def _update(self, selection: Selection) -> dict[str, float]:
        """One SGD step of every learner on its selection (section 3's weighted update)."""
        obs, actions, rewards, next_obs, terminated = self._batch(selection.agent, selection.index)
        targets = selection.targets
        if targets is None:
            with torch.no_grad():
                next_q = self.target(next_obs).max(-1).values
                targets = q_learning_targets(rewards, terminated, next_q, self.config.gamma)
        q = self.online(obs).gather(-1, actions.unsqueeze(-1)).squeeze(-1)
        loss = dqn_loss(q, targets, selection.weights, self.config.loss)
        if not torch.isfinite(loss):
            raise Diverged(f"{type(self).__name__}: non-finite DQN loss after {self.steps_done} env steps")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.max_grad_norm > 0:
            clip_grad_norm_per_member_([self.online], self.config.max_grad_norm)
        self.optimizer.step()
        self.updates += 1
        stats = {"loss": float(loss.detach()) / self.n_learners, "q_mean": float(q.detach().mean())}
        if selection.stats:
            stats.update(selection.stats)
        return stats

    def _record(self, stats: Mapping[str, float]) -> None:
        for key, value in stats.items():
            self._stats_sum[key] = self._stats_sum.get(key, 0.0) + float(value)
        self._stats_count += 1

    def _flush_stats(self) -> dict[str, float]:
        out = {k: v / max(self._stats_count, 1) for k, v in self._stats_sum.items()}
        out |= {"epsilon": self.epsilon(), "updates": float(self.updates)}
        self._stats_sum, self._stats_count = {}, 0
        return out

    # -- persistence -----------------------------------------------------------------------------

    def _shape_signature(self) -> dict[str, Any]:
        """What a checkpoint must match: the algorithm and what fixes its networks' shapes."""
        cfg = self.config
        return {
            "algorithm": type(self).__name__,
            "obs_shape": list(self.obs_shape),
            "n_actions": self.n_actions,
            "n_learners": self.n_learners,
            "cnn_channels": list(cfg.channels()),
            "kernel_size": cfg.kernel_size,
            "stride": cfg.stride,
            "head_hidden": cfg.head_hidden,
        }

    def save(self, directory: Path) -> None:
        """Networks, targets, optimizer and counters to ``dqn.pt``, atomically (replay not saved)."""
        state = {
            "format": 1,
            "shape": self._shape_signature(),
            "config": dataclasses.asdict(self.config),
            "online": self.online.state_dict(),
            "target": self.target.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "steps_done": self.steps_done,
            "updates": self.updates,
            "total_steps": self._total_steps,
        }
        write_checkpoint(directory, CHECKPOINT_FILE, state)

    def load(self, directory: Path) -> None:
        """Restore what :meth:`save` wrote; refused (``ConfigError``) for another algorithm or shape."""
        state = read_checkpoint(directory, CHECKPOINT_FILE, type(self).__name__, self._shape_signature())
        self.online.load_state_dict(state["online"])
        self.target.load_state_dict(state["target"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.steps_done = int(state["steps_done"])
        self.updates = int(state["updates"])
        self._total_steps = int(state["total_steps"])
