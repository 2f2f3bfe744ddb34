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

import hashlib
import os
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

import numpy as np
import shapely

from clearland.domain.geometry import WGS84, geodesic_areas_m2, repair

#: group key for items whose key is None
NO_KEY = "(none)"
#: group for the parts of hazards that lie in no admin area
OUTSIDE_ADMIN_AREAS = "(outside admin areas)"
#: longest edge (m) of a hazard before it is cut by admin boundaries; see densify_geodesic
_DENSIFY_M = 10.0
#: geometries densified in one pass (each adds its arrays of new points and edges)
_DENSIFY_CHUNK = 2048
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


def totals(geoms: Sequence[shapely.Geometry | None], memo: dict[bytes, Any] | None = None) -> dict[str, Any]:
    """``{"count", "area_m2_sum", "area_m2_net"}`` of ``geoms``; the net area counts overlaps once.
    ``count`` is the number of items given, whatever their geometry. ``memo``: see
    ``union_area_m2`` (one dict for the totals of one registry state)."""
    if memo is None:
        areal = as_areal(geoms)
        return _summary(len(areal), areal, areas_m2(areal))
    # the same geometries in the same order (what remains of a registry where nothing is
    # closed or released yet): the same totals, without measuring them again
    given = np.empty(len(geoms), dtype=object)
    given[:] = list(geoms)
    key = b"totals:" + _digest(shapely.to_wkb(given))
    if key not in memo:
        areal = as_areal(given)
        figures = _summary(len(areal), areal, areas_m2(areal), memo)
        memo[key] = (figures["area_m2_sum"], figures["area_m2_net"])
    area_sum, area_net = memo[key]
    return {"count": len(given), "area_m2_sum": area_sum, "area_m2_net": area_net}


def totals_measured(
    count: int,
    separate_m2: float,
    shared: Sequence[shapely.Geometry | None],
    memo: dict[bytes, Any] | None = None,
) -> dict[str, Any]:
    """``totals`` of ``count`` items of which those apart from all others (and valid) were
    measured already, ``separate_m2`` in all (each is its own net area), and the rest, ``shared``,
    is given to measure and union here (``storage.areas``: the database measured the first)."""
    areal = as_areal(shared)
    areas = areas_m2(areal)
    return {
        "count": int(count),
        "area_m2_sum": float(separate_m2 + areas.sum()),
        "area_m2_net": float(separate_m2 + union_area_m2(areal, areas, memo)),
    }


def totals_by(
    items: Sequence[tuple[str | None, shapely.Geometry | None]], memo: dict[bytes, Any] | None = None
) -> dict[str, dict[str, Any]]:
    """``totals`` per group key, sorted by key; a ``None`` key is grouped as ``"(none)"``."""
    areal = as_areal([geom for _, geom in items])
    areas = areas_m2(areal)
    groups: dict[str, list[int]] = defaultdict(list)
    for i, (key, _) in enumerate(items):
        groups[NO_KEY if key is None else key].append(i)
    result = {}
    for key in sorted(groups):
        idx = np.asarray(groups[key], dtype=np.intp)
        result[key] = _summary(len(idx), areal[idx], areas[idx], memo)
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
    # only hazards that get cut are densified (see densify_geodesic)
    to_cut = np.flatnonzero(crosses & ~within_one & (areas > 0))
    cuttable = areal.copy()
    cuttable[to_cut] = densify_geodesic(areal[to_cut], _DENSIFY_M)
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


def union_area_m2(geoms: np.ndarray, areas: np.ndarray, memo: dict[bytes, Any] | None = None) -> float:
    """Geodesic area of the union of ``geoms`` (valid polygonal or None; ``areas`` their own
    geodesic areas). Only geometries that intersect another are unioned, one cluster at a time:
    on 100,000 mostly disjoint polygons this takes ~2 s where a single ``union_all`` takes ~25 s.

    ``memo``: the net area of clusters already measured, by the digest of their members' WKB in
    order (the same members in the same order give the same union, to the last bit). Totals made
    together (a registry's areas, then what remains of them) share it, so a cluster that the
    second meets unchanged is not unioned again.
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
    # each cluster's net area, from ``memo`` or measured here; summed in cluster order, so
    # totals that meet the same clusters give the same figure to the last bit
    cluster_m2 = np.full(len(clusters), np.nan)
    keys: list[bytes] = []
    if memo is not None:
        wkbs = shapely.to_wkb(geoms[clustered])
        ends = np.cumsum([len(c) for c in clusters])
        keys = [_digest(wkbs[end - len(c) : end]) for c, end in zip(clusters, ends, strict=True)]
        cluster_m2[:] = [memo.get(key, np.nan) for key in keys]
    todo = np.flatnonzero(np.isnan(cluster_m2))
    if len(todo):
        cluster_m2[todo] = _cluster_areas([clusters[k] for k in todo], geoms)
        if memo is not None:
            memo.update(zip([keys[k] for k in todo], cluster_m2[todo].tolist(), strict=True))
    return net + float(cluster_m2.sum())


def _digest(wkbs: np.ndarray) -> bytes:
    """One digest of these geometries' WKB, in order (None has its own mark)."""
    digest = hashlib.sha256()
    for wkb in wkbs.tolist():
        digest.update(b"\x00" if wkb is None else len(wkb).to_bytes(8, "little") + wkb)
    return digest.digest()


def _cluster_areas(clusters: list[np.ndarray], geoms: np.ndarray) -> np.ndarray:
    """The geodesic area of the union of each cluster (indexes into ``geoms``)."""
    # unions are computed in lon/lat; densified members keep their geodesic areas (see
    # densify_geodesic), so the union of touching polygons never measures more than their sum
    members = np.concatenate(clusters)
    dense = geoms.copy()
    dense[members] = densify_geodesic(geoms[members], _DENSIFY_M)
    pairs = [k for k, c in enumerate(clusters) if len(c) == 2]
    unions = np.empty(len(clusters), dtype=object)
    if pairs:  # the common case, done in one vectorised call
        ab = np.asarray([clusters[k] for k in pairs])
        unions[pairs] = shapely.union(dense[ab[:, 0]], dense[ab[:, 1]])
    larger = sorted((k for k, c in enumerate(clusters) if len(c) > 2), key=lambda k: -len(clusters[k]))
    # GEOS lets go of the GIL while it unions: the clusters share the cores, largest first
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        for k, union in zip(
            larger, pool.map(lambda k: shapely.union_all(dense[clusters[k]]), larger), strict=True
        ):
            unions[k] = union
    return areas_m2(unions)


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


def _summary(
    count: int, areal: np.ndarray, areas: np.ndarray, memo: dict[bytes, Any] | None = None
) -> dict[str, Any]:
    return {
        "count": int(count),
        "area_m2_sum": float(areas.sum()),
        "area_m2_net": union_area_m2(areal, areas, memo),
    }


def _merge(geoms: list[shapely.Geometry]) -> shapely.Geometry | None:
    parts = [g for g in as_areal(geoms) if g is not None]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else shapely.union_all(parts)


def densify_geodesic(geoms: np.ndarray, max_edge_m: float) -> np.ndarray:
    """Each of ``geoms`` (valid, polygonal) with vertices added *on its geodesic edges* so none
    is longer than ``max_edge_m``.

    Areas are measured with geodesic edges, but an overlay computed in lon/lat puts the vertex
    where a boundary crosses an edge on the straight lon/lat line, which lies off the geodesic
    (by ~1 cm on a 1 km edge at 45°N). The pieces of a cut hazard then fail to add up to the
    hazard by up to ~1e-5 of its area. With 10 m edges the error is below 1e-4 m² per cut, and the
    densified hazard has exactly the geodesic area of the original. The given vertices are kept
    bit for bit; a geometry that the few cm moved would make invalid (only degenerate input) is
    given back as it was. One pass over all edges of all geometries (``pyproj.Geod`` on arrays).
    """
    if len(geoms) > _DENSIFY_CHUNK:  # bounded memory: a chunk's new points at a time
        return np.concatenate(
            [
                densify_geodesic(geoms[i : i + _DENSIFY_CHUNK], max_edge_m)
                for i in range(0, len(geoms), _DENSIFY_CHUNK)
            ]
        )
    out = np.empty(len(geoms), dtype=object)
    if len(geoms) == 0:
        return out
    parts, part_owner = shapely.get_parts(geoms, return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    coords, coord_ring = shapely.get_coordinates(rings, return_index=True)
    # an edge joins two consecutive coordinates of one ring
    is_edge = coord_ring[1:] == coord_ring[:-1]
    lon, lat = coords[:-1, 0][is_edge], coords[:-1, 1][is_edge]
    azimuth, _, length = WGS84.inv(lon, lat, coords[1:, 0][is_edge], coords[1:, 1][is_edge])
    steps = np.maximum(np.ceil(length / max_edge_m), 1).astype(np.intp)
    edge = np.repeat(np.arange(len(length)), steps)
    k = np.arange(len(edge)) - np.repeat(np.cumsum(steps) - steps, steps)
    new_lon, new_lat, _ = WGS84.fwd(lon[edge], lat[edge], azimuth[edge], length[edge] * k / steps[edge])
    original = k == 0  # keep the given vertices bit for bit
    new_lon[original], new_lat[original] = lon[edge[original]], lat[edge[original]]
    # each ring: its edges' points, then its closing point (its last coordinate as given)
    edge_ring = coord_ring[:-1][is_edge][edge]
    last = np.flatnonzero(np.r_[coord_ring[1:] != coord_ring[:-1], True])
    points = np.concatenate([np.column_stack([new_lon, new_lat]), coords[last]])
    owner = np.concatenate([edge_ring, coord_ring[last]])
    order = np.argsort(owner, kind="stable")  # the closing point after the ring's others
    dense_rings = shapely.linearrings(points[order], indices=owner[order])
    polygons = shapely.polygons(dense_rings, indices=ring_part)
    counts = np.bincount(part_owner, minlength=len(geoms))
    single = counts == 1
    out[single] = polygons[np.searchsorted(part_owner, np.flatnonzero(single))]
    several = np.isin(part_owner, np.flatnonzero(counts > 1))
    if several.any():
        owners = part_owner[several]
        out[np.unique(owners)] = shapely.multipolygons(
            polygons[several], indices=np.unique(owners, return_inverse=True)[1]
        )
    broken = ~shapely.is_valid(out)
    out[broken] = geoms[broken]  # a few cm moved can only matter on degenerate input
    return out
