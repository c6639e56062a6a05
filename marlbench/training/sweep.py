"""Running a preset: plan which runs to start, skip or resume, then run them ``jobs`` at a time.

A run is matched to the ledger by its resolved config hash (:meth:`RunSpec.config_hash`):

* a twin that ``finished`` -> skip;
* a twin that is still ``running`` (its process alive) -> skip, it is someone else's;
* a twin that was ``interrupted`` or ``crashed`` and left a checkpoint -> resume it (same run id);
* otherwise (no twin, or only failed / diverged ones, or no checkpoint) -> start a new run.

Resumed and new runs go through :func:`marlbench.training.runner.run`, each in its own process when
``jobs > 1`` (as :func:`marlbench.training.parallel.run_many` does for new runs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from marlbench.config import Resolved, RunSpec
from marlbench.presets import alias_tag
from marlbench.training.progress import ProgressSink

ACTIONS = ("skip", "running", "resume", "run")
RESUMABLE = ("interrupted", "crashed")


@dataclass
class PlannedRun:
    """What a sweep will do with one resolved spec, and why."""

    resolved: Resolved
    action: str
    """skip (finished twin), running (alive twin), resume (interrupted twin with checkpoint), run."""
    run_id: str = ""
    """The twin's run id for skip / running / resume."""
    note: str = ""
    twin: dict[str, Any] | None = None
    """The twin's ledger row for skip / running / resume."""

    @property
    def spec(self) -> RunSpec:
        return self.resolved.spec


def plan(resolved: Sequence[Resolved], runs: Any) -> list[PlannedRun]:
    """Decide, for each resolved spec, whether to skip, resume or run it, given the ledger's ``runs()``.

    The specs are resolved (:func:`marlbench.config.resolve`), so their hashes are final.
    """
    by_hash: dict[str, list[dict[str, Any]]] = {}
    if len(runs):
        for row in runs.sort_values("created_at").to_dict("records"):
            by_hash.setdefault(str(row["config_hash"]), []).append(row)
    planned: list[PlannedRun] = []
    for item in resolved:
        spec = item.spec
        twins = by_hash.get(spec.config_hash(), [])
        finished = [t for t in twins if t["status"] == "finished"]
        running = [t for t in twins if t["status"] == "running"]
        resumable = [t for t in twins if t["status"] in RESUMABLE and t["checkpoint"]]
        if finished:
            twin = finished[-1]
            planned.append(PlannedRun(item, "skip", twin["run_id"], _twin_note("finished", twin, spec), twin))
        elif running:
            twin = running[-1]
            planned.append(PlannedRun(item, "running", twin["run_id"], "running in another process", twin))
        elif resumable:
            twin = resumable[-1]
            note = f"{twin['status']} at step {int(twin['steps']):,}"
            planned.append(PlannedRun(item, "resume", twin["run_id"], note, twin))
        else:
            earlier = sorted({t["status"] for t in twins})
            note = f"earlier twin {', '.join(earlier)}" if earlier else ""
            planned.append(PlannedRun(item, "run", "", note))
    return planned


def _twin_note(word: str, twin: dict[str, Any], spec: RunSpec) -> str:
    if (twin["preset"], twin["variant"]) == (spec.preset, spec.variant):
        return word
    origin = f"{twin['preset']}/{twin['variant']}" if twin["preset"] else "outside presets"
    return f"{word}, identical run of {origin}"


def adopt_twins(planned: Sequence[PlannedRun], ledger: Any) -> int:
    """Tag finished twins from other presets/variants as this preset's runs; returns how many.

    A skipped spec's twin may carry another preset's stamp (the same experiment appears in two
    presets). The tag ``preset:<name>/<variant>`` lets tables and figures of this preset find it.
    Only finished runs are tagged: nothing else writes their rows any more.
    """
    count = 0
    for item in planned:
        twin = item.twin
        if item.action != "skip" or twin is None:
            continue
        if (twin["preset"], twin["variant"]) == (item.spec.preset, item.spec.variant):
            continue
        tag = alias_tag(item.spec.preset, item.spec.variant)
        tags = [t for t in str(twin["tags"]).split(",") if t]
        if tag not in tags:
            ledger.update_run(twin["run_id"], tags=",".join([*tags, tag]))
            twin["tags"] = ",".join([*tags, tag])
            count += 1
    return count


def execute(
    todo: Sequence[PlannedRun], ledger: Any, *, jobs: int = 1, progress: ProgressSink | None = None
) -> list[dict[str, Any]]:
    """Run the ``run`` and ``resume`` entries of ``todo``; returns their final ledger rows.

    A run that raises is recorded by the runner (failed / diverged) and returned as
    ``{'status': 'failed', 'error': ...}``, and the sweep goes on; Ctrl-C propagates after the runs
    mark themselves interrupted.
    """
    from marlbench.training.parallel import run_many

    work = [p for p in todo if p.action in ("run", "resume")]
    if not work:
        return []
    return run_many(
        [p.resolved for p in work],
        ledger,
        jobs=jobs,
        progress=progress,
        resumes=[p.run_id or None for p in work],
        keep_going=True,
    )
