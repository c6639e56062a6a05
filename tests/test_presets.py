"""Presets: the shipped files, loading errors naming file/key/fix, ``preset run`` (planning: test_sweep)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from conftest import TINY_PPO
from typer.testing import CliRunner

from marlbench.cli import app
from marlbench.errors import ConfigError
from marlbench.ledger import Ledger
from marlbench.presets import algo_status, load_preset, preset_files

runner = CliRunner()
SHIPPED = ("quickstart", "biswas-batch-size", "biswas-per", "biswas-ppo-vs-maddpg")

TINY = f"""
description = "two tiny PPO runs"
figure = "learning-curves"

[defaults]
env = "mpe-spread"
steps = 200
seeds = 2
eval_episodes = 2
hyperparams = {{ {", ".join(f"{key} = {value}" for key, value in TINY_PPO.items())} }}

[[variants]]
name = "ppo"
algo = "ppo"
"""


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / f"{name}.toml"
    path.write_text(textwrap.dedent(text))
    return path


# ---------------------------------------------------------------------------------------------
# shipped presets
# ---------------------------------------------------------------------------------------------
def test_shipped_presets_load_with_the_papers_settings() -> None:
    files = preset_files()
    assert set(SHIPPED) <= set(files)
    batch = load_preset("biswas-batch-size")
    assert batch.figure == "batch-size" and batch.feeds == "Fig. 4"
    smarts = [v for v in batch.variants if v.env == "smarts-intersection"]  # the rest: mpe-spread proxies
    sizes = {v.name: v.hyperparams["batch_size"] for v in smarts}
    assert sizes == {"batch-1024": 1024, "batch-64": 64}
    for v in smarts:
        assert v.algo == "maddpg" and v.env == "smarts-intersection"
        assert (v.hyperparams["actor_lr"], v.hyperparams["critic_lr"]) == (1e-4, 1e-3)  # sec. III.C
        assert v.eval_episodes == 10
    per = load_preset("biswas-per")
    per_smarts = [v for v in per.variants if v.env == "smarts-intersection"]
    assert {v.name: (v.hyperparams["per"], v.hyperparams.get("per_mode")) for v in per_smarts} == {
        "uniform": (False, None),
        "per-rank": (True, "rank"),
    }
    duel = load_preset("biswas-ppo-vs-maddpg")
    assert {v.algo for v in duel.variants} == {"ppo", "maddpg"}
    quick = load_preset("quickstart")
    assert {v.algo for v in quick.variants} == {"ppo", "maddpg"}
    assert all(algo_status(v.algo) == "" for v in quick.variants)
    assert quick.total_steps() <= 200_000  # minutes, not hours, on 2 cores


def test_specs_scale_budgets_override_seeds_and_stamp_preset() -> None:
    preset = load_preset("biswas-batch-size")
    specs = [s for s in preset.specs(seeds=[4, 5], scale=0.1) if s.env == "smarts-intersection"]
    assert [(s.variant, s.seed) for s in specs] == [
        ("batch-1024", 4),
        ("batch-1024", 5),
        ("batch-64", 4),
        ("batch-64", 5),
    ]
    assert {s.steps for s in specs} == {50_000}
    assert {s.eval_every for s in specs} == {5_000} and {s.checkpoint_every for s in specs} == {5_000}
    assert {s.preset for s in specs} == {"biswas-batch-size"}
    assert len(preset.specs()) == 12  # seeds = 3 in the file, 2 SMARTS variants and 2 mpe-spread proxies
    with pytest.raises(ConfigError, match="--scale"):
        preset.specs(scale=0)


def test_presets_are_found_through_MARLBENCH_PRESETS(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "mine", TINY)
    monkeypatch.setenv("MARLBENCH_PRESETS", str(tmp_path))
    assert load_preset("mine").path == tmp_path / "mine.toml"
    assert "quickstart" in preset_files()  # the source tree's presets stay visible


# ---------------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "needles"),
    [
        (
            TINY.replace('description = "two tiny PPO runs"', 'descripton = "x"'),
            ["unknown key 'descripton'", "did you mean 'description'"],
        ),
        (TINY.replace("steps = 200", 'steps = "200"'), ["'defaults.steps' must be int"]),
        (TINY.replace('algo = "ppo"', 'algo = "ppo"\nbatch = 3'), ["unknown key 'variants[0].batch'"]),
        (TINY.replace("n_epochs = 1 }", "n_epochs = [1] }"), ["'defaults.hyperparams.n_epochs' must be"]),
        (TINY.replace("[[variants]]", "[[variants]"), ["not valid TOML", "line"]),
        (TINY.replace('name = "ppo"\n', ""), ["'variants[0].name' is missing"]),
        (TINY.replace("seeds = 2", "seeds = 0"), ["defaults.seeds"]),
        (TINY.replace('description = "two tiny PPO runs"', 'name = "other"'), ["differs from the file name"]),
        (TINY.split("[[variants]]")[0], ["no [[variants]]"]),
    ],
)
def test_malformed_presets_name_the_file_and_the_key(tmp_path: Path, text: str, needles: list[str]) -> None:
    path = write(tmp_path, "bad", text)
    with pytest.raises(ConfigError) as info:
        load_preset(str(path))
    message = str(info.value)
    assert str(path) in message
    for needle in needles:
        assert needle in message


def test_cli_preset_errors_exit_2(tmp_path: Path, ledger_dir: Path) -> None:
    result = runner.invoke(app, ["preset", "show", "quickstar"])
    assert result.exit_code == 2 and "no preset named 'quickstar'" in result.output
    assert "did you mean 'quickstart'" in result.output
    bad = write(tmp_path, "bad", TINY.replace("steps = 200", "steps = -5"))
    result = runner.invoke(app, ["preset", "run", str(bad)])
    assert result.exit_code == 2 and "defaults.steps" in result.output and "Traceback" not in result.output


def test_unknown_algorithm_loads_but_cannot_run(tmp_path: Path, ledger_dir: Path) -> None:
    path = write(tmp_path, "future", TINY.replace('algo = "ppo"', 'algo = "qmixx"'))
    assert load_preset(str(path)).variants[0].algo == "qmixx"  # loading does not check algorithms
    result = runner.invoke(app, ["preset", "run", str(path)])
    assert result.exit_code == 2, result.output
    for needle in (str(path), "variants[0]", "algo = 'qmixx'", "unknown algorithm", "fix:"):
        assert needle in result.output
    assert not Ledger(ledger_dir).runs().shape[0]  # nothing was written
    bad_hp = write(tmp_path, "badhp", TINY.replace("n_epochs = 1", "n_epoch = 1"))
    result = runner.invoke(app, ["preset", "run", str(bad_hp)])
    assert result.exit_code == 2 and "hyperparams" in result.output and "n_epoch" in result.output


def test_preset_list_marks_algorithms_not_built_yet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "future", TINY.replace('algo = "ppo"', 'algo = "ctedd"'))
    monkeypatch.setenv("MARLBENCH_PRESETS", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "250")
    result = runner.invoke(app, ["preset", "list"])
    assert result.exit_code == 0, result.output
    for name in (*SHIPPED, "future"):
        assert name in result.output
    assert ("not built yet" in result.output) == (algo_status("ctedd") != "")
    assert f"{load_preset('quickstart').total_steps():,}" in result.output  # total env steps


# ---------------------------------------------------------------------------------------------
# preset run: real tiny runs
# ---------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_preset_run_twice_then_resume_only_the_interrupted_run(tmp_path: Path, ledger_dir: Path) -> None:
    path = write(tmp_path, "tiny", TINY)
    first = runner.invoke(app, ["preset", "run", str(path)])
    assert first.exit_code == 0, first.output
    ledger = Ledger(ledger_dir)
    every = ledger.runs()
    assert list(every.loc[every["algo"] == "random", "preset"]) == [""]  # the env's random reference
    runs = every[every["algo"] != "random"]
    assert sorted(runs["seed"]) == [0, 1] and set(runs["status"]) == {"finished"}
    assert set(runs["preset"]) == {"tiny"} and set(runs["variant"]) == {"ppo"}
    before = dict(zip(every["run_id"], every["updated_at"], strict=True))

    second = runner.invoke(app, ["preset", "run", str(path)])
    assert second.exit_code == 0, second.output
    assert "3 already finished" in second.output and "nothing to do" in second.output
    again = ledger.runs()
    assert dict(zip(again["run_id"], again["updated_at"], strict=True)) == before  # nothing started

    killed, kept = sorted(runs["run_id"])
    ledger.update_run(killed, status="interrupted")
    kept_time = ledger.get_run(kept)["updated_at"]
    show = runner.invoke(app, ["preset", "show", str(path)], env={"COLUMNS": "250"})
    assert show.exit_code == 0 and "will resume" in show.output and "2/3 runs done" in show.output
    third = runner.invoke(app, ["preset", "run", str(path)])
    assert third.exit_code == 0, third.output
    assert "1 to resume, 0 to start" in third.output
    final = ledger.runs().set_index("run_id")
    assert len(final) == 3  # the same run continued, no new one
    assert final.loc[killed, "status"] == "finished" and final.loc[killed, "resumed_from"] == "interrupted"
    assert final.loc[kept, "updated_at"] == kept_time
