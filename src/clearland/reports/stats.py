"""Area totals for land release reporting (DOMAIN.md, "Land release accounting").

Every total gives both the *sum of recorded areas* (each geometry measured on its own) and the
*net area* (the union, overlaps counted once). Geometry is EPSG:4326 (lon, lat); areas are geodesic
on the WGS84 ellipsoid, in m². Unions are built in lon/lat, which is exact for topology; the
result is then measured on the ellipsoid. Geometries crossing the antimeridian are not supported.

Input that is not a valid polygon is measured after the same repair the importer uses
(``domain.geometry.repair``); points and lines count as items but have no area.

``as_areal``, ``areas_m2``, ``intersecting_pairs`` and ``union_area_m2`` are shared with
``reports.quality`` and are not part of the public API.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import shapely

from clearland.domain.geometry import WGS84, geodesic_areas_m2, repair

#: group key for items whose key is None
NO_KEY = "(none)"
#: group for the parts of hazards that lie in no admin area
OUTSIDE_ADMIN_AREAS = "(outside admin areas)"
#: longest edge (m) of a hazard before it is cut by admin boundaries; see _densify_geodesic
_DENSIFY_M = 10.0
#: pieces smaller than this (m²) are rounding noise from overlaying nearly coincident edges:
#: their area is still added, but they do not make a hazard count in an admin area
MIN_PIECE_M2 = 0.01

_POLYGONAL_TYPE_IDS = (3, 6)  # Polygon, MultiPolygon

__all__ = [
    "NO_KEY",
    "OUTSIDE_ADMIN_AREAS",
    "totals",
    "totals_by",
    "totals_by_admin_area",
    "totals_measured",
]


def totals(geoms: Sequence[shapely.Geometry | None]) -> dict[str, Any]:
    """``{"count", "area_m2_sum", "area_m2_net"}`` of ``geoms``; the net area counts overlaps once.
    ``count`` is the number of items given, whatever their geometry."""
    areal = as_areal(geoms)
    return _summary(len(areal), areal, areas_m2(areal))


def totals_measured(
    count: int, separate_m2: float, shared: Sequence[shapely.Geometry | None]
) -> dict[str, Any]:
    """``totals`` of ``count`` items of which those apart from all others (and valid) were
    measured already, ``separate_m2`` in all (each is its own net area), and the rest, ``shared``,
    is given to measure and union here (``storage.areas``: the database measured the first)."""
    areal = as_areal(shared)
    areas = areas_m2(areal)
    return {
        "count": int(count),
        "area_m2_sum": float(separate_m2 + areas.sum()),
        "area_m2_net": float(separate_m2 + union_area_m2(areal, areas)),
    }


def totals_by(items: Sequence[tuple[str | None, shapely.Geometry | None]]) -> dict[str, dict[str, Any]]:
    """``totals`` per group key, sorted by key; a ``None`` key is grouped as ``"(none)"``."""
    areal = as_areal([geom for _, geom in items])
    areas = areas_m2(areal)
    groups: dict[str, list[int]] = defaultdict(list)
    for i, (key, _) in enumerate(items):
        groups[NO_KEY if key is None else key].append(i)
    result = {}
    for key in sorted(groups):
        idx = np.asarray(groups[key], dtype=np.intp)
        result[key] = _summary(len(idx), areal[idx], areas[idx])
    return result


def totals_by_admin_area(
    hazards: Sequence[shapely.Geometry | None],
    admin_areas: Sequence[tuple[str, shapely.Geometry]],
) -> dict[str, dict[str, Any]]:
    """``totals`` of the part of the hazards inside each admin area, sorted by name, then
    ``"(outside admin areas)"`` for what lies in none of them, so the areas add up to the whole.

    A hazard across a boundary counts in each admin area holding at least ``MIN_PIECE_M2`` of it.
    A point (indication) counts once, in the first admin area by name that covers it. Admin areas
    sharing a name are merged; admin areas that overlap each other both report the hazard land
    they share. Null and empty hazards are left out.
    """
    originals = np.empty(len(hazards), dtype=object)
    originals[:] = list(hazards)
    areal = as_areal(originals)
    areas = areas_m2(areal)
    # a hazard with no area (point, line) is placed by its original geometry
    is_point_like = shapely.is_missing(areal) & ~shapely.is_missing(originals)
    is_point_like &= ~shapely.is_empty(originals)
    tree = shapely.STRtree(np.where(is_point_like, originals, areal))

    by_name: dict[str, list[shapely.Geometry]] = defaultdict(list)
    for name, geom in admin_areas:
        by_name[name].append(geom)
    admin = {name: _merge(by_name[name]) for name in sorted(by_name)}

    # pass 1: which hazards lie wholly inside an admin area, which cross its boundary
    inside: dict[str, np.ndarray] = {}
    crossing: dict[str, np.ndarray] = {}
    for name, area_geom in admin.items():
        if area_geom is None:
            inside[name] = crossing[name] = np.empty(0, dtype=np.intp)
            continue
        shapely.prepare(area_geom)
        inside[name] = tree.query(area_geom, predicate="contains")
        crossing[name] = np.setdiff1d(tree.query(area_geom, predicate="intersects"), inside[name])
    within_one = np.zeros(len(originals), dtype=bool)
    for idx in inside.values():
        within_one[idx] = True
    crosses = np.zeros(len(originals), dtype=bool)
    for idx in crossing.values():
        crosses[idx] = True
    # only hazards that get cut are densified (see _densify_geodesic)
    to_cut = np.flatnonzero(crosses & ~within_one & (areas > 0))
    cuttable = areal.copy()
    cuttable[to_cut] = [_densify_geodesic(g, _DENSIFY_M) for g in areal[to_cut]]
    wholly_outside = np.flatnonzero(~crosses & ~within_one & (areas > 0))

    # pass 2: measure the pieces
    placed = np.zeros(len(originals), dtype=bool)  # point-like hazards already counted
    result: dict[str, dict[str, Any]] = {}
    for name, area_geom in admin.items():
        whole, cross = inside[name], crossing[name]
        points = np.union1d(whole[is_point_like[whole]], cross[is_point_like[cross]])
        points = points[~placed[points]]
        placed[points] = True
        whole, cross = whole[~is_point_like[whole]], cross[~is_point_like[cross]]
        # an intersection may mix polygons with lines and points: keep the polygons
        cut = as_areal(shapely.intersection(cuttable[cross], area_geom))
        cut_areas = areas_m2(cut)
        count = len(whole) + int(np.count_nonzero(cut_areas >= MIN_PIECE_M2)) + len(points)
        pieces = np.concatenate([areal[whole], cut])
        result[name] = _summary(count, pieces, np.concatenate([areas[whole], cut_areas]))

    cover = [g for g in admin.values() if g is not None]
    if cover:
        union = shapely.union_all(cover)
        shapely.prepare(union)
        outside = as_areal(shapely.difference(cuttable[to_cut], union))
    else:
        outside = np.empty(0, dtype=object)
    outside = np.concatenate([outside, areal[wholly_outside]])
    outside_areas = areas_m2(outside)
    unplaced_points = int(np.count_nonzero(is_point_like & ~placed))
    if outside_areas.sum() > MIN_PIECE_M2 or unplaced_points:
        count = int(np.count_nonzero(outside_areas >= MIN_PIECE_M2)) + unplaced_points
        result[OUTSIDE_ADMIN_AREAS] = _summary(count, outside, outside_areas)
    return result


def as_areal(geoms: Sequence[shapely.Geometry | None] | np.ndarray) -> np.ndarray:
    """Each geometry as a valid Polygon or MultiPolygon, or ``None`` where it has no area (null,
    empty, point, line). Invalid or mixed input is repaired the way the importer repairs it."""
    arr = np.empty(len(geoms), dtype=object)
    arr[:] = list(geoms)
    ok = np.isin(shapely.get_type_id(arr), _POLYGONAL_TYPE_IDS) & ~shapely.is_empty(arr)
    ok &= shapely.is_valid(arr)
    for i in np.flatnonzero(~ok):
        geom = arr[i]
        fixed = None if geom is None or geom.is_empty else repair(geom)
        # non-finite coordinates (NaN, inf) have no measurable area
        finite = fixed is not None and np.isfinite(shapely.get_coordinates(fixed)).all()
        arr[i] = fixed if finite else None
    return arr


def areas_m2(geoms: np.ndarray | list[shapely.Geometry | None]) -> np.ndarray:
    """``geodesic_areas_m2`` of an array of geometries (m²; 0 where there is no area)."""
    return geodesic_areas_m2(cast("Sequence[shapely.Geometry | None]", geoms))


def intersecting_pairs(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs ``(i, j)``, ``i < j``, of geometries that intersect (one STRtree query)."""
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    keep = left < right
    return left[keep], right[keep]


def union_area_m2(geoms: np.ndarray, areas: np.ndarray) -> float:
    """Geodesic area of the union of ``geoms`` (valid polygonal or None; ``areas`` their own
    geodesic areas). Only geometries that intersect another are unioned, one cluster at a time:
    on 100,000 mostly disjoint polygons this takes ~2 s where a single ``union_all`` takes ~25 s.
    """
    has_area = np.flatnonzero(areas > 0)
    if len(has_area) == 0:
        return 0.0
    geoms, areas = geoms[has_area], areas[has_area]
    left, right = intersecting_pairs(geoms)
    labels = _components(len(geoms), left, right)
    sizes = np.bincount(labels)
    alone = sizes[labels] == 1
    net = float(areas[alone].sum())
    clustered = np.flatnonzero(~alone)
    if len(clustered) == 0:
        return net
    clustered = clustered[np.argsort(labels[clustered], kind="stable")]
    starts = np.flatnonzero(np.diff(labels[clustered])) + 1
    clusters = np.split(clustered, starts)
    # unions are computed in lon/lat; densified members keep their geodesic areas (see
    # _densify_geodesic), so the union of touching polygons never measures more than their sum
    dense = geoms.copy()
    dense[clustered] = [_densify_geodesic(g, _DENSIFY_M) for g in geoms[clustered]]
    geoms = dense
    pairs = [c for c in clusters if len(c) == 2]
    larger = [c for c in clusters if len(c) > 2]
    unions = []
    if pairs:  # the common case, done in one vectorised call
        ab = np.asarray(pairs)
        unions.extend(shapely.union(geoms[ab[:, 0]], geoms[ab[:, 1]]))
    unions.extend(shapely.union_all(geoms[c]) for c in larger)
    return net + float(areas_m2(unions).sum())


def _components(n: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Connected-component label (smallest member index) of each of ``n`` nodes given the edges
    ``left[k]``–``right[k]``: union-find by hooking roots to the smaller root, vectorised."""
    parent = np.arange(n)
    while True:
        while True:  # point every node at its root
            grand = parent[parent]
            if np.array_equal(grand, parent):
                break
            parent = grand
        root_l, root_r = parent[left], parent[right]
        differ = root_l != root_r
        if not differ.any():
            return parent
        low = np.minimum(root_l[differ], root_r[differ])
        high = np.maximum(root_l[differ], root_r[differ])
        np.minimum.at(parent, high, low)


def _summary(count: int, areal: np.ndarray, areas: np.ndarray) -> dict[str, Any]:
    return {
        "count": int(count),
        "area_m2_sum": float(areas.sum()),
        "area_m2_net": union_area_m2(areal, areas),
    }


def _merge(geoms: list[shapely.Geometry]) -> shapely.Geometry | None:
    parts = [g for g in as_areal(geoms) if g is not None]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else shapely.union_all(parts)


def _densify_geodesic(geom: shapely.Geometry, max_edge_m: float) -> shapely.Geometry:
    """``geom`` with vertices added *on its geodesic edges* so none is longer than ``max_edge_m``.

    Areas are measured with geodesic edges, but an overlay computed in lon/lat puts the vertex
    where a boundary crosses an edge on the straight lon/lat line, which lies off the geodesic
    (by ~1 cm on a 1 km edge at 45°N). The pieces of a cut hazard then fail to add up to the
    hazard by up to ~1e-5 of its area. With 10 m edges the error is below 1e-4 m² per cut, and the
    densified hazard has exactly the geodesic area of the original.
    """
    polygons = []
    for polygon in shapely.get_parts(geom):
        rings = [_densify_ring(ring, max_edge_m) for ring in shapely.get_rings(polygon)]
        polygons.append(shapely.Polygon(rings[0], rings[1:]))
    dense = polygons[0] if len(polygons) == 1 else shapely.MultiPolygon(polygons)
    return dense if dense.is_valid else geom  # a few cm moved can only matter on degenerate input


def _densify_ring(ring: shapely.LinearRing, max_edge_m: float) -> np.ndarray:
    xy = shapely.get_coordinates(ring)
    lon, lat = xy[:-1, 0], xy[:-1, 1]
    azimuth, _, length = WGS84.inv(lon, lat, xy[1:, 0], xy[1:, 1])
    steps = np.maximum(np.ceil(length / max_edge_m), 1).astype(np.intp)
    edge = np.repeat(np.arange(len(length)), steps)
    k = np.arange(len(edge)) - np.repeat(np.cumsum(steps) - steps, steps)
    new_lon, new_lat, _ = WGS84.fwd(lon[edge], lat[edge], azimuth[edge], length[edge] * k / steps[edge])
    original = k == 0  # keep the given vertices bit for bit
    new_lon[original], new_lat[original] = lon[edge[original]], lat[edge[original]]
    return np.vstack([np.column_stack([new_lon, new_lat]), xy[-1:]])
