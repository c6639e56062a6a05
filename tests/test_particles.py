"""The particle environments of paper 001, section 5.1: API, observations, reward rules, batching."""

from __future__ import annotations

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test, parallel_seed_test

from marlbench.envs import get_spec
from marlbench.envs.particles import make_particle_array, make_particle_env
from marlbench.envs.particles.core import DT, SENSITIVITY
from marlbench.errors import ConfigError

TASKS = ("cn-v1", "cn-v2", "push-forward", "predator-prey")
SHAPES = {"cn-v1": (3, 3, 25), "cn-v2": (3, 2, 25), "push-forward": (3, 3, 50), "predator-prey": (3, 2, 50)}
ZERO = {f"agent_{i}": np.zeros(2, dtype=np.float32) for i in range(3)}


def positions(state: np.ndarray, n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Agent and landmark positions from a state vector (layout documented in ParticleCore.state)."""
    return state[: 2 * n].reshape(n, 2), state[4 * n : 4 * n + 2 * k].reshape(k, 2)


def distances(agents: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Each agent's distances to the other agents (index order) then to each landmark."""
    rows = []
    for i, p in enumerate(agents):
        others = [np.linalg.norm(p - q) for j, q in enumerate(agents) if j != i]
        rows.append(others + [np.linalg.norm(p - lm) for lm in landmarks])
    return np.array(rows)


def hand_step(task: str, agents, landmarks, vel=None, actions=ZERO, **options):
    """Reset, place entities by hand, take one step; returns (env, reward of agent_0, infos)."""
    env = make_particle_env(task, seed=0, **options)
    env.reset()
    env.core.place(
        pos=np.asarray(agents, float),
        vel=np.zeros((3, 2)) if vel is None else np.asarray(vel, float),
        landmarks=np.asarray(landmarks, float),
    )
    _, rewards, _, _, infos = env.step(actions)
    assert len(set(rewards.values())) == 1, "the team reward is shared"
    return env, rewards["agent_0"], infos


def closest_sum(agents, landmarks) -> float:
    agents, landmarks = np.asarray(agents, float), np.asarray(landmarks, float)
    return float(sum(np.linalg.norm(agents - lm, axis=1).min() for lm in landmarks))


# ------------------------------------------------------------------ API and registry


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("continuous", [True, False])
def test_parallel_api(task: str, continuous: bool) -> None:
    env = make_particle_env(task, seed=0, continuous=continuous)
    parallel_api_test(env, num_cycles=60)
    parallel_seed_test(lambda: make_particle_env(task, continuous=continuous), num_cycles=60)


@pytest.mark.parametrize("task", TASKS)
def test_registry_spec(task: str) -> None:
    n, k, length = SHAPES[task]
    spec = get_spec(task)
    options = spec.resolve_options()
    assert spec.agents_for(options) == n and spec.length_for(options) == length
    assert spec.action_kind_for(options) == "continuous"
    assert spec.action_kind_for(spec.resolve_options({"continuous": "false"})) == "discrete"
    assert "collisions" in spec.metrics and spec.make_array is not None
    env = spec.make(seed=1, **options)
    obs, _ = env.reset()
    assert obs["agent_0"].shape == (n - 1 + k,) and obs["agent_0"].dtype == np.float32
    assert all(env.observation_space(a).contains(obs[a]) for a in env.agents)
    assert env.state_space.contains(env.state())
    batch = spec.make_array(num_envs=2, seed=1, **options)
    assert batch.reset().shape == (2, n, n - 1 + k)


def test_bad_options_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        make_particle_env("cn-v1", bogus=1)
    with pytest.raises(ConfigError):
        make_particle_env("push-forward", max_cycles=0)
    with pytest.raises(ConfigError):
        get_spec("cn-v2").resolve_options({"penalty_rule": "lenient"})
    env = make_particle_env("cn-v1", seed=0, continuous=False)
    env.reset()
    with pytest.raises(ValueError):
        env.step(dict.fromkeys(env.agents, 7))


# ------------------------------------------------------------------ observations and state


@pytest.mark.parametrize("task", TASKS)
def test_observation_is_exactly_the_distances(task: str) -> None:
    n, k, _ = SHAPES[task]
    env = make_particle_env(task, seed=3)
    obs, _ = env.reset()
    rng = np.random.default_rng(0)
    for _ in range(10):
        agents, landmarks = positions(env.state(), n, k)
        want = distances(agents, landmarks)
        got = np.stack([obs[a] for a in env.possible_agents])
        np.testing.assert_allclose(got, want, atol=1e-5)
        obs, *_ = env.step({a: rng.uniform(-1, 1, 2) for a in env.agents})


def test_observation_has_no_positions_or_velocities() -> None:
    """Translating the world or changing velocities leaves observations unchanged; moving one
    landmark changes only its column, by exactly the change of distance."""
    env = make_particle_env("cn-v1", seed=5)
    env.reset()
    core = env.core
    before = core.observe()[0]
    core.place(pos=core.pos[0] + [3.0, -2.0], landmarks=core.landmarks[0] + [3.0, -2.0], vel=[[1.0, 2.0]] * 3)
    np.testing.assert_allclose(core.observe()[0], before, atol=1e-5)
    moved = core.landmarks[0].copy()
    moved[1] += [0.4, 0.3]
    core.place(landmarks=moved)
    after = core.observe()[0]
    np.testing.assert_array_equal(np.delete(after, 3, axis=1), np.delete(before, 3, axis=1))
    np.testing.assert_allclose(after[:, 3], np.linalg.norm(core.pos[0] - moved[1], axis=1), atol=1e-6)


def test_state_layout() -> None:
    env = make_particle_env("predator-prey", seed=2)
    env.reset()
    env.step({a: np.array([1.0, -0.5]) for a in env.agents})
    core, s = env.core, env.state()
    np.testing.assert_allclose(s[:6], core.pos[0].ravel(), rtol=1e-6)
    np.testing.assert_allclose(s[6:12], core.vel[0].ravel(), rtol=1e-6)
    np.testing.assert_allclose(s[12:16], core.landmarks[0].ravel(), rtol=1e-6)
    np.testing.assert_allclose(s[16:20], core.landmark_vel[0].ravel(), rtol=1e-6)
    assert np.linalg.norm(s[16:18]) * DT == pytest.approx(0.1, rel=1e-5), "a free prey moves prey_step"
    np.testing.assert_array_equal(s[20:], [1.0, 1.0])


# ------------------------------------------------------------------ dynamics


def test_discrete_right_moves_agent_right() -> None:
    env = make_particle_env("cn-v1", seed=0, continuous=False)
    env.reset()
    start = env.core.pos[0].copy()
    env.step({"agent_0": 2, "agent_1": 0, "agent_2": 4})
    step = env.core.pos[0] - start
    a = SENSITIVITY * DT * DT  # from rest: v = F dt, dp = v dt
    np.testing.assert_allclose(step, [[a, 0.0], [0.0, 0.0], [0.0, a]], atol=1e-12)


def test_speed_is_capped() -> None:
    env = make_particle_array("cn-v1", num_envs=2, seed=0, max_speed=1.5)
    env.reset()
    for _ in range(20):
        env.step(np.ones((2, 3, 2)))
    assert np.linalg.norm(env.core.vel, axis=-1).max() == pytest.approx(1.5)


# ------------------------------------------------------------------ reward rules


def test_cn_v1_distance_term() -> None:
    landmarks = [[-1.0, 0.0], [0.0, 1.0], [1.0, 0.0]]
    _, reward, _ = hand_step("cn-v1", landmarks, landmarks)
    assert reward == pytest.approx(0.0)
    agents = [[-1.0, 0.3], [0.4, 1.0], [0.9, -0.8]]
    _, reward, _ = hand_step("cn-v1", agents, landmarks)
    assert reward == pytest.approx(-closest_sum(agents, landmarks))
    assert reward == pytest.approx(-(0.3 + 0.4 + np.hypot(0.1, 0.8)))


@pytest.mark.parametrize("task", TASKS)
def test_collision_costs_one_per_collided_agent(task: str) -> None:
    k = SHAPES[task][1]
    landmarks = [[0.9, 0.9], [0.9, -0.9], [-0.9, 0.9]][:k]
    cases = [
        # a chain: 0-1 and 1-2 overlap (0.25 < 0.3), 0-2 do not (0.5): three collided agents, two pairs
        ([[0.0, 0.0], [0.25, 0.0], [0.5, 0.0]], 3.0),
        ([[0.0, 0.0], [0.25, 0.0], [-0.8, 0.0]], 2.0),
        ([[0.0, 0.0], [0.31, 0.0], [-0.8, 0.0]], 0.0),
    ]
    for agents, penalty in cases:
        env, reward, _ = hand_step(task, agents, landmarks)
        landmarks_now = env.core.landmarks[0]  # prey flee; other landmarks stay (no push here)
        assert reward == pytest.approx(-closest_sum(agents, landmarks_now) - penalty, abs=1e-9)


def test_cn_v2_penalty_in_the_stated_case() -> None:
    """Landmark A is nearer to its closest agent; two agents closer to B is penalised -10."""
    a, b = [0.0, 0.0], [2.0, 0.0]
    agents = [[0.05, 0.0], [1.7, 0.5], [1.7, -0.5]]  # one on A, two closer to B: the paper's case
    for landmarks in ([a, b], [b, a]):  # "the case when landmark 2 [...] is treated in the same manner"
        _, reward, _ = hand_step("cn-v2", agents, landmarks)
        assert reward == pytest.approx(-closest_sum(agents, landmarks) - 10.0)
    # 2 + 1 with the pair's closest agent nearer to its landmark than the single agent: no penalty
    good = [[0.0, 0.0], [0.0, -0.35], [1.95, 0.0]]
    for landmarks in ([a, b], [b, a]):
        _, reward, _ = hand_step("cn-v2", good, landmarks)
        assert reward == pytest.approx(-closest_sum(good, landmarks))
    all_near = [[0.0, 0.2], [0.0, -0.2], [0.6, 0.0]]  # 3 + 0: not the stated case
    _, reward, _ = hand_step("cn-v2", all_near, [a, b])
    assert reward == pytest.approx(-closest_sum(all_near, [a, b]))
    _, reward, _ = hand_step("cn-v2", all_near, [a, b], penalty_rule="strict")
    assert reward == pytest.approx(-closest_sum(all_near, [a, b]) - 10.0)


def test_cn_success_metrics_over_a_full_episode() -> None:
    env = make_particle_env("cn-v2", seed=0)
    env.reset()
    env.core.place(pos=[[0.0, 0.2], [0.0, -0.2], [1.95, 0.0]], landmarks=[[0.0, 0.16], [2.0, 0.0]])
    for _ in range(25):
        _, rewards, _, truncated, infos = env.step(ZERO)
    assert all(truncated.values()) and env.agents == []
    m = infos["agent_1"]["episode_metrics"]
    assert m == {
        "collisions": 0.0,
        "occupied_landmarks": 2.0,
        "final_distance": pytest.approx(0.04 + 0.05),
        "penalty_steps": 0.0,
        "success": 1.0,
    }


PF_LANDMARKS = [[0.0, 0.0], [0.0, 1.0], [0.0, -1.0]]
PF_BEHIND = [[-0.2, 0.0], [-0.2, 1.0], [-0.2, -1.0]]
RIGHT = [[0.5, 0.0]] * 3


def test_push_forward_bonus_when_all_push_right_together() -> None:
    env, reward, _ = hand_step("push-forward", PF_BEHIND, PF_LANDMARKS, vel=RIGHT)
    moved = np.asarray(PF_LANDMARKS) + [0.05, 0.0]
    np.testing.assert_allclose(env.core.landmarks[0], moved)
    agents = env.core.pos[0]
    assert agents[0, 0] > -0.2
    assert reward == pytest.approx(10.0 - closest_sum(agents, moved))


@pytest.mark.parametrize(
    ("agents", "vel"),
    [
        ([[-0.2, 0.0], [-0.2, 1.0], [-1.0, -1.0]], RIGHT),  # third agent outside every zone
        (PF_BEHIND, [[0.5, 0.0], [0.5, 0.0], [-0.5, 0.0]]),  # third agent moves left
        (PF_BEHIND, [[0.5, 0.0], [0.5, 0.0], [0.0, 0.0]]),  # third agent stays put
        ([[-0.2, 0.05], [-0.2, -0.05], [-0.2, -1.0]], RIGHT),  # two agents in one zone, one zone empty
    ],
)
def test_push_forward_no_bonus_unless_all_push(agents, vel) -> None:
    env, reward, _ = hand_step("push-forward", agents, PF_LANDMARKS, vel=vel)
    np.testing.assert_array_equal(env.core.landmarks[0], PF_LANDMARKS)
    collided = env.core.collided()[0].sum()
    assert reward == pytest.approx(-closest_sum(env.core.pos[0], PF_LANDMARKS) - collided)


def test_push_forward_finds_the_one_to_one_assignment() -> None:
    """Agent 0 is in the zones of landmarks 0 and 1 (nearer to 0's); agent 1 only in 0's zone."""
    landmarks = [[0.0, 0.0], [0.0, 0.25], [0.0, -1.5]]
    agents = [[-0.2, 0.12], [-0.2, -0.1], [-0.2, -1.5]]
    env, reward, _ = hand_step("push-forward", agents, landmarks, vel=RIGHT)
    np.testing.assert_allclose(env.core.landmarks[0], np.asarray(landmarks) + [0.05, 0.0])
    assert reward > 0


def ring(center, radius: float, n: int = 3) -> np.ndarray:
    angles = 2 * np.pi * np.arange(n) / n + 0.3
    return np.asarray(center) + radius * np.stack([np.cos(angles), np.sin(angles)], axis=-1)


def test_predator_prey_capture_needs_all_three() -> None:
    prey = [[0.0, 0.0], [0.8, 0.8]]
    env, reward, _ = hand_step("predator-prey", ring([0.0, 0.0], 0.2), prey)
    core = env.core
    assert core.free[0].tolist() == [False, True]
    caught_at = core.landmarks[0, 0].copy()
    # +10 and the caught prey leaves the distance term; the free prey still counts
    assert reward == pytest.approx(10.0 - np.linalg.norm(core.pos[0] - core.landmarks[0, 1], axis=1).min())
    _, rewards, *_ = env.step(ZERO)  # still surrounded: no second bonus, the caught prey stays put
    assert rewards["agent_0"] < 0
    np.testing.assert_array_equal(core.landmarks[0, 0], caught_at)
    assert core.event_count[0] == 1

    two = ring([0.0, 0.0], 0.2)
    two[2] = [-0.9, 0.9]  # the third predator is far away
    env, reward, _ = hand_step("predator-prey", two, prey)
    assert env.core.free[0].tolist() == [True, True]
    assert reward == pytest.approx(-closest_sum(env.core.pos[0], env.core.landmarks[0]))


def test_prey_flees_by_a_fixed_step_and_stays_in_the_arena() -> None:
    agents = [[-0.5, 0.0], [-0.5, 0.1], [-0.5, -0.1]]
    env, _, _ = hand_step("predator-prey", agents, [[0.0, 0.0], [1.0, 0.0]])
    prey = env.core.landmarks[0]
    np.testing.assert_allclose(prey[0], [0.1, 0.0], atol=1e-12)  # straight away from the predators
    assert prey[1, 0] == 1.0 and abs(prey[1, 1]) == pytest.approx(0.1)  # slides along the wall
    batch = make_particle_array("predator-prey", num_envs=8, seed=0)
    batch.reset()
    rng = np.random.default_rng(1)
    for _ in range(60):
        batch.step(rng.uniform(-1, 1, (8, 3, 2)))
        assert np.abs(batch.core.landmarks).max() <= 1.0


# ------------------------------------------------------------------ the two faces


def actions_for(task: str, continuous: bool, steps: int, rng: np.random.Generator) -> np.ndarray:
    if continuous:
        return rng.uniform(-1.2, 1.2, (steps, 3, 2))
    return rng.integers(0, 5, (steps, 3))


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("continuous", [True, False])
def test_array_and_parallel_faces_agree(task: str, continuous: bool) -> None:
    """Same seed and actions: identical trajectories over more than two episodes."""
    length = SHAPES[task][2]
    steps = 2 * length + 5
    acts = actions_for(task, continuous, steps, np.random.default_rng(7))
    par = make_particle_env(task, seed=11, continuous=continuous)
    arr = make_particle_array(task, num_envs=1, seed=11, continuous=continuous)
    obs, _ = par.reset()
    arr_obs = arr.reset()
    np.testing.assert_array_equal(arr_obs[0], np.stack([obs[a] for a in par.possible_agents]))
    for t in range(steps):
        obs, rewards, _, truncated, infos = par.step({a: acts[t, i] for i, a in enumerate(par.agents)})
        out = arr.step(acts[t][None])
        par_obs = np.stack([obs[a] for a in par.possible_agents])
        assert out.done[0] == all(truncated.values())
        if out.done[0]:
            np.testing.assert_array_equal(out.final_obs[0], par_obs)
            np.testing.assert_array_equal(out.final_state[0], par.state())
            record = out.episodes[0]
            assert record.metrics == {a: infos[a]["episode_metrics"] for a in par.possible_agents}
            obs, _ = par.reset()
            par_obs = np.stack([obs[a] for a in par.possible_agents])
        np.testing.assert_array_equal(out.obs[0], par_obs)
        np.testing.assert_array_equal(out.state[0], par.state())
        np.testing.assert_array_equal(out.rewards[0], np.float32(rewards["agent_0"]))


@pytest.mark.parametrize("task", TASKS)
def test_batched_copies_step_independently(task: str) -> None:
    """Each copy of an E=4 batch evolves exactly as a lone copy placed in the same state."""
    batch = make_particle_array(task, num_envs=4, seed=0)
    batch.reset()
    rng = np.random.default_rng(2)
    acts = rng.uniform(-1, 1, (12, 4, 3, 2))
    singles = []
    for i in range(4):
        one = make_particle_array(task, num_envs=1, seed=99)
        one.reset()
        one.core.place(pos=batch.core.pos[i], landmarks=batch.core.landmarks[i])
        singles.append(one)
    for t in range(12):
        out = batch.step(acts[t])
        for i, one in enumerate(singles):
            single = one.step(acts[t, i][None])
            np.testing.assert_array_equal(out.obs[i], single.obs[0])
            np.testing.assert_array_equal(out.rewards[i], single.rewards[0])
            np.testing.assert_array_equal(out.state[i], single.state[0])


@pytest.mark.parametrize("task", TASKS)
def test_auto_reset_and_episode_length(task: str) -> None:
    n, k, length = SHAPES[task]
    batch = make_particle_array(task, num_envs=3, seed=4)
    obs = batch.reset()
    rng = np.random.default_rng(0)
    returns = np.zeros((3, n))
    for t in range(1, 2 * length + 1):
        before = batch.state()
        out = batch.step(rng.uniform(-1, 1, (3, n, 2)))
        returns += out.rewards
        assert out.alive.all() and not out.terminated.any()
        if t % length:
            assert not out.done.any() and not out.truncated.any() and out.episodes == []
            continue
        assert out.done.all() and out.truncated.all() and len(out.episodes) == 3
        for i, record in enumerate(out.episodes):
            assert record.env_index == i
            assert set(record.lengths.values()) == {length}
            np.testing.assert_allclose(list(record.rewards.values()), returns[i], rtol=1e-5, atol=1e-3)
            assert set(record.metrics["agent_0"]) == set(get_spec(task).metrics)
            agents, landmarks = positions(out.final_state[i], n, k)
            np.testing.assert_allclose(out.final_obs[i], distances(agents, landmarks), atol=1e-5)
        returns[:] = 0
        np.testing.assert_array_equal(out.state, batch.state())  # state is post-reset, aligned with obs
        assert not np.allclose(out.state, before) and (batch.core.t == 0).all()
        assert (out.state[:, 2 * n : 4 * n] == 0).all(), "new episodes start at rest"
    assert obs.shape == out.obs.shape


def test_parallel_episode_ends_at_max_cycles() -> None:
    for task in TASKS:
        length = SHAPES[task][2]
        env = make_particle_env(task, seed=0)
        env.reset()
        for t in range(1, length + 1):
            _, _, terminated, truncated, infos = env.step(ZERO)
            assert not any(terminated.values())
            assert all(truncated.values()) == (t == length)
            assert ("episode_metrics" in infos["agent_0"]) == (t == length)
        assert env.agents == []
        with pytest.raises(RuntimeError):
            env.step(ZERO)


def test_seeding_is_deterministic() -> None:
    a = make_particle_array("predator-prey", num_envs=5, seed=21)
    b = make_particle_array("predator-prey", num_envs=5, seed=21)
    c = make_particle_array("predator-prey", num_envs=5, seed=22)
    first = a.reset()
    np.testing.assert_array_equal(first, b.reset())
    assert not np.allclose(first, c.reset())
    rng = np.random.default_rng(3)
    for _ in range(60):
        act = rng.uniform(-1, 1, (5, 3, 2))
        out_a, out_b = a.step(act), b.step(act)
        np.testing.assert_array_equal(out_a.obs, out_b.obs)
        np.testing.assert_array_equal(out_a.rewards, out_b.rewards)
    np.testing.assert_array_equal(a.reset(), first)  # reset() restarts the constructor's seed
    p, q = make_particle_env("cn-v2", seed=8), make_particle_env("cn-v2", seed=8)
    np.testing.assert_array_equal(p.reset()[0]["agent_2"], q.reset()[0]["agent_2"])
    np.testing.assert_array_equal(p.reset(seed=1)[0]["agent_2"], q.reset(seed=1)[0]["agent_2"])


# ------------------------------------------------------------------ the tasks can be solved


def seek(pos: np.ndarray, vel: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Continuous action steering agents towards ``target`` (a proportional velocity controller)."""
    want = (target - pos) * 3.0
    speed = np.linalg.norm(want, axis=-1, keepdims=True)
    want *= np.minimum(1.0, 2.0 / np.maximum(speed, 1e-9))
    return np.clip((want - 0.75 * vel) / (SENSITIVITY * DT), -1.0, 1.0)


def scripted_episodes(task: str, policy, num_envs: int = 64) -> list:
    """Run one episode in every copy with ``policy(agents, velocities, landmarks) -> actions``."""
    n, k, length = SHAPES[task]
    batch = make_particle_array(task, num_envs=num_envs, seed=123)
    batch.reset()
    for _ in range(length):
        s = batch.state()
        agents = s[:, : 2 * n].reshape(-1, n, 2)
        vel = s[:, 2 * n : 4 * n].reshape(-1, n, 2)
        landmarks = s[:, 4 * n : 4 * n + 2 * k].reshape(-1, k, 2)
        out = batch.step(policy(agents, vel, landmarks, s))
    return [record.metrics["agent_0"] for record in out.episodes]


def test_scripted_policies_solve_the_tasks() -> None:
    """With the chosen sizes and speeds, a simple centralized controller does what random cannot."""
    import itertools

    perms = np.array(list(itertools.permutations(range(3))))

    def cover(agents, vel, landmarks, _):
        cost = np.linalg.norm(agents[:, :, None] - landmarks[:, None], axis=-1)[:, np.arange(3), perms]
        best = perms[cost.sum(-1).argmin(-1)]  # [E, 3]: the landmark of each agent
        return seek(agents, vel, np.take_along_axis(landmarks, best[..., None], axis=1))

    cn = scripted_episodes("cn-v1", cover)
    assert np.mean([m["success"] for m in cn]) > 0.8

    def push(agents, vel, landmarks, _):
        zones = landmarks - [0.2, 0.0]
        ready = (np.linalg.norm(agents - zones, axis=-1) < 0.1).all(axis=-1)[:, None, None]
        return np.where(ready, [0.3, 0.0], seek(agents, vel, zones))

    pf = scripted_episodes("push-forward", push)
    assert np.mean([m["pushes"] for m in pf]) > 20

    def chase(agents, vel, prey, s):
        free = s[:, -2:]
        target = np.where(free[:, :1] > 0, prey[:, 0], prey[:, 1])  # the first free prey
        angles = 2 * np.pi * np.arange(3) / 3
        ring_ = 0.22 * np.stack([np.cos(angles), np.sin(angles)], axis=-1)
        return seek(agents, vel, target[:, None] + ring_)

    pp = scripted_episodes("predator-prey", chase)
    assert np.mean([m["captures"] > 0 for m in pp]) > 0.5
    assert np.mean([m["captures"] for m in pp]) > 0.8

    rng = np.random.default_rng(0)

    def random(agents, *_):
        return rng.uniform(-1, 1, agents.shape)

    for task, metric in (("cn-v1", "success"), ("push-forward", "pushes"), ("predator-prey", "captures")):
        assert np.mean([m[metric] for m in scripted_episodes(task, random)]) < 0.1
