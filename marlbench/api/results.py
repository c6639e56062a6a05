"""Reading results: the ledger's runs, a run's last evaluation, comparison tables and figures."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from marlbench.errors import ConfigError, LedgerError, nearest


def runs(
    ledger: Any,
    *,
    algo: str | None = None,
    env: str | None = None,
    status: str | None = None,
    tags: Sequence[str] = (),
) -> Any:
    """The ledger's runs (a DataFrame), optionally only one algorithm, environment or status, or only
    runs carrying every one of ``tags``.

    An unknown ``status`` is a ConfigError (a typo would otherwise read as "no runs").
    """
    from marlbench.ledger import RUN_STATUSES

    statuses = (*RUN_STATUSES, "crashed")
    if status and status not in statuses:
        raise ConfigError(
            f"--status {status!r} is not a run status",
            f"{nearest(status, statuses)}use one of: {', '.join(statuses)}",
        )
    from marlbench.reports.data import filter_runs

    frame = ledger.runs()
    for column, value in (("algo", algo), ("env", env), ("status", status)):
        if value:
            frame = frame[frame[column] == value]
    return filter_runs(frame, tags=list(tags)) if tags else frame


def interrupted_runs(ledger: Any, *, since: float, also: Sequence[str] = ()) -> list[str]:
    """Ids of runs marked ``interrupted`` that were created at or after ``since`` (a time.time()),
    or whose id is in ``also`` (a resumed run keeps its creation time)."""
    frame = ledger.runs()
    if not len(frame):
        return []
    mine = (frame["created_at"] >= since) | frame["run_id"].isin(list(also))
    return frame[mine & (frame["status"] == "interrupted")]["run_id"].tolist()


def run_settings(row: Mapping[str, Any]) -> tuple[Any, Any]:
    """A run row's resolved ``(env_options, hyperparams)`` (as given, for runs from before resolution)."""
    config = json.loads(row["config"])
    resolved = config.get("resolved", {})
    return (
        resolved.get("env_options", config.get("env_options")),
        resolved.get("hyperparams", config.get("hyperparams")),
    )


@dataclass(frozen=True)
class LastEval:
    """A run's last evaluation, one row per agent."""

    step: int
    by_agent: Any
    """DataFrame indexed by agent: ``mean``, ``std`` (population), ``episodes`` and one column per
    metric the env reported (its mean)."""
    env_options: dict[str, Any] | None = None
    """None for an evaluation during training (the run's own env options); the env options of a
    post-hoc ``marlbench evaluate --env-opt`` evaluation otherwise."""


def last_eval(ledger: Any, run_id: str) -> LastEval | None:
    """The last evaluation of ``run_id`` per agent, or None when it has none."""
    last = ledger.last_eval(run_id)
    if not len(last):
        return None
    groups = last.groupby("agent")
    table = groups["reward"].agg(mean="mean", std=lambda r: r.std(ddof=0), episodes="size")
    for col in (c for c in last.columns if c.startswith("metric_") and last[c].notna().any()):
        table[col.removeprefix("metric_")] = groups[col].mean()
    stored = str(last["env_options"].iloc[0]) if "env_options" in last else ""
    return LastEval(int(last["step"].iloc[0]), table, json.loads(stored) if stored else None)


def table_formats() -> tuple[str, ...]:
    """The formats :func:`render_table` writes: rich, markdown, csv, latex, json."""
    from marlbench.reports.render import FORMATS

    return FORMATS


def compare(
    ledger: Any,
    *,
    env: str | None = None,
    algos: str | Sequence[str] | None = None,
    preset: str | None = None,
    aggregate: str = "team-mean",
    vs: str | None = None,
    references: bool = True,
    tags: Sequence[str] = (),
    eval_options: Mapping[str, Any] | None = None,
) -> Any:
    """The comparison table (:class:`~marlbench.reports.compare.CompareTable`) of the chosen runs.

    With ``references`` the table also has a ``random`` row per environment when the ledger holds
    a finished ``random`` run of that environment and env options (see
    :mod:`marlbench.reports.references`).

    ``algos`` is a list or a comma-separated string (``algo`` or ``algo/variant``); ``tags`` keeps
    runs carrying every tag. ``eval_options`` (``{option: value}``) scores runs by their post-hoc
    evaluations with those env options (``marlbench evaluate RUN --env-opt``) instead of their
    training evaluations. Raises LedgerError when nothing matches, naming the command that produces
    the runs.
    """
    from marlbench.reports.compare import compare as build
    from marlbench.reports.compare import running_mean_runs
    from marlbench.reports.data import filter_runs, split_list
    from marlbench.reports.references import with_references

    every = ledger.runs()
    if every.empty:
        raise LedgerError(
            f"the ledger {ledger.root} has no runs", "produce some with: marlbench preset run quickstart"
        )
    from marlbench.reports.stale import drop_stale, stale_note

    names = split_list(algos)
    chosen, stale = drop_stale(
        filter_runs(every, env=env, algos=names, preset=preset, tags=list(tags)), preset
    )
    if chosen.empty and stale:
        raise LedgerError(
            f"every run of preset {preset} that matches comes from an earlier version of the preset",
            f"rerun them with: marlbench preset run {preset}",
        )
    if chosen.empty:
        asked = _no_match(every, env, names, preset) + (f" with tags {', '.join(tags)}" if tags else "")
        raise LedgerError(asked, f"produce them with: {_producer(env, names, preset)}")
    if references:
        chosen = with_references(chosen, every)
    evals = ledger.evals(list(chosen["run_id"]))
    atari = running_mean_runs(chosen)  # their training games give the running mean and % of human
    episodes = ledger.episodes(atari) if atari else None
    try:
        table = build(chosen, evals, aggregate=aggregate, vs=vs, episodes=episodes, eval_options=eval_options)
    except ValueError as err:
        raise ConfigError(str(err), "give --vs one of the algorithm names in the table") from None
    if stale:
        table.stale_note = stale_note(stale, str(preset))
    return table


def _no_match(runs: Any, env: str | None, algos: list[str], preset: str | None) -> str:
    asked = ", ".join(
        p
        for p in (
            f"env {env}" if env else "",
            f"algo {','.join(algos)}" if algos else "",
            f"preset {preset}" if preset else "",
        )
        if p
    )
    have = f"envs: {', '.join(sorted(set(runs['env'])))}; algos: {', '.join(sorted(set(runs['algo'])))}"
    presets = sorted(p for p in set(runs["preset"]) if p)
    if presets:
        have += f"; presets: {', '.join(presets)}"
    return f"no runs match {asked} (the ledger has {have})"


def _producer(env: str | None, algos: list[str], preset: str | None) -> str:
    if preset:
        return f"marlbench preset run {preset}"
    names = [a.split("/")[0] for a in algos] or ["ppo"]
    return " && ".join(f"marlbench train {a} --env {env or 'mpe-spread'} --seeds 3" for a in names)


OPTIONAL_CSV_FIELDS = (
    "collision_rate",
    "completion_rate",
    "collision_rate@low",
    "completion_rate@low",
    "collision_rate@high",
    "completion_rate@high",
    "p_improvement",
    "p_improvement_low",
    "p_improvement_high",
    "running_mean",
    "running_games",
    "percent_human",
    "percent_human_paper",
)
"""Compare fields only some rows fill (SMARTS, ``--vs``, Atari): a CSV leaves them out when no
exported row has a value (the other columns are always there, empty or not)."""


def render_table(table: Any, fmt: str, per_agent: bool = False) -> Any:
    """``table`` as a Rich renderable (``fmt`` rich) or as text (markdown, csv, latex, json).

    The CSV drops the :data:`OPTIONAL_CSV_FIELDS` that are empty in every row (an MPE table has no
    Atari or SMARTS columns); JSON keeps every field (null when missing).
    """
    from marlbench.reports.render import flat_frame, render, to_rich

    if fmt == "rich":
        return to_rich(table, per_agent)
    if fmt != "csv":
        return render(table, fmt, per_agent)
    import io

    frame = flat_frame(table, per_agent)
    empty = [c for c in OPTIONAL_CSV_FIELDS if c in frame.columns and frame[c].isna().all()]
    buffer = io.StringIO()
    frame.drop(columns=empty).to_csv(buffer, index=False, lineterminator="\n")
    return buffer.getvalue()


def figure_options(
    *,
    env: str | None = None,
    algos: str | Sequence[str] | None = None,
    preset: str | None = None,
    aggregate: str = "auto",
    source: str | None = None,
    runs: str | Sequence[str] | None = None,
    tier: str | None = None,
    tags: Sequence[str] = (),
) -> Any:
    """Checked :class:`~marlbench.reports.figures.FigureOptions`; ConfigError for a bad choice.

    ``runs`` (ids or unique prefixes, a list or comma-separated) is for figures of named runs."""
    from marlbench.reports.data import AGGREGATIONS, split_list
    from marlbench.reports.figures import FigureOptions

    if aggregate not in (*AGGREGATIONS, "auto"):
        raise ConfigError(
            f"--aggregate {aggregate} is unknown", f"choose one of: auto, {', '.join(AGGREGATIONS)}"
        )
    if source not in (None, "train", "eval"):
        raise ConfigError(f"--source {source} is unknown", "choose train or eval")
    return FigureOptions(
        env=env,
        algos=split_list(algos),
        preset=preset,
        aggregate=aggregate,
        source=source,
        runs=split_list(runs),
        tier=tier,
        tags=list(tags),
    )


@dataclass(frozen=True)
class FigureStatus:
    """A registered figure and how many of its runs the ledger has."""

    name: str
    paper: str
    description: str
    finished: int
    """Finished runs it would draw."""
    missing: tuple[str, ...]
    """Variants it needs and the ledger lacks."""
    needs_variants: bool
    command: str
    """The command that produces its runs."""


def figures(ledger: Any, options: Any) -> list[FigureStatus]:
    """Every registered figure, with the runs ``ledger`` has for it under ``options``."""
    from marlbench.reports.figures import all_figures

    every = ledger.runs()
    out = []
    for fig in all_figures().values():
        chosen = fig.select(every, options) if len(every) else every
        missing = tuple(fig.missing_variants(chosen)) if len(chosen) else ()
        out.append(
            FigureStatus(
                fig.name,
                fig.paper,
                fig.description,
                len(chosen),
                missing,
                bool(fig.needs.variants),
                fig.command(options),
            )
        )
    return out


def figure_preset(name: str) -> str:
    """The preset figure ``name`` draws its runs from ('' when it takes any, or is unknown)."""
    from marlbench.reports.figures import all_figures

    figure = all_figures().get(name)
    return figure.needs.preset if figure is not None else ""


@dataclass
class DrawnFigure:
    """A drawn figure: ``drawing.figure`` (matplotlib) and ``drawing.notes``; ``stem`` names its files."""

    drawing: Any
    stem: str


def draw_figure(ledger: Any, name: str, options: Any) -> DrawnFigure:
    """Draw figure ``name`` from ``ledger``; LedgerError (naming the producing command) without runs."""
    import dataclasses

    from marlbench.reports.figures import default_aggregate, get_figure, report_data

    chosen = get_figure(name)
    data = report_data(ledger, chosen, options)
    if data.runs.empty:
        raise LedgerError(
            f"the ledger {ledger.root} has no finished runs for figure '{chosen.name}'"
            + (f" (preset {chosen.needs.preset})" if chosen.needs.preset else ""),
            f"produce them with: {chosen.command(options)}",
        )
    import matplotlib

    matplotlib.use("Agg")
    # every filter is in the file name, so one figure never overwrites another of other runs
    algos = "+".join(a.replace("/", "_") for a in options.algos)
    aggregate = options.aggregate if options.aggregate not in ("per-agent", "auto") else ""
    runs = "+".join(options.runs)[:60]
    tier = f"tier-{options.tier}" if options.tier else ""
    suffix = [
        x
        for x in (None if chosen.needs.preset else options.preset, options.env, algos, aggregate, runs, tier)
        if x
    ]
    if options.aggregate == "auto":
        options = dataclasses.replace(options, aggregate=default_aggregate(chosen, data.runs))
    drawing = chosen.draw(data, options)
    if data.stale:
        from marlbench.reports.stale import stale_note

        drawing.notes.append(stale_note(data.stale, chosen.needs.preset or options.preset or ""))
    return DrawnFigure(drawing, "-".join([chosen.name, *suffix]))
