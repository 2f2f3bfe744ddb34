"""A plain reference for the spatial tests, independent of clearland.spatial: containment by GEOS
in lon/lat (edges are straight in lon/lat, as GEOS draws them), distance in an azimuthal
equidistant projection centred on the point — where the distance from the centre is the geodesic
distance — after densifying the lon/lat edges finely, bearing by ``pyproj.Geod``."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
from pyproj import Geod, Transformer

GEOD = Geod(ellps="WGS84")
DENSIFY_DEG = 0.0002


@dataclass(frozen=True)
class Truth:
    intersects: bool
    distance_m: float
    bearing_deg: float | None  # to the nearest point; None when intersecting


def truth(lon: float, lat: float, hazard: shapely.Geometry) -> Truth:
    point = shapely.Point(lon, lat)
    if shapely.intersects(hazard, point):
        return Truth(True, 0.0, None)
    aeqd = Transformer.from_pipeline(
        "+proj=pipeline +step +proj=unitconvert +xy_in=deg +xy_out=rad "
        f"+step +proj=aeqd +lat_0={float(lat)!r} +lon_0={float(lon)!r} +ellps=WGS84"
    )
    # only the part of the hazard near the point matters; keeps the densified copy small
    near = shapely.clip_by_rect(hazard, *_box_around(lon, lat, 20_000))
    if near.is_empty:
        return Truth(False, math.inf, None)
    dense = shapely.segmentize(near, DENSIFY_DEG)
    projected = shapely.transform(dense, lambda xy: np.column_stack(aeqd.transform(xy[:, 0], xy[:, 1])))
    line = shapely.shortest_line(shapely.Point(0, 0), projected)
    x, y = shapely.get_coordinates(line)[1]
    qlon, qlat = aeqd.transform(x, y, direction="INVERSE")
    azimuth, _, _ = GEOD.inv(lon, lat, qlon, qlat)
    return Truth(False, float(math.hypot(x, y)), float(azimuth) % 360)


def _box_around(lon: float, lat: float, metres: float) -> tuple[float, float, float, float]:
    dlat = metres / 110_000
    dlon = metres / (111_000 * max(math.cos(math.radians(min(abs(lat) + dlat, 89.999))), 1e-9))
    return lon - dlon, lat - dlat, lon + dlon, lat + dlat


def tolerance_m(distance_m: float) -> float:
    return max(0.5, 0.005 * distance_m)


def star(lon: float, lat: float, radius_m: float, n: int, seed: int) -> shapely.Polygon:
    """A star-shaped (so simple) polygon of ``n`` vertices around (lon, lat), radii ~ radius_m."""
    rng = np.random.default_rng(seed)
    angles = np.sort(rng.uniform(0, 360, n))
    radii = radius_m * rng.uniform(0.5, 1.0, n)
    xs, ys, _ = GEOD.fwd(np.full(n, lon), np.full(n, lat), angles, radii)
    polygon = shapely.Polygon(np.column_stack([xs, ys]))
    return polygon if polygon.is_valid else polygon.convex_hull


def offset(lon: float, lat: float, azimuth_deg: float, metres: float) -> tuple[float, float]:
    x, y, _ = GEOD.fwd(lon, lat, azimuth_deg, metres)
    return float(x), float(y)
