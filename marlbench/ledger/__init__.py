"""The Parquet ledger: every run, training episode and evaluation episode marlbench records.

Layout under the root directory (default ``./marlbench-runs``; ``MARLBENCH_LEDGER`` or ``--ledger``)::

    runs/<run_id>.parquet                 one row per run, rewritten whole on every status change
    episodes/<run_id>/<chunk>.parquet     training episodes, one row per agent per episode
    evals/<run_id>/<chunk>.parquet        evaluation episodes, one row per agent per episode
    metrics/<run_id>/<chunk>.parquet      training diagnostics (losses, Q values ...), one row per value
    checkpoints/<run_id>/...              algorithm checkpoints (written by the algorithm's save)

Every file is written whole to a temporary name in the same directory and then ``os.replace``-d
into place, so a reader never sees half a file. A run only ever writes its own files, so
concurrent runs never write the same file. Chunk names sort in write order
(``00000000-<pid>-<random>.parquet``).

The parts, by job:

* :mod:`.schema`: the tables' columns (documented there) and rows checked against them;
* :mod:`.files`: atomic writing and damage-tolerant reading of one file;
* :mod:`.store`: the :class:`Ledger` class (runs, chunks, checkpoints; the derived ``crashed`` status);
* :mod:`.chunks`: the buffered :class:`ChunkWriter`.
"""

from __future__ import annotations

from marlbench.ledger.chunks import ChunkWriter
from marlbench.ledger.files import LedgerWarning
from marlbench.ledger.schema import EPISODE_SCHEMA, EVAL_SCHEMA, RUN_SCHEMA, RUN_STATUSES
from marlbench.ledger.store import DEFAULT_LEDGER, STALE_SECONDS, Ledger, default_ledger_path

__all__ = [
    "DEFAULT_LEDGER",
    "EPISODE_SCHEMA",
    "EVAL_SCHEMA",
    "RUN_SCHEMA",
    "RUN_STATUSES",
    "STALE_SECONDS",
    "ChunkWriter",
    "Ledger",
    "LedgerWarning",
    "default_ledger_path",
]
