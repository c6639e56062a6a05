"""Wall time of short CLI calls on a small ledger (issue 18, item 8): ``marlbench compare`` and ``--help``.

Builds a ledger of 2 tiny ``random`` runs on mpe-spread (a few seconds) unless ``--ledger`` names one,
then times each command as a fresh process (what a user waits for: interpreter start, imports, work),
median of ``--repeats`` runs. For reference it also times ``import scipy.stats`` alone, the cost
``compare`` paid on every call before marlbench.reports.stats stopped importing SciPy.
Target: ``compare`` under 1 s on a small ledger.

    python benchmarks/cli_bench.py [--repeats 5] [--ledger DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MARLBENCH = [sys.executable, "-c", "from marlbench.cli import app; app()"]
"""The console script, run with this interpreter (works without the venv's bin/ on PATH)."""


def wall_s(command: list[str], repeats: int) -> float:
    """Median wall seconds of ``command`` run ``repeats`` times (after one warm-up run)."""
    subprocess.run(command, check=True, capture_output=True)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def small_ledger(root: Path) -> Path:
    """A ledger of 2 finished 300-step random runs on mpe-spread."""
    ledger = root / "ledger"
    subprocess.run(
        [*MARLBENCH, "train", "random", "--env", "mpe-spread", "--steps", "300", "--seeds", "2"]
        + ["--eval-episodes", "2", "--ledger", str(ledger)],
        check=True,
        capture_output=True,
        env={**os.environ, "MARLBENCH_THREADS": "1"},
    )
    return ledger


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--ledger", help="An existing ledger (default: a new one of 2 tiny runs).")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="marlbench-cli-bench-"))
    try:
        ledger = Path(args.ledger) if args.ledger else small_ledger(scratch)
        rows = {
            "marlbench compare (small ledger)": [*MARLBENCH, "compare", "--ledger", str(ledger)],
            "marlbench --help": [*MARLBENCH, "--help"],
            "python -c 'import scipy.stats' (reference)": [sys.executable, "-c", "import scipy.stats"],
        }
        print(f"median wall time of {args.repeats} runs")
        for label, command in rows.items():
            print(f"  {label:<45} {wall_s(command, args.repeats):6.2f} s")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
