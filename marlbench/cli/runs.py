"""``marlbench runs`` and ``marlbench runs show``: what the ledger holds."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer

from marlbench import api
from marlbench.cli.common import LedgerOpt, console, fail, user_errors

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
    "wall_time_s",
    "checkpoint",
    "error",
    "host",
    "pid",
)
"""The run row's fields ``runs show`` lists (when set)."""


@runs_app.callback(invoke_without_command=True)
@user_errors
def runs_list(
    ctx: typer.Context,
    algo: Annotated[str | None, typer.Option(help="Only this algorithm.")] = None,
    env: Annotated[str | None, typer.Option(help="Only this environment.")] = None,
    status: Annotated[str | None, typer.Option(help="Only this status (finished, crashed, ...).")] = None,
    ledger: LedgerOpt = None,
) -> None:
    """Table of the runs in the ledger."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = {"ledger": ledger}
        return
    from rich.table import Table

    book = api.open_ledger(ledger)
    frame = api.runs(book, algo=algo, env=env, status=status)
    out = console()
    if frame.empty and algo:
        names = {row["command"] for row in api.list_algos()} | set(api.runs(book)["algo"])
        if algo not in names:
            fail(f"--algo '{algo}' is not an algorithm", "see 'marlbench algos' for their names")
    if frame.empty:
        out.print(f"no runs in {book.root}" + (" matching the filters" if algo or env or status else ""))
        out.print("start one with: marlbench train ppo --env mpe-spread --steps 20000")
        return
    table = Table("run", "algo", "env", "seed", "status", "steps", "wall s", "tags", "started")
    for row in frame.itertuples():
        started = dt.datetime.fromtimestamp(row.created_at).strftime("%Y-%m-%d %H:%M")
        colour = {"finished": "green", "running": "cyan"}.get(row.status, "red")
        table.add_row(
            row.run_id,
            row.algo,
            row.env,
            str(row.seed),
            f"[{colour}]{row.status}[/]",
            f"{int(row.steps):,}/{int(row.total_steps):,}",
            f"{row.wall_time_s:.1f}",
            row.tags,
            started,
        )
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


def register(app: typer.Typer) -> None:
    app.add_typer(runs_app, name="runs")
