"""A preset that changed since its runs: those runs are another experiment, and its verdicts,
figures and tables leave them out (saying so) until they are rerun."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from marlbench import api
from marlbench.errors import LedgerError
from marlbench.reports.stale import drop_stale

PRESET = """\
paper = "test"
feeds = "stale test"
figure = "learning-curves"
description = "random policy, to test stale runs"

[defaults]
env = "mpe-spread"
steps = 60
seeds = 2
eval_every = 30
eval_episodes = 1

[[variants]]
name = "rand"
algo = "random"
env_options = {{ max_cycles = {cycles} }}

[tiers.smoke]
about = "seconds"
steps = {steps}
seeds = 1

[[claims]]
id = "rand-beats-nothing"
text = "a claim to judge"
a = ["rand"]
statistic = "threshold"
score = "last-eval"
threshold = -1000.0
"""


def _write(folder: Path, cycles: int, steps: int = 40) -> None:
    (folder / "staletest.toml").write_text(textwrap.dedent(PRESET.format(cycles=cycles, steps=steps)))


def _run(ledger, tier: str | None = None) -> None:
    preset = api.load_preset("staletest")
    specs = preset.specs(tier=tier) if tier else preset.specs(seeds=[0])
    api.run_planned(api.plan_runs(api.resolve_preset(preset, specs), ledger), ledger=ledger)


def test_runs_of_an_earlier_preset_version_are_left_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ledger
) -> None:
    folder = tmp_path / "presets"
    folder.mkdir()
    monkeypatch.setenv("MARLBENCH_PRESETS", str(folder))
    _write(folder, cycles=10)
    _run(ledger, "smoke")  # a tier run: judged by its whole config hash
    _run(ledger)  # an untagged (paper-budget) run: judged by its env options
    runs = ledger.runs()
    assert len(runs) == 2
    kept, stale = drop_stale(runs, "staletest")
    assert stale == 0 and len(kept) == 2
    # the tier's budget changes: the tier run is stale, the paper run is not
    _write(folder, cycles=10, steps=50)
    kept, stale = drop_stale(runs, "staletest")
    assert stale == 1 and list(kept["tags"].str.contains("tier:smoke")) == [False]
    table = api.compare(ledger, preset="staletest", references=False)
    assert list(table.rows["seeds"]) == [1] and "1 run(s) of an earlier version" in table.stale_note
    assert stale.tiers == ("smoke",)
    assert table.stale_note.endswith("rerun with: marlbench preset run staletest --tier smoke")
    # the variant's env option changes: both are stale
    _write(folder, cycles=12, steps=50)
    kept, stale = drop_stale(runs, "staletest")
    assert stale == 2 and kept.empty
    (verdict,) = api.verdicts(ledger, "staletest").verdicts
    assert any("2 run(s) of an earlier version of preset staletest" in n for n in verdict.notes)
    assert stale.tiers == ("smoke",)  # the untagged run has no tier
    with pytest.raises(LedgerError, match="earlier version of the preset"):
        api.compare(ledger, preset="staletest")
    # runs without the preset are never stale
    assert drop_stale(runs.assign(preset=""), "staletest")[1] == 0
