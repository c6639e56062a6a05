"""Ledger files on disk: written whole and atomically, read back tolerating damage.

Every file is written whole to a temporary name in the same directory, fsync-ed, and then
``os.replace``-d into place, so a reader never sees half a file. A reader that meets a file it
cannot parse warns (:class:`LedgerWarning`) and skips it: reading never crashes a report.
"""

from __future__ import annotations

import os
import secrets
import warnings
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from marlbench.ledger.schema import conform


class LedgerWarning(UserWarning):
    """A ledger file could not be read and was skipped."""


def write_atomic(table: pa.Table, path: Path) -> None:
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


def read_table(path: Path, schema: pa.Schema, metrics: bool) -> pa.Table | None:
    """One ledger file as a table in ``schema``, or None (with a LedgerWarning) when it is damaged."""
    try:
        # Open once and read through that handle: pq.read_table(path) opens the name twice (footer,
        # then data), and a writer's os.replace between the two opens tears the read. (Also faster.)
        with pa.OSFile(str(path)) as f:
            table = pq.ParquetFile(f).read(use_threads=False)  # small files: a thread pool costs more
        return conform(table, schema, metrics)
    except FileNotFoundError:  # deleted between listing and reading (delete_run): not damage
        return None
    except Exception as err:  # any failure to parse is damage; reading must never crash a report
        warnings.warn(f"skipping damaged ledger file {path}: {err}", LedgerWarning, stacklevel=3)
        return None


def parquet_files(directory: Path) -> list[Path]:
    """The finished ``*.parquet`` files in ``directory``, sorted by name (temp files are ignored)."""
    try:
        names = os.listdir(directory)
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [directory / n for n in sorted(names) if n.endswith(".parquet") and not n.startswith(".")]


def subdirectories(base: Path) -> list[Path]:
    """The entries of ``base`` (one per run in ``episodes/`` and ``evals/``), sorted, hidden ones left out."""
    try:
        return [base / n for n in sorted(os.listdir(base)) if not n.startswith(".")]
    except (FileNotFoundError, NotADirectoryError):
        return []
