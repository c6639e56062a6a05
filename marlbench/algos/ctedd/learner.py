"""The CTEDD learner: construction, acting, the learning loop, tests of every variant, checkpoints.

See the package docstring (:mod:`marlbench.algos.ctedd`) for the algorithm and
:mod:`~marlbench.algos.ctedd.config` for the choices made where paper 001 is vague. One learning
iteration (every ``learn_every`` env steps) is eq. (5) on the samples since the previous iteration,
then ``updates_per_learn`` steps of Q (eq. 2) and of the deterministic part (eq. 4); distillation
(eq. 6) and the variant tests run on their own clocks.

``act`` serves the policy named by ``eval_policy``; the runner evaluates that one, and its rows
are the run's score. Every ``test_every`` env steps CTEDD also tests **every** variant itself and
hands each round to its recorder (``log_evaluation(..., policy="<variant>")``; see
:mod:`~marlbench.algos.ctedd.acting`). :attr:`CTEDD.test_log` keeps their team returns.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from marlbench.algos.base import EnvContext, Recorder, torch_threads
from marlbench.algos.checkpoint import env_snapshot, read_checkpoint, restore_env_snapshot, write_checkpoint
from marlbench.algos.ctedd import losses
from marlbench.algos.ctedd.acting import Actor, test_round
from marlbench.algos.ctedd.config import GLOBAL_VARIANT, CTEDDConfig, env_dims, parse_comm_dims, variant_name
from marlbench.algos.ctedd.distill import chronological_batches, distill_step, make_students
from marlbench.algos.ctedd.losses import alpha_at, critic_loss, deterministic_policy_loss, exploration_loss
from marlbench.algos.ctedd.networks import make_global_networks, sigma_from_pre
from marlbench.envs.array import EpisodeRecord
from marlbench.envs.wrap import state_observation_env
from marlbench.errors import Diverged
from marlbench.nets import soft_update_
from marlbench.replay import ReplayBuffer, make_replay

_NETS = ("policy", "sigma", "critic", "target_policy", "target_critic")
_NETS += ("policy_opt", "sigma_opt", "critic_opt")
"""Attributes saved whole by :meth:`CTEDD.save` (besides the students and their optimizers)."""
_SHAPE_KEYS = ("global_hidden", "head_hidden", "critic_hidden", "critic_layers", "comm_dims")
_SHAPE_KEYS += ("distill_hidden", "sigma_global", "global_input", "batched_networks")
"""Settings a checkpoint must share with the learner that loads it."""
_COUNTERS = ("steps_done", "updates_done", "sigma_updates", "distill_steps", "tests_done", "last_test_step")


def _crossed(before: int, after: int, every: int) -> int:
    """How many multiples of ``every`` lie in ``(before, after]``."""
    return after // every - before // every if every > 0 else 0


class CTEDD:
    """CTEDD on an :class:`~marlbench.envs.array.ArrayEnv` (see the module docstring)."""

    def __init__(self, env: EnvContext, config: CTEDDConfig | None = None, seed: int = 0) -> None:
        self.env = env
        self.config = cfg = config or CTEDDConfig()
        cfg.validate()
        self.seed = seed
        self.agents, self.dims, act_space = env_dims(env, cfg)
        n, d, act_dim, state_dim = dataclasses.astuple(self.dims)
        self.comm_dims = parse_comm_dims(cfg.comm_dims)
        self.variant_names = [GLOBAL_VARIANT, *(variant_name(c) for c in self.comm_dims)]

        # networks, in a fixed order from one generator (same seed, same initial weights)
        self.rng = np.random.default_rng(seed)
        self.torch_rng = torch.Generator().manual_seed(seed)
        self.policy, self.sigma, self.critic = make_global_networks(self.dims, cfg, self.torch_rng)
        self.target_policy = copy.deepcopy(self.policy).requires_grad_(False)
        self.target_critic = copy.deepcopy(self.critic).requires_grad_(False)
        self.policy_opt = torch.optim.Adam(self.policy.parameters(), lr=cfg.lr)
        self.sigma_opt = torch.optim.Adam(self.sigma.parameters(), lr=cfg.lr)
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=cfg.lr)
        self.students, self.student_opts = make_students(self.comm_dims, self.dims, cfg, self.torch_rng)
        self.actor = Actor(
            self.policy, self.sigma, self.students, cfg, act_space, self.rng, self.agents, self.dims
        )

        fields: dict[str, tuple[tuple[int, ...], Any]] = {
            "state": ((state_dim,), np.float32),
            "obs": ((n, d), np.float32),
            "actions": ((n, act_dim), np.float32),  # normalised, clipped: what the env and Q saw
            "raw_actions": ((n, act_dim), np.float32),  # the unclipped Gaussian sample, for eq. (5)
            "reward": ((), np.float32),
            "next_state": ((state_dim,), np.float32),
            "terminated": ((), np.float32),
        }
        self.replay: ReplayBuffer = make_replay("uniform", cfg.buffer_size, fields)
        self.steps_done = self.updates_done = self.sigma_updates = self.distill_steps = self.tests_done = 0
        self.last_test_step = -1
        self.test_log: list[tuple[int, str, float]] = []
        """``(env step, variant, mean team return)`` of every variant test."""
        self.sigma_from = 0  # replay.total_added at the last learning-iteration boundary (eq. 5 batch)
        self.distilled_upto = 0  # replay.total_added already distilled
        self._train_env: Any = None
        self._test_env: Any = None
        self._obs: np.ndarray | None = None
        self._state: np.ndarray | None = None
        self._eye = torch.eye(n).view(n, n, 1, 1)

    # --- the policies --------------------------------------------------------------------------

    def alpha(self, step: int | None = None) -> float:
        """Entropy weight of eq. (5) after ``step`` env steps (default: now)."""
        cfg = self.config
        at = self.steps_done if step is None else step
        return alpha_at(at, cfg.alpha_start, cfg.alpha_end, cfg.alpha_anneal_steps, cfg.alpha_schedule)

    def log_sigma(self, state: torch.Tensor, features: torch.Tensor | None = None) -> torch.Tensor:
        """``[B, S] -> [N, B, A]``: log of the stochastic part ``sigma_omega(s)`` (or of ``fixed_std``)."""
        cfg = self.config
        n, b, a = self.dims.n_agents, state.shape[0], self.dims.act_dim
        if cfg.fixed_std > 0:
            return torch.full((n, b, a), float(np.log(cfg.fixed_std)))
        if cfg.sigma_global == "shared":
            if features is None:
                with torch.no_grad():
                    features = self.policy.features(state)
            pre = self.sigma.heads_forward(features.detach())
        else:
            pre = self.sigma(state)
        return sigma_from_pre(pre, cfg.sigma_min, cfg.sigma_max)

    def _global_input(self, state: np.ndarray | None, obs: np.ndarray) -> np.ndarray:
        if self.config.global_input == "observations":
            return obs.reshape(obs.shape[0], -1).astype(np.float32)
        assert state is not None
        return np.asarray(state, dtype=np.float32).reshape(obs.shape[0], -1)

    # --- acting (evaluation) -------------------------------------------------------------------

    def eval_env(self, seed: int) -> Any:
        """The env the runner evaluates ``act`` on: the state appended where the global policy needs it."""
        env = self.env.make(seed)
        if self.config.eval_policy == "global" and self.config.global_input == "state":
            return state_observation_env(env, self.dims.state_dim)
        return env

    def act(self, observations: Mapping[str, np.ndarray], deterministic: bool = True) -> dict[str, Any]:
        """Actions of the ``eval_policy`` variant for one env (:meth:`.acting.Actor.act`)."""
        return self.actor.act(observations, deterministic)

    # --- learning ------------------------------------------------------------------------------

    def _joint(self, actions: torch.Tensor) -> torch.Tensor:
        """``[N, B, A] -> [B, N*A]``."""
        n, b, a = actions.shape
        return actions.permute(1, 0, 2).reshape(b, n * a)

    def _q(self, critic: Any, state: torch.Tensor, joint_actions: torch.Tensor) -> torch.Tensor:
        """``Q(s, a_1..a_N)`` for ``state [B, S]``, ``joint_actions [B, N*A]`` -> ``[B]``."""
        return critic(torch.cat([state, joint_actions], dim=-1).unsqueeze(0))[0, :, 0]

    def _step(self, name: str, loss: torch.Tensor, net: torch.nn.Module, opt: torch.optim.Optimizer) -> float:
        """One clipped Adam step on ``loss``; Diverged when it is not finite. Returns its value."""
        value = loss.item()
        if not np.isfinite(value):
            raise Diverged(f"CTEDD {name} loss became non-finite ({value}) after {self.updates_done} updates")
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), self.config.grad_clip)
        opt.step()
        return value

    def exploration_update(self, batch: Mapping[str, np.ndarray]) -> dict[str, float]:
        """Eq. (5) on ``batch`` (the samples since the last learning iteration); trains omega only."""
        state = torch.as_tensor(batch["state"])
        executed = torch.as_tensor(batch["actions"])  # [B, N, A]
        raw = torch.as_tensor(batch["raw_actions"]).transpose(0, 1)  # [N, B, A]
        with torch.no_grad():
            features = self.policy.features(state)
            mu = torch.tanh(self.policy.heads_forward(features))
            q_sampled = self._q(self.critic, state, executed.flatten(1))
            advantage = q_sampled - self._q(self.critic, state, self._joint(mu))
        log_sigma = self.log_sigma(state, features)
        loss, entropy = exploration_loss(raw, mu, log_sigma, advantage, self.alpha())
        value = self._step("eq. (5)", loss, self.sigma, self.sigma_opt)
        self.sigma_updates += 1
        return {
            "sigma_loss": value,
            "entropy": float(entropy),
            "advantage_mean": float(advantage.mean()),
            "sigma_mean": float(log_sigma.detach().exp().mean()),
            "sigma_pull": losses.sigma_pull(raw, mu, log_sigma, advantage),
            "alpha": self.alpha(),
        }

    def update(self) -> dict[str, float]:
        """One step of Q (eq. 2) and of the deterministic part (eq. 4), then the soft target updates."""
        cfg = self.config
        batch_np, _, _ = self.replay.sample(cfg.batch_size, self.rng)
        batch = {key: torch.from_numpy(v) for key, v in batch_np.items()}
        state, next_state = batch["state"], batch["next_state"]
        n, b = self.dims.n_agents, state.shape[0]

        with torch.no_grad():
            next_mu = torch.tanh(self.target_policy(next_state))
            if cfg.target_action == "sampled":  # eq. (2): pi~(s') = pi'(s') + eps * sigma(s')
                noise = torch.randn(next_mu.shape, generator=self.torch_rng)
                next_mu = (next_mu + noise * self.log_sigma(next_state).exp()).clamp(-1.0, 1.0)
            q_next = self._q(self.target_critic, next_state, self._joint(next_mu))
        q = self._q(self.critic, state, batch["actions"].flatten(1))
        c_loss, td = critic_loss(q, batch["reward"], cfg.gamma * (1.0 - batch["terminated"]), q_next)
        c_value = self._step("critic", c_loss, self.critic, self.critic_opt)

        pre = self.policy(state)  # [N, B, A]
        mu = torch.tanh(pre)
        self.critic.requires_grad_(False)
        if cfg.actor_others == "policy":
            q_pi = self._q(self.critic, state, self._joint(mu))
        else:  # agent i's own action from the policy, the others' from the buffer (MADDPG-style)
            buffer = batch["actions"].transpose(0, 1).unsqueeze(0).expand(n, -1, -1, -1)  # [N(i), N, B, A]
            joint = buffer * (1.0 - self._eye) + mu.unsqueeze(0) * self._eye
            joint = joint.permute(0, 2, 1, 3).reshape(n * b, -1)
            q_pi = self._q(self.critic, state.repeat(n, 1), joint) * n  # sum over agents of their means
        self.critic.requires_grad_(True)
        a_loss = deterministic_policy_loss(q_pi, pre, cfg.actor_reg)
        a_value = self._step("policy", a_loss, self.policy, self.policy_opt)

        soft_update_(self.target_critic, self.critic, cfg.tau)
        soft_update_(self.target_policy, self.policy, cfg.tau)
        self.updates_done += 1
        return {
            "critic_loss": c_value,
            "policy_loss": a_value,
            "q_mean": float(q.detach().mean()),
            "td_abs_mean": float(td.detach().abs().mean()),
        }

    # --- distillation (eq. 6) ------------------------------------------------------------------

    def distill_batch(self, batch: Mapping[str, np.ndarray]) -> dict[str, float]:
        """Eq. (6) on one chronological mini-batch, ``distill_repeats`` steps for every student."""
        obs = torch.as_tensor(batch["obs"]).transpose(0, 1).contiguous()  # [N, B, d]: joint rows
        with torch.no_grad():
            teacher = torch.tanh(self.policy(torch.as_tensor(batch["state"])))
        stats = distill_step(self.students, self.student_opts, teacher, obs, self.config.distill_repeats)
        self.distill_steps += 1
        return stats

    def distill_new_samples(self) -> dict[str, float]:
        """Distil on the transitions stored since the last phase, oldest first (``alongside``)."""
        new = min(self.replay.total_added - self.distilled_upto, len(self.replay))
        self.distilled_upto = self.replay.total_added
        stats: dict[str, float] = {}
        for batch in chronological_batches(self.replay.recent(max(new, 0)), self.config.distill_batch_size):
            stats = self.distill_batch(batch)
        return stats

    def distill_buffer(self) -> dict[str, float]:
        """One chronological pass over the whole buffer with the current teacher (``after``)."""
        stats: dict[str, float] = {}
        for batch in self.replay.iter_chronological(self.config.distill_batch_size):
            stats = self.distill_batch(batch)
        self.distilled_upto = self.replay.total_added
        return stats

    # --- testing every variant -----------------------------------------------------------------

    def test_variants(
        self, episodes: int, variants: list[str] | None = None
    ) -> dict[str, list[EpisodeRecord]]:
        """``episodes`` deterministic episodes of each variant on one batched env, same starts for all."""
        if self._test_env is None or self._test_env.num_envs != episodes:
            if self._test_env is not None:
                self._test_env.close()
            self._test_env = self.env.make_array(episodes, seed=3_000_017 + self.seed)
        max_steps = self.env.spec.eval_step_cap(self.env.options)

        def env_actions(variant: str, obs: np.ndarray, state: np.ndarray | None) -> np.ndarray:
            return self.actor.to_env(self.actor.variant_actions(variant, obs, self._global_input(state, obs)))

        return test_round(
            self._test_env, variants or self.variant_names, 3_000_017 + self.seed, max_steps, env_actions
        )

    def _run_tests(self, recorder: Recorder) -> None:
        """Test every variant (the local ones once distilled); each round to the recorder under its name."""
        variants = [GLOBAL_VARIANT]
        if self.distill_steps > 0:
            variants += [variant_name(c) for c in self.comm_dims]
        stats: dict[str, float] = {}
        for name, records in self.test_variants(self.config.test_episodes, variants).items():
            recorder.log_evaluation(self.steps_done, records, policy=name)
            team = float(np.mean([np.mean(list(r.rewards.values())) for r in records]))
            stats[f"test_{name}"] = team
            self.test_log.append((self.steps_done, name, team))
        recorder.log_stats(self.steps_done, stats)
        self.tests_done += 1
        self.last_test_step = self.steps_done

    # --- the loop ------------------------------------------------------------------------------

    def learn(self, total_steps: int, recorder: Recorder) -> None:
        """Collect, learn, distil and test until ``steps_done >= total_steps`` (env steps, all copies)."""
        with torch_threads(self.config.torch_threads):
            self._learn(total_steps, recorder)

    def _start_train_env(self) -> None:
        self._train_env = self.env.make_array(self.config.num_envs, seed=self.env.seed + self.steps_done)
        self._obs = self._train_env.reset()
        self._state = self._global_input(self._train_env.state(), self._obs)

    def _learn(self, total_steps: int, recorder: Recorder) -> None:
        cfg = self.config
        if self._train_env is None:
            self._start_train_env()
        env = self._train_env
        warmup = max(1, min(cfg.learning_starts, cfg.buffer_size))
        testing = cfg.test_every > 0 and cfg.test_episodes > 0
        team = np.sum if cfg.team_reward == "sum" else np.mean  # see config: the scale eq. (5) meets
        while self.steps_done < total_steps:
            assert self._obs is not None and self._state is not None
            env_actions, clipped, raw = self.actor.explore(self._state)
            step = env.step(env_actions)
            next_state = self._global_input(step.state, step.obs)
            if step.done.any():
                final = self._global_input(step.final_state, step.final_obs)
                next_state = next_state.copy()
                next_state[step.done] = final[step.done]
            self.replay.add(
                {
                    "state": self._state,
                    "obs": self._obs,
                    "actions": clipped,
                    "raw_actions": raw,
                    "reward": team(step.rewards, axis=1),
                    "next_state": next_state,
                    "terminated": step.terminated.any(axis=1).astype(np.float32),
                }
            )
            self._obs = step.obs
            self._state = self._global_input(step.state, step.obs)
            before = self.steps_done
            self.steps_done += env.num_envs
            if step.episodes:
                recorder.log_episodes(self.steps_done, step.episodes)
            if _crossed(before, self.steps_done, cfg.learn_every):
                if len(self.replay) >= warmup:
                    stats: dict[str, float] = {}
                    if cfg.fixed_std <= 0:
                        recent = min(self.replay.total_added - self.sigma_from, len(self.replay))
                        stats |= self.exploration_update(self.replay.recent(recent))
                    phases = _crossed(before, self.steps_done, cfg.learn_every)
                    for _ in range(phases * cfg.updates_per_learn):
                        stats |= self.update()
                    recorder.log_stats(self.steps_done, stats)
                self.sigma_from = self.replay.total_added
            if cfg.distill_mode == "alongside" and _crossed(before, self.steps_done, cfg.distill_every):
                recorder.log_stats(self.steps_done, self.distill_new_samples())
            if testing and _crossed(before, self.steps_done, cfg.test_every):
                self._run_tests(recorder)
            recorder.tick(self.steps_done)
        final = self.distill_new_samples() if cfg.distill_mode == "alongside" else self.distill_buffer()
        recorder.log_stats(self.steps_done, final)
        if testing and self.last_test_step != self.steps_done:
            self._run_tests(recorder)

    # --- checkpoints ---------------------------------------------------------------------------

    def _shape_signature(self) -> dict[str, Any]:
        return dataclasses.asdict(self.dims) | {k: getattr(self.config, k) for k in _SHAPE_KEYS}

    def save(self, directory: Path) -> None:
        """Networks, targets, optimizers (students' too), counters and RNG states to ``ctedd.pt``."""
        counters = {name: getattr(self, name) for name in _COUNTERS}
        counters |= {"distilled_upto": self.distilled_upto, "sigma_from": self.sigma_from}
        counters["replay_added"] = self.replay.total_added
        nets = {name: getattr(self, name).state_dict() for name in _NETS}
        nets |= {f"student_{c}": s.state_dict() for c, s in self.students.items()}
        nets |= {f"student_opt_{c}": o.state_dict() for c, o in self.student_opts.items()}
        state = {
            "format": 1,
            "shape": self._shape_signature(),
            "config": dataclasses.asdict(self.config),
            "counters": counters,
            "nets": nets,
            "rng": self.rng.bit_generator.state,
            "torch_rng": self.torch_rng.get_state(),
            "env": env_snapshot(self._train_env, obs=self._obs, state=self._state),
        }
        write_checkpoint(directory, "ctedd.pt", state, self.replay if self.config.save_replay else None)

    def load(self, directory: Path) -> None:
        """Restore what :meth:`save` wrote; also the replay buffer when ``replay.npz`` is there."""
        directory = Path(directory)
        state = read_checkpoint(directory, "ctedd.pt", "CTEDD", self._shape_signature())
        nets, counters = state["nets"], state["counters"]
        for name in _NETS:
            getattr(self, name).load_state_dict(nets[name])
        for c in self.comm_dims:
            self.students[c].load_state_dict(nets[f"student_{c}"])
            self.student_opts[c].load_state_dict(nets[f"student_opt_{c}"])
        for name in _COUNTERS:
            setattr(self, name, int(counters[name]))
        self.rng.bit_generator.state = state["rng"]
        self.torch_rng.set_state(state["torch_rng"])
        if (directory / "replay.npz").exists():
            self.replay.load(directory / "replay.npz")
            self.distilled_upto = int(counters["distilled_upto"])
            self.sigma_from = int(counters["sigma_from"])
        else:  # a fresh buffer: distil and explore from what arrives next
            self.distilled_upto = self.sigma_from = self.replay.total_added
        self.close()
        if state.get("env") is not None:  # the training envs continue where they were
            self._start_train_env()
            arrays = restore_env_snapshot(self._train_env, state["env"])
            self._obs, self._state = arrays["obs"], arrays["state"]
        # else (envs that cannot give their state): a resumed run starts fresh episodes

    def close(self) -> None:
        """Close the training and test environments (learn reopens them when called again)."""
        for name in ("_train_env", "_test_env"):
            env = getattr(self, name)
            if env is not None:
                env.close()
                setattr(self, name, None)
