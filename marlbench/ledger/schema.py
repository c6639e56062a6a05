"""The ledger's tables: their exact schemas, and rows checked and coerced into them.

``runs`` columns: run_id (str), config_hash (str), algo (str), env (str), seed (int64),
preset (str, "" if none), variant (str, "" if none), tags (str, comma-joined), config (str, JSON of
the fully resolved run spec), status (str: running | finished | failed | interrupted | diverged;
readers add the derived ``crashed``), created_at / updated_at / finished_at (float unix seconds,
NaN when not yet), wall_time_s (float), steps (int64, env steps done), total_steps (int64, budget),
agent_steps (int64), n_agents (int64), versions (str, JSON), error (str), host (str), pid (int64),
checkpoint (str, path relative to the root, "" if none), resumed_from (str), updates (int64, gradient
updates the learner made so far; null, read as NaN, in ledgers written before the column existed).

``episodes`` columns: run_id, episode (int64, per-run counter), agent (str), step (int64, env steps
at the episode's end), wall_time (float, seconds since the run started), reward (float64), length
(int64), and one float64 column ``metric_<name>`` per environment metric.

``evals`` columns: run_id, eval_id (int64, 0.. per run), step (int64, training env steps at the
evaluation), episode (int64, index within the evaluation), agent, reward, length, ``metric_<name>``.

``metrics`` columns: run_id, step (int64, env steps when the value was logged), wall_time (float,
seconds since the run started), name (str, e.g. ``critic_loss``, ``per_beta``), value (float64): the
learners' training diagnostics, thinned by the recorder (a few hundred rows per name and run).
"""

from __future__ import annotations

import json
import math
import operator
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa

RUN_STATUSES = ("running", "finished", "failed", "interrupted", "diverged")
"""Statuses a writer stores; readers derive a sixth, ``crashed``."""

RUN_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")

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
        ("updates", pa.int64()),
    ]
)
"""Exact schema of a ``runs/<run_id>.parquet`` file."""

NULLABLE_RUN_COLUMNS = frozenset({"updates"})
"""Integer run columns where a missing value stays null ("unknown"), not 0."""

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

METRIC_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("step", pa.int64()),
        ("wall_time", pa.float64()),
        ("name", pa.string()),
        ("value", pa.float64()),
    ]
)
"""Columns of a ``metrics`` chunk: one training diagnostic value (long format, no ``metric_*``)."""

COLUMN_DEFAULTS: dict[str, Any] = {"env_options": "", "policy": "", "updates": None}
"""Columns a row may leave out (or an older file lacks), and the value they then get."""

TABLES = {"episodes": EPISODE_SCHEMA, "evals": EVAL_SCHEMA, "metrics": METRIC_SCHEMA}
"""The chunked tables by name."""


def check_run_id(run_id: str) -> str:
    """``run_id`` itself when it is a valid file name stem; ValueError otherwise."""
    if not isinstance(run_id, str) or not RUN_ID.fullmatch(run_id):
        raise ValueError(f"invalid run_id {run_id!r}: use letters, digits, '_', '-', '.' (not first)")
    return run_id


def table_schema(table: str) -> pa.Schema:
    """The base schema of chunked ``table`` ("episodes", "evals", "metrics"); ValueError for another name."""
    schema = TABLES.get(table)
    if schema is None:
        raise ValueError(f"unknown ledger table {table!r}; valid: {sorted(TABLES)}")
    return schema


def _as_int(name: str, value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, float | np.floating):
        if not float(value).is_integer():
            raise ValueError(f"column {name!r} needs an integer, got {value!r}")
        return int(value)
    return operator.index(value)


def _is_nan(value: Any) -> bool:
    return isinstance(value, float | np.floating) and math.isnan(value)


def _as_str(name: str, value: Any) -> str:
    if value is None:
        return ""
    if name in ("config", "versions") and isinstance(value, Mapping):
        return json.dumps(value, sort_keys=True, default=str)
    if name == "tags" and isinstance(value, list | tuple | set | frozenset):
        return ",".join(str(t) for t in value)
    return str(value)


def normalize_run(row: Mapping[str, Any], now: float) -> dict[str, Any]:
    """The full-schema run row for ``row``: defaults filled (``created_at``: ``now``), types coerced,
    statuses checked."""
    unknown = set(row) - set(RUN_SCHEMA.names)
    if unknown:
        raise ValueError(f"unknown run columns {sorted(unknown)}; valid: {RUN_SCHEMA.names}")
    check_run_id(row.get("run_id"))  # type: ignore[arg-type]
    out: dict[str, Any] = {}
    for field in RUN_SCHEMA:
        value = row.get(field.name)
        if pa.types.is_string(field.type):
            out[field.name] = _as_str(field.name, value)
        elif pa.types.is_integer(field.type):
            unknown = field.name in NULLABLE_RUN_COLUMNS and (value is None or _is_nan(value))
            out[field.name] = None if unknown else _as_int(field.name, value)
        else:
            out[field.name] = math.nan if value is None else float(value)
    out["status"] = out["status"] or "running"
    if out["status"] not in RUN_STATUSES:
        raise ValueError(f"status {out['status']!r} is not one of {RUN_STATUSES}")
    if math.isnan(out["created_at"]):
        out["created_at"] = now
    return out


def chunk_table(schema: pa.Schema, run_id: str, rows: list[Mapping[str, Any]]) -> pa.Table:
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
        values = [row.get(field.name, COLUMN_DEFAULTS.get(field.name)) for row in rows]
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


def conform(table: pa.Table, schema: pa.Schema, metrics: bool) -> pa.Table:
    """Cast ``table`` to ``schema`` (plus float64 ``metric_*`` columns if ``metrics``); raise if it can't."""
    have = set(table.column_names)  # (``column_names`` builds a new list on every access)
    for name in [n for n in schema.names if n not in have and n in COLUMN_DEFAULTS]:
        # a column added to the schema later: older files get its default
        table = table.append_column(
            name, pa.array([COLUMN_DEFAULTS[name]] * table.num_rows, schema.field(name).type)
        )
        have.add(name)
    missing = [n for n in schema.names if n not in have]
    if missing:
        raise ValueError(f"missing columns {missing}")
    fields = list(schema)
    if metrics:
        fields += [pa.field(n, pa.float64()) for n in table.column_names if n.startswith("metric_")]
    target = pa.schema(fields)
    if table.schema.equals(target):  # the usual case: a file written by this version, columns in order
        return table
    table = table.select(target.names)
    return table if table.schema.equals(target) else table.cast(target)
