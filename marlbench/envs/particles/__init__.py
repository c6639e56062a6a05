"""The four particle environments of paper 001 (CTEDD), section 5.1: cn-v1, cn-v2, push-forward,
predator-prey.

Written in this repo (they do not exist upstream) on one batched numpy core
(:mod:`marlbench.envs.particles.core`), exposed as a PettingZoo ``ParallelEnv`` (``make``) and as a
native :class:`marlbench.envs.array.ArrayEnv` (``make_array``) with identical trajectories.

What the paper fixes: 3 agents; 3 static landmarks (cn-v1), 2 static landmarks with the 2+1 rule
and its -10 penalty (cn-v2), 3 landmarks pushed right for +10 (push-forward), 2 fleeing prey
caught by all 3 predators for +10 (predator-prey); -1 per collided agent; minus the distance from
every landmark to its closest agent; 25 / 25 / 50 / 50 steps; the local observation tells the
distances to the other agents and to every landmark, not the other agents' velocities nor any
landmark's actual location (how we read that: ``obs`` below).

Our choices where section 5.1 is silent (all stated in ``core.py``; options where people differ):

* Actions: continuous 2-d force in ``[-1, 1]^2`` by default, because CTEDD and MADDPG are
  DDPG-style (deterministic ``pi(s)`` plus noise, eq. 4-5, "bounded multi-dimensional action space",
  section 3); ``continuous=false`` gives Discrete(5) (no-op, left, right, down, up).
* Physics: unit-mass damped point agents, DT 0.1, damping 0.25, force 5 per unit action, speed cap
  ``max_speed`` 2.0, no contact forces, no walls (prey only stay in ``[-arena, arena]^2``); spawn
  uniform in ``[-1, 1]^2``; collision when centres are closer than ``2 * agent_radius`` (0.3).
* Shared reward: one team value per step, not the sum of per-agent rewards; the collision term is
  -1 per agent in a collision. Absolute returns are therefore not on the scale of the paper's
  figures (e.g. -390 on CN-V1), which follows the MADDPG code's reward bookkeeping; compare shapes
  and rankings, not raw values.
* Observations, option ``obs`` (default ``distance``, the literal reading; the paper-001 presets
  set ``relative``). ``distance``: each agent sees only the scalar distances to the other agents and
  the landmarks. ``relative``: the displacement vectors ``p_other - p_self`` to the other agents and
  landmarks plus the agent's own velocity, with no absolute position and no other agent's velocity
  (MPE's convention). Why the presets use ``relative``: with scalar distances and no velocity a
  memoryless policy cannot know which way to move, so no local policy beats standing still. On
  CTEDD's 400 test start states of cn-v1 (issue: paper 001, finding 1) a centralized scripted
  controller scores -16.6, standing still -53.2, random -56.1; a local network trained by supervised
  imitation of that controller reaches only -52.8 from distances, but -36.2 / -27.3 from relative
  positions + own velocity. Section 5.1's words ("measure its Euclidean distance from other agents
  and all the landmarks ... does not tell the velocity and moving direction of other agents ... nor
  the actual location of any landmark") fit relative vectors + own velocity as well, and Fig. 5
  shows local policies (CTEDD-L, MADDPG-1/3) improving, which the scalar reading rules out.
  ``distance`` stays the default so the runs already in the ledger keep their meaning. Learning
  check (``tests/test_particles_obs.py``, slow; cn-v1, 20k steps, 50 test starts): MADDPG-1 -52.2
  and CTEDD-L-3 -56.2 against standing still -60.5 with ``relative``; -58.1 and -62.2 with ``distance``.
* Messages (the 1-d / 3-d channels of section 5) belong to the learners (MADDPG-1/3, CTEDD-L), not
  to the environment: observations carry no messages.
* cn-v2: "near" landmark = the one whose closest agent is nearer; the -10 applies in the stated case
  (two agents closer to the far landmark); ``penalty_rule=strict`` also penalises 3+0.
* push-forward: zone of radius 0.15 centred 0.2 left of each landmark; a push needs a one-to-one
  agent-zone assignment before the move and every agent moving right; landmarks move 0.05.
* predator-prey: prey step 0.1 (half the predators' top speed) along the best of 16 headings
  (exact prediction of the predators' next positions); capture when all 3 predator centres are
  within 0.35; each prey is caught once (+10), then stays put and leaves the distance term.

Solvability check (``test_scripted_policies_solve_the_tasks``, 64 episodes each): simple centralized
controllers reach 100% cn-v1 success, ~36 joint pushes per push-forward episode, and at least one
capture in ~90% of predator-prey episodes (1.3 on average, predators on a 0.22 ring around the first
free prey); random actions score 0 on all three.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from marlbench.envs.particles.core import OBSERVATIONS, TASKS, ParticleConfig
from marlbench.envs.particles.faces import ParticleArrayEnv, ParticleParallelEnv
from marlbench.envs.registry import EnvSpec, register
from marlbench.errors import ConfigError

__all__ = [
    "ParticleArrayEnv",
    "ParticleConfig",
    "ParticleParallelEnv",
    "make_particle_array",
    "make_particle_env",
]

_COMMON: dict[str, Any] = {"continuous": True, "agent_radius": 0.15, "max_speed": 2.0, "obs": "distance"}
OPTIONS: dict[str, dict[str, Any]] = {
    "cn-v1": {**_COMMON, "max_cycles": 25, "occupy_radius": 0.1},
    "cn-v2": {**_COMMON, "max_cycles": 25, "occupy_radius": 0.1, "penalty_rule": "paper"},
    "push-forward": {
        **_COMMON,
        "max_cycles": 50,
        "push_zone_offset": 0.2,
        "push_zone_radius": 0.15,
        "push_distance": 0.05,
    },
    "predator-prey": {
        **_COMMON,
        "max_cycles": 50,
        "prey_step": 0.1,
        "capture_radius": 0.35,
        "arena": 1.0,
        "prey_directions": 16,
    },
}
"""Registered options per task, with their defaults."""

OPTION_HELP: dict[str, str] = {
    "continuous": "2-d force in [-1,1]^2 (paper's DDPG-style learners); false gives Discrete(5)",
    "agent_radius": "collision zone radius; agents collide when centres are closer than twice it",
    "max_speed": "agent speed cap in units/s (0 disables); 2.0 = 0.2 per step",
    "obs": "local observation: distance (scalars, literal sec. 5.1) or relative (vectors + own velocity)",
    "max_cycles": "episode length in steps (paper: 25 for cn, 50 for push-forward and predator-prey)",
    "occupy_radius": "metric only: a landmark is occupied when an agent centre is this close",
    "penalty_rule": "cn-v2 -10 rule: paper (two agents on the far landmark) or strict (any split but 2+1)",
    "push_zone_offset": "push zone centre lies this far left of its landmark",
    "push_zone_radius": "push zone radius",
    "push_distance": "how far the landmarks move right on a joint push",
    "prey_step": "fixed distance a prey flees each step",
    "capture_radius": "a prey is caught when all predator centres are within this distance",
    "arena": "prey stay inside [-arena, arena]^2",
    "prey_directions": "headings a prey compares when fleeing",
}

_SHAPE: dict[str, dict[str, int]] = {
    "cn-v1": {"n_agents": 3, "n_landmarks": 3},
    "cn-v2": {"n_agents": 3, "n_landmarks": 2},
    "push-forward": {"n_agents": 3, "n_landmarks": 3},
    "predator-prey": {"n_agents": 3, "n_landmarks": 2},
}

METRICS: dict[str, tuple[str, ...]] = {
    "cn-v1": ("collisions", "occupied_landmarks", "final_distance", "success"),
    "cn-v2": ("collisions", "occupied_landmarks", "final_distance", "penalty_steps", "success"),
    "push-forward": ("collisions", "pushes"),
    "predator-prey": ("collisions", "captures"),
}
"""Per-agent episode metrics: ``collisions`` = steps this agent overlapped another; the rest are team
values (occupied landmarks, summed closest distances and success at the final step; -10 steps;
joint pushes; prey caught)."""


def particle_config(task: str, options: Mapping[str, Any] | None = None) -> ParticleConfig:
    """Validated :class:`ParticleConfig` for ``task`` with ``options`` over the registered defaults."""
    if task not in TASKS:
        raise ConfigError(f"unknown particle task '{task}'", f"choose one of: {', '.join(TASKS)}")
    values = dict(OPTIONS[task])
    for key, value in (options or {}).items():
        if key not in values:
            raise ConfigError(
                f"environment '{task}' has no option '{key}'", f"valid options: {', '.join(sorted(values))}"
            )
        values[key] = value
    if int(values["max_cycles"]) < 1:
        raise ConfigError("max_cycles must be at least 1", "give a positive episode length")
    for key in ("agent_radius", "occupy_radius", "push_zone_radius", "prey_step", "capture_radius", "arena"):
        if key in values and not float(values[key]) > 0:
            raise ConfigError(f"{key} must be positive, got {values[key]}", f"set --env-opt {key}=<positive>")
    if float(values["max_speed"]) < 0:
        raise ConfigError("max_speed must be >= 0 (0 disables the cap)", "set --env-opt max_speed=2.0")
    if "prey_directions" in values and int(values["prey_directions"]) < 1:
        raise ConfigError("prey_directions must be at least 1", "set --env-opt prey_directions=16")
    if values["obs"] not in OBSERVATIONS:
        raise ConfigError(
            f"obs '{values['obs']}' is unknown", f"set --env-opt obs=<one of: {', '.join(OBSERVATIONS)}>"
        )
    if values.get("penalty_rule", "paper") not in ("paper", "strict"):
        raise ConfigError(f"penalty_rule '{values['penalty_rule']}' is unknown", "choose paper or strict")
    return ParticleConfig(task=task, **_SHAPE[task], **values)


def make_particle_env(task: str, seed: int | None = None, **options: Any) -> ParticleParallelEnv:
    """A PettingZoo ``ParallelEnv`` of ``task`` (one of cn-v1, cn-v2, push-forward, predator-prey)."""
    return ParticleParallelEnv(particle_config(task, options), seed=seed)


def make_particle_array(
    task: str, num_envs: int, seed: int | None = None, **options: Any
) -> ParticleArrayEnv:
    """A native batched ``ArrayEnv`` of ``num_envs`` copies of ``task``."""
    return ParticleArrayEnv(particle_config(task, options), num_envs=num_envs, seed=seed)


_DESCRIPTIONS = {
    "cn-v1": "CTEDD CN-V1: 3 agents occupy 3 static landmarks, local distance observations (paper 001)",
    "cn-v2": "CTEDD CN-V2: 3 agents cover 2 landmarks 2+1, -10 for a wrong split (paper 001)",
    "push-forward": "CTEDD Push Forward: 3 agents push 3 landmarks right together, +10 per push (paper 001)",
    "predator-prey": "CTEDD Predator-Prey: 3 predators surround 2 fleeing prey, +10 per capture (paper 001)",
}

_CHOICES: dict[str, dict[str, tuple[str, ...]]] = {
    task: {"obs": OBSERVATIONS, **({"penalty_rule": ("paper", "strict")} if task == "cn-v2" else {})}
    for task in TASKS
}

for _task in TASKS:
    register(
        EnvSpec(
            name=_task,
            make=partial(make_particle_env, _task),
            description=_DESCRIPTIONS[_task],
            n_agents=3,
            episode_length=lambda o: int(o["max_cycles"]),
            obs_kind="vector",
            action_kind=lambda o: "continuous" if o["continuous"] else "discrete",
            options=OPTIONS[_task],
            option_help={k: OPTION_HELP[k] for k in OPTIONS[_task]},
            option_choices=_CHOICES[_task],
            metrics=METRICS[_task],
            paper="001 (section 5.1)",
            make_array=partial(make_particle_array, _task),
            family="particles",
        )
    )
