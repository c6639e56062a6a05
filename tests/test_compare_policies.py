"""compare gives a CTEDD run one row per policy it tested (paper 001, sec. 5.3, Fig. 5).

CTEDD-G keeps the runner-evaluation score; CTEDD-L-1 / CTEDD-L-3 are scored by the run's last own
test of them at or before the run's end. MADDPG rows are unchanged.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_compare_cli import invoke
from test_reports import put_eval, put_run

from marlbench.ledger import Ledger
from marlbench.presets import load_preset
from marlbench.reports.compare import compare

AGENTS = ["agent_0", "agent_1"]
STEPS = 1000


def put_test(ledger: Ledger, run_id: str, eval_id: int, step: int, policy: str, value: float) -> None:
    """One CTEDD test round of ``policy``: two episodes, every agent gets ``value``."""
    rows = [
        {
            "eval_id": eval_id,
            "step": step,
            "episode": episode,
            "agent": agent,
            "reward": value,
            "length": 25,
            "env_options": "",
            "policy": policy,
        }
        for episode in range(2)
        for agent in AGENTS
    ]
    ledger.append("evals", run_id, rows)


def put_ctedd(
    ledger: Ledger,
    run_id: str,
    seed: int,
    *,
    status: str = "finished",
    finished_at: float = 1e9,
    **hyper: object,
) -> None:
    """A CTEDD run: runner evals (own policy) 1.0 then 2 + seed; tests of G (10), L-1 and L-3.

    L-1 tests -5 at 500, -1 - seed at the end (1000) and 100 after the end (1500, must not count);
    L-3 tests -3 at the end.
    """
    put_run(
        ledger,
        run_id,
        "ctedd",
        "cn-v1",
        seed,
        steps=STEPS,
        status=status,
        hyperparams=hyper,
        finished_at=finished_at,
    )
    put_eval(ledger, run_id, 0, 500, {a: [1.0, 1.0] for a in AGENTS})
    put_test(ledger, run_id, 1, 500, "ctedd-g", 10.0)
    put_test(ledger, run_id, 2, 500, "ctedd-l-1", -5.0)
    put_eval(ledger, run_id, 3, STEPS, {a: [2.0 + seed, 2.0 + seed] for a in AGENTS})
    put_test(ledger, run_id, 4, STEPS, "ctedd-g", 10.0)
    put_test(ledger, run_id, 5, STEPS, "ctedd-l-1", -1.0 - seed)
    put_test(ledger, run_id, 6, STEPS, "ctedd-l-3", -3.0)
    put_test(ledger, run_id, 7, STEPS + 500, "ctedd-l-1", 100.0)


def policy_ledger(root: Path) -> Ledger:
    """2 CTEDD seeds, 2 MADDPG seeds (scores 0), and a failed CTEDD run."""
    ledger = Ledger(root, create=True)
    for seed in (0, 1):
        put_ctedd(ledger, f"ctedd-{seed}", seed)
        put_run(ledger, f"maddpg-{seed}", "maddpg", "cn-v1", seed, steps=STEPS)
        put_eval(ledger, f"maddpg-{seed}", 0, STEPS, {a: [0.0, 0.0] for a in AGENTS})
    put_ctedd(ledger, "ctedd-dead", 2, status="failed")
    return ledger


def test_a_ctedd_run_gives_a_row_per_policy_each_scored_by_its_own_evaluations(tmp_path: Path) -> None:
    ledger = policy_ledger(tmp_path / "l")
    table = compare(ledger.runs(), ledger.evals())
    rows = table.rows.set_index("label")
    assert list(rows.index) == ["ctedd [CTEDD-G]", "ctedd [CTEDD-L-1]", "ctedd [CTEDD-L-3]", "maddpg"]
    assert list(rows["policy"]) == ["ctedd-g", "ctedd-l-1", "ctedd-l-3", ""]
    # CTEDD-G: the runner's last evaluation (2, 3), not the run's own ctedd-g tests (10)
    assert rows.loc["ctedd [CTEDD-G]", "mean"] == pytest.approx(2.5)
    # CTEDD-L-1: its last test at or before the run's end (-1, -2), not the one after it (100)
    assert rows.loc["ctedd [CTEDD-L-1]", "mean"] == pytest.approx(-1.5)
    assert rows.loc["ctedd [CTEDD-L-3]", "mean"] == pytest.approx(-3.0)
    assert rows.loc["ctedd [CTEDD-L-1]", "per_agent"] == pytest.approx({a: -1.5 for a in AGENTS})
    assert rows.loc["maddpg", "mean"] == pytest.approx(0.0)
    for label in ("ctedd [CTEDD-G]", "ctedd [CTEDD-L-1]", "ctedd [CTEDD-L-3]"):
        assert rows.loc[label, ["seeds", "runs", "excluded"]].tolist() == [2, 3, 1]
        assert rows.loc[label, "steps"] == pytest.approx(STEPS)
    # the failed run is one run not scored, not one per policy
    assert list(table.excluded["run_id"]) == ["ctedd-dead"]
    assert table.merged == 0
    assert "[CTEDD-L-1] = the distilled local policies with 1-wide messages" in table.caption
    assert "[CTEDD-G] = the global policies' deterministic parts, reading the full state" in table.caption


def test_a_run_evaluating_a_local_policy_is_scored_as_it_and_its_global_tests_give_ctedd_g(
    tmp_path: Path,
) -> None:
    ledger = Ledger(tmp_path / "l", create=True)
    put_ctedd(ledger, "ctedd-local", 0, eval_policy="local-1")
    rows = compare(ledger.runs(), ledger.evals()).rows.set_index("label")
    assert rows.loc["ctedd [CTEDD-L-1]", "mean"] == pytest.approx(2.0)  # the runner's evaluation
    assert rows.loc["ctedd [CTEDD-G]", "mean"] == pytest.approx(10.0)  # its own tests of ctedd-g
    assert rows.loc["ctedd [CTEDD-L-3]", "mean"] == pytest.approx(-3.0)


def test_vs_names_a_policy_or_means_ctedd_g(tmp_path: Path) -> None:
    ledger = policy_ledger(tmp_path / "l")
    runs, evals = ledger.runs(), ledger.evals()
    by_ctedd = compare(runs, evals, vs="ctedd").rows.set_index("label")["p_improvement"]
    assert np.isnan(by_ctedd["ctedd [CTEDD-G]"])  # the baseline: CTEDD-G, as before the split
    assert by_ctedd["ctedd [CTEDD-L-1]"] == pytest.approx(0.0)
    assert by_ctedd["maddpg"] == pytest.approx(0.0)
    by_l1 = compare(runs, evals, vs="ctedd-l-1").rows.set_index("label")["p_improvement"]
    assert np.isnan(by_l1["ctedd [CTEDD-L-1]"])
    assert by_l1["maddpg"] == pytest.approx(1.0)  # 0 beats -1 and -2
    assert by_l1["ctedd [CTEDD-L-3]"] == pytest.approx(0.0)  # -3 loses to both
    by_maddpg = compare(runs, evals, vs="maddpg").rows.set_index("label")["p_improvement"]
    assert by_maddpg["ctedd [CTEDD-L-3]"] == pytest.approx(0.0)
    assert by_maddpg["ctedd [CTEDD-G]"] == pytest.approx(1.0)


def test_post_hoc_scores_keep_only_the_evaluated_policy(tmp_path: Path) -> None:
    ledger = policy_ledger(tmp_path / "l")
    for seed in (0, 1):
        options = json.dumps({"max_cycles": 50})
        put_eval(ledger, f"ctedd-{seed}", 8, STEPS, {a: [7.0, 7.0] for a in AGENTS}, env_options=options)
    table = compare(ledger.runs(), ledger.evals(), eval_options={"max_cycles": 50})
    ctedd = table.rows[table.rows["algo"] == "ctedd"]
    assert list(ctedd["label"]) == ["ctedd [CTEDD-G]"] and ctedd["mean"].tolist() == [7.0]


def test_csv_json_and_markdown_carry_the_policy_rows(ledger_dir: Path) -> None:
    policy_ledger(ledger_dir)
    csv = invoke("compare", "--format", "csv")
    assert csv.exit_code == 0, csv.output
    frame = pd.read_csv(io.StringIO(csv.stdout), keep_default_na=False)
    assert dict(zip(frame["label"], frame["policy"], strict=True)) == {
        "ctedd [CTEDD-G]": "ctedd-g",
        "ctedd [CTEDD-L-1]": "ctedd-l-1",
        "ctedd [CTEDD-L-3]": "ctedd-l-3",
        "maddpg": "",
    }
    payload = json.loads(invoke("compare", "--format", "json", "--vs", "ctedd-l-1").stdout)
    means = {r["label"]: (r["mean"], r["p_improvement"]) for r in payload["rows"]}
    assert means["ctedd [CTEDD-L-1]"] == (pytest.approx(-1.5), None)
    assert means["maddpg"] == (pytest.approx(0.0), pytest.approx(1.0))
    markdown = invoke("compare", "--format", "markdown").stdout
    assert "| ctedd [CTEDD-L-3] | cn-v1 | 2 (+1 not scored) | -3.00 |" in markdown
    assert "CTEDD rows (paper 001, Fig. 5)" in markdown


def test_ctedd_testing_claims_compare_ctedd_l_with_maddpg_of_the_same_message_width() -> None:
    claims = {c.id: c for c in load_preset("ctedd-testing").claims}
    envs = ["cn-v1", "cn-v2", "push-forward", "predator-prey"]
    for k in (1, 3):
        claim = claims[f"ctedd-l-{k}-beats-maddpg-{k}-testing"]
        assert claim.policy_a == f"ctedd-l-{k}" and claim.policy_b == ""
        assert list(claim.a) == [f"ctedd.{e}" for e in envs]
        assert list(claim.b) == [f"maddpg-{k}.{e}" for e in envs]
        assert claim.direction == "greater"
    assert {"ctedd-beats-maddpg-1-testing", "ctedd-l-1-follows-g"} <= set(claims)


def test_a_rerun_seed_is_merged_once_not_once_per_policy(tmp_path: Path) -> None:
    ledger = policy_ledger(tmp_path / "l")
    put_ctedd(ledger, "ctedd-0-again", 0, finished_at=2e9)
    table = compare(ledger.runs(), ledger.evals())
    assert table.merged == 1
    assert "1 earlier run of an already scored seed left out" in table.caption
    assert table.rows.set_index("label").loc["ctedd [CTEDD-L-1]", "seeds"] == 2
