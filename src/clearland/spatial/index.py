"""The hazard index: which recorded hazards a point, route or field touches or comes near.

Two paths give the same answers. ``check`` answers one geometry exactly: candidates from an
STRtree over lon/lat envelopes grown by a rigorous degree bound of the distance, containment by
GEOS in lon/lat, distance in an azimuthal equidistant projection centred on the query and measured
again with ``pyproj.Geod`` (see ``exact``). ``screen`` answers millions of points with a grid (see
``grid`` and ``screen``), and hands the few points it cannot take (beyond 80° of latitude, or whose
reach wraps the antimeridian) to ``check``.

The threshold is ``decision_m(within_m)``: ``within_m`` plus the promised tolerance (0.5 % or
0.5 m, whichever is larger), so a hazard that is in fact within ``within_m`` is never reported as
``no_record``; one a little beyond it may be reported ``near`` with its true distance.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

import numpy as np
import shapely

from .exact import expand, nearest_pair
from .geodesy import FRAME_LAT_LIMIT, decision_m
from .grid import CELL_DEG, Grid, build_grid, edge_arrays, split_pieces
from .screen import STATUS_INSIDE, STATUS_NEAR, Plan, ScreenResult, screen_grid

__all__ = ["HazardIndex", "Hit", "IndexedHazard", "ScreenResult", "screen_parallel"]


@dataclass(frozen=True)
class IndexedHazard:
    ref: str
    category: str
    status: str
    marking: str | None
    geometry: shapely.Geometry  # EPSG:4326 lon/lat; Polygon/MultiPolygon, Point/MultiPoint for an indication


@dataclass(frozen=True)
class Hit:
    ref: str
    inside: bool  # the query geometry intersects the hazard (boundary included)
    distance_m: float  # 0.0 when inside; else the geodesic distance on WGS84, metres
    bearing_deg: float | None  # from the query's nearest point to the hazard's, degrees true; None inside


class HazardIndex:
    """Built once from the hazards to check against (the caller leaves out released land and
    closed hazards); read-only afterwards, so threads and forked processes may share it.
    Geometries must be valid (as the registry stores them): containment follows the crossing
    rule, which is GEOS's for valid polygons. ``cell_deg`` is the grid's cell height in degrees
    of latitude (made larger where the extent would need more than 2^24 cells)."""

    def __init__(self, hazards: Sequence[IndexedHazard], *, cell_deg: float = CELL_DEG) -> None:
        started = time.perf_counter()
        self._hazards = list(hazards)
        self._by_ref = {h.ref: h for h in self._hazards}
        self._position = {h.ref: i for i, h in enumerate(self._hazards)}
        self._geoms = np.array([h.geometry for h in self._hazards], dtype=object)
        self._tree = shapely.STRtree(self._geoms)
        self._pieces, self._piece_hazard = split_pieces(self._geoms)
        self._edges = edge_arrays(self._pieces)
        self._cell_deg = cell_deg
        self._grids: dict[float, Grid] = {}
        self._plans: dict[float, Plan] = {}
        self._lock = threading.Lock()
        if len(self._edges.start):
            self._grids[cell_deg] = build_grid(self._edges, cell_deg)
        self.build_seconds = time.perf_counter() - started

    def __len__(self) -> int:
        return len(self._hazards)

    def hazard(self, ref: str) -> IndexedHazard:
        return self._by_ref[ref]

    @property
    def hazards(self) -> list[IndexedHazard]:
        return list(self._hazards)

    def check(self, geom: shapely.Geometry, within_m: float) -> list[Hit]:
        """Every hazard that ``geom`` intersects or comes within ``within_m`` of: inside first,
        then by distance."""
        if not len(self._hazards) or geom.is_empty:
            return []
        cutoff = decision_m(within_m)
        hits: dict[int, Hit] = {}
        for i, shift in self._candidates(geom, cutoff):
            hazard = self._geoms[i]
            if shift == 0 and shapely.intersects(hazard, geom):
                hits[i] = Hit(self._hazards[i].ref, True, 0.0, None)
                continue
            if i in hits and hits[i].inside:
                continue
            moved = (
                hazard
                if shift == 0
                else shapely.transform(hazard, lambda xy, s=shift: xy + np.array([s, 0.0]))
            )
            found = nearest_pair(geom, moved, cutoff)
            if found is None or found[0] > cutoff:
                continue
            if i not in hits or found[0] < hits[i].distance_m:
                hits[i] = Hit(self._hazards[i].ref, False, found[0], found[1])
        return sorted(hits.values(), key=lambda h: (not h.inside, h.distance_m, h.ref))

    def _candidates(self, geom: shapely.Geometry, cutoff_m: float) -> list[tuple[int, float]]:
        """(hazard index, longitude shift) of every hazard whose envelope is within reach; the
        shift (±360) carries a hazard across the antimeridian to the query's side."""
        x0, y0, x1, y1 = expand(geom.bounds, cutoff_m)
        boxes = [(x0, x1, 0.0)]
        if x1 > 180:
            boxes.append((x0 - 360, x1 - 360, 360.0))
        if x0 < -180:
            boxes.append((x0 + 360, x1 + 360, -360.0))
        found: list[tuple[int, float]] = []
        for bx0, bx1, shift in boxes:
            box = shapely.box(max(bx0, -180.0), y0, min(bx1, 180.0), y1)
            found.extend((int(i), shift) for i in self._tree.query(box))
        return found

    def screen(self, lon: np.ndarray, lat: np.ndarray, within_m: float) -> ScreenResult:
        """Per point: status (0 no_record, 1 near, 2 inside), the index of the nearest hazard hit
        (for inside, one that holds the point) and the distance in metres (0 inside, NaN none).
        Coordinates must be finite lon/lat degrees."""
        lon = np.asarray(lon, dtype=np.float64)
        lat = np.asarray(lat, dtype=np.float64)
        if not self._grids:
            return ScreenResult.empty(len(lon))
        plan = self.plan(within_m)
        result, exact = screen_grid(
            plan, self._edges, self._pieces, self._piece_hazard, lon, lat, FRAME_LAT_LIMIT
        )
        for i in exact:
            hits = self.check(shapely.Point(lon[i], lat[i]), within_m)
            if hits:
                first = hits[0]
                result.status[i] = STATUS_INSIDE if first.inside else STATUS_NEAR
                result.nearest[i] = self._position[first.ref]
                result.distance_m[i] = first.distance_m
        return result

    def plan(self, within_m: float) -> Plan:
        """The grid and neighbourhood for ``within_m``, made once per threshold. A threshold much
        larger than the base cells gets a coarser grid, so a neighbourhood stays a few cells."""
        with self._lock:
            if within_m in self._plans:
                return self._plans[within_m]
            cell_deg = self._cell_deg
            plan = Plan.make(self._grids[cell_deg], within_m, FRAME_LAT_LIMIT)
            while plan.ky > 2:
                cell_deg *= 2 ** max(1, int(np.floor(np.log2(plan.ky / 2))))
                if cell_deg not in self._grids:
                    self._grids[cell_deg] = build_grid(self._edges, cell_deg)
                plan = Plan.make(self._grids[cell_deg], within_m, FRAME_LAT_LIMIT)
            self._plans[within_m] = plan
            return plan


# the index a forked worker screens with: set before the pool forks, inherited by the children
_FORKED: HazardIndex | None = None


def _screen_forked(lon: np.ndarray, lat: np.ndarray, within_m: float) -> ScreenResult:
    assert _FORKED is not None
    return _FORKED.screen(lon, lat, within_m)


def screen_parallel(
    index: HazardIndex,
    lon: np.ndarray,
    lat: np.ndarray,
    within_m: float,
    workers: int | None = None,
    *,
    method: Literal["threads", "fork"] = "threads",
) -> ScreenResult:
    """``index.screen`` over all cores for one large chunk: the same answers.

    ``threads`` shares the index in memory (GEOS and the large numpy operations release the
    GIL); ``fork`` starts a process pool that inherits the index copy-on-write and returns each
    part's arrays. On the two-core development machine threads are the faster (see the bench)."""
    workers = workers or os.cpu_count() or 1
    lon = np.asarray(lon, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    if workers <= 1 or len(lon) < 20_000:
        return index.screen(lon, lat, within_m)
    index.plan(within_m)  # made once, before the workers share it
    bounds = np.linspace(0, len(lon), 4 * workers + 1).astype(int)
    parts = [(lon[a:b], lat[a:b]) for a, b in itertools.pairwise(bounds)]
    if method == "fork":
        global _FORKED
        _FORKED = index
        try:
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                results = pool.starmap(_screen_forked, [(x, y, within_m) for x, y in parts])
        finally:
            _FORKED = None
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(lambda p: index.screen(p[0], p[1], within_m), parts))
    return ScreenResult.concat(results)
