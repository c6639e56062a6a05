"""``marlbench results``: results/README.md regenerated from a ledger (issue 16, part 3's pipeline).

A tiny fixture ledger (hand-built Parquet, in tmp_path) holds night-tier runs of lbs-pursuit's LBS and
IDQN arms; the page must show the verdict they imply, and change when a run changes.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_verdict import put_run
from typer.testing import CliRunner

from marlbench.cli import app
from marlbench.ledger import Ledger
from marlbench.presets import ALIAS_PREFIX

AGENTS = [f"pursuer_{i}" for i in range(8)]


def lbs_runs(ledger: Ledger, lbs: list[float], idqn: list[float]) -> None:
    """Night-tier runs of lbs-pursuit: every pursuer of seed i scores lbs[i] / idqn[i]."""
    for variant, scores in (("lbs", lbs), ("idqn", idqn)):
        for seed, score in enumerate(scores):
            put_run(
                ledger,
                f"{variant}-{seed}",
                variant,
                seed,
                dict.fromkeys(AGENTS, score),
                preset="lbs-pursuit",
                steps=50_000,
                wall=600.0,
                tags="tier:night",
                algo=variant,
            )


def row(page: str, claim: str) -> str:
    (line,) = [x for x in page.splitlines() if x.startswith(f"| lbs-pursuit | {claim} |")]
    return line


def regenerate(ledger: Path, out: Path) -> str:
    result = CliRunner().invoke(app, ["results", "--ledger", str(ledger), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return (out / "README.md").read_text()


def test_an_empty_ledger_still_gives_the_page(tmp_path: Path) -> None:
    page = regenerate(tmp_path / "no-ledger", tmp_path / "results")
    assert "# Results: the papers' claims, checked" in page
    line = row(page, "lbs-beats-idqn")
    assert "| not run |" in line
    assert "marlbench preset run lbs-pursuit --tier night (projected" in line
    # every paper's claims are there, each with the command that produces its runs
    for claim in ("model3-pong-123pct-human", "ppo-wall-time-3x", "ctedd-l-1-follows-g", "per-more-stable"):
        assert f"| {claim} | not run |" in page
    assert not (tmp_path / "no-ledger").exists()  # reading does not create the ledger


@pytest.mark.slow
def test_the_page_follows_the_ledger(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger", create=True)
    lbs_runs(ledger, [30, 31, 32, 33, 34], [10, 11, 12, 13, 14])
    page = regenerate(ledger.root, tmp_path / "results")
    line = row(page, "lbs-beats-idqn")
    assert "| reproduced | 1 | [1, 1] | tier night: 50,000 steps, seeds 0-4 |" in line
    assert "| not run |" in row(page, "lbs-beats-ps-dqn")  # PS-DQN was not run
    # the preset's own table: statistic, n per arm and the wall time of the 10 runs used (10 x 600 s)
    assert "| lbs-beats-idqn | reproduced | P(A>B) of last-eval, team-sum | 1 | [1, 1] | 5/5 |" in page
    assert "| 1.67 h |" in page
    assert "Machine: " in page and "per agent per episode" in page

    # a changed run changes the table: LBS seed 0 now scores below every IDQN run
    ledger.delete_run("lbs-0")
    put_run(
        ledger, "lbs-0", "lbs", 0, dict.fromkeys(AGENTS, 0.0), preset="lbs-pursuit", steps=50_000,
        tags="tier:night", algo="lbs",
    )  # fmt: skip
    changed = row(regenerate(ledger.root, tmp_path / "results"), "lbs-beats-idqn")
    assert changed != line
    assert "| inconclusive | 0.8 | [0.4, 1] |" in changed  # P(LBS > IDQN) = 20/25, one outlier seed

    ledger2 = Ledger(tmp_path / "ledger2", create=True)
    lbs_runs(ledger2, [10, 11, 12, 13, 14], [30, 31, 32, 33, 34])
    assert "| contradicted | 0 | [0, 0] |" in row(regenerate(ledger2.root, tmp_path / "r2"), "lbs-beats-idqn")


def test_figures_show_one_tier_the_largest(tmp_path: Path) -> None:
    """A smoke curve beside a night one would draw two experiments as one: the page draws the night tier."""
    from marlbench import api
    from marlbench.api.verdicts import _largest_tier
    from marlbench.reports.figures import get_figure

    ledger = Ledger(tmp_path / "ledger")
    lbs_runs(ledger, [5, 6], [1, 2])
    for variant in ("lbs", "idqn"):
        put_run(
            ledger, f"smoke-{variant}", variant, 0, dict.fromkeys(AGENTS, 0.0), preset="lbs-pursuit",
            steps=1_500, tags="tier:smoke", algo=variant,
        )  # fmt: skip
    assert _largest_tier(ledger, "lbs-pursuit") == "night"
    # another preset's night runs adopted as twins (alias tags) count for it too
    for variant in ("lbs", "idqn"):
        put_run(
            ledger, f"smoke2-{variant}", variant, 0, dict.fromkeys(AGENTS, 0.0), preset="other",
            steps=1_500, tags="tier:smoke", algo=variant,
        )  # fmt: skip
    assert _largest_tier(ledger, "other") == "smoke"
    put_run(
        ledger, "twin-lbs", "lbs", 0, dict.fromkeys(AGENTS, 0.0), preset="third", steps=1_500,
        tags=f"tier:night,{ALIAS_PREFIX}other/lbs", algo="lbs",
    )  # fmt: skip
    assert _largest_tier(ledger, "other") == "night"
    figure = get_figure("learning-curves")  # the fixture's runs are on mpe-spread, not pursuit
    night = figure.select(ledger.runs(), api.figure_options(preset="lbs-pursuit", tier="night"))
    smoke = figure.select(ledger.runs(), api.figure_options(preset="lbs-pursuit", tier="smoke"))
    assert set(night["run_id"]) == {"lbs-0", "lbs-1", "idqn-0", "idqn-1"}
    assert set(smoke["run_id"]) == {"smoke-lbs", "smoke-idqn"}
    assert figure.select(ledger.runs(), api.figure_options(tier="paper")).empty  # no untagged runs
    assert len(figure.select(ledger.runs(), api.figure_options(preset="lbs-pursuit"))) == 6
