"""Run specs: resolved exactly once per run, defaults filled, mistakes named, the hash identity."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest
from fakes import FakeConfig

from marlbench import api
from marlbench.algos import base
from marlbench.config import RunSpec, resolve
from marlbench.errors import ConfigError
from marlbench.values import parse_typed

pytestmark = pytest.mark.usefixtures("fake_algo")


# ---------------------------------------------------------------------------------------------
# resolved exactly once per run
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def resolutions(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The algorithm of every hyperparameter resolution made in this process, in order."""
    calls: list[str] = []
    real = base.resolve_config

    def counting(config_cls, overrides, algo):
        calls.append(algo)
        return real(config_cls, overrides, algo)

    monkeypatch.setattr(base, "resolve_config", counting)
    return calls


def test_train_resolves_once(ledger, resolutions: list[str]) -> None:
    row = api.train("fake", env="user_env:make", steps=20, ledger=ledger, eval_episodes=1)
    assert row["status"] == "finished" and resolutions == ["fake"]


def test_train_many_resolves_each_spec_once(ledger, resolutions: list[str]) -> None:
    specs = api.make_specs("fake", "user_env:make", seeds=[0, 1, 2], steps=20, eval_episodes=1)
    rows = api.train_many(specs, jobs=1, ledger=ledger)
    assert [r["status"] for r in rows] == ["finished"] * 3 and resolutions == ["fake"] * 3


def test_resume_resolves_once(ledger, resolutions: list[str]) -> None:
    with pytest.raises(KeyboardInterrupt):
        api.train("fake", env="user_env:make", steps=40, ledger=ledger, hyperparams={"stop_at": 10})
    api.resume(ledger.runs()["run_id"].iloc[0], ledger=ledger, env="user_env:make")  # its import path
    assert resolutions == ["fake", "fake"]  # one for the run, one for its resumption


def test_a_preset_sweep_resolves_each_run_once(ledger, tmp_path: Path, resolutions: list[str]) -> None:
    path = tmp_path / "fakes.toml"
    path.write_text(
        textwrap.dedent(
            """
            [defaults]
            env = "user_env:make"
            steps = 20
            seeds = 2
            eval_episodes = 1

            [[variants]]
            name = "one"
            algo = "fake"

            [[variants]]
            name = "three"
            algo = "fake"
            hyperparams = { steps_per_tick = 3 }
            """
        )
    )
    preset = api.load_preset(str(path))
    resolved = api.resolve_preset(preset, preset.specs())
    planned = api.plan_runs(resolved, ledger)
    rows = api.run_planned(planned, ledger=ledger)
    # 4 runs and the preset's random reference run (training.references), each resolved once
    assert [r["status"] for r in rows] == ["finished"] * 5 and len(resolutions) == 5
    assert [r["algo"] for r in rows].count("random") == 1


# ---------------------------------------------------------------------------------------------
# what resolution fills in
# ---------------------------------------------------------------------------------------------
def test_defaults_are_filled_and_strings_parsed_to_their_type() -> None:
    resolved = resolve(RunSpec("fake", "user_env:make", hyperparams={"steps_per_tick": "3", "noise": "1e-2"}))
    assert resolved.config == FakeConfig(steps_per_tick=3, noise=0.01)
    assert resolved.spec.resolved == {
        "env_options": {"length": 4, "continuous": False},
        "hyperparams": dataclasses.asdict(FakeConfig(steps_per_tick=3, noise=0.01)),
        "eval_every": 10_000,  # the default schedule: ten rounds of 10 x 4 steps fit in 100k steps
    }
    assert resolved.env.options == {"length": 4, "continuous": False} and resolved.env.n_agents == 2
    assert resolved.algo.name == "fake"


def test_env_dependent_defaults_sit_under_set() -> None:
    """PPO on Atari takes the RL Zoo's settings unless ``--set`` says otherwise."""
    from marlbench.algos.sb3.config import ATARI_DEFAULTS

    zoo = ATARI_DEFAULTS["ppo"]
    key = next(iter(zoo))
    plain = resolve(RunSpec("ppo", "mpe-spread")).spec.resolved["hyperparams"]
    atari = resolve(RunSpec("ppo", "atari-pong")).spec.resolved["hyperparams"]
    assert atari[key] == zoo[key] != plain[key]
    other = 3 if zoo[key] != 3 else 5
    chosen = resolve(RunSpec("ppo", "atari-pong", hyperparams={key: str(other)})).spec.resolved["hyperparams"]
    assert chosen[key] == other


def test_the_hash_is_the_resolved_experiment() -> None:
    def digest(**kwargs) -> str:
        return resolve(RunSpec("fake", "user_env:make", steps=50, **kwargs)).spec.config_hash()

    plain = digest()
    # labels and the device do not change the experiment ...
    assert digest(tags=["x"], preset="p", variant="v", device="cuda") == plain
    # ... nor does spelling out a default, as a value or as a string
    assert digest(hyperparams={"noise": 1.0}) == digest(hyperparams={"noise": "1"}) == plain
    assert digest(env_options={"length": "4"}) == plain
    assert digest(eval_every=50) == plain  # the default for 50 steps: 10 x 4 > 5, one final round
    # every part of the experiment does
    changed = [
        digest(hyperparams={"noise": 0.5}),
        digest(env_options={"length": 5}),
        digest(seed=1),
        digest(eval_every=7),
        digest(eval_episodes=3),
        resolve(RunSpec("fake", "user_env:make", steps=51)).spec.config_hash(),
    ]
    assert len({plain, *changed}) == len(changed) + 1


def test_a_spec_survives_json() -> None:
    spec = resolve(RunSpec("fake", "user_env:make", seed=4, hyperparams={"noise": 0.5}, tags=["t"])).spec
    again = RunSpec.from_json(spec.to_json())
    assert again == spec and again.config_hash() == spec.config_hash()


# ---------------------------------------------------------------------------------------------
# mistakes: one ConfigError naming the part of the spec at fault
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("spec", "key", "needles"),
    [
        (RunSpec("fakee", "user_env:make"), "algo", ["unknown algorithm 'fakee'", "did you mean 'fake'"]),
        (RunSpec("fake", "user_env:nope"), "env", ["nope"]),
        (RunSpec("fake", "mpe-sprad"), "env", ["mpe-sprad", "did you mean 'mpe-spread'"]),
        (RunSpec("lbs", "cn-v1"), "env", ["cannot act in 'cn-v1'", "--env-opt continuous=false"]),
        (RunSpec("maddpg", "atari-pong"), "env", ["multi-agent algorithm", "one agent"]),
        (
            RunSpec("fake", "user_env:make", env_options={"lenght": 3}),
            "env_options",
            ["did you mean 'length'"],
        ),
        (RunSpec("fake", "user_env:make", env_options={"length": "x"}), "env_options", ["not an integer"]),
        (
            RunSpec("fake", "user_env:make", hyperparams={"stop_att": 1}),
            "hyperparams",
            ["'fake' has no hyperparameter 'stop_att'", "did you mean 'stop_at'", "valid keys: noise"],
        ),
        (
            RunSpec("fake", "user_env:make", hyperparams={"steps_per_tick": 0}),
            "hyperparams",
            ["it must be >= 1"],
        ),
        (RunSpec("fake", "user_env:make", hyperparams={"stop_with": "x"}), "hyperparams", ["choose one of"]),
        (RunSpec("fake", "user_env:make", hyperparams={"refuse": "maybe"}), "hyperparams", ["not a boolean"]),
        (RunSpec("fake", "user_env:make", steps=0), "settings", ["--steps 0 must be positive"]),
        (RunSpec("fake", "user_env:make", eval_episodes=-1), "settings", ["--eval-episodes"]),
        (RunSpec("fake", "user_env:make", seed=-1), "settings", ["seed -1"]),
    ],
)
def test_each_mistake_names_its_key(spec: RunSpec, key: str, needles: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        resolve(spec)
    assert info.value.key == key
    for needle in needles:
        assert needle in str(info.value)
    assert spec.resolved == {}  # nothing half-resolved


def test_two_values_for_one_key_are_refused() -> None:
    with pytest.raises(
        ConfigError, match="two values for batch_size: --batch-size 64 and --set batch_size=32"
    ):
        api.make_specs("maddpg", "mpe-spread", batch_size=64, hyperparams={"batch_size": "32"})
    (spec,) = api.make_specs("maddpg", "mpe-spread", batch_size=64)
    assert resolve(spec).config.batch_size == 64


@pytest.mark.parametrize(
    ("raw", "default", "parsed"),
    [
        ("3", 1, 3),
        ("3.0", 1, 3),
        (" 1e-3 ", 0.5, 1e-3),
        (2, 0.5, 2.0),
        ("yes", False, True),
        ("off", True, False),
        ("cnn", "mlp", "cnn"),
        ("7", None, 7),
        ("none", None, None),
    ],
)
def test_parse_typed_follows_the_default(raw, default, parsed) -> None:
    value = parse_typed(raw, default, "--set k")
    assert value == parsed and type(value) is type(parsed)


@pytest.mark.parametrize(("raw", "default"), [("3.5", 1), ("x", 0.5), ("maybe", True), (True, 1), (1.5, 2)])
def test_parse_typed_refuses_naming_the_setting(raw, default) -> None:
    with pytest.raises(ConfigError, match="--set k"):
        parse_typed(raw, default, "--set k")


def test_num_envs_is_the_one_name_for_env_copies() -> None:
    """``num_envs`` sets SB3's ``n_envs`` (and ``n_envs`` the in-repo ``num_envs``): one config, one hash."""

    one, other = (
        resolve(api.make_specs("ppo", "mpe-spread", seeds=[0], steps=256, hyperparams={key: 2})[0])
        for key in ("num_envs", "n_envs")
    )
    assert one.config.n_envs == other.config.n_envs == 2
    assert one.spec.config_hash() == other.spec.config_hash()
    maddpg = resolve(
        api.make_specs("maddpg", "mpe-spread", seeds=[0], steps=256, hyperparams={"n_envs": 3})[0]
    )
    assert maddpg.config.num_envs == 3
    with pytest.raises(ConfigError, match="num_envs and n_envs"):
        resolve(
            api.make_specs(
                "ppo", "mpe-spread", seeds=[0], steps=256, hyperparams={"n_envs": 2, "num_envs": 2}
            )[0]
        )
