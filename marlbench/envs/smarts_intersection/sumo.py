"""The SUMO side of the SMARTS intersection: finding the binary, and cleaning up its processes.

Each env instance starts its own SUMO process (through SMARTS); :class:`SumoProcesses` holds what
must be stopped and removed when the env closes or is garbage-collected (a ``weakref.finalize``
calls :func:`finalize`, so it must not refer to the env itself).
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from marlbench.errors import ConfigError

log = logging.getLogger(__name__)


class SumoError(RuntimeError):
    """SUMO (the background-traffic simulator) could not be started or stopped working."""


@dataclass
class SumoProcesses:
    """What must be cleaned up: shared with a finalizer, so it must not refer to the env."""

    sim: Any = None
    popens: list[Any] = field(default_factory=list)
    log_dir: str = ""

    def release(self) -> None:
        sim, self.sim = self.sim, None
        if sim is not None:
            try:
                sim.destroy()
            except Exception as exc:  # destroying a crashed simulator may raise; the kill below still runs
                log.debug("SMARTS destroy raised %r", exc)
        for proc in self.popens:
            try:
                if proc.poll() is None:
                    proc.kill()
                proc.wait(timeout=10)
            except Exception as exc:
                log.warning("could not stop SUMO process %s: %r", getattr(proc, "pid", "?"), exc)
        self.popens.clear()

    def remove_log_dir(self) -> None:
        if self.log_dir:
            shutil.rmtree(self.log_dir, ignore_errors=True)
            self.log_dir = ""


def finalize(processes: SumoProcesses) -> None:
    processes.release()
    processes.remove_log_dir()


def sumo_binary_for_smarts() -> Path:
    """The ``sumo`` binary SMARTS will start (``$SUMO_HOME/bin/sumo``), or a ConfigError naming the fix."""
    try:
        import smarts.core  # noqa: F401
        from smarts.core.utils import sumo_utils
    except ImportError as exc:
        raise ConfigError(
            f"smarts-intersection needs SMARTS with SUMO ({exc})",
            'install them with: pip install "marlbench[smarts]" (SMARTS 2.0.1 with SUMO)',
        ) from None
    binary = Path(sumo_utils.SUMO_PATH) / "bin" / "sumo"
    if not binary.is_file():
        raise ConfigError(
            f"SMARTS starts SUMO as {binary}, which does not exist",
            'install SUMO with: pip install "marlbench[smarts]" (it brings eclipse-sumo), '
            "or set SUMO_HOME to a SUMO installation",
        )
    return binary
