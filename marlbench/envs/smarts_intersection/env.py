"""PettingZoo ``ParallelEnv`` over SMARTS: 4 egos cross the generated intersection (paper 000, III.A).

SMARTS' core simulator is driven directly (not through ``HiWayEnvV1``), headless, with SUMO for the
background traffic and no Envision. Observations, reward and the bird's-eye image come from
:mod:`.features`; the scenario from :mod:`.scenario`.

Agents ``agent_0`` .. ``agent_3`` follow ``scenario.EGO_ROUTES`` (S->N straight, E->S left, N->W
right, W->E straight). An agent that collides, leaves the road or its route, or reaches its goal (in
any lane of its destination arm: :mod:`.goals`) is *terminated* and leaves ``env.agents`` after that
step (PettingZoo parallel semantics); the others drive on. After ``max_steps`` steps the remaining
agents are *truncated*. ``infos[agent]["episode_metrics"]`` on an agent's last step holds
``collided``, ``reached_goal``, ``off_road``, ``off_route`` (0/1) and ``distance_travelled`` (metres).

Observation of one agent (a flat float32 vector): ``[frame(t-2), frame(t-1), frame(t)]``, oldest
first, ``3 x 41 = 123`` floats (frame layout in :mod:`.features`; at reset the first frame is
repeated). With ``bev=True`` the three images follow, oldest first, each ``64 x 64`` row-major
(row 0 ahead of the ego): ``123 + 3 x 4096 = 12411`` floats.

Actions (paper 000: "keep lane and slow down; turn right and turn left"): ``Discrete(4)`` through
SMARTS' lane-following controller (``ActionSpaceType.LaneWithContinuousSpeed``): 0 keep lane at
``cruise_speed``, 1 slow down to ``slow_speed`` (0 by default: the controller brakes smoothly to a
stop, so an ego can wait for a gap), 2 / 3 change lane left / right at ``cruise_speed``. The paper
names the actions, not their speeds: both speeds are options. ``action="continuous"``:
``Box([0, 0, -1], [1, 1, 1])`` = throttle, brake, steering. A live agent given no action gets none.

Episode length: ``max_steps`` = 300 steps of 0.1 s by default. A route is about 100 m, about 100
steps at the default cruise speed of 10 m/s; the rest leaves room to wait for a gap at the junction.

Seeds: ``seed`` seeds a numpy Generator; each ``reset`` draws an episode seed from it for SUMO
(departures, driver imperfection): the same seed gives the same episodes (tested). SMARTS draws
SUMO's seed from Python's global ``random``, seeded for the reset only and then restored.

Robustness: each env runs its own SUMO child process. ``close()`` (also on an exception or Ctrl-C
in ``step``/``reset``, on garbage collection and at exit) kills and reaps every SUMO process it
started. If SUMO dies mid-episode, the remaining agents are truncated (``infos[agent]
["sumo_crashed"]``) and the next ``reset`` starts a fresh one (:class:`SumoError` if it cannot).
A killed Python process takes SUMO with it (its TraCI connection drops); a copy or unpickled env
(SuperSuit's ``concat_vec_envs_v1``) starts its own simulator.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import tempfile
import warnings
import weakref
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from marlbench.envs.smarts_intersection import features as F
from marlbench.envs.smarts_intersection.goals import reached_destination
from marlbench.envs.smarts_intersection.scenario import TRAFFIC_RATES, IntersectionLayout, build_scenario
from marlbench.envs.smarts_intersection.sumo import SumoError, SumoProcesses, finalize, sumo_binary_for_smarts
from marlbench.errors import ConfigError

log = logging.getLogger(__name__)
# SMARTS 2.0.1 calls TraCI's moveToXY with a parameter SUMO 1.28 deprecates; harmless, once per run.
warnings.filterwarnings("ignore", message="Use of deprecated parameter lane", category=UserWarning)

STEP_SECONDS = 0.1
"""Simulated seconds per env step (SMARTS' default fixed time step)."""
DISCRETE_ACTIONS = ("keep_lane", "slow_down", "change_lane_left", "change_lane_right")
METRICS = ("collided", "reached_goal", "off_road", "off_route", "distance_travelled")
SPAWN_STEPS = 10
"""Simulator steps a reset waits at most for egos whose spawn SMARTS delayed (see ``_await_spawns``)."""


class SmartsIntersectionEnv(ParallelEnv):
    """Four ego vehicles cross a 4-arm, 2-lane intersection with SUMO traffic (paper 000, Fig. 1)."""

    metadata = {"name": "smarts_intersection_v0", "render_modes": [], "is_parallelizable": True}

    def __init__(
        self,
        seed: int | None = None,
        traffic: str = "low",
        action: str = "discrete",
        bev: bool = False,
        max_steps: int = 300,
        cruise_speed: float = 10.0,
        slow_speed: float = 0.0,
        goal: str = "any-lane",
        progress_weight: float = 0.1,
        collision_penalty: float = 10.0,
        off_road_penalty: float = 10.0,
        goal_bonus: float = 10.0,
        layout: IntersectionLayout | None = None,
        cache_dir: str | Path | None = None,
    ) -> None:
        if traffic not in TRAFFIC_RATES:
            raise ConfigError(f"traffic={traffic!r} is not a traffic setting", "choose low or high")
        if action not in ("discrete", "continuous"):
            raise ConfigError(f"action={action!r} is not an action space", "choose discrete or continuous")
        if max_steps < 1:
            raise ConfigError(f"max_steps={max_steps} must be at least 1")
        if not 0 < cruise_speed <= 30:
            raise ConfigError(f"cruise_speed={cruise_speed} must lie in (0, 30] m/s", "e.g. cruise_speed=10")
        if not 0 <= slow_speed < cruise_speed:
            raise ConfigError(f"slow_speed={slow_speed} must lie in [0, cruise_speed)", "e.g. slow_speed=0")
        self._sumo_binary = sumo_binary_for_smarts()
        self.render_mode = None
        self.traffic = traffic
        self.action_kind = action
        self.bev = bev
        self.max_steps = int(max_steps)
        self.cruise_speed = float(cruise_speed)
        self.slow_speed = float(slow_speed)
        self.goal = goal
        self.weights = F.RewardWeights(progress_weight, collision_penalty, off_road_penalty, goal_bonus)
        self.layout = layout or IntersectionLayout()
        self._built = build_scenario(self.layout, root=Path(cache_dir) if cache_dir else None)

        self.possible_agents = [f"agent_{i}" for i in range(len(self.layout.ego_routes))]
        self.agents: list[str] = []
        size = F.STACK * F.FRAME_SIZE + (F.STACK * F.BEV_PIXELS * F.BEV_PIXELS if bev else 0)
        obs_space = spaces.Box(-np.inf, np.inf, (size,), np.float32)
        if action == "discrete":
            act_space: spaces.Space = spaces.Discrete(len(DISCRETE_ACTIONS))
        else:
            act_space = spaces.Box(
                np.array([0.0, 0.0, -1.0], np.float32), np.array([1.0, 1.0, 1.0], np.float32)
            )
        self.observation_spaces = {a: obs_space for a in self.possible_agents}
        self.action_spaces = {a: act_space for a in self.possible_agents}
        self._raster = F.DrivableRaster.from_net_file(self._built.net_file) if bev else None

        self._rng = np.random.default_rng(seed)
        self._init_runtime()

    def _init_runtime(self) -> None:
        """Per-instance simulator state; rebuilt (empty) when the env is copied or unpickled."""
        self._procs = SumoProcesses()
        self._finalizer = weakref.finalize(self, finalize, self._procs)
        self._scenario: Any = None
        self._frames: dict[str, deque[np.ndarray]] = {}
        self._episode: dict[str, dict[str, float]] = {}
        self._steps = 0
        self._closed = False
        self.agents = []

    def __getstate__(self) -> dict[str, Any]:
        # SuperSuit's concat_vec_envs_v1 copies envs with cloudpickle: a copy must get its own
        # simulator, SUMO process and log directory, never share (or delete) the original's.
        transient = ("_procs", "_finalizer", "_scenario", "_frames", "_episode")
        return {k: v for k, v in self.__dict__.items() if k not in transient}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_runtime()

    # -- PettingZoo surface ---------------------------------------------------------------------

    def observation_space(self, agent: str) -> spaces.Space:
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.Space:
        return self.action_spaces[agent]

    def reset(
        self, seed: int | None = None, options: dict | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, dict]]:
        if self._closed:
            raise RuntimeError("reset() on a closed smarts-intersection env")
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        episode_seed = int(self._rng.integers(2**31 - 1))
        try:
            observations = self._await_spawns(self._reset_sim(episode_seed))
        except BaseException:
            self.close()
            raise
        self._steps = 0
        self.agents = [a for a in self.possible_agents if a in observations]
        missing = set(self.possible_agents) - set(self.agents)
        if missing:
            log.warning("SMARTS did not place %s at reset; they sit this episode out", sorted(missing))
        self._frames = {}
        self._episode = {}
        for agent in self.agents:
            frame = self._frame(observations[agent])
            self._frames[agent] = deque([frame] * F.STACK, maxlen=F.STACK)
            self._episode[agent] = {name: 0.0 for name in METRICS}
        return {a: self._stacked(a) for a in self.agents}, {a: {} for a in self.agents}

    def step(
        self, actions: dict[str, Any]
    ) -> tuple[
        dict[str, np.ndarray], dict[str, float], dict[str, bool], dict[str, bool], dict[str, dict[str, Any]]
    ]:
        live = list(self.agents)
        if not live:
            return {}, {}, {}, {}, {}
        sim_actions = {a: self._convert(actions[a]) for a in live if a in actions}
        try:
            observations, _, dones, _ = self._procs.sim.step(sim_actions)
        except BaseException as exc:
            self.close()
            if isinstance(exc, Exception):
                raise SumoError(f"the SMARTS simulation failed during step(): {exc!r}") from exc
            raise
        self._steps += 1
        crashed = not self._sumo_connected()
        if crashed:
            log.warning("SUMO stopped during an episode; truncating it and restarting SUMO at the next reset")
            self._procs.release()
        time_up = self._steps >= self.max_steps

        obs_out, rewards, terminated, truncated, infos = {}, {}, {}, {}, {}
        completed: list[str] = []
        for agent in live:
            observation = observations.get(agent)
            info: dict[str, Any] = {}
            if observation is None:
                # The vehicle vanished without a done flag (SMARTS removed it): end its episode.
                outcome = F.StepOutcome(0.0, False, False, False, False)
                done = True
            else:
                self._frames[agent].append(self._frame(observation))
                outcome = F.StepOutcome.from_observation(observation)
                done = bool(dones.get(agent, False))
                if not done and self._completed(agent, observation):
                    outcome, done = dataclasses.replace(outcome, reached_goal=True), True
                    completed.append(agent)
            terms = F.reward_terms(outcome, self.weights)
            record = self._episode[agent]
            record["distance_travelled"] += outcome.progress
            record["collided"] = max(record["collided"], float(outcome.collided))
            record["reached_goal"] = max(record["reached_goal"], float(outcome.reached_goal))
            record["off_road"] = max(record["off_road"], float(outcome.off_road))
            record["off_route"] = max(record["off_route"], float(outcome.off_route))
            obs_out[agent] = self._stacked(agent)
            rewards[agent] = float(sum(terms.values()))
            terminated[agent] = done
            truncated[agent] = (not done) and (time_up or crashed)
            info["reward_terms"] = terms
            if crashed:
                info["sumo_crashed"] = True
            if terminated[agent] or truncated[agent]:
                info["episode_metrics"] = dict(record)
            infos[agent] = info
        self.agents = [a for a in live if not (terminated[a] or truncated[a])]
        if completed and self._procs.sim is not None:
            # SMARTS removes agents it saw finish; these finished by the any-lane rule (.goals)
            self._procs.sim._teardown_done_agents_and_vehicles(dict.fromkeys(completed, True))
        return obs_out, rewards, terminated, truncated, infos

    def _completed(self, agent: str, observation: Any) -> bool:
        """Whether ``agent`` reached its destination arm's goal region in another lane (.goals)."""
        if self.goal != "any-lane" or self._procs.sim is None:
            return False
        route = self.layout.ego_routes[self.possible_agents.index(agent)]
        return reached_destination(
            observation.ego_vehicle_state,
            self._procs.sim.road_map,
            f"{route.destination}-out",
            self.layout.ego_goal_offset,
        )

    def close(self) -> None:
        """Stop SMARTS and every SUMO process of this env; safe to call more than once."""
        self._closed = True
        self.agents = []
        self._finalizer()

    def render(self) -> None:
        raise NotImplementedError("smarts-intersection runs headless; use the bev option for images")

    # -- internals ------------------------------------------------------------------------------

    def _convert(self, action: Any) -> tuple:
        if self.action_kind == "discrete":
            index = int(np.asarray(action).reshape(-1)[0]) if np.ndim(action) else int(action)
            if not 0 <= index < len(DISCRETE_ACTIONS):
                raise ValueError(f"action {index} is outside Discrete({len(DISCRETE_ACTIONS)})")
            speed = self.slow_speed if index == 1 else self.cruise_speed
            lane_change = {2: 1, 3: -1}.get(index, 0)
            return (speed, lane_change)
        value = np.clip(np.asarray(action, dtype=np.float64).reshape(3), [0.0, 0.0, -1.0], [1.0, 1.0, 1.0])
        return (float(value[0]), float(value[1]), float(value[2]))

    def _frame(self, observation: Any) -> np.ndarray:
        vector = F.ego_frame(observation)
        if self._raster is None:
            return vector
        image = F.bev_frame(observation, self._raster)
        return np.concatenate([vector, image.reshape(-1)])

    def _stacked(self, agent: str) -> np.ndarray:
        frames = list(self._frames[agent])
        if self._raster is None:
            return np.concatenate(frames).astype(np.float32, copy=False)
        vectors = [f[: F.FRAME_SIZE] for f in frames]
        images = [f[F.FRAME_SIZE :] for f in frames]
        return np.concatenate(vectors + images).astype(np.float32, copy=False)

    def _interface(self) -> Any:
        from smarts.core.agent_interface import AgentInterface, DoneCriteria, NeighborhoodVehicles, Waypoints
        from smarts.core.controllers import ActionSpaceType

        action = (
            ActionSpaceType.LaneWithContinuousSpeed
            if self.action_kind == "discrete"
            else ActionSpaceType.Continuous
        )
        return AgentInterface(
            waypoint_paths=Waypoints(lookahead=max(F.HEADING_LOOKAHEAD) + 2),
            neighborhood_vehicle_states=NeighborhoodVehicles(radius=F.NEIGHBOUR_RADIUS),
            action=action,
            accelerometer=False,
            lane_positions=False,
            done_criteria=DoneCriteria(collision=True, off_road=True, off_route=True),
        )

    def _new_sim(self) -> Any:
        from smarts.core.scenario import Scenario
        from smarts.core.smarts import SMARTS
        from smarts.core.sumo_traffic_simulation import SumoTrafficSimulation

        if not self._procs.log_dir:
            # SMARTS writes a SUMO log per episode; keep them in a private directory removed by close().
            self._procs.log_dir = tempfile.mkdtemp(prefix="marlbench-sumo-")
            self._scenario = None
        if self._scenario is None:
            root = str(self._built.root)
            missions = Scenario.discover_agent_missions(root, self.possible_agents)
            self._scenario = Scenario(
                root,
                traffic_specs=[str(self._built.route_files[self.traffic])],
                missions=dict(zip(self.possible_agents, missions, strict=True)),
                log_dir=self._procs.log_dir,
            )
        interface = self._interface()
        return SMARTS(
            agent_interfaces={a: interface for a in self.possible_agents},
            traffic_sims=[SumoTrafficSimulation(headless=True, time_resolution=STEP_SECONDS)],
            envision=None,
            fixed_timestep_sec=STEP_SECONDS,
        )

    def _sumo(self) -> Any:
        from smarts.core.sumo_traffic_simulation import SumoTrafficSimulation

        sim = self._procs.sim
        if sim is None:
            return None
        for provider in sim.providers:
            if isinstance(provider, SumoTrafficSimulation):
                return provider
        return None

    def _sumo_connected(self) -> bool:
        sumo = self._sumo()
        return bool(sumo is not None and sumo.connected)

    def _track_sumo_process(self) -> None:
        """Remember the SUMO child process so that ``close`` can kill and reap it whatever happens."""
        conn = getattr(self._sumo(), "_traci_conn", None)
        proc = getattr(getattr(conn, "_sumo_process", None), "_sumo_proc", None)
        self._procs.popens = [p for p in self._procs.popens if p.poll() is None]
        if proc is not None and proc not in self._procs.popens:
            self._procs.popens.append(proc)

    def _reset_sim(self, episode_seed: int) -> dict[str, Any]:
        """Reset SMARTS (SUMO restarts each episode); one retry with a fresh simulator on failure."""
        problem = ""
        for attempt in range(2):
            if self._procs.sim is None:
                self._procs.sim = self._new_sim()
            # SMARTS draws SUMO's seed from Python's global `random`: seed it for this reset only,
            # leaving the caller's random stream as it was.
            saved = random.getstate()
            random.seed(episode_seed + attempt)
            try:
                observations = self._procs.sim.reset(self._scenario)
            except Exception as exc:  # SMARTS raises many kinds here; all mean "SUMO did not start"
                problem = repr(exc)
                observations = None
            finally:
                random.setstate(saved)
            self._track_sumo_process()
            if observations is not None and self._sumo_connected():
                return observations
            problem = problem or "SUMO did not accept the TraCI connection"
            log.warning("SMARTS reset failed (attempt %d): %s", attempt + 1, problem)
            self._procs.release()
        raise SumoError(
            f"could not start SUMO for smarts-intersection: {problem}. {self._sumo_log_tail()}"
            f"Check that '{self._sumo_binary}' runs (try '{self._sumo_binary} --version')."
        )

    def _await_spawns(self, observations: dict[str, Any]) -> dict[str, Any]:
        """Observations once SMARTS has placed every ego (at most :data:`SPAWN_STEPS` extra steps).

        SMARTS' reset returns as soon as one ego is observed; now and then (about one reset in
        15 here) the other egos are still *pending* and only appear on the next simulator step.
        Without this wait they would sit the whole episode out (length 0, reward 0 in the ledger)
        while their vehicles stand in the junction. The waiting steps carry no actions (SMARTS'
        own reset does the same) and do not count towards ``max_steps``. An ego that is done
        during them (e.g. a collision at its spawn) sits the episode out, with the warning below.
        """
        sim = self._procs.sim
        for _ in range(SPAWN_STEPS):
            if not sim.agent_manager.pending_agent_ids:
                break
            observations, _, dones, _ = sim.step({})
            observations = {a: o for a, o in observations.items() if not dones.get(a)}
        return observations

    def _sumo_log_tail(self) -> str:
        logs = sorted(Path(self._procs.log_dir).glob("*.err")) if self._procs.log_dir else []
        text = "".join(p.read_text(errors="replace") for p in logs[-1:]).strip()
        return f"SUMO's last error log: {text[-800:]} " if text else ""
