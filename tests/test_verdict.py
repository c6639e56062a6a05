"""Verdicts on claims (issue 16): the statistics against hand-worked values, every verdict on hand-built
ledgers with known answers, bad claim specs, and ``marlbench verdict`` through the CLI.

The ledgers are real Parquet files written with the Ledger API; each run's last evaluation holds the
rewards given here, so each run's score is known exactly.
"""

from __future__ import annotations

import json
import math
import socket
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from marlbench import api
from marlbench.cli import app
from marlbench.config import RunSpec
from marlbench.errors import ConfigError
from marlbench.ledger import Ledger
from marlbench.preset_parts import Claim
from marlbench.presets import load_preset
from marlbench.reports.claims import decide
from marlbench.reports.stats import stratified_statistic

PRESET = """
paper = "test"
[defaults]
env = "mpe-spread"
steps = 1000
seeds = 5
[[variants]]
name = "new"
algo = "ppo"
[[variants]]
name = "old"
algo = "a2c"
[tiers.night]
steps = 2000
[[claims]]
id = "new-beats-old"
text = "new is better"
a = "new"
b = "old"
[[claims]]
id = "every-agent"
text = "new is better for every agent"
a = "new"
b = "old"
statistic = "per-agent"
[[claims]]
id = "slower"
text = "new takes 3-3.5x the wall time"
a = "new"
b = "old"
statistic = "ratio"
score = "wall-time"
expect = [3.0, 3.5]
"""


def write_preset(directory: Path, text: str = PRESET, name: str = "toy") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.toml"
    path.write_text(text)
    return path


def _tier_spec(preset: str, variant: str, seed: int, tags: str, steps: int) -> RunSpec | None:
    from marlbench.config import resolve
    from marlbench.errors import MarlbenchError
    from marlbench.presets import load_preset

    tier = next((t.split(":", 1)[1] for t in tags.split(",") if t.startswith("tier:")), None)
    if tier is None:
        return None
    try:
        specs = load_preset(preset).specs(seeds=[seed], tier=tier)
    except MarlbenchError:
        return None
    mine = [s for s in specs if s.variant == variant and s.steps == steps]
    return resolve(mine[0]).spec if mine else None


def put_run(
    ledger: Ledger,
    run_id: str,
    variant: str,
    seed: int,
    rewards: dict[str, float],
    *,
    preset: str = "toy",
    steps: int = 1000,
    wall: float = 10.0,
    tags: str = "",
    algo: str = "ppo",
) -> None:
    """A finished run whose last evaluation (2 episodes) gives each agent ``rewards[agent]``.

    A run of a shipped preset's tier (``tags`` ``tier:<name>``, ``steps`` the tier's) gets the config
    and hash that tier gives the variant now, as ``preset run`` would write them; other runs get a
    plain mpe-spread config."""
    spec = _tier_spec(preset, variant, seed, tags, steps) or RunSpec(
        algo=algo, env="mpe-spread", seed=seed, steps=steps, preset=preset, variant=variant
    )
    ledger.put_run(
        {
            "run_id": run_id,
            "config_hash": spec.config_hash(),
            "algo": algo,
            "env": "mpe-spread",
            "seed": seed,
            "preset": preset,
            "variant": variant,
            "tags": tags,
            "config": spec.to_json(),
            "status": "finished",
            "steps": steps,
            "total_steps": steps,
            "wall_time_s": wall,
            "host": socket.gethostname(),
            "pid": 0,
        }
    )
    rows = []
    for eval_id, scale in ((0, 0.0), (1, 1.0)):  # an early evaluation at 0, then the last one
        for agent, reward in rewards.items():
            for episode in range(2):
                rows.append(
                    {
                        "eval_id": eval_id,
                        "step": steps * eval_id,
                        "episode": episode,
                        "agent": agent,
                        "reward": reward * scale,
                        "length": 25,
                        "env_options": "",
                    }
                )
    ledger.append("evals", run_id, rows)


def fill(ledger: Ledger, new: list[float], old: list[float], **kwargs: object) -> None:
    """Runs of both arms, seed i of 'new' scoring new[i] for both agents (and old likewise)."""
    for variant, scores in (("new", new), ("old", old)):
        for seed, score in enumerate(scores):
            put_run(
                ledger, f"{variant}-{seed}", variant, seed, {"agent_0": score, "agent_1": score}, **kwargs
            )


def by_id(result: object) -> dict[str, object]:
    return {v.claim.id: v for v in result.verdicts}  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------------
# statistics and decisions on hand-worked numbers
# ---------------------------------------------------------------------------------------------
def test_probability_of_improvement_counts_ties_half() -> None:
    from marlbench.reports.stats import _poi

    # 1 vs 2: 0; 2 vs 2: 1/2; 3 vs 2: 1 -> mean 1/2
    value, low, high = stratified_statistic([(np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0]))], _poi)
    assert value == pytest.approx(0.5)
    assert low < 0.5 < high
    # two strata are averaged: (1 + 0) / 2
    value, low, high = stratified_statistic(
        [(np.array([5.0, 6.0]), np.array([1.0, 2.0])), (np.array([1.0, 2.0]), np.array([5.0, 6.0]))], _poi
    )
    assert (value, low, high) == (0.5, 0.5, 0.5)


def test_one_run_per_arm_gives_no_interval() -> None:
    from marlbench.reports.stats import _poi

    value, low, high = stratified_statistic([(np.array([5.0]), np.array([1.0, 2.0]))], _poi)
    assert value == 1.0 and math.isnan(low) and math.isnan(high)


@pytest.mark.parametrize(
    ("direction", "low", "high", "expected"),
    [
        ("greater", 0.6, 0.9, "reproduced"),
        ("greater", 0.1, 0.4, "contradicted"),
        ("greater", 0.4, 0.6, "inconclusive"),
        ("less", 0.1, 0.4, "reproduced"),
        ("less", 0.6, 0.9, "contradicted"),
        ("no-worse", 0.35, 0.8, "reproduced"),  # margin 0.2: 0.35 >= 0.3
        ("no-worse", 0.25, 0.8, "inconclusive"),
        ("no-worse", 0.1, 0.45, "contradicted"),
        ("equivalent", 0.35, 0.65, "reproduced"),
        ("equivalent", 0.75, 0.9, "contradicted"),
        ("equivalent", 0.4, 0.8, "inconclusive"),
    ],
)
def test_decide(direction: str, low: float, high: float, expected: str) -> None:
    claim = Claim("c", "t", ("a",), ("b",), direction=direction, margin=0.2)
    assert decide(claim, low, high, 0.5) == expected


def test_ratio_outside_the_papers_range_contradicts() -> None:
    claim = Claim("c", "t", ("a",), ("b",), statistic="ratio", expect=(3.0, 3.5))
    assert decide(claim, 1.5, 2.0, 1.0) == "contradicted"  # slower, but not 3x
    assert decide(claim, 2.8, 3.2, 1.0) == "reproduced"
    assert decide(claim, 0.9, 3.2, 1.0) == "inconclusive"


# ---------------------------------------------------------------------------------------------
# verdicts on hand-built ledgers
# ---------------------------------------------------------------------------------------------
def test_reproduced(ledger: Ledger, tmp_path: Path) -> None:
    path = write_preset(tmp_path / "presets")
    fill(ledger, [10, 11, 12, 13, 14], [1, 2, 3, 4, 5])
    verdict = by_id(api.verdicts(ledger, str(path)))["new-beats-old"]
    assert verdict.verdict == "reproduced"
    assert (verdict.value, verdict.low, verdict.high) == (1.0, 1.0, 1.0)
    assert (verdict.n_a, verdict.n_b) == (5, 5)
    assert verdict.budget == "1,000 steps: 1,000 steps, seeds 0-4"
    assert not any("few seeds" in n for n in verdict.notes)


def test_contradicted(ledger: Ledger, tmp_path: Path) -> None:
    path = write_preset(tmp_path / "presets")
    fill(ledger, [1, 2, 3, 4, 5], [10, 11, 12, 13, 14])
    assert by_id(api.verdicts(ledger, str(path)))["new-beats-old"].verdict == "contradicted"


def test_inconclusive_when_the_interval_holds_one_half(ledger: Ledger, tmp_path: Path) -> None:
    path = write_preset(tmp_path / "presets")
    fill(ledger, [1, 4, 5, 8, 9], [2, 3, 6, 7, 10])
    verdict = by_id(api.verdicts(ledger, str(path)))["new-beats-old"]
    assert verdict.verdict == "inconclusive"
    assert verdict.low < 0.5 < verdict.high


def test_missing_names_the_command(ledger: Ledger, tmp_path: Path) -> None:
    path = write_preset(tmp_path / "presets")
    for seed in range(3):
        put_run(ledger, f"new-{seed}", "new", seed, {"agent_0": 1.0})
    verdict = by_id(api.verdicts(ledger, str(path)))["new-beats-old"]
    assert verdict.verdict == "missing"
    assert verdict.command == "marlbench preset run toy --tier night"
    assert verdict.notes == ("no finished runs of old",)


def test_few_seeds_are_said(ledger: Ledger, tmp_path: Path) -> None:
    path = write_preset(tmp_path / "presets")
    fill(ledger, [10, 11, 12], [1, 2, 3])
    verdict = by_id(api.verdicts(ledger, str(path)))["new-beats-old"]
    assert verdict.verdict == "reproduced"
    assert any("few seeds (n < 5)" in n for n in verdict.notes)


def test_per_agent_claim_needs_every_agent(ledger: Ledger, tmp_path: Path) -> None:
    path = write_preset(tmp_path / "presets")
    for seed in range(5):  # agent_0 better with new, agent_1 better with old
        put_run(ledger, f"new-{seed}", "new", seed, {"agent_0": 10.0 + seed, "agent_1": 1.0 + seed})
        put_run(ledger, f"old-{seed}", "old", seed, {"agent_0": 1.0 + seed, "agent_1": 10.0 + seed})
    verdict = by_id(api.verdicts(ledger, str(path)))["every-agent"]
    assert verdict.verdict == "contradicted"
    assert {a.agent: a.verdict for a in verdict.agents} == {
        "agent_0": "reproduced",
        "agent_1": "contradicted",
    }
    # pooled over agents the arms tie: the team claim cannot tell
    assert by_id(api.verdicts(ledger, str(path)))["new-beats-old"].verdict == "inconclusive"


def test_per_agent_claim_reproduced_when_every_agent_is_better(ledger: Ledger, tmp_path: Path) -> None:
    path = write_preset(tmp_path / "presets")
    fill(ledger, [10, 11, 12, 13, 14], [1, 2, 3, 4, 5])
    verdict = by_id(api.verdicts(ledger, str(path)))["every-agent"]
    assert verdict.verdict == "reproduced"
    assert [a.agent for a in verdict.agents] == ["agent_0", "agent_1"]


def test_ratio_claim_on_wall_times(ledger: Ledger, tmp_path: Path) -> None:
    path = write_preset(tmp_path / "presets")
    for seed in range(5):
        put_run(ledger, f"new-{seed}", "new", seed, {"agent_0": 1.0}, wall=32.0 + seed)
        put_run(ledger, f"old-{seed}", "old", seed, {"agent_0": 1.0}, wall=10.0)
    verdict = by_id(api.verdicts(ledger, str(path)))["slower"]
    assert verdict.value == pytest.approx(34.0 / 10.0)
    assert verdict.verdict == "reproduced"
    assert verdict.wall_hours == pytest.approx((sum(32.0 + s for s in range(5)) + 50.0) / 3600)


def test_ratio_claim_contradicted_by_a_smaller_ratio(ledger: Ledger, tmp_path: Path) -> None:
    path = write_preset(tmp_path / "presets")
    for seed in range(5):
        put_run(ledger, f"new-{seed}", "new", seed, {"agent_0": 1.0}, wall=15.0 + seed)
        put_run(ledger, f"old-{seed}", "old", seed, {"agent_0": 1.0}, wall=10.0)
    verdict = by_id(api.verdicts(ledger, str(path)))["slower"]
    assert verdict.verdict == "contradicted"
    assert verdict.high < 3.0


def test_the_largest_budget_is_judged_unless_a_tier_is_asked(ledger: Ledger, tmp_path: Path) -> None:
    path = write_preset(tmp_path / "presets")
    fill(ledger, [1, 2, 3, 4, 5], [10, 11, 12, 13, 14])  # the file's budget (1,000 steps): new worse
    for variant, scores in (("new", [10, 11, 12, 13, 14]), ("old", [1, 2, 3, 4, 5])):
        for seed, score in enumerate(scores):  # the night tier (2,000 steps): new better
            put_run(
                ledger,
                f"n-{variant}-{seed}",
                variant,
                seed,
                {"agent_0": score},
                steps=2000,
                tags="tier:night",
            )
    verdict = by_id(api.verdicts(ledger, str(path)))["new-beats-old"]
    assert verdict.verdict == "reproduced"
    assert verdict.budget.startswith("tier night: 2,000 steps")
    night_only = by_id(api.verdicts(ledger, str(path), tier="night"))["new-beats-old"]
    assert night_only.verdict == "reproduced"
    paper = by_id(api.verdicts(ledger, str(path), tier="paper"))["new-beats-old"]
    assert paper.verdict == "missing"  # runs of the file's budget carry no tier tag
    assert paper.command == "marlbench preset run toy --tier paper"


def test_verdicts_on_an_empty_ledger(tmp_path: Path) -> None:
    path = write_preset(tmp_path / "presets")
    result = api.verdicts(api.open_ledger(tmp_path / "nothing"), str(path))
    assert {v.verdict for v in result.verdicts} == {"missing"}
    assert [t.name for t in result.tiers] == ["night", "paper"]


# ---------------------------------------------------------------------------------------------
# bad claim specs
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "words"),
    [
        (('statistic = "ratio"', 'statistic = "ratios"'), "'claims[2].statistic' = 'ratios' is unknown"),
        (('b = "old"\nstatistic = "per-agent"', 'b = "odl"\nstatistic = "per-agent"'), "names variant 'odl'"),
        (('id = "slower"', 'id = "slower"\nwhen = 3'), "unknown key 'claims[2].when'"),
        (('id = "slower"', 'id = "new-beats-old"'), "claim id 'new-beats-old' repeats"),
        (("expect = [3.0, 3.5]", "expect = [3.5, 3.0]"), "is reversed"),
        (("expect = [3.0, 3.5]", 'expect = "3x"'), "'claims[2].expect' must be array of 2 numbers"),
        (
            (
                'a = "new"\nb = "old"\n[[claims]]\nid = "every',
                'a = ["new", "old"]\nb = "old"\n[[claims]]\nid = "every',
            ),
            "'claims[0].a' has 2 variant(s) and 'claims[0].b' 1",
        ),
    ],
)
def test_bad_claims_are_clear_errors(tmp_path: Path, change: tuple[str, str], words: str) -> None:
    old, new = change
    assert old in PRESET
    path = write_preset(tmp_path, PRESET.replace(old, new, 1))
    with pytest.raises(ConfigError) as err:
        load_preset(str(path))
    assert words in err.value.message
    assert err.value.fix


def test_a_threshold_claim_needs_its_value(tmp_path: Path) -> None:
    text = PRESET + '[[claims]]\nid = "t"\ntext = "reaches 123%"\na = "new"\nstatistic = "threshold"\n'
    with pytest.raises(ConfigError, match="'claims\\[3\\].threshold' is missing"):
        load_preset(str(write_preset(tmp_path, text)))


# ---------------------------------------------------------------------------------------------
# the CLI
# ---------------------------------------------------------------------------------------------
def test_verdict_cli_json_and_table(ledger: Ledger, tmp_path: Path) -> None:
    path = write_preset(tmp_path / "presets")
    fill(ledger, [10, 11, 12, 13, 14], [1, 2, 3, 4, 5])
    runner = CliRunner()
    result = runner.invoke(app, ["verdict", str(path), "--format", "json", "--ledger", str(ledger.root)])
    assert result.exit_code == 0, result.output
    (preset,) = json.loads(result.stdout)
    claims = {c["id"]: c for c in preset["claims"]}
    assert claims["new-beats-old"]["verdict"] == "reproduced"
    assert claims["new-beats-old"]["ci_low"] == 1.0
    assert claims["slower"]["verdict"] == "contradicted"  # equal wall times: ratio 1, not 3-3.5
    table = runner.invoke(app, ["verdict", str(path), "--ledger", str(ledger.root)])
    assert table.exit_code == 0 and "reproduced" in table.stdout and "new-beats-old" in table.stdout
    markdown = runner.invoke(
        app, ["verdict", str(path), "--format", "markdown", "--ledger", str(ledger.root)]
    )
    assert "| new-beats-old | reproduced |" in markdown.stdout


def test_verdict_cli_errors_exit_2(tmp_path: Path) -> None:
    path = write_preset(tmp_path / "presets")
    runner = CliRunner()
    unknown_tier = runner.invoke(app, ["verdict", str(path), "--tier", "nigth"])
    assert unknown_tier.exit_code == 2
    assert "no tier 'nigth'" in unknown_tier.output and "night" in unknown_tier.output
    assert runner.invoke(app, ["verdict"]).exit_code == 2
    assert runner.invoke(app, ["verdict", str(path), "--all"]).exit_code == 2
    assert runner.invoke(app, ["verdict", str(path), "--format", "xml"]).exit_code == 2


def test_a_smoke_tier_never_reproduces_or_contradicts(ledger: Ledger, tmp_path: Path) -> None:
    """Minutes of training check the pipeline; a clear difference there is not evidence for the paper."""
    path = write_preset(tmp_path / "presets")
    fill(ledger, [10, 11, 12, 13, 14], [1, 2, 3, 4, 5], tags="tier:smoke")
    verdict = by_id(api.verdicts(ledger, str(path)))["new-beats-old"]
    assert verdict.verdict == "inconclusive" and (verdict.low, verdict.high) == (1.0, 1.0)
    assert any("smoke tier" in note and "reproduced at this budget" in note for note in verdict.notes)


def test_the_statistic_names_the_policies_a_claim_scores() -> None:
    from marlbench.presets import load_preset
    from marlbench.reports.claims import statistic_words

    claims = {c.id: c for c in load_preset("ctedd-testing").claims}
    assert statistic_words(claims["ctedd-l-1-follows-g"]).endswith("; A: CTEDD-L-1, B: CTEDD-G")
    assert statistic_words(claims["ctedd-l-3-beats-maddpg-3-testing"]).endswith("; A: CTEDD-L-3")
    assert "CTEDD" not in statistic_words(claims["ctedd-beats-maddpg-1-testing"])
