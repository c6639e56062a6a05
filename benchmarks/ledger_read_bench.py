"""Reading a large ledger for ``compare``: 1,000 finished runs x 10,000 training episodes (issue 17, item 4).

The ledger is laid out as runs write it: ``runs/<id>.parquet``; training episodes in chunks of 2,000
rows (the ChunkWriter's default flush), one row per agent; one ``evals`` chunk per evaluation round
(10 rounds x 10 episodes per run); ``metrics`` chunks. Files are written directly with pyarrow (the
write path is ``ledger_bench.py``'s subject). Then ``api.compare`` (and its parts: ``runs()``, the
runs' ``evals``) and one ``marlbench query`` aggregate over all episodes are timed, median of 3.
Target: ``compare`` under 2 s. Timed twice in one run: on the chunks as runs write them, then after
compacting every run (:mod:`marlbench.ledger.compact`), which is what finished runs leave.

    python benchmarks/ledger_read_bench.py [--runs 1000] [--episodes 10000] [--agents 3] [--dir DIR]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from marlbench import api
from marlbench.ledger import Ledger
from marlbench.ledger.schema import EPISODE_SCHEMA, EVAL_SCHEMA, METRIC_SCHEMA

CHUNK_ROWS = 2000
EVAL_ROUNDS, EVAL_EPISODES = 10, 10


def _table(schema: pa.Schema, columns: dict[str, Any]) -> pa.Table:
    return pa.Table.from_pydict(columns, schema=schema)


def write_run(ledger: Ledger, run_id: str, seed: int, episodes: int, agents: int) -> None:
    """One finished run's files, as the runner lays them out."""
    rng = np.random.default_rng(seed)
    steps = 25 * episodes
    now = time.time()
    ledger.put_run(
        {"run_id": run_id, "algo": ("ppo", "maddpg")[seed % 2], "env": "mpe-spread", "seed": seed // 2}
        | {"status": "finished", "host": socket.gethostname(), "pid": os.getpid(), "n_agents": agents}
        | {"steps": steps, "total_steps": steps, "wall_time_s": 100.0, "finished_at": now, "config": "{}"}
    )
    n = episodes * agents
    episode = np.repeat(np.arange(episodes), agents)
    names = np.array([f"agent_{a}" for a in range(agents)])
    frame = {
        "run_id": np.full(n, run_id),
        "episode": episode,
        "agent": np.tile(names, episodes),
        "step": 25 * (episode + 1),
        "wall_time": episode * 0.01,
        "reward": rng.normal(-30, 5, n),
        "length": np.full(n, 25),
    }
    folder = ledger.root / "episodes" / run_id
    folder.mkdir(parents=True, exist_ok=True)
    for i, start in enumerate(range(0, n, CHUNK_ROWS)):
        part = {k: v[start : start + CHUNK_ROWS] for k, v in frame.items()}
        pq.write_table(_table(EPISODE_SCHEMA, part), folder / f"{i:08d}-1-bench.parquet")
    folder = ledger.root / "evals" / run_id
    folder.mkdir(parents=True, exist_ok=True)
    m = EVAL_EPISODES * agents
    for r in range(EVAL_ROUNDS):
        part = {
            "run_id": np.full(m, run_id),
            "eval_id": np.full(m, r),
            "step": np.full(m, steps * (r + 1) // EVAL_ROUNDS),
            "episode": np.repeat(np.arange(EVAL_EPISODES), agents),
            "agent": np.tile(names, EVAL_EPISODES),
            "reward": rng.normal(-25, 3, m),
            "length": np.full(m, 25),
            "env_options": np.full(m, ""),
            "policy": np.full(m, ""),
        }
        pq.write_table(_table(EVAL_SCHEMA, part), folder / f"{r:08d}-1-bench.parquet")
    folder = ledger.root / "metrics" / run_id
    folder.mkdir(parents=True, exist_ok=True)
    k = 500
    part = {
        "run_id": np.full(k, run_id),
        "step": np.arange(k) * (steps // k),
        "wall_time": np.arange(k) * 0.2,
        "name": np.full(k, "critic_loss"),
        "value": rng.random(k),
    }
    pq.write_table(_table(METRIC_SCHEMA, part), folder / "00000000-1-bench.parquet")


def timed(work: Callable[[], Any], repeat: int = 3) -> tuple[str, Any]:
    """Median wall and CPU seconds of ``repeat`` calls (as text), and the last result.

    CPU time is shown too: on a shared machine the wall clock also counts other processes' turns.
    """
    walls, cpus, result = [], [], None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        result = work()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return f"{statistics.median(walls):.3f} s wall, {statistics.median(cpus):.3f} s cpu", result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--episodes", type=int, default=10_000)
    parser.add_argument("--agents", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None, help="Keep the ledger here (default: a temp dir).")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="ledger-read-bench-") as tmp:
        root = args.dir or Path(tmp) / "ledger"
        ledger = Ledger(root, create=True)
        t0 = time.perf_counter()
        if len(ledger.runs()) != args.runs:
            for r in range(args.runs):
                write_run(ledger, f"bench-{r:04d}", r, args.episodes, args.agents)
        write_s = time.perf_counter() - t0
        print(
            f"ledger: {args.runs} runs x {args.episodes} episodes x {args.agents} agents"
            f" = {args.runs * args.episodes * args.agents:,} episode rows (written in {write_s:.0f} s)"
        )
        measure(ledger, args, "as written (one chunk per flush and per evaluation)")
        t0 = time.perf_counter()
        for run_id in ledger.runs()["run_id"]:
            ledger.compact_run(run_id)
        print(
            f"compacted every run in {time.perf_counter() - t0:.1f} s (the runner does it as a run finishes)"
        )
        measure(ledger, args, "compacted (one file per run and table: what finished runs leave)")


def measure(ledger: Ledger, args: argparse.Namespace, layout: str) -> None:
    files = list(ledger.root.rglob("*.parquet"))
    size_mb = sum(p.stat().st_size for p in files) / 1e6
    runs_s, runs = timed(ledger.runs)
    evals_s, evals = timed(lambda: ledger.evals(list(runs["run_id"])))
    compare_s, table = timed(lambda: api.compare(ledger))
    query_s, agg = timed(lambda: api.query(ledger, "SELECT count(*) AS n, avg(reward) AS r FROM episodes"), 1)
    assert len(runs) == args.runs and set(runs["status"]) == {"finished"}
    assert len(evals) == args.runs * EVAL_ROUNDS * EVAL_EPISODES * args.agents
    assert int(agg["n"].iloc[0]) == args.runs * args.episodes * args.agents
    print(f"-- {layout}: {len(files):,} parquet files, {size_mb:.0f} MB")
    print(f"runs():              {runs_s}")
    print(f"evals(all runs):     {evals_s} ({len(evals):,} rows)")
    print(f"api.compare:         {compare_s} (target < 2 s; {len(table.rows)} rows)")
    print(f"query count(*) over all episodes: {query_s}")


if __name__ == "__main__":
    main()
