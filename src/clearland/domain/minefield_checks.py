"""What a minefield record is compared with once recorded: a log of items (counts, positions
outside the perimeter, a perimeter for marking around them all) and the signs along its perimeter.

Coordinates are EPSG:4326 (lon, lat); distances are metres on the WGS84 ellipsoid (``pyproj.Geod``)
or, for how far an item lies outside, in the record's local azimuthal equidistant projection.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely

from clearland.domain.geometry import WGS84
from clearland.domain.minefield import local_transformer, to_local

# ---------------------------------------------------------------------------------------------
# Item logs and the perimeter for marking


@dataclass(frozen=True)
class ItemCheck:
    """A log of items compared with a record."""

    categories: dict[str, dict[str, int]]  # category → recorded, logged, missing, extra
    outside: list[dict[str, Any]]  # id, lon, lat, category, distance_m outside the perimeter
    unrecorded_ids: list[str]  # in the log, not among the record's item positions
    unlogged_ids: list[str]  # among the record's item positions, not in the log
    marking_perimeter: shapely.Polygon | None = None
    margin_m: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def matches(self) -> bool:
        counts_ok = all(c["missing"] == 0 and c["extra"] == 0 for c in self.categories.values())
        return counts_ok and not self.outside and not self.unrecorded_ids and not self.unlogged_ids


def check_items(
    perimeter: shapely.Polygon,
    mines: Sequence[Mapping[str, Any]],
    recorded_items: Sequence[Mapping[str, Any]],
    logged: Sequence[Mapping[str, Any]],
    *,
    margin_m: float,
) -> ItemCheck:
    """Counts per category (recorded quantity against items logged), items outside the perimeter
    (with how far), ids in one list and not the other; and when any item lies outside, a
    perimeter for marking that encloses the record and every item with ``margin_m`` to spare."""
    recorded: dict[str, int] = {}
    for mine in mines:
        recorded[mine["category"]] = recorded.get(mine["category"], 0) + int(mine["quantity"])
    counted: dict[str, int] = {}
    for item in logged:
        counted[item["category"]] = counted.get(item["category"], 0) + 1
    categories = {
        cat: {
            "recorded": recorded.get(cat, 0),
            "logged": counted.get(cat, 0),
            "missing": max(recorded.get(cat, 0) - counted.get(cat, 0), 0),
            "extra": max(counted.get(cat, 0) - recorded.get(cat, 0), 0),
        }
        for cat in sorted(set(recorded) | set(counted))
    }
    centre = perimeter.centroid
    transformer = local_transformer(centre.x, centre.y)
    local_outline = to_local(perimeter, transformer)
    outside = []
    for item in logged:
        point = shapely.Point(item["lon"], item["lat"])
        if perimeter.covers(point):
            continue
        distance = float(local_outline.distance(to_local(point, transformer)))
        outside.append({**item, "distance_m": round(distance, 2)})
    logged_ids = {str(i["id"]) for i in logged}
    record_ids = {str(i["id"]) for i in recorded_items if i.get("id") is not None}
    marking = None
    if outside:
        marking = enclosing_perimeter(perimeter, [(i["lon"], i["lat"]) for i in outside], margin_m)
    return ItemCheck(
        categories=categories,
        outside=outside,
        unrecorded_ids=sorted(logged_ids - record_ids) if record_ids else [],
        unlogged_ids=sorted(record_ids - logged_ids),
        marking_perimeter=marking,
        margin_m=margin_m,
    )


def enclosing_perimeter(
    perimeter: shapely.Polygon, points: Sequence[tuple[float, float]], margin_m: float, *, sides: int = 72
) -> shapely.Polygon:
    """A perimeter for warning signs or fencing around all known items: the convex hull of the
    record's perimeter and ``points``, grown by ``margin_m`` on the ellipsoid. Each corner of the
    hull is ringed by ``sides`` points placed by the geodesic forward problem at
    ``margin_m / cos(π / sides)``, so the chords between them stay at least ``margin_m`` away."""
    hull = shapely.convex_hull(shapely.MultiPoint([*perimeter.exterior.coords, *points]))
    corners = shapely.get_coordinates(hull)
    radius = margin_m / math.cos(math.pi / sides)
    azimuths = np.linspace(0.0, 360.0, sides, endpoint=False)
    lons = np.repeat(corners[:, 0], sides)
    lats = np.repeat(corners[:, 1], sides)
    az = np.tile(azimuths, len(corners))
    out_lon, out_lat, _ = WGS84.fwd(lons, lats, az, np.full(len(az), radius))
    grown = shapely.convex_hull(shapely.MultiPoint(np.column_stack([out_lon, out_lat])))
    return shapely.orient_polygons(grown)


# ---------------------------------------------------------------------------------------------
# Signs along the perimeter


def sample_ring(polygon: shapely.Polygon, step_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Points along the exterior ring at most ``step_m`` apart, each edge followed as a geodesic
    from its first turning point, and the distance of each from the start (metres). The last
    point is the first again."""
    coords = np.asarray(polygon.exterior.coords)
    lons, lats, along = [], [], []
    total = 0.0
    for (lon1, lat1), (lon2, lat2) in itertools.pairwise(coords):
        az, _, dist = WGS84.inv(lon1, lat1, lon2, lat2)
        n = max(math.ceil(dist / step_m), 1)
        steps = np.linspace(0.0, dist, n + 1)[:-1]
        plon, plat, _ = WGS84.fwd(np.full(n, lon1), np.full(n, lat1), np.full(n, az), steps)
        lons.append(plon)
        lats.append(plat)
        along.append(total + steps)
        total += float(dist)
    lons.append(np.array([coords[0][0]]))
    lats.append(np.array([coords[0][1]]))
    along.append(np.array([total]))
    return np.column_stack([np.concatenate(lons), np.concatenate(lats)]), np.concatenate(along)


def sign_gaps(
    polygon: shapely.Polygon, signs: Sequence[tuple[float, float]], max_gap_m: float = 50.0
) -> list[dict[str, Any]]:
    """Stretches of the perimeter with no sign within ``max_gap_m`` metres (geodesic): where a
    person could walk in without seeing a warning. Each: start and end (lon, lat), length in
    metres. Positions are found to ``step`` metres (1 m, or max_gap / 20 when smaller)."""
    step = min(1.0, max_gap_m / 20.0)
    points, along = sample_ring(polygon, step)
    covered = np.zeros(len(points), dtype=bool)
    for lon, lat in signs:
        _, _, dist = WGS84.inv(
            points[:, 0], points[:, 1], np.full(len(points), lon), np.full(len(points), lat)
        )
        covered |= np.asarray(dist) <= max_gap_m + 1e-3  # signs exactly 2·max_gap apart leave no gap
    open_ = ~covered[:-1]  # the last sample repeats the first
    n = len(open_)
    if not open_.any():
        return []
    perimeter_m = float(along[-1])
    if open_.all():
        lon, lat = points[0]
        return [
            {
                "start": [float(lon), float(lat)],
                "end": [float(lon), float(lat)],
                "length_m": round(perimeter_m, 1),
                "whole_perimeter": True,
            }
        ]
    start = int(np.argmin(open_))  # a covered sample: runs are read from there, around the ring
    gaps = []
    i = 0
    while i < n:
        k = (start + i) % n
        if not open_[k]:
            i += 1
            continue
        first = k
        while i < n and open_[(start + i) % n]:
            i += 1
        last = (start + i - 1) % n
        length = (along[last] - along[first]) % perimeter_m + step  # to within one step
        gaps.append(
            {
                "start": [float(points[first, 0]), float(points[first, 1])],
                "end": [float(points[last, 0]), float(points[last, 1])],
                "length_m": round(min(float(length), perimeter_m), 1),
                "whole_perimeter": False,
            }
        )
    return gaps
