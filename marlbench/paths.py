"""Where marlbench keeps what it can rebuild: ``$MARLBENCH_CACHE`` or ``~/.cache/marlbench``.

Besides the ledger and the paths a user names, this cache is the only place marlbench writes: the
built SMARTS scenarios (``smarts/``), the local Ray session (``ray/``) and torch's compile cache
(``torchinductor/``: torch's optimizers create ``$TMPDIR/torchinductor_<user>`` otherwise, so
:func:`keep_torch_cache_here` points ``TORCHINDUCTOR_CACHE_DIR`` here unless the user set it).
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """``$MARLBENCH_CACHE`` or ``~/.cache/marlbench``."""
    base = os.environ.get("MARLBENCH_CACHE")
    return Path(base).expanduser() if base else Path.home() / ".cache" / "marlbench"


def keep_torch_cache_here() -> None:
    """Point torch's inductor cache into the marlbench cache (before torch creates it in the temp dir)."""
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(cache_root() / "torchinductor"))
