"""``marlbench runs`` and ``marlbench runs show``: what the ledger holds."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import typer

from marlbench import api
from marlbench.cli.common import LedgerOpt, console, fail, run_id_column, setting_labels, user_errors

runs_app = typer.Typer(help="List the runs in the ledger, or show one.", invoke_without_command=True)

SHOWN_FIELDS = (
    "algo",
    "env",
    "seed",
    "preset",
    "variant",
    "tags",
    "steps",
    "total_steps",
    "agent_steps",
    "updates",
    "wall_time_s",
    "checkpoint",
    "error",
    "host",
    "pid",
)
"""The run row's fields ``runs show`` lists (when set)."""


FULL_COLUMNS = (
    "algo",
    "env",
    "variant / settings",
    "seed",
    "status",
    "steps",
    "updates",
    "wall s",
    "tags",
    "started",
)
"""The runs table's columns after the run id."""
WIDE_TABLE = 130
"""Terminal columns the runs table needs; a narrower terminal gets two lines per run instead."""


def _print_compact(out: Any, frame: Any, labels: list[str]) -> None:
    """Two lines per run for a narrow terminal: the whole id (it spells algo, env and seed), then its
    variant or settings, status, steps and tags."""
    for row, label in zip(frame.itertuples(), labels, strict=True):
        colour = {"finished": "green", "running": "cyan"}.get(row.status, "red")
        out.print(f"[bold]{row.run_id}[/]", soft_wrap=True)
        details = [label, f"[{colour}]{row.status}[/]", f"{int(row.steps):,}/{int(row.total_steps):,} steps"]
        out.print("    " + "  ".join([*details, *([row.tags] if row.tags else [])]), soft_wrap=True)


@runs_app.callback(invoke_without_command=True)
@user_errors
def runs_list(
    ctx: typer.Context,
    algo: Annotated[str | None, typer.Option(help="Only this algorithm.")] = None,
    env: Annotated[str | None, typer.Option(help="Only this environment.")] = None,
    status: Annotated[str | None, typer.Option(help="Only this status (finished, crashed, ...).")] = None,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", help="Only runs with this tag (repeatable: every tag).")
    ] = None,
    ledger: LedgerOpt = None,
) -> None:
    """Table of the runs in the ledger (``updates``: gradient updates made; '-' when not recorded)."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = {"ledger": ledger}
        return
    from rich.table import Table

    book = api.open_ledger(ledger)
    frame = api.runs(book, algo=algo, env=env, status=status, tags=tag or [])
    out = console()
    if frame.empty and algo:
        names = {row["command"] for row in api.list_algos()} | set(api.runs(book)["algo"])
        if algo not in names:
            fail(f"--algo '{algo}' is not an algorithm", "see 'marlbench algos' for their names")
    if frame.empty:
        out.print(
            f"no runs in {book.root}" + (" matching the filters" if algo or env or status or tag else "")
        )
        out.print("start one with: marlbench train ppo --env mpe-spread --steps 20000")
        return
    labels = setting_labels(frame.to_dict("records"))
    if out.width < WIDE_TABLE:
        _print_compact(out, frame, labels)
        return
    table = Table()
    run_id_column(table)
    for header in FULL_COLUMNS:
        fixed = header in ("seed", "status", "steps", "updates", "wall s", "started")  # never wrapped
        table.add_column(header, no_wrap=fixed, overflow="fold")
    for row, label in zip(frame.itertuples(), labels, strict=True):
        colour = {"finished": "green", "running": "cyan"}.get(row.status, "red")
        cells = {
            "algo": row.algo,
            "env": row.env,
            "variant / settings": label,
            "seed": str(row.seed),
            "status": f"[{colour}]{row.status}[/]",
            "steps": f"{int(row.steps):,}/{int(row.total_steps):,}",
            "updates": _updates(row.updates),
            "wall s": f"{row.wall_time_s:.1f}",
            "tags": row.tags,
            "started": dt.datetime.fromtimestamp(row.created_at).strftime("%Y-%m-%d %H:%M"),
        }
        table.add_row(row.run_id, *(cells[h] for h in FULL_COLUMNS))
    out.print(table)


@runs_app.command("show")
@user_errors
def runs_show(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix).")],
    ledger: LedgerOpt = None,
) -> None:
    """A run's configuration, status, timings, last evaluation per agent and last diagnostics."""
    from rich.table import Table

    book = api.open_ledger(ledger or (ctx.obj or {}).get("ledger"))
    row = book.get_run(run_id)
    out = console()
    out.print(f"[bold]{row['run_id']}[/]  status [bold]{row['status']}[/]")
    info = Table.grid(padding=(0, 2))
    for key in SHOWN_FIELDS:
        value = row.get(key)
        if value not in (None, ""):
            info.add_row(key, f"{value:.1f}" if isinstance(value, float) else str(value))
    steps, wall = row.get("steps") or 0, row.get("wall_time_s") or 0.0
    if wall:
        info.add_row("env steps/s", f"{steps / wall:,.0f}")
    out.print(info)
    env_options, hyperparams = api.run_settings(row)
    out.print("[bold]env options[/]", env_options)
    out.print("[bold]hyperparameters[/]", hyperparams)
    last = api.last_eval(book, row["run_id"])
    if last is None:
        out.print("no evaluation recorded yet")
    else:
        metrics = [c for c in last.by_agent.columns if c not in ("mean", "std", "episodes")]
        out.print(_evaluation_note(last, env_options), soft_wrap=True, markup=False)
        table = Table(f"agent (eval at step {last.step:,})", "mean return", "std", "episodes", *metrics)
        for agent, scores in last.by_agent.iterrows():
            table.add_row(
                str(agent),
                f"{scores['mean']:.3f}",
                f"{scores['std']:.3f}",
                str(int(scores["episodes"])),
                *(f"{scores[m]:.3f}" for m in metrics),
            )
        out.print(table)
    episodes = book.episodes([row["run_id"]])
    if len(episodes):
        out.print(f"{episodes['episode'].nunique():,} training episodes recorded")
    metrics = api.run_metrics(book, row["run_id"])
    if len(metrics):
        table = Table("diagnostic (last value)", "value", "at step", "rows kept")
        for item in metrics.itertuples():
            table.add_row(item.name, f"{item.value:.5g}", f"{int(item.step):,}", str(item.rows))
        out.print(table)


def _evaluation_note(last: Any, own_options: Any) -> str:
    """Which evaluation the table below shows: the last one during training (what ``compare``
    scores), or a post-hoc ``marlbench evaluate`` with other env options."""
    if last.env_options is None:
        return f"last evaluation: during training, at step {last.step:,} (the score 'compare' uses)"
    own = own_options if isinstance(own_options, dict) else {}
    changed = {k: v for k, v in last.env_options.items() if own.get(k) != v} or last.env_options
    pairs = ",".join(f"{k}={v}" for k, v in changed.items())
    return (
        f"last evaluation: post-hoc ('marlbench evaluate') with env options {pairs}; 'compare' scores "
        f"the training evaluations unless given --eval-options {pairs}"
    )


def _updates(value: float | None) -> str:
    """A run's gradient updates, or '-' for a run recorded before the ledger counted them."""
    if value is None or value != value:  # None or NaN
        return "-"
    return f"{int(value):,}"


def register(app: typer.Typer) -> None:
    app.add_typer(runs_app, name="runs")
