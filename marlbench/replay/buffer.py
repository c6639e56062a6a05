"""The ring buffer of joint transitions (MADDPG, CTEDD) and :func:`make_replay`."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from marlbench.replay.samplers import (
    DEFAULT_ALPHA,
    DEFAULT_BETA0,
    ProportionalSampler,
    RankSampler,
    Sampler,
    UniformSampler,
)

FieldSpec = tuple[tuple[int, ...], Any]
"""``(shape of one transition's value, numpy dtype)``."""


class ReplayBuffer:
    """Preallocated ring buffer of transitions with a pluggable :class:`Sampler`.

    ``fields`` maps a name to ``(shape, dtype)`` of one transition's value. ``add`` takes a dict of
    arrays with a leading batch axis ``E`` and writes them in one vectorised copy per field.
    ``sample`` returns ``(batch, indices, weights)``: with ``channels=None`` shapes are ``[B, ...]``,
    with ``channels=K`` they are ``[K, B, ...]`` (``K`` independent mini-batches).
    """

    def __init__(
        self,
        capacity: int,
        fields: Mapping[str, FieldSpec],
        sampler: Sampler | None = None,
        channels: int | None = None,
    ) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self.fields = {name: (tuple(shape), np.dtype(dtype)) for name, (shape, dtype) in fields.items()}
        self.data = {
            name: np.zeros((capacity, *shape), dtype=dt) for name, (shape, dt) in self.fields.items()
        }
        self.channels = channels
        self.sampler: Sampler = sampler if sampler is not None else UniformSampler(capacity, channels or 1)
        self.size = 0
        self.ptr = 0
        self.total_added = 0

    def __len__(self) -> int:
        return self.size

    @property
    def beta(self) -> float:
        return self.sampler.beta

    def anneal_beta(self, progress: float) -> None:
        """Set ``beta = beta0 + (1 - beta0) * progress`` (progress clipped to [0, 1]); no-op for uniform."""
        beta0 = getattr(self.sampler, "beta0", None)
        if beta0 is not None:
            self.sampler.beta = float(beta0 + (1.0 - beta0) * min(max(progress, 0.0), 1.0))

    def add(self, transitions: Mapping[str, np.ndarray]) -> np.ndarray:
        """Write ``E`` transitions (each field ``[E, *shape]``); returns the slots written."""
        missing = set(self.fields) - set(transitions)
        if missing:
            raise KeyError(f"transitions lack fields: {sorted(missing)}")
        n = len(next(iter(transitions.values())))
        skip = max(0, n - self.capacity)  # more than fit: only the newest survive
        first = (self.ptr + skip) % self.capacity
        slots = (first + np.arange(n - skip)) % self.capacity
        if first + n - skip <= self.capacity:  # no wrap: a slice, several times cheaper than fancy indexing
            for name in self.fields:
                self.data[name][first : first + n - skip] = np.asarray(transitions[name])[skip:]
        else:
            for name in self.fields:
                self.data[name][slots] = np.asarray(transitions[name])[skip:]
        self.ptr = int((self.ptr + n) % self.capacity)
        self.size = min(self.size + n, self.capacity)
        self.total_added += n
        self.sampler.added(slots)
        return slots

    def sample(
        self, batch_size: int, rng: np.random.Generator
    ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
        """``(batch, indices, weights)``; shapes ``[B, ...]`` or ``[K, B, ...]`` with channels."""
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        slots, weights = self.sampler.sample(batch_size, self.size, rng)
        if self.channels is None:
            slots, weights = slots[0], weights[0]
        batch = {name: arr[slots] for name, arr in self.data.items()}
        return batch, slots, weights

    def update_priorities(self, indices: np.ndarray, td_errors: np.ndarray) -> None:
        """New priorities ``|td_errors| + eps`` for ``indices`` (as returned by ``sample``)."""
        indices, td_errors = np.asarray(indices), np.asarray(td_errors)
        if self.channels is None:
            indices, td_errors = indices[None], td_errors[None]
        self.sampler.update(indices, td_errors)

    def _chronological_slots(self) -> np.ndarray:
        start = self.ptr if self.size == self.capacity else 0
        return (start + np.arange(self.size)) % self.capacity

    def recent(self, n: int) -> dict[str, np.ndarray]:
        """The ``n`` newest transitions, oldest first."""
        slots = self._chronological_slots()[-n:] if n > 0 else np.zeros(0, dtype=np.int64)
        return {name: arr[slots] for name, arr in self.data.items()}

    def iter_chronological(self, batch_size: int) -> Iterator[dict[str, np.ndarray]]:
        """Consecutive mini-batches from the oldest stored transition to the newest (CTEDD, paper 001)."""
        slots = self._chronological_slots()
        for start in range(0, slots.size, batch_size):
            part = slots[start : start + batch_size]
            yield {name: arr[part] for name, arr in self.data.items()}

    def save(self, path: Path | str) -> None:
        """Write contents and sampler state to ``path`` (.npz), atomically."""
        path = Path(path)
        arrays: dict[str, np.ndarray] = {f"data/{k}": v[: self.size] for k, v in self.data.items()}
        arrays |= {f"sampler/{k}": np.asarray(v) for k, v in self.sampler.state().items()}
        arrays["meta"] = np.array([self.size, self.ptr, self.total_added], dtype=np.int64)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, **arrays)
        tmp.replace(path)

    def load(self, path: Path | str) -> None:
        """Restore what :meth:`save` wrote (same capacity, fields and sampler kind)."""
        with np.load(Path(path)) as z:
            self.size, self.ptr, self.total_added = (int(v) for v in z["meta"])
            for name in self.fields:
                self.data[name][: self.size] = z[f"data/{name}"]
            self.sampler.load_state({k[len("sampler/") :]: z[k] for k in z.files if k.startswith("sampler/")})


def make_replay(
    kind: str,
    capacity: int,
    fields: Mapping[str, FieldSpec],
    alpha: float | None = None,
    beta0: float | None = None,
    eps: float = 1e-6,
    channels: int | None = None,
    resort_fraction: float = 0.02,
) -> ReplayBuffer:
    """A replay buffer sampling ``uniform``, ``rank`` or ``proportional``.

    ``alpha``/``beta0`` default to Schaul et al.'s values for the chosen kind (rank: 0.7 / 0.5,
    proportional: 0.6 / 0.4).
    """
    k = channels or 1
    if kind == "uniform":
        sampler: Sampler = UniformSampler(capacity, k)
    elif kind == "rank":
        sampler = RankSampler(
            capacity,
            alpha=DEFAULT_ALPHA["rank"] if alpha is None else alpha,
            beta0=DEFAULT_BETA0["rank"] if beta0 is None else beta0,
            eps=eps,
            channels=k,
            resort_fraction=resort_fraction,
        )
    elif kind == "proportional":
        sampler = ProportionalSampler(
            capacity,
            alpha=DEFAULT_ALPHA["proportional"] if alpha is None else alpha,
            beta0=DEFAULT_BETA0["proportional"] if beta0 is None else beta0,
            eps=eps,
            channels=k,
        )
    else:
        raise ValueError(f"unknown replay kind '{kind}'; choose uniform, rank or proportional")
    return ReplayBuffer(capacity, fields, sampler=sampler, channels=channels)


MEMORY_SHARE = 0.6
"""The largest share of the machine's memory a replay buffer may claim when full."""


def machine_memory() -> int:
    """Bytes of physical memory (0 where the platform does not say)."""
    import os

    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, OSError, ValueError):
        return 0


def check_replay_memory(capacity: int, fields: Mapping[str, FieldSpec], algo: str) -> None:
    """ConfigError before anything is allocated when a full buffer of ``capacity`` transitions would
    need more than :data:`MEMORY_SHARE` of the machine's memory (numpy allocates lazily, so without
    this check a run would die hours in, when the buffer fills). Names a capacity that fits."""
    per = sum(int(np.prod(shape)) * np.dtype(dtype).itemsize for shape, dtype in fields.values())
    limit = MEMORY_SHARE * machine_memory()
    if limit <= 0 or capacity * per <= limit:
        return
    from marlbench.errors import ConfigError

    fits = max(1, int(limit // per) // 1000 * 1000)
    raise ConfigError(
        f"{algo}'s replay of {capacity:,} transitions x {per / 1e3:,.0f} kB would need "
        f"{capacity * per / 2**30:,.1f} GiB, more than {MEMORY_SHARE:.0%} of this machine's "
        f"{machine_memory() / 2**30:,.0f} GiB",
        f"use --set buffer_size={fits} or smaller",
    )
