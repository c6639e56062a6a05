"""Checkpoint files of in-repo algorithms: written whole and atomically, refused on a shape mismatch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from marlbench.errors import ConfigError


def write_checkpoint(directory: Path, filename: str, state: dict[str, Any], replay: Any = None) -> Path:
    """``torch.save`` ``state`` to ``directory/filename`` via a temporary name (and ``replay.npz``)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / filename
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    tmp.replace(path)
    if replay is not None:
        replay.save(directory / "replay.npz")
    return path


def read_checkpoint(directory: Path, filename: str, algo: str, shape: dict[str, Any]) -> dict[str, Any]:
    """The state :func:`write_checkpoint` saved, after checking it was made for networks of ``shape``.

    ``state["shape"]`` holds what fixed the saved tensors' shapes (env dimensions and network
    hyperparameters); loading into networks of another shape is a user error, not a crash.
    """
    path = Path(directory) / filename
    if not path.exists():
        raise ConfigError(f"no {algo} checkpoint at {path}", f"pass the directory a {algo} run saved to")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if state["shape"] != shape:
        raise ConfigError(
            f"checkpoint {path} was made for networks {state['shape']}, not {shape}",
            "load it with the environment options and network hyperparameters it was trained with",
        )
    return state
