"""The ``marlbench`` Typer app: the root callback (``--version``) and every command module registered.

Commands are thin: they parse options, call :mod:`marlbench.api` and print. Imports point one way:
this module imports the command modules, they import :mod:`marlbench.cli.common` and the API.
"""

from __future__ import annotations

from typing import Annotated

import typer

from marlbench import __version__
from marlbench.cli import catalog, export, presets, query, render, reports, runs, train, verdict

app = typer.Typer(
    name="marlbench",
    help="Benchmark multi-agent RL: train baselines and paper algorithms, keep every run in a Parquet "
    "ledger, compare them and draw the papers' figures.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"marlbench {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """marlbench: multi-agent RL benchmarking."""


for module in (catalog, train, runs, reports, presets, query, export, render, verdict):
    module.register(app)
