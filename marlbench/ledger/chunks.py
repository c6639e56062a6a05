"""Buffered chunk writing: episode and evaluation rows reach the ledger in chunks, not row by row."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from marlbench.ledger.schema import check_run_id, table_schema

if TYPE_CHECKING:
    from marlbench.ledger.store import Ledger


class ChunkWriter:
    """Buffers rows in memory and appends them to the ledger as chunk files.

    A chunk is written when ``flush_rows`` rows are buffered or ``flush_seconds`` have passed
    since the last write (checked on :meth:`add`; there is no background thread). A crash loses
    only the rows not yet flushed. Use as a context manager, or call :meth:`close` at the end.
    """

    def __init__(
        self, ledger: Ledger, table: str, run_id: str, *, flush_rows: int = 2000, flush_seconds: float = 30.0
    ) -> None:
        table_schema(table)  # the table must exist
        if flush_rows < 1 or flush_seconds < 0:
            raise ValueError("flush_rows must be >= 1 and flush_seconds >= 0")
        self.ledger, self.table, self.run_id = ledger, table, check_run_id(run_id)
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
