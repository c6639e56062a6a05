"""Animations of played episodes: each snapshot (:mod:`marlbench.training.playback`) drawn as a frame.

Frames are drawn with PIL from the simulator's state, not from an env renderer: particles as discs
in a square view fitted once to every position of the episodes (so the camera does not move),
pursuit as its grid (walls grey, pursuers red, evaders blue, the count on a cell with several),
SMARTS from above (road grey, egos in their colours, traffic light grey), Atari as the emulator's
screen scaled 2x. A caption under each frame names the run, the episode,
the step and the team's mean return so far. :class:`Animation` writes GIF with PIL, or MP4 with
matplotlib's ffmpeg writer when ffmpeg is installed. Only the CLI calls :meth:`Animation.save`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from marlbench.errors import ConfigError

SIZE = 320
"""Side of the drawn view in pixels (particles and grids)."""
ROAD_SIZE = 480
"""Side of the SMARTS view in pixels (a 100 m junction: a car is about 16 pixels long)."""
CAPTION = 22
AGENT_COLOURS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75)]
FORMATS = (".gif", ".mp4")


@dataclass
class Animation:
    """Frames (PIL images, all one size) shown at ``fps`` frames per second."""

    frames: list[Any]
    fps: float = 10.0

    def save(self, path: str | Path) -> Path:
        """Write a ``.gif`` (PIL) or ``.mp4`` (ffmpeg through matplotlib); ConfigError for another suffix."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in FORMATS:
            raise ConfigError(
                f"cannot write '{path.name}': unknown animation format", "use --out NAME.gif or NAME.mp4"
            )
        if suffix == ".gif":
            duration = max(20, int(round(1000 / self.fps)))
            self.frames[0].save(
                path, save_all=True, append_images=self.frames[1:], duration=duration, loop=0, optimize=False
            )
            return path
        return self._save_mp4(path)

    def _save_mp4(self, path: Path) -> Path:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib import animation

        if not animation.writers.is_available("ffmpeg"):
            raise ConfigError(
                "writing MP4 needs ffmpeg, which is not installed", "write a GIF: --out NAME.gif"
            )
        width, height = self.frames[0].size
        fig = plt.figure(figsize=(width / 100, height / 100), dpi=100)
        ax = fig.add_axes((0, 0, 1, 1))
        ax.axis("off")
        image = ax.imshow(np.asarray(self.frames[0]))
        writer = animation.FFMpegWriter(fps=self.fps)
        with writer.saving(fig, str(path), dpi=100):
            for frame in self.frames:
                image.set_data(np.asarray(frame))
                writer.grab_frame()
        plt.close(fig)
        return path


def _caption(image: Any, text: str) -> Any:
    from PIL import Image, ImageDraw

    out = Image.new("RGB", (image.width, image.height + CAPTION), (255, 255, 255))
    out.paste(image, (0, 0))
    ImageDraw.Draw(out).text((6, image.height + 5), text, fill=(0, 0, 0))
    return out


def _particle_view(shots: Sequence[Any]) -> tuple[np.ndarray, float]:
    """The lower-left corner and side of one square view holding every entity of ``shots``."""
    points = np.concatenate([np.concatenate([s.arrays["agents"], s.arrays["landmarks"]]) for s in shots])
    radius = max(float(s.arrays["agent_radius"]) for s in shots)
    low, high = points.min(axis=0) - radius - 0.1, points.max(axis=0) + radius + 0.1
    side = float(max(high - low))
    centre = (low + high) / 2
    return centre - side / 2, side


def draw_particles(arrays: dict[str, np.ndarray], corner: np.ndarray, side: float) -> Any:
    """Agents as coloured discs (their radius), landmarks as grey discs (hollow once taken)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (SIZE, SIZE), (250, 250, 250))
    draw = ImageDraw.Draw(image)
    scale = SIZE / side

    def disc(pos: np.ndarray, r: float, **style: Any) -> None:
        x, y = (pos - corner) * scale
        y = SIZE - y  # world y points up
        r = max(2.0, r * scale)
        draw.ellipse((x - r, y - r, x + r, y + r), **style)

    free = arrays.get("free")
    for i, pos in enumerate(arrays["landmarks"]):
        taken = free is not None and not bool(free[i])
        disc(pos, 0.05, fill=None if taken else (110, 110, 110), outline=(60, 60, 60), width=2)
    for i, pos in enumerate(arrays["agents"]):
        colour = AGENT_COLOURS[i % len(AGENT_COLOURS)]
        disc(pos, float(arrays["agent_radius"]), fill=colour, outline=(0, 0, 0))
    return image


def draw_grid(arrays: dict[str, np.ndarray]) -> Any:
    """Pursuit's grid: walls, pursuers (red, large) and evaders (blue, small), counts above one."""
    from PIL import Image, ImageDraw

    walls = arrays["walls"]
    cell = max(4, SIZE // max(walls.shape))
    image = Image.new("RGB", (cell * walls.shape[0], cell * walls.shape[1]), (245, 245, 245))
    draw = ImageDraw.Draw(image)
    for (x, y), wall in np.ndenumerate(walls):
        box = (x * cell, y * cell, (x + 1) * cell - 1, (y + 1) * cell - 1)
        draw.rectangle(box, fill=(90, 90, 90) if wall else None, outline=(225, 225, 225))
    for layer, colour, shrink in (("evaders", (31, 119, 180), 0.3), ("pursuers", (214, 39, 40), 0.1)):
        for (x, y), count in np.ndenumerate(arrays[layer]):
            if count <= 0:
                continue
            pad = shrink * cell
            draw.ellipse(
                (x * cell + pad, y * cell + pad, (x + 1) * cell - pad, (y + 1) * cell - pad), fill=colour
            )
            if count > 1:
                draw.text((x * cell + 3, y * cell + 2), str(int(count)), fill=(255, 255, 255))
    return image


def draw_frame(arrays: dict[str, np.ndarray]) -> Any:
    """An Atari screen, scaled 2x (nearest neighbour)."""
    from PIL import Image

    image = Image.fromarray(arrays["rgb"])
    return image.resize((image.width * 2, image.height * 2), Image.Resampling.NEAREST)


def _road_view(shots: Sequence[Any]) -> tuple[np.ndarray, float]:
    """The lower-left corner and side (metres) of one square view holding every ego of ``shots``
    (8 m around them), so the camera stays on the junction and the cars are large enough to see."""
    egos = [s.arrays["vehicles"][s.arrays["owner"] >= 0, :2] for s in shots]
    points = np.concatenate([e for e in egos if len(e)] or [np.zeros((1, 2))])
    low, high = points.min(axis=0) - 8.0, points.max(axis=0) + 8.0
    side = float(max(high - low))
    return (low + high) / 2 - side / 2, side


def draw_road(arrays: dict[str, np.ndarray], corner: np.ndarray, side: float) -> Any:
    """SMARTS from above, north up: the road grey on green, egos in their colours with a white nose,
    SUMO traffic light grey; each vehicle a rectangle of its length and width along its heading."""
    from PIL import Image, ImageDraw

    origin, resolution = arrays["road_origin"], float(arrays["road_resolution"])
    cells = max(1, round(side / resolution))
    col0, row0 = np.floor((corner - origin) / resolution).astype(int)
    rows, cols = np.arange(row0, row0 + cells), np.arange(col0, col0 + cells)
    road = arrays["road"]  # [rows (y), cols (x)]
    inside = (rows[:, None] >= 0) & (rows[:, None] < road.shape[0]) & (cols >= 0) & (cols < road.shape[1])
    window = np.zeros((cells, cells), dtype=bool)
    window[inside] = road[np.clip(rows, 0, road.shape[0] - 1)][:, np.clip(cols, 0, road.shape[1] - 1)][inside]
    pixels = np.where(window[::-1, :, None], np.array([120, 120, 120]), np.array([92, 140, 82]))
    image = Image.fromarray(pixels.astype(np.uint8)).resize((ROAD_SIZE, ROAD_SIZE), Image.Resampling.NEAREST)
    draw = ImageDraw.Draw(image)
    scale = ROAD_SIZE / side

    def pixel(xy: np.ndarray) -> list[tuple[float, float]]:
        x = (xy[:, 0] - corner[0]) * scale
        y = ROAD_SIZE - (xy[:, 1] - corner[1]) * scale  # world y points up
        return list(zip(x.tolist(), y.tolist(), strict=True))

    order = np.argsort(arrays["owner"] >= 0, kind="stable")  # traffic first, egos on top
    for k in order:
        x, y, heading, length, width = arrays["vehicles"][k]
        ahead = np.array([-np.sin(heading), np.cos(heading)])
        across = np.array([ahead[1], -ahead[0]])
        centre = np.array([x, y])
        corners = np.array(
            [
                centre + (a * length * ahead + b * width * across) / 2
                for a, b in ((1, 1), (1, -1), (-1, -1), (-1, 1))
            ]
        )
        owner = int(arrays["owner"][k])
        colour = AGENT_COLOURS[owner % len(AGENT_COLOURS)] if owner >= 0 else (225, 225, 225)
        draw.polygon(pixel(corners), fill=colour, outline=(0, 0, 0))
        if owner >= 0:
            draw.line(
                pixel(np.array([centre, centre + ahead * length * 0.45])), fill=(255, 255, 255), width=2
            )
    return image


def animate(run_id: str, shots: Sequence[Any], fps: float = 10.0) -> Animation:
    """One frame per snapshot of ``shots`` (all of one kind), captioned."""
    if not shots:
        raise ConfigError("nothing was played, so there is nothing to draw", "give --episodes 1 or more")
    kind = shots[0].kind
    views = {"particles": _particle_view, "road": _road_view}
    corner, side = views[kind](shots) if kind in views else (np.zeros(2), 1.0)
    frames = []
    for shot in shots:
        if kind == "particles":
            image = draw_particles(shot.arrays, corner, side)
        elif kind == "grid":
            image = draw_grid(shot.arrays)
        elif kind == "road":
            image = draw_road(shot.arrays, corner, side)
        else:
            image = draw_frame(shot.arrays)
        team = float(np.mean(list(shot.returns.values()))) if shot.returns else 0.0
        frames.append(
            _caption(image, f"{run_id}  episode {shot.episode}  step {shot.step}  return {team:.2f}")
        )
    return Animation(frames, fps)
