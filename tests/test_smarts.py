"""smarts-intersection (paper 000, III.A): map generation, cache, observation, reward, episodes, cleanup.

Tests that start SMARTS/SUMO share one built scenario (module fixture) and each closes its env;
after every such test no ``sumo`` child process of this test process may remain.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("smarts.core")
pytest.importorskip("sumo")

from marlbench.envs.smarts_intersection import features as F  # noqa: E402
from marlbench.envs.smarts_intersection import scenario as S  # noqa: E402
from marlbench.errors import ConfigError  # noqa: E402

pytestmark = [
    pytest.mark.filterwarnings("ignore:Use of deprecated parameter lane:UserWarning"),
    pytest.mark.filterwarnings("ignore:path is deprecated:DeprecationWarning"),
]

# --------------------------------------------------------------------------------------------
# helpers


def sumo_children() -> list[int]:
    """PIDs of ``sumo`` processes (zombies included) whose parent is this test process."""
    me = os.getpid()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        if ppid == me and comm.startswith("sumo"):
            found.append(int(entry.name))
    return found


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("smarts-cache")
    S.build_scenario(root=root, log=lambda line: None)
    return root


@pytest.fixture
def make_env(cache: Path):
    """Factory for envs on the shared scenario; closes them and checks SUMO is gone."""
    from marlbench.envs.smarts_intersection.env import SmartsIntersectionEnv

    made = []

    def make(**options):
        env = SmartsIntersectionEnv(cache_dir=cache, **options)
        made.append(env)
        return env

    yield make
    for env in made:
        env.close()
    assert sumo_children() == [], "a SUMO process outlived its env"


def ns(**kwargs) -> SimpleNamespace:
    return SimpleNamespace(**kwargs)


def waypoint(x: float, y: float, heading: float, lane_id: str = "S-in_0") -> SimpleNamespace:
    return ns(pos=np.array([x, y]), heading=heading, lane_id=lane_id, lane_width=3.5)


def vehicle(x: float, y: float, speed: float = 5.0, heading: float = 0.0) -> SimpleNamespace:
    return ns(position=(x, y, 0.0), speed=speed, heading=heading, bounding_box=ns(length=4.0, width=2.0))


def fake_obs(
    position=(0.0, 0.0),
    heading=0.0,
    speed=7.5,
    steering=0.1,
    goal=(0.0, 50.0),
    paths=None,
    neighbours=(),
) -> SimpleNamespace:
    ego = ns(
        position=(*position, 0.0),
        heading=heading,
        speed=speed,
        steering=steering,
        lane_id="S-in_0",
        mission=ns(goal=ns(position=(*goal, 0.0))),
        bounding_box=ns(length=4.0, width=2.0),
    )
    return ns(ego_vehicle_state=ego, waypoint_paths=paths, neighborhood_vehicle_states=list(neighbours))


# --------------------------------------------------------------------------------------------
# map and scenario cache (netconvert, no simulation)


def test_generated_net_has_four_arms_with_two_lanes_each_way(cache: Path) -> None:
    built = S.build_scenario(root=cache, log=lambda line: None)
    edges = S.net_summary(built.net_file)
    assert sorted(edges) == sorted(f"{arm}-{way}" for arm in "NESW" for way in ("in", "out"))
    for arm in "NESW":
        assert edges[f"{arm}-in"]["from"] == arm and edges[f"{arm}-in"]["to"] == "C"
        assert edges[f"{arm}-out"]["from"] == "C" and edges[f"{arm}-out"]["to"] == arm
        for way in ("in", "out"):
            assert edges[f"{arm}-{way}"]["lanes"] == 2
            assert edges[f"{arm}-{way}"]["widths"] == [3.5, 3.5]
    assert (built.root / "build" / "missions.pkl").is_file()
    assert set(built.route_files) == {"low", "high"}
    low, high = (built.route_files[k].read_text() for k in ("low", "high"))
    rate = lambda text: sum(float(p.split('"')[1]) for p in text.split("probability=")[1:])  # noqa: E731
    assert rate(high) == pytest.approx(3 * rate(low), rel=1e-4)
    assert rate(low) * 3600 == pytest.approx(4 * S.TRAFFIC_RATES["low"], rel=1e-3)


@pytest.mark.slow
def test_scenario_cache_is_reused_and_rebuilt_when_the_description_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    real = S.run_netconvert

    def counting(layout, out_dir):
        calls.append(layout)
        return real(layout, out_dir)

    monkeypatch.setattr(S, "run_netconvert", counting)
    lines: list[str] = []
    first = S.build_scenario(root=tmp_path, log=lines.append)
    assert len(calls) == 1 and any("building" in line for line in lines)
    again = S.build_scenario(root=tmp_path, log=lines.append)
    assert again.root == first.root and len(calls) == 1, "an unchanged description must not rerun netconvert"
    changed = S.build_scenario(S.IntersectionLayout(arm_length=70.0), root=tmp_path, log=lines.append)
    assert len(calls) == 2 and changed.root != first.root
    assert S.IntersectionLayout(arm_length=70.0).key() != S.IntersectionLayout().key()
    assert not list(tmp_path.glob(".build-*")), "temporary build directories must be removed"


def test_cache_root_follows_marlbench_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MARLBENCH_CACHE", str(tmp_path))
    assert S.cache_root() == tmp_path / "smarts"
    monkeypatch.delenv("MARLBENCH_CACHE")
    assert S.cache_root() == Path.home() / ".cache" / "marlbench" / "smarts"


def test_missing_netconvert_is_a_config_error_naming_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sumo

    monkeypatch.setattr(sys, "prefix", str(tmp_path))
    monkeypatch.setattr(sumo, "SUMO_HOME", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ConfigError) as err:
        S.find_sumo_tool("netconvert")
    assert "netconvert" in err.value.message and "pip install" in (err.value.fix or "")


def test_importing_the_family_does_not_import_smarts() -> None:
    code = (
        "import sys, marlbench.envs.smarts_intersection as m; "
        "from marlbench.envs.registry import get_spec; s = get_spec('smarts-intersection'); "
        "assert 'smarts' not in sys.modules, 'smarts imported eagerly'; "
        "assert s.agents_for(s.resolve_options()) == 4; "
        "assert s.action_kind_for(s.resolve_options({'action': 'continuous'})) == 'continuous'; "
        "assert s.length_for(s.resolve_options({'max_steps': '50'})) == 50"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# --------------------------------------------------------------------------------------------
# observation, reward and image on constructed data


def test_frame_layout_goal_lane_offset_speed_heading_errors() -> None:
    # Ego heading west (SMARTS heading pi/2); goal 30 m west and 10 m south -> 30 ahead, 10 to the left.
    path = [waypoint(-i, 1.0, math.pi / 2 + (0.2 if i >= 3 else 0.0)) for i in range(12)]
    obs = fake_obs(heading=math.pi / 2, goal=(-30.0, -10.0), speed=7.5, steering=0.1, paths=[path])
    frame = F.ego_frame(obs)
    assert frame.shape == (F.FRAME_SIZE,) == (41,)
    np.testing.assert_allclose(frame[F.SLICE_GOAL], [0.30, 0.10], atol=1e-6)
    # The lane centre (waypoint) is 1 m north of the ego, which faces west: the ego is 1 m left of it.
    assert frame[F.INDEX_LANE_OFFSET] == pytest.approx(1.0 / 1.75, abs=1e-6)
    right_of_lane = F.ego_frame(fake_obs(heading=math.pi / 2, paths=[[waypoint(0, -1.0, math.pi / 2)] * 12]))
    assert right_of_lane[F.INDEX_LANE_OFFSET] == pytest.approx(-1.0 / 1.75, abs=1e-6)
    assert frame[F.INDEX_SPEED] == pytest.approx(0.5)
    assert frame[F.INDEX_STEERING] == pytest.approx(0.1)
    np.testing.assert_allclose(frame[F.SLICE_HEADING_ERRORS], [0.0, 0.2, 0.2, 0.2], atol=1e-6)
    # Heading errors are wrapped: waypoint at -3.0 rad vs ego at +3.0 rad is about +0.28, not -6.
    wrapped = F.ego_frame(fake_obs(heading=3.0, paths=[[waypoint(0, 0, -3.0)] * 12]))
    assert wrapped[F.SLICE_HEADING_ERRORS][0] == pytest.approx(2 * math.pi - 6.0, abs=1e-5)
    assert np.all(frame[F.SLICE_NEIGHBOURS] == 0), "no neighbours -> all zero padding"


def test_neighbours_nearest_first_within_radius_and_zero_padded() -> None:
    near = [vehicle(0.0, 10.0, speed=3.0), vehicle(-5.0, 0.0), vehicle(0.0, 60.0)]  # last is beyond 50 m
    frame = F.ego_frame(fake_obs(neighbours=near))
    rows = frame[F.SLICE_NEIGHBOURS].reshape(F.MAX_NEIGHBOURS, F.NEIGHBOUR_FEATURES)
    # Heading 0 = north: the car 5 m west is 5 m to the left; the one 10 m north is 10 m ahead.
    np.testing.assert_allclose(rows[0], [0.0, 5 / 50, 5 / 50, 5 / 15], atol=1e-6)
    np.testing.assert_allclose(rows[1], [10 / 50, 0.0, 10 / 50, 3 / 15], atol=1e-6)
    assert np.all(rows[2:] == 0)
    crowd = [vehicle(0.0, float(d)) for d in range(12, 0, -1)]  # 12 cars 1..12 m ahead
    rows = F.ego_frame(fake_obs(neighbours=crowd))[F.SLICE_NEIGHBOURS].reshape(8, 4)
    np.testing.assert_allclose(rows[:, 2] * 50, np.arange(1, 9), atol=1e-5)


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        (F.StepOutcome(1.2, False, False, False, False), {"progress": 0.12}),
        (F.StepOutcome(0.5, True, False, False, False), {"progress": 0.05, "collision": -10.0}),
        (F.StepOutcome(0.0, False, True, False, False), {"off_road": -10.0}),
        (F.StepOutcome(0.0, False, False, True, False), {"off_road": -10.0}),
        (F.StepOutcome(0.8, False, False, False, True), {"progress": 0.08, "goal": 10.0}),
    ],
)
def test_reward_terms_on_constructed_outcomes(outcome: F.StepOutcome, expected: dict[str, float]) -> None:
    terms = F.reward_terms(outcome, F.RewardWeights())
    full = {"progress": 0.0, "collision": 0.0, "off_road": 0.0, "goal": 0.0, **expected}
    assert terms == pytest.approx(full)
    assert F.reward(outcome, F.RewardWeights()) == pytest.approx(sum(full.values()))
    heavy = F.RewardWeights(
        progress_weight=1.0, collision_penalty=100.0, off_road_penalty=7.0, goal_bonus=3.0
    )
    assert F.reward_terms(F.StepOutcome(2.0, True, True, False, True), heavy) == pytest.approx(
        {"progress": 2.0, "collision": -100.0, "off_road": -7.0, "goal": 3.0}
    )


def test_step_outcome_reads_smarts_events() -> None:
    events = ns(collisions=(object(),), off_road=False, off_route=True, reached_goal=False)
    outcome = F.StepOutcome.from_observation(ns(events=events, distance_travelled=1.5))
    assert outcome == F.StepOutcome(1.5, True, False, True, False)


def test_bev_image_on_the_generated_map(cache: Path) -> None:
    built = S.build_scenario(root=cache, log=lambda line: None)
    raster = F.DrivableRaster.from_net_file(built.net_file)
    drivable = raster.lookup(np.array([[5.25, -30.0], [0.0, 0.0], [30.0, 30.0], [-20.0, -5.25]]))
    assert drivable.tolist() == [True, True, False, True]
    # Ego on S-in lane 0 facing north, one car 10 m ahead in the same lane.
    obs = fake_obs(position=(5.25, -30.0), neighbours=[vehicle(5.25, -20.0)])
    image = F.bev_frame(obs, raster)
    assert image.shape == (F.BEV_PIXELS, F.BEV_PIXELS)
    centre = F.BEV_PIXELS // 2
    assert image[centre, centre] == pytest.approx(F.BEV_EGO)
    ahead = centre - int(10 / F.BEV_RESOLUTION)
    assert image[ahead, centre] == 1.0, "the car ahead must appear above the centre"
    assert set(np.unique(image)) <= {0.0, np.float32(F.BEV_ROAD), np.float32(F.BEV_EGO), 1.0}
    assert image[centre, 0] == 0.0 and image[centre, -1] == 0.0, "beyond the road edges is off-road"


# --------------------------------------------------------------------------------------------
# real SMARTS + SUMO episodes


@pytest.mark.slow
def test_episode_stacks_frames_agents_leave_and_metrics_are_consistent(make_env) -> None:
    env = make_env(seed=0, traffic="high")
    obs, infos = env.reset()
    assert env.agents == env.possible_agents == [f"agent_{i}" for i in range(4)]
    size = F.STACK * F.FRAME_SIZE
    for agent, o in obs.items():
        assert o.shape == (size,) and o.dtype == np.float32 and env.observation_space(agent).contains(o)
        frames = o.reshape(F.STACK, F.FRAME_SIZE)
        assert np.array_equal(frames[0], frames[2]), "at reset the stack repeats the first frame"
        assert frames[0][F.INDEX_SPEED] > 0 and frames[0][0] > 0.4, "the goal lies ahead"
        assert 0.6 < np.linalg.norm(frames[0][F.SLICE_GOAL]) < 1.1, "the goal is 65-100 m away"
    previous = obs
    left: dict[str, dict] = {}
    returns = dict.fromkeys(env.agents, 0.0)
    steps = 0
    while env.agents:
        acting = list(env.agents)
        obs, rewards, term, trunc, infos = env.step(dict.fromkeys(acting, 0))
        steps += 1
        assert set(obs) == set(rewards) == set(term) == set(infos) == set(acting)
        for agent in acting:
            frames = obs[agent].reshape(F.STACK, F.FRAME_SIZE)
            old = previous[agent].reshape(F.STACK, F.FRAME_SIZE)
            assert np.array_equal(frames[:2], old[1:]), "frames shift by one each step"
            returns[agent] += rewards[agent]
            assert rewards[agent] == pytest.approx(sum(infos[agent]["reward_terms"].values()))
            if term[agent] or trunc[agent]:
                assert agent not in env.agents, "an agent leaves after its terminal step"
                left[agent] = {
                    "metrics": infos[agent]["episode_metrics"],
                    "terms": infos[agent]["reward_terms"],
                }
            else:
                assert agent in env.agents and "episode_metrics" not in infos[agent]
        previous = obs
    assert sorted(left) == env.possible_agents and steps <= env.max_steps
    for agent, end in left.items():
        metrics, terms = end["metrics"], end["terms"]
        assert set(metrics) == {"collided", "reached_goal", "off_road", "off_route", "distance_travelled"}
        assert terms["collision"] == -10.0 * metrics["collided"]
        assert terms["goal"] == 10.0 * metrics["reached_goal"]
        assert metrics["collided"] + metrics["reached_goal"] <= 1.0
        if metrics["reached_goal"]:
            assert 80.0 < metrics["distance_travelled"] < 130.0, "a finished route is about 100 m"
        # The return is the progress reward plus the terminal terms: progress = 0.1 * metres.
        expected = (
            0.1 * metrics["distance_travelled"] + terms["collision"] + terms["goal"] + terms["off_road"]
        )
        assert returns[agent] == pytest.approx(expected, abs=1e-6)
    env.close()
    assert sumo_children() == []


@pytest.mark.slow
def test_slow_down_then_time_limit_truncates_everyone(make_env) -> None:
    env = make_env(seed=1, traffic="low", max_steps=25)
    obs, _ = env.reset()
    start_speed = {a: o[-F.FRAME_SIZE + F.INDEX_SPEED] for a, o in obs.items()}
    for _ in range(24):
        obs, _, term, trunc, infos = env.step(dict.fromkeys(env.agents, 1))  # slow down
        assert not any(term.values()) and not any(trunc.values())
    for agent, o in obs.items():
        assert o[-F.FRAME_SIZE + F.INDEX_SPEED] < 0.7 * start_speed[agent], "slow_down must brake"
    obs, _, term, trunc, infos = env.step(dict.fromkeys(env.agents, 0))
    assert all(trunc.values()) and not any(term.values()) and env.agents == []
    assert all(infos[a]["episode_metrics"]["reached_goal"] == 0.0 for a in infos)
    assert env.step({}) == ({}, {}, {}, {}, {})


@pytest.mark.slow
def test_same_seed_same_episode_with_two_envs_side_by_side(make_env) -> None:
    """Two envs run interleaved (each with its own SUMO on its own port, as with --jobs 2)."""
    envs = [make_env(seed=s, traffic="high", max_steps=25) for s in (7, 7, 8)]
    for env in envs:
        env.reset()
    assert len(sumo_children()) == 3
    traces: list[list[np.ndarray]] = [[], [], []]
    while any(env.agents for env in envs):
        for env, trace in zip(envs, traces, strict=True):
            if env.agents:
                obs, *_ = env.step({a: i % 4 for i, a in enumerate(env.agents)})
                trace.append(np.concatenate([obs[a] for a in sorted(obs)]))
    same, other = np.concatenate(traces[0]), np.concatenate(traces[2])
    assert np.array_equal(same, np.concatenate(traces[1])), "same seed, same episode"
    assert same.shape != other.shape or not np.array_equal(same, other), "another seed, other traffic"


@pytest.mark.slow
def test_sumo_crash_truncates_the_episode_and_next_reset_recovers(make_env, fault_line) -> None:
    env = make_env(seed=2)
    env.reset()
    env.step(dict.fromkeys(env.agents, 0))
    [pid] = sumo_children()
    os.kill(pid, signal.SIGKILL)
    obs, _, term, trunc, infos = env.step(dict.fromkeys(env.agents, 0))
    assert all(trunc.values()) and all(infos[a].get("sumo_crashed") for a in infos)
    assert env.agents == [] and sumo_children() == [], "the dead SUMO is reaped"
    obs, _ = env.reset()
    assert len(obs) == 4 and len(sumo_children()) == 1
    env.step(dict.fromkeys(env.agents, 0))
    fault_line(
        "SIGKILL of SUMO", "episode truncated (sumo_crashed), the dead SUMO reaped, next reset recovers"
    )


@pytest.mark.slow
@pytest.mark.parametrize("interrupt", [RuntimeError("simulator broke"), KeyboardInterrupt()])
def test_exception_or_ctrl_c_in_step_stops_sumo(make_env, interrupt: BaseException) -> None:
    from marlbench.envs.smarts_intersection.env import SumoError

    env = make_env(seed=3)
    env.reset()
    assert len(sumo_children()) == 1

    def broken(actions):
        raise interrupt

    env._procs.sim.step = broken
    expected = SumoError if isinstance(interrupt, Exception) else KeyboardInterrupt
    with pytest.raises(expected):
        env.step(dict.fromkeys(env.agents, 0))
    assert sumo_children() == []


@pytest.mark.slow
def test_bev_and_continuous_actions(make_env) -> None:
    env = make_env(seed=4, bev=True, action="continuous", max_steps=3)
    space = env.action_space("agent_0")
    assert space.shape == (3,) and space.low.tolist() == [0.0, 0.0, -1.0]
    obs, _ = env.reset()
    vector = F.STACK * F.FRAME_SIZE
    assert obs["agent_0"].shape == (vector + F.STACK * F.BEV_PIXELS**2,)
    images = obs["agent_0"][vector:].reshape(F.STACK, F.BEV_PIXELS, F.BEV_PIXELS)
    centre = F.BEV_PIXELS // 2
    assert images[-1, centre, centre] == pytest.approx(F.BEV_EGO)
    assert (images[-1] == np.float32(F.BEV_ROAD)).mean() > 0.05
    while env.agents:
        obs, *_ = env.step({a: np.array([0.5, 0.0, 0.0], np.float32) for a in env.agents})


@pytest.mark.slow
def test_pettingzoo_parallel_api(make_env) -> None:
    from pettingzoo.test import parallel_api_test

    env = make_env(seed=5, max_steps=15)
    parallel_api_test(env, num_cycles=40)


@pytest.mark.slow
def test_learner_faces_array_env_and_supersuit_black_death(make_env) -> None:
    import supersuit as ss

    from marlbench.envs.array import ParallelArrayEnv

    array = ParallelArrayEnv(lambda seed: make_env(seed=seed, max_steps=12), num_envs=1, seed=6)
    first = array.reset()
    assert first.shape == (1, 4, F.STACK * F.FRAME_SIZE)
    for _ in range(12):
        step = array.step(np.zeros((1, 4), dtype=np.int64))
    assert step.done.tolist() == [True] and step.truncated.all()
    [episode] = step.episodes
    assert episode.lengths == dict.fromkeys(array.agents, 12)
    assert set(episode.metrics) == set(array.agents)
    array.close()

    vec = ss.pettingzoo_env_to_vec_env_v1(ss.black_death_v3(make_env(seed=7, max_steps=5)))
    obs, _ = vec.reset(seed=7)
    assert obs.shape == (4, F.STACK * F.FRAME_SIZE)
    ended = []
    for t in range(1, 7):
        obs, rewards, term, trunc, _ = vec.step(np.zeros(4, dtype=np.int64))
        if (term | trunc).all():
            ended.append(t)
    # SuperSuit 3.11's black_death reports the end on the (empty) step after the last agent left.
    assert ended and ended[0] in (5, 6) and obs.shape == (4, F.STACK * F.FRAME_SIZE)
    vec.close()


@pytest.mark.slow
def test_a_copied_env_runs_on_its_own_sumo_and_cleans_up(make_env) -> None:
    import cloudpickle

    original = make_env(seed=8, max_steps=3)
    original.reset()
    copy = cloudpickle.loads(cloudpickle.dumps(original))  # what SuperSuit's concat_vec_envs_v1 does
    original.close()
    del original
    assert copy.agents == [] and copy._procs.sim is None
    copy.reset(seed=8)
    log_dir = Path(copy._procs.log_dir)
    while copy.agents:
        copy.step(dict.fromkeys(copy.agents, 0))
    assert log_dir.is_dir() and len(sumo_children()) == 1
    copy.close()
    assert not log_dir.exists() and sumo_children() == []


def test_missing_sumo_binary_or_bad_option_is_a_config_error(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from smarts.core.utils import sumo_utils

    from marlbench.envs.smarts_intersection.env import SmartsIntersectionEnv

    with pytest.raises(ConfigError, match="traffic"):
        SmartsIntersectionEnv(traffic="medium", cache_dir=cache)
    monkeypatch.setattr(sumo_utils, "SUMO_PATH", str(tmp_path))
    with pytest.raises(ConfigError) as err:
        SmartsIntersectionEnv(cache_dir=cache)
    assert "SUMO" in err.value.message and "pip install" in (err.value.fix or "")


# --------------------------------------------------------------------------------------------
# completion in any lane of the destination arm (issue: a lane change made the goal unreachable)


def test_the_goal_region_is_the_destination_road_past_the_goal_offset() -> None:
    from marlbench.envs.smarts_intersection.goals import GOAL_RADIUS, past_goal

    assert past_goal("E-out", 40.0 - GOAL_RADIUS, "E-out", 40.0)  # the edge of SMARTS' 2 m circle
    assert past_goal("E-out", 55.0, "E-out", 40.0)  # further along, any lane
    assert not past_goal("E-out", 30.0, "E-out", 40.0)  # not there yet
    assert not past_goal("N-out", 55.0, "E-out", 40.0)  # another arm


def _drive_with_a_lane_change(env) -> tuple[dict[str, float], list[str]]:
    """agent_3 (W->E, left lane) changes to the right lane early, then keeps it; the others stop."""
    env.reset()
    t, metrics, later = 0, None, []
    while env.agents:
        actions = dict.fromkeys(env.agents, 1)
        if "agent_3" in env.agents:
            actions["agent_3"] = 3 if t < 40 else 0
        _, _, _, _, infos = env.step(actions)
        t += 1
        if metrics is not None:
            later.append(",".join(sorted(infos)))
        if "episode_metrics" in infos.get("agent_3", {}):
            metrics = infos["agent_3"]["episode_metrics"]
    return metrics, later


@pytest.mark.slow
def test_an_ego_that_changed_lanes_completes_its_route(make_env) -> None:
    """Measured with seed 0: SMARTS' lane-specific goal scores this drive off_road at the arm's end."""
    reached, later = _drive_with_a_lane_change(make_env(seed=0, traffic="low", max_steps=130))
    assert reached["reached_goal"] == 1.0 and reached["off_road"] == 0.0
    assert 90.0 < reached["distance_travelled"] < 115.0
    assert later and all("agent_3" not in step for step in later)  # it left the sim; the others went on
    strict, _ = _drive_with_a_lane_change(make_env(seed=0, traffic="low", max_steps=130, goal="lane"))
    assert strict["reached_goal"] == 0.0 and strict["off_road"] == 1.0


def test_both_action_speeds_are_options(make_env) -> None:
    env = make_env(seed=0, cruise_speed=8.0, slow_speed=3.0)
    assert env._convert(0) == (8.0, 0) and env._convert(1) == (3.0, 0)  # keep lane / slow down
    assert env._convert(2) == (8.0, 1) and env._convert(3) == (8.0, -1)  # lane changes at cruise speed
    with pytest.raises(ConfigError, match="slow_speed"):
        make_env(seed=0, cruise_speed=8.0, slow_speed=9.0)
