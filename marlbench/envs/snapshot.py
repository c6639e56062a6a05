"""Snapshots of a batched numpy env core: its state arrays and random streams, for exact resumes.

A checkpoint taken mid-episode resumes bit for bit only when the training envs continue from where
they were: positions, velocities, step counters, running returns and each generator's state. The
cores of the native envs keep all of that in public array attributes and ``numpy`` generators
(derived caches are private and rebuilt by ``_refresh()``), so one pair of functions serves them.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def core_state(core: Any) -> dict[str, Any]:
    """Copies of ``core``'s public arrays and the states of its generators (one or a list)."""
    arrays = {
        k: v.copy() for k, v in vars(core).items() if not k.startswith("_") and isinstance(v, np.ndarray)
    }
    rngs: dict[str, Any] = {}
    for name, value in vars(core).items():
        if isinstance(value, np.random.Generator):
            rngs[name] = value.bit_generator.state
        elif isinstance(value, list) and value and all(isinstance(g, np.random.Generator) for g in value):
            rngs[name] = [g.bit_generator.state for g in value]
    return {"arrays": arrays, "rngs": rngs}


def restore_core(core: Any, state: dict[str, Any]) -> None:
    """Put back what :func:`core_state` took (same config and number of copies), then refresh."""
    for name, value in state["arrays"].items():
        current = getattr(core, name)
        if not isinstance(current, np.ndarray) or current.shape != np.shape(value):
            raise ValueError(f"snapshot array '{name}' does not fit this env ({np.shape(value)})")
        setattr(core, name, np.array(value, dtype=current.dtype))
    for name, saved in state["rngs"].items():
        current = getattr(core, name)
        if isinstance(current, list):
            if len(current) != len(saved):
                raise ValueError(f"snapshot has {len(saved)} generators for '{name}', the env {len(current)}")
            for generator, s in zip(current, saved, strict=True):
                generator.bit_generator.state = s
        else:
            current.bit_generator.state = saved
    core._refresh()
