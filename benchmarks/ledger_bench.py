"""Ledger write and read time: 100 runs x 1,000 episodes x 3 agents, written the way a run writes them.

Each run writes its ``running`` row, adds one episode (one row per agent) at a time through a
ChunkWriter with the default flush size, beats its heartbeat every 100 episodes, and ends with a
``finished`` row. Then ``runs()`` and ``episodes()`` are read back three times each (median shown).

    python benchmarks/ledger_bench.py [--runs 100] [--episodes 1000] [--agents 3]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import tempfile
import time
from pathlib import Path

from marlbench.ledger import Ledger


def write_run(ledger: Ledger, run_id: str, seed: int, episodes: int, agents: int) -> None:
    """Write one run as the runner would: row, episode chunks with heartbeats, final row."""
    ledger.put_run(
        {"run_id": run_id, "algo": "ppo", "env": "mpe-spread", "seed": seed, "status": "running"}
        | {"host": socket.gethostname(), "pid": os.getpid(), "n_agents": agents, "total_steps": 25 * episodes}
    )
    start = time.monotonic()
    with ledger.chunk_writer("episodes", run_id) as writer:
        for e in range(episodes):
            writer.add(
                [
                    {
                        "episode": e,
                        "agent": f"agent_{a}",
                        "step": 25 * (e + 1),
                        "wall_time": time.monotonic() - start,
                        "reward": -0.01 * e - a,
                        "length": 25,
                        "metric_collisions": float(e % 3),
                    }
                    for a in range(agents)
                ]
            )
            if (e + 1) % 100 == 0:
                ledger.update_run(run_id, steps=25 * (e + 1))
    ledger.update_run(run_id, status="finished", steps=25 * episodes, finished_at=time.time())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--agents", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="ledger-bench-") as tmp:
        ledger = Ledger(Path(tmp) / "ledger", create=True)
        t0 = time.perf_counter()
        for r in range(args.runs):
            write_run(ledger, f"bench-{r:04d}", r, args.episodes, args.agents)
        write_s = time.perf_counter() - t0

        read_runs, read_episodes = [], []
        for _ in range(3):
            t0 = time.perf_counter()
            runs = ledger.runs()
            read_runs.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            episodes = ledger.episodes()
            read_episodes.append(time.perf_counter() - t0)

        files = list(ledger.root.rglob("*.parquet"))
        size_mb = sum(p.stat().st_size for p in files) / 1e6
        expected_rows = args.runs * args.episodes * args.agents
        assert len(runs) == args.runs and set(runs["status"]) == {"finished"}
        assert len(episodes) == expected_rows, (len(episodes), expected_rows)

    shape = f"{args.runs} runs x {args.episodes} episodes x {args.agents} agents"
    print(f"ledger: {shape} = {expected_rows:,} episode rows")
    print(f"files: {len(files)} parquet, {size_mb:.1f} MB")
    print(f"write (runs + episode chunks + heartbeats): {write_s:.2f} s")
    print(f"read runs():     {statistics.median(read_runs):.3f} s (median of 3)")
    print(f"read episodes(): {statistics.median(read_episodes):.3f} s (median of 3)")


if __name__ == "__main__":
    main()
