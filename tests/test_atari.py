"""Atari Pong/Breakout and paper 002's actor-critic models (issue 8).

Real games (ale-py) check the preprocessing; a scripted ALE-like game with 7-point rewards and
lives checks raw versus clipped scores exactly, since Pong's rewards are all +-1.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

pytest.importorskip("ale_py")
pytest.importorskip("cv2")

import gymnasium as gym  # noqa: E402
import torch as th  # noqa: E402

from marlbench import api  # noqa: E402
from marlbench.algos import build, get_algo  # noqa: E402
from marlbench.algos.base import EnvContext, resolve_config  # noqa: E402
from marlbench.algos.sb3.atari_models import (  # noqa: E402
    PaperCNN,
    TemperatureActorCriticPolicy,
    TemperatureSchedule,
    entropy_of,
)
from marlbench.algos.sb3.config import ATARI_DEFAULTS, env_defaults, sb3_config_cls  # noqa: E402
from marlbench.envs import atari, get_spec  # noqa: E402
from marlbench.envs import registry as env_registry  # noqa: E402
from marlbench.errors import ConfigError  # noqa: E402

SCRIPTED = "atari-scripted-test"


class ScriptedGame(gym.Env):
    """An ALE-like game: 7 points every 8 frames, a life lost every 64 frames, 3 lives.

    A whole game is 192 frames = 48 agent steps (frame skip 4) worth 24 * 7 = 168 raw points and
    24 clipped points, whatever the actions.
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, options: Any = None) -> None:
        self.observation_space = gym.spaces.Box(0, 255, (210, 160, 3), np.uint8)
        self.action_space = gym.spaces.Discrete(4)
        self.ale = SimpleNamespace(lives=lambda: self._lives)
        self._lives, self._frame = 3, 0

    def get_action_meanings(self) -> list[str]:
        return ["NOOP", "FIRE", "RIGHT", "LEFT"]

    def _obs(self) -> np.ndarray:
        frame = np.zeros((210, 160, 3), np.uint8)
        frame[:, : (self._frame % 160) + 1] = 200
        return frame

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self._lives, self._frame = 3, 0
        return self._obs(), {}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        self._frame += 1
        reward = 7.0 if self._frame % 8 == 0 else 0.0
        if self._frame % 64 == 0:
            self._lives -= 1
        return self._obs(), reward, self._lives == 0, False, {}


@pytest.fixture
def scripted_env():
    """Register the scripted game as an Atari-family env for one test, then remove it."""
    spec = atari.register_game(SCRIPTED, ScriptedGame, "scripted test game")
    yield spec
    env_registry._REGISTRY.pop(SCRIPTED, None)
    atari.BASE_ENVS.pop(SCRIPTED, None)


def _algo(name: str, env: str, hyperparams: dict[str, Any], seed: int = 0, **options: Any) -> Any:
    spec = get_spec(env)
    ctx = EnvContext(spec, spec.resolve_options(options), seed)
    algo_spec = get_algo(name)
    return build(algo_spec, ctx, resolve_config(algo_spec.config_cls(), hyperparams, name), seed)


class _Collect:
    """A Recorder that keeps the episodes it is given."""

    def __init__(self) -> None:
        self.episodes: list[Any] = []

    def tick(self, env_steps: int) -> None:
        pass

    def log_episodes(self, env_steps: int, episodes: list[Any]) -> None:
        self.episodes += episodes

    def log_stats(self, env_steps: int, stats: Any) -> None:
        pass


# ---------------------------------------------------------------------------------------------
# environments
# ---------------------------------------------------------------------------------------------
def test_registry_lists_both_games_as_single_agent() -> None:
    for name in ("atari-pong", "atari-breakout"):
        spec = get_spec(name)
        assert spec.single_agent and spec.n_agents == 1 and spec.obs_kind == "image"
        assert spec.length_for(spec.resolve_options()) == 27_000  # 108000 frames / skip 4


def test_preprocessing_gives_stacked_channels_first_frames() -> None:
    from stable_baselines3.common.preprocessing import is_image_space_channels_first

    env = atari.make_training_env("atari-pong")
    assert env.observation_space.shape == (4, 84, 84) and env.observation_space.dtype == np.uint8
    assert is_image_space_channels_first(env.observation_space)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (4, 84, 84)
    assert not obs[:3].any() and obs[3].any()  # a fresh stack: zero padding, then the first frame
    previous = obs
    for _ in range(5):
        obs, *_ = env.step(0)
        np.testing.assert_array_equal(obs[:3], previous[1:])  # the stack shifts by one frame per step
        previous = obs
    env.close()


def test_training_and_evaluation_see_identical_frames_across_lost_lives() -> None:
    """Same seed, same actions: the evaluation env shows the training env's frames; only rewards differ
    (clipped in training) and a lost life ends the learner's episode but not the evaluation's."""
    train = atari.make_training_env("atari-breakout")
    evaluation = atari.make_atari(env_name="atari-breakout")
    train_obs, _ = train.reset(seed=11)
    eval_obs, _ = evaluation.reset(seed=11)
    rng = np.random.default_rng(0)
    lives_lost = steps = 0
    while evaluation.agents:
        np.testing.assert_array_equal(train_obs, eval_obs["player_0"])
        action = int(rng.integers(4))
        train_obs, train_reward, terminated, truncated, _ = train.step(action)
        eval_obs, eval_reward, *_ = evaluation.step({"player_0": action})
        assert train_reward == np.sign(eval_reward["player_0"])
        steps += 1
        if (terminated or truncated) and evaluation.agents:
            assert evaluation.new_life
            lives_lost += 1
            train_obs, _ = train.reset()
    assert lives_lost == 4 and evaluation.lives == 0  # one game: five lives, one episode
    assert steps > 100


def test_scripted_game_raw_and_clipped_rewards() -> None:
    train = atari.preprocess(ScriptedGame(), training=True, noop_max=0)
    train.reset(seed=0)
    rewards, game = [], None
    for _ in range(200):
        _, reward, terminated, truncated, info = train.step(0)
        rewards.append(reward)
        if "game" in info:
            game = info["game"]
            break
        if terminated or truncated:
            train.reset()
    assert set(rewards) == {0.0, 1.0}  # the learner sees clipped rewards
    assert game == {"score": 168.0, "length": 48, "clipped_return": 24.0, "time": game["time"]}


@pytest.mark.slow
def test_training_rows_and_evaluations_store_raw_scores(scripted_env, ledger) -> None:
    row = api.train(
        "a2c",
        env=SCRIPTED,
        steps=190,
        seed=0,
        ledger=ledger,
        hyperparams={"n_envs": 1, "n_steps": 5, "policy": "cnn"},
        env_options={"noop_max": 0},
        eval_episodes=2,
        eval_every=190,
    )
    assert row["status"] == "finished", row["error"]
    episodes = ledger.episodes([row["run_id"]])
    # a 48-step game takes the learner 40 steps (FIRE after each reset is taken by the env itself)
    assert len(episodes) == 4
    assert set(episodes["agent"]) == {"player_0"}
    assert set(episodes["reward"]) == {168.0} and set(episodes["metric_clipped_return"]) == {24.0}
    assert set(episodes["length"]) == {40}  # the learner's actions, as evaluation counts them
    evals = ledger.last_eval(row["run_id"])
    # 3 of the 24 rewards fall on steps the env takes itself after a lost life; they still count
    assert list(evals["reward"]) == [168.0, 168.0] and list(evals["length"]) == [40, 40]


# ---------------------------------------------------------------------------------------------
# paper 002's models
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("model", "size", "shapes", "features"),
    [
        (2, 80, [(16, 20, 20), (32, 10, 10)], 3200),
        (3, 80, [(16, 20, 20), (32, 10, 10), (32, 4, 4)], 512),
        (2, 84, [(16, 21, 21), (32, 10, 10)], 3200),
        (3, 84, [(16, 21, 21), (32, 10, 10), (32, 4, 4)], 512),
    ],
)
def test_paper_cnn_layer_shapes(model: int, size: int, shapes: list, features: int) -> None:
    space = gym.spaces.Box(0, 255, (4, size, size), np.uint8)
    cnn = PaperCNN(space, model=model)
    assert cnn.conv_shapes(th.zeros(2, 4, size, size)) == shapes
    assert cnn.features_dim == features == cnn(th.zeros(2, 4, size, size)).shape[1]
    assert sum(isinstance(m, th.nn.BatchNorm2d) for m in cnn.modules()) == len(shapes)


def test_model_2_and_model_3_policies_have_the_paper_heads() -> None:
    model2 = _algo("a2c", "atari-pong", {"n_envs": 1, "policy": "cnn"}).model.policy
    assert model2.features_extractor.features_dim == 3200
    assert (model2.action_net.in_features, model2.action_net.out_features) == (3200, 6)
    assert model2.value_net.in_features == 3200

    algo3 = _algo("a2c", "atari-pong", {"n_envs": 1, "policy": "cnn-lstm", "activation": "silu"})
    model3 = algo3.model.policy
    assert type(algo3.model).__name__ == "RecurrentA2C"
    assert (model3.lstm_actor.input_size, model3.lstm_actor.hidden_size) == (512, 256)
    assert model3.lstm_critic is None
    assert (model3.action_net.in_features, model3.value_net.in_features) == (256, 256)
    assert any(isinstance(m, th.nn.SiLU) for m in model3.features_extractor.modules())
    assert not any(isinstance(m, th.nn.ReLU) for m in model3.features_extractor.modules())


def test_model_3_value_loss_reaches_the_lstm_and_the_convs() -> None:
    """One network, one loss: unlike sb3-contrib's shared_lstm, the critic is not detached."""
    policy = _algo("ppo", "atari-pong", {"n_envs": 1, "policy": "cnn-lstm"}).model.policy
    policy.set_training_mode(True)
    obs = th.randint(0, 255, (6, 4, 84, 84), dtype=th.uint8).float()
    states = (th.zeros(1, 1, 256), th.zeros(1, 1, 256))
    from sb3_contrib.common.recurrent.type_aliases import RNNStates

    values, _, _ = policy.evaluate_actions(obs, th.zeros(6), RNNStates(states, states), th.zeros(6))
    policy.zero_grad()
    values.sum().backward()
    assert policy.lstm_actor.weight_ih_l0.grad.abs().sum() > 0
    assert policy.features_extractor.convs[0].weight.grad.abs().sum() > 0


def test_temperature_one_keeps_and_higher_flattens_the_softmax() -> None:
    space = gym.spaces.Box(0, 255, (4, 84, 84), np.uint8)
    policy = TemperatureActorCriticPolicy(
        space, gym.spaces.Discrete(6), lambda _: 1e-3, features_extractor_class=PaperCNN, net_arch=[]
    )
    policy.set_training_mode(False)
    with th.no_grad():
        policy.action_net.weight.mul_(300.0)  # make the logits far from uniform
        obs = th.randint(0, 255, (3, 4, 84, 84)).float()
        latent, _ = policy.mlp_extractor(policy.extract_features(obs))
        logits = policy.action_net(latent)
        entropies = []
        for temperature in (1.0, 4.0):
            policy.temperature = temperature
            probs = policy.get_distribution(obs).distribution.probs
            th.testing.assert_close(probs, th.softmax(logits / temperature, dim=-1))
            entropies.append([entropy_of(p) for p in probs])
            assert (probs.argmax(-1) == logits.argmax(-1)).all()
    assert np.all(np.array(entropies[1]) > np.array(entropies[0]) + 1e-3)


def test_temperature_schedule_is_the_paper_formula() -> None:
    schedule = TemperatureSchedule.parse("5.0:1.0", 10_000)
    assert [schedule.value(e) for e in (0, 5_000, 10_000, 20_000)] == [5.0, 3.0, 1.0, 1.0]
    assert TemperatureSchedule.parse("2", 0).value(10**6) == 2.0
    assert TemperatureSchedule.parse("", 0) is None
    for bad in ("1.0:5.0", "x", "0", "5:1", "1:2:3"):
        with pytest.raises(ConfigError):
            TemperatureSchedule.parse(bad, 0 if bad == "5:1" else 10)


def test_temperature_anneals_over_finished_games(scripted_env) -> None:
    algo = _algo(
        "a2c",
        SCRIPTED,
        {"n_envs": 1, "policy": "cnn", "temperature": "5.0:1.0", "temperature_episodes": 2},
        noop_max=0,
    )
    assert algo.model.policy.temperature == 5.0
    recorder = _Collect()
    algo.learn(60, recorder)  # one 48-step game
    assert len(recorder.episodes) == 1 and algo.model.policy.temperature == 3.0
    algo.learn(110, recorder)
    assert algo.episodes_done == 2 and algo.model.policy.temperature == 1.0


def test_model_3_a2c_checkpoint_restores_weights_and_temperature(scripted_env, tmp_path) -> None:
    settings = {
        "n_envs": 1,
        "n_steps": 10,
        "policy": "cnn-lstm",
        "temperature": "4.0:2.0",
        "temperature_episodes": 2,
    }
    trained = _algo("a2c", SCRIPTED, settings, noop_max=0)
    trained.learn(90, _Collect())  # two games: T reaches 2.0
    trained.save(tmp_path)
    fresh = _algo("a2c", SCRIPTED, settings, seed=1, noop_max=0)
    assert fresh.model.policy.temperature == 4.0
    fresh.load(tmp_path)
    assert type(fresh.model).__name__ == "RecurrentA2C"
    assert (fresh.steps_done, fresh.episodes_done, fresh.model.policy.temperature) == (90, 2, 2.0)
    for name, tensor in trained.model.policy.state_dict().items():
        th.testing.assert_close(fresh.model.policy.state_dict()[name], tensor)
    env = fresh.eval_env(3)
    obs, _ = env.reset(seed=3)
    for algo in (trained, fresh):
        algo.reset_episode()
    assert trained.act(obs) == fresh.act(obs)


# ---------------------------------------------------------------------------------------------
# hyperparameters
# ---------------------------------------------------------------------------------------------
def test_atari_defaults_are_valid_and_overridable() -> None:
    pong, spread = get_spec("atari-pong"), get_spec("mpe-spread")
    assert env_defaults("ppo", pong)["n_envs"] == 8 and env_defaults("a2c", pong)["n_envs"] == 16
    assert env_defaults("ppo", spread) == {}
    for algo, defaults in ATARI_DEFAULTS.items():
        config = resolve_config(sb3_config_cls(algo), defaults, algo)
        assert all(getattr(config, key) == value for key, value in defaults.items())
    overridden = resolve_config(sb3_config_cls("ppo"), {**env_defaults("ppo", pong), "n_envs": 2}, "ppo")
    assert overridden.n_envs == 2 and overridden.n_steps == 128


def test_policy_choices_are_checked() -> None:
    for algo, policy in (("recurrent-ppo", "cnn"), ("dqn", "cnn-lstm"), ("sac", "cnn")):
        with pytest.raises(ConfigError, match="does not support policy"):
            resolve_config(sb3_config_cls(algo), {"policy": policy}, algo)
    with pytest.raises(ConfigError, match="temperature"):
        resolve_config(sb3_config_cls("a2c"), {"temperature": "hot"}, "a2c")
    with pytest.raises(ConfigError, match="image observations"):
        _algo("ppo", "mpe-spread", {"n_envs": 1, "policy": "cnn"})


# ---------------------------------------------------------------------------------------------
# end to end on Pong
# ---------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_short_a2c_run_on_pong_writes_games_to_the_ledger(ledger) -> None:
    row = api.train(
        "a2c",
        env="atari-pong",
        steps=1_000,
        seed=0,
        ledger=ledger,
        hyperparams={"n_envs": 2, "n_steps": 5},
        env_options={"max_frames": 2_000},  # 500-step games keep the test short
        eval_episodes=1,
        eval_every=1_000,
    )
    assert row["status"] == "finished", row["error"]
    assert row["n_agents"] == 1 and row["steps"] == 1_000
    episodes = ledger.episodes([row["run_id"]])
    assert len(episodes) == 2 and set(episodes["agent"]) == {"player_0"}
    rewards = episodes["reward"].to_numpy()
    assert np.all((rewards >= -21) & (rewards <= 21)) and np.all(rewards == np.round(rewards))
    # Pong's points are +-1, so its clipped return equals its raw score
    np.testing.assert_array_equal(rewards, episodes["metric_clipped_return"].to_numpy())
    assert (episodes["length"] > 400).all()
    evals = ledger.last_eval(row["run_id"])
    assert len(evals) == 1 and -21 <= evals["reward"].iloc[0] <= 21
