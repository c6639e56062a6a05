"""Checkpoint files of in-repo algorithms: written whole and atomically, refused on a shape mismatch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from marlbench.errors import ConfigError


def write_checkpoint(directory: Path, filename: str, state: dict[str, Any], replay: Any = None) -> Path:
    """``torch.save`` ``state`` to ``directory/filename`` via a temporary name (and ``replay.npz``).

    The rename is atomic, so a process killed mid-write leaves the previous checkpoint whole and at
    most a stray ``.tmp`` file, which no reader opens.
    """
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
    saved = state.get("shape") if isinstance(state, dict) else None
    if saved is None:
        raise ConfigError(
            f"checkpoint {path} records no network shape (an older or foreign file)",
            f"retrain, or pass the directory a {algo} run saved to",
        )
    if saved != shape:
        differ = sorted(k for k in saved.keys() | shape.keys() if saved.get(k) != shape.get(k))
        have = ", ".join(f"{k}={saved.get(k)!r}" for k in differ)
        want = ", ".join(f"{k}={shape.get(k)!r}" for k in differ)
        raise ConfigError(
            f"checkpoint {path} was made for networks with {have}, not {want}",
            "load it with the algorithm, environment options and network hyperparameters it was trained with",
        )
    return state


def env_snapshot(env: Any, **arrays: Any) -> dict[str, Any] | None:
    """The training envs' state and the learner's arrays that go with it (its current observations),
    as tensors and plain values that ``torch.load(weights_only=True)`` reads back; None when there
    are no envs yet or they cannot give their state (mpe2, SMARTS: a resume then starts fresh
    episodes). With it (and ``save_replay``), a resumed run continues bit for bit."""
    get = getattr(env, "get_state", None)
    if get is None:
        return None
    return _tensors({"env": get(), **arrays})


def restore_env_snapshot(env: Any, snapshot: dict[str, Any]) -> dict[str, Any]:
    """Put :func:`env_snapshot`'s env state into ``env`` (a new env of the same settings); returns the
    learner's arrays, as numpy again."""
    data = _arrays(snapshot)
    env.set_state(data["env"])
    return data


def _tensors(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.ndarray):
        return torch.from_numpy(value.copy())
    if isinstance(value, dict):
        return {k: _tensors(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_tensors(v) for v in value]
    return value


def _arrays(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.numpy()
    if isinstance(value, dict):
        return {k: _arrays(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_arrays(v) for v in value]
    return value
