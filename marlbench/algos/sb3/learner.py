"""Stable-Baselines3 (and sb3-contrib) baselines: shared weights on multi-agent envs, single agent on Atari.

Multi-agent environments: every agent of every env copy is one slot of an SB3 VecEnv (see
:mod:`marlbench.envs.wrap`), so a single SB3 policy is trained on all agents' experience
(parameter sharing). Budgets are in environment steps: ``learn(total_steps)`` runs SB3 for
``total_steps * n_agents`` slot steps.

Atari environments (:mod:`marlbench.envs.atari`, 1 agent): an SB3 ``DummyVecEnv`` of ``n_envs``
training-form games (reward clipping and episodic life) under
:func:`marlbench.envs.wrap.game_score_vec_env`, which records one ledger episode per whole game with
the raw game score as its reward and the sum of clipped rewards as ``metric_clipped_return``.
Evaluation plays the evaluation-form env (whole games, raw scores, the same observation pipeline).

Hyperparameters are the SB3 constructor's own arguments with SB3's defaults (read from its
signature, so ``--set`` accepts exactly what SB3 accepts), plus marlbench's own:

* ``n_envs`` (env copies side by side), ``net_arch``, ``activation``;
* ``policy``: ``auto`` (SB3's standard policy for the observation: NatureCNN on large images, an
  MLP otherwise, their LSTM forms for recurrent-ppo), ``cnn`` (paper 002's Model 2) or
  ``cnn-lstm`` (paper 002's Model 3; ``a2c`` then runs
  :class:`~marlbench.algos.sb3.atari_models.RecurrentA2C`, ``ppo`` runs sb3-contrib's RecurrentPPO);
  with ``cnn``/``cnn-lstm`` ``activation`` is the conv activation (default relu; ``silu`` as in
  paper 002) and ``net_arch`` defaults to none (linear heads, as in the paper);
* ``optimizer`` (``""`` = the algorithm's default, ``rmsprop``, ``rmsprop-tf``, ``adam``) and
  ``weight_decay`` (paper 002: RMSProp, weight decay 0.1);
* ``linear_schedule``: learning rate (and PPO's clip range) decay linearly to 0 (the RL Zoo's ``lin_``);
* on-policy algorithms: ``temperature`` (``T`` or ``T_init:T_min``, paper 002 section 5) and
  ``temperature_episodes`` (its C; 0 = the paper's per-game value on Atari).

Per-environment defaults (:func:`env_defaults`): on Atari, a2c, ppo, recurrent-ppo, dqn and
qrdqn start from the RL Zoo's Atari hyperparameters (:data:`ATARI_DEFAULTS`), the reference rows of
paper 002's table; ``--set`` still overrides each.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from marlbench.algos.base import EnvContext, Recorder
from marlbench.algos.sb3.config import SB3_ALGOS, sb3_class, sb3_kwargs, sb3_policy_kwargs
from marlbench.algos.sb3.resume import learn_short_round, rest_of_round
from marlbench.errors import ConfigError


def _is_large_image(space: Any) -> bool:
    """An SB3 image space (uint8, 1-4 channels first or last) at least 36 pixels on each side."""
    from stable_baselines3.common.preprocessing import is_image_space, is_image_space_channels_first

    if not is_image_space(space, check_channels=False):
        return False
    shape = space.shape
    spatial = shape[1:] if is_image_space_channels_first(space) else shape[:2]
    return min(spatial) >= 36


@dataclass
class ModelSetup:
    """What to construct: the SB3 class, its ``policy`` argument, ``policy_kwargs`` and other arguments."""

    model_cls: type
    policy: Any
    policy_kwargs: dict[str, Any]
    kwargs: dict[str, Any]
    recurrent: bool


def model_setup(
    name: str, config: Any, observation_space: Any, action_space: Any, image_layout: Any = None
) -> ModelSetup:
    """Choose the model class and policy for ``config.policy`` (see the module docstring).

    ``auto`` keeps SB3's standard policies (NatureCNN ``CnnPolicy`` on large images); a
    ``temperature`` swaps in the same network with :class:`TemperatureActorCriticPolicy`.
    ``cnn`` is paper 002's Model 2 (actor-critic policy, or Q-network features for dqn/qrdqn);
    ``cnn-lstm`` is Model 3 in RecurrentPPO (ppo, recurrent-ppo) or RecurrentA2C (a2c).
    ``image_layout`` (an :class:`~marlbench.nets.ImageLayout`: flat observations that carry an
    image stack) gives ``auto`` the image branch of
    :class:`~marlbench.algos.sb3.image_features.VectorImageExtractor` before the MLP.
    """
    from gymnasium import spaces
    from sb3_contrib import RecurrentPPO
    from stable_baselines3.common.torch_layers import NatureCNN
    from stable_baselines3.common.utils import LinearSchedule

    from marlbench.algos.sb3 import atari_models as am

    entry = SB3_ALGOS[name]
    kwargs = sb3_kwargs(name, config)
    policy_kwargs = sb3_policy_kwargs(config)
    image = _is_large_image(observation_space)
    temperature = getattr(config, "temperature", "")
    if temperature and not isinstance(action_space, spaces.Discrete):
        raise ConfigError(
            f"temperature={temperature} needs discrete actions", "drop --set temperature for this environment"
        )
    model_cls: type = sb3_class(name)
    recurrent = name == "recurrent-ppo"
    policy: Any
    if config.policy == "auto":
        if temperature:
            policy = am.TemperatureRecurrentPolicy if recurrent else am.TemperatureActorCriticPolicy
            if image:
                policy_kwargs["features_extractor_class"] = NatureCNN
        elif recurrent:
            policy = "CnnLstmPolicy" if image else "MlpLstmPolicy"
        else:
            policy = "CnnPolicy" if image else "MlpPolicy"
        if image_layout is not None and not image:
            from marlbench.algos.sb3.image_features import VectorImageExtractor

            policy_kwargs["features_extractor_class"] = VectorImageExtractor
            policy_kwargs["features_extractor_kwargs"] = {
                "image_shape": tuple(image_layout.shape),
                "image_start": int(image_layout.starts[0]),
            }
    else:
        if not image:
            raise ConfigError(
                f"policy={config.policy} needs image observations of at least 36x36, not {observation_space}",
                "use policy=auto on this environment",
            )
        model = 2 if config.policy == "cnn" else 3
        policy_kwargs["features_extractor_class"] = am.PaperCNN
        policy_kwargs["features_extractor_kwargs"] = {
            "model": model,
            "activation": config.activation or "relu",
        }
        policy_kwargs.setdefault("net_arch", [])
        if model == 2:
            policy = am.TemperatureActorCriticPolicy if entry.on_policy else "CnnPolicy"
        else:
            policy, recurrent = am.Model3Policy, True
            if name == "a2c":
                # A2C's update on recurrent rollouts: one full-batch step per rollout (RecurrentA2C).
                model_cls = am.RecurrentA2C
                kwargs["batch_size"] = int(config.n_steps) * int(config.n_envs)
                kwargs["n_epochs"] = 1
            else:
                model_cls = RecurrentPPO
    # optimizer: A2C's own RMSprop default is kept when the class is not SB3's A2C any more
    a2c_rms = name == "a2c" and bool(kwargs.get("use_rms_prop", False))
    rms_eps = float(kwargs.get("rms_prop_eps", 1e-5))
    optimizer = config.optimizer
    if model_cls is not sb3_class(name) and name == "a2c" and not optimizer:
        optimizer = "rmsprop" if a2c_rms else "adam"
    policy_kwargs.update(
        am.optimizer_spec(
            optimizer,
            config.weight_decay,
            on_policy=entry.on_policy,
            a2c_rms_prop=a2c_rms,
            rms_prop_eps=rms_eps,
        )
    )
    if temperature:
        policy_kwargs["temperature"] = am.TemperatureSchedule.parse(temperature, 1).initial  # type: ignore[union-attr]
    if config.linear_schedule:
        for key in ("learning_rate", "clip_range"):
            if isinstance(kwargs.get(key), int | float):
                kwargs[key] = LinearSchedule(float(kwargs[key]), 0.0, 1.0)
    accepted = set(inspect.signature(model_cls.__init__).parameters)
    kwargs = {k: v for k, v in kwargs.items() if k in accepted}
    return ModelSetup(model_cls, policy, policy_kwargs, kwargs, recurrent)


def _quiet_logger(model: Any) -> None:
    """Give ``model`` a logger that keeps its values (the progress stats read them) but writes
    nothing: SB3's default one makes an empty ``SB3-<date>`` folder in the temp dir every run."""
    from stable_baselines3.common.logger import Logger

    model.set_logger(Logger(folder=None, output_formats=[]))


class SB3Shared:
    """An SB3 algorithm: one policy shared by all agents, or a single-agent learner on Atari."""

    def __init__(self, env: EnvContext, config: Any, seed: int, *, name: str, device: str = "cpu") -> None:
        from stable_baselines3.common.utils import set_random_seed

        self.name = name
        self.env = env
        self.config = config
        self.seed = seed
        self.steps_done = 0
        self.episodes_done = 0
        set_random_seed(seed)
        self.single_agent = env.spec.family == "atari"
        if self.single_agent:
            from stable_baselines3.common.vec_env import DummyVecEnv

            from marlbench.envs.atari import AGENT, make_training_env
            from marlbench.envs.wrap import game_score_vec_env

            games = [partial(make_training_env, env.spec.name, **env.options) for _ in range(config.n_envs)]
            self.vec_env = game_score_vec_env(DummyVecEnv(games), AGENT)
            agents = [AGENT]
        else:
            from marlbench.envs.subproc import workers_for
            from marlbench.envs.wrap import agent_tracking_vec_env, concat_vec_env

            workers = workers_for(env.spec, env.options, config.n_envs)
            venv, agents = concat_vec_env(env.make, config.n_envs, seed, workers=workers)
            self.vec_env = agent_tracking_vec_env(venv, agents)
        self.vec_env.seed(seed)
        self.agents = agents
        self.n_agents = len(agents)
        setup = model_setup(
            name, config, self.vec_env.observation_space, self.vec_env.action_space, env.image_layout
        )
        self.recurrent = setup.recurrent
        self._model_cls = setup.model_cls
        self.temperature = self._temperature_schedule()
        kwargs = setup.kwargs
        if name in ("td3", "ddpg"):
            from stable_baselines3.common.noise import NormalActionNoise

            dim = int(np.prod(self.vec_env.action_space.shape))
            kwargs["action_noise"] = NormalActionNoise(np.zeros(dim), np.full(dim, config.action_noise_std))
        self.model = setup.model_cls(
            setup.policy,
            self.vec_env,
            policy_kwargs=setup.policy_kwargs or None,
            device=device,
            verbose=0,
            seed=seed,
            **kwargs,
        )
        _quiet_logger(self.model)
        self._apply_temperature()
        self._lstm_state: Any = None
        self._episode_start = True
        self._eval_source: Any = None

    def _temperature_schedule(self) -> Any:
        """Paper 002's temperature schedule for this run, or None (C from the config or the paper)."""
        text = getattr(self.config, "temperature", "")
        if not text:
            return None
        from marlbench.algos.sb3.atari_models import TemperatureSchedule

        episodes = int(self.config.temperature_episodes)
        if episodes == 0 and self.single_agent:
            from marlbench.envs.atari import PAPER_TEMPERATURE_EPISODES

            episodes = PAPER_TEMPERATURE_EPISODES.get(self.env.spec.name, 0)
        schedule = TemperatureSchedule.parse(text, episodes)
        if schedule is None or (schedule.initial != schedule.minimum and episodes == 0):
            raise ConfigError(
                f"temperature={text} is annealed but paper 002 gives no C for '{self.env.spec.name}'",
                "set temperature_episodes=C",
            )
        return schedule

    def _apply_temperature(self) -> None:
        if self.temperature is not None:
            self.model.policy.temperature = self.temperature.value(self.episodes_done)

    @property
    def updates_done(self) -> int:
        """Gradient updates SB3 made so far (``model._n_updates``, SB3's own count: ``n_epochs`` per
        rollout for PPO, one per rollout for A2C, the gradient steps off-policy); restored on resume."""
        return int(getattr(self.model, "_n_updates", 0))

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
                    algo.episodes_done += len(algo.vec_env.finished)
                    algo.vec_env.finished = []
                    algo._apply_temperature()
                recorder.tick(algo.steps_done)
                return True

            def _on_rollout_end(self) -> None:
                values = {
                    k.split("/")[-1]: float(v)
                    for k, v in self.model.logger.name_to_value.items()
                    if isinstance(v, int | float)
                }
                if algo.temperature is not None:
                    values["temperature"] = float(algo.model.policy.temperature)
                if values:
                    recorder.log_stats(algo.steps_done, values)

        remaining = max(0, total_steps - self.steps_done)
        short = rest_of_round(self.model, remaining * n) if self.steps_done else 0
        if short:  # a resume inside a collection round: finish that round first, as the run would have
            learn_short_round(self.model, short, _Report())
            remaining -= short // n
        if remaining > 0:
            self.model.learn(
                total_timesteps=remaining * n, callback=_Report(), reset_num_timesteps=self.steps_done == 0
            )
        self.steps_done = int(self.model.num_timesteps // n)

    # -- acting ---------------------------------------------------------------------------------
    def eval_env(self, seed: int) -> Any:
        """The evaluation env: wrapped like the training env (padding, agent death), or on Atari the
        evaluation-form game (whole games, raw scores, the training observation pipeline)."""
        if self.single_agent:
            self._eval_source = self.env.make(seed)
            return self._eval_source
        from marlbench.envs.wrap import shared_policy_env

        return shared_policy_env(self.env.make(seed))

    def reset_episode(self) -> None:
        self._lstm_state = None
        self._episode_start = True

    def act(self, observations: Mapping[str, np.ndarray], deterministic: bool = True) -> dict[str, Any]:
        names = [a for a in self.agents if a in observations]
        batch = np.stack([np.asarray(observations[a]) for a in names])
        if self.recurrent:
            if self._lstm_state is not None and self._lstm_state[0].shape[1] != len(names):
                self._lstm_state = None
            # a lost life restarts the LSTM in evaluation as the episodic-life reset does in training
            new_life = bool(getattr(self._eval_source, "new_life", False))
            starts = np.full(len(names), self._episode_start or new_life)
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
        meta = {"algo": self.name, "steps_done": self.steps_done, "episodes_done": self.episodes_done}
        (directory / "meta.json").write_text(json.dumps(meta))

    def load(self, directory: Path) -> None:
        """Restore the saved weights into this learner's own model; nothing in the file is unpickled.

        SB3's ``Model.load`` unpickles the archive's ``data`` entries (cloudpickled objects: a
        shared ledger's checkpoint could run code). Here the model is the one marlbench built from
        the run's config; only tensors are read (``torch.load(weights_only=True)``) and a few plain
        JSON counters of ``data`` (:data:`PLAIN_COUNTERS`).
        """
        load_tensors_only(self.model, directory / "model.zip")
        _quiet_logger(self.model)
        meta = json.loads((directory / "meta.json").read_text())
        self.steps_done = int(meta.get("steps_done", 0))
        self.episodes_done = int(meta.get("episodes_done", 0))
        self._apply_temperature()

    def close(self) -> None:
        """Close the training vector env (the evaluation env belongs to whoever asked for it)."""
        self.vec_env.close()


PLAIN_COUNTERS = {
    "num_timesteps": int,
    "_n_updates": int,
    "_episode_num": int,
    "_current_progress_remaining": float,
}
"""The model attributes a resume needs from SB3's ``data`` entry, read as plain JSON numbers."""


def load_tensors_only(model: Any, path: Path) -> None:
    """Load an SB3 ``model.zip`` into ``model`` without unpickling: weights, optimizer state, torch
    variables (``weights_only``) and :data:`PLAIN_COUNTERS`; ``:serialized:`` entries are never read."""
    import zipfile

    from stable_baselines3.common.save_util import load_from_zip_file, recursive_setattr

    if not Path(path).is_file():
        raise ConfigError(f"no SB3 checkpoint at {path}", "pass the directory an SB3 run saved to")
    _, params, variables = load_from_zip_file(path, load_data=False, device=model.device)
    model.set_parameters(params, exact_match=True, device=model.device)
    for name, value in (variables or {}).items():
        if value is not None:
            recursive_setattr(model, f"{name}.data", value.data)
    with zipfile.ZipFile(path) as archive:
        data = json.loads(archive.read("data")) if "data" in archive.namelist() else {}
    for key, kind in PLAIN_COUNTERS.items():
        value = data.get(key) if isinstance(data, dict) else None
        if isinstance(value, int | float) and not isinstance(value, bool):
            setattr(model, key, kind(value))
