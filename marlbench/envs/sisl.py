"""SISL environments from PettingZoo: ``pursuit`` (``sisl/pursuit-v5``, i.e. ``pursuit_v5``).

``pursuit`` is configured as in Table 1 of paper 004 (Large Batch Sharing): 8 pursuers, 30 evaders,
a 16x16 grid, observation range 7, ``n_catch`` 2, ``surround`` on, shared reward off, tag reward
0.01, urgency reward -0.1, catch reward 5, 500 cycles (Table 1's "horizon" 500 is the same limit),
constraint window 1.0. Every value is an option (``--env-opt n_evaders=10``).

Observations are ``Box(obs_range, obs_range, 3)`` float32 images, channels last, laid out
``[y, x, channel]`` around the pursuer (PettingZoo swaps the simulator's ``[channel, x, y]``):
channel 0 is 1 on walls and outside the map, channel 1 counts pursuers, channel 2 counts evaders.
The values are small integer counts, so learners may store them as ``uint8`` and feed a CNN the
channels-first transpose ``obs.transpose(2, 0, 1)`` (``[channel, y, x]``).

Metric: ``captures``, the number of evaders removed so far in the episode (the simulator's
``evaders_gone`` flags, a team count reported identically for every pursuer on every step, so its
value at the final step is the episode's total).

Upstream behaviour worth knowing (not changed here): with ``surround=True`` an evader is removed
when every open neighbouring cell (4, fewer at a wall) holds a pursuer, and ``n_catch`` is then
unused; with ``surround=False`` it is removed when ``n_catch`` pursuers stand on its cell. The
parallel API sums the rewards of the ``n_pursuers`` sequential sub-steps of one cycle: tags pay
``tag_reward / n_pursuers`` per adjacent evader at every sub-step (about ``tag_reward`` per cycle),
catch and urgency rewards once per cycle.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pettingzoo.utils.wrappers import BaseParallelWrapper

from marlbench.envs.registry import EnvSpec, register
from marlbench.errors import ConfigError

PURSUIT_TABLE1: dict[str, bool | int | float] = {
    "n_pursuers": 8,
    "n_evaders": 30,
    "x_size": 16,
    "y_size": 16,
    "obs_range": 7,
    "n_catch": 2,
    "surround": True,
    "shared_reward": False,
    "tag_reward": 0.01,
    "urgency_reward": -0.1,
    "catch_reward": 5.0,
    "max_cycles": 500,
    "constraint_window": 1.0,
    "freeze_evaders": False,
}
"""Defaults of the ``pursuit`` options: Table 1 of paper 004 (``freeze_evaders``: upstream default)."""


def _pursuit_core(env: Any) -> Any:
    """The simulator object (``pursuit_base.Pursuit``) under the PettingZoo wrappers."""
    return env.unwrapped.env


class PursuitMetrics(BaseParallelWrapper):
    """A thin ParallelEnv wrapper adding ``infos[agent]["episode_metrics"] = {"captures": n}``.

    Everything else is passed through to the wrapped ``pursuit_v5`` parallel env.
    """

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        self.metadata = env.metadata
        self.possible_agents = list(env.possible_agents)
        self.agents = list(getattr(env, "agents", []))  # the upstream wrapper sets it on reset

    @property
    def max_cycles(self) -> int:
        return int(_pursuit_core(self.env).max_cycles)

    def captures(self) -> int:
        """Evaders removed since the last reset."""
        return int(_pursuit_core(self.env).evaders_gone.sum())

    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        obs, infos = self.env.reset(seed=seed, options=options)
        self.agents = list(self.env.agents)
        return obs, infos

    def step(self, actions: Mapping[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
        stepped = list(self.env.agents)
        obs, rewards, terminations, truncations, infos = self.env.step(dict(actions))
        self.agents = list(self.env.agents)
        metrics = {"captures": float(self.captures())}
        # New dicts: the AEC env's own info dicts are shared objects and must not be mutated.
        infos = {a: {**infos.get(a, {}), "episode_metrics": dict(metrics)} for a in stepped}
        return obs, dict(rewards), terminations, truncations, infos


def make_pursuit(seed: int | None = None, **options: Any) -> PursuitMetrics:
    """PettingZoo ``sisl/pursuit-v5`` parallel env with Table 1 defaults and the ``captures`` metric."""
    import pettingzoo

    config = {**PURSUIT_TABLE1, **options}
    unknown = set(config) - set(PURSUIT_TABLE1)
    if unknown:
        raise ConfigError(
            f"pursuit has no option(s) {', '.join(sorted(unknown))}",
            f"valid options: {', '.join(sorted(PURSUIT_TABLE1))}",
        )
    if config["obs_range"] < 1 or config["obs_range"] % 2 == 0:
        raise ConfigError(
            f"--env-opt obs_range={config['obs_range']} is not allowed",
            "give an odd number (the window is centred on the pursuer), e.g. 7",
        )
    for key in ("n_pursuers", "n_evaders", "x_size", "y_size", "max_cycles"):
        if config[key] < 1:
            raise ConfigError(f"--env-opt {key}={config[key]} is out of range", "it must be >= 1")
    if max(config["n_pursuers"], config["n_evaders"]) > 255:
        raise ConfigError("pursuit supports at most 255 pursuers and 255 evaders", "use fewer agents")
    if not 0.0 <= config["constraint_window"] <= 1.0:
        raise ConfigError("--env-opt constraint_window must lie in [0, 1]", "e.g. 1.0 (spawn anywhere)")
    # pettingzoo.make is the registry route; importing pettingzoo.sisl.pursuit_v5 is deprecated in 1.27.
    env = PursuitMetrics(pettingzoo.make("parallel", "sisl/pursuit-v5", **config))
    if seed is not None:
        env.reset(seed=seed)
    return env


register(
    EnvSpec(
        name="pursuit",
        make=make_pursuit,
        description="SISL Pursuit: 8 pursuers surround 30 random evaders on a 16x16 grid (004, Table 1)",
        n_agents=lambda o: int(o["n_pursuers"]),
        episode_length=lambda o: int(o["max_cycles"]),
        obs_kind="image",
        action_kind="discrete",
        options=dict(PURSUIT_TABLE1),
        option_help={
            "n_pursuers": "number of pursuers (the learning agents)",
            "n_evaders": "number of randomly moving evaders",
            "x_size": "grid width",
            "y_size": "grid height",
            "obs_range": "side of the square window each pursuer observes (odd)",
            "n_catch": "pursuers on an evader's cell needed to catch it (only when surround=false)",
            "surround": "an evader is caught when all its open neighbouring cells hold pursuers",
            "shared_reward": "distribute the team's mean reward to every pursuer",
            "tag_reward": "reward for being next to an evader",
            "urgency_reward": "reward added every step",
            "catch_reward": "reward for each pursuer taking part in a catch",
            "max_cycles": "episode length limit in steps (Table 1: max cycles = horizon = 500)",
            "constraint_window": "fraction of the map agents may spawn in (1.0: anywhere)",
            "freeze_evaders": "evaders do not move",
        },
        metrics=("captures",),
        paper="004 (Large Batch Sharing, Table 1)",
        family="sisl",
    )
)
