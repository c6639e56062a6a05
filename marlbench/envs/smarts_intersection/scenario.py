"""The 4-arm, 2-lanes-each-way intersection of paper 000 (section III.A, Fig. 1), generated here.

Nothing is copied from the SMARTS repository: this module writes a SUMO node/edge description,
turns it into ``map.net.xml`` with SUMO's ``netconvert`` (from the ``eclipse-sumo`` package),
writes the background-traffic route file itself, and lets SMARTS' scenario studio
(``gen_scenario``) build only the ego missions and the map mesh.

The built scenario lives in a cache directory, ``$MARLBENCH_CACHE/smarts/<hash>`` (default
``~/.cache/marlbench/smarts/<hash>``), where the hash covers the whole description below plus the
SMARTS and SUMO versions: a changed description builds a new directory, an unchanged one is reused.
Builds go to a temporary directory that is renamed into place, so concurrent runs (``--jobs 2``)
never see a half-built scenario.

Choices where the paper is vague (it shows only a picture of "a 4-lane intersection"):

* Geometry: arms of 60 m from the centre, 2 lanes of 3.5 m each way, 13.89 m/s (50 km/h) limit,
  an unsignalised ``priority`` junction with the north-south road as the major road.
* Ego missions: one ego per arm, two crossing straight and two turning (``EGO_ROUTES``): south to
  north (straight), east to south (left turn), north to west (right turn), west to east (straight).
  Each starts 10 m into its incoming arm and reaches its goal 40 m into its outgoing arm (a route
  of about 100 m). No ``Via`` points (they crash SMARTS 2.0.1, see ENVIRONMENT.md).
* Background traffic: SUMO flows from every arm, a quarter turning right (lane 0), half going
  straight (both lanes), a quarter turning left (lane 1), with random (Poisson) departures drawn by
  SUMO at run time, so each episode's seed gives different traffic. ``low`` is 300 and ``high``
  900 vehicles per hour per arm.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from marlbench import paths
from marlbench.errors import ConfigError

ARMS: tuple[str, ...] = ("N", "E", "S", "W")
"""Arm names; arm ``X`` has the incoming edge ``X-in`` (towards the centre) and ``X-out``."""

TRAFFIC_RATES: dict[str, float] = {"low": 300.0, "high": 900.0}
"""Background vehicles per hour entering from each arm, per ``traffic`` setting."""

FORMAT_VERSION = 1
"""Bump when the way a scenario directory is written changes (part of the cache key)."""

_ARM_VECTORS: dict[str, tuple[float, float]] = {
    "N": (0.0, 1.0),
    "E": (1.0, 0.0),
    "S": (0.0, -1.0),
    "W": (-1.0, 0.0),
}


@dataclass(frozen=True)
class EgoRoute:
    """One ego mission: enter from ``origin`` in ``lane`` (0 = rightmost), leave through ``destination``."""

    origin: str
    destination: str
    lane: int


EGO_ROUTES: tuple[EgoRoute, ...] = (
    EgoRoute("S", "N", 0),  # straight
    EgoRoute("E", "S", 1),  # left turn (driving on the right)
    EgoRoute("N", "W", 0),  # right turn
    EgoRoute("W", "E", 1),  # straight
)


@dataclass(frozen=True)
class IntersectionLayout:
    """Everything that determines a built scenario; its hash names the cache directory."""

    arm_length: float = 60.0
    """Distance in metres from the centre node to the end of each arm."""
    lanes: int = 2
    """Lanes each way on every arm."""
    lane_width: float = 3.5
    speed_limit: float = 13.89
    """m/s on every lane (50 km/h)."""
    junction_type: str = "priority"
    """SUMO node type of the centre: unsignalised, north-south is the major road."""
    ego_routes: tuple[EgoRoute, ...] = EGO_ROUTES
    ego_start_offset: float = 10.0
    """Metres into the incoming arm where an ego starts."""
    ego_goal_offset: float = 40.0
    """Metres into the outgoing arm where an ego's goal lies."""
    traffic_rates: tuple[tuple[str, float], ...] = tuple(TRAFFIC_RATES.items())
    turn_shares: tuple[float, float, float] = (0.25, 0.5, 0.25)
    """Share of background vehicles turning right, going straight, turning left."""

    def description(self) -> dict:
        return {"format": FORMAT_VERSION, "layout": asdict(self), "versions": _tool_versions()}

    def key(self) -> str:
        text = json.dumps(self.description(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class BuiltScenario:
    """Paths of a built scenario directory."""

    root: Path
    net_file: Path
    route_files: dict[str, Path]
    """``traffic`` setting -> SUMO route file."""


def _tool_versions() -> dict[str, str]:
    from importlib import metadata

    out = {}
    for dist in ("smarts", "eclipse-sumo"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "absent"
    return out


def cache_root() -> Path:
    """``$MARLBENCH_CACHE/smarts`` or ``~/.cache/marlbench/smarts``."""
    return paths.cache_root() / "smarts"


def find_sumo_tool(name: str) -> Path:
    """Full path of a SUMO binary (``netconvert``, ``sumo``), or a ConfigError naming the fix.

    Looks in the running Python's ``bin/`` (where ``eclipse-sumo`` puts its console scripts), in the
    ``sumo`` package's own ``bin/`` and on ``PATH``. The venv's ``bin/`` is often missing from PATH
    when the venv is used without activation, which is why PATH is searched last.
    """
    candidates = [Path(sys.prefix) / "bin" / name]
    try:
        import sumo  # the eclipse-sumo package

        candidates.append(Path(sumo.SUMO_HOME) / "bin" / name)
    except ImportError:
        pass
    on_path = shutil.which(name)
    if on_path:
        candidates.append(Path(on_path))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    looked = ", ".join(str(c) for c in candidates)
    raise ConfigError(
        f"SUMO's '{name}' was not found (looked in {looked})",
        'install SUMO with: pip install "marlbench[smarts]" (it brings eclipse-sumo), '
        "or put SUMO's bin/ directory on PATH",
    )


def node_edge_xml(layout: IntersectionLayout) -> tuple[str, str]:
    """The SUMO ``.nod.xml`` and ``.edg.xml`` texts: a centre node ``C`` and four arm nodes."""
    nodes = [f'    <node id="C" x="0.00" y="0.00" type="{layout.junction_type}"/>']
    edges = []
    for arm in ARMS:
        dx, dy = _ARM_VECTORS[arm]
        x, y = dx * layout.arm_length, dy * layout.arm_length
        nodes.append(f'    <node id="{arm}" x="{x:.2f}" y="{y:.2f}" type="dead_end"/>')
        priority = 2 if arm in ("N", "S") else 1
        common = (
            f'numLanes="{layout.lanes}" speed="{layout.speed_limit:.2f}" '
            f'width="{layout.lane_width:.2f}" priority="{priority}"'
        )
        edges.append(f'    <edge id="{arm}-in" from="{arm}" to="C" {common}/>')
        edges.append(f'    <edge id="{arm}-out" from="C" to="{arm}" {common}/>')
    nod = "<nodes>\n" + "\n".join(nodes) + "\n</nodes>\n"
    edg = "<edges>\n" + "\n".join(edges) + "\n</edges>\n"
    return nod, edg


def run_netconvert(layout: IntersectionLayout, out_dir: Path) -> Path:
    """Write the node/edge files into ``out_dir`` and convert them to ``map.net.xml``."""
    netconvert = find_sumo_tool("netconvert")
    nod, edg = node_edge_xml(layout)
    (out_dir / "intersection.nod.xml").write_text(nod)
    (out_dir / "intersection.edg.xml").write_text(edg)
    net_file = out_dir / "map.net.xml"
    cmd = [
        str(netconvert),
        "--node-files", str(out_dir / "intersection.nod.xml"),
        "--edge-files", str(out_dir / "intersection.edg.xml"),
        "--output-file", str(net_file),
        "--no-turnarounds", "true",
        "--offset.disable-normalization", "true",
        "--tls.guess", "false",
        "--junctions.corner-detail", "5",
        "--no-warnings", "true",
    ]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if result.returncode != 0 or not net_file.is_file():
        raise RuntimeError(f"netconvert failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
    return net_file


def route_xml(layout: IntersectionLayout, vehicles_per_hour: float) -> str:
    """A SUMO route file with Poisson flows from every arm (departures drawn by SUMO's seed)."""
    right, straight, left = layout.turn_shares
    lines = [
        "<routes>",
        '    <vType id="background" vClass="passenger" accel="2.6" decel="4.5" sigma="0.5" '
        'length="5.0" minGap="2.5" speedFactor="normc(1.00,0.10,0.20,2.00)"/>',
    ]
    flows: list[tuple[str, str, int, float]] = []
    for i, arm in enumerate(ARMS):
        turn_right, ahead, turn_left = ARMS[(i + 3) % 4], ARMS[(i + 2) % 4], ARMS[(i + 1) % 4]
        # Arm order is clockwise (N, E, S, W); a vehicle from N heading south turns right into W.
        flows.append((arm, turn_right, 0, right))
        flows.append((arm, ahead, 0, straight / 2))
        flows.append((arm, ahead, min(1, layout.lanes - 1), straight / 2))
        flows.append((arm, turn_left, layout.lanes - 1, left))
    routes_written: set[str] = set()
    for arm, dest, lane, share in flows:
        rid = f"{arm}-{dest}"
        if rid not in routes_written:
            routes_written.add(rid)
            lines.append(f'    <route id="{rid}" edges="{arm}-in {dest}-out"/>')
        per_second = vehicles_per_hour * share / 3600.0
        if per_second <= 0:
            continue
        lines.append(
            f'    <flow id="bg-{arm}-{dest}-{lane}" type="background" route="{rid}" begin="0" end="86400" '
            f'probability="{per_second:.6f}" departLane="{lane}" departPos="base" departSpeed="max"/>'
        )
    lines.append("</routes>\n")
    return "\n".join(lines)


def _ego_missions(layout: IntersectionLayout) -> list:
    from smarts.sstudio import sstypes

    return [
        sstypes.Mission(
            sstypes.Route(
                begin=(f"{r.origin}-in", r.lane, layout.ego_start_offset),
                end=(f"{r.destination}-out", r.lane, layout.ego_goal_offset),
            )
        )
        for r in layout.ego_routes
    ]


def _scenario_paths(root: Path, layout: IntersectionLayout) -> BuiltScenario:
    return BuiltScenario(
        root=root,
        net_file=root / "map.net.xml",
        route_files={name: root / "traffic" / f"{name}.rou.xml" for name, _ in layout.traffic_rates},
    )


def build_scenario(
    layout: IntersectionLayout | None = None,
    root: Path | None = None,
    log: Callable[[str], None] | None = None,
) -> BuiltScenario:
    """The built scenario for ``layout``, from the cache when present, else built now.

    ``root`` overrides the cache root (tests). ``log`` receives progress lines (stderr by default).
    """
    layout = layout or IntersectionLayout()
    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    base = root or cache_root()
    final = base / layout.key()
    if (final / "description.json").is_file():
        return _scenario_paths(final, layout)

    base.mkdir(parents=True, exist_ok=True)
    log(f"marlbench: building the SMARTS intersection scenario in {final} (first use; cached afterwards)")
    tmp = Path(tempfile.mkdtemp(prefix=f".build-{layout.key()}-", dir=base))
    tmp.chmod(0o755)
    try:
        log("marlbench:   netconvert: 4 arms x 2 lanes each way -> map.net.xml")
        run_netconvert(layout, tmp)
        (tmp / "traffic").mkdir()
        for name, rate in layout.traffic_rates:
            (tmp / "traffic" / f"{name}.rou.xml").write_text(route_xml(layout, rate))
        log("marlbench:   SMARTS scenario build: ego missions and map mesh")
        _gen_smarts_scenario(layout, tmp)
        (tmp / "description.json").write_text(json.dumps(layout.description(), indent=2, sort_keys=True))
        try:
            tmp.rename(final)
        except OSError:
            # Another process finished the same build first: keep theirs.
            if not (final / "description.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log("marlbench:   scenario ready")
    return _scenario_paths(final, layout)


def _gen_smarts_scenario(layout: IntersectionLayout, scenario_dir: Path) -> None:
    import logging

    from smarts.sstudio import sstypes
    from smarts.sstudio.genscenario import gen_scenario

    quiet = logging.getLogger("smarts.sstudio.genscenario")
    level = quiet.level
    quiet.setLevel(logging.WARNING)
    try:
        gen_scenario(sstypes.Scenario(ego_missions=_ego_missions(layout)), str(scenario_dir))
    finally:
        quiet.setLevel(level)
    if not (scenario_dir / "build" / "missions.pkl").is_file():
        raise RuntimeError(f"SMARTS did not build the ego missions in {scenario_dir}")


def net_summary(net_file: Path) -> dict[str, dict[str, object]]:
    """Non-internal edges of a SUMO net: ``{edge_id: {"from", "to", "lanes", "widths"}}`` (for tests)."""
    tree = ET.parse(net_file)
    out: dict[str, dict[str, object]] = {}
    for edge in tree.getroot().iter("edge"):
        if edge.get("function") == "internal":
            continue
        lanes = edge.findall("lane")
        out[edge.get("id", "")] = {
            "from": edge.get("from"),
            "to": edge.get("to"),
            "lanes": len(lanes),
            "widths": [float(lane.get("width", "3.2")) for lane in lanes],
        }
    return out
