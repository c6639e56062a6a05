"""One compare row per policy a CTEDD run tested: CTEDD-G, CTEDD-L-1, CTEDD-L-3 (paper 001, sec. 5.3, Fig. 5).

A CTEDD run holds several policies: the global policies (CTEDD-G: their deterministic parts, which
read the full state) and the distilled local policies CTEDD-L-c (decentralized: each agent reads its
own observation and ``c``-wide messages, Fig. 2). The runner's evaluations score the one its
``eval_policy`` names (``global`` by default); every ``test_every`` env steps the run also tests
each variant itself (evals rows with ``policy`` set, see :mod:`marlbench.algos.ctedd.acting`).
Fig. 5 sets CTEDD-L-1 and CTEDD-L-3 beside MADDPG-1 and MADDPG-3, whose decentralized policies
are what the compare table scores, so a CTEDD-G row alone would compare a centralized policy with
decentralized ones.

:func:`split_policies` therefore gives each CTEDD run one row per policy:

* the run's own policy (``eval_policy``) keeps the run and its score (the last runner evaluation);
* every other policy the run tested gets a copy of the run, id ``<run>@<policy>``, whose
  evaluations are that policy's test rounds at or before the run's end (``step <= steps``), so
  its score is the last of them.

Labels gain ``[CTEDD-G]``, ``[CTEDD-L-1]``...; the ``policy`` field holds the policy's name
(``ctedd-g``, ``ctedd-l-1``; ``''`` for other algorithms). With ``--eval-options`` only the run's own
policy is scored (post-hoc evaluations serve ``eval_policy`` alone).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pandas as pd

from marlbench.algos.ctedd.config import GLOBAL_VARIANT, variant_name

POLICY_ALGO = "ctedd"
"""The algorithm whose runs hold several policies (the ``policy`` column of its evals)."""
POLICY_FIELD = "CTEDD: the policy the row scores, ctedd-g (global) or ctedd-l-<c> (distilled local); '' else"
"""The compare field's meaning (:data:`marlbench.reports.compare.FIELDS`)."""
SEPARATOR = "@"
"""Between a run id and a tested policy in the id of the policy's copy of the run."""


def policy_title(policy: str) -> str:
    """``ctedd-l-1`` -> ``CTEDD-L-1`` (the paper's name)."""
    return policy.upper()


def own_policy(algo: str, config: str) -> str:
    """The policy a run's own evaluations serve: ``ctedd-g`` or ``ctedd-l-<c>`` from CTEDD's
    ``eval_policy`` (``global`` when the stored config does not say); ``''`` for other algorithms."""
    if algo != POLICY_ALGO:
        return ""
    try:
        stored = json.loads(config)
    except (TypeError, ValueError):
        stored = {}
    stored = stored if isinstance(stored, dict) else {}
    resolved = stored.get("resolved") or {}
    chosen = (resolved.get("hyperparams") or {}).get("eval_policy") or (stored.get("hyperparams") or {}).get(
        "eval_policy", "global"
    )
    return GLOBAL_VARIANT if chosen == "global" else variant_name(int(str(chosen).rsplit("-", 1)[1]))


def split_policies(
    runs: pd.DataFrame, evals: pd.DataFrame, eval_options: Mapping[str, Any] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``runs`` (with :func:`~marlbench.reports.data.add_groups` columns) plus a copy per tested policy,
    and ``evals`` plus those copies' evaluations (see the module notes).

    Adds the columns ``policy`` (the row's policy, ``''`` off CTEDD) and ``source_run`` (the run a
    copy comes from; ``''`` on the runs themselves).
    """
    runs = runs.copy()
    runs["policy"] = [own_policy(a, c) for a, c in zip(runs["algo"], runs["config"], strict=True)]
    runs["source_run"] = ""
    is_own = runs["policy"] != ""
    titles = runs.loc[is_own, "policy"].map(policy_title)
    runs.loc[is_own, "label"] = runs.loc[is_own, "label"] + " [" + titles + "]"
    if eval_options is not None or "policy" not in evals or evals.empty:
        return runs, evals
    tests = evals[(evals["policy"] != "") & evals["run_id"].isin(runs.loc[is_own, "run_id"])]
    if "env_options" in tests:
        tests = tests[tests["env_options"] == ""]
    copies, copied_evals = [], []
    for row in runs[is_own].to_dict("records"):
        mine = tests[tests["run_id"] == row["run_id"]]
        if pd.notna(row.get("steps")):
            mine = mine[mine["step"] <= row["steps"]]
        for policy in sorted(set(mine["policy"]) - {row["policy"]}):
            copy_id = f"{row['run_id']}{SEPARATOR}{policy}"
            base_label = row["label"].rsplit(" [", 1)[0]
            copies.append(
                {
                    **row,
                    "run_id": copy_id,
                    "group_key": f"{row['group_key']}{SEPARATOR}{policy}",
                    "label": f"{base_label} [{policy_title(policy)}]",
                    "policy": policy,
                    "source_run": row["run_id"],
                }
            )
            copied_evals.append(mine[mine["policy"] == policy].assign(run_id=copy_id, policy=""))
    if not copies:
        return runs, evals
    runs = pd.concat([runs, pd.DataFrame(copies, columns=runs.columns)], ignore_index=True)
    return runs, pd.concat([evals, *copied_evals], ignore_index=True)


def narrow_to_global(rows: pd.DataFrame, is_base: pd.Series) -> pd.Series:
    """Of the rows ``--vs`` matched by algo or variant, the CTEDD-G ones where CTEDD rows matched
    (one baseline per env, as before the split); ``is_base`` unchanged otherwise."""
    narrowed = is_base & rows["policy"].isin(["", GLOBAL_VARIANT])
    return narrowed if narrowed.any() else is_base


def policies_text(rows: pd.DataFrame) -> str:
    """Which policy each CTEDD row is, in words ('' without CTEDD rows)."""
    policies = sorted({p for p in rows["policy"] if p}) if "policy" in rows else []
    if not policies:
        return ""
    names = {GLOBAL_VARIANT: "the global policies' deterministic parts, reading the full state"}
    local = "the distilled local policies with {}-wide messages (decentralized)"
    words = "; ".join(
        f"[{policy_title(p)}] = " + names.get(p, local.format(p.rsplit("-", 1)[1])) for p in policies
    )
    return (
        f"CTEDD rows (paper 001, Fig. 5): {words}. The policy a run's evaluations serve (eval_policy, "
        "CTEDD-G by default) is scored by them; the others by the run's last own test of that policy "
        "(test_episodes episodes) at or before the run's end."
    )
