"""Honest short runs (issue 18, items 1 and 6): gradient updates recorded per run, a warning before a
budget at or below the warm-up, ``0 updates`` rows marked in ``compare``, ``--scale`` scaling every
step-valued hyperparameter, ``preset run --eval-episodes``."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import TINY, TINY_PPO
from typer.testing import CliRunner

from marlbench import api
from marlbench.algos import get_algo
from marlbench.algos.base import resolve_config
from marlbench.algos.budget import scale_hyperparams, step_valued, warmup, warmup_warning
from marlbench.cli import app
from marlbench.config import RunSpec, resolve
from marlbench.ledger.schema import RUN_SCHEMA
from marlbench.presets import load_preset
from marlbench.reports.render import render

runner = CliRunner()


def _config(algo: str, **overrides: object) -> object:
    return resolve_config(get_algo(algo).config_cls(), overrides, algo)


# ---- the warm-up rule ---------------------------------------------------------------------------
def test_warmup_of_each_learner_by_hand() -> None:
    # MADDPG/CTEDD: the first learn_every boundary with min(learning_starts, buffer_size) stored
    assert warmup("maddpg", _config("maddpg"), 3).env_steps == 25_600
    assert warmup("maddpg", _config("maddpg", learning_starts=150, learn_every=100)).env_steps == 200
    assert warmup("ctedd", _config("ctedd", learning_starts=5_000, buffer_size=1_000)).env_steps == 1_000
    assert warmup("lbs", _config("lbs")).env_steps == 1_000  # the DQN family: env steps
    # SB3 off-policy counts a timestep per agent of the concatenated vector env
    assert warmup("sac", _config("sac", learning_starts=300), n_agents=3).env_steps == 100
    assert warmup("ppo", _config("ppo"), 3) is None and warmup("random", _config("random")) is None


def test_the_warning_names_the_hyperparameter_and_a_value() -> None:
    text = warmup_warning("maddpg", _config("maddpg"), 4_000, 3)
    assert "learning_starts=25,600" in text and "--set learning_starts=400" in text
    assert warmup_warning("maddpg", _config("maddpg"), 25_600, 3)  # at the warm-up: still warned
    assert warmup_warning("maddpg", _config("maddpg"), 25_700, 3) == ""
    assert warmup_warning("ppo", _config("ppo"), 10, 3) == ""
    assert "learning_starts=30 " in warmup_warning("sac", _config("sac", learning_starts=300), 100, 3)


def test_resolve_records_the_warning_and_a_learning_budget_has_none() -> None:
    short = resolve(RunSpec(algo="maddpg", env="mpe-spread", steps=4_000))
    assert len(short.warnings) == 1 and "learning_starts" in short.warnings[0]
    fine = resolve(
        RunSpec(algo="maddpg", env="mpe-spread", steps=4_000, hyperparams={"learning_starts": 400})
    )
    assert fine.warnings == ()


# ---- updates recorded, shown, resumed -------------------------------------------------------------
def _train_cli(algo: str, steps: int, extra: dict[str, object]) -> tuple[int, str]:
    sets = [a for key, value in {**TINY[algo], **extra}.items() for a in ("--set", f"{key}={value}")]
    result = runner.invoke(
        app,
        ["train", algo, "--env", "mpe-spread", "--steps", str(steps), "--eval-episodes", "1", *sets],
        env={"COLUMNS": "300"},
    )
    return result.exit_code, result.output


def test_a_run_below_its_warm_up_is_warned_recorded_with_0_updates_and_marked(ledger_dir: Path) -> None:
    code, output = _train_cli("maddpg", 200, {"learning_starts": 1_000})
    assert code == 0 and "warning:" in output and "learning_starts=1,000" in output
    code, output = _train_cli("ppo", 200, {})
    assert code == 0 and "warning:" not in output
    book = api.open_ledger(ledger_dir)
    runs = book.runs().set_index("algo")
    assert runs.loc["maddpg", "updates"] == 0
    assert runs.loc["ppo", "updates"] > 0  # SB3's _n_updates
    listing = runner.invoke(app, ["runs"], env={"COLUMNS": "300"}).output
    assert "updates" in listing
    table = api.compare(book, references=False)
    marked = table.rows.set_index("algo")
    assert bool(marked.loc["maddpg", "untrained"]) and not bool(marked.loc["ppo", "untrained"])
    text = render(table, "markdown")
    maddpg_line = next(line for line in text.splitlines() if line.startswith("| maddpg"))
    ppo_line = next(line for line in text.splitlines() if line.startswith("| ppo"))
    assert "0 updates" in maddpg_line and "0 updates" not in ppo_line
    assert "0 updates: the row's runs made no gradient update" in text


def test_the_update_count_is_in_the_checkpoint_and_continues_on_resume(ledger) -> None:
    from marlbench.training.reevaluate import load_run

    for algo in ("maddpg", "ppo"):
        row = api.train(algo, env="mpe-spread", steps=300, seed=0, ledger=ledger, hyperparams=TINY[algo])
        assert row["updates"] > 0
        loaded = load_run(ledger, row["run_id"])
        try:
            assert loaded.algo.updates_done == row["updates"]  # a resumed run starts from this count
        finally:
            loaded.close()


def test_an_old_ledger_without_the_column_reads_unknown_not_zero(ledger) -> None:
    row = api.train("random", env="mpe-spread", steps=50, seed=0, ledger=ledger, hyperparams=TINY["random"])
    assert row["updates"] == 0  # the random policy never learns
    path = ledger.root / "runs" / f"{row['run_id']}.parquet"
    old = pq.read_table(path).drop(["updates"])
    assert "updates" not in old.column_names
    pq.write_table(old, path)
    frame = ledger.runs()
    assert frame["updates"].isna().all()
    assert ledger.get_run(row["run_id"])["updates"] is None
    assert ledger.update_run(row["run_id"], error="x")["updates"] is None  # stays unknown, not 0
    assert pa.types.is_integer(RUN_SCHEMA.field("updates").type)


# ---- --scale and --eval-episodes ----------------------------------------------------------------------
def test_step_valued_hyperparameters_are_declared() -> None:
    assert set(step_valued(get_algo("ctedd").config_cls())) == {
        "learning_starts",
        "test_every",
        "distill_every",
        "alpha_anneal_steps",
    }
    assert set(step_valued(get_algo("lbs").config_cls())) == {"learning_starts", "target_update_interval"}
    assert "learning_starts" in step_valued(get_algo("dqn").config_cls())
    assert step_valued(get_algo("ppo").config_cls()) == ()


def test_scale_multiplies_the_value_the_run_would_use() -> None:
    scaled, changes = scale_hyperparams("maddpg", "mpe-spread", {"batch_size": 64}, 0.05)
    assert scaled == {"batch_size": 64, "learning_starts": 1_280}
    assert changes == [("learning_starts", 25_600, 1_280)]
    ctedd, _ = scale_hyperparams("ctedd", "mpe-spread", {"test_every": 0}, 0.001)
    assert ctedd["test_every"] == 0 and ctedd["distill_every"] == 10 and ctedd["learning_starts"] == 26
    assert ctedd["alpha_anneal_steps"] == 3_000
    tiny, _ = scale_hyperparams("maddpg", "mpe-spread", {"learning_starts": 3}, 0.01)
    assert tiny["learning_starts"] == 1  # at least 1
    assert scale_hyperparams("maddpg", "mpe-spread", {}, 1.0) == ({}, [])


PRESET = """
description = "maddpg and ppo, tiny"

[defaults]
env = "mpe-spread"
steps = 4000
seeds = 1
eval_every = 1000
eval_episodes = 2

[[variants]]
name = "maddpg"
algo = "maddpg"

[[variants]]
name = "ppo"
algo = "ppo"
hyperparams = {{ {ppo} }}
"""


def _preset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ppo = ", ".join(f"{k} = {v}" for k, v in TINY_PPO.items())
    (tmp_path / "short.toml").write_text(textwrap.dedent(PRESET.format(ppo=ppo)))
    monkeypatch.setenv("MARLBENCH_PRESETS", str(tmp_path))


def test_preset_scale_scales_the_warm_up_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ledger_dir: Path
) -> None:
    _preset(tmp_path, monkeypatch)
    specs = {s.variant: s for s in load_preset("short").specs(scale=0.05)}
    assert specs["maddpg"].steps == 200 and specs["maddpg"].eval_every == 50
    assert specs["maddpg"].hyperparams["learning_starts"] == 1_280
    assert "learning_starts" not in load_preset("short").specs()[0].hyperparams
    shown = runner.invoke(app, ["preset", "show", "short", "--scale", "0.05"], env={"COLUMNS": "300"})
    assert shown.exit_code == 0, shown.output
    assert "maddpg (maddpg): steps 4,000 -> 200; eval_every 1,000 -> 50; learning_starts 25,600 -> 1,280" in (
        shown.output
    )
    # 200 steps are still below the scaled warm-up: warned before anything runs
    assert "warning:" in shown.output and "learning_starts=1,280" in shown.output


def test_preset_eval_episodes_overrides_and_is_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ledger_dir: Path
) -> None:
    _preset(tmp_path, monkeypatch)
    assert {s.eval_episodes for s in load_preset("short").specs(eval_episodes=3)} == {3}
    assert {s.eval_episodes for s in load_preset("short").specs()} == {2}
    bad = runner.invoke(app, ["preset", "run", "short", "--eval-episodes", "0"])
    assert bad.exit_code == 2 and "--eval-episodes 0" in bad.output
    assert not ledger_dir.exists() or not any((ledger_dir / "runs").glob("*.parquet"))
