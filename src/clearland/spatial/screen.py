"""The bulk screen over a ``Grid``: array arithmetic for the points that the grid answers alone
(interior cells, cells with no edge within reach), GEOS containment and edge distances for the
points near a boundary.

Distances to candidate edges are measured in the point's local frame — metres per degree of
longitude and latitude at the point — where a lon/lat edge stays straight and lengths within a
few kilometres are right to about d·tan(φ)/2R (0.2 % for 5 km at 80°, far less below). The edge
found nearest there is measured again with ``pyproj.Geod``: the answer is a true geodesic distance
from the point to a point of the hazard's boundary.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import shapely

from .geodesy import decision_m, geodesic_m, metres_per_degree, reach_deg
from .grid import EDGE_EPS_DEG, Edges, Grid, dilate

#: refine at most this many (point, edge) pairs at once: bounds memory whatever the threshold
MAX_PAIRS = 2_000_000
STATUS_NONE, STATUS_NEAR, STATUS_INSIDE = 0, 1, 2


@dataclass
class ScreenResult:
    status: np.ndarray  # int8: 0 no_record, 1 near, 2 inside
    nearest: np.ndarray  # int64 index into the hazards given; -1 for no_record
    distance_m: np.ndarray  # float64: 0 inside, NaN no_record

    @classmethod
    def empty(cls, n: int) -> ScreenResult:
        return cls(np.zeros(n, np.int8), np.full(n, -1, np.int64), np.full(n, np.nan))

    @classmethod
    def concat(cls, parts: list[ScreenResult]) -> ScreenResult:
        if not parts:
            return cls.empty(0)
        return cls(
            np.concatenate([p.status for p in parts]),
            np.concatenate([p.nearest for p in parts]),
            np.concatenate([p.distance_m for p in parts]),
        )


@dataclass(frozen=True)
class Plan:
    """What screening at one threshold needs: the grid, the neighbourhood in cells that holds
    every point within reach, and the cells with any edge in their neighbourhood."""

    grid: Grid
    cutoff_m: float  # decide near up to here (decision_m)
    kx: int
    ky: int
    dlon: float
    dlat: float
    wraps: bool  # reach crosses the antimeridian somewhere in the grid
    refine: np.ndarray  # bool per cell

    @classmethod
    def make(cls, grid: Grid, within_m: float, lat_limit: float) -> Plan:
        cutoff = decision_m(within_m)
        cells = grid.cells
        # points answered here have |lat| ≤ lat_limit; reach_deg adds the latitude reach itself
        max_lat = min(lat_limit, cells.max_abs_lat + cutoff / 1e5)
        dlon, dlat = reach_deg(prefilter_m(cutoff), max_lat)
        kx = int(np.ceil((dlon + 2 * EDGE_EPS_DEG) / cells.cw))
        ky = int(np.ceil((dlat + 2 * EDGE_EPS_DEG) / cells.ch))
        wraps = cells.x0 - dlon < -180 or cells.x0 + cells.ncol * cells.cw + dlon > 180
        refine = dilate(grid.touched, kx, ky).ravel()
        return cls(grid, cutoff, kx, ky, dlon, dlat, wraps, refine)


def prefilter_m(cutoff_m: float) -> float:
    """Local-frame distance beyond which an edge cannot be within ``cutoff_m`` geodesically."""
    return cutoff_m * 1.01 + 1.0


def screen_grid(
    plan: Plan,
    edges: Edges,
    pieces: np.ndarray,
    piece_hazard: np.ndarray,
    lon: np.ndarray,
    lat: np.ndarray,
    lat_limit: float,
) -> tuple[ScreenResult, np.ndarray]:
    """Answers for every point the grid can take, and the indices of the points left to the
    exact path (beyond ``lat_limit``, or whose reach wraps across the antimeridian)."""
    n = len(lon)
    result = ScreenResult.empty(n)
    grid, cells = plan.grid, plan.grid.cells
    exact = np.abs(lat) > lat_limit
    if plan.wraps:
        exact |= (lon - plan.dlon < -180) | (lon + plan.dlon > 180)
    row, col = cells.cell_of(lon, lat)
    rc = np.clip(row, 0, cells.nrow - 1)
    cc = np.clip(col, 0, cells.ncol - 1)
    cell = rc * cells.ncol + cc
    on_grid = (row == rc) & (col == cc)
    piece = np.where(on_grid & ~exact, grid.interior[cell], -1)
    hit = np.flatnonzero(piece >= 0)
    result.status[hit] = STATUS_INSIDE
    result.nearest[hit] = piece_hazard[piece[hit]]
    result.distance_m[hit] = 0.0
    todo = (piece < 0) & ~exact & plan.refine[cell]
    todo &= (np.abs(row - rc) <= plan.ky) & (np.abs(col - cc) <= plan.kx)
    idx = np.flatnonzero(todo)
    if len(idx):
        _refine(plan, edges, pieces, piece_hazard, lon[idx], lat[idx], row[idx], col[idx], idx, result)
    return result, np.flatnonzero(exact)


def _refine(
    plan: Plan,
    edges: Edges,
    pieces: np.ndarray,
    piece_hazard: np.ndarray,
    px: np.ndarray,
    py: np.ndarray,
    row: np.ndarray,
    col: np.ndarray,
    idx: np.ndarray,
    result: ScreenResult,
) -> None:
    grid, cells = plan.grid, plan.grid.cells
    on_grid = (row >= 0) & (row < cells.nrow) & (col >= 0) & (col < cells.ncol)
    own = np.where(on_grid, row * cells.ncol + col, 0)
    inside_point, inside_piece = _contains(grid, edges, pieces, px, py, row, col, own, on_grid)
    where = idx[inside_point]
    result.status[where] = STATUS_INSIDE
    result.nearest[where] = piece_hazard[inside_piece]
    result.distance_m[where] = 0.0
    rest = np.ones(len(px), bool)
    rest[inside_point] = False
    rest_idx = np.flatnonzero(rest)
    # distance: the nearest edge among the cells within reach
    rows, cols = np.meshgrid(
        np.arange(-plan.ky, plan.ky + 1), np.arange(-plan.kx, plan.kx + 1), indexing="ij"
    )
    dr, dc = rows.ravel(), cols.ravel()
    for chunk in _batches(plan, rest_idx, px, py, row, col, dr, dc):
        _nearest_edges(plan, edges, piece_hazard, px, py, row, col, dr, dc, chunk, idx, result)


#: a point or cell centre this close (degrees) to an edge's line is left to GEOS, whose
#: predicates are exact: float crossing tests are not trusted that close
DOUBT_DEG = 1e-9


def _contains(
    grid: Grid,
    edges: Edges,
    pieces: np.ndarray,
    px: np.ndarray,
    py: np.ndarray,
    row: np.ndarray,
    col: np.ndarray,
    own: np.ndarray,
    on_grid: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The points held by a piece, and one such piece each. Only the pieces whose edges cross the
    point's own cell can hold it (the others hold the whole cell or none of it, and a cell held
    whole was answered as interior). For each, the segment from the point to the cell's centre
    crosses the piece's edges in that cell (an edge crossing it must pass through the cell) an
    odd number of times iff the point and the centre are on different sides of the boundary."""
    cells = grid.cells
    start = grid.offsets[own]
    count = np.where(on_grid, grid.offsets[own + 1] - start, 0)
    point, reg = _ranges(start, count)
    if not len(point):
        return point, point
    a = grid.cell_edges[reg]
    x, y = px[point], py[point]
    # coordinates relative to the point: (a, b) the edge, c the cell's centre
    ax, ay = edges.x[a] - x, edges.y[a] - y
    bx, by = edges.x[a + 1] - x, edges.y[a + 1] - y
    cx = cells.x0 + (col[point] + 0.5) * cells.cw - x
    cy = cells.y0 + (row[point] + 0.5) * cells.ch - y
    ex, ey = bx - ax, by - ay
    side_a = cx * ay - cy * ax > 0  # a vertex on the line counts as on one side: shared vertices agree
    side_b = cx * by - cy * bx > 0
    at_point = ex * -ay - ey * -ax  # orient(a, b, point): twice the area, so distance × |ab|
    at_centre = ex * (cy - ay) - ey * (cx - ax)
    crosses = (side_a != side_b) & ((at_point > 0) != (at_centre > 0))
    # |orient| ≤ DOUBT_DEG·(|ex| + |ey|) holds whenever the distance to the line is ≤ DOUBT_DEG
    scale = DOUBT_DEG * (np.abs(ex) + np.abs(ey) + DOUBT_DEG)
    doubt = np.zeros(len(point), bool)
    for orient, qx, qy in ((at_point, 0.0, 0.0), (at_centre, cx, cy)):
        k = np.flatnonzero(np.abs(orient) <= scale)
        qxk = qx if isinstance(qx, float) else qx[k]
        qyk = qy if isinstance(qy, float) else qy[k]
        doubt[k] |= _in_box(qxk, qyk, ax[k], ay[k], bx[k], by[k])
    run = grid.run[reg]
    first = np.flatnonzero(np.r_[True, (run[1:] != run[:-1]) | (point[1:] != point[:-1])])
    odd = np.add.reduceat(crosses.astype(np.int32), first) % 2 == 1
    unsure = np.logical_or.reduceat(doubt, first)
    run, point = run[first], point[first]
    piece = grid.run_piece[run]
    holds = odd != grid.run_centre_inside[run]
    if unsure.any():
        holds[unsure] = shapely.intersects_xy(pieces[piece[unsure]], px[point[unsure]], py[point[unsure]])
    inside_point, at = np.unique(point[holds], return_index=True)
    return inside_point, piece[holds][at]


def _in_box(
    qx: np.ndarray | float,
    qy: np.ndarray | float,
    ax: np.ndarray,
    ay: np.ndarray,
    bx: np.ndarray,
    by: np.ndarray,
) -> np.ndarray:
    """Whether q lies within DOUBT_DEG of the segment's bounding box."""
    within: np.ndarray = (
        (qx >= np.minimum(ax, bx) - DOUBT_DEG)
        & (qx <= np.maximum(ax, bx) + DOUBT_DEG)
        & (qy >= np.minimum(ay, by) - DOUBT_DEG)
        & (qy <= np.maximum(ay, by) + DOUBT_DEG)
    )
    return within


def _ranges(start: np.ndarray, count: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(owner, position) for every position in start[i] .. start[i] + count[i], owner-major."""
    total = int(count.sum())
    owner = np.repeat(np.arange(len(count)), count)
    position = np.arange(total) + np.repeat(start - (np.cumsum(count) - count), count)
    return owner, position


def _window(
    plan: Plan,
    px: np.ndarray,
    py: np.ndarray,
    row: np.ndarray,
    col: np.ndarray,
    dr: np.ndarray,
    dc: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """CSR start and count of the edges of each point's neighbour cells (point-major); a
    neighbour counts only if its nearest side is within the reach in degrees of the point."""
    cells = plan.grid.cells
    r = row[:, None] + dr[None, :]
    c = col[:, None] + dc[None, :]
    valid = (r >= 0) & (r < cells.nrow) & (c >= 0) & (c < cells.ncol)
    slack = 2 * EDGE_EPS_DEG
    x = px[:, None] - cells.x0
    y = py[:, None] - cells.y0
    gap_x = np.where(dc > 0, c * cells.cw - x, np.where(dc < 0, x - (c + 1) * cells.cw, 0.0))
    gap_y = np.where(dr > 0, r * cells.ch - y, np.where(dr < 0, y - (r + 1) * cells.ch, 0.0))
    valid &= (gap_x <= plan.dlon + slack) & (gap_y <= plan.dlat + slack)
    cell = np.where(valid, r * cells.ncol + c, 0)
    start = plan.grid.offsets[cell]
    count = np.where(valid, plan.grid.offsets[cell + 1] - start, 0)
    return start, count


def _batches(
    plan: Plan,
    rest: np.ndarray,
    px: np.ndarray,
    py: np.ndarray,
    row: np.ndarray,
    col: np.ndarray,
    dr: np.ndarray,
    dc: np.ndarray,
) -> Iterator[np.ndarray]:
    """Slices of ``rest`` whose (point, edge) pairs stay under ``MAX_PAIRS``."""
    step = max(1, MAX_PAIRS // 8)
    for lo in range(0, len(rest), step):
        part = rest[lo : lo + step]
        _, count = _window(plan, px[part], py[part], row[part], col[part], dr, dc)
        per_point = np.cumsum(count.sum(axis=1))
        begin = 0
        while begin < len(part):
            base = per_point[begin - 1] if begin else 0
            end = max(begin + 1, int(np.searchsorted(per_point, base + MAX_PAIRS, side="right")))
            yield part[begin:end]
            begin = end


def _nearest_edges(
    plan: Plan,
    edges: Edges,
    piece_hazard: np.ndarray,
    px: np.ndarray,
    py: np.ndarray,
    row: np.ndarray,
    col: np.ndarray,
    dr: np.ndarray,
    dc: np.ndarray,
    chunk: np.ndarray,
    idx: np.ndarray,
    result: ScreenResult,
) -> None:
    start, count = _window(plan, px[chunk], py[chunk], row[chunk], col[chunk], dr, dc)
    per_point = count.sum(axis=1)
    has = per_point > 0
    if not has.any():
        return
    _, reg = _ranges(start.ravel(), count.ravel())
    point = np.repeat(np.arange(len(chunk)), per_point)
    a = plan.grid.cell_edges[reg]
    x, y = px[chunk], py[chunk]
    mx, my = metres_per_degree(y)
    mxp, myp, xp, yp = mx[point], my[point], x[point], y[point]
    xa = edges.x[a]
    ya = edges.y[a]
    ex = (edges.x[a + 1] - xa) * mxp
    ey = (edges.y[a + 1] - ya) * myp
    ax = (xa - xp) * mxp
    ay = (ya - yp) * myp
    length2 = ex * ex + ey * ey
    t = np.clip(-(ax * ex + ay * ey) / np.where(length2 > 0, length2, 1.0), 0.0, 1.0)
    qx = ax + t * ex
    qy = ay + t * ey
    d2 = qx * qx + qy * qy
    groups = np.flatnonzero(has)
    starts = (np.cumsum(per_point) - per_point)[groups]
    best = np.minimum.reduceat(d2, starts)
    is_best = np.flatnonzero(d2 == np.repeat(best, per_point[groups]))
    _, first = np.unique(point[is_best], return_index=True)
    pick = is_best[first]  # one nearest pair per point with pairs, in point order
    close = np.sqrt(best) <= prefilter_m(plan.cutoff_m)
    pick, groups = pick[close], groups[close]
    if not len(pick):
        return
    s, pt = a[pick], t[pick]
    qlon = edges.x[s] + pt * (edges.x[s + 1] - edges.x[s])
    qlat = edges.y[s] + pt * (edges.y[s + 1] - edges.y[s])
    distance, _ = geodesic_m(x[groups], y[groups], qlon, qlat)
    near = distance <= plan.cutoff_m
    where = idx[chunk[groups[near]]]
    result.status[where] = STATUS_NEAR
    result.nearest[where] = piece_hazard[plan.grid.run_piece[plan.grid.run[reg[pick[near]]]]]
    result.distance_m[where] = distance[near]
