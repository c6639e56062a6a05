"""Every bad input answered (issue 19, items 10 and 11): one row per mistake, each ending in exit code 2,
one message naming the problem, no traceback, and nothing written (no ledger folders created).

Rows name placeholders that fixtures fill in: ``{run}`` a finished run, ``{garbage}`` a run whose
checkpoint is garbage, ``{file}`` an existing plain file, ``{latin1}`` a non-UTF-8 preset, ``{novariants}``
a preset without variants, ``{ro}`` a read-only directory (rows skipped where none can be made).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from marlbench.cli import app

P = "ppo"
SPREAD = ["--env", "mpe-spread", "--steps", "200"]
BIG = "99999999999999999999"  # beyond int64
BAD_ENV = "bad_inputs_envs"

Row = tuple[str, list[str], dict[str, str], str]
ROWS: list[Row] = [
    # ---- train: budgets and numbers --------------------------------------------------------------
    ("steps-int64", ["train", P, "--env", "mpe-spread", "--steps", BIG], {}, "too large"),
    ("steps-zero", ["train", P, "--env", "mpe-spread", "--steps", "0"], {}, "must be positive"),
    ("steps-negative", ["train", P, "--env", "mpe-spread", "--steps", "-5"], {}, "must be positive"),
    ("steps-text", ["train", P, "--env", "mpe-spread", "--steps", "ten"], {}, "invalid value"),
    ("steps-float", ["train", P, "--env", "mpe-spread", "--steps", "1.5"], {}, "invalid value"),
    ("seed-2^32", ["train", P, *SPREAD, "--seed", "4294967296"], {}, "2^32"),
    ("seed-huge", ["train", P, *SPREAD, "--seed", BIG], {}, "2^32"),
    ("seed-negative", ["train", P, *SPREAD, "--seed", "-1"], {}, "must lie between"),
    ("seeds-million", ["train", P, *SPREAD, "--seeds", "1000000"], {}, "more than 1,000"),
    ("seeds-huge-count", ["train", P, *SPREAD, "--seeds", BIG], {}, "more than 1,000"),
    ("seeds-huge-range", ["train", P, *SPREAD, "--seeds", "0-99999999999"], {}, "more than 1,000"),
    ("seeds-2^32-list", ["train", P, *SPREAD, "--seeds", "0,4294967296"], {}, "2^32"),
    ("seeds-repeat", ["train", P, *SPREAD, "--seeds", "1,1"], {}, "repeats a seed"),
    ("seeds-text", ["train", P, *SPREAD, "--seeds", "abc"], {}, "does not parse"),
    ("seeds-zero", ["train", P, *SPREAD, "--seeds", "0"], {}, "positive count"),
    ("seeds-empty-range", ["train", P, *SPREAD, "--seeds", "5-2"], {}, "range is empty"),
    ("eval-every-zero", ["train", P, *SPREAD, "--eval-every", "0"], {}, "must be positive"),
    ("eval-every-int64", ["train", P, *SPREAD, "--eval-every", BIG], {}, "too large"),
    ("eval-episodes-negative", ["train", P, *SPREAD, "--eval-episodes", "-1"], {}, "must be >= 0"),
    ("eval-episodes-huge", ["train", P, *SPREAD, "--eval-episodes", "100000000000"], {}, "more than"),
    ("checkpoint-every-zero", ["train", P, *SPREAD, "--checkpoint-every", "0"], {}, "must be positive"),
    ("checkpoint-every-int64", ["train", P, *SPREAD, "--checkpoint-every", BIG], {}, "too large"),
    ("jobs-zero", ["train", P, *SPREAD, "--jobs", "0"], {}, "--jobs 0"),
    ("jobs-negative", ["train", P, *SPREAD, "--jobs", "-2"], {}, "--jobs -2"),
    # ---- train: hyperparameters -----------------------------------------------------------------
    ("batch-size-huge", ["train", P, *SPREAD, "--batch-size", "99999999999"], {}, "larger than one rollout"),
    ("batch-size-huge-maddpg", ["train", "maddpg", *SPREAD, "--batch-size", "99999999999"], {}, "replay"),
    ("batch-size-int64", ["train", P, *SPREAD, "--batch-size", BIG], {}, "too large"),
    ("batch-size-zero", ["train", P, *SPREAD, "--batch-size", "0"], {}, "batch_size"),
    (
        "batch-size-twice",
        ["train", P, *SPREAD, "--batch-size", "8", "--set", "batch_size=16"],
        {},
        "two values",
    ),
    ("set-int64", ["train", P, *SPREAD, "--set", f"n_steps={BIG}"], {}, "too large"),
    ("set-text-for-float", ["train", P, *SPREAD, "--set", "gamma=abc"], {}, "not a number"),
    ("set-nan", ["train", P, *SPREAD, "--set", "learning_rate=nan"], {}, "not finite"),
    ("set-unknown", ["train", P, *SPREAD, "--set", "nosuch=1"], {}, "nosuch"),
    ("set-malformed", ["train", P, *SPREAD, "--set", "gamma"], {}, "gamma"),
    ("per-on-ppo", ["train", P, *SPREAD, "--per"], {}, "no prioritized replay"),
    # ---- train: environment options ---------------------------------------------------------------
    ("n-agents-zero", ["train", P, *SPREAD, "--env-opt", "n_agents=0"], {}, "at least 1"),
    ("n-agents-negative", ["train", P, *SPREAD, "--env-opt", "n_agents=-3"], {}, "at least 1"),
    ("n-agents-text", ["train", P, *SPREAD, "--env-opt", "n_agents=many"], {}, "not an integer"),
    ("n-agents-int64", ["train", P, *SPREAD, "--env-opt", f"n_agents={BIG}"], {}, "too large"),
    ("local-ratio-nan", ["train", P, *SPREAD, "--env-opt", "local_ratio=nan"], {}, "not a finite number"),
    ("local-ratio-inf", ["train", P, *SPREAD, "--env-opt", "local_ratio=inf"], {}, "not a finite number"),
    ("local-ratio-5", ["train", P, *SPREAD, "--env-opt", "local_ratio=5"], {}, "between 0 and 1"),
    ("local-ratio-negative", ["train", P, *SPREAD, "--env-opt", "local_ratio=-0.1"], {}, "between 0 and 1"),
    ("max-cycles-zero", ["train", P, *SPREAD, "--env-opt", "max_cycles=0"], {}, "at least 1"),
    ("max-cycles-negative", ["train", P, *SPREAD, "--env-opt", "max_cycles=-25"], {}, "at least 1"),
    ("pursuit-evaders-zero", ["train", P, "--env", "pursuit", "--env-opt", "n_evaders=0"], {}, "at least 1"),
    (
        "atari-sticky-2",
        ["train", P, "--env", "atari-pong", "--env-opt", "repeat_action_probability=2"],
        {},
        "0 and 1",
    ),
    ("env-opt-unknown", ["train", P, *SPREAD, "--env-opt", "nosuch=1"], {}, "no option 'nosuch'"),
    ("env-opt-malformed", ["train", P, *SPREAD, "--env-opt", "n_agents"], {}, "n_agents"),
    ("env-opt-bool", ["train", P, *SPREAD, "--env-opt", "continuous=maybe"], {}, "not a boolean"),
    ("env-opt-choice", ["train", P, *SPREAD, "--env-opt", "backend=gpu"], {}, "not allowed"),
    # ---- train: what to train ----------------------------------------------------------------------
    ("no-algo", ["train", "--env", "mpe-spread"], {}, "no algorithm given"),
    ("no-env", ["train", P], {}, "no environment given"),
    ("unknown-algo", ["train", "nosuch", *SPREAD], {}, "unknown algorithm"),
    ("unknown-env", ["train", P, "--env", "nosuch-env"], {}, "nosuch-env"),
    ("env-import-missing", ["train", P, "--env", "no_such_module:make"], {}, "no_such_module"),
    ("env-factory-raises", ["train", P, "--env", f"{BAD_ENV}:raising"], {}, "raising"),
    ("env-no-agents", ["train", P, "--env", f"{BAD_ENV}:no_agents"], {}, "no agents"),
    ("env-not-an-env", ["train", P, "--env", f"{BAD_ENV}:not_an_env"], {}, "not_an_env"),
    ("multi-on-single", ["train", "maddpg", "--env", "atari-pong"], {}, "one agent"),
    ("resume-unknown", ["train", "--resume", "nosuch-run"], {}, "no run 'nosuch-run'"),
    ("resume-with-steps", ["train", "--resume", "x", "--steps", "5"], {}, "would be ignored"),
    ("resume-with-set", ["train", "--resume", "x", "--set", "gamma=0.5"], {}, "would be ignored"),
    ("resume-finished", ["train", "--resume", "{run}"], {}, "already finished"),
    ("resume-garbage", ["train", "--resume", "{garbage}"], {}, "cannot be loaded"),
    # ---- train: environment variables and the ledger ----------------------------------------------
    ("threads-text", ["train", P, *SPREAD], {"MARLBENCH_THREADS": "abc"}, "MARLBENCH_THREADS"),
    ("threads-zero", ["train", P, *SPREAD], {"MARLBENCH_THREADS": "0"}, "between 1 and"),
    ("threads-negative", ["train", P, *SPREAD], {"MARLBENCH_THREADS": "-1"}, "between 1 and"),
    ("ledger-empty", ["train", P, *SPREAD, "--ledger", ""], {}, "--ledger is empty"),
    ("ledger-blank", ["train", P, *SPREAD, "--ledger", "  "], {}, "--ledger is empty"),
    ("ledger-is-file", ["train", P, *SPREAD, "--ledger", "{file}"], {}, "is a file"),
    ("ledger-read-only", ["train", P, *SPREAD, "--ledger", "{ro}"], {}, "cannot"),
    # ---- train: this wave's options -----------------------------------------------------------------
    ("collectors-alone", ["train", "maddpg", *SPREAD, "--collectors", "2"], {}, "need --distributed"),
    ("ray-address-alone", ["train", "maddpg", *SPREAD, "--ray-address", "x:1"], {}, "need --distributed"),
    ("resume-distributed", ["train", "--resume", "x", "--distributed"], {}, "would be ignored"),
    ("tensorboard-file", ["train", P, *SPREAD, "--tensorboard", "{file}"], {}, "tensorboard"),
    ("trust-ledger-alone", ["train", P, *SPREAD, "--trust-ledger"], {}, "only goes with --resume"),
    ("resume-other-env", ["train", "--resume", "{garbage}", "--env", "pursuit"], {}, "trains on"),
    # ---- evaluate -----------------------------------------------------------------------------------
    ("evaluate-unknown", ["evaluate", "nosuch-run"], {}, "no run 'nosuch-run'"),
    ("evaluate-episodes-zero", ["evaluate", "{run}", "--episodes", "0"], {}, "at least 1"),
    ("evaluate-episodes-1e20", ["evaluate", "{run}", "--episodes", "100000000000000000000"], {}, "between 1"),
    ("evaluate-episodes-1e6", ["evaluate", "{run}", "--episodes", "1000000"], {}, "between 1 and 100,000"),
    ("evaluate-env-opt-zero", ["evaluate", "{run}", "--env-opt", "max_cycles=0"], {}, "at least 1"),
    ("evaluate-env-opt-unknown", ["evaluate", "{run}", "--env-opt", "nosuch=1"], {}, "no option"),
    ("evaluate-garbage-checkpoint", ["evaluate", "{garbage}"], {}, "cannot be loaded"),
    ("evaluate-read-only", ["evaluate", "{run}", "--ledger", "{ro_ledger}"], {}, "cannot write"),
    ("evaluate-nothing", ["evaluate"], {}, "give one run id or --preset"),
    (
        "evaluate-run-and-preset",
        ["evaluate", "{run}", "--preset", "quickstart"],
        {},
        "give one run id or --preset",
    ),
    ("evaluate-preset-not-run", ["evaluate", "--preset", "quickstart"], {}, "no finished runs of preset"),
    ("evaluate-shape-change", ["evaluate", "{run}", "--env-opt", "n_agents=4"], {}, "n_agents"),
    # ---- runs ------------------------------------------------------------------------------------------
    ("runs-status-bogus", ["runs", "--status", "bogus"], {}, "not a run status"),
    ("runs-algo-nosuch", ["runs", "--algo", "nosuch"], {}, "not an algorithm"),
    ("runs-show-unknown", ["runs", "show", "nosuch-run"], {}, "no run 'nosuch-run'"),
    ("runs-ledger-file", ["runs", "--ledger", "{file}"], {}, "is a file"),
    # ---- compare and report --------------------------------------------------------------------------
    ("compare-format", ["compare", "--format", "xls"], {}, "unknown format"),
    ("compare-aggregate", ["compare", "--aggregate", "team-max"], {}, "not a team aggregation"),
    ("compare-eval-options-form", ["compare", "--eval-options", "nokv"], {}, "not of the form key=value"),
    ("compare-eval-options-empty-key", ["compare", "--eval-options", "=3"], {}, "not of the form key=value"),
    ("report-figure-unknown", ["report", "--figure", "nosuch"], {}, "nosuch"),
    ("report-aggregate", ["report", "--figure", "learning-curves", "--aggregate", "bogus"], {}, "bogus"),
    (
        "report-out-file",
        ["report", "--figure", "learning-curves", "--ledger", "{ledger}", "--out", "{file}"],
        {},
        "cannot",
    ),
    (
        "report-out-read-only",
        ["report", "--figure", "learning-curves", "--ledger", "{ledger}", "--out", "{ro}"],
        {},
        "cannot write",
    ),
    # ---- presets ----------------------------------------------------------------------------------------
    ("preset-unknown", ["preset", "show", "nosuch"], {}, "nosuch"),
    ("preset-latin1-show", ["preset", "show", "{latin1}"], {}, "not utf-8"),
    ("preset-latin1-run", ["preset", "run", "{latin1}"], {}, "not utf-8"),
    ("preset-no-variants", ["preset", "show", "{novariants}"], {}, "no [[variants]]"),
    ("preset-seeds-million", ["preset", "show", "quickstart", "--seeds", "1000000"], {}, "more than 1,000"),
    ("preset-scale-zero", ["preset", "run", "quickstart", "--scale", "0"], {}, "scale"),
    ("preset-tier-unknown", ["preset", "run", "quickstart", "--tier", "nosuch"], {}, "nosuch"),
    ("preset-jobs-zero", ["preset", "run", "quickstart", "--jobs", "0"], {}, "--jobs 0"),
    ("preset-eval-episodes-zero", ["preset", "run", "quickstart", "--eval-episodes", "0"], {}, "between 1"),
    ("preset-eval-episodes-int64", ["preset", "run", "quickstart", "--eval-episodes", BIG], {}, "between 1"),
    ("preset-show-eval-episodes", ["preset", "show", "quickstart", "--eval-episodes", "-1"], {}, "between 1"),
    # ---- this wave's commands ------------------------------------------------------------------------
    ("verdict-unknown", ["verdict", "nosuch"], {}, "nosuch"),
    ("verdict-format", ["verdict", "quickstart", "--format", "xls"], {}, "xls"),
    ("query-bad-sql", ["query", "SELEC 1"], {}, "selec"),
    ("query-format", ["query", "SELECT 1", "--format", "xls"], {}, "xls"),
    ("render-unknown", ["render", "nosuch-run"], {}, "no run 'nosuch-run'"),
    ("render-episodes-zero", ["render", "{run}", "--episodes", "0"], {}, "episodes"),
]


BAD_ENVS = '''
"""Environment factories that fail in the ways a user's can."""


def raising(**options):
    raise RuntimeError("the factory raising broke")


def not_an_env(**options):
    return 42


from pettingzoo import ParallelEnv


class _Empty(ParallelEnv):
    possible_agents = []
    agents = []
    metadata = {}

    def reset(self, seed=None, options=None):
        return {}, {}

    def step(self, actions):
        return {}, {}, {}, {}, {}


def no_agents(**options):
    return _Empty()
'''


@pytest.fixture(autouse=True)
def _alarm() -> Iterator[None]:
    """A refused input answers at once: a row that starts training (or hangs) fails after 60 s."""

    def hung(signum: int, frame: Any) -> None:
        raise TimeoutError("the command did not answer within 60 s: it ran instead of refusing")

    old = signal.signal(signal.SIGALRM, hung)
    signal.alarm(60)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A ledger with a finished run and a garbage-checkpoint run, bad files and read-only folders."""
    from fakes import register_fake, unregister_fake

    from marlbench import api
    from marlbench.config import RunSpec

    base = tmp_path_factory.mktemp("bad-inputs")
    register_fake()
    book = api.open_ledger(base / "ledger", create=True)
    row = api.train("fake", "cn-v1", steps=50, ledger=book, eval_episodes=1)
    garbage = dict(row, run_id="ppo-garbage", algo="ppo", checkpoint="checkpoints/ppo-garbage/latest")
    spec = RunSpec("ppo", "cn-v1", steps=64, hyperparams={"n_envs": 1, "n_steps": 32, "batch_size": 32})
    garbage.update(config=spec.to_json(), status="interrupted")
    (base / "ledger" / garbage["checkpoint"]).mkdir(parents=True)
    (base / "ledger" / garbage["checkpoint"] / "model.zip").write_bytes(b"PK\x03\x04 not a zip at all")
    (base / "ledger" / garbage["checkpoint"] / "marlbench.json").write_text('{"steps": 32}')
    book.put_run({k: v for k, v in garbage.items() if k != "updated_at"})
    (base / "plain-file").write_text("not a directory")
    (base / "latin1.toml").write_bytes('name = "latin1"\n# caf\xe9\n'.encode("latin-1"))
    (base / "novariants.toml").write_text('[defaults]\nenv = "cn-v1"\n')
    (base / f"{BAD_ENV}.py").write_text(textwrap.dedent(BAD_ENVS))
    values = {
        "run": row["run_id"],
        "garbage": "ppo-garbage",
        "file": str(base / "plain-file"),
        "latin1": str(base / "latin1.toml"),
        "novariants": str(base / "novariants.toml"),
        "base": base,
        "ledger": base / "ledger",
    }
    mounted = _read_only(base, values)
    try:
        yield values
    finally:
        unregister_fake()
        for path in mounted:
            subprocess.run(["umount", str(path)], capture_output=True)


def _read_only(base: Path, values: dict[str, Any]) -> list[Path]:
    """Fill ``{ro}`` (an empty read-only folder) and ``{ro_ledger}`` (a read-only copy of the ledger).

    A plain user gets them with chmod; root ignores modes, so for root they are read-only tmpfs
    mounts when mounting is allowed. Rows using them are skipped where neither works.
    """
    ro, ro_ledger = base / "ro", base / "ro-ledger"
    ro.mkdir()
    shutil.copytree(values["ledger"], ro_ledger)
    if os.geteuid() != 0:
        for path in [ro_ledger, *ro_ledger.rglob("*")]:
            if path.is_dir():
                path.chmod(0o555)
        ro.chmod(0o555)
        values.update(ro=str(ro), ro_ledger=str(ro_ledger))
        return []
    mounted = []
    for path in (ro, ro_ledger):
        copy = base / f"{path.name}-copy"
        shutil.copytree(path, copy)
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(path)]).returncode:
            return mounted
        mounted.append(path)
        shutil.copytree(copy, path, dirs_exist_ok=True)
        if subprocess.run(["mount", "-o", "remount,ro", str(path)]).returncode:
            return mounted
    values.update(ro=str(ro), ro_ledger=str(ro_ledger))
    return mounted


def snapshot(root: Path) -> dict[str, float]:
    """Every file under ``root`` and its modification time (a run's ``.lock`` file is not data)."""
    if not root.exists():
        return {}
    return {str(p): p.stat().st_mtime for p in root.rglob("*") if p.is_file() and p.suffix != ".lock"}


@pytest.mark.parametrize(("args", "env", "phrase"), [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_a_bad_input_is_refused_with_one_message(
    world: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args, env, phrase
) -> None:
    text = " ".join(args)
    if "{ro" in text and "ro" not in world:
        pytest.skip("no read-only folder can be made here (root without mount)")
    monkeypatch.syspath_prepend(str(world["base"]))
    monkeypatch.chdir(tmp_path)  # --ledger "" would write into the current directory
    fresh = tmp_path / "fresh-ledger"
    uses_world = any(p in text for p in ("{run}", "{garbage}", "{ledger}"))
    ledger = world["ledger"] if uses_world else fresh
    argv = [a.format(**world) for a in args]
    before, here = snapshot(world["ledger"]), snapshot(tmp_path)
    result = CliRunner().invoke(app, argv, env={"MARLBENCH_LEDGER": str(ledger), "COLUMNS": "300", **env})
    output = result.output
    assert result.exit_code == 2, f"exit {result.exit_code}: {output}\n{result.exception!r}"
    assert phrase.lower() in output.lower(), output
    assert "Traceback" not in output and not isinstance(result.exception, TimeoutError)
    assert output.count("error:") <= 1, output  # one message
    assert not fresh.exists(), f"created {sorted(p.name for p in fresh.rglob('*'))}"
    assert snapshot(world["ledger"]) == before and snapshot(tmp_path) == here  # nothing written


def test_the_table_covers_every_command_and_enough_cases() -> None:
    assert len(ROWS) >= 80 and len({r[0] for r in ROWS}) == len(ROWS)
    commands = {r[1][0] for r in ROWS}
    assert commands >= {
        "train",
        "evaluate",
        "runs",
        "compare",
        "report",
        "preset",
        "verdict",
        "query",
        "render",
    }


def test_a_broken_preset_file_does_not_break_the_others(world: dict[str, Any], monkeypatch) -> None:
    folder = world["base"] / "presets-dir"
    folder.mkdir(exist_ok=True)
    shutil.copy(world["latin1"], folder / "latin1.toml")
    monkeypatch.setenv("MARLBENCH_PRESETS", str(folder))
    result = CliRunner().invoke(app, ["preset", "list"], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    assert "latin1" in result.output and "quickstart" in result.output and "broken" in result.output


def test_the_garbage_run_is_still_as_it_was(world: dict[str, Any]) -> None:
    from marlbench.ledger import Ledger

    row = Ledger(world["ledger"]).get_run("ppo-garbage")
    assert (row["status"], json.loads(row["config"])["algo"]) == ("interrupted", "ppo")
