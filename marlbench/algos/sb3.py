"""Stable-Baselines3 (and sb3-contrib) baselines with shared weights across agents.

Every agent of every env copy is one slot of an SB3 VecEnv (see :mod:`marlbench.envs.wrap`), so a
single SB3 policy is trained on all agents' experience (parameter sharing). Budgets are in
environment steps: ``learn(total_steps)`` runs SB3 for ``total_steps * n_agents`` slot steps.

Hyperparameters are the SB3 constructor's own arguments with SB3's defaults (read from its
signature, so ``--set`` accepts exactly what SB3 accepts), plus ``n_envs`` (env copies side by
side), ``net_arch`` and ``activation``.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from marlbench.algos.base import EnvContext, Recorder, hp
from marlbench.envs.array import EpisodeRecord
from marlbench.envs.wrap import DEAD
from marlbench.errors import ConfigError


@dataclass(frozen=True)
class SB3Entry:
    module: str
    cls: str
    action_kinds: frozenset[str]
    on_policy: bool
    description: str
    n_envs: int


DISCRETE, CONTINUOUS = frozenset({"discrete"}), frozenset({"continuous"})
BOTH = DISCRETE | CONTINUOUS

SB3_ALGOS: dict[str, SB3Entry] = {
    "ppo": SB3Entry("stable_baselines3", "PPO", BOTH, True, "Proximal Policy Optimization (clipped)", 4),
    "a2c": SB3Entry("stable_baselines3", "A2C", BOTH, True, "Advantage Actor-Critic (synchronous A3C)", 4),
    "dqn": SB3Entry("stable_baselines3", "DQN", DISCRETE, False, "Deep Q-Network", 1),
    "sac": SB3Entry("stable_baselines3", "SAC", CONTINUOUS, False, "Soft Actor-Critic", 1),
    "td3": SB3Entry("stable_baselines3", "TD3", CONTINUOUS, False, "Twin Delayed DDPG", 1),
    "ddpg": SB3Entry("stable_baselines3", "DDPG", CONTINUOUS, False, "Deep Deterministic Policy Gradient", 1),
    "trpo": SB3Entry("sb3_contrib", "TRPO", BOTH, True, "Trust Region Policy Optimization", 4),
    "qrdqn": SB3Entry("sb3_contrib", "QRDQN", DISCRETE, False, "Quantile Regression DQN", 1),
    "recurrent-ppo": SB3Entry("sb3_contrib", "RecurrentPPO", BOTH, True, "PPO with an LSTM policy", 4),
}

# Constructor arguments marlbench sets itself (or that make no sense from the command line).
_EXCLUDED = {
    "self",
    "policy",
    "env",
    "tensorboard_log",
    "policy_kwargs",
    "verbose",
    "seed",
    "device",
    "_init_setup_model",
    "rollout_buffer_class",
    "rollout_buffer_kwargs",
    "replay_buffer_class",
    "replay_buffer_kwargs",
    "action_noise",
}

# Ranges by argument name: (low, high, low_open).
_RANGES: dict[str, tuple[float | None, float | None, bool]] = {
    "learning_rate": (0.0, None, True),
    "n_steps": (1, None, False),
    "batch_size": (1, None, False),
    "n_epochs": (1, None, False),
    "gamma": (0.0, 1.0, False),
    "gae_lambda": (0.0, 1.0, False),
    "clip_range": (0.0, None, True),
    "ent_coef": (0.0, None, False),
    "vf_coef": (0.0, None, False),
    "max_grad_norm": (0.0, None, True),
    "buffer_size": (1, None, False),
    "learning_starts": (0, None, False),
    "tau": (0.0, 1.0, False),
    "train_freq": (1, None, False),
    "target_update_interval": (1, None, False),
    "exploration_fraction": (0.0, 1.0, False),
    "exploration_initial_eps": (0.0, 1.0, False),
    "exploration_final_eps": (0.0, 1.0, False),
    "n_envs": (1, 256, False),
    "action_noise_std": (0.0, None, False),
    "policy_delay": (1, None, False),
    "n_critic_updates": (1, None, False),
    "target_kl": (0.0, None, True),
}


@cache
def sb3_class(name: str) -> type:
    entry = SB3_ALGOS[name]
    return getattr(importlib.import_module(entry.module), entry.cls)


@cache
def sb3_config_cls(name: str) -> type:
    """A hyperparameter dataclass built from the SB3 class's constructor signature."""
    entry = SB3_ALGOS[name]
    signature = inspect.signature(sb3_class(name).__init__)
    fields: list[tuple[str, Any, Any]] = []
    for arg, param in signature.parameters.items():
        if arg in _EXCLUDED or param.default is inspect.Parameter.empty:
            continue
        default = param.default
        if callable(default) and not isinstance(default, type):
            continue
        low, high, low_open = _RANGES.get(arg, (None, None, False))
        typ = type(default) if default is not None else Any
        fields.append(
            (arg, typ, hp(default, f"SB3 {entry.cls}({arg}=...)", low=low, high=high, low_open=low_open))
        )
    fields.append(("n_envs", int, hp(entry.n_envs, "env copies stepped side by side", low=1, high=256)))
    fields.append(("net_arch", str, hp("", "hidden layer sizes, e.g. '64,64' ('' = SB3 default)")))
    fields.append(
        (
            "activation",
            str,
            hp(
                "",
                "hidden activation: tanh, relu, silu ('' = SB3 default)",
                choices=("", "tanh", "relu", "silu"),
            ),
        )
    )
    if name in ("td3", "ddpg"):
        fields.append(("action_noise_std", float, hp(0.1, "std of Gaussian exploration noise", low=0.0)))
    cls = dataclasses.make_dataclass(f"{entry.cls}Config", fields)
    cls.__doc__ = f"Hyperparameters of SB3 {entry.cls} (SB3 defaults), with shared weights across agents."
    return cls


def _policy_kwargs(config: Any) -> dict[str, Any]:
    import torch.nn as nn

    kwargs: dict[str, Any] = {}
    if config.net_arch:
        try:
            kwargs["net_arch"] = [int(x) for x in str(config.net_arch).split(",") if x.strip()]
        except ValueError:
            raise ConfigError(
                f"net_arch='{config.net_arch}' does not parse", "write sizes like 64,64"
            ) from None
    if config.activation:
        kwargs["activation_fn"] = {"tanh": nn.Tanh, "relu": nn.ReLU, "silu": nn.SiLU}[config.activation]
    return kwargs


def _sb3_kwargs(name: str, config: Any) -> dict[str, Any]:
    """The constructor arguments: the config minus marlbench's own fields."""
    own = {"n_envs", "net_arch", "activation", "action_noise_std"}
    kwargs = {k: v for k, v in dataclasses.asdict(config).items() if k not in own}
    if (
        isinstance(kwargs.get("ent_coef"), str)
        and kwargs["ent_coef"] != "auto"
        and not kwargs["ent_coef"].startswith("auto")
    ):
        try:
            kwargs["ent_coef"] = float(kwargs["ent_coef"])
        except ValueError:
            raise ConfigError(
                f"ent_coef='{kwargs['ent_coef']}' is not a number or 'auto'", "e.g. 0.01"
            ) from None
    return kwargs


def _build_tracker_class() -> type:
    from supersuit.vector.sb3_vector_wrapper import SB3VecEnvWrapper

    class AgentTrackingVecEnv(SB3VecEnvWrapper):
        """SB3 VecEnv over SuperSuit's concat env that also keeps per-agent episode returns.

        Slot ``k`` is agent ``agents[k % N]`` of copy ``k // N``. A copy's episode is finished when
        all its slots report done on the same step (SuperSuit resets a copy only when every agent
        is done; AgentDeathPadding keeps departed agents in place with zero reward and marks
        their padded steps, which are not counted in the agent's length).
        """

        def __init__(self, venv: Any, agents: list[str]) -> None:
            super().__init__(venv)
            self.agents = agents
            self.n_agents = len(agents)
            self.copies = self.num_envs // self.n_agents
            self._seed: int | None = None
            self.finished: list[EpisodeRecord] = []
            self._reset_tracking()

        def _reset_tracking(self) -> None:
            self._returns = np.zeros(self.num_envs, dtype=np.float64)
            self._lengths = np.zeros(self.num_envs, dtype=np.int64)
            self._active = np.ones(self.num_envs, dtype=bool)
            self._metrics: list[dict[str, float]] = [{} for _ in range(self.num_envs)]

        def seed(self, seed: int | None = None) -> list[int | None]:
            # SuperSuit's concat env has no seed(); seed the next reset instead (SB3 calls seed then reset).
            self._seed = seed
            return [seed] * self.num_envs

        def reset(self, seed: int | None = None, options: Any = None) -> np.ndarray:
            if seed is not None:
                self._seed = seed
            observations, self.reset_infos = self.venv.reset(seed=self._seed)
            self._seed = None
            self._reset_tracking()
            return observations

        def step_wait(self) -> Any:
            observations, rewards, terminations, truncations, infos = self.venv.step_wait()
            dones = np.logical_or(terminations, truncations)
            self._returns += np.where(self._active, rewards, 0.0)
            self._lengths += self._active
            for k, info in enumerate(infos):
                if not isinstance(info, dict):
                    continue
                metrics = info.get("episode_metrics")
                if metrics:
                    self._metrics[k] = {m: float(v) for m, v in metrics.items()}
                if info.get(DEAD) and self._active[k]:
                    # the agent left on the previous step: undo this padded step's count
                    self._active[k] = False
                    self._lengths[k] -= 1
            copy_done = dones.reshape(self.copies, self.n_agents).all(axis=1)
            for c in np.flatnonzero(copy_done):
                slots = range(c * self.n_agents, (c + 1) * self.n_agents)
                self.finished.append(
                    EpisodeRecord(
                        env_index=int(c),
                        rewards={self.agents[k % self.n_agents]: float(self._returns[k]) for k in slots},
                        lengths={self.agents[k % self.n_agents]: int(self._lengths[k]) for k in slots},
                        metrics={
                            self.agents[k % self.n_agents]: self._metrics[k]
                            for k in slots
                            if self._metrics[k]
                        },
                    )
                )
                for k in slots:
                    self._returns[k] = 0.0
                    self._lengths[k] = 0
                    self._active[k] = True
                    self._metrics[k] = {}
            return observations, rewards, dones, infos

    return AgentTrackingVecEnv


class SB3Shared:
    """An SB3 algorithm trained with one policy shared by all agents."""

    def __init__(self, env: EnvContext, config: Any, seed: int, *, name: str, device: str = "cpu") -> None:
        from stable_baselines3.common.utils import set_random_seed

        from marlbench.envs.wrap import concat_vec_env

        self.name = name
        self.env = env
        self.config = config
        self.seed = seed
        self.steps_done = 0
        set_random_seed(seed)
        venv, agents = concat_vec_env(env.make, config.n_envs, seed)
        self.vec_env = _build_tracker_class()(venv, agents)
        self.vec_env.seed(seed)
        self.agents = agents
        self.n_agents = len(agents)
        obs_shape = self.vec_env.observation_space.shape or ()
        policy = "MlpPolicy"
        if name == "recurrent-ppo":
            policy = "MlpLstmPolicy"
        elif len(obs_shape) == 3 and min(obs_shape[:2]) >= 36:
            policy = "CnnPolicy"
        kwargs = _sb3_kwargs(name, config)
        if name in ("td3", "ddpg"):
            from stable_baselines3.common.noise import NormalActionNoise

            dim = int(np.prod(self.vec_env.action_space.shape))
            kwargs["action_noise"] = NormalActionNoise(np.zeros(dim), np.full(dim, config.action_noise_std))
        self.model = sb3_class(name)(
            policy,
            self.vec_env,
            policy_kwargs=_policy_kwargs(config) or None,
            device=device,
            verbose=0,
            seed=seed,
            **kwargs,
        )
        self._lstm_state: Any = None
        self._episode_start = True

    # -- training -------------------------------------------------------------------------------
    def learn(self, total_steps: int, recorder: Recorder) -> None:
        from stable_baselines3.common.callbacks import BaseCallback

        algo = self
        n = self.n_agents

        class _Report(BaseCallback):
            def _on_step(self) -> bool:
                algo.steps_done = int(self.model.num_timesteps // n)
                if algo.vec_env.finished:
                    recorder.log_episodes(algo.steps_done, algo.vec_env.finished)
                    algo.vec_env.finished = []
                recorder.tick(algo.steps_done)
                return True

            def _on_rollout_end(self) -> None:
                values = {
                    k.split("/")[-1]: float(v)
                    for k, v in self.model.logger.name_to_value.items()
                    if isinstance(v, int | float)
                }
                if values:
                    recorder.log_stats(algo.steps_done, values)

        remaining = max(0, total_steps - self.steps_done)
        self.model.learn(
            total_timesteps=remaining * n, callback=_Report(), reset_num_timesteps=self.steps_done == 0
        )
        self.steps_done = int(self.model.num_timesteps // n)

    # -- acting ---------------------------------------------------------------------------------
    def eval_env(self, seed: int) -> Any:
        """The evaluation env, wrapped like the training env (padding, black death)."""
        from marlbench.envs.wrap import shared_policy_env

        return shared_policy_env(self.env.make(seed))

    def reset_episode(self) -> None:
        self._lstm_state = None
        self._episode_start = True

    def act(self, observations: Mapping[str, np.ndarray], deterministic: bool = True) -> dict[str, Any]:
        names = [a for a in self.agents if a in observations]
        batch = np.stack([np.asarray(observations[a]) for a in names])
        if self.name == "recurrent-ppo":
            if self._lstm_state is not None and self._lstm_state[0].shape[1] != len(names):
                self._lstm_state = None
            starts = np.full(len(names), self._episode_start)
            actions, self._lstm_state = self.model.predict(
                batch, state=self._lstm_state, episode_start=starts, deterministic=deterministic
            )
            self._episode_start = False
        else:
            actions, _ = self.model.predict(batch, deterministic=deterministic)
        return {a: actions[i] for i, a in enumerate(names)}

    # -- persistence ----------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.model.save(directory / "model.zip")
        (directory / "meta.json").write_text(json.dumps({"algo": self.name, "steps_done": self.steps_done}))

    def load(self, directory: Path) -> None:
        self.model = sb3_class(self.name).load(
            directory / "model.zip", env=self.vec_env, device=self.model.device
        )
        meta = json.loads((directory / "meta.json").read_text())
        self.steps_done = int(meta.get("steps_done", 0))
