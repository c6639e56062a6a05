"""SB3 hyperparameters: the registry of SB3 algorithms and their config dataclasses.

A config dataclass is built from the SB3 class's constructor signature (so ``--set`` accepts exactly
what SB3 accepts, with SB3's defaults) plus marlbench's own fields; see :mod:`marlbench.algos.sb3.learner`
for what each of marlbench's fields does, and :func:`env_defaults` for per-environment defaults.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from dataclasses import dataclass
from functools import cache, partialmethod
from typing import Any

from marlbench.algos.base import hp
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

_SB3_TABLE: dict[str, SB3Entry] = {
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
    "weight_decay": (0.0, None, False),
    "temperature_episodes": (0, None, False),
}

STEP_VALUED = ("learning_starts", "target_update_interval")
"""SB3 constructor arguments counted in timesteps (``preset run --scale`` scales them with the budget)."""

ON_POLICY_DISCRETE = ("ppo", "a2c", "trpo", "recurrent-ppo")
"""Algorithms with a categorical actor, hence a ``temperature`` hyperparameter (paper 002)."""

POLICY_SUPPORT: dict[str, tuple[str, ...]] = {
    "cnn": ("ppo", "a2c", "trpo", "dqn", "qrdqn"),
    "cnn-lstm": ("ppo", "a2c", "recurrent-ppo"),
}
"""Which algorithms accept ``policy=cnn`` (paper 002's Model 2) and ``policy=cnn-lstm`` (Model 3)."""

_ATARI_PPO: dict[str, Any] = {
    "n_envs": 8,
    "n_steps": 128,
    "n_epochs": 4,
    "batch_size": 256,
    "learning_rate": 2.5e-4,
    "clip_range": 0.1,
    "linear_schedule": True,
    "vf_coef": 0.5,
    "ent_coef": 0.01,
}

ATARI_DEFAULTS: dict[str, dict[str, Any]] = {
    "a2c": {"n_envs": 16, "ent_coef": 0.01, "vf_coef": 0.25, "optimizer": "rmsprop-tf"},
    "ppo": _ATARI_PPO,
    "recurrent-ppo": _ATARI_PPO,  # the RL Zoo's ppo_lstm uses the same values
    "dqn": {
        "buffer_size": 100_000,
        "learning_rate": 1e-4,
        "batch_size": 32,
        "learning_starts": 100_000,
        "target_update_interval": 1000,
        "train_freq": 4,
        "gradient_steps": 1,
        "exploration_fraction": 0.1,
        "exploration_final_eps": 0.01,
        "optimize_memory_usage": False,
    },
    "qrdqn": {
        "buffer_size": 100_000,
        "learning_starts": 50_000,
        "exploration_fraction": 0.025,
        "optimize_memory_usage": False,
    },
}
"""Atari hyperparameters of the reference rows: the RL Zoo's ``hyperparams/<algo>.yml`` ``atari``
entries (rl-baselines3-zoo, 2026): a2c (n_envs 16, ent_coef 0.01, vf_coef 0.25, RMSpropTFLike with
eps 1e-5, which is SB3's ``rms_prop_eps``), ppo (n_envs 8, n_steps 128, n_epochs 4, batch 256,
lr lin_2.5e-4, clip lin_0.1, vf 0.5, ent 0.01), dqn (as listed), qrdqn (learning_starts 50k,
exploration_fraction 0.025). recurrent-ppo takes the Zoo's ppo_lstm values, which equal ppo's
(the Zoo also sets lstm_hidden_size 128, a separate critic off, and no episodic life: not applied).
Deviation: qrdqn's buffer is 100k transitions (the Zoo keeps sb3-contrib's 1M, about 56 GB of
84x84x4 frames); dqn's 100k is the Zoo's own value. Frame stack 4 and the AtariWrapper
preprocessing are the env's (:mod:`marlbench.envs.atari`)."""


PAPER002_PRESET = "atari-actor-critic"
"""The preset that carries paper 002's own A2C settings (its Model 2 / Model 3 variants)."""


def atari_settings_note(algo: str) -> str:
    """Which hyperparameter set an ``atari-*`` run of ``algo`` gets ('' when none differs).

    Plain ``train a2c --env atari-pong`` (with or without ``--set policy=cnn``) starts from the RL
    Zoo's Atari settings (:data:`ATARI_DEFAULTS`), the SB3 reference rows of paper 002's Fig. 7,
    not from the paper's own (RMSProp, weight decay 0.1, temperature; section 4 and 5), which live
    in the preset's model variants. Shown by ``marlbench algos NAME`` below the description.
    """
    if algo not in ATARI_DEFAULTS:
        return ""
    values = ", ".join(f"{key}={value}" for key, value in ATARI_DEFAULTS[algo].items())
    note = f"On atari-* environments the RL Zoo's Atari settings replace these defaults ({values})"
    if algo != "a2c":
        return note + "."
    return (
        note + ": the SB3 reference rows of paper 002's Fig. 7, not the paper's own settings. "
        "Paper 002's Model 2 / Model 3 settings (policy=cnn / cnn-lstm, optimizer=rmsprop, "
        "weight_decay=0.1, temperature=5.0:1.0, learning_rate=1e-4, n_steps=768, n_envs=1, ent_coef=0, "
        "--env-opt crop=160 screen_size=80) are the model2-* / model3-* variants of preset "
        f"{PAPER002_PRESET}: marlbench preset show {PAPER002_PRESET}."
    )


SB3_ALGOS: dict[str, SB3Entry] = {
    name: dataclasses.replace(
        entry, description="\n".join(filter(None, (entry.description, atari_settings_note(name))))
    )
    for name, entry in _SB3_TABLE.items()
}
"""The SB3 algorithms by marlbench name; a description's second line, if any, is
:func:`atari_settings_note`."""


def env_defaults(algo: str, env_spec: Any) -> dict[str, Any]:
    """Hyperparameter defaults of ``algo`` that depend on the environment (overridden by ``--set``).

    Atari environments get :data:`ATARI_DEFAULTS`; every other environment gets none. Meant to be
    merged under the user's overrides when a run spec is resolved:
    ``{**env_defaults(algo, env_spec), **spec.hyperparams}``.
    """
    if getattr(env_spec, "family", "") == "atari":
        return dict(ATARI_DEFAULTS.get(algo, {}))
    return {}


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
            (
                arg,
                typ,
                hp(
                    default,
                    f"SB3 {entry.cls}({arg}=...)",
                    low=low,
                    high=high,
                    low_open=low_open,
                    steps=arg in STEP_VALUED,
                ),
            )
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
    fields += _marlbench_fields(name)
    cls = dataclasses.make_dataclass(
        f"{entry.cls}Config", fields, namespace={"validate": partialmethod(_validate_config, name)}
    )
    cls.__doc__ = (
        f"Hyperparameters of SB3 {entry.cls} (SB3 defaults; RL Zoo values on Atari, see ATARI_DEFAULTS), "
        "with shared weights across agents on multi-agent environments."
    )
    return cls


def _marlbench_fields(name: str) -> list[tuple[str, Any, Any]]:
    """Policy, optimizer, schedule and (on-policy) temperature fields; see the module docstring."""
    from marlbench.algos.sb3.atari_models import OPTIMIZERS

    fields: list[tuple[str, Any, Any]] = [
        (
            "policy",
            str,
            hp(
                "auto",
                "auto: SB3's policy for the observation; cnn: paper 002 Model 2; cnn-lstm: Model 3",
                choices=("auto", "cnn", "cnn-lstm"),
            ),
        ),
        (
            "optimizer",
            str,
            hp(
                "",
                "'' (algorithm default), rmsprop, rmsprop-tf or adam (paper 002: rmsprop)",
                choices=OPTIMIZERS,
            ),
        ),
        ("weight_decay", float, hp(0.0, "L2 weight decay of the optimizer (paper 002: 0.1)", low=0.0)),
        ("linear_schedule", bool, hp(False, "decay learning_rate (and PPO's clip_range) linearly to 0")),
    ]
    if name in ON_POLICY_DISCRETE:
        fields += [
            (
                "temperature",
                str,
                hp("", "softmax temperature T or T_init:T_min annealed over episodes ('' = none; paper 002)"),
            ),
            (
                "temperature_episodes",
                int,
                hp(
                    0,
                    "C: episodes to anneal T_init to T_min (0 = paper 002's: Pong 10000, Breakout 50000)",
                    low=0,
                ),
            ),
        ]
    return fields


def _validate_config(config: Any, name: str) -> None:
    """Checks across fields (called by ``resolve_config`` after the per-field ranges)."""
    from marlbench.algos.sb3.atari_models import TemperatureSchedule

    policy = config.policy
    if policy != "auto" and name not in POLICY_SUPPORT[policy]:
        able = ", ".join(POLICY_SUPPORT[policy])
        hint = (
            " (recurrent-ppo is already recurrent: use ppo --set policy=cnn)"
            if name == "recurrent-ppo"
            else ""
        )
        raise ConfigError(
            f"'{name}' does not support policy={policy}{hint}", f"policy={policy} works with: {able}"
        )
    if name in ON_POLICY_DISCRETE:
        TemperatureSchedule.parse(config.temperature, max(1, config.temperature_episodes))


def sb3_policy_kwargs(config: Any) -> dict[str, Any]:
    """SB3's ``policy_kwargs`` from marlbench's ``net_arch`` and ``activation`` fields."""
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


_OWN_FIELDS = {
    "n_envs",
    "net_arch",
    "activation",
    "action_noise_std",
    "policy",
    "optimizer",
    "weight_decay",
    "linear_schedule",
    "temperature",
    "temperature_episodes",
}
"""Config fields marlbench handles itself (not SB3 constructor arguments)."""


def sb3_kwargs(name: str, config: Any) -> dict[str, Any]:
    """The constructor arguments: the config minus marlbench's own fields."""
    kwargs = {k: v for k, v in dataclasses.asdict(config).items() if k not in _OWN_FIELDS}
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
