"""The Parquet ledger: every run, training episode and evaluation episode marlbench records.

Layout under the root directory (default ``./marlbench-runs``; ``MARLBENCH_LEDGER`` or ``--ledger``)::

    runs/<run_id>.parquet                 one row per run, rewritten whole on every status change
    episodes/<run_id>/<chunk>.parquet     training episodes, one row per agent per episode
    evals/<run_id>/<chunk>.parquet        evaluation episodes, one row per agent per episode
    checkpoints/<run_id>/...              algorithm checkpoints (written by the algorithm's save)

Every file is written whole to a temporary name in the same directory and then ``os.replace``-d
into place, so a reader never sees half a file. A run only ever writes its own files, so
concurrent runs never write the same file. Chunk names sort in write order
(``00000000-<pid>-<random>.parquet``).

``runs`` columns: run_id (str), config_hash (str), algo (str), env (str), seed (int64),
preset (str, "" if none), variant (str, "" if none), tags (str, comma-joined), config (str, JSON of
the fully resolved run spec), status (str: running | finished | failed | interrupted | diverged;
readers add the derived ``crashed``), created_at / updated_at / finished_at (float unix seconds,
NaN when not yet), wall_time_s (float), steps (int64, env steps done), total_steps (int64, budget),
agent_steps (int64), n_agents (int64), versions (str, JSON), error (str), host (str), pid (int64),
checkpoint (str, path relative to the root, "" if none), resumed_from (str).

``episodes`` columns: run_id, episode (int64, per-run counter), agent (str), step (int64, env steps
at the episode's end), wall_time (float, seconds since the run started), reward (float64), length
(int64), and one float64 column ``metric_<name>`` per environment metric.

``evals`` columns: run_id, eval_id (int64, 0.. per run), step (int64, training env steps at the
evaluation), episode (int64, index within the evaluation), agent, reward, length, ``metric_<name>``.
"""

from __future__ import annotations

import json
import math
import operator
import os
import re
import secrets
import shutil
import socket
import time
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from marlbench.errors import LedgerError

DEFAULT_LEDGER = "marlbench-runs"
STALE_SECONDS = 900.0
"""A ``running`` run whose heartbeat (``updated_at``) is older than this is shown as ``crashed``.

Writers must therefore ``update_run`` more often than this while they are alive."""
RUN_STATUSES = ("running", "finished", "failed", "interrupted", "diverged")
"""Statuses a writer stores; readers derive a sixth, ``crashed``."""

_FIX = "pass --ledger DIR or set MARLBENCH_LEDGER to a directory you can read and write"
_SUBDIRS = ("runs", "episodes", "evals", "checkpoints")
_RUN_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")

RUN_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("config_hash", pa.string()),
        ("algo", pa.string()),
        ("env", pa.string()),
        ("seed", pa.int64()),
        ("preset", pa.string()),
        ("variant", pa.string()),
        ("tags", pa.string()),
        ("config", pa.string()),
        ("status", pa.string()),
        ("created_at", pa.float64()),
        ("updated_at", pa.float64()),
        ("finished_at", pa.float64()),
        ("wall_time_s", pa.float64()),
        ("steps", pa.int64()),
        ("total_steps", pa.int64()),
        ("agent_steps", pa.int64()),
        ("n_agents", pa.int64()),
        ("versions", pa.string()),
        ("error", pa.string()),
        ("host", pa.string()),
        ("pid", pa.int64()),
        ("checkpoint", pa.string()),
        ("resumed_from", pa.string()),
    ]
)
"""Exact schema of a ``runs/<run_id>.parquet`` file."""

EPISODE_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("episode", pa.int64()),
        ("agent", pa.string()),
        ("step", pa.int64()),
        ("wall_time", pa.float64()),
        ("reward", pa.float64()),
        ("length", pa.int64()),
    ]
)
"""Base columns of an ``episodes`` chunk; ``metric_<name>`` float64 columns follow."""

EVAL_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("eval_id", pa.int64()),
        ("step", pa.int64()),
        ("episode", pa.int64()),
        ("agent", pa.string()),
        ("reward", pa.float64()),
        ("length", pa.int64()),
        ("env_options", pa.string()),
        ("policy", pa.string()),
    ]
)
"""Base columns of an ``evals`` chunk; ``metric_<name>`` float64 columns follow.

``env_options`` is "" for evaluations during training (the run's own options) and the JSON of the
options used by a later ``marlbench evaluate --env-opt ...`` otherwise. ``policy`` is "" for the
algorithm's own acting policy and names another policy of the same run otherwise (CTEDD's
distilled variants ``ctedd-g``, ``ctedd-l-1`` ...): readers of a run's score ignore those rows."""

_COLUMN_DEFAULTS: dict[str, Any] = {"env_options": "", "policy": ""}
"""Columns a row may leave out, and the value they then get."""

_TABLES = {"episodes": EPISODE_SCHEMA, "evals": EVAL_SCHEMA}


class LedgerWarning(UserWarning):
    """A ledger file could not be read and was skipped."""


def default_ledger_path() -> Path:
    """``$MARLBENCH_LEDGER`` when set and non-empty, else ``./marlbench-runs``."""
    return Path(os.environ.get("MARLBENCH_LEDGER") or DEFAULT_LEDGER)


def _now() -> float:
    """Wall clock in unix seconds (one place, so tests can move time)."""
    return time.time()


def _check_run_id(run_id: str) -> str:
    if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id):
        raise ValueError(f"invalid run_id {run_id!r}: use letters, digits, '_', '-', '.' (not first)")
    return run_id


def _as_int(name: str, value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, float | np.floating):
        if not float(value).is_integer():
            raise ValueError(f"column {name!r} needs an integer, got {value!r}")
        return int(value)
    return operator.index(value)


def _as_str(name: str, value: Any) -> str:
    if value is None:
        return ""
    if name in ("config", "versions") and isinstance(value, Mapping):
        return json.dumps(value, sort_keys=True, default=str)
    if name == "tags" and isinstance(value, list | tuple | set | frozenset):
        return ",".join(str(t) for t in value)
    return str(value)


def _normalize_run(row: Mapping[str, Any]) -> dict[str, Any]:
    """The full-schema run row for ``row``: defaults filled, types coerced, statuses checked."""
    unknown = set(row) - set(RUN_SCHEMA.names)
    if unknown:
        raise ValueError(f"unknown run columns {sorted(unknown)}; valid: {RUN_SCHEMA.names}")
    _check_run_id(row.get("run_id"))  # type: ignore[arg-type]
    out: dict[str, Any] = {}
    for field in RUN_SCHEMA:
        value = row.get(field.name)
        if pa.types.is_string(field.type):
            out[field.name] = _as_str(field.name, value)
        elif pa.types.is_integer(field.type):
            out[field.name] = _as_int(field.name, value)
        else:
            out[field.name] = math.nan if value is None else float(value)
    out["status"] = out["status"] or "running"
    if out["status"] not in RUN_STATUSES:
        raise ValueError(f"status {out['status']!r} is not one of {RUN_STATUSES}")
    if math.isnan(out["created_at"]):
        out["created_at"] = _now()
    return out


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_atomic(table: pa.Table, path: Path) -> None:
    """Write ``table`` to ``path`` whole: temp file in the same directory, fsync, ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "wb") as f:
            pq.write_table(table, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _conform(table: pa.Table, schema: pa.Schema, metrics: bool) -> pa.Table:
    """Cast ``table`` to ``schema`` (plus float64 ``metric_*`` columns if ``metrics``); raise if it can't."""
    for name in [n for n in schema.names if n not in table.column_names and n in _COLUMN_DEFAULTS]:
        # a column added to the schema later: older files get its default
        table = table.append_column(
            name, pa.array([_COLUMN_DEFAULTS[name]] * table.num_rows, schema.field(name).type)
        )
    missing = [n for n in schema.names if n not in table.column_names]
    if missing:
        raise ValueError(f"missing columns {missing}")
    fields = list(schema)
    if metrics:
        fields += [pa.field(n, pa.float64()) for n in table.column_names if n.startswith("metric_")]
    target = pa.schema(fields)
    table = table.select(target.names)
    return table if table.schema.equals(target) else table.cast(target)


def _read(path: Path, schema: pa.Schema, metrics: bool) -> pa.Table | None:
    """One ledger file as a table in ``schema``, or None (with a LedgerWarning) when it is damaged."""
    try:
        # Open once and read through that handle: pq.read_table(path) opens the name twice (footer,
        # then data), and a writer's os.replace between the two opens tears the read. (Also faster.)
        with pa.OSFile(str(path)) as f:
            table = pq.ParquetFile(f).read()
        return _conform(table, schema, metrics)
    except FileNotFoundError:  # deleted between listing and reading (delete_run): not damage
        return None
    except Exception as err:  # any failure to parse is damage; reading must never crash a report
        warnings.warn(f"skipping damaged ledger file {path}: {err}", LedgerWarning, stacklevel=3)
        return None


def _parquet_files(directory: Path) -> list[Path]:
    """The finished ``*.parquet`` files in ``directory``, sorted by name (temp files are ignored)."""
    try:
        names = os.listdir(directory)
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [directory / n for n in sorted(names) if n.endswith(".parquet") and not n.startswith(".")]


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class Ledger:
    """A marlbench ledger directory: write runs and episode chunks, read them back as DataFrames.

    Args:
        root: the ledger directory; ``None`` means :func:`default_ledger_path`.
        create: make ``runs/``, ``episodes/``, ``evals/`` and ``checkpoints/`` now. Without it a
            missing root reads as an empty ledger (writes still create what they need).

    Raises:
        LedgerError: ``root`` is a file, is not readable, or (with ``create``) cannot be created.
    """

    def __init__(self, root: str | os.PathLike[str] | None = None, *, create: bool = False) -> None:
        self.root = Path(default_ledger_path() if root is None else root).expanduser().absolute()
        try:
            exists, is_dir = self.root.exists(), self.root.is_dir()
        except OSError as err:
            raise LedgerError(f"cannot access ledger {self.root}: {err.strerror or err}", _FIX) from err
        if exists and not is_dir:
            raise LedgerError(f"ledger path {self.root} is a file, not a directory", _FIX)
        if is_dir and not os.access(self.root, os.R_OK | os.X_OK):
            raise LedgerError(f"ledger {self.root} is not readable", _FIX)
        if create:
            self._make_dirs()

    def __repr__(self) -> str:
        return f"Ledger({str(self.root)!r})"

    def _make_dirs(self) -> None:
        try:
            for sub in _SUBDIRS:
                (self.root / sub).mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise LedgerError(f"cannot create ledger {self.root}: {err.strerror or err}", _FIX) from err

    def check_writable(self) -> None:
        """Create the directories if needed and prove a file can be written and removed there."""
        self._make_dirs()
        probe = self.root / "runs" / f".probe.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        try:
            with open(probe, "wb") as f:
                f.write(b"marlbench")
                os.fsync(f.fileno())
            probe.unlink()
        except OSError as err:
            raise LedgerError(f"cannot write to ledger {self.root}: {err.strerror or err}", _FIX) from err

    # ---- writing ----------------------------------------------------------------------------

    def put_run(self, row: Mapping[str, Any]) -> None:
        """Write ``runs/<run_id>.parquet`` whole, atomically, with every schema column.

        Missing columns get "" / NaN / 0, except ``status`` ("running") and ``created_at`` (now);
        ``updated_at`` is always set to now (it is the run's heartbeat). Unknown columns, a bad
        ``run_id`` or a status outside :data:`RUN_STATUSES` raise ValueError.
        """
        self._put_normalized(_normalize_run(row))

    def _put_normalized(self, full: dict[str, Any]) -> dict[str, Any]:
        full["updated_at"] = _now()
        table = pa.Table.from_pylist([full], schema=RUN_SCHEMA)
        _write_atomic(table, self.root / "runs" / f"{full['run_id']}.parquet")
        return full

    def _stored_run(self, run_id: str) -> dict[str, Any]:
        """The stored row of run ``run_id`` (exact id, status as written)."""
        path = self.root / "runs" / f"{_check_run_id(run_id)}.parquet"
        if not path.is_file():
            raise LedgerError(f"no run '{run_id}' in ledger {self.root}", "run 'marlbench runs' to list them")
        table = _read(path, RUN_SCHEMA, metrics=False)
        if table is None or table.num_rows != 1:
            raise LedgerError(
                f"the file of run '{run_id}' in ledger {self.root} is damaged: {path}",
                "delete that file (or run the training again)",
            )
        return table.to_pylist()[0]

    def update_run(self, run_id: str, **changes: Any) -> dict[str, Any]:
        """Apply ``changes`` to run ``run_id`` (exact id) and rewrite it; return the new stored row."""
        if changes.get("run_id", run_id) != run_id:
            raise ValueError("update_run cannot change a run's run_id")
        row = self._stored_run(run_id)
        row.update(changes)
        return self._put_normalized(_normalize_run(row))

    def append(self, table: str, run_id: str, rows: list[Mapping[str, Any]]) -> Path | None:
        """Write ``rows`` as one new chunk of ``table`` ("episodes" or "evals") for ``run_id``.

        Each row needs the table's base columns (``run_id`` is filled in); any ``metric_<name>``
        columns become float64 (NaN where a row lacks one). Returns the chunk's path, or None when
        ``rows`` is empty.
        """
        schema = _TABLES.get(table)
        if schema is None:
            raise ValueError(f"unknown ledger table {table!r}; valid: {sorted(_TABLES)}")
        _check_run_id(run_id)
        if not rows:
            return None
        data = _chunk_table(schema, run_id, rows)
        directory = self.root / table / run_id
        seq = 0
        for path in _parquet_files(directory):
            head = path.name.split("-", 1)[0]
            if head.isdigit():
                seq = max(seq, int(head) + 1)
        path = directory / f"{seq:08d}-{os.getpid()}-{secrets.token_hex(4)}.parquet"
        _write_atomic(data, path)
        return path

    def chunk_writer(
        self, table: str, run_id: str, *, flush_rows: int = 2000, flush_seconds: float = 30.0
    ) -> ChunkWriter:
        """A buffer that appends rows to ``table`` for ``run_id`` in chunks (see :class:`ChunkWriter`)."""
        return ChunkWriter(self, table, run_id, flush_rows=flush_rows, flush_seconds=flush_seconds)

    def checkpoint_dir(self, run_id: str) -> Path:
        """``checkpoints/<run_id>``, created if needed."""
        path = self.root / "checkpoints" / _check_run_id(run_id)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def delete_run(self, run_id: str) -> None:
        """Remove run ``run_id`` (exact id): its row, chunks and checkpoints. Missing parts are fine."""
        _check_run_id(run_id)
        (self.root / "runs" / f"{run_id}.parquet").unlink(missing_ok=True)
        for sub in ("episodes", "evals", "checkpoints"):
            shutil.rmtree(self.root / sub / run_id, ignore_errors=True)

    # ---- reading ----------------------------------------------------------------------------

    def runs(self) -> pd.DataFrame:
        """One row per run with every schema column, sorted by ``created_at``.

        A stored ``running`` status reads as ``crashed`` when its writer is gone: it ran on this
        host and its pid is not alive, or its heartbeat ``updated_at`` is older than
        :data:`STALE_SECONDS`. Damaged files are skipped with a :class:`LedgerWarning`.
        """
        tables = [_read(p, RUN_SCHEMA, metrics=False) for p in _parquet_files(self.root / "runs")]
        table = pa.concat_tables([t for t in tables if t is not None] or [RUN_SCHEMA.empty_table()])
        df = table.to_pandas()
        if len(df):
            df["status"] = _derived_status(df)
            df = df.sort_values(["created_at", "run_id"], kind="stable").reset_index(drop=True)
        return df

    def get_run(self, run_id: str) -> dict[str, Any]:
        """The row of run ``run_id`` (exact id or unique prefix), with the derived status."""
        names = [p.name[: -len(".parquet")] for p in _parquet_files(self.root / "runs")]
        if run_id not in names:
            matches = [n for n in names if run_id and n.startswith(run_id)]
            if not matches:
                raise LedgerError(
                    f"no run '{run_id}' in ledger {self.root}", "run 'marlbench runs' to list them"
                )
            if len(matches) > 1:
                more = f" and {len(matches) - 10} more" if len(matches) > 10 else ""
                shown = ", ".join(matches[:10]) + more
                raise LedgerError(
                    f"run id '{run_id}' is ambiguous in ledger {self.root}: it matches {shown}",
                    "give more characters of the run id",
                )
            run_id = matches[0]
        row = self._stored_run(run_id)
        row["status"] = _derived_status(pd.DataFrame([row]))[0]
        return row

    def episodes(self, run_ids: Iterable[str] | None = None) -> pd.DataFrame:
        """Training episodes of ``run_ids`` (all runs when None), one row per agent per episode."""
        return self._chunks("episodes", run_ids)

    def evals(self, run_ids: Iterable[str] | None = None) -> pd.DataFrame:
        """Evaluation episodes of ``run_ids`` (all runs when None), one row per agent per episode."""
        return self._chunks("evals", run_ids)

    def last_eval(self, run_id: str) -> pd.DataFrame:
        """The evaluation rows of run ``run_id`` (exact id) with its highest ``eval_id``."""
        df = self.evals([run_id])
        if len(df):
            df = df[df["eval_id"] == df["eval_id"].max()].reset_index(drop=True)
        return df

    def _chunks(self, table: str, run_ids: Iterable[str] | None) -> pd.DataFrame:
        """Concatenate the chunks of ``table``: runs in the given (else name) order, chunks in write order.

        Columns are the base columns then the union of ``metric_*`` columns, sorted by name.
        """
        schema = _TABLES[table]
        base = self.root / table
        if run_ids is None:
            dirs = _parquet_dirs(base)
        else:
            ids = [run_ids] if isinstance(run_ids, str) else list(dict.fromkeys(run_ids))
            dirs = [base / r for r in ids if _RUN_ID.fullmatch(r)]
        tables = [_read(p, schema, metrics=True) for d in dirs for p in _parquet_files(d)]
        tables = [t for t in tables if t is not None]
        if not tables:
            return schema.empty_table().to_pandas()
        joined = pa.concat_tables(tables, promote_options="default")
        metrics = sorted(n for n in joined.column_names if n.startswith("metric_"))
        return joined.select(schema.names + metrics).to_pandas()


def _parquet_dirs(base: Path) -> list[Path]:
    try:
        return [base / n for n in sorted(os.listdir(base)) if not n.startswith(".")]
    except (FileNotFoundError, NotADirectoryError):
        return []


def _derived_status(df: pd.DataFrame) -> list[str]:
    """``status`` with ``running`` turned into ``crashed`` where the writer is gone."""
    host, now = socket.gethostname(), _now()
    out = []
    columns = (df["status"], df["host"], df["pid"], df["updated_at"])
    for status, run_host, pid, updated in zip(*columns, strict=True):
        if status == "running":
            dead = run_host == host and not _pid_alive(int(pid))
            stale = not now - float(updated) < STALE_SECONDS  # NaN heartbeat counts as stale
            if dead or stale:
                status = "crashed"
        out.append(str(status))
    return out


def _chunk_table(schema: pa.Schema, run_id: str, rows: list[Mapping[str, Any]]) -> pa.Table:
    """``rows`` as a table in ``schema`` plus sorted float64 ``metric_*`` columns; ValueError on bad rows."""
    keys: set[str] = set()
    for row in rows:
        keys.update(row)
    unknown = sorted(k for k in keys - set(schema.names) if not k.startswith("metric_"))
    if unknown:
        raise ValueError(f"unknown columns {unknown}: valid are {schema.names} and metric_<name>")
    arrays: list[pa.Array] = []
    for field in schema:
        if field.name == "run_id":
            if any(row.get("run_id", run_id) != run_id for row in rows):
                raise ValueError(f"rows for run {run_id!r} carry another run_id")
            arrays.append(pa.array([run_id] * len(rows), pa.string()))
            continue
        values = [row.get(field.name, _COLUMN_DEFAULTS.get(field.name)) for row in rows]
        if any(v is None for v in values):
            raise ValueError(f"every row needs column {field.name!r}")
        if pa.types.is_string(field.type):
            arrays.append(pa.array([str(v) for v in values], pa.string()))
        elif pa.types.is_integer(field.type):
            arr = np.asarray(values)
            if arr.dtype.kind not in "biuf" or (arr.dtype.kind == "f" and not np.all(np.mod(arr, 1) == 0)):
                raise ValueError(f"column {field.name!r} needs integers")
            arrays.append(pa.array(arr.astype(np.int64)))
        else:
            arrays.append(pa.array(np.asarray(values, dtype=np.float64)))
    metrics = sorted(k for k in keys if k.startswith("metric_"))
    for name in metrics:
        arrays.append(pa.array(np.asarray([row.get(name) for row in rows], dtype=np.float64)))
    return pa.Table.from_arrays(arrays, schema=pa.schema(list(schema) + [(m, pa.float64()) for m in metrics]))


class ChunkWriter:
    """Buffers rows in memory and appends them to the ledger as chunk files.

    A chunk is written when ``flush_rows`` rows are buffered or ``flush_seconds`` have passed
    since the last write (checked on :meth:`add`; there is no background thread). A crash loses
    only the rows not yet flushed. Use as a context manager, or call :meth:`close` at the end.
    """

    def __init__(
        self, ledger: Ledger, table: str, run_id: str, *, flush_rows: int = 2000, flush_seconds: float = 30.0
    ) -> None:
        if table not in _TABLES:
            raise ValueError(f"unknown ledger table {table!r}; valid: {sorted(_TABLES)}")
        if flush_rows < 1 or flush_seconds < 0:
            raise ValueError("flush_rows must be >= 1 and flush_seconds >= 0")
        self.ledger, self.table, self.run_id = ledger, table, _check_run_id(run_id)
        self.flush_rows, self.flush_seconds = flush_rows, flush_seconds
        self._rows: list[Mapping[str, Any]] = []
        self._last = time.monotonic()
        self._closed = False

    def add(self, rows: list[Mapping[str, Any]]) -> None:
        """Buffer ``rows``; write a chunk if the row count or the time since the last write says so."""
        if self._closed:
            raise ValueError("ChunkWriter is closed")
        self._rows.extend(rows)
        if len(self._rows) >= self.flush_rows or time.monotonic() - self._last >= self.flush_seconds:
            self.flush()

    def flush(self) -> Path | None:
        """Write the buffered rows as one chunk now; the chunk's path, or None when nothing was buffered."""
        path = self.ledger.append(self.table, self.run_id, self._rows)
        self._rows = []
        self._last = time.monotonic()
        return path

    def close(self) -> None:
        """Flush what is left; later ``add`` calls raise."""
        if not self._closed:
            self.flush()
            self._closed = True

    def __enter__(self) -> ChunkWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
