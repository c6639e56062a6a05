"""Final evaluations (issue 14 item 3): a run spec's ``final_evals`` evaluates the trained policy once
under each listed env-option set after training, stored as post-hoc rounds with those options.

Fast tests drive the runner with the fake algorithm on mpe-spread, whose ``max_cycles`` option keeps
the spaces (each round's episode length shows which options it ran with). One slow test runs a tiny
SMARTS preset through the CLI and draws ``report --figure smarts-safety`` from its two densities.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import TINY
from typer.testing import CliRunner

from marlbench import api
from marlbench.cli import app
from marlbench.config import RunSpec, resolve
from marlbench.errors import ConfigError
from marlbench.reports.selection import last_evals
from marlbench.training.runner import run

FINALS = [{"max_cycles": 10}, {"max_cycles": 15}]
ENV = {"COLUMNS": "300"}


def _spec(**kwargs) -> RunSpec:
    base = {
        "steps": 100,
        "eval_every": 50,
        "eval_episodes": 2,
        "final_evals": FINALS,
        "final_eval_episodes": 3,
    }
    return RunSpec("fake", "mpe-spread", **(base | kwargs))


def _rounds(ledger, run_id: str) -> dict[int, tuple[int, str, int, int]]:
    """eval_id -> (step, max_cycles of its stored options or '', longest episode, episodes)."""
    evals = ledger.evals([run_id])
    out = {}
    for eval_id, frame in evals.groupby("eval_id"):
        text = frame["env_options"].iloc[0]
        cycles = json.loads(text)["max_cycles"] if text else ""
        out[int(eval_id)] = (
            int(frame["step"].iloc[0]),
            cycles,
            int(frame["length"].max()),
            frame["episode"].nunique(),
        )
    return out


def test_final_evals_are_recorded_with_their_options_apart_from_the_score(ledger, fake_algo) -> None:
    row = run(resolve(_spec()), ledger)
    assert row["status"] == "finished"
    rounds = _rounds(ledger, row["run_id"])
    assert rounds == {0: (50, "", 25, 2), 1: (100, "", 25, 2), 2: (100, 10, 10, 3), 3: (100, 15, 15, 3)}
    evals = ledger.evals([row["run_id"]])
    assert set(last_evals(evals)["eval_id"]) == {1}  # the run's score: its last training evaluation
    assert set(last_evals(evals, {"max_cycles": "15"})["eval_id"]) == {3}
    (algo,) = fake_algo.instances
    assert algo.env.options["max_cycles"] == 25  # the run's own options are back after the evaluations
    # the same seeds as 'marlbench evaluate': the same policy and options give the same episodes
    again = CliRunner().invoke(
        app, ["evaluate", row["run_id"], "--env-opt", "max_cycles=10", "--episodes", "3"]
    )
    assert again.exit_code == 0, again.output
    evals = ledger.evals([row["run_id"]])
    final, redo = (evals[evals["eval_id"] == i].sort_values(["episode", "agent"]) for i in (2, 4))
    assert final["reward"].tolist() == redo["reward"].tolist() and final["env_options"].nunique() == 1
    assert final["env_options"].iloc[0] == redo["env_options"].iloc[0]


def test_a_run_stopped_during_its_final_evals_resumes_with_the_missing_ones(
    ledger, fake_algo, monkeypatch: pytest.MonkeyPatch
) -> None:
    from marlbench.training import recorder

    real, calls = recorder.posthoc_records, []

    def ctrl_c_on_second(*args, **kwargs):
        calls.append(args[3]["max_cycles"])
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(recorder, "posthoc_records", ctrl_c_on_second)
    with pytest.raises(KeyboardInterrupt):
        run(resolve(_spec()), ledger)
    (before,) = ledger.runs().to_dict("records")
    assert before["status"] == "interrupted"
    assert [r[1] for r in _rounds(ledger, before["run_id"]).values()] == ["", "", 10]
    monkeypatch.setattr(recorder, "posthoc_records", real)

    after = api.resume(before["run_id"], ledger=ledger)
    assert after["status"] == "finished" and after["config_hash"] == before["config_hash"]
    resumed = _rounds(ledger, before["run_id"])
    assert resumed == {0: (50, "", 25, 2), 1: (100, "", 25, 2), 2: (100, 10, 10, 3), 3: (100, 15, 15, 3)}
    twin = run(resolve(_spec()), ledger)  # uninterrupted, same seed: the same rows
    columns = ["eval_id", "episode", "agent", "reward", "length", "env_options"]
    mine, theirs = (
        ledger.evals([r])[columns].sort_values(columns[:3]).to_dict("records")
        for r in (after["run_id"], twin["run_id"])
    )
    assert mine == theirs


def test_specs_without_final_evals_keep_their_hash(fake_algo) -> None:
    plain = resolve(RunSpec("fake", "mpe-spread", steps=100, eval_every=50, eval_episodes=2)).spec
    identity = {
        "algo": "fake",
        "env": "mpe-spread",
        "seed": 0,
        "steps": 100,
        "env_options": plain.resolved["env_options"],
        "hyperparams": plain.resolved["hyperparams"],
        "eval_every": 50,
        "eval_episodes": 2,
    }
    assert plain.config_hash() == hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
    counted = resolve(_spec(final_evals=[], final_eval_episodes=3)).spec  # a count alone changes nothing
    assert counted.config_hash() == plain.config_hash()
    with_finals = resolve(_spec()).spec
    assert with_finals.config_hash() != plain.config_hash()
    assert resolve(_spec(final_eval_episodes=4)).spec.config_hash() != with_finals.config_hash()
    assert RunSpec.from_json(with_finals.to_json()).config_hash() == with_finals.config_hash()


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"final_evals": [{"max_cyclez": 10}]}, ["final_evals[0]", "no option 'max_cyclez'", "did you mean"]),
        ({"final_evals": [{"max_cycles": 10}, {"max_cycles": "10"}]}, ["final_evals[1]", "repeats"]),
        (
            {"final_evals": [{"max_cycles": 10}, {"n_agents": 4}]},
            ["final_evals[1]", "changes the agents", "3 agents"],
        ),
        ({"final_evals": [{"continuous": True}]}, ["final_evals[0]", "observation or action shapes"]),
        ({"final_evals": {"max_cycles": 10}}, ["must be a list of env-option tables"]),
        ({"final_eval_episodes": 0}, ["final_eval_episodes 0"]),
    ],
)
def test_bad_final_evals_are_refused_at_config_time(fake_algo, kwargs: dict, words: list[str]) -> None:
    with pytest.raises(ConfigError) as err:
        resolve(_spec(**kwargs))
    assert all(w in str(err.value) for w in words), str(err.value)


PRESET = """
description = "final evaluations from a preset"

[defaults]
env = "mpe-spread"
algo = "maddpg"
steps = 200
eval_episodes = 1
final_eval_episodes = 2
final_evals = [{{ max_cycles = 10 }}, {{ max_cycles = {second} }}]
hyperparams = {{ {hyper} }}

[[variants]]
name = "both"

[[variants]]
name = "none"
final_evals = []
"""


def test_a_preset_passes_final_evals_and_refuses_bad_ones(
    tmp_path: Path, monkeypatch, ledger_dir: Path
) -> None:
    hyper = ", ".join(f"{k} = {v}" for k, v in TINY["maddpg"].items())
    monkeypatch.setenv("MARLBENCH_PRESETS", str(tmp_path))
    path = tmp_path / "finals.toml"
    path.write_text(textwrap.dedent(PRESET.format(second=99, hyper=hyper)).replace("99", '"many"'))
    bad = CliRunner().invoke(app, ["preset", "run", "finals"], env=ENV)
    assert bad.exit_code == 2 and "Traceback" not in bad.output, bad.output
    assert "variants[0] ('both'), final_evals[1]" in " ".join(bad.output.split())
    assert not (ledger_dir / "runs").exists() or api.open_ledger(ledger_dir).runs().empty  # nothing written

    path.write_text(textwrap.dedent(PRESET.format(second=15, hyper=hyper)))
    ran = CliRunner().invoke(app, ["preset", "run", "finals"], env=ENV)
    assert ran.exit_code == 0, ran.output
    book = api.open_ledger(ledger_dir)
    runs = book.runs().set_index("variant")
    evals = book.evals()
    both = evals[evals["run_id"] == runs.loc["both", "run_id"]]
    stored = sorted({json.loads(t)["max_cycles"] for t in both["env_options"] if t})
    assert stored == [10, 15] and both[both["env_options"] != ""]["episode"].nunique() == 2
    none = evals[evals["run_id"] == runs.loc["none", "run_id"]]
    assert (none["env_options"] == "").all()


def test_compare_shows_both_densities_beside_the_training_rates(tmp_path: Path) -> None:
    from test_reports import smarts_ledger

    from marlbench.reports.compare import compare
    from marlbench.reports.render import render

    ledger = smarts_ledger(tmp_path / "l")  # training evals at low (1 in 4 collide), post-hoc at high (all)
    runs = ledger.runs()
    table = compare(runs[runs["preset"] == "biswas-per"], ledger.evals())
    for row in table.rows.to_dict("records"):
        assert row["collision_rate@low"] == pytest.approx(0.25) and row["collision_rate@high"] == 1.0
        assert row["completion_rate@low"] == pytest.approx(0.75) and row["completion_rate@high"] == 0.0
        assert row["collision_rate"] == pytest.approx(0.25)  # still the last training evaluation
    markdown = render(table, "markdown")
    assert "collision low / high" in markdown and "25.0% / 100.0%" in markdown
    assert json.loads(render(table, "json"))["rows"][0]["collision_rate@high"] == 1.0
    only_low = smarts_ledger(tmp_path / "m", with_high=False)
    plain = render(compare(only_low.runs(), only_low.evals()), "markdown")
    assert "low / high" not in plain and "| collision |" in plain


# ---------------------------------------------------------------------------------------------
# SMARTS end to end: a tiny paper-000 preset, then the safety figure from both densities
# ---------------------------------------------------------------------------------------------
SMARTS_PRESET = """
description = "tiny stand-in for the paper-000 preset: one MADDPG run, final evaluations at both densities"

[defaults]
env = "smarts-intersection"
steps = 40
seeds = 1
eval_episodes = 1
final_eval_episodes = 1

[[variants]]
name = "maddpg"
algo = "maddpg"
env_options = { traffic = "low", max_steps = 20 }
final_evals = [{ traffic = "low" }, { traffic = "high" }]
hyperparams = { learning_starts = 20, learn_every = 20, batch_size = 16, buffer_size = 500, hidden_size = 32 }
"""


@pytest.mark.slow
def test_a_smarts_preset_run_leaves_both_densities_for_the_safety_figure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("smarts.core")
    pytest.importorskip("sumo")
    presets = tmp_path / "presets"
    presets.mkdir()
    # named as the figure's own preset, so 'report --figure smarts-safety' picks its runs
    (presets / "biswas-ppo-vs-maddpg.toml").write_text(textwrap.dedent(SMARTS_PRESET))
    env = os.environ | {
        "MARLBENCH_PRESETS": str(presets),
        "MARLBENCH_LEDGER": str(tmp_path / "ledger"),
        "MARLBENCH_CACHE": str(tmp_path / "cache"),
        "MARLBENCH_THREADS": "1",
    }

    def marlbench(*args: str) -> subprocess.CompletedProcess[str]:
        code = "from marlbench.cli import app; app()"  # SMARTS needs real stdout/stderr descriptors
        return subprocess.run(
            [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=240
        )

    ran = marlbench("preset", "run", "biswas-ppo-vs-maddpg")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    book = api.open_ledger(tmp_path / "ledger")
    runs = book.runs()
    (row,) = runs[runs["algo"] == "maddpg"].to_dict("records")  # and the preset's random reference run
    assert row["status"] == "finished"
    reference = book.evals(list(runs[runs["algo"] == "random"]["run_id"]))
    assert (reference["env_options"] == "").all()  # a reference run makes no final evaluations
    evals = book.evals([row["run_id"]])
    later = evals[evals["env_options"] != ""]
    traffic = {
        eval_id: json.loads(f["env_options"].iloc[0])["traffic"] for eval_id, f in later.groupby("eval_id")
    }
    assert sorted(traffic.values()) == ["high", "low"]
    assert all(json.loads(t)["max_steps"] == 20 for t in later["env_options"])
    assert later.groupby("eval_id")["agent"].count().tolist() == [4, 4]  # 1 episode x 4 egos each

    drawn = marlbench("report", "--figure", "smarts-safety", "--out", str(tmp_path / "figures"))
    assert drawn.returncode == 0, drawn.stdout + drawn.stderr
    assert "no evaluation under traffic" not in drawn.stdout + drawn.stderr
    assert list((tmp_path / "figures").glob("smarts-safety*.png"))
    monkeypatch.setenv("MARLBENCH_PRESETS", str(presets))  # its runs are this preset's, not stale
    figure = api.draw_figure(book, "smarts-safety", api.figure_options()).drawing.figure
    collision = figure.axes[0]
    assert [t.get_text() for t in collision.get_xticklabels()] == ["low traffic", "high traffic"]
    heights = [bar.get_height() for bar in collision.patches]
    for eval_id, level in traffic.items():
        frame = later[later["eval_id"] == eval_id]
        assert heights[["low", "high"].index(level)] == pytest.approx(frame["metric_collided"].mean())
