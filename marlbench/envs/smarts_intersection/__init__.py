"""``smarts-intersection``: paper 000's SMARTS 4-lane intersection with 4 agents (section III.A).

Importing this package registers the environment and nothing more: SMARTS and SUMO are imported
by the factory, so ``marlbench envs`` stays fast and lists the env even where SMARTS is missing
(making it then says how to install it).

* :mod:`.scenario` generates the map with ``netconvert`` and builds/caches the SMARTS scenario.
* :mod:`.features` turns SMARTS observations into the paper's stacked frames, the reward and the
  bird's-eye image.
* :mod:`.env` is the PettingZoo ``ParallelEnv`` over the SMARTS simulator.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from marlbench.envs.registry import EnvSpec, register
from marlbench.errors import ConfigError

DEFAULT_OPTIONS: dict[str, bool | int | float | str] = {
    "traffic": "low",
    "action": "discrete",
    "bev": False,
    "max_steps": 300,
    "cruise_speed": 10.0,
    "slow_speed": 0.0,
    "goal": "any-lane",
    "progress_weight": 0.1,
    "collision_penalty": 10.0,
    "off_road_penalty": 10.0,
    "goal_bonus": 10.0,
    "workers": 0,
}
MAX_WORKERS = 1024


def make(seed: int | None = None, workers: int = 0, **options: Any) -> Any:
    """A :class:`~marlbench.envs.smarts_intersection.env.SmartsIntersectionEnv` (builds the scenario once).

    ``workers`` says how copies are stepped (:mod:`marlbench.envs.subproc`), not what one copy is.
    """
    from marlbench.envs.smarts_intersection.env import SmartsIntersectionEnv

    return SmartsIntersectionEnv(seed=seed, **options)


@dataclass(frozen=True)
class _SmartsSpec(EnvSpec):
    """The registry entry, with ``workers`` checked and kept out of the resolved options at its default.

    ``workers`` never changes results (:mod:`marlbench.envs.subproc`); left out at ``auto`` it keeps
    the config hash of every run made before the option existed.
    """

    def resolve_options(self, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
        resolved = super().resolve_options(given)
        workers = resolved["workers"]
        if not 0 <= workers <= MAX_WORKERS:
            raise ConfigError(
                f"--env-opt workers={workers} must lie between 0 and {MAX_WORKERS}",
                "give 0 (auto: one per CPU core this run may use), 1 (in this process) or a count",
            )
        if workers == 0:
            del resolved["workers"]
        return resolved


def _image_layout(options: Mapping[str, Any]) -> tuple[int, tuple[int, int, int]] | None:
    """With ``bev``: the three 64x64 images follow the three vector frames (see ``.features``)."""
    if not options.get("bev"):
        return None
    from marlbench.envs.smarts_intersection import features as F

    return F.STACK * F.FRAME_SIZE, (F.STACK, F.BEV_PIXELS, F.BEV_PIXELS)


def _action_kind(options: Mapping[str, Any]) -> str:
    return "continuous" if options.get("action") == "continuous" else "discrete"


register(
    _SmartsSpec(
        name="smarts-intersection",
        make=make,
        description="SMARTS 4-arm, 2-lane intersection: 4 ego cars cross and turn among SUMO traffic",
        n_agents=4,
        episode_length=lambda o: int(o["max_steps"]),
        obs_kind="vector",
        action_kind=_action_kind,
        options=DEFAULT_OPTIONS,
        option_help={
            "traffic": "background SUMO traffic: low (300 veh/h per arm) or high (900 veh/h per arm)",
            "action": "discrete: Discrete(4) keep lane / slow down / lane left / lane right; "
            "continuous: throttle, brake, steering",
            "bev": "paper 000's 7th group, on in its presets: a bird's-eye gray-scale image per frame, "
            "64 x 64 px of 0.75 m around the ego facing up (off-road 0, road 0.25, ego 0.625, other "
            "vehicles 1), 3 x 4096 floats after the vector; MADDPG and PPO encode it with a small CNN "
            "(Conv 8x8/4, Conv 4x4/2, 64 features) before their 64x64 MLP",
            "max_steps": "steps of 0.1 s before the remaining agents are truncated",
            "cruise_speed": "target speed (m/s) of the discrete keep-lane and lane-change actions",
            "slow_speed": "target speed (m/s) of the discrete slow-down action (0: brake to a stop)",
            "goal": "any-lane: the goal region of the destination arm in any lane counts as completion; "
            "lane: only SMARTS' 2 m goal point in the mission's lane",
            "progress_weight": "reward per metre driven along the route",
            "collision_penalty": "reward -= this on a collision",
            "off_road_penalty": "reward -= this on leaving the road or the route",
            "goal_bonus": "reward += this on reaching the goal",
            "workers": "worker processes that step the env copies side by side (0: auto, one per CPU "
            "core this run may use; 1: all in the training process); never more than the copies, so "
            "it only matters with several: MADDPG --set num_envs=N, PPO --set n_envs=N (copies change "
            "results, workers do not: same seed, same arrays, same config hash)",
        },
        option_choices={
            "traffic": ("low", "high"),
            "action": ("discrete", "continuous"),
            "goal": ("any-lane", "lane"),
        },
        metrics=("collided", "reached_goal", "off_road", "off_route", "distance_travelled"),
        paper="000 (SMARTS 4-lane intersection, 4 agents)",
        family="smarts",
        image_layout=_image_layout,
    )
)
