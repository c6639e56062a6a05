"""The :class:`Ledger`: a ledger directory's runs, episode and evaluation chunks, and checkpoints.

The directory layout is described in :mod:`marlbench.ledger`. A stored ``running`` status reads as
``crashed`` once its writer is gone (see :meth:`Ledger.runs`).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from marlbench.errors import LedgerError
from marlbench.ledger.chunks import ChunkWriter
from marlbench.ledger.files import parquet_files, read_table, subdirectories, write_atomic
from marlbench.ledger.integrity import RunLock, is_no_space, no_space, truncate_after
from marlbench.ledger.schema import (
    RUN_ID,
    RUN_SCHEMA,
    TABLES,
    check_run_id,
    chunk_table,
    normalize_run,
    table_schema,
)

DEFAULT_LEDGER = "marlbench-runs"
STALE_SECONDS = 900.0
"""A ``running`` run whose heartbeat (``updated_at``) is older than this is shown as ``crashed``.

Writers must therefore ``update_run`` more often than this while they are alive."""

_FIX = "pass --ledger DIR or set MARLBENCH_LEDGER to a directory you can read and write"
_SUBDIRS = ("runs", "episodes", "evals", "checkpoints")


def default_ledger_path() -> Path:
    """``$MARLBENCH_LEDGER`` when set and non-empty, else ``./marlbench-runs``."""
    return Path(os.environ.get("MARLBENCH_LEDGER") or DEFAULT_LEDGER)


def _now() -> float:
    """Wall clock in unix seconds (one place, so tests can move time)."""
    return time.time()


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` is still running (a zombie, ended but not yet reaped, is not)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    try:  # an orphaned worker that died stays a zombie where nothing reaps it (e.g. in a container)
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


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
            with contextlib.suppress(OSError):  # a read-only disk refuses the unlink too
                probe.unlink(missing_ok=True)
            if is_no_space(err):
                raise no_space(self.root) from err
            raise LedgerError(f"cannot write to ledger {self.root}: {err.strerror or err}", _FIX) from err

    # ---- writing ----------------------------------------------------------------------------

    def put_run(self, row: Mapping[str, Any]) -> None:
        """Write ``runs/<run_id>.parquet`` whole, atomically, with every schema column.

        Missing columns get "" / NaN / 0, except ``status`` ("running") and ``created_at`` (now);
        ``updated_at`` is always set to now (it is the run's heartbeat). Unknown columns, a bad
        ``run_id`` or a status outside :data:`RUN_STATUSES` raise ValueError.
        """
        self._put_normalized(normalize_run(row, _now()))

    def _put_normalized(self, full: dict[str, Any]) -> dict[str, Any]:
        full["updated_at"] = _now()
        table = pa.Table.from_pylist([full], schema=RUN_SCHEMA)
        write_atomic(table, self.root / "runs" / f"{full['run_id']}.parquet")
        return full

    def _stored_run(self, run_id: str) -> dict[str, Any]:
        """The stored row of run ``run_id`` (exact id, status as written)."""
        path = self.root / "runs" / f"{check_run_id(run_id)}.parquet"
        if not path.is_file():
            raise LedgerError(f"no run '{run_id}' in ledger {self.root}", "run 'marlbench runs' to list them")
        table = read_table(path, RUN_SCHEMA, metrics=False)
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
        return self._put_normalized(normalize_run(row, _now()))

    def append(self, table: str, run_id: str, rows: list[Mapping[str, Any]]) -> Path | None:
        """Write ``rows`` as one new chunk of ``table`` ("episodes" or "evals") for ``run_id``.

        Each row needs the table's base columns (``run_id`` is filled in); any ``metric_<name>``
        columns become float64 (NaN where a row lacks one). Returns the chunk's path, or None when
        ``rows`` is empty.
        """
        schema = table_schema(table)
        check_run_id(run_id)
        if not rows:
            return None
        data = chunk_table(schema, run_id, rows)
        directory = self.root / table / run_id
        seq = 0
        for path in parquet_files(directory):
            head = path.name.split("-", 1)[0]
            if head.isdigit():
                seq = max(seq, int(head) + 1)
        path = directory / f"{seq:08d}-{os.getpid()}-{secrets.token_hex(4)}.parquet"
        write_atomic(data, path)
        return path

    def chunk_writer(
        self, table: str, run_id: str, *, flush_rows: int = 2000, flush_seconds: float = 30.0
    ) -> ChunkWriter:
        """A buffer that appends rows to ``table`` for ``run_id`` in chunks (see :class:`ChunkWriter`)."""
        return ChunkWriter(self, table, run_id, flush_rows=flush_rows, flush_seconds=flush_seconds)

    def compact_run(self, run_id: str) -> int:
        """Merge a finished run's chunks into one file per table (:mod:`marlbench.ledger.compact`)."""
        from marlbench.ledger.compact import compact_run

        return compact_run(self.root, run_id)

    def checkpoint_dir(self, run_id: str) -> Path:
        """``checkpoints/<run_id>``, created if needed."""
        path = self.root / "checkpoints" / check_run_id(run_id)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def saved_checkpoint(self, row: Mapping[str, Any]) -> Path:
        """The checkpoint folder a run row names, which must lie inside this run's ``checkpoints/``.

        A ledger can come from elsewhere: a row pointing outside it (an absolute path, ``..``) is
        refused rather than followed, and so is a row whose checkpoint folder is gone.
        """
        run_id = check_run_id(str(row["run_id"]))
        if not row.get("checkpoint"):
            raise LedgerError(f"run '{run_id}' has no checkpoint", "train it again instead")
        own = (self.root / "checkpoints" / run_id).resolve()
        path = (self.root / str(row["checkpoint"])).resolve()
        if not path.is_relative_to(own):
            raise LedgerError(
                f"run '{run_id}' names a checkpoint outside its ledger folder ({row['checkpoint']})",
                f"only checkpoints under {own} are loaded; train the run again",
            )
        if not path.is_dir():
            raise LedgerError(f"the checkpoint of run '{run_id}' is missing ({path})", "train the run again")
        return path

    def lock_run(self, run_id: str) -> RunLock:
        """An exclusive lock on run ``run_id`` for its writer (see :class:`~.integrity.RunLock`).

        Use as ``with ledger.lock_run(run_id):``; a second writer gets a LedgerError naming the
        holder's pid and host.
        """
        return RunLock(self.root, run_id)

    def truncate_run(self, run_id: str, upto: Mapping[str, int]) -> int:
        """Drop run ``run_id``'s rows recorded after the checkpoint counters ``upto`` (before a resume).

        ``upto`` has ``steps``, ``episodes`` and ``evals`` (a checkpoint's ``marlbench.json``);
        returns the number of rows dropped (see :func:`~.integrity.truncate_after`).
        """
        return truncate_after(self.root, run_id, upto)

    def delete_run(self, run_id: str) -> None:
        """Remove run ``run_id`` (exact id): its row, chunks and checkpoints. Missing parts are fine."""
        check_run_id(run_id)
        (self.root / "runs" / f"{run_id}.parquet").unlink(missing_ok=True)
        (self.root / "runs" / f"{run_id}.lock").unlink(missing_ok=True)
        for sub in (*TABLES, "checkpoints"):
            shutil.rmtree(self.root / sub / run_id, ignore_errors=True)

    # ---- reading ----------------------------------------------------------------------------

    def runs(self) -> pd.DataFrame:
        """One row per run with every schema column, sorted by ``created_at``.

        A stored ``running`` status reads as ``crashed`` when its writer is gone: it ran on this
        host and its pid is not alive, or its heartbeat ``updated_at`` is older than
        :data:`STALE_SECONDS`. Damaged files are skipped with a :class:`LedgerWarning`.
        """
        tables = [read_table(p, RUN_SCHEMA, metrics=False) for p in parquet_files(self.root / "runs")]
        table = pa.concat_tables([t for t in tables if t is not None] or [RUN_SCHEMA.empty_table()])
        df = table.to_pandas()
        if len(df):
            df["status"] = _derived_status(df)
            df = df.sort_values(["created_at", "run_id"], kind="stable").reset_index(drop=True)
        return df

    def get_run(self, run_id: str) -> dict[str, Any]:
        """The row of run ``run_id`` (exact id or unique prefix), with the derived status."""
        names = [p.name[: -len(".parquet")] for p in parquet_files(self.root / "runs")]
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

    def metrics(self, run_ids: Iterable[str] | None = None) -> pd.DataFrame:
        """Training diagnostics of ``run_ids`` (all runs when None): run_id, step, wall_time, name, value."""
        return self._chunks("metrics", run_ids)

    def last_eval(self, run_id: str) -> pd.DataFrame:
        """The rows of run ``run_id``'s last evaluation of its own acting policy (highest ``eval_id``).

        Rounds that score another policy of the run (CTEDD's variant tests, ``policy != ""``) can
        come after it and are not "the" evaluation.
        """
        df = self.evals([run_id])
        if len(df):
            df = df[df["policy"] == ""]
            df = df[df["eval_id"] == df["eval_id"].max()].reset_index(drop=True)
        return df

    def _chunks(self, table: str, run_ids: Iterable[str] | None) -> pd.DataFrame:
        """Concatenate the chunks of ``table``: runs in the given (else name) order, chunks in write order.

        Columns are the base columns then the union of ``metric_*`` columns, sorted by name.
        """
        schema = TABLES[table]
        base = self.root / table
        if run_ids is None:
            dirs = subdirectories(base)
        else:
            ids = [run_ids] if isinstance(run_ids, str) else list(dict.fromkeys(run_ids))
            dirs = [base / r for r in ids if RUN_ID.fullmatch(r)]
        tables = [t for d in dirs for t in _read_dir(d, schema)]
        if not tables:
            return schema.empty_table().to_pandas()
        joined = pa.concat_tables(tables, promote_options="default")
        metrics = sorted(n for n in joined.column_names if n.startswith("metric_"))
        return joined.select(schema.names + metrics).to_pandas()


def _read_dir(directory: Path, schema: pa.Schema) -> list[pa.Table]:
    """The chunks of one run's table directory; listed again when a file vanished while reading
    (a finishing run compacting its chunks: the compacted file then holds those rows)."""
    for _ in range(3):
        files = parquet_files(directory)
        tables = [read_table(p, schema, metrics=True) for p in files]
        if all(t is not None or p.exists() for t, p in zip(tables, files, strict=True)):
            break
    return [t for t in tables if t is not None]


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
