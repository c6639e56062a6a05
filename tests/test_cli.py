"""The command line: every foundation command, and every bad input ending in one clear message, exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import tiny_cli_args
from typer.testing import CliRunner

from marlbench.cli import app

runner = CliRunner()

# A PPO run small enough for a test: one env copy, short rollouts, few evaluation episodes.
TINY = tiny_cli_args("ppo")


def invoke(*args: str):
    return runner.invoke(app, list(args))


def assert_user_error(result, *needles: str) -> None:
    """Exit code 2, an 'error:' line naming the problem, a fix, no traceback."""
    output = result.output
    assert result.exit_code == 2, output
    assert "error:" in output, output
    assert "Traceback" not in output, output
    for needle in needles:
        assert needle in output, f"{needle!r} not in {output!r}"


def ledger_runs(path: Path) -> int:
    from marlbench.ledger import Ledger

    return len(Ledger(path).runs())


def test_version_and_help() -> None:
    result = invoke("--version")
    assert result.exit_code == 0 and result.output.startswith("marlbench ")
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("envs", "algos", "train", "runs", "evaluate"):
        assert command in result.output


def test_help_does_not_import_heavy_modules() -> None:
    """--help must be instant: the CLI module may not pull in torch, SB3 or pandas."""
    code = (
        "import sys, marlbench.cli; "
        "names = ('torch', 'stable_baselines3', 'pandas', 'pyarrow', 'smarts'); "
        "heavy = [m for m in names if m in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_envs_lists_registry_and_shows_options() -> None:
    result = invoke("envs")
    assert result.exit_code == 0
    assert "mpe-spread" in result.output and "package.module:factory" in result.output
    result = invoke("envs", "mpe-spread")
    assert result.exit_code == 0
    for option in ("n_agents", "continuous", "max_cycles"):
        assert option in result.output


def test_algos_catalogue_and_details() -> None:
    result = invoke("algos")
    assert result.exit_code == 0
    for name in ("PPO", "MADDPG", "TD3", "QR-DQN", "Prioritized Experience Replay"):
        assert name in result.output
    result = invoke("algos", "ppo")
    assert result.exit_code == 0
    assert "learning_rate" in result.output and "0.0003" in result.output


@pytest.mark.slow
def test_train_runs_show_roundtrip(ledger_dir: Path) -> None:
    result = invoke(
        "train",
        "ppo",
        "--env",
        "mpe-spread",
        *TINY,
        "--seeds",
        "0,1",
        "--jobs",
        "2",
        "--set",
        "learning_rate=5e-4",
        "--tag",
        "quick",
    )
    assert result.exit_code == 0, result.output
    from marlbench.ledger import Ledger

    book = Ledger(ledger_dir)
    runs = book.runs()
    assert sorted(runs["seed"]) == [0, 1]
    assert set(runs["status"]) == {"finished"}
    assert set(runs["tags"]) == {"quick"}
    import json

    config = json.loads(runs["config"].iloc[0])
    assert config["resolved"]["hyperparams"]["learning_rate"] == 5e-4
    assert (runs["steps"] >= 200).all()
    episodes = book.episodes()
    assert set(episodes["agent"]) == {"agent_0", "agent_1", "agent_2"}
    assert (episodes["length"] == 25).all()

    listing = invoke("runs")
    assert listing.exit_code == 0
    run_id = runs["run_id"].iloc[0]
    assert run_id[:20] in listing.output
    shown = invoke("runs", "show", run_id)
    assert shown.exit_code == 0, shown.output
    assert "agent_0" in shown.output and "learning_rate" in shown.output and "finished" in shown.output


def test_evaluate_writes_new_evaluation(ledger_dir: Path) -> None:
    assert invoke("train", "ppo", "--env", "mpe-spread", *TINY).exit_code == 0
    from marlbench.ledger import Ledger

    book = Ledger(ledger_dir)
    run_id = book.runs()["run_id"].iloc[0]
    before = book.evals([run_id])["eval_id"].max()
    result = invoke("evaluate", run_id, "--episodes", "3")
    assert result.exit_code == 0, result.output
    assert "agent_2" in result.output and "all agents" in result.output
    evals = book.evals([run_id])
    newest = evals[evals["eval_id"] == evals["eval_id"].max()]
    assert newest["eval_id"].iloc[0] == before + 1
    assert len(newest) == 3 * 3  # 3 episodes x 3 agents


def test_user_environment_by_import_path(ledger_dir: Path) -> None:
    result = invoke("train", "ppo", "--env", "user_env:make", *TINY)
    assert result.exit_code == 0, result.output
    from marlbench.ledger import Ledger

    episodes = Ledger(ledger_dir).episodes()
    a, b = episodes[episodes["agent"] == "a"], episodes[episodes["agent"] == "b"]
    # known returns of CountingEnv(length=4): a leaves after 2 steps (reward 1 each), b stays 4 (2 each)
    assert set(a["reward"]) == {2.0} and set(a["length"]) == {2}
    assert set(b["reward"]) == {8.0} and set(b["length"]) == {4}
    assert set(episodes["metric_steps"]) == {2.0, 4.0}


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["train", "ppp", "--env", "mpe-spread"], ["unknown algorithm 'ppp'", "did you mean 'ppo'"]),
        (["train", "ppo", "--env", "mpe-sprd"], ["unknown environment", "did you mean 'mpe-spread'"]),
        (
            ["train", "ppo", "--env", "mpe-spread", "--set", "learning_rat=1"],
            ["no hyperparameter", "learning_rate"],
        ),
        (["train", "ppo", "--env", "mpe-spread", "--set", "learning_rate=abc"], ["not a number"]),
        (["train", "ppo", "--env", "mpe-spread", "--set", "learning_rate=0"], ["learning_rate=0.0", "> 0.0"]),
        (["train", "ppo", "--env", "mpe-spread", "--set", "batch_size=0"], ["batch_size=0", ">= 1"]),
        (["train", "ppo", "--env", "mpe-spread", "--set", "gamma=1.5"], ["gamma=1.5", "<= 1.0"]),
        (["train", "ppo", "--env", "mpe-spread", "--steps", "-5"], ["--steps -5 must be positive"]),
        (["train", "ppo", "--env", "mpe-spread", "--seeds", "a,b"], ["--seeds 'a,b' does not parse"]),
        (["train", "ppo", "--env", "mpe-spread", "--seeds", "0"], ["positive count"]),
        (
            ["train", "ppo", "--env", "mpe-spread", "--env-opt", "nagents=2"],
            ["no option 'nagents'", "n_agents"],
        ),
        (["train", "ppo", "--env", "mpe-spread", "--env-opt", "n_agents=two"], ["not an integer"]),
        (["train", "ppo", "--env", "mpe-spread", "--set", "oops"], ["not of the form key=value"]),
        (["train", "dqn", "--env", "mpe-spread", "--env-opt", "continuous=true"], ["continuous=false"]),
        (["train", "sac", "--env", "mpe-spread"], ["continuous=true"]),
        (["train", "ppo", "--env", "no_such_module_xyz:make"], ["cannot import module 'no_such_module_xyz'"]),
        (["train", "ppo", "--env", "user_env:not_an_env"], ["not a PettingZoo ParallelEnv"]),
        (["train", "ppo", "--env", "user_env:missing"], ["has no callable 'missing'"]),
        # a user env's action kind follows its options: continuous=True makes it continuous
        (["train", "dqn", "--env", "user_env:make", "--env-opt", "continuous=true"], ["continuous=false"]),
        (["train", "ppo", "--env", "mpe-spread", "--per"], ["no prioritized replay"]),
        (["train", "lbs", "--env", "mpe-spread"], ["image observations"]),  # refused by the constructor
        (["train", "ctedd", "--env", "mpe-spread"], ["continuous=true"]),
        (["train", "ppo", "--env", "mpe-spread", "--jobs", "0"], ["--jobs 0"]),
        (["train", "ppo"], ["no environment given"]),
        (["runs", "show", "nope-123"], ["no run 'nope-123'"]),
        (["evaluate", "nope-123"], ["no run 'nope-123'"]),
        (["envs", "nope"], ["unknown environment"]),
        (["algos", "nope"], ["unknown algorithm"]),
    ],
)
def test_bad_input_is_one_clear_error(ledger_dir: Path, args: list[str], needles: list[str]) -> None:
    result = invoke(*args)
    assert_user_error(result, *needles)
    assert ledger_runs(ledger_dir) == 0


def test_unwritable_ledger_path(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = invoke("train", "ppo", "--env", "mpe-spread", "--ledger", str(blocker), *TINY)
    assert_user_error(result, str(blocker))
    result = invoke("runs", "--ledger", str(blocker))
    assert_user_error(result, str(blocker))


def test_ledger_env_variable_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "elsewhere"
    monkeypatch.setenv("MARLBENCH_LEDGER", str(target))
    result = invoke("runs")
    assert result.exit_code == 0
    assert str(target) in result.output.replace("\n", "")


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (
            ["--batch-size", "64", "--set", "batch_size=32"],
            ["two values for batch_size: --batch-size 64 and --set batch_size=32", "give one of them"],
        ),
        (
            ["--per", "--set", "per=false"],
            ["two values for per: --per and --set per=false", "give one of them"],
        ),
    ],
)
def test_a_flag_and_a_set_for_one_key_are_refused(
    ledger_dir: Path, args: list[str], needles: list[str]
) -> None:
    """Neither silently wins: the run is refused before anything is trained or written."""
    result = invoke("train", "maddpg", "--env", "mpe-spread", "--env-opt", "continuous=true", *args)
    assert_user_error(result, *needles)
    assert ledger_runs(ledger_dir) == 0


def test_flags_become_typed_hyperparams(ledger_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--batch-size is an int and --per a bool in the specs the CLI hands to the API."""
    from marlbench import api

    seen: dict[str, object] = {}

    def fake_train_many(specs, *, jobs, ledger, progress, notify=None, warn=None):
        seen.update(specs=specs, jobs=jobs)
        return []

    monkeypatch.setattr(api, "train_many", fake_train_many)
    args = ["--env-opt", "continuous=true", "--seeds", "0-2", "--jobs", "3", "--set", "gamma=0.9"]
    result = invoke("train", "maddpg", "--env", "mpe-spread", *args, "--batch-size", "64", "--per")
    assert result.exit_code == 0, result.output
    specs = seen["specs"]
    assert [s.seed for s in specs] == [0, 1, 2] and seen["jobs"] == 3
    assert specs[0].hyperparams == {"gamma": "0.9", "batch_size": 64, "per": True}
    assert type(specs[0].hyperparams["batch_size"]) is int
    assert specs[0].env_options == {"continuous": "true"}


def test_batch_size_flag_on_an_algorithm_without_one(ledger_dir: Path) -> None:
    result = invoke("train", "ctedd", "--env", "mpe-spread", "--env-opt", "continuous=true", "--per")
    assert_user_error(result, "'ctedd' has no prioritized replay", "drop --per")
    result = invoke("train", "a2c", "--env", "mpe-spread", "--batch-size", "8")
    assert_user_error(result, "'a2c' has no batch_size hyperparameter", "drop --batch-size")
    assert ledger_runs(ledger_dir) == 0


def test_reevaluation_summary_per_agent_and_team() -> None:
    """The numbers 'marlbench evaluate' prints: per-agent mean/std, then the pooled team row."""
    from marlbench.envs.array import EpisodeRecord
    from marlbench.training.reevaluate import summarize

    records = [
        EpisodeRecord(0, {"a": 1.0, "b": 4.0}, {"a": 5, "b": 5}, {"a": {"collided": 1.0}, "b": {}}),
        EpisodeRecord(0, {"a": 3.0, "b": 8.0}, {"a": 5, "b": 5}, {"a": {"collided": 0.0}, "b": {}}),
    ]
    names, results = summarize(records)
    assert names == ["collided"]
    a, b, team = results
    assert (a.label, a.mean, a.std, a.metrics["collided"], a.team) == ("a", 2.0, 1.0, 0.5, False)
    assert (b.mean, b.std) == (6.0, 2.0) and b.metrics["collided"] != b.metrics[
        "collided"
    ]  # NaN: never reported
    assert (team.label, team.mean, team.team) == ("all agents", 4.0, True)
    assert team.std == pytest.approx(2.5495, abs=1e-4)  # population std of 1, 3, 4, 8
    assert team.metrics["collided"] == 0.5


def test_cli_imports_only_the_api_and_its_own_helpers() -> None:
    """cli/ does its work through marlbench.api; no command module imports the app (no circle)."""
    import ast

    def imports(path: Path) -> set[str]:
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name for a in node.names}
            elif (
                isinstance(node, ast.ImportFrom) and node.module
            ):  # from marlbench import api -> marlbench.api
                names |= {f"{node.module}.{a.name}" for a in node.names}
        return {n for n in names if n.startswith("marlbench")}

    helpers = {"marlbench.api", "marlbench.errors.ConfigError", "marlbench.errors.MarlbenchError"}
    commands = {"catalog", "export", "presets", "query", "render", "reports", "runs", "train", "verdict"}
    folder = Path(__file__).parents[1] / "marlbench" / "cli"
    assert imports(folder / "__init__.py") == {"marlbench.cli.app.app"}
    assert imports(folder / "app.py") == {"marlbench.__version__", *(f"marlbench.cli.{c}" for c in commands)}
    for name in sorted(commands | {"common"}):
        ours = {n for n in imports(folder / f"{name}.py") if not n.startswith("marlbench.cli.common.")}
        assert ours <= helpers, f"{name}.py imports {sorted(ours - helpers)}"
    assert imports(folder / "entry.py") == {"marlbench.cli.app"}  # the console script: exec, then the app
    expected = {"__init__", "app", "common", "entry", *commands}
    assert sorted(p.stem for p in folder.glob("*.py")) == sorted(expected)


def test_runs_with_an_unknown_status_is_refused(ledger_dir) -> None:
    result = invoke("runs", "--status", "finishd")
    assert (
        result.exit_code == 2
        and "not a run status" in result.output
        and "did you mean 'finished'" in result.output
    )
    assert invoke("runs", "--status", "crashed").exit_code == 0  # a status the ledger derives is fine
