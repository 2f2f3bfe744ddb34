"""The geometry of a minefield record (Amended Protocol II, Technical Annex): its perimeter placed
from reference points by bearing and distance, and cross-checked when it is given twice (what a
record is compared with afterwards, item logs and signs, is in ``domain.minefield_checks``).

Records only: these functions place what a record says and check it; nothing here plans or
optimises laying. Coordinates are EPSG:4326 (lon, lat); bearings are degrees true (clockwise from
north); distances are metres on the WGS84 ellipsoid, by ``pyproj.Geod`` (the geodesic forward and
inverse problems). Where a planar measure is needed (how far apart two outlines are, how far an
item lies outside), it is taken in an azimuthal equidistant projection centred on the record,
true to a few millimetres over the few kilometres of a minefield.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from pyproj import CRS, Transformer

from clearland.domain.geometry import WGS84, check_geometry

#: two positions closer than this are the same point (metres)
SAME_POINT_M = 0.01
#: default tolerance between a perimeter given twice (turning points and polygon), metres
DEFAULT_TOLERANCE_M = 1.0


@dataclass(frozen=True)
class Problem:
    """A field of the record and what is wrong with it, in words."""

    field: str
    message: str


@dataclass(frozen=True)
class Perimeter:
    """The perimeter a record gives. ``turning_points``: id, lon, lat, and the reference point,
    bearing and distance that place it (given, or measured from the nearest reference point when
    only coordinates were given: ``measured`` is then true)."""

    polygon: shapely.Polygon
    turning_points: list[dict[str, Any]]
    source: str  # bearings · coordinates · polygon (and "+polygon" when both were given)
    disagreement_m: float | None = None  # between turning points and polygon, when both


def forward(lon: float, lat: float, bearing_deg: float, distance_m: float) -> tuple[float, float]:
    """The point ``distance_m`` from (lon, lat) along the geodesic leaving at ``bearing_deg``."""
    lon2, lat2, _ = WGS84.fwd(lon, lat, bearing_deg, distance_m)
    return float(lon2), float(lat2)


def inverse(lon1: float, lat1: float, lon2: float, lat2: float) -> tuple[float, float]:
    """(bearing in degrees true 0–360, distance in metres) from point 1 to point 2."""
    azimuth, _, distance = WGS84.inv(lon1, lat1, lon2, lat2)
    return float(azimuth) % 360.0, float(distance)


def local_transformer(lon: float, lat: float) -> Transformer:
    """EPSG:4326 → metres in an azimuthal equidistant projection centred on (lon, lat)."""
    crs = CRS.from_proj4(f"+proj=aeqd +lat_0={lat} +lon_0={lon} +datum=WGS84 +units=m +no_defs")
    return Transformer.from_crs(CRS.from_epsg(4326), crs, always_xy=True)


def to_local(geom: shapely.Geometry, transformer: Transformer) -> shapely.Geometry:
    return shapely.transform(geom, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1])))


# ---------------------------------------------------------------------------------------------
# The perimeter


def check_reference_points(points: Sequence[Mapping[str, Any]]) -> list[Problem]:
    problems = []
    if len(points) < 2:
        problems.append(
            Problem(
                "reference_points",
                f"a minefield record needs at least two reference points; {len(points)} given",
            )
        )
    seen: set[str] = set()
    for index, point in enumerate(points):
        where = f"reference_points[{index}]"
        if point["id"] in seen:
            problems.append(Problem(f"{where}.id", f"reference point {point['id']!r} is given twice"))
        seen.add(point["id"])
        found = check_geometry(shapely.Point(point["lon"], point["lat"]), frozenset({"Point"}))
        if found is not None:
            problems.append(Problem(where, f"{found.message} (lon, lat in EPSG:4326)"))
    return problems


def place_turning_points(
    reference_points: Sequence[Mapping[str, Any]],
    turning_points: Sequence[Mapping[str, Any]],
    tolerance_m: float,
) -> tuple[list[dict[str, Any]], list[Problem]]:
    """Each turning point's position: by the geodesic forward problem from its reference point
    (``from``, ``bearing_deg``, ``distance_m``), or as given (``lon``, ``lat``); when both are
    given they must agree within ``tolerance_m``."""
    refs = {p["id"]: p for p in reference_points}
    placed: list[dict[str, Any]] = []
    problems: list[Problem] = []
    for index, tp in enumerate(turning_points):
        where = f"turning_points[{index}]"
        by_bearing = [tp.get(k) is not None for k in ("from", "bearing_deg", "distance_m")]
        by_coords = [tp.get(k) is not None for k in ("lon", "lat")]
        position: tuple[float, float] | None = None
        if any(by_bearing) and not all(by_bearing):
            problems.append(
                Problem(where, "a turning point by bearing needs 'from', 'bearing_deg' and 'distance_m'")
            )
        elif all(by_bearing):
            bearing, distance = float(tp["bearing_deg"]), float(tp["distance_m"])
            ok = True
            if tp["from"] not in refs:
                known = ", ".join(sorted(refs)) or "none"
                problems.append(
                    Problem(f"{where}.from", f"no reference point {tp['from']!r} (known: {known})")
                )
                ok = False
            if not (math.isfinite(bearing) and 0 <= bearing < 360):
                problems.append(
                    Problem(f"{where}.bearing_deg", f"bearing {bearing:g}° is not in 0–360 (degrees true)")
                )
                ok = False
            if not (math.isfinite(distance) and distance > 0):
                problems.append(
                    Problem(f"{where}.distance_m", f"distance must be more than 0 m, not {distance:g}")
                )
                ok = False
            if ok:
                ref = refs[tp["from"]]
                position = forward(ref["lon"], ref["lat"], bearing, distance)
        if any(by_coords) and not all(by_coords):
            problems.append(Problem(where, "a turning point by coordinates needs both 'lon' and 'lat'"))
        elif all(by_coords):
            given = (float(tp["lon"]), float(tp["lat"]))
            found = check_geometry(shapely.Point(*given), frozenset({"Point"}))
            if found is not None:
                problems.append(Problem(where, f"{found.message} (lon, lat in EPSG:4326)"))
            elif position is not None:
                _, apart = inverse(*position, *given)
                if apart > tolerance_m:
                    problems.append(
                        Problem(
                            where,
                            f"turning point {tp['id']!r}: the bearing and distance place it {apart:.2f} m "
                            f"from the coordinates given (tolerance {tolerance_m:g} m)",
                        )
                    )
            else:
                position = given
        if not any(by_bearing) and not any(by_coords):
            problems.append(Problem(where, "give 'from', 'bearing_deg' and 'distance_m', or 'lon' and 'lat'"))
        if position is None:
            continue
        entry: dict[str, Any] = {"id": tp["id"], "lon": position[0], "lat": position[1]}
        if all(by_bearing):
            entry.update(
                {
                    "from": tp["from"],
                    "bearing_deg": float(tp["bearing_deg"]),
                    "distance_m": float(tp["distance_m"]),
                }
            )
        else:
            entry.update(_measured_from(reference_points, position))
        placed.append(entry)
    return placed, problems


def _measured_from(
    reference_points: Sequence[Mapping[str, Any]], position: tuple[float, float]
) -> dict[str, Any]:
    """Bearing and distance from the nearest reference point (for the record sheet)."""
    best: dict[str, Any] = {}
    for ref in reference_points:
        bearing, distance = inverse(ref["lon"], ref["lat"], *position)
        if not best or distance < best["distance_m"]:
            best = {"from": ref["id"], "bearing_deg": round(bearing, 4), "distance_m": round(distance, 3)}
    return {**best, "measured": True} if best else {}


def close_ring(
    points: list[dict[str, Any]], tolerance_m: float, field: str
) -> tuple[list[dict[str, Any]], list[Problem]]:
    """Drop a closing point (the first point given again at the end, by id or position) after
    checking that it does close the ring; refuse fewer than three distinct points or a repeat."""
    problems: list[Problem] = []
    if len(points) >= 2 and points[-1]["id"] == points[0]["id"]:
        _, apart = inverse(points[0]["lon"], points[0]["lat"], points[-1]["lon"], points[-1]["lat"])
        if apart > tolerance_m:
            problems.append(
                Problem(
                    field,
                    f"the perimeter does not close: {points[0]['id']!r} is placed {apart:.2f} m apart at its "
                    f"start and at its end (tolerance {tolerance_m:g} m)",
                )
            )
        points = points[:-1]
    elif len(points) >= 2:
        _, apart = inverse(points[0]["lon"], points[0]["lat"], points[-1]["lon"], points[-1]["lat"])
        if apart <= SAME_POINT_M:
            points = points[:-1]
    ids = [p["id"] for p in points]
    for index, point in enumerate(points):
        if ids.index(point["id"]) != index:
            problems.append(Problem(f"{field}[{index}].id", f"turning point {point['id']!r} is given twice"))
    for i in range(len(points)):
        for j in range(i + 1, len(points)):
            _, apart = inverse(points[i]["lon"], points[i]["lat"], points[j]["lon"], points[j]["lat"])
            if apart <= SAME_POINT_M:
                problems.append(
                    Problem(
                        f"{field}[{j}]", f"turning points {ids[i]!r} and {ids[j]!r} are at the same place"
                    )
                )
    if len(points) < 3:
        problems.append(
            Problem(field, f"a perimeter needs at least three turning points; {len(points)} given")
        )
    return points, problems


def ring_problems(points: Sequence[Mapping[str, Any]], field: str) -> list[Problem]:
    """Edges of the ring that cross each other, named by their turning points."""
    n = len(points)
    edges = [
        shapely.LineString(
            [(points[i]["lon"], points[i]["lat"]), (points[(i + 1) % n]["lon"], points[(i + 1) % n]["lat"])]
        )
        for i in range(n)
    ]
    problems = []
    for i in range(n):
        for j in range(i + 1, n):
            if j == i + 1 or (i == 0 and j == n - 1):
                continue  # neighbours share a turning point
            if edges[i].intersects(edges[j]):
                at = edges[i].intersection(edges[j]).representative_point()
                problems.append(
                    Problem(
                        field,
                        f"the perimeter self-intersects: edge {points[i]['id']}→{points[(i + 1) % n]['id']} "
                        f"crosses edge {points[j]['id']}→{points[(j + 1) % n]['id']} near "
                        f"({at.x:.6f}, {at.y:.6f})",
                    )
                )
    return problems


def polygon_points(coordinates: Any) -> tuple[list[dict[str, Any]], list[Problem]]:
    """The vertices of a GeoJSON Polygon's coordinates as turning points ``P1``, ``P2`` …; its ring
    must close (first position repeated last) and it must have no holes."""
    problems: list[Problem] = []
    if not isinstance(coordinates, list) or len(coordinates) != 1:
        rings = len(coordinates) if isinstance(coordinates, list) else 0
        return [], [
            Problem("perimeter.coordinates", f"a perimeter is one ring without holes ({rings} rings given)")
        ]
    ring = coordinates[0]
    try:
        positions = [(float(p[0]), float(p[1])) for p in ring]
    except (TypeError, ValueError, IndexError):
        return [], [Problem("perimeter.coordinates", "each position is [longitude, latitude]")]
    if len(positions) < 2 or positions[0] != positions[-1]:
        first, last = (positions[0], positions[-1]) if positions else ((), ())
        problems.append(
            Problem(
                "perimeter.coordinates",
                f"the perimeter's ring does not close: it starts at {first} and ends at {last} "
                "(repeat the first position at the end)",
            )
        )
        return [], problems
    points = [{"id": f"P{i + 1}", "lon": lon, "lat": lat} for i, (lon, lat) in enumerate(positions)]
    return points, problems


def build_perimeter(
    reference_points: Sequence[Mapping[str, Any]],
    turning_points: Sequence[Mapping[str, Any]],
    polygon_coordinates: Any | None,
    *,
    tolerance_m: float = DEFAULT_TOLERANCE_M,
) -> tuple[Perimeter | None, list[Problem]]:
    """The perimeter, or ``None`` and every problem found (each naming its field)."""
    problems = check_reference_points(reference_points)
    if not turning_points and polygon_coordinates is None:
        return None, [
            *problems,
            Problem("turning_points", "give the perimeter: turning_points, or a perimeter polygon"),
        ]
    placed: list[dict[str, Any]] = []
    source = ""
    if turning_points:
        placed, found = place_turning_points(reference_points, turning_points, tolerance_m)
        problems += found
        if found:
            return None, problems
        placed, found = close_ring(placed, tolerance_m, "turning_points")
        problems += found
        kinds = {"bearings" if "measured" not in p else "coordinates" for p in placed}
        source = (
            "bearings" if kinds == {"bearings"} else "coordinates" if kinds == {"coordinates"} else "mixed"
        )
    given: list[dict[str, Any]] = []
    if polygon_coordinates is not None:
        given, found = polygon_points(polygon_coordinates)
        problems += found
        if given:
            given, found = close_ring(given, tolerance_m, "perimeter.coordinates")
            problems += found
    if problems:
        return None, problems
    ring = placed or [{**p, **_measured_from(reference_points, (p["lon"], p["lat"]))} for p in given]
    field = "turning_points" if placed else "perimeter"
    problems += ring_problems(ring, field)
    polygon = shapely.Polygon([(p["lon"], p["lat"]) for p in ring])
    found_geom = check_geometry(polygon, frozenset({"Polygon"}))
    if not problems and found_geom is not None:
        problems.append(Problem(field, f"{found_geom.message} (lon, lat in EPSG:4326)"))
    if problems:
        return None, problems
    disagreement = None
    if placed and given:
        disagreement, at = outline_distance_m(polygon, shapely.Polygon([(p["lon"], p["lat"]) for p in given]))
        if disagreement > tolerance_m:
            return None, [
                Problem(
                    "perimeter",
                    f"the perimeter polygon and the turning points disagree by up to {disagreement:.2f} m "
                    f"near ({at[0]:.6f}, {at[1]:.6f}) (tolerance {tolerance_m:g} m)",
                )
            ]
        source += "+polygon"
    if not placed:
        source = "polygon"
    return Perimeter(shapely.orient_polygons(polygon), ring, source, disagreement), []


def outline_distance_m(a: shapely.Polygon, b: shapely.Polygon) -> tuple[float, tuple[float, float]]:
    """The largest distance between the two outlines (Hausdorff, metres, densified to 0.5 m), and
    a lon/lat near where it is reached."""
    centre = a.centroid
    transformer = local_transformer(centre.x, centre.y)
    la, lb = (shapely.segmentize(to_local(g.exterior, transformer), 0.5) for g in (a, b))
    worst, where = 0.0, (centre.x, centre.y)
    for one, other in ((la, lb), (lb, la)):
        coords = shapely.get_coordinates(one)
        dist = shapely.distance(shapely.points(coords), other)
        i = int(np.argmax(dist))
        if dist[i] > worst:
            worst = float(dist[i])
            lon, lat = transformer.transform(coords[i, 0], coords[i, 1], direction="INVERSE")
            where = (float(lon), float(lat))
    return worst, where
