"""Compaction: a finished run's chunk files merged into one file per table, so reading stays fast.

A run writes its episodes, evaluations and diagnostics as many small chunks (one per flush, one per
evaluation round); a reader pays about a third of a millisecond per file, so a ledger of 1,000 runs
with 10 evaluations each would take seconds to ``compare``. When a run finishes, its chunks of each
table are rewritten as one file ``LAST-merged-FIRST.parquet`` (written whole, atomically), then the
parts are deleted. Readers skip parts a compacted file covers
(:func:`marlbench.ledger.files.parquet_files`), so a crash between the two steps loses and doubles
nothing. Chunks written later (a post-hoc ``evaluate``) come after it in name order.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from marlbench.ledger.files import chunk_range, parquet_files, read_table, write_atomic
from marlbench.ledger.schema import TABLES, check_run_id


def compact_run(root: Path, run_id: str) -> int:
    """Merge ``run_id``'s chunks of every table into one file each; returns how many files went.

    A table with a damaged chunk is left as it is (its readers warn and skip that chunk).
    """
    removed = 0
    for name, schema in TABLES.items():
        files = [p for p in parquet_files(Path(root) / name / check_run_id(run_id)) if chunk_range(p.name)]
        if len(files) < 2:
            continue
        tables = [read_table(p, schema, metrics=True) for p in files]
        if any(t is None for t in tables):
            continue
        first, last = chunk_range(files[0].name), chunk_range(files[-1].name)
        assert first is not None and last is not None
        merged = pa.concat_tables(tables, promote_options="default")  # type: ignore[arg-type]
        write_atomic(merged, files[0].parent / f"{last[1]:08d}-merged-{first[0]:08d}.parquet")
        for path in files:
            path.unlink(missing_ok=True)
        removed += len(files) - 1
    return removed
