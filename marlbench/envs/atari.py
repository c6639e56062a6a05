"""Atari Pong and Breakout (Gymnasium + ale-py) as 1-agent environments: ``atari-pong``, ``atari-breakout``.

Paper 002 (Lamb et al., "Deep Reinforcement Learning with Actor-Critic") trains single-agent actor-critic
models on these two games and reports the running mean score and the % of human expert (its Fig. 7).
They live in the same registry as the multi-agent environments so every command works on them.

Preprocessing (one chain, :func:`make_gym`, built from SB3's Atari wrappers in the order of SB3's
``AtariWrapper``, with the frame stack inside the env so training and evaluation share it)::

    ale_py AtariEnv (ALE/<Game>-v5, frameskip=1, sticky actions off, minimal action set)
      -> NoopResetEnv(noop_max=30)        random 1..30 no-ops after a real reset
      -> MaxAndSkipEnv(skip=4)            repeat the action 4 frames, max over the last 2
      -> GameScore                        raw (unclipped) score and length of the whole game
      -> EpisodicLifeEnv                  a lost life ends the learner's episode (game goes on)
      -> FireResetEnv                     press FIRE after every (pseudo-)reset, if the game has FIRE
      -> CropFrame(crop)                  only with crop=160: paper 002's 160x160 crop (off by default)
      -> WarpFrame(84)                    grayscale, 84x84 (INTER_AREA)
      -> ClipRewardEnv                    sign of the reward, TRAINING ONLY
      -> ReshapeObservation + FrameStackObservation(4, zero padding)   -> uint8 [4, 84, 84]

Observations are channels first, ``uint8 [frame_stack, screen_size, screen_size]``: SB3 recognises
them as images (``is_image_space_channels_first``) and does not transpose them; the CNNs divide by
255. The stack restarts (zero padding) whenever the learner's episode restarts, like SB3's
``VecFrameStack``.

Training and evaluation differ in exactly two places, both controlled by ``training``:

* rewards are clipped to their sign (``clip_reward``) during training only;
* during training a lost life is a terminal state for the learner (``terminal_on_life_loss``,
  "episodic life"). In evaluation (:class:`AtariParallelEnv`, what the registry's ``make`` returns)
  the episode is the whole game, to game over, and its reward is the raw game score. The
  mechanics after a lost life are the same in both (the learner-facing restart: one no-op, FIRE, a
  fresh frame stack), so a policy sees in evaluation exactly the observations it was trained on; this
  is also what the RL Zoo and CleanRL evaluations do. Without it a deterministic Breakout policy that
  never needed to learn FIRE would stall after its first lost life until the 108,000-frame limit.

Choices where the paper is silent or differs (write-downs per DESIGN.md):

* The paper used ``Pong-v0``/``Breakout-v0`` (random frame skip 2-4, sticky actions 0.25) and
  cropped 210x160 frames to 160x160 before downsampling to 80x80. By default we use the standard
  DQN-style preprocessing above (fixed skip 4, no sticky actions, 84x84 of the full frame), which is
  what the reference rows (SB3/RL Zoo a2c, ppo, dqn, qrdqn) and the Mnih et al. human/random scores
  assume. ``crop=160 screen_size=80`` is the paper's crop and 80x80 (:mod:`.atari_frames`), used by
  the preset's Model 2 / 3 variants, not its SB3 rows. On 84x84, Model 2 maps to 21x21 then 10x10
  (3200 features, as in the paper) and Model 3 to 4x4 (512, as in the paper).
* The paper says both games have 3 actions; we keep ALE's minimal action sets (Pong 6, Breakout 4),
  whose extra actions are FIRE variants.
* ``max_frames=108000`` (30 minutes of play, ALE v5's default) truncates a game.

Each finished game is reported in ``info["game"] = {"score", "length", "clipped_return"}`` (gym level)
and ``infos[agent]["episode_metrics"] = {"clipped_return": ...}`` (PettingZoo level); the training
path in :mod:`marlbench.algos.sb3.learner` stores ``reward`` = raw score and ``metric_clipped_return``.

The human-expert and random-play reference scores and the % of human expert are in
:mod:`marlbench.envs.atari_scores` (no ale-py needed, so reports work without it).

ale-py and OpenCV are optional (``pip install 'marlbench[atari]'``): without them this module raises
ImportError on import and the registry leaves the family out.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import numpy as np

from marlbench.envs.atari_frames import CropFrame, check_crop
from marlbench.envs.registry import EnvSpec, register
from marlbench.errors import ConfigError

# Optional dependencies, checked without importing them (the registry skips this family on ImportError).
if importlib.util.find_spec("ale_py") is None:
    raise ImportError('ale-py is not installed: pip install "marlbench[atari]" (ROMs ship with ale-py>=0.9)')
if importlib.util.find_spec("cv2") is None:  # SB3's WarpFrame resizes with OpenCV
    raise ImportError('OpenCV is not installed: pip install "marlbench[atari]" (opencv-python-headless)')

import gymnasium as gym  # noqa: E402  (after the optional-dependency check, on purpose)

GAMES: dict[str, str] = {"atari-pong": "Pong", "atari-breakout": "Breakout"}
"""Registry name -> ALE game (``ALE/<Game>-v5``)."""

AGENT = "player_0"
"""The one agent's name in the PettingZoo view."""

PAPER_TEMPERATURE_EPISODES: dict[str, int] = {"atari-pong": 10_000, "atari-breakout": 50_000}
"""The constant C of paper 002's temperature schedule (section 5): ``C_Pong = 10000``,
``C_Breakout = 50000`` episodes."""

ATARI_OPTIONS: dict[str, bool | int | float] = {
    "noop_max": 30,
    "frame_skip": 4,
    "screen_size": 84,
    "frame_stack": 4,
    "repeat_action_probability": 0.0,
    "max_frames": 108_000,
    "terminal_on_life_loss": True,
    "clip_reward": True,
    "crop": 0,
}
"""Defaults of the ``atari-*`` options: SB3's ``AtariWrapper`` and RL Zoo's frame stack of 4; no crop."""


class GameScore(gym.Wrapper):
    """Accumulates the raw score and length (agent steps) of the whole game.

    Sits above frame skipping and below episodic life and reward clipping, so it sees every agent
    step of a game, including the steps other wrappers take themselves (FIRE after a lost life),
    with unclipped rewards, and its ``reset`` is only called on a real game reset. On the step that
    ends the game it adds ``info["game"] = {"score", "length", "clipped_return", "time"}`` and the
    SB3 Monitor key ``info["episode"] = {"r", "l", "t"}`` (so SB3's own ``ep_rew_mean`` is the raw score).
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self._score = 0.0
        self._clipped = 0.0
        self._length = 0
        self._start = time.time()

    @property
    def score(self) -> float:
        """Raw score of the game so far."""
        return self._score

    def reset(self, **kwargs: Any) -> tuple[Any, dict]:
        self._score, self._clipped, self._length = 0.0, 0.0, 0
        self._start = time.time()
        return self.env.reset(**kwargs)

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._score += float(reward)
        self._clipped += float(np.sign(reward))
        self._length += 1
        if terminated or truncated:
            elapsed = time.time() - self._start
            info = dict(info)
            info["game"] = {
                "score": self._score,
                "length": self._length,
                "clipped_return": self._clipped,
                "time": elapsed,
            }
            info["episode"] = {"r": self._score, "l": self._length, "t": elapsed}
        return obs, float(reward), terminated, truncated, info


def _check_options(options: Mapping[str, Any]) -> None:
    unknown = set(options) - set(ATARI_OPTIONS)
    if unknown:
        raise ConfigError(
            f"atari environments have no option(s) {', '.join(sorted(unknown))}",
            f"valid options: {', '.join(sorted(ATARI_OPTIONS))}",
        )
    for key in ("frame_skip", "frame_stack", "max_frames"):
        if int(options[key]) < 1:
            raise ConfigError(f"--env-opt {key}={options[key]} is out of range", "it must be >= 1")
    if int(options["noop_max"]) < 0:
        raise ConfigError(f"--env-opt noop_max={options['noop_max']} is out of range", "it must be >= 0")
    if int(options["screen_size"]) < 36:
        raise ConfigError(
            f"--env-opt screen_size={options['screen_size']} is too small for the Atari CNNs",
            "use 84 (standard) or 80 (paper 002)",
        )
    if not 0.0 <= float(options["repeat_action_probability"]) <= 1.0:
        raise ConfigError("--env-opt repeat_action_probability must lie in [0, 1]", "e.g. 0.0 or 0.25")
    check_crop(options["crop"])


def ale_env(game: str, options: Mapping[str, Any]) -> gym.Env:
    """The raw emulator, ``ALE/<game>-v5`` with frame skip and sticky actions left to the wrappers."""
    import ale_py

    gym.register_envs(ale_py)
    return gym.make(
        f"ALE/{game}-v5",
        frameskip=1,
        repeat_action_probability=float(options["repeat_action_probability"]),
        full_action_space=False,
        max_num_frames_per_episode=int(options["max_frames"]),
    )


BASE_ENVS: dict[str, Callable[[Mapping[str, Any]], gym.Env]] = {
    name: partial(ale_env, game) for name, game in GAMES.items()
}
"""Registry name -> factory of the raw single-frame env, given resolved options (:func:`register_game`)."""


def preprocess(env: gym.Env, *, training: bool, **options: Any) -> gym.Env:
    """Wrap a raw ALE-like env in the module's chain (see the module docstring).

    ``training=True`` applies reward clipping when ``clip_reward`` (default on); episodic life
    follows ``terminal_on_life_loss`` in both forms (evaluation continues the game across lives in
    :class:`AtariParallelEnv`). The env must offer ``unwrapped.get_action_meanings()`` with NOOP
    first and ``unwrapped.ale.lives()``.
    """
    from gymnasium.wrappers import FrameStackObservation, ReshapeObservation
    from stable_baselines3.common.atari_wrappers import (
        ClipRewardEnv,
        EpisodicLifeEnv,
        FireResetEnv,
        MaxAndSkipEnv,
        NoopResetEnv,
        WarpFrame,
    )

    config = {**ATARI_OPTIONS, **options}
    _check_options(config)
    if int(config["noop_max"]) > 0:
        env = NoopResetEnv(env, noop_max=int(config["noop_max"]))
    if int(config["frame_skip"]) > 1:
        env = MaxAndSkipEnv(env, skip=int(config["frame_skip"]))
    env = GameScore(env)
    # Life loss handling is kept in evaluation too (see the module docstring); only the learner's
    # terminal signal differs, and AtariParallelEnv hides it by continuing the game.
    if config["terminal_on_life_loss"]:
        env = EpisodicLifeEnv(env)
    if "FIRE" in env.unwrapped.get_action_meanings():
        env = FireResetEnv(env)
    if int(config["crop"]):  # paper 002's 160x160 crop, before the grayscale resize
        env = CropFrame(env, int(config["crop"]))
    size = int(config["screen_size"])
    env = WarpFrame(env, width=size, height=size)
    if training and config["clip_reward"]:
        env = ClipRewardEnv(env)
    env = ReshapeObservation(env, (size, size))
    return FrameStackObservation(env, int(config["frame_stack"]), padding_type="zero")


def make_gym(env_name: str, *, training: bool, **options: Any) -> gym.Env:
    """The preprocessed single-agent Gymnasium env of a registered Atari name (e.g. ``atari-pong``)."""
    config = {**ATARI_OPTIONS, **options}
    _check_options(config)
    return preprocess(BASE_ENVS[env_name](config), training=training, **config)


def _find(env: gym.Env, cls: type) -> Any:
    """The first wrapper of type ``cls`` in ``env``'s chain, or None."""
    current: Any = env
    while current is not None:
        if isinstance(current, cls):
            return current
        current = getattr(current, "env", None)
    return None


def force_real_reset(env: gym.Env) -> None:
    """Make the next ``reset`` of ``env`` a real game reset (not EpisodicLifeEnv's no-op restart)."""
    from stable_baselines3.common.atari_wrappers import EpisodicLifeEnv

    episodic = _find(env, EpisodicLifeEnv)
    if episodic is not None:
        episodic.was_real_done = True


class AtariParallelEnv:
    """A 1-agent PettingZoo ``ParallelEnv`` over a :func:`preprocess`-ed env in evaluation form.

    One episode is one whole game; the rewards are raw game points (never clipped) and sum to the
    game's score: each step's reward is the change of :class:`GameScore`'s total, so points scored
    during steps the wrappers take themselves (FIRE after a reset) are counted at the next step.
    When the inner env signals a lost life, the game continues through the same restart the learner
    saw in training (``new_life`` is then True for one step, so recurrent policies can reset their
    state as they did in training). ``reset`` always starts a new game.
    """

    metadata: dict[str, Any] = {"name": "atari", "is_parallelizable": True, "render_modes": []}

    def __init__(self, env: gym.Env, max_cycles: int = 0) -> None:
        self.env = env
        self.possible_agents = [AGENT]
        self.agents: list[str] = []
        self.render_mode = None
        self.new_life = False
        self.lives = 0
        self.max_cycles = max_cycles
        self._game_score: GameScore = _find(env, GameScore)
        self._reported = 0.0

    def observation_space(self, agent: str) -> gym.spaces.Space:
        return self.env.observation_space

    def action_space(self, agent: str) -> gym.spaces.Space:
        return self.env.action_space

    @property
    def observation_spaces(self) -> dict[str, gym.spaces.Space]:
        return {AGENT: self.env.observation_space}

    @property
    def action_spaces(self) -> dict[str, gym.spaces.Space]:
        return {AGENT: self.env.action_space}

    @property
    def unwrapped(self) -> AtariParallelEnv:
        return self

    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        force_real_reset(self.env)
        obs, info = self.env.reset(seed=seed, options=options)
        self.agents = [AGENT]
        self.new_life = False
        self.lives = int(self.env.unwrapped.ale.lives())
        self._reported = 0.0
        return {AGENT: obs}, {AGENT: {}}

    def step(self, actions: Mapping[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
        action = int(np.asarray(actions[AGENT]).reshape(()))
        obs, _, terminated, truncated, info = self.env.step(action)
        self.new_life = False
        infos: dict[str, Any] = {}
        if terminated or truncated:
            if "game" in info:  # real game over (or the frame limit): the episode ends here
                game = info["game"]
                infos = {"episode_metrics": {"clipped_return": float(game["clipped_return"])}}
                self.agents = []
            else:  # a lost life: restart exactly as the training env does, and play on
                obs, _ = self.env.reset()
                terminated = truncated = False
                self.new_life = True
        self.lives = int(self.env.unwrapped.ale.lives())
        total = info["game"]["score"] if "game" in info else self._game_score.score
        reward, self._reported = total - self._reported, total
        return (
            {AGENT: obs},
            {AGENT: float(reward)},
            {AGENT: bool(terminated)},
            {AGENT: bool(truncated)},
            {AGENT: infos},
        )

    def render(self) -> Any:
        return None

    def state(self) -> np.ndarray:
        raise NotImplementedError("atari environments have no global state")

    def close(self) -> None:
        self.env.close()


def make_atari(seed: int | None = None, *, env_name: str, **options: Any) -> AtariParallelEnv:
    """Registry factory: the evaluation-form 1-agent ParallelEnv of ``env_name`` (raw game scores)."""
    config = {**ATARI_OPTIONS, **options}
    env = AtariParallelEnv(
        make_gym(env_name, training=False, **config), int(config["max_frames"]) // int(config["frame_skip"])
    )
    if seed is not None:
        env.reset(seed=seed)
    return env


def make_training_env(env_name: str, **options: Any) -> gym.Env:
    """The training-form Gymnasium env of ``env_name`` (reward clipping and episodic life as configured).

    Used by the single-agent path of :class:`marlbench.algos.sb3.SB3Shared` (one per vector-env copy;
    SB3 seeds each copy at its first reset).
    """
    return make_gym(env_name, training=True, **options)


def is_atari(spec: EnvSpec) -> bool:
    """Whether ``spec`` is one of this family's environments."""
    return spec.family == "atari"


_HELP = {
    "noop_max": "at most this many random no-ops after a game reset (0: none)",
    "frame_skip": "frames per agent step (action repeated, max over the last 2 frames)",
    "screen_size": "side of the square grayscale frame (84 standard; paper 002 used 80)",
    "frame_stack": "frames stacked as channels",
    "repeat_action_probability": "sticky actions (0: off as in Mnih et al. 2015; 0.25: Machado et al. 2018)",
    "max_frames": "emulator frames per game before it is truncated (108000 = 30 minutes)",
    "terminal_on_life_loss": "training only: a lost life ends the learner's episode (episodic life)",
    "clip_reward": "training only: rewards clipped to their sign",
    "crop": "0: full frame; 160: paper 002's 160x160 crop (rows 34-193) before the resize",
}


def register_game(
    name: str, make_base: Callable[[Mapping[str, Any]], gym.Env], description: str, paper: str = ""
) -> EnvSpec:
    """Register an Atari-family environment: ``make_base(options)`` returns the raw single-frame env.

    The registered ``make`` and the training path both wrap it with :func:`preprocess`; the options
    are :data:`ATARI_OPTIONS`. Used for Pong and Breakout below (and by tests with a scripted game).
    """
    BASE_ENVS[name] = make_base
    return register(
        EnvSpec(
            name=name,
            make=partial(make_atari, env_name=name),
            description=description,
            n_agents=1,
            episode_length=lambda o: int(o["max_frames"]) // int(o["frame_skip"]),
            obs_kind="image",
            action_kind="discrete",
            options=dict(ATARI_OPTIONS),
            option_help=dict(_HELP),
            metrics=("clipped_return",),
            paper=paper,
            single_agent=True,
            family="atari",
        )
    )


for _name, _game in GAMES.items():
    register_game(
        _name,
        BASE_ENVS[_name],
        f"Atari {_game} (ALE v5, single agent): no-op starts, frame skip 4, 84x84 gray, 4-frame stack; "
        "episodic life and reward clipping in training only",
        paper="002 (actor-critic on Atari, Fig. 7 and 8)",
    )
