"""``marlbench query "SQL"``: DuckDB SQL over the ledger's Parquet files (runs, episodes, evals, metrics)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from marlbench import api
from marlbench.cli.common import LedgerOpt, console, fail, user_errors


@user_errors
def query(
    sql: Annotated[str, typer.Argument(help="The SQL statement (DuckDB dialect).")],
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="table (default), markdown, csv or json (to stdout).")
    ] = "table",
    ledger: LedgerOpt = None,
) -> None:
    """Run SQL over the ledger: views runs, episodes, evals and metrics (one row per agent per episode).

    Example: marlbench query "SELECT algo, avg(reward) FROM evals JOIN runs USING (run_id) GROUP BY algo"
    """
    if fmt not in api.QUERY_FORMATS:
        fail(f"unknown format '{fmt}'", f"choose one of: {', '.join(api.QUERY_FORMATS)}")
    frame = api.query(api.open_ledger(ledger), sql)
    rendered = api.query_text(frame, fmt)
    if fmt == "table":
        console().print(rendered)
    else:
        sys.stdout.write(rendered)


def register(app: typer.Typer) -> None:
    app.command()(query)
