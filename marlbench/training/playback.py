"""Play a saved run's policy deterministically and keep what each step looked like, for ``render``.

:func:`play_run` rebuilds the run's algorithm from its last checkpoint (as ``marlbench evaluate``
does), plays ``episodes`` deterministic episodes on its evaluation env with fixed seeds, and takes
a :class:`Snapshot` of the simulator after the reset and after every step. Snapshots are plain
arrays read from the env's own state, so drawing them (:mod:`marlbench.reports.animation`) needs
no renderer of the env:

* ``particles``: the particle envs (``mpe-spread``, ``cn-v1``, ``cn-v2``, ``predator-prey``,
  ``push-forward``): agent and landmark positions and sizes;
* ``grid``: pursuit: walls, pursuer and evader counts per cell;
* ``frame``: Atari: the emulator's RGB screen;
* ``road``: SMARTS: the road surface (from the SUMO net file) and every vehicle, the four egos and
  the SUMO traffic, with position, heading and size.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from marlbench.envs.wrap import DEAD
from marlbench.errors import ConfigError

KINDS = ("particles", "grid", "frame", "road")
"""What a snapshot can hold (see the module docstring)."""


@dataclass
class Snapshot:
    """One step of one episode: what the simulator held, and the agents' returns so far."""

    kind: str
    episode: int
    step: int
    arrays: dict[str, np.ndarray]
    returns: dict[str, float] = field(default_factory=dict)


@dataclass
class Playback:
    """Every snapshot of the episodes played, and which run and env they come from."""

    run_id: str
    env: str
    snapshots: list[Snapshot]


def _inner(env: Any) -> list[Any]:
    """``env`` and every object under it through the usual wrapper attributes (depth first)."""
    seen: list[Any] = []
    stack = [env]
    while stack and len(seen) < 32:
        item = stack.pop()
        if item is None or any(item is s for s in seen):
            continue
        seen.append(item)
        for name in ("env", "par_env", "aec_env", "unwrapped"):
            try:
                stack.append(getattr(item, name, None))
            except Exception:  # a wrapper's property that refuses (gymnasium warns, some raise)
                continue
    return seen


def particle_state(env: Any) -> dict[str, np.ndarray] | None:
    """Agent and landmark positions of an in-repo particle env (its batched ``core``, copy 0)."""
    for item in _inner(env):
        core = getattr(item, "core", None)
        if core is not None and hasattr(core, "pos") and hasattr(core, "landmarks"):
            config = getattr(core, "config", None)
            arrays = {
                "agents": np.array(core.pos[0], dtype=float),
                "landmarks": np.array(core.landmarks[0], dtype=float),
                "agent_radius": np.array(float(getattr(config, "agent_radius", 0.05))),
            }
            if hasattr(core, "free"):
                arrays["free"] = np.array(core.free[0], dtype=bool)
            return arrays
    return None


def grid_state(env: Any) -> dict[str, np.ndarray] | None:
    """Walls and per-cell pursuer and evader counts of SISL pursuit (``pursuit_base.Pursuit``)."""
    for item in _inner(env):
        if hasattr(item, "pursuer_layer") and hasattr(item, "evader_layer") and hasattr(item, "map_matrix"):
            return {
                "walls": np.array(item.map_matrix) == -1,
                "pursuers": np.array(item.pursuer_layer.get_state_matrix(), dtype=float),
                "evaders": np.array(item.evader_layer.get_state_matrix(), dtype=float),
            }
    return None


def frame_state(env: Any) -> dict[str, np.ndarray] | None:
    """The RGB screen of an ALE game under the Atari wrappers."""
    for item in _inner(env):
        ale = getattr(item, "ale", None)
        if ale is not None and hasattr(ale, "getScreenRGB"):
            return {"rgb": np.array(ale.getScreenRGB(), dtype=np.uint8)}
    return None


_ROADS: weakref.WeakKeyDictionary[Any, dict[str, np.ndarray]] = weakref.WeakKeyDictionary()
"""The drawn road surface of each SMARTS env (computed once from its SUMO net file)."""


def road_state(env: Any) -> dict[str, np.ndarray] | None:
    """SMARTS: the road surface and every vehicle, egos and SUMO traffic (position, heading, size).

    ``vehicles`` is ``[M, 5]``: x, y, heading (SMARTS: radians counter-clockwise from north), length,
    width; ``owner`` ``[M]`` is the ego's agent index, or -1 for traffic.
    """
    for item in _inner(env):
        procs, built = getattr(item, "_procs", None), getattr(item, "_built", None)
        if procs is None or built is None or not hasattr(item, "possible_agents"):
            continue
        if item not in _ROADS:
            from marlbench.envs.smarts_intersection.features import DrivableRaster

            raster = DrivableRaster.from_net_file(built.net_file, resolution=0.5, margin=5.0)
            _ROADS[item] = {
                "road": raster.mask,
                "road_origin": np.array(raster.origin, dtype=float),
                "road_resolution": np.array(raster.resolution, dtype=float),
            }
        vehicles, owner = [], []
        index = getattr(procs.sim, "vehicle_index", None)
        if index is not None:
            owners = {
                v: i for i, a in enumerate(item.possible_agents) for v in index.vehicle_ids_by_owner_id(a)
            }
            for vid in sorted(index.vehicle_ids()):
                vehicle = index.vehicle_by_id(vid)
                x, y = (float(c) for c in vehicle.position[:2])
                vehicles.append((x, y, float(vehicle.heading), float(vehicle.length), float(vehicle.width)))
                owner.append(owners.get(vid, -1))
        return {
            **_ROADS[item],
            "vehicles": np.array(vehicles, dtype=float).reshape(-1, 5),
            "owner": np.array(owner, dtype=np.int64),
        }
    return None


READERS: dict[str, Callable[[Any], dict[str, np.ndarray] | None]] = {
    "particles": particle_state,
    "grid": grid_state,
    "frame": frame_state,
    "road": road_state,
}


def snapshot_reader(env: Any, env_name: str) -> tuple[str, Callable[[Any], dict[str, np.ndarray] | None]]:
    """The kind of snapshot ``env`` gives and the function that takes it; ConfigError when none fits."""
    for kind, reader in READERS.items():
        if reader(env) is not None:
            return kind, reader
    raise ConfigError(
        f"marlbench render cannot draw environment '{env_name}' yet",
        "render runs of particle envs (mpe-spread, cn-v1, ...), pursuit, smarts-intersection or Atari",
    )


def play(algo: Any, env: Any, env_name: str, episodes: int, seed: int, max_steps: int) -> list[Snapshot]:
    """``episodes`` deterministic episodes (seeds ``seed, seed+1, ...``) and a snapshot per step."""
    from marlbench.algos.base import optional_hook

    kind, reader = snapshot_reader(env, env_name)
    reset = optional_hook(algo, "reset_episode")
    shots: list[Snapshot] = []
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + episode)
        if reset is not None:
            reset()
        returns = dict.fromkeys(env.possible_agents, 0.0)
        shots.append(Snapshot(kind, episode, 0, reader(env) or {}, dict(returns)))
        for t in range(1, max_steps + 1):
            if not env.agents:
                break
            actions = algo.act({a: obs[a] for a in env.agents}, deterministic=True)
            obs, rewards, _, _, infos = env.step(actions)
            for agent, reward in rewards.items():
                if not (infos.get(agent) or {}).get(DEAD):
                    returns[agent] = returns.get(agent, 0.0) + float(reward)
            shots.append(Snapshot(kind, episode, t, reader(env) or {}, dict(returns)))
    return shots


def play_run(ledger: Any, run_id: str, episodes: int = 1, max_steps: int | None = None) -> Playback:
    """Play run ``run_id``'s last checkpoint for ``episodes`` deterministic episodes (same run, same frames).

    ``max_steps`` caps each episode (default: the env's evaluation cap).
    """
    from marlbench.training.evaluation import evaluation_env, max_episode_steps
    from marlbench.training.reevaluate import load_run

    if episodes < 1:
        raise ConfigError(f"--episodes {episodes} must be at least 1", "e.g. --episodes 1")
    loaded = load_run(ledger, run_id, "rendered")
    row, spec, resolved, algo = loaded.row, loaded.spec, loaded.resolved, loaded.algo
    try:
        env = evaluation_env(algo, resolved.env, 3_000_003 + spec.seed)
        try:
            cap = max_episode_steps(resolved.env.spec, resolved.env.options)
            steps = cap if max_steps is None else max(1, min(int(max_steps), cap))
            shots = play(algo, env, spec.env, episodes, 30_000 * (spec.seed + 1), steps)
        finally:
            env.close()
    finally:
        loaded.close()
    return Playback(str(row["run_id"]), spec.env, shots)
