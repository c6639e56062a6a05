"""The four tasks of paper 001, section 5.1, as subclasses of :class:`ParticleCore`.

CN-V1 and CN-V2 (cooperative navigation), Push Forward and Predator-Prey differ only in their
landmarks' behaviour, their task reward term and their episode metrics; physics, observations and
the shared distance/collision reward live in :mod:`marlbench.envs.particles.core`.
"""

from __future__ import annotations

import itertools

import numpy as np

from marlbench.envs.particles.core import (
    BONUS,
    CN_V2_PENALTY,
    DT,
    ParticleConfig,
    ParticleCore,
    squared_distances,
)


class NavigationCore(ParticleCore):
    """CN-V1 and CN-V2 (section 5.1): static landmarks to occupy, one agent each (V1) or 2+1 (V2).

    CN-V2's rule, read literally: "if landmark 1 has shorter distance to any agent than landmark 2,
    then two agents must be closer in distance to landmark 1 and one agent [...] to landmark 2. If
    two agents are actually located closer to landmark 2, a penalty of -10.0 will be incurred", and
    symmetrically. So each step the *near* landmark is the one whose closest agent is nearer (ties:
    landmark 0); an agent belongs to the landmark it is closer to (equal: the near one); the step
    costs -10 when two agents belong to the *far* landmark. The rule thus also decides which
    landmark hosts the pair: the pair's closest agent must be nearer its landmark than the single
    agent is to its own. Three agents on the near landmark (3+0) is not the stated case and is not
    penalised (the distance term already punishes it); ``penalty_rule="strict"`` penalises it too.
    """

    def agents_on_far(self) -> np.ndarray:
        """``[E]`` int, cn-v2: how many agents are closer to the far landmark than to the near one."""
        d0, d1 = self._al[..., 0], self._al[..., 1]  # [E, N]
        zero_near = d0.min(axis=-1) <= d1.min(axis=-1)  # [E]; a tie makes landmark 0 the near one
        return np.where(zero_near[:, None], d1 < d0, d0 < d1).sum(axis=-1)

    def _task_reward(self) -> np.ndarray | float:
        if self.config.task != "cn-v2":
            return 0.0
        on_far = self.agents_on_far()
        penalised = on_far != 1 if self.config.penalty_rule == "strict" else on_far == 2
        self.event_count += penalised
        return -CN_V2_PENALTY * penalised

    def occupied(self) -> np.ndarray:
        """``[E, K]`` bool: some agent's centre within ``occupy_radius`` of the landmark."""
        return self._al.min(axis=1) < self.config.occupy_radius

    def episode_metrics(self) -> dict[str, np.ndarray]:
        occupied = self.occupied()
        success = occupied.all(axis=-1)
        out = super().episode_metrics()
        out["occupied_landmarks"] = self._team(occupied.sum(axis=-1))
        out["final_distance"] = self._team(self._al.min(axis=1).sum(axis=-1))
        if self.config.task == "cn-v2":
            success = success & (self.agents_on_far() == 1)
            out["penalty_steps"] = self._team(self.event_count)
        out["success"] = self._team(success)
        return out


class PushForwardCore(ParticleCore):
    """Push Forward (section 5.1): three agents push three landmarks right (+x) together.

    Each landmark ``k`` has a push zone: the disk of radius ``push_zone_radius`` centred at
    ``l_k - (push_zone_offset, 0)``, i.e. just behind (left of) it, where an agent of radius 0.15
    would touch a landmark of radius 0.05. A joint push happens on a step when, before the move,
    the agents sit in the zones of *different* landmarks (some one-to-one assignment exists) and,
    after the move, every agent is strictly to the right of where it was. Then every landmark moves
    ``push_distance`` to the right and the team gets +10.
    """

    def __init__(self, config: ParticleConfig, num_envs: int, seed: int | None = None) -> None:
        if config.n_agents != config.n_landmarks:
            raise ValueError("push-forward needs as many agents as landmarks")
        self._perms = np.array(list(itertools.permutations(range(config.n_agents))), dtype=np.int64)
        self._zone_shift = np.array([config.push_zone_offset, 0.0])
        super().__init__(config, num_envs, seed)

    def in_zones(self, pos: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """``[E]`` bool: each agent is in the push zone of a different landmark."""
        zones = landmarks - self._zone_shift
        inside = squared_distances(pos, zones) <= self.config.push_zone_radius**2  # [E, N, K]
        return inside[:, self._row[:, 0], self._perms].all(axis=-1).any(axis=-1)

    def _move_landmarks(self, prev_pos: np.ndarray) -> np.ndarray:
        moved_right = (self.pos[..., 0] > prev_pos[..., 0]).all(axis=-1)
        push = self.in_zones(prev_pos, self.landmarks) & moved_right
        shift = np.where(push, self.config.push_distance, 0.0)
        self.landmarks[..., 0] += shift[:, None]
        self.landmark_vel[..., 0] = shift[:, None] / DT
        self.event_count += push
        return BONUS * push

    def episode_metrics(self) -> dict[str, np.ndarray]:
        out = super().episode_metrics()
        out["pushes"] = self._team(self.event_count)
        return out


class PredatorPreyCore(ParticleCore):
    """Predator-Prey (section 5.1): three predators must surround and catch two fleeing prey.

    Prey rule ("man-made", global knowledge): after the predators' actions are known, a prey
    predicts every predator's next position from its location, velocity and acceleration (the
    damped update above, so the prediction is exact) and moves ``prey_step`` along the heading,
    among ``prey_directions`` evenly spaced ones, that maximises the summed distance to those
    predicted positions, staying inside ``[-arena, arena]^2``. A free prey is caught when all three
    predators are within ``capture_radius`` of it after the move: +10 once, and the prey stays
    where it was caught and leaves the distance term ("catch one or both landmarks", so each prey
    can be caught once per episode).
    """

    def __init__(self, config: ParticleConfig, num_envs: int, seed: int | None = None) -> None:
        angles = 2.0 * np.pi * np.arange(config.prey_directions) / config.prey_directions
        self._heading_x = np.cos(angles) * config.prey_step  # [D]
        self._heading_y = np.sin(angles) * config.prey_step
        self._copy_index = np.arange(num_envs)[:, None]
        self._prey_index = np.arange(config.n_landmarks)[None, :]
        super().__init__(config, num_envs, seed)

    def _clip_landmarks(self, landmarks: np.ndarray) -> np.ndarray:
        return np.clip(landmarks, -self.config.arena, self.config.arena)

    def _move_landmarks(self, prev_pos: np.ndarray) -> np.ndarray:
        # coordinates split and agents on the leading axis: numpy is slow on short trailing axes
        arena = self.config.arena
        cx = np.clip(self.landmarks[:, :, 0, None] + self._heading_x, -arena, arena)  # [E, K, D]
        cy = np.clip(self.landmarks[:, :, 1, None] + self._heading_y, -arena, arena)
        dx = cx - self.pos[:, :, 0].T[:, :, None, None]  # [N, E, K, D]
        dy = cy - self.pos[:, :, 1].T[:, :, None, None]
        dx *= dx
        dy *= dy
        dx += dy
        total = np.sqrt(dx, out=dx).sum(axis=0)  # [E, K, D]: summed distance to the predators
        best = (self._copy_index, self._prey_index, np.argmax(total, axis=-1))
        chosen = np.stack([cx[best], cy[best]], axis=-1)  # [E, K, 2]
        new = np.where(self.free[..., None], chosen, self.landmarks)
        self.landmark_vel = (new - self.landmarks) / DT
        self.landmarks = new
        surrounded = (squared_distances(self.pos, new) <= self.config.capture_radius**2).all(axis=1)
        caught = surrounded & self.free  # [E, K]
        self.free = self.free & ~caught
        n_caught = caught.sum(axis=-1)
        self.event_count += n_caught
        return BONUS * n_caught

    def episode_metrics(self) -> dict[str, np.ndarray]:
        out = super().episode_metrics()
        out["captures"] = self._team(self.event_count)
        return out


def make_core(config: ParticleConfig, num_envs: int, seed: int | None = None) -> ParticleCore:
    """The core class for ``config.task``."""
    cls = {
        "cn-v1": NavigationCore,
        "cn-v2": NavigationCore,
        "push-forward": PushForwardCore,
        "predator-prey": PredatorPreyCore,
    }[config.task]
    return cls(config, num_envs, seed)
