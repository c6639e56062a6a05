"""The MADDPG learner: collection on an ArrayEnv, batched critic and actor updates, checkpoints.

See :mod:`marlbench.algos.maddpg` for the algorithm and the choices it makes; the losses are pure
functions in :mod:`marlbench.algos.maddpg.losses`.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from marlbench.algos.base import EnvContext, Recorder, probe_vector_env, torch_threads
from marlbench.algos.checkpoint import env_snapshot, read_checkpoint, restore_env_snapshot, write_checkpoint
from marlbench.algos.maddpg.config import MADDPGConfig
from marlbench.algos.maddpg.losses import critic_targets, regularised_actor_loss, weighted_critic_loss
from marlbench.algos.maddpg.policy import Policy, gumbel_action
from marlbench.errors import ConfigError, Diverged
from marlbench.nets import clip_grad_norm_per_member_, make_member_net, soft_update_
from marlbench.replay import ReplayBuffer, check_replay_memory, make_replay


@dataclass
class _Dims:
    n_agents: int
    obs_dim: int
    act_dim: int
    discrete: bool
    state_dim: int


class MADDPG:
    """Multi-agent DDPG on an :class:`~marlbench.envs.array.ArrayEnv` (see the module docstring)."""

    def __init__(self, env: EnvContext, config: MADDPGConfig | None = None, seed: int = 0) -> None:
        self.env = env
        self.config = cfg = config or MADDPGConfig()
        self.seed = seed
        probe = probe_vector_env(env, "MADDPG")
        self.agents: list[str] = probe.agents
        obs_space, act_space, state_shape = probe.observation_space, probe.action_space, probe.state_shape
        if cfg.use_state and state_shape is None:
            raise ConfigError(
                f"use_state=true but '{env.spec.name}' offers no global state", "use --set use_state=false"
            )
        if isinstance(act_space, spaces.Discrete):
            discrete, act_dim = True, int(act_space.n)
            self._low = self._high = None
        elif isinstance(act_space, spaces.Box) and len(act_space.shape) == 1:
            discrete, act_dim = False, int(act_space.shape[0])
            self._low = torch.as_tensor(act_space.low, dtype=torch.float32)
            self._high = torch.as_tensor(act_space.high, dtype=torch.float32)
        else:
            raise ConfigError(f"MADDPG cannot act in {act_space}", "use a Discrete or 1-d Box action space")
        state_dim = int(np.prod(state_shape)) if (cfg.use_state and state_shape is not None) else 0
        self.dims = _Dims(len(self.agents), int(obs_space.shape[0]), act_dim, discrete, state_dim)
        n, d = self.dims.n_agents, self.dims.obs_dim

        self.rng = np.random.default_rng(seed)
        self.torch_rng = torch.Generator().manual_seed(seed)
        self.image = env.image_layout
        self.actor = Policy(n, d, act_dim, cfg, self.torch_rng, self.image)
        critic_in = (state_dim if cfg.use_state else n * d) + n * act_dim
        hidden = (cfg.hidden_size,) * cfg.hidden_layers
        critic_image = None if (self.image is None or cfg.use_state) else self.image.repeated(d, n)
        self.critic = make_member_net(
            n, critic_in, hidden, 1, cfg.activation, cfg.batched_networks, self.torch_rng, critic_image
        )
        self.target_actor = copy.deepcopy(self.actor).requires_grad_(False)
        self.target_critic = copy.deepcopy(self.critic).requires_grad_(False)
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=cfg.actor_lr)
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=cfg.critic_lr)

        # Image observations are stored as float16 (the bird's-eye view's gray levels are exact in
        # it, the vector groups keep 3 significant digits): half the memory of a replay that holds
        # 2 x 4 x 12,411 values per transition. Sampled batches are cast back to float32.
        obs_dtype = np.float16 if self.image is not None else np.float32
        fields: dict[str, tuple[tuple[int, ...], Any]] = {
            "obs": ((n, d), obs_dtype),
            "actions": ((n, act_dim), np.float32),
            "rewards": ((n,), np.float32),
            "next_obs": ((n, d), obs_dtype),
            "terminated": ((n,), np.float32),
            "alive": ((n,), np.float32),
        }
        if cfg.use_state:
            fields |= {"state": ((state_dim,), np.float32), "next_state": ((state_dim,), np.float32)}
        check_replay_memory(cfg.buffer_size, fields, "MADDPG")
        self.replay: ReplayBuffer = make_replay(
            cfg.per_mode if cfg.per else "uniform",
            cfg.buffer_size,
            fields,
            alpha=cfg.per_alpha,
            beta0=cfg.per_beta0,
            eps=cfg.per_eps,
            channels=n if cfg.minibatch_per_agent else None,
            resort_fraction=cfg.per_resort_fraction,
        )
        self.steps_done = 0
        self.updates_done = 0
        self._train_env: Any = None
        self._obs: np.ndarray | None = None
        self._state: np.ndarray | None = None
        self._eye = torch.eye(n).view(n, 1, n, 1)
        self._one_hot = np.eye(act_dim, dtype=np.float32)
        self._diag = torch.arange(n)

    # --- acting ----------------------------------------------------------------------------------

    def _squash(self, pre: torch.Tensor) -> torch.Tensor:
        """Continuous actions: ``tanh`` into the action box."""
        assert self._low is not None and self._high is not None
        return self._low + (torch.tanh(pre) + 1.0) * 0.5 * (self._high - self._low)

    def _actions(self, obs: np.ndarray, explore: bool) -> tuple[np.ndarray, np.ndarray]:
        """``obs [E, N, d]`` -> (env actions: ``[E, N]`` ints or ``[E, N, A]``; stored ``[E, N, A]``)."""
        pre = self.actor.numpy_forward(obs.transpose(1, 0, 2)).transpose(1, 0, 2)  # [E, N, A]
        if self.dims.discrete:
            logits = pre
            if explore:  # Gumbel-max sampling: argmax(logits + g), g = -log(-log(u))
                u = self.rng.random(logits.shape)
                np.clip(u, 1e-10, 1.0 - 1e-7, out=u)
                np.log(u, out=u)
                np.negative(u, out=u)
                np.log(u, out=u)
                logits = logits - u
            choice = logits.argmax(-1)
            return choice, self._one_hot[choice]
        assert self._low is not None and self._high is not None
        low, high = self._low.numpy(), self._high.numpy()
        action = (low + (np.tanh(pre) + 1.0) * 0.5 * (high - low)).astype(np.float32)
        if explore and self.config.noise_std > 0:
            action = action + self.rng.normal(size=action.shape) * self.config.noise_std * (high - low) / 2
            action = np.clip(action, low, high).astype(np.float32)
        return action, action

    def act(self, observations: Mapping[str, np.ndarray], deterministic: bool = True) -> dict[str, Any]:
        """Per-agent actions for one env from per-agent observations (absent agents: none)."""
        obs = np.zeros((1, self.dims.n_agents, self.dims.obs_dim), dtype=np.float32)
        for j, agent in enumerate(self.agents):
            if agent in observations:
                value = np.asarray(observations[agent], dtype=np.float32).reshape(-1)
                obs[0, j, : value.size] = value
        env_actions, _ = self._actions(obs, explore=not deterministic)
        out: dict[str, Any] = {}
        for j, agent in enumerate(self.agents):
            if agent in observations:
                out[agent] = int(env_actions[0, j]) if self.dims.discrete else env_actions[0, j].copy()
        return out

    def messages(self, observations: np.ndarray) -> np.ndarray:
        """``[N, comm_dim]`` messages the agents send for joint observations ``[N, obs_dim]``."""
        if self.config.comm_dim == 0:
            return np.zeros((self.dims.n_agents, 0), dtype=np.float32)
        return self.actor.numpy_messages(np.asarray(observations, dtype=np.float32)[:, None])[:, 0]

    # --- learning --------------------------------------------------------------------------------

    def _policy_action(self, pre: torch.Tensor, hard_sample: bool) -> torch.Tensor:
        """Actions fed to a critic: straight-through Gumbel-softmax, or a hard Gumbel sample (targets)."""
        if not self.dims.discrete:
            return self._squash(pre)
        return gumbel_action(pre, self.config.gumbel_temperature, hard_sample, self.torch_rng)

    def _own(self, x: torch.Tensor) -> torch.Tensor:
        """``[K, B, N, ...] -> [N, B, ...]``: agent i's entries of mini-batch i (or of the shared one)."""
        if x.shape[0] == 1:
            return x[0].transpose(0, 1)
        return x[self._diag, :, self._diag]

    def _all_agents(self, x: torch.Tensor) -> torch.Tensor:
        """``[K, B, N, d] -> [N, K*B, d]``: every agent's rows of every mini-batch."""
        k, b, n = x.shape[:3]
        return x.permute(2, 0, 1, 3).reshape(n, k * b, -1)

    def _joint(self, x: torch.Tensor, k: int) -> torch.Tensor:
        """``[N, K*B, A] -> [K, B, N*A]``: per-agent outputs back to joint rows."""
        n, kb, a = x.shape
        return x.reshape(n, k, kb // k, a).permute(1, 2, 0, 3).reshape(k, kb // k, n * a)

    def _critic_input(self, batch: dict[str, torch.Tensor], actions: torch.Tensor, nxt: bool) -> torch.Tensor:
        """``cat(x, a_1..a_N)`` with ``x`` all observations (or the global state)."""
        if self.config.use_state:
            x = batch["next_state" if nxt else "state"]
        else:
            x = batch["next_obs" if nxt else "obs"].flatten(2)
        if x.shape[0] == 1 and actions.shape[0] > 1:
            x = x.expand(actions.shape[0], *x.shape[1:])
        return torch.cat([x, actions], dim=-1)

    def update(self) -> dict[str, float]:
        """One gradient step for every agent's critic and actor, then the soft target update."""
        batch_np, idx, weights_np = self.replay.sample(self.config.batch_size, self.rng)
        stats, priorities = self.learn_from_batch(batch_np, weights_np)
        self.replay.update_priorities(idx, priorities)
        return stats

    def learn_from_batch(
        self, batch_np: dict[str, np.ndarray], weights_np: np.ndarray, step: bool = True
    ) -> tuple[dict[str, float], np.ndarray]:
        """Losses and gradients of one sampled mini-batch; returns (stats, new PER priorities).

        ``step=False`` (the distributed learners, :mod:`marlbench.distributed`) leaves the clipped
        gradients in the parameters' ``.grad`` and steps nothing: no optimizer, no target update.
        """
        cfg = self.config
        if self.replay.channels is None:  # one shared mini-batch: add the channel axis K = 1
            batch_np = {key: v[None] for key, v in batch_np.items()}
            weights_np = weights_np[None]
        batch = {key: torch.from_numpy(v).float() for key, v in batch_np.items()}  # float16 obs: cast
        k = batch["obs"].shape[0]
        n = self.dims.n_agents
        reward, terminated, alive = (self._own(batch[key]) for key in ("rewards", "terminated", "alive"))
        weights = torch.from_numpy(weights_np).expand(n, -1)

        # critics: y = r_i + gamma (1 - terminated_i) Q'_i(x', mu'_1(o'_1), ..., mu'_N(o'_N))
        with torch.no_grad():
            next_pre = self.target_actor(self._all_agents(batch["next_obs"]))
            next_actions = self._joint(self._policy_action(next_pre, hard_sample=True), k)
            q_next = self.target_critic(self._critic_input(batch, next_actions, nxt=True)).squeeze(-1)
            y = critic_targets(reward, terminated, q_next, cfg.gamma)
        q = self.critic(self._critic_input(batch, batch["actions"].flatten(2), nxt=False)).squeeze(-1)
        critic_loss, td = weighted_critic_loss(q, y, weights, alive)
        c_loss = critic_loss.item()
        if not np.isfinite(c_loss):
            raise Diverged(
                f"MADDPG critic loss became non-finite ({c_loss}) after {self.updates_done} updates"
            )
        self.critic_opt.zero_grad()
        critic_loss.backward()
        clip_grad_norm_per_member_([self.critic], cfg.grad_clip)
        if step:
            self.critic_opt.step()

        # actors: ascend Q_i(x, a_1, .., mu_i(o_i), .., a_N), other agents' actions from the buffer
        if self.actor.independent:
            pre = self.actor(self._own(batch["obs"]))
        else:  # messages: every agent's part 1 on every mini-batch, then agent i's rows of batch i
            full = self.actor(self._all_agents(batch["obs"])).reshape(n, k, cfg.batch_size, -1)
            pre = full[:, 0] if k == 1 else full[self._diag, self._diag]
        own_action = self._policy_action(pre, hard_sample=False)  # [N, B, A]
        buffer_actions = batch["actions"].expand(n, -1, -1, -1)  # [N, B, N, A]
        joint = buffer_actions * (1.0 - self._eye) + own_action.unsqueeze(2) * self._eye
        self.critic.requires_grad_(False)
        q_pi = self.critic(self._critic_input(batch, joint.flatten(2), nxt=False)).squeeze(-1)
        self.critic.requires_grad_(True)
        actor_loss = regularised_actor_loss(q_pi, pre, alive, cfg.actor_reg)
        a_loss = actor_loss.item()
        if not np.isfinite(a_loss):
            raise Diverged(
                f"MADDPG actor loss became non-finite ({a_loss}) after {self.updates_done} updates"
            )
        self.actor_opt.zero_grad()
        actor_loss.backward()
        clip_grad_norm_per_member_(self.actor.nets(), cfg.grad_clip)
        if step:
            self.actor_opt.step()
            soft_update_(self.target_critic, self.critic, cfg.tau)
            soft_update_(self.target_actor, self.actor, cfg.tau)
            self.updates_done += 1

        td_abs = td.detach().abs() * alive
        if self.replay.channels is None:
            priorities = (td_abs.sum(0) / alive.sum(0).clamp(min=1.0)).numpy()
        else:
            priorities = td_abs.numpy()
        return {
            "critic_loss": c_loss / n,
            "actor_loss": a_loss / n,
            "q_mean": float(q.detach().mean()),
            "td_abs_mean": float(td_abs.mean()),
        }, priorities

    def _start_env(self) -> None:
        cfg = self.config
        self._train_env = self.env.make_array(
            cfg.num_envs, seed=self.env.seed + self.steps_done, with_state=cfg.use_state
        )
        self._obs = self._train_env.reset()
        self._state = self._train_env.state() if cfg.use_state else None

    def collect_step(self) -> tuple[dict[str, np.ndarray], Any]:
        """One exploring step of every training env copy: (the transitions to store, the env's step).

        Also used by the distributed collectors (:mod:`marlbench.distributed`); opens the envs if needed.
        """
        if self._train_env is None:
            self._start_env()
        obs = self._obs
        assert obs is not None
        env_actions, stored_actions = self._actions(obs, explore=True)
        step = self._train_env.step(env_actions)
        next_obs = step.obs
        if step.done.any():
            next_obs = next_obs.copy()
            next_obs[step.done] = step.final_obs[step.done]
        transition = {
            "obs": obs,
            "actions": stored_actions,
            "rewards": step.rewards,
            "next_obs": next_obs,
            "terminated": step.terminated,
            "alive": step.alive,
        }
        if self.config.use_state:
            next_state = step.state
            if step.done.any() and step.final_state is not None:
                next_state = next_state.copy()
                next_state[step.done] = step.final_state[step.done]
            transition |= {"state": self._state, "next_state": next_state}
        self._obs, self._state = step.obs, step.state
        return transition, step

    def learn(self, total_steps: int, recorder: Recorder) -> None:
        """Collect and learn until ``steps_done >= total_steps`` (env steps, all copies counted)."""
        with torch_threads(self.config.torch_threads):
            self._learn(total_steps, recorder)

    def _learn(self, total_steps: int, recorder: Recorder) -> None:
        cfg = self.config
        if self._train_env is None:
            self._start_env()
        env = self._train_env
        warmup = max(1, min(cfg.learning_starts, cfg.buffer_size))
        while self.steps_done < total_steps:
            transition, step = self.collect_step()
            self.replay.add(transition)
            before = self.steps_done
            self.steps_done += env.num_envs
            if step.episodes:
                recorder.log_episodes(self.steps_done, step.episodes)
            phases = self.steps_done // cfg.learn_every - before // cfg.learn_every
            if phases and len(self.replay) >= warmup:
                self.replay.anneal_beta(self.steps_done / max(total_steps, 1))
                stats: dict[str, float] = {}
                for _ in range(phases * cfg.updates_per_learn):
                    stats = self.update()
                recorder.log_stats(self.steps_done, stats | {"per_beta": self.replay.beta})
            recorder.tick(self.steps_done)

    # --- checkpoints -----------------------------------------------------------------------------

    def _shape_signature(self) -> dict[str, Any]:
        """What fixes the saved tensors' shapes: env dimensions and the network hyperparameters."""
        keys = ("hidden_size", "hidden_layers", "comm_dim", "comm_hidden", "use_state", "batched_networks")
        found = dataclasses.asdict(self.dims) | {k: getattr(self.config, k) for k in keys}
        if self.image is not None:  # absent without images: earlier checkpoints still load
            found["image"] = [list(self.image.shape), list(self.image.starts)]
        return found

    def save(self, directory: Path) -> None:
        """Networks, targets, optimizers, counters and RNG states to ``maddpg.pt`` (replay optional)."""
        state = {
            "format": 1,
            "shape": self._shape_signature(),
            "config": dataclasses.asdict(self.config),
            "steps_done": self.steps_done,
            "updates_done": self.updates_done,
            "actor": self.actor.state_dict(),
            "critic": self.critic.state_dict(),
            "target_actor": self.target_actor.state_dict(),
            "target_critic": self.target_critic.state_dict(),
            "actor_opt": self.actor_opt.state_dict(),
            "critic_opt": self.critic_opt.state_dict(),
            "rng": self.rng.bit_generator.state,
            "torch_rng": self.torch_rng.get_state(),
            "replay_beta": self.replay.beta,
            "env": env_snapshot(self._train_env, obs=self._obs, state=self._state),
        }
        write_checkpoint(directory, "maddpg.pt", state, self.replay if self.config.save_replay else None)

    def load(self, directory: Path) -> None:
        """Restore what :meth:`save` wrote; also the replay buffer when ``replay.npz`` is there."""
        directory = Path(directory)
        state = read_checkpoint(directory, "maddpg.pt", "MADDPG", self._shape_signature())
        self.actor.load_state_dict(state["actor"])
        self.critic.load_state_dict(state["critic"])
        self.target_actor.load_state_dict(state["target_actor"])
        self.target_critic.load_state_dict(state["target_critic"])
        self.actor_opt.load_state_dict(state["actor_opt"])
        self.critic_opt.load_state_dict(state["critic_opt"])
        self.steps_done = int(state["steps_done"])
        self.updates_done = int(state["updates_done"])
        self.rng.bit_generator.state = state["rng"]
        self.torch_rng.set_state(state["torch_rng"])
        if (directory / "replay.npz").exists():
            self.replay.load(directory / "replay.npz")
        self.replay.sampler.beta = float(state["replay_beta"])
        self.close()
        if state.get("env") is not None:  # the training envs continue where they were
            self._start_env()
            arrays = restore_env_snapshot(self._train_env, state["env"])
            self._obs, self._state = arrays["obs"], arrays["state"]
        # else (mpe2, SMARTS): a resumed run starts fresh episodes

    def close(self) -> None:
        """Close the training environments (learn reopens them when called again)."""
        if self._train_env is not None:
            self._train_env.close()
            self._train_env = None
