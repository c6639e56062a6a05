"""Budgets and evaluation cost of short default runs (issue 12, part 4), measured in one process.

For each case: env steps trained against the budget, evaluation rounds, wall time, and the share
of wall time spent in evaluation (timed around the recorder's evaluation). Run:

    python benchmarks/budget_bench.py            # ppo mpe-spread 1000, lbs pursuit 5000
"""

from __future__ import annotations

import argparse
import tempfile
import time

from marlbench import api
from marlbench.training.recorder import RunRecorder

CASES = {
    "ppo-spread-1000": ("ppo", "mpe-spread", 1000),
    "lbs-pursuit-5000": ("lbs", "pursuit", 5000),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated: " + ", ".join(CASES))
    args = parser.parse_args()

    spent = {"eval": 0.0}
    original = RunRecorder.evaluate

    def timed(self, episodes=None):
        start = time.perf_counter()
        try:
            return original(self, episodes)
        finally:
            spent["eval"] += time.perf_counter() - start

    RunRecorder.evaluate = timed  # type: ignore[method-assign]
    print(f"{'case':<18} {'budget':>7} {'trained':>8} {'evals':>6} {'wall s':>7} {'eval share':>10}")
    for name in args.cases.split(","):
        algo, env, steps = CASES[name]
        spent["eval"] = 0.0
        with tempfile.TemporaryDirectory() as root:
            ledger = api.open_ledger(root, create=True)
            start = time.perf_counter()
            row = api.train(algo, env=env, steps=steps, seed=0, ledger=ledger)
            wall = time.perf_counter() - start
            rounds = ledger.evals([row["run_id"]])["eval_id"].nunique()
        share = spent["eval"] / wall
        print(f"{name:<18} {steps:>7} {int(row['steps']):>8} {rounds:>6} {wall:>7.1f} {share:>10.0%}")


if __name__ == "__main__":
    main()
