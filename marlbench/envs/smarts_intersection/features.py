"""Observation frames, reward and bird's-eye image of the SMARTS intersection (paper 000, III.A).

Pure functions over SMARTS observation objects (only the attributes named below are read, so tests
pass plain namespaces). No SMARTS import here.

One observation **frame** of one agent (``FRAME_SIZE`` = 41 floats), in the ego's own frame of
reference (x forward, y to the left):

====== =========================================================================================
index  content (paper 000, III.A: "a stack of three consecutive frames, each containing ...")
====== =========================================================================================
0, 1   1) relative position of the goal, forward and left, in units of ``GOAL_SCALE`` (100 m)
2      2) signed distance from the centre of the lane (positive = left of it), in half lane widths
3      3) speed / ``SPEED_SCALE`` (15 m/s)
4      4) steering angle of the front wheels, radians
5..8   5) heading errors (waypoint heading minus ego heading, radians, wrapped to [-pi, pi]) to the
       route waypoints about 1, 3, 6 and 10 m ahead (``HEADING_LOOKAHEAD``)
9..40  6) up to 8 neighbouring vehicles, nearest first, 4 numbers each: relative position forward
       and left / ``NEIGHBOUR_RADIUS`` (50 m), distance / ``NEIGHBOUR_RADIUS``, speed / ``SPEED_SCALE``;
       zero-padded when fewer than 8 vehicles are within 50 m
====== =========================================================================================

Choices where the paper is vague: the frame is expressed in the ego's frame so that the four
agents (which enter from four different directions) see comparable numbers; the lane-centre
distance and the heading errors are taken on the waypoint path of the ego's current lane along its
mission route (SMARTS' ``waypoint_paths``); the scales keep every entry roughly within [-1, 1];
with no waypoint path (off-road) the lane distance and heading errors are 0.

7) The bird's-eye grayscale image (option ``bev``) is rasterised here in numpy from the road
geometry and the vehicles' boxes, instead of SMARTS' OpenGL occupancy-grid sensor: it needs no
renderer (Panda3D) and works headless on any machine. ``BEV_PIXELS`` x ``BEV_PIXELS`` pixels of
``BEV_RESOLUTION`` m, ego at the centre facing up; gray levels: off-road 0, road ``BEV_ROAD``,
ego ``BEV_EGO``, other vehicles 1.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

GOAL_SCALE = 100.0
SPEED_SCALE = 15.0
NEIGHBOUR_RADIUS = 50.0
MAX_NEIGHBOURS = 8
NEIGHBOUR_FEATURES = 4
HEADING_LOOKAHEAD: tuple[int, ...] = (1, 3, 6, 10)
"""Waypoint indices (SMARTS spaces waypoints 1 m apart) whose heading errors enter the frame."""
STACK = 3
"""Consecutive frames per observation (paper 000, III.A)."""

EGO_FEATURES = 5 + len(HEADING_LOOKAHEAD)
FRAME_SIZE = EGO_FEATURES + MAX_NEIGHBOURS * NEIGHBOUR_FEATURES

SLICE_GOAL = slice(0, 2)
INDEX_LANE_OFFSET = 2
INDEX_SPEED = 3
INDEX_STEERING = 4
SLICE_HEADING_ERRORS = slice(5, EGO_FEATURES)
SLICE_NEIGHBOURS = slice(EGO_FEATURES, FRAME_SIZE)

BEV_PIXELS = 64
BEV_RESOLUTION = 0.75
"""Metres per pixel: the image covers 48 m x 48 m around the ego."""
BEV_ROAD = 0.25
BEV_EGO = 0.625
"""Gray levels (off-road 0, other vehicles 1): dyadic, so exact in the float16 a replay stores."""


def wrap_angle(angle: float) -> float:
    """``angle`` wrapped to [-pi, pi)."""
    return (angle + math.pi) % (2.0 * math.pi) - math.pi


def _axes(heading: float) -> tuple[np.ndarray, np.ndarray]:
    """Forward and left unit vectors for a SMARTS heading (0 = north, counter-clockwise)."""
    forward = np.array([-math.sin(heading), math.cos(heading)])
    left = np.array([-math.cos(heading), -math.sin(heading)])
    return forward, left


def _lane_path(waypoint_paths: Sequence[Sequence[Any]] | None, ego: Any) -> Sequence[Any]:
    """The waypoint path of the ego's own lane (else the one starting nearest to the ego)."""
    paths = [p for p in (waypoint_paths or []) if len(p) > 0]
    if not paths:
        return []
    for path in paths:
        if path[0].lane_id == ego.lane_id:
            return path
    position = np.asarray(ego.position[:2], dtype=float)
    return min(paths, key=lambda p: float(np.linalg.norm(np.asarray(p[0].pos[:2]) - position)))


def ego_frame(obs: Any, out: np.ndarray | None = None) -> np.ndarray:
    """One frame (``FRAME_SIZE`` float32) for a SMARTS ``Observation`` (layout in the module doc)."""
    frame = np.zeros(FRAME_SIZE, dtype=np.float32) if out is None else out
    ego = obs.ego_vehicle_state
    position = np.asarray(ego.position[:2], dtype=float)
    heading = float(ego.heading)
    forward, left = _axes(heading)

    goal = getattr(getattr(ego.mission, "goal", None), "position", None)
    if goal is not None:
        delta = np.asarray(goal[:2], dtype=float) - position
        frame[0] = delta @ forward / GOAL_SCALE
        frame[1] = delta @ left / GOAL_SCALE

    path = _lane_path(obs.waypoint_paths, ego)
    if path:
        first = path[0]
        _, lane_left = _axes(float(first.heading))
        half_width = max(float(first.lane_width) / 2.0, 1e-3)
        frame[INDEX_LANE_OFFSET] = (
            (position - np.asarray(first.pos[:2], dtype=float)) @ lane_left / half_width
        )
        for k, index in enumerate(HEADING_LOOKAHEAD):
            waypoint = path[min(index, len(path) - 1)]
            frame[SLICE_HEADING_ERRORS.start + k] = wrap_angle(float(waypoint.heading) - heading)
    frame[INDEX_SPEED] = float(ego.speed) / SPEED_SCALE
    frame[INDEX_STEERING] = float(ego.steering or 0.0)

    frame[SLICE_NEIGHBOURS] = neighbour_features(position, forward, left, obs.neighborhood_vehicle_states)
    return frame


def neighbour_features(
    position: np.ndarray, forward: np.ndarray, left: np.ndarray, vehicles: Iterable[Any] | None
) -> np.ndarray:
    """``MAX_NEIGHBOURS`` x 4 features (flattened) of the nearest vehicles within the radius."""
    out = np.zeros((MAX_NEIGHBOURS, NEIGHBOUR_FEATURES), dtype=np.float32)
    vehicles = list(vehicles or [])
    if not vehicles:
        return out.reshape(-1)
    points = np.array([v.position[:2] for v in vehicles], dtype=float) - position
    distances = np.linalg.norm(points, axis=1)
    order = [i for i in np.argsort(distances, kind="stable") if distances[i] <= NEIGHBOUR_RADIUS]
    for row, i in enumerate(order[:MAX_NEIGHBOURS]):
        out[row, 0] = points[i] @ forward / NEIGHBOUR_RADIUS
        out[row, 1] = points[i] @ left / NEIGHBOUR_RADIUS
        out[row, 2] = distances[i] / NEIGHBOUR_RADIUS
        out[row, 3] = float(vehicles[i].speed) / SPEED_SCALE
    return out.reshape(-1)


@dataclass(frozen=True)
class RewardWeights:
    """Per-agent reward shaping (paper 000 gives no formula; these are this project's choices).

    ``r_t = progress_weight * progress_t - collision_penalty * collided_t
    - off_road_penalty * (off_road_t or off_route_t) + goal_bonus * reached_goal_t``

    where ``progress_t`` is the metres driven along the mission route on this step (SMARTS' trip
    meter: lateral moves and metres off the route do not count). A full route (~100 m) is worth
    about +10 in progress, the goal bonus another +10; a collision or leaving the road / route,
    which both end the agent's episode, costs 10.
    """

    progress_weight: float = 0.1
    collision_penalty: float = 10.0
    off_road_penalty: float = 10.0
    goal_bonus: float = 10.0


@dataclass(frozen=True)
class StepOutcome:
    """What the reward of one agent's step depends on (read from a SMARTS observation)."""

    progress: float
    collided: bool
    off_road: bool
    off_route: bool
    reached_goal: bool

    @classmethod
    def from_observation(cls, obs: Any) -> StepOutcome:
        events = obs.events
        return cls(
            progress=float(obs.distance_travelled or 0.0),
            collided=bool(events.collisions),
            off_road=bool(events.off_road),
            off_route=bool(events.off_route),
            reached_goal=bool(events.reached_goal),
        )


def reward_terms(outcome: StepOutcome, weights: RewardWeights) -> dict[str, float]:
    """The reward's terms for one agent's step; the reward is their sum."""
    return {
        "progress": weights.progress_weight * outcome.progress,
        "collision": -weights.collision_penalty * float(outcome.collided),
        "off_road": -weights.off_road_penalty * float(outcome.off_road or outcome.off_route),
        "goal": weights.goal_bonus * float(outcome.reached_goal),
    }


def reward(outcome: StepOutcome, weights: RewardWeights) -> float:
    return float(sum(reward_terms(outcome, weights).values()))


class DrivableRaster:
    """A boolean map of the drivable surface (lanes and junction areas) of a SUMO net file."""

    def __init__(self, mask: np.ndarray, origin: tuple[float, float], resolution: float) -> None:
        self.mask = mask
        """``[rows (y), cols (x)]``, True where drivable."""
        self.origin = origin
        self.resolution = resolution

    @classmethod
    def from_net_file(cls, net_file: Path, resolution: float = 0.25, margin: float = 30.0) -> DrivableRaster:
        import xml.etree.ElementTree as ET

        import shapely
        from shapely.geometry import LineString, Polygon

        def points(text: str) -> list[tuple[float, float]]:
            return [tuple(map(float, p.split(",")[:2])) for p in text.split()]  # type: ignore[misc]

        shapes = []
        root = ET.parse(net_file).getroot()
        for lane in root.iter("lane"):
            line = points(lane.get("shape", ""))
            if len(line) >= 2:
                width = float(lane.get("width", "3.2"))
                shapes.append(LineString(line).buffer(width / 2.0, cap_style="flat", join_style="round"))
        for junction in root.iter("junction"):
            outline = points(junction.get("shape", ""))
            if junction.get("type") != "internal" and len(outline) >= 3:
                shapes.append(Polygon(outline).buffer(0))
        surface = shapely.union_all(shapes)
        x0, y0, x1, y1 = surface.bounds
        x0, y0, x1, y1 = x0 - margin, y0 - margin, x1 + margin, y1 + margin
        cols, rows = int(math.ceil((x1 - x0) / resolution)), int(math.ceil((y1 - y0) / resolution))
        xs = x0 + (np.arange(cols) + 0.5) * resolution
        ys = y0 + (np.arange(rows) + 0.5) * resolution
        grid_x, grid_y = np.meshgrid(xs, ys)
        shapely.prepare(surface)
        mask = shapely.contains_xy(surface, grid_x, grid_y)
        return cls(mask, (x0, y0), resolution)

    def lookup(self, xy: np.ndarray) -> np.ndarray:
        """Drivable or not at world points ``xy`` ``[..., 2]`` (outside the raster: not drivable)."""
        col = np.floor((xy[..., 0] - self.origin[0]) / self.resolution).astype(np.int64)
        row = np.floor((xy[..., 1] - self.origin[1]) / self.resolution).astype(np.int64)
        rows, cols = self.mask.shape
        inside = (row >= 0) & (row < rows) & (col >= 0) & (col < cols)
        out = np.zeros(xy.shape[:-1], dtype=bool)
        out[inside] = self.mask[row[inside], col[inside]]
        return out


def _pixel_offsets(pixels: int, resolution: float) -> np.ndarray:
    """``[pixels, pixels, 2]`` (forward, left) metres of each pixel centre; row 0 is ahead, col 0 left."""
    centres = (pixels / 2.0 - np.arange(pixels) - 0.5) * resolution
    forward = np.repeat(centres[:, None], pixels, axis=1)
    left = np.repeat(centres[None, :], pixels, axis=0)
    return np.stack([forward, left], axis=-1)


_OFFSETS: dict[tuple[int, float], np.ndarray] = {}


def bev_frame(
    obs: Any, raster: DrivableRaster, pixels: int = BEV_PIXELS, resolution: float = BEV_RESOLUTION
) -> np.ndarray:
    """Bird's-eye grayscale image ``[pixels, pixels]`` float32 around the ego, facing up."""
    key = (pixels, resolution)
    if key not in _OFFSETS:
        _OFFSETS[key] = _pixel_offsets(pixels, resolution)
    offsets = _OFFSETS[key]
    ego = obs.ego_vehicle_state
    position = np.asarray(ego.position[:2], dtype=float)
    forward, left = _axes(float(ego.heading))
    world = position + offsets[..., :1] * forward + offsets[..., 1:] * left
    image = np.where(raster.lookup(world), BEV_ROAD, 0.0).astype(np.float32)
    reach = pixels * resolution * 0.75 + 5.0  # half-diagonal of the image plus a car length
    vehicles = [(v, 1.0) for v in (obs.neighborhood_vehicle_states or [])] + [(ego, BEV_EGO)]
    for vehicle, value in vehicles:
        centre = np.asarray(vehicle.position[:2], dtype=float)
        if np.linalg.norm(centre - position) > reach:
            continue
        v_forward, v_left = _axes(float(vehicle.heading))
        rel = world - centre
        length, width = float(vehicle.bounding_box.length), float(vehicle.bounding_box.width)
        inside = (np.abs(rel @ v_forward) <= length / 2.0) & (np.abs(rel @ v_left) <= width / 2.0)
        image[inside] = value
    return image
