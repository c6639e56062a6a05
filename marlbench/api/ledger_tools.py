"""The ledger beyond tables and figures: diagnostics, SQL over the Parquet files, TensorBoard export.

* :func:`run_metrics`: the last value of each training diagnostic of a run (``runs show``);
* :func:`query`: DuckDB SQL over the ledger, its tables as views (``marlbench query``);
* :func:`use_tensorboard` / :func:`export_tensorboard`: TensorBoard scalars live or afterwards.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from marlbench.errors import ConfigError, LedgerError

QUERY_FORMATS = ("table", "markdown", "csv", "json")
"""What :func:`query_text` writes (``table``: a Rich table for the terminal)."""

QUERY_INSTALL = 'install it with: pip install "marlbench[query]"'

_HELP_TABLES = (
    "tables: runs, episodes, evals, metrics (see their columns with: marlbench query 'DESCRIBE evals')"
)


def run_metrics(ledger: Any, run_id: str) -> Any:
    """One row per diagnostic name of run ``run_id``: its last ``step`` and ``value`` and ``rows`` kept."""
    import pandas as pd

    frame = ledger.metrics([run_id])
    if not len(frame):
        return pd.DataFrame(columns=["name", "step", "value", "rows"])
    frame = frame.sort_values(["name", "step"], kind="stable")
    groups = frame.groupby("name", sort=True)
    last = groups.tail(1).set_index("name")[["step", "value"]]
    last["rows"] = groups.size()
    return last.reset_index()


# ---- SQL --------------------------------------------------------------------------------------


def _duckdb() -> Any:
    try:
        import duckdb
    except ImportError:
        raise ConfigError("marlbench query needs DuckDB, which is not installed", QUERY_INSTALL) from None
    return duckdb


def _readable_chunks(root: Path, table: str, schema: Any) -> tuple[list[str], list[str]]:
    """The chunk files of ``table`` whose footer and base columns read, and the union of their columns.

    A file that fails is skipped with a :class:`~marlbench.ledger.LedgerWarning`, as every other
    ledger reader does (:func:`marlbench.ledger.files.read_table`).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from marlbench.ledger import LedgerWarning
    from marlbench.ledger.files import parquet_files, subdirectories

    files: list[str] = []
    columns: dict[str, None] = {}
    required = [n for n in schema.names if n not in ("env_options", "policy")]
    for directory in subdirectories(root / table):
        for path in parquet_files(directory):
            try:
                with pa.OSFile(str(path)) as f:
                    names = pq.ParquetFile(f).schema_arrow.names
                missing = [n for n in required if n not in names]
                if missing:
                    raise ValueError(f"missing columns {missing}")
            except FileNotFoundError:
                continue
            except Exception as err:
                warnings.warn(f"skipping damaged ledger file {path}: {err}", LedgerWarning, stacklevel=3)
                continue
            files.append(str(path))
            columns.update(dict.fromkeys(names))
    return files, list(columns)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _chunk_view(con: Any, table: str, schema: Any, root: Path) -> None:
    """``CREATE VIEW table`` over its readable chunks: base columns first (defaults filled), metrics after."""
    from marlbench.ledger.schema import COLUMN_DEFAULTS

    files, columns = _readable_chunks(root, table, schema)
    if not files:
        con.register(f"_empty_{table}", schema.empty_table())
        con.execute(f"CREATE VIEW {table} AS SELECT * FROM _empty_{table}")
        return
    select = []
    for name in schema.names:
        if name in COLUMN_DEFAULTS:
            default = "'" + str(COLUMN_DEFAULTS[name]).replace("'", "''") + "'"
            value = f"coalesce({_quote(name)}, {default})" if name in columns else default
            select.append(f"{value} AS {_quote(name)}")
        else:
            select.append(_quote(name))
    select += [_quote(n) for n in sorted(c for c in columns if c.startswith("metric_"))]
    listing = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
    con.execute(
        f"CREATE VIEW {table} AS SELECT {', '.join(select)} "
        f"FROM read_parquet([{listing}], union_by_name = true)"
    )


def connect(ledger: Any, tables: Sequence[str] | None = None) -> Any:
    """An in-memory DuckDB connection with views ``runs``, ``episodes``, ``evals`` and ``metrics``.

    ``runs`` is :meth:`Ledger.runs` (so ``status`` shows ``crashed`` as everywhere else); the chunk
    tables read their Parquet files in place, damaged ones skipped with a warning. ``tables``
    limits the views made (each costs a look at every file of its table); None makes all four.
    """
    from marlbench.ledger.schema import TABLES

    wanted = set(tables) if tables is not None else {"runs", *TABLES}
    duckdb = _duckdb()
    con = duckdb.connect(":memory:")
    if "runs" in wanted:
        con.register("runs", ledger.runs())
    for table, schema in TABLES.items():
        if table in wanted:
            _chunk_view(con, table, schema, Path(ledger.root))
    return con


def tables_named(sql: str) -> list[str]:
    """The ledger tables whose name appears as a word in ``sql`` (only those need a view)."""
    import re

    from marlbench.ledger.schema import TABLES

    return [t for t in ("runs", *TABLES) if re.search(rf"\b{t}\b", sql, flags=re.IGNORECASE)]


def query(ledger: Any, sql: str) -> Any:
    """The result of ``sql`` over the ledger as a DataFrame; ConfigError (with DuckDB's words) if it fails."""
    if not sql.strip():
        raise ConfigError(
            "no SQL statement given", f"write e.g. marlbench query 'SELECT * FROM runs'; {_HELP_TABLES}"
        )
    duckdb = _duckdb()
    con = connect(ledger, tables_named(sql))
    try:
        result = con.execute(sql)
        if result.description is None:  # a statement with no result set (SET, CREATE ...)
            import pandas as pd

            return pd.DataFrame()
        return result.df()
    except duckdb.Error as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConfigError(
            f"the SQL statement failed: {first}", f"fix the statement; {_HELP_TABLES}"
        ) from None
    finally:
        con.close()


def query_text(frame: Any, fmt: str) -> Any:
    """``frame`` as a Rich table (``table``) or as markdown, csv or json text."""
    if fmt not in QUERY_FORMATS:
        raise ConfigError(f"unknown format '{fmt}'", f"choose one of: {', '.join(QUERY_FORMATS)}")
    if fmt == "csv":
        return frame.to_csv(index=False)
    if fmt == "json":
        return frame.to_json(orient="records", indent=2, default_handler=str) + "\n"
    cells = [[_cell(v) for v in row] for row in frame.itertuples(index=False)]
    if fmt == "markdown":
        lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in cells]
        return "\n".join(lines) + "\n"
    from rich.table import Table
    from rich.text import Text

    table = Table(*map(str, frame.columns))
    for row in cells:
        table.add_row(*(Text(c) for c in row))  # Text: a value with [brackets] is not markup
    return table


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


# ---- TensorBoard ------------------------------------------------------------------------------


def use_tensorboard(directory: str | os.PathLike[str] | None) -> Path | None:
    """Send the scalars of runs trained from now on (in this process and its workers) to ``directory``.

    Checks that the ``tensorboard`` package is there and the directory can be made before any run
    starts; ``None`` turns live output off.
    """
    from marlbench.training.diagnostics import TENSORBOARD_ENV
    from marlbench.training.tensorboard import summary_writer_class

    if directory is None:
        os.environ.pop(TENSORBOARD_ENV, None)
        return None
    summary_writer_class()
    path = Path(directory).expanduser().absolute()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(
            f"cannot create the TensorBoard directory {path}: {err.strerror or err}",
            "pass --tensorboard a directory you can write",
        ) from err
    os.environ[TENSORBOARD_ENV] = str(path)
    return path


def export_tensorboard(
    ledger: Any, directory: str | os.PathLike[str], run_ids: Sequence[str] = ()
) -> list[Path]:
    """Write ledger runs (all, or ``run_ids``: ids or unique prefixes) as TensorBoard scalars.

    Returns one folder per run (``directory/<run_id>``).
    """
    from marlbench.training.tensorboard import export_run, summary_writer_class

    summary_writer_class()
    if run_ids:
        rows = [ledger.get_run(r) for r in run_ids]
    else:
        rows = ledger.runs().to_dict("records")
        if not rows:
            raise LedgerError(
                f"the ledger {ledger.root} has no runs", "train one first, or pass --ledger DIR"
            )
    return [export_run(ledger, row, directory) for row in rows]


# ---- animations -------------------------------------------------------------------------------


def render_run(
    ledger: Any, run_id: str, *, episodes: int = 1, max_steps: int | None = None, fps: float = 10.0
) -> Any:
    """Play run ``run_id``'s policy deterministically and draw it: an
    :class:`~marlbench.reports.render_gif.Animation` (``.frames``, ``.save(path)`` for GIF or MP4)."""
    from marlbench.reports.render_gif import animate
    from marlbench.training.playback import play_run

    if fps <= 0:
        raise ConfigError(f"--fps {fps} must be positive", "e.g. --fps 10")
    playback = play_run(ledger, run_id, episodes, max_steps)
    return animate(playback.run_id, playback.snapshots, fps)
