"""Exact distance between a query geometry and one hazard, for answers about one place.

Both are clipped to where they can be within reach of each other, their lon/lat edges densified
(GEOS draws edges straight in lon/lat; projected, such an edge bends, so it is followed by short
chords), and projected to an azimuthal equidistant projection on WGS84 centred on the query — in
which distances from the centre are geodesic distances. The nearest pair found there is measured
again with ``pyproj.Geod``: the answer is the geodesic distance between a point of the query and
a point of the hazard, so never shorter than the truth by more than a chord's sagitta (< 1 mm).
"""

from __future__ import annotations

import functools

import numpy as np
import shapely
from pyproj import Transformer

from .geodesy import geodesic_m, reach_deg

#: longest lon/lat edge kept straight before projecting: its image bends from the chord by
#: < 1 mm at any latitude (the bend shrinks with the degree of longitude towards the poles)
SEGMENT_DEG = 0.001


@functools.lru_cache(maxsize=256)
def aeqd(lon0: float, lat0: float) -> Transformer:
    """Azimuthal equidistant projection on WGS84 centred at (lon0, lat0), metres; degrees in.
    Kept for the last few centres: a point checked against several hazards is the centre of
    each measurement, and making the projection costs more than using it (a Transformer may be
    shared between threads: pyproj gives each thread its own PROJ object)."""
    return Transformer.from_pipeline(
        "+proj=pipeline +step +proj=unitconvert +xy_in=deg +xy_out=rad "
        f"+step +proj=aeqd +lat_0={float(lat0)!r} +lon_0={float(lon0)!r} +ellps=WGS84"
    )


def project(geom: shapely.Geometry, transformer: Transformer) -> shapely.Geometry:
    dense = shapely.segmentize(geom, SEGMENT_DEG)
    return shapely.transform(dense, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1])))


def expand(bounds: tuple[float, float, float, float], reach_m: float) -> tuple[float, float, float, float]:
    """``bounds`` grown to hold every point within ``reach_m`` of them (see ``reach_deg``)."""
    x0, y0, x1, y1 = bounds
    dlon, dlat = reach_deg(reach_m, max(abs(y0), abs(y1)))
    if dlon >= 360.0:
        return -540.0, max(y0 - dlat, -90.0), 540.0, min(y1 + dlat, 90.0)
    return x0 - dlon, max(y0 - dlat, -90.0), x1 + dlon, min(y1 + dlat, 90.0)


def nearest_pair(
    query: shapely.Geometry, hazard: shapely.Geometry, reach_m: float
) -> tuple[float, float, tuple[float, float]] | None:
    """Distance in metres and bearing (degrees true) from the query's nearest point to the
    hazard's, and that hazard point (lon, lat); ``None`` when they are farther apart than
    ``reach_m``. The two must not intersect."""
    is_point = shapely.get_type_id(query) == 0
    near_query = query if is_point else shapely.clip_by_rect(query, *expand(hazard.bounds, reach_m))
    if near_query.is_empty:
        return None
    near_hazard = shapely.clip_by_rect(hazard, *expand(near_query.bounds, reach_m))
    if near_hazard.is_empty:
        return None
    if is_point:
        centre = (query.x, query.y)
    else:
        x0, y0, x1, y1 = near_query.bounds
        centre = ((x0 + x1) / 2, (y0 + y1) / 2)
    # A point is measured from the centre, exactly. For a line or an area the first pass finds
    # where the two come closest and the second re-centres there.
    for _ in range(1 if is_point else 2):
        transformer = aeqd(*centre)
        line = shapely.shortest_line(project(near_query, transformer), project(near_hazard, transformer))
        xy = shapely.get_coordinates(line)
        lon, lat = transformer.transform(xy[:, 0], xy[:, 1], direction="INVERSE")
        centre = (float(lon[0]), float(lat[0]))
    if is_point:
        lon[0], lat[0] = query.x, query.y
    distance, azimuth = geodesic_m(lon[:1], lat[:1], lon[1:], lat[1:])
    if distance[0] > reach_m:
        return None
    return float(distance[0]), float(azimuth[0]), (float(lon[1]), float(lat[1]))
