"""Ledger files on disk: written whole and atomically, read back tolerating damage.

Every file is written whole to a temporary name in the same directory, fsync-ed, and then
``os.replace``-d into place, so a reader never sees half a file. A reader that meets a file it
cannot parse warns (:class:`LedgerWarning`) and skips it: reading never crashes a report.
"""

from __future__ import annotations

import os
import re
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


MERGED = re.compile(r"(\d{8})-merged-(\d{8})\.parquet")
"""A compacted chunk ``LAST-merged-FIRST.parquet``: it holds chunks ``FIRST`` .. ``LAST`` of a run."""


def parquet_files(directory: Path) -> list[Path]:
    """The live ``*.parquet`` files in ``directory``, sorted by name.

    Temp files are ignored, and so are chunks a compacted file covers (:func:`covered`): after a
    crash between writing a compacted file and deleting its parts, the parts are not read twice.
    """
    try:
        names = os.listdir(directory)
    except (FileNotFoundError, NotADirectoryError):
        return []
    names = sorted(n for n in names if n.endswith(".parquet") and not n.startswith("."))
    hidden = covered(names)
    return [directory / n for n in names if n not in hidden]


def chunk_range(name: str) -> tuple[int, int] | None:
    """``(first, last)`` sequence numbers a chunk file holds (one for a plain chunk), or None."""
    merged = MERGED.fullmatch(name)
    if merged:
        return int(merged[2]), int(merged[1])
    head = name.split("-", 1)[0]
    return (int(head), int(head)) if head.isdigit() and len(head) == 8 else None


def covered(names: list[str]) -> set[str]:
    """The chunk names a compacted file among ``names`` holds (a wider compacted file covers a narrower)."""
    spans = [(r, n) for n in names if MERGED.fullmatch(n) and (r := chunk_range(n)) is not None]
    out: set[str] = set()
    for name in names:
        own = chunk_range(name)
        if own is None:
            continue
        for (low, high), merged in spans:
            inside = merged != name and low <= own[0] and own[1] <= high
            if inside and ((low, high) != own or not MERGED.fullmatch(name)):
                out.add(name)
                break
    return out


def subdirectories(base: Path) -> list[Path]:
    """The entries of ``base`` (one per run in ``episodes/`` and ``evals/``), sorted, hidden ones left out."""
    try:
        return [base / n for n in sorted(os.listdir(base)) if not n.startswith(".")]
    except (FileNotFoundError, NotADirectoryError):
        return []
