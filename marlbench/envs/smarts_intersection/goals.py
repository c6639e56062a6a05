"""When an ego has completed its route: the destination arm's goal region in any lane.

SMARTS turns a mission's end ``(road, lane, offset)`` into a ``PositionalGoal``: a 2 m circle
around one point of one lane (``smarts.core.scenario``, ``PositionalGoal(position, radius=2)``).
An ego that changed lanes on its way (the paper's actions include both lane changes) passes that
point a lane-width away, drives on to the end of the arm and is scored ``off_road``, though it
did what paper 000 calls completing the route. SMARTS has no goal type for "this road, any lane"
(its ``TraverseGoal`` means leaving the map anywhere), so with ``goal="any-lane"`` (the default)
the env adds that rule itself: an ego on its destination road whose offset along its lane is at
least the goal offset minus the same 2 m has reached its goal, in whichever lane it is. SUMO roads
are one-way, so being on the outgoing road means driving in the right direction. ``goal="lane"``
keeps SMARTS' own, lane-specific goal only.
"""

from __future__ import annotations

from typing import Any

GOAL_MODES = ("any-lane", "lane")
GOAL_RADIUS = 2.0
"""Metres: the radius SMARTS gives a mission's positional goal."""


def past_goal(road_id: str, lane_offset: float, destination_road: str, goal_offset: float) -> bool:
    """Whether a vehicle on ``road_id`` at ``lane_offset`` metres along its lane is in the goal region."""
    return road_id == destination_road and lane_offset >= goal_offset - GOAL_RADIUS


def reached_destination(ego: Any, road_map: Any, destination_road: str, goal_offset: float) -> bool:
    """:func:`past_goal` for a SMARTS ``EgoVehicleObservation`` on ``road_map``."""
    road_id = str(getattr(ego, "road_id", "") or "")
    if road_id != destination_road:
        return False
    from smarts.core.coordinates import Point

    lane = road_map.lane_by_id(ego.lane_id)
    if lane is None:
        return False
    x, y = (float(v) for v in ego.position[:2])
    return past_goal(road_id, float(lane.offset_along_lane(Point(x, y))), destination_road, goal_offset)
