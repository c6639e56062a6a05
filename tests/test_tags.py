"""``--tag`` filters (issue 18 item 3): ``runs``, ``compare`` and ``report`` keep the runs with every tag."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from conftest import TINY
from typer.testing import CliRunner

from marlbench import api
from marlbench.cli import app
from marlbench.reports.data import filter_runs
from marlbench.reports.figures import get_figure

runner = CliRunner()


def test_filter_runs_keeps_runs_with_every_tag() -> None:
    runs = pd.DataFrame(
        {
            "run_id": ["a", "b", "c", "d"],
            "algo": ["ppo"] * 4,
            "variant": [""] * 4,
            "env": ["mpe-spread"] * 4,
            "preset": [""] * 4,
            "tags": ["x", "x,y", "y", ""],
        }
    )
    assert list(filter_runs(runs, tags=["x"])["run_id"]) == ["a", "b"]
    assert list(filter_runs(runs, tags=["x", "y"])["run_id"]) == ["b"]
    assert list(filter_runs(runs, tags=["xy"])["run_id"]) == []  # whole tags, not substrings
    assert len(filter_runs(runs)) == 4


def test_runs_compare_and_report_filter_on_tags(ledger_dir: Path, tmp_path: Path) -> None:
    book = api.open_ledger(ledger_dir, create=True)
    for seed, tags in ((0, ["sweep"]), (1, ["sweep", "best"]), (2, [])):
        api.train(
            "random",
            env="mpe-spread",
            steps=50,
            seed=seed,
            ledger=book,
            hyperparams=TINY["random"],
            tags=tags,
        )
    env = {"COLUMNS": "300"}
    listing = runner.invoke(app, ["runs", "--tag", "sweep", "--tag", "best"], env=env).output
    assert "-s1-" in listing and "-s0-" not in listing and "-s2-" not in listing
    empty = runner.invoke(app, ["runs", "--tag", "nothing"], env=env).output
    assert "matching the filters" in empty
    table = api.compare(book, tags=["sweep"], references=False)
    assert int(table.rows["seeds"].iloc[0]) == 2
    result = runner.invoke(app, ["compare", "--tag", "best", "--format", "json", "--no-reference"], env=env)
    assert result.exit_code == 0 and '"seeds": 1' in result.stdout
    none = runner.invoke(app, ["compare", "--tag", "nothing"], env=env)
    assert none.exit_code == 2 and "with tags nothing" in none.output
    options = api.figure_options(tags=["sweep"])
    chosen = get_figure("learning-curves").select(book.runs(), options)
    assert sorted(chosen["seed"]) == [0, 1]
    drawn = runner.invoke(
        app, ["report", "--figure", "learning-curves", "--tag", "nothing", "--out", str(tmp_path)], env=env
    )
    assert drawn.exit_code == 2  # no run carries that tag: nothing drawn
