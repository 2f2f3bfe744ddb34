"""Geometry rules: what a stored geometry must be, how a bad one is repaired, and geodesic
measures on the WGS84 ellipsoid. Coordinates are EPSG:4326, longitude first."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from pyproj import Geod

WGS84 = Geod(ellps="WGS84")


@dataclass(frozen=True)
class GeometryProblem:
    code: str  # null | empty | invalid | outside_world | swapped_axes | wrong_type
    message: str
    repairable: bool = False


def check_geometry(
    geom: shapely.Geometry | None, allowed: frozenset[str]
) -> GeometryProblem | None:
    """The first rule ``geom`` breaks, or ``None``. Order matters: a null geometry has no type."""
    if geom is None:
        return GeometryProblem("null", "geometry is null")
    if geom.is_empty:
        return GeometryProblem("empty", "geometry is empty")
    minx, miny, maxx, maxy = geom.bounds
    if not all(np.isfinite([minx, miny, maxx, maxy])):
        return GeometryProblem("outside_world", "geometry has non-finite coordinates")
    if not (minx >= -180 and maxx <= 180 and miny >= -90 and maxy <= 90):
        if minx >= -90 and maxx <= 90 and miny >= -180 and maxy <= 180:
            return GeometryProblem(
                "swapped_axes",
                f"latitude outside ±90 ({miny:g}..{maxy:g}) but would fit as longitude: "
                "likely swapped axes (lat/lon given as lon/lat)",
            )
        return GeometryProblem(
            "outside_world",
            f"coordinates outside the world (x {minx:g}..{maxx:g}, y {miny:g}..{maxy:g}): "
            "wrong CRS?",
        )
    if geom.geom_type not in allowed:
        return GeometryProblem(
            "wrong_type",
            f"geometry type {geom.geom_type} not allowed here ({', '.join(sorted(allowed))})",
        )
    if not geom.is_valid:
        return GeometryProblem(
            "invalid", f"invalid geometry: {shapely.is_valid_reason(geom)}", repairable=True
        )
    return None


def repair(geom: shapely.Geometry) -> shapely.Geometry | None:
    """Make ``geom`` valid keeping only its polygonal parts; ``None`` if nothing areal is left."""
    fixed = shapely.make_valid(geom, method="structure", keep_collapsed=False)
    parts = [p for p in shapely.get_parts(fixed) if p.geom_type in ("Polygon", "MultiPolygon")]
    polygons = [q for p in parts for q in shapely.get_parts(p) if not q.is_empty and q.area > 0]
    if not polygons:
        return None
    return polygons[0] if len(polygons) == 1 else shapely.MultiPolygon(polygons)


def find_swapped_outliers(centres: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of features that sit far from the others but would sit among them with x and y
    swapped: the usual sign of lat/lon written in lon/lat order (degrees, EPSG:4326)."""
    if len(centres) < 3:
        return []
    pts = np.asarray(centres, dtype=float)
    median = np.median(pts, axis=0)
    spread = max(float(np.median(np.hypot(*(pts - median).T))), 0.01)
    out = []
    for i, (x, y) in enumerate(pts):
        here = float(np.hypot(x - median[0], y - median[1]))
        swapped = float(np.hypot(y - median[0], x - median[1]))
        if here > max(10 * spread, 1.0) and swapped <= max(3 * spread, 0.5):
            out.append(i)
    return out


def geodesic_area_m2(geom: shapely.Geometry | None) -> float:
    """Area on the WGS84 ellipsoid in m²; 0 for points, lines and empty geometry."""
    if geom is None or geom.is_empty:
        return 0.0
    total = 0.0
    for polygon in shapely.get_parts(geom):
        if polygon.geom_type != "Polygon":
            if polygon.geom_type in ("MultiPolygon", "GeometryCollection"):
                total += geodesic_area_m2(polygon)
            continue
        total += abs(_ring_area(polygon.exterior.coords))
        for hole in polygon.interiors:
            total -= abs(_ring_area(hole.coords))
    return total


def geodesic_areas_m2(geoms: Sequence[shapely.Geometry | None]) -> np.ndarray:
    """``geodesic_area_m2`` for many geometries, with one C call per ring."""
    arr = np.asarray(geoms, dtype=object)
    out = np.zeros(len(arr))
    if len(arr) == 0:
        return out
    polys, poly_owner = shapely.get_parts(arr, return_index=True)
    is_polygon = shapely.get_type_id(polys) == 3
    polys, poly_owner = polys[is_polygon], poly_owner[is_polygon]
    rings, ring_poly = shapely.get_rings(polys, return_index=True)
    # first ring of each polygon is its exterior; the rest are holes
    first = np.ones(len(rings), dtype=bool)
    first[1:] = ring_poly[1:] != ring_poly[:-1]
    coords, coord_ring = shapely.get_coordinates(rings, return_index=True)
    bounds = np.searchsorted(coord_ring, np.arange(len(rings) + 1))
    owners = poly_owner[ring_poly]
    for i in range(len(rings)):
        ring = coords[bounds[i] : bounds[i + 1]]
        area = abs(WGS84.polygon_area_perimeter(ring[:, 0], ring[:, 1])[0])
        out[owners[i]] += area if first[i] else -area
    return out


def _ring_area(coords: Sequence[tuple[float, ...]]) -> float:
    xy = np.asarray(coords, dtype=float)
    area, _ = WGS84.polygon_area_perimeter(xy[:, 0], xy[:, 1])
    return float(area)


def geodesic_union_area_m2(geoms: Sequence[shapely.Geometry]) -> float:
    """Area of the union (overlaps counted once), m². The union is built in lon/lat, which is
    exact for topology; the area is then measured on the ellipsoid."""
    areal = [g for g in geoms if g is not None and not g.is_empty and g.area > 0]
    if not areal:
        return 0.0
    return geodesic_area_m2(shapely.union_all(areal))
