"""Budget tiers of presets (issue 16): what a tier changes in the run specs, bad tiers, ``--tier`` with
``--scale`` refused, the shipped presets' tiers and claims, and the projected hours."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from marlbench.cli import app
from marlbench.config import RunSpec
from marlbench.errors import ConfigError
from marlbench.presets import all_presets, load_preset
from marlbench.reports.rates import projected_seconds, table_rate

TIERED = """
[defaults]
env = "mpe-spread"
steps = 100_000
seeds = 3
eval_every = 10_000
checkpoint_every = 50_000
[[variants]]
name = "m"
algo = "maddpg"
hyperparams = { batch_size = 64, learning_starts = 25_600 }
[[variants]]
name = "p"
algo = "ppo"
[[variants]]
name = "m2"
algo = "maddpg"
[tiers.smoke]
steps = 1_000
seeds = 2
variants = ["m", "m2"]
hyperparams.maddpg = { learning_starts = 100 }
hyperparams.m2 = { learning_starts = 50 }
[tiers.night]
steps = 20_000
eval_every = 5_000
eval_episodes = 3
"""


def preset_at(tmp_path: Path, text: str = TIERED) -> Path:
    path = tmp_path / "tiered.toml"
    path.write_text(text)
    return path


def test_a_tier_sets_budget_seeds_variants_and_hyperparameters(tmp_path: Path) -> None:
    preset = load_preset(str(preset_at(tmp_path)))
    smoke = preset.specs(tier="smoke")
    assert [(s.variant, s.seed) for s in smoke] == [("m", 0), ("m", 1), ("m2", 0), ("m2", 1)]
    assert {s.steps for s in smoke} == {1_000}
    # intervals the tier does not set shrink with the steps (1% of them here)
    assert {(s.eval_every, s.checkpoint_every) for s in smoke} == {(100, 500)}
    assert smoke[0].hyperparams == {"batch_size": 64, "learning_starts": 100}  # the algorithm's
    assert smoke[2].hyperparams == {"learning_starts": 50}  # the variant's key wins
    assert {tuple(s.tags) for s in smoke} == {("tier:smoke",)}
    night = preset.specs(tier="night")
    assert len(night) == 9 and {(s.steps, s.eval_every, s.eval_episodes) for s in night} == {
        (20_000, 5_000, 3)
    }
    assert night[0].hyperparams == {"batch_size": 64, "learning_starts": 25_600}
    paper = preset.specs(tier="paper")  # implicit: the file's own budget
    assert [s.config_hash() for s in paper] == [s.config_hash() for s in preset.specs()]
    assert preset.total_steps(tier="night") == 9 * 20_000
    assert [s.seed for s in preset.specs([7], tier="smoke")] == [7, 7]  # --seeds still wins


def test_tags_do_not_change_the_config_hash(tmp_path: Path) -> None:
    """A tier run of the file's own budget would be the paper run's twin (tags are not identity)."""
    preset = load_preset(str(preset_at(tmp_path, TIERED + "[tiers.same]\nsteps = 100_000\n")))
    assert [s.config_hash() for s in preset.specs(tier="same")] == [s.config_hash() for s in preset.specs()]


def test_tier_and_scale_together_are_refused(tmp_path: Path) -> None:
    preset = load_preset(str(preset_at(tmp_path)))
    with pytest.raises(ConfigError, match="--tier and --scale"):
        preset.specs(scale=0.5, tier="night")
    with pytest.raises(ConfigError, match="no tier 'nihgt'") as err:
        preset.specs(tier="nihgt")
    assert "night" in err.value.fix
    assert {s.steps for s in preset.specs(scale=0.5)} == {50_000}


def test_tier_and_scale_together_exit_2(tmp_path: Path) -> None:
    path = preset_at(tmp_path)
    for command in ("run", "show"):
        result = CliRunner().invoke(
            app,
            [
                "preset",
                command,
                str(path),
                "--tier",
                "night",
                "--scale",
                "0.1",
                "--ledger",
                str(tmp_path / "l"),
            ],
        )
        assert result.exit_code == 2, result.output
        assert "--tier and --scale" in result.output
    assert not (tmp_path / "l").exists()  # nothing written


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (("steps = 20_000", "stesp = 20_000"), "unknown key 'tiers.night.stesp'"),
        (("steps = 20_000", "steps = 0"), "'tiers.night.steps' = 0 is out of range"),
        (('variants = ["m", "m2"]', 'variants = ["m", "x"]'), "'tiers.smoke.variants' names 'x'"),
        (
            ("hyperparams.m2 =", "hyperparams.dqn ="),
            "'tiers.smoke.hyperparams.dqn' names no algorithm or variant",
        ),
        (("seeds = 2", "seeds = [1, 1]"), "'tiers.smoke.seeds' = [1, 1] is empty or repeats"),
    ],
)
def test_bad_tiers_are_clear_errors(tmp_path: Path, change: tuple[str, str], words: str) -> None:
    old, new = change
    assert old in TIERED
    with pytest.raises(ConfigError) as err:
        load_preset(str(preset_at(tmp_path, TIERED.replace(old, new, 1))))
    assert words in err.value.message and err.value.fix


SHIPPED = [
    "atari-actor-critic",
    "biswas-batch-size",
    "biswas-per",
    "biswas-ppo-vs-maddpg",
    "ctedd-exploration",
    "ctedd-learning",
    "ctedd-testing",
    "lbs-pursuit",
]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_presets_have_claims_and_tiers_that_fit(name: str) -> None:
    from marlbench import api

    preset = load_preset(name)
    assert preset.claims, "every paper preset states its claims"
    assert {"smoke", "night", "paper"} <= set(preset.tiers)
    plans = {plan.name: plan for plan in api.tier_plans(preset)}
    assert plans["night"].hours <= 8.0, f"night tier of {name} projected at {plans['night'].hours:.1f} h"
    assert plans["smoke"].hours <= 0.25
    assert plans["night"].steps > plans["smoke"].steps
    # the night tier runs every claim that does not need SMARTS
    for claim in preset.claims:
        envs = {preset.variant(v).env for v in claim.variants()}
        if "smarts-intersection" not in envs:
            assert all(preset.tiers["night"].keeps(v) for v in claim.variants()), claim.id


def test_no_preset_is_broken() -> None:
    broken = [item for item in all_presets() if isinstance(item, tuple)]
    assert broken == []


def test_projection_prefers_the_ledgers_own_rates() -> None:
    spec = RunSpec(algo="ppo", env="mpe-spread", seed=0, steps=36_000, preset="p", variant="v")
    seconds, unknown = projected_seconds([spec])
    assert unknown == [] and seconds == pytest.approx(36_000 / table_rate("ppo", "mpe-spread", {}))
    runs = pd.DataFrame(
        {
            "status": ["finished", "finished"],
            "wall_time_s": [10.0, 10.0],
            "steps": [10_000, 1_000],  # the short run is start-up, not a rate
            "preset": ["p", "p"],
            "variant": ["v", "v"],
            "algo": ["ppo", "ppo"],
            "env": ["mpe-spread", "mpe-spread"],
        }
    )
    seconds, _ = projected_seconds([spec], runs)
    assert seconds == pytest.approx(36.0)
    unknown_spec = RunSpec(algo="sac", env="cn-v1", seed=0, steps=10)
    assert projected_seconds([unknown_spec])[1] == ["sac on cn-v1"]
    # the table picks the entry matching the hyperparameters (Model 3's LSTM is the slow one)
    assert table_rate("a2c", "atari-pong", {"policy": "cnn-lstm"}) < table_rate("a2c", "atari-pong", {})


def test_the_command_for_missing_runs_names_a_tier_that_runs_them(tmp_path: Path) -> None:
    from marlbench import api

    preset = load_preset(str(preset_at(tmp_path)))
    assert api.run_command(preset, None, ["m", "p"]) == "marlbench preset run tiered --tier night"
    assert api.run_command(preset, "smoke", ["m"]) == "marlbench preset run tiered --tier smoke"
    assert (
        api.run_command(preset, "smoke", ["p"]) == "marlbench preset run tiered --tier night"
    )  # smoke lacks p
    night_less = load_preset(str(preset_at(tmp_path, TIERED.split("[tiers.night]")[0])))
    assert api.run_command(night_less, None, ["p"]) == "marlbench preset run tiered --tier paper"


def test_preset_show_projects_the_runs_it_lists(tmp_path: Path) -> None:
    """``preset show --scale S --seeds N`` prints the hours of exactly the runs it shows, from the
    table's rates (an empty ledger here), and the SMARTS image's own rate (an env option) is used."""
    import re

    path = preset_at(tmp_path)
    result = CliRunner().invoke(
        app,
        ["preset", "show", str(path), "--scale", "0.1", "--seeds", "2", "--ledger", str(tmp_path / "l")],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    found = re.search(r"These (\d+) runs \(([\d,]+) env steps\): projected ([\d.]+) (h|min)", result.output)
    assert found, result.output
    specs = load_preset(str(path)).specs([0, 1], 0.1)
    expected = projected_seconds(specs)[0]  # the random reference run counts as no time
    assert projected_seconds([RunSpec("random", "mpe-spread", steps=25)]) == (0.0, [])
    minutes = float(found.group(3)) * (60 if found.group(4) == "h" else 1)
    assert minutes == pytest.approx(expected / 60, abs=1.0)
    assert int(found.group(1)) == len(specs) + 1  # and the reference run
    bev = RunSpec("maddpg", "smarts-intersection", steps=100, env_options={"bev": True})
    plain = RunSpec("maddpg", "smarts-intersection", steps=100)
    assert projected_seconds([bev])[0] > projected_seconds([plain])[0]
