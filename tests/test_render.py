"""``marlbench render``: a trained policy played deterministically, every step drawn, the GIF decoded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import TINY
from PIL import Image
from typer.testing import CliRunner

from marlbench import api
from marlbench.cli import app
from marlbench.reports.render_gif import CAPTION, animate
from marlbench.training.playback import Snapshot

runner = CliRunner()


def decode(path: Path) -> list[np.ndarray]:
    """Every frame of a GIF as an RGB array."""
    frames = []
    with Image.open(path) as gif:
        for i in range(gif.n_frames):
            gif.seek(i)
            frames.append(np.asarray(gif.convert("RGB")))
    return frames


def view(frame: np.ndarray) -> np.ndarray:
    """A frame without its caption (which always changes: it names the step)."""
    return frame[:-CAPTION]


def render(ledger, run_id: str, out: Path, *extra: str):
    return runner.invoke(app, ["render", run_id, "--out", str(out), "--ledger", str(ledger.root), *extra])


def test_particles_gif_has_a_frame_per_step_that_moves(ledger, fake_algo, tmp_path: Path) -> None:
    # predator-prey's prey flee on their own, so even the fake's idle policy gives motion
    row = api.train("fake", "predator-prey", steps=60, ledger=ledger, eval_episodes=0)
    args = ("--episodes", "2", "--max-steps", "12")
    result = render(ledger, row["run_id"], tmp_path / "run.gif", *args)
    assert result.exit_code == 0, result.output
    frames = decode(tmp_path / "run.gif")
    assert len(frames) == 2 * (12 + 1)  # reset + 12 steps, per episode
    assert not np.array_equal(view(frames[0]), view(frames[12]))
    assert not np.array_equal(view(frames[0]), view(frames[1]))
    again = render(ledger, row["run_id"], tmp_path / "again.gif", *args)
    assert again.exit_code == 0
    assert all(np.array_equal(a, b) for a, b in zip(frames, decode(tmp_path / "again.gif"), strict=True))


def test_pursuit_is_drawn_from_its_grid(ledger, fake_algo, tmp_path: Path) -> None:
    row = api.train("fake", "pursuit", steps=20, ledger=ledger, eval_episodes=0)
    result = render(ledger, row["run_id"], tmp_path / "p.gif", "--max-steps", "4")
    assert result.exit_code == 0, result.output
    frames = decode(tmp_path / "p.gif")
    assert len(frames) == 5
    red = [int(np.sum(np.all(view(f) == (214, 39, 40), axis=-1))) for f in frames]
    assert min(red) > 0  # pursuers are drawn
    assert any(not np.array_equal(view(frames[0]), view(f)) for f in frames[1:])  # evaders move


def test_refusals_are_one_clear_message(ledger, fake_algo, tmp_path: Path) -> None:
    row = api.train("fake", "user_env:make", steps=20, ledger=ledger, eval_episodes=0)
    unknown = render(ledger, row["run_id"], tmp_path / "u.gif")
    assert unknown.exit_code == 2 and "cannot draw environment 'user_env:make'" in unknown.output
    assert not (tmp_path / "u.gif").exists()
    suffix = render(ledger, row["run_id"], tmp_path / "u.avi")
    assert suffix.exit_code == 2 and "unknown animation format" in suffix.output
    zero = render(ledger, row["run_id"], tmp_path / "u.gif", "--episodes", "0")
    assert zero.exit_code == 2 and "--episodes 0" in zero.output


def test_particle_frames_follow_the_positions() -> None:
    shots = [
        Snapshot(
            "particles",
            0,
            t,
            {
                "agents": np.array([[t * 0.5, 0.0]]),
                "landmarks": np.array([[0.0, 1.0]]),
                "agent_radius": np.array(0.1),
            },
            {"a": -t},
        )
        for t in range(3)
    ]
    frames = [np.asarray(f) for f in animate("r", shots).frames]
    blue = [np.argwhere(np.all(view(f) == (31, 119, 180), axis=-1)) for f in frames]
    xs = [float(b[:, 1].mean()) for b in blue]
    assert xs[0] < xs[1] < xs[2]  # the agent moves right frame by frame
    assert float(blue[0][:, 0].mean()) == pytest.approx(float(blue[2][:, 0].mean()), abs=1.0)


@pytest.mark.slow
def test_a_trained_maddpg_policy_renders_deterministically(ledger, tmp_path: Path) -> None:
    row = api.train("maddpg", "cn-v1", steps=300, ledger=ledger, hyperparams=TINY["maddpg"], eval_episodes=0)
    first = api.render_run(ledger, row["run_id"], episodes=1)
    second = api.render_run(ledger, row["run_id"], episodes=1)
    assert len(first.frames) == 26
    assert all(
        np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(first.frames, second.frames, strict=True)
    )
    assert not np.array_equal(view(np.asarray(first.frames[0])), view(np.asarray(first.frames[-1])))


def test_particle_state_is_a_copy_of_the_simulator_positions() -> None:
    from marlbench.config import RunSpec, resolve
    from marlbench.training.playback import particle_state

    env = resolve(RunSpec("maddpg", "predator-prey", steps=10)).env.make(0)
    env.reset(seed=1)
    before = particle_state(env)
    np.testing.assert_array_equal(before["agents"], env.core.pos[0])
    np.testing.assert_array_equal(before["landmarks"], env.core.landmarks[0])
    env.step({a: np.ones(env.action_space(a).shape, np.float32) for a in env.agents})
    after = particle_state(env)
    assert not np.array_equal(before["agents"], after["agents"])  # a snapshot is not a view of the env
    np.testing.assert_array_equal(after["agents"], env.core.pos[0])


def test_mp4_without_ffmpeg_says_to_write_a_gif(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from matplotlib import animation

    from marlbench.errors import ConfigError

    monkeypatch.setattr(animation.writers, "is_available", lambda name: False)
    shots = [Snapshot("frame", 0, t, {"rgb": np.full((4, 4, 3), 40 * t, np.uint8)}) for t in range(2)]
    with pytest.raises(ConfigError, match="needs ffmpeg"):
        animate("r", shots).save(tmp_path / "x.mp4")
    assert not (tmp_path / "x.mp4").exists()
    path = animate("r", shots).save(tmp_path / "x.gif")
    assert len(decode(path)) == 2 and decode(path)[0].shape == (8 + CAPTION, 8, 3)


def road_shot(t: int, heading: float = -np.pi / 2) -> Snapshot:
    """A 60 m x 60 m plus-shaped road, one ego (agent 0) driving east at 5 m per step, one car parked."""
    road = np.zeros((120, 120), dtype=bool)  # 0.5 m cells from (-30, -30)
    road[54:66, :] = road[:, 54:66] = True
    vehicles = np.array([[-10.0 + 5.0 * t, -1.5, heading, 4.0, 2.0], [1.5, 8.0, np.pi, 4.0, 2.0]])
    arrays = {
        "road": road,
        "road_origin": np.array([-30.0, -30.0]),
        "road_resolution": np.array(0.5),
        "vehicles": vehicles,
        "owner": np.array([0, -1]),
    }
    return Snapshot("road", 0, t, arrays, {"agent_0": float(t)})


def test_smarts_frames_follow_the_vehicles() -> None:
    frames = [view(np.asarray(f)) for f in animate("r", [road_shot(t) for t in range(4)]).frames]
    blue = [np.argwhere(np.all(f == (31, 119, 180), axis=-1)) for f in frames]
    xs = [float(b[:, 1].mean()) for b in blue]
    assert xs[0] < xs[1] < xs[2] < xs[3]  # the ego drives east, frame by frame
    ys = [float(b[:, 0].mean()) for b in blue]
    assert max(ys) - min(ys) < 1.0  # along its lane
    height, width = np.ptp(blue[0], axis=0)
    assert width > 1.5 * height  # heading east: long along x
    traffic = np.argwhere(np.all(frames[0] == (225, 225, 225), axis=-1))
    assert len(traffic) and float(traffic[:, 0].mean()) < ys[0] - 50  # the parked car, north of the ego
    t_height, t_width = np.ptp(traffic, axis=0)
    assert t_height > 1.5 * t_width  # heading south: long along y
    road = np.all(frames[0] == (120, 120, 120), axis=-1)
    column = round(18 / 31 * road.shape[1])  # x = 0 in a view from x = -18 (8 m left of the ego) to 13
    assert road[:, column].mean() > 0.8 and not road[0, 0]  # the crossing road; grass in a corner


@pytest.mark.slow
def test_smarts_run_renders_all_four_egos_and_traffic(ledger, tmp_path: Path) -> None:
    pytest.importorskip("smarts.core")
    pytest.importorskip("sumo")
    row = api.train(
        "random",
        "smarts-intersection",
        steps=20,
        ledger=ledger,
        eval_episodes=0,
        env_options={"max_steps": 12},
    )
    out = api.render_run(ledger, row["run_id"], episodes=1).save(tmp_path / "smarts.gif")
    frames = decode(out)
    assert 2 <= len(frames) <= 13  # the reset and one per step, until every ego is done or 12 steps
    first = view(frames[0])
    for colour in [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40)]:  # agent_0 .. agent_3
        assert np.all(first == colour, axis=-1).any(), colour
    assert not np.array_equal(first, view(frames[-1]))  # the cars moved
