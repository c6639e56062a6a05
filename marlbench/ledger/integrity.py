"""What keeps one run's files consistent: a per-run lock, rows past a checkpoint dropped, full disks named.

* :class:`RunLock`: while a process trains a run (new or resumed) it holds an exclusive ``flock``
  on ``runs/<run_id>.lock``, which also records its pid and host. A second writer of the same run
  is refused with both; the kernel drops the lock when its holder dies, so a crashed run's lock
  is taken over without any staleness guesswork.
* :func:`truncate_after`: a run that crashed after its last checkpoint has chunks holding rows that
  the resumed run will record again. Before resuming, every chunk is rewritten (atomically, file by
  file) without the rows past the checkpoint, so rows recorded before it are never lost, a crash in
  the middle leaves each file whole, and running it again is harmless.
* :func:`no_space`: the one message for a full disk.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from marlbench.errors import LedgerError
from marlbench.ledger.files import parquet_files, read_table, write_atomic
from marlbench.ledger.schema import TABLES, check_run_id


class RunLock:
    """An exclusive, non-blocking lock on one run of one ledger (a context manager).

    Raises:
        LedgerError: another live process holds the run ("running elsewhere, pid N on host H").
    """

    def __init__(self, root: Path, run_id: str) -> None:
        self.path = Path(root) / "runs" / f"{check_run_id(run_id)}.lock"
        self.run_id = run_id
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            os.close(fd)
            if err.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
            holder = self.holder()
            raise LedgerError(
                f"run '{self.run_id}' is running elsewhere, pid {holder.get('pid', '?')} "
                f"on host {holder.get('host', '?')}",
                "wait for it to end (marlbench runs shows its status), or stop that process first",
            ) from None
        stamp = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()})
        os.ftruncate(fd, 0)
        os.pwrite(fd, stamp.encode(), 0)
        self._fd = fd
        return self

    def holder(self) -> dict[str, Any]:
        """The pid and host the lock file records (empty when unreadable)."""
        try:
            data = json.loads(self.path.read_text() or "{}")
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def release(self) -> None:
        # the file stays: unlinking a flock-ed file lets a waiter lock an orphaned inode
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire() if self._fd is None else self

    def __exit__(self, *exc: object) -> None:
        self.release()


def keep_mask(table_name: str, table: pa.Table, upto: Mapping[str, int]) -> pa.Array:
    """Which rows of a chunk of ``table_name`` were recorded up to the checkpoint described by ``upto``.

    ``upto`` is the checkpoint's counters: ``episodes`` (training episodes recorded), ``evals``
    (training-time evaluation rounds logged) and ``steps``. Episodes keep ``episode < episodes``;
    evaluations keep ``eval_id < evals`` unless they came from a later ``marlbench evaluate``
    (``env_options`` set); any other per-step table keeps ``step <= steps``.
    """
    if table_name == "episodes":
        return pc.less(table["episode"], upto["episodes"])
    if table_name == "evals":
        later_eval = pc.not_equal(table["env_options"], "")
        return pc.or_(pc.less(table["eval_id"], upto["evals"]), later_eval)
    if "step" in table.column_names:
        return pc.less_equal(table["step"], upto["steps"])
    return pa.array([True] * table.num_rows)


def truncate_after(
    root: Path, run_id: str, upto: Mapping[str, int], tables: Mapping[str, Any] = TABLES
) -> int:
    """Drop the rows of ``run_id`` recorded after the checkpoint ``upto``; returns how many were dropped.

    A chunk wholly before the checkpoint is left alone, one wholly after it is deleted, a mixed one is
    rewritten in place with :func:`~marlbench.ledger.files.write_atomic`. Damaged chunks are left for
    the readers to skip (they warn).
    """
    dropped = 0
    for name, schema in tables.items():
        for path in parquet_files(Path(root) / name / check_run_id(run_id)):
            table = read_table(path, schema, metrics=True)
            if table is None:
                continue
            mask = keep_mask(name, table, upto)
            kept = int(pc.sum(mask).as_py() or 0)
            if kept == table.num_rows:
                continue
            dropped += table.num_rows - kept
            if kept == 0:
                path.unlink(missing_ok=True)
            else:
                write_atomic(table.filter(mask), path)
    return dropped


def is_no_space(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it was raised from) is a full disk or quota."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "No space left on device" in str(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def no_space(root: Path) -> LedgerError:
    """The one message for a full disk under ledger ``root``."""
    return LedgerError(f"no space left on the disk of ledger {root}", "free space or choose another --ledger")
