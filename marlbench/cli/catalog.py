"""``marlbench envs`` and ``marlbench algos``: what can be trained on what."""

from __future__ import annotations

from typing import Annotated

import typer

from marlbench import api
from marlbench.cli.common import console, user_errors


@user_errors
def envs(
    show: Annotated[
        str | None, typer.Argument(metavar="NAME", help="Show one environment's options in detail.")
    ] = None,
) -> None:
    """List the registered environments (or show one, with its options)."""
    from rich.table import Table

    out = console()
    if show:
        env = api.describe_env(show)
        out.print(f"[bold]{env.name}[/]: {env.description}")
        out.print(
            f"agents {env.agents}, episode length {env.episode_length}, "
            f"observations {env.observations}, actions {env.actions}"
        )
        if env.metrics:
            out.print(f"metrics: {', '.join(env.metrics)}")
        if env.paper:
            out.print(f"paper: {env.paper}")
        table = Table("option (--env-opt)", "default", "meaning")
        for key, default, meaning in env.options:
            table.add_row(key, str(default), meaning)
        out.print(table)
        return
    table = Table("name", "agents", "observations", "actions", "episode length", "metrics", "description")
    for env in api.list_envs():
        table.add_row(
            env.name,
            str(env.agents),
            env.observations,
            "/".join(env.action_kinds),
            str(env.episode_length),
            ", ".join(env.metrics) or "-",
            env.description,
        )
    out.print(table)
    out.print("Your own: --env package.module:factory (a function returning a PettingZoo ParallelEnv).")


@user_errors
def algos(
    show: Annotated[
        str | None, typer.Argument(metavar="NAME", help="Show one algorithm's hyperparameters and defaults.")
    ] = None,
) -> None:
    """The catalogue of RL methods (paper 003): which marlbench runs, and how."""
    from rich.table import Table

    out = console()
    if show:
        algo = api.describe_algo(show)
        summary, _, note = algo.description.partition("\n")
        out.print(f"[bold]{algo.name}[/]: {summary} ({algo.source})")
        if note:  # e.g. which settings apply on atari-* environments, and the preset with the paper's
            out.print(note, markup=False)
        out.print(f"actions: {', '.join(algo.action_kinds)}")
        table = Table("hyperparameter (--set)", "default", "meaning")
        for name, default, help_text in algo.hyperparams:
            table.add_row(name, repr(default), help_text)
        out.print(table)
        return
    table = Table("method", "command", "available", "how marlbench offers it", "actions", "description")
    table.columns[0].no_wrap = True  # method names whole, so they can be searched for
    for row in api.list_algos():
        colour = {"yes": "green", "planned": "yellow"}.get(row["available"], "dim")
        table.add_row(
            row["method"],
            row["command"],
            f"[{colour}]{row['available']}[/]",
            row["how"],
            row["actions"],
            row["description"],
        )
    out.print(table)
    out.print("Details of one: marlbench algos NAME")


def register(app: typer.Typer) -> None:
    app.command()(envs)
    app.command()(algos)
