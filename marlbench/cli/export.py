"""``marlbench export tensorboard DIR``: ledger runs as TensorBoard scalars, after the fact."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from marlbench import api
from marlbench.cli.common import LedgerOpt, console, user_errors

export_app = typer.Typer(help="Write ledger runs in other tools' formats.", no_args_is_help=True)


@export_app.command("tensorboard")
@user_errors
def export_tensorboard(
    directory: Annotated[Path, typer.Argument(help="TensorBoard log directory (one folder per run).")],
    run: Annotated[
        list[str] | None, typer.Option("--run", help="Only this run (id or unique prefix; repeatable).")
    ] = None,
    ledger: LedgerOpt = None,
) -> None:
    """Write episodes, evaluations and diagnostics of ledger runs as TensorBoard scalars.

    View them with: tensorboard --logdir DIR
    """
    written = api.export_tensorboard(api.open_ledger(ledger), directory, run or [])
    for path in written:
        console().print(str(path), soft_wrap=True)
    console(stderr=True).print(
        f"{len(written)} runs written; view them with: tensorboard --logdir {directory}"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(export_app, name="export")
