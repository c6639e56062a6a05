"""Small pieces shared by the particle envs' PettingZoo parallel faces (one copy each)."""

from __future__ import annotations

from typing import Any

import numpy as np


def actions_batch(agents: list[str], actions: dict[str, Any]) -> np.ndarray:
    """``actions`` as a ``[1, N, ...]`` batch in ``agents`` order, after the parallel API's checks.

    Raises ``RuntimeError`` when the episode has finished (``agents`` is empty) and ``ValueError``
    naming every live agent without an action.
    """
    if not agents:
        raise RuntimeError("step() called on a finished episode; call reset() first")
    missing = [a for a in agents if a not in actions]
    if missing:
        raise ValueError(f"no action given for {', '.join(missing)}")
    return np.asarray([actions[a] for a in agents])[None]


def per_agent(agents: list[str], rows: np.ndarray) -> dict[str, np.ndarray]:
    """Row ``i`` of ``rows`` keyed by ``agents[i]`` (an observation dict from ``[N, ...]``)."""
    return {a: rows[i] for i, a in enumerate(agents)}
