"""Run specs and training: build and check specs, train, resume, re-evaluate, run a preset's plan."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from marlbench.api.catalog import describe_algo
from marlbench.config import Resolved, RunSpec
from marlbench.errors import ConfigError

_SHORTCUTS = {
    "per": ("no prioritized replay", "drop --per or pick an algorithm with a replay buffer (maddpg)"),
    "batch_size": ("no batch_size hyperparameter", "drop --batch-size"),
}
"""Hyperparameters with their own option (``per=True`` / ``batch_size=64``): what to say when the
algorithm has no such hyperparameter."""


def open_ledger(path: str | os.PathLike | None = None, *, create: bool = False) -> Any:
    """The ledger at ``path`` (default ``$MARLBENCH_LEDGER`` or ``./marlbench-runs``)."""
    from marlbench.ledger import Ledger

    if path is not None and not str(path).strip():
        raise ConfigError("--ledger is empty", "give a directory, or leave --ledger out for ./marlbench-runs")
    return Ledger(path, create=create)


def parse_pairs(pairs: Sequence[str] | None) -> dict[str, str]:
    """``["k=v", ...]`` (``--set`` / ``--env-opt``) -> ``{"k": "v"}``; ConfigError if one is malformed."""
    from marlbench.envs.registry import split_options

    return split_options(list(pairs or []))


def _shortcut_overrides(hyperparams: Mapping[str, Any], per: bool, batch_size: int | None) -> dict[str, Any]:
    """``hyperparams`` plus ``per``/``batch_size``; a key given both ways is refused (no silent winner)."""
    given = {
        "per": ("--per", True if per else None),
        "batch_size": (f"--batch-size {batch_size}", batch_size),
    }
    merged = dict(hyperparams)
    for key, (flag, value) in given.items():
        if value is None:
            continue
        if key in merged:
            raise ConfigError(
                f"two values for {key}: {flag} and --set {key}={merged[key]}", "give one of them"
            )
        merged[key] = value
    return merged


def make_specs(
    algo: str,
    env: str,
    *,
    seeds: Sequence[int] = (0,),
    steps: int = 100_000,
    env_options: Mapping[str, Any] | None = None,
    hyperparams: Mapping[str, Any] | None = None,
    per: bool = False,
    batch_size: int | None = None,
    eval_every: int | None = None,
    eval_episodes: int = 10,
    checkpoint_every: int | None = None,
    tags: Sequence[str] = (),
    preset: str = "",
    variant: str = "",
) -> list[RunSpec]:
    """One :class:`RunSpec` per seed.

    ``per=True`` and ``batch_size`` set those hyperparameters (the papers' most varied ones); giving
    the same key in ``hyperparams`` too raises ConfigError.
    """
    hyper = _shortcut_overrides(hyperparams or {}, per, batch_size)
    return [
        RunSpec(
            algo=algo,
            env=env,
            seed=int(seed),
            steps=int(steps),
            env_options=dict(env_options or {}),
            hyperparams=dict(hyper),
            eval_every=eval_every,
            eval_episodes=eval_episodes,
            checkpoint_every=checkpoint_every,
            tags=list(tags),
            preset=preset,
            variant=variant,
        )
        for seed in seeds
    ]


def resolve_specs(specs: Sequence[RunSpec]) -> list[Resolved]:
    """Check every spec completely (nothing is built or written); ConfigError on the first problem."""
    from marlbench.config import resolve, thread_count

    thread_count()  # a bad MARLBENCH_THREADS stops here, before anything is built or written
    resolved = []
    for spec in specs:
        try:
            resolved.append(resolve(spec))
        except ConfigError as err:
            if err.key != "hyperparams":
                raise
            names = {name for name, _, _ in describe_algo(spec.algo).hyperparams}
            for key, (words, fix) in _SHORTCUTS.items():
                if key in spec.hyperparams and key not in names:
                    raise ConfigError(f"'{spec.algo}' has {words}", fix) from None
            raise
    return resolved


def progress_bars() -> Any:
    """A progress sink with a Rich bar per run on stderr (a context manager)."""
    from marlbench.training.progress import terminal_progress

    return terminal_progress()


def train(
    algo: str,
    env: str,
    *,
    steps: int = 100_000,
    seed: int = 0,
    ledger: Any = None,
    progress: Any = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """Train one run and return its ledger row (see :func:`make_specs` for the keyword arguments)."""
    from marlbench.training.runner import run

    (spec,) = make_specs(algo, env, seeds=[seed], steps=steps, **kwargs)
    (resolved,) = resolve_specs([spec])
    ledger = ledger if ledger is not None else open_ledger(create=True)
    return run(resolved, ledger, progress)


def train_many(
    specs: list[RunSpec],
    *,
    jobs: int = 1,
    ledger: Any = None,
    progress: Any = None,
    notify: Callable[[str], None] | None = None,
    warn: Callable[[str], None] | None = None,
) -> list[dict]:
    """Train several runs, ``jobs`` at a time in separate processes (all are checked first).

    ``notify`` hears, before anything starts, what resolving changed or rounded (e.g. a budget
    that trains whole rollouts: :attr:`Resolved.notes`), each note once; ``warn`` hears each
    :attr:`Resolved.warnings` once (a budget at or below the warm-up: the run would not learn).
    """
    from marlbench.training.parallel import run_many

    runs = resolve_specs(specs)
    for listener, texts in ((notify, [n for r in runs for n in r.notes]), (warn, run_warnings(runs))):
        if listener is not None:
            for text in texts:
                listener(text)
    ledger = ledger if ledger is not None else open_ledger(create=True)
    return run_many(runs, ledger, jobs=jobs, progress=progress)


def run_warnings(runs: Sequence[Resolved]) -> list[str]:
    """Each distinct :attr:`Resolved.warnings` of ``runs`` once, in order."""
    return list(dict.fromkeys(text for run in runs for text in run.warnings))


def resume(
    run_id: str,
    *,
    ledger: Any,
    algo: str = "",
    progress: Any = None,
    env: str = "",
    trust_ledger: bool = False,
) -> dict[str, Any]:
    """Continue an interrupted run from its last checkpoint; ``algo``, when given, must be the run's.

    ``env`` / ``trust_ledger`` as for :func:`evaluate`: an environment the ledger names by import
    path is imported only when the user names it again or trusts the ledger.
    """
    from marlbench.training.runner import run

    row = ledger.get_run(run_id)
    if row["status"] == "finished":
        raise ConfigError(
            f"run {row['run_id']} already finished ({int(row['steps']):,} steps); there is nothing to resume",
            f"train a new run, or evaluate this one with: marlbench evaluate {row['run_id']}",
        )
    spec = RunSpec.from_json(row["config"])
    if algo and algo != spec.algo:
        raise ConfigError(
            f"run {row['run_id']} is a '{spec.algo}' run, not '{algo}'",
            f"use marlbench train {spec.algo} --resume",
        )
    if env and env != spec.env:
        raise ConfigError(
            f"run {row['run_id']} trains on '{spec.env}', not '{env}'; --resume keeps the run's settings",
            "drop --env, or train a new run on that environment instead of --resume",
        )
    check_ledger_env(row, env, trust_ledger)
    (resolved,) = resolve_specs([spec])
    return run(resolved, ledger, progress, resume=row["run_id"])


def evaluate(
    run_id: str,
    episodes: int,
    env_overrides: Mapping[str, str] | None = None,
    *,
    ledger: Any,
    env: str = "",
    trust_ledger: bool = False,
) -> Any:
    """Deterministic episodes of a run's last checkpoint, added to the ledger's evals.

    Returns a :class:`~marlbench.training.reevaluate.Reevaluation` (per-agent and team results).
    """
    from marlbench.config import MAX_EPISODES
    from marlbench.training.reevaluate import evaluate_run

    if not 1 <= episodes <= MAX_EPISODES:
        raise ConfigError(
            f"--episodes {episodes:,} must lie between 1 and {MAX_EPISODES:,}", "e.g. --episodes 10"
        )
    row = ledger.get_run(run_id)  # an unknown run is refused before anything is created
    check_ledger_env(row, env, trust_ledger)
    ledger.check_writable()  # before the evaluation, not after it
    return evaluate_run(ledger, run_id, episodes, env_overrides)


def preset_run_ids(ledger: Any, preset: str) -> list[str]:
    """Ids of the finished runs of ``preset`` (a name, or a preset file's path) in ``ledger``, oldest
    first (twins it adopted included); LedgerError naming ``preset run`` when there are none."""
    from marlbench.errors import LedgerError
    from marlbench.reports.data import filter_runs

    every = ledger.runs()
    names = [preset]
    if preset.endswith(".toml") or os.sep in preset:
        from marlbench.presets import load_preset

        names.append(load_preset(preset).name)
    for name in names:
        if len(every):
            chosen = filter_runs(every[every["status"] == "finished"], preset=name)
            if len(chosen):
                return list(chosen["run_id"])
    raise LedgerError(
        f"the ledger {ledger.root} has no finished runs of preset '{preset}'",
        f"run them with: marlbench preset run {preset}",
    )


def evaluate_preset(
    preset: str,
    episodes: int,
    env_overrides: Mapping[str, str] | None = None,
    *,
    ledger: Any,
    env: str = "",
    trust_ledger: bool = False,
    on_result: Callable[[str, Any], None] | None = None,
) -> dict[str, Any]:
    """:func:`evaluate` every finished run of ``preset``; ``{run_id: Reevaluation or the
    MarlbenchError that stopped that run}``.

    Every run is checked first (its environment may be imported, the options keep its spaces), so
    a bad option stops before anything is evaluated; ``on_result(run_id, result)`` hears each run
    as it ends.
    """
    from marlbench.errors import MarlbenchError
    from marlbench.training.reevaluate import check_eval_shapes

    run_ids = preset_run_ids(ledger, preset)
    for run_id in run_ids:
        check_ledger_env(ledger.get_run(run_id), env, trust_ledger)
        check_eval_shapes(ledger, run_id, env_overrides)
    results: dict[str, Any] = {}
    for run_id in run_ids:
        try:
            results[run_id] = evaluate(
                run_id, episodes, env_overrides, ledger=ledger, env=env, trust_ledger=trust_ledger
            )
        except MarlbenchError as err:
            results[run_id] = err
        if on_result is not None:
            on_result(run_id, results[run_id])
    return results


def load_policy(run_id: str, *, ledger: Any = None, env: str = "", trust_ledger: bool = False) -> Any:
    """The trained policy of a run, from its last checkpoint: a
    :class:`~marlbench.training.reevaluate.LoadedRun` with ``act(observations)`` ->
    ``{agent: action}``, ``make_env(seed)`` for its environment and ``close()``.

    ``env`` / ``trust_ledger`` as for :func:`evaluate` (a ledger's import-path env is not imported
    unless named again).
    """
    from marlbench.training.reevaluate import load_run

    ledger = ledger if ledger is not None else open_ledger()
    check_ledger_env(ledger.get_run(run_id), env, trust_ledger)
    return load_run(ledger, run_id, "loaded")


def check_ledger_env(row: Mapping[str, Any], env: str, trust_ledger: bool) -> None:
    """A ledger can come from elsewhere: an environment it names by import path (``module:factory``)
    is imported (its code run) only when the user names it again (``env``) or trusts the ledger."""
    stored = RunSpec.from_json(row["config"]).env
    if ":" in stored and not trust_ledger and env != stored:
        raise ConfigError(
            f"run '{row['run_id']}' names its environment by the import path '{stored}' in the ledger, "
            "and marlbench does not import code that a ledger names",
            f"if you trust that code, repeat it with --env {stored} (or pass --trust-ledger)",
        )


def resolve_preset(preset: Any, specs: Sequence[RunSpec]) -> list[Resolved]:
    """Check every run of ``preset`` (its ``specs(seeds, scale)``); ConfigError names file and key.

    One ``random`` reference run per environment of the preset is added at the end (run once per
    ledger: later sweeps find it by its config hash and skip it).
    """
    from marlbench.presets import check_runnable
    from marlbench.training.references import reference_runs

    runs = check_runnable(preset, list(specs))
    return runs + reference_runs(runs)


def scale_lines(preset: Any, specs: Sequence[RunSpec], scale: float) -> list[str]:
    """What ``--scale`` runs, one line per variant: steps, intervals and the step-valued
    hyperparameters it scaled (:func:`marlbench.preset_parts.scale_lines`)."""
    from marlbench.preset_parts import scale_lines as lines

    return lines(preset, specs, scale)


def plan_runs(resolved: Sequence[Resolved], ledger: Any) -> list[Any]:
    """What a sweep will do with each run (:class:`~marlbench.training.sweep.PlannedRun`): skip a
    finished twin, wait for a running one, resume an interrupted one, or run it."""
    from marlbench.training.sweep import plan

    return plan(resolved, ledger.runs())


def adopt_twins(planned: list[Any], ledger: Any) -> int:
    """Tag finished identical runs of other presets as this preset's; returns how many."""
    from marlbench.training.sweep import adopt_twins as adopt

    return adopt(planned, ledger)


def run_planned(planned: list[Any], *, ledger: Any, jobs: int = 1, progress: Any = None) -> list[dict]:
    """Start the planned runs not yet done and resume interrupted ones; returns their ledger rows."""
    from marlbench.training.sweep import execute

    return execute(planned, ledger, jobs=jobs, progress=progress)
