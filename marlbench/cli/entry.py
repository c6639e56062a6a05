"""The ``marlbench`` console script: pins ``PYTHONHASHSEED`` and runs :data:`marlbench.cli.app`.

Same seed, same result needs every process to iterate sets of strings in the same order: SMARTS'
trajectories differ between two processes with the same seed but different hash seeds (observations
up to 0.31 apart). Python fixes its hash seed at start-up, so a command started without one sets
``PYTHONHASHSEED=0`` and replaces itself (``exec``: same process id, same terminal, signals as
before) with the same command; worker processes (``--jobs``, env workers, Ray) inherit it. A hash
seed the user set is kept.
"""

from __future__ import annotations

import contextlib
import os
import sys

HASH_SEED = "0"


def main() -> None:
    if "PYTHONHASHSEED" not in os.environ and not os.environ.get("MARLBENCH_NO_REEXEC"):
        os.environ["PYTHONHASHSEED"] = HASH_SEED
        os.environ["MARLBENCH_NO_REEXEC"] = "1"  # never twice, whatever happens to the variable
        with contextlib.suppress(OSError):  # no exec here: run on, with this process's hash seed
            os.execv(sys.executable, [sys.executable, "-m", "marlbench", *sys.argv[1:]])
    from marlbench.cli import app

    app(prog_name="marlbench")
