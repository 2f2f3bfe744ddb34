"""The bulk screen over a ``Grid``: array arithmetic for the points that the grid answers alone
(interior cells, coarse or fine; cells with no edge within reach), the crossing test and edge
distances for the points near a boundary.

Containment is tested in the point's own cell (a fine cell where its coarse cell is split): the
segment from the point to the coarse cell's centre crosses the edges of a piece registered there
an odd number of times iff the point and the centre are on different sides of that piece's
boundary.

Distances to candidate edges are measured in the point's local frame — metres per degree of
longitude and latitude at the point — where a lon/lat edge stays straight and lengths within a
few kilometres are right to about d·tan(φ)/2R (0.2 % for 5 km at 80°, far less below). The edge
found nearest there is measured again with ``pyproj.Geod``: the answer is a true geodesic distance
from the point to a point of the hazard's boundary. The candidates are the edges registered in
the cells (fine cells where split) that a box of the reach around the point overlaps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from .geodesy import decision_m, geodesic_m, metres_per_degree, reach_deg
from .grid import EDGE_EPS_DEG, INSIDE_BIT, VERTEX_MASK, Edges, Grid, dilate

#: refine at most this many (point, edge) pairs at once: bounds memory whatever the threshold
MAX_PAIRS = 2_000_000
#: distance windows go over fine cells when the reach box spans at most this many fine rows
#: and columns; over coarse cells beyond
FINE_WINDOW = 9
STATUS_NONE, STATUS_NEAR, STATUS_INSIDE = 0, 1, 2

#: holds(piece, lon, lat) → bool: GEOS containment (boundary included), for the points the
#: arithmetic leaves in doubt
Holds = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


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
    """What screening at one threshold needs: the grid, the neighbourhood in coarse cells that
    holds every point within reach, the coarse cells with any edge in their neighbourhood, and
    whether the distance windows go over fine cells."""

    grid: Grid
    cutoff_m: float  # decide near up to here (decision_m)
    kx: int
    ky: int
    dlon: float
    dlat: float
    wraps: bool  # reach crosses the antimeridian somewhere in the grid
    refine: np.ndarray  # bool per coarse cell
    fine: bool

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
        refine = dilate(grid.touched(), kx, ky).ravel()
        rows = 2 * (dlat + 2 * EDGE_EPS_DEG) / cells.fch + 2
        cols = 2 * (dlon + 2 * EDGE_EPS_DEG) / cells.fcw + 2
        fine = grid.nblocks > 0 and max(rows, cols) <= FINE_WINDOW
        return cls(grid, cutoff, kx, ky, dlon, dlat, wraps, refine, fine)


def prefilter_m(cutoff_m: float) -> float:
    """Local-frame distance beyond which an edge cannot be within ``cutoff_m`` geodesically."""
    return cutoff_m * 1.01 + 1.0


def screen_grid(
    plan: Plan,
    edges: Edges,
    piece_hazard: np.ndarray,
    lon: np.ndarray,
    lat: np.ndarray,
    lat_limit: float,
    holds: Holds,
) -> tuple[ScreenResult, np.ndarray]:
    """Answers for every point the grid can take, and the indices of the points left to the
    exact path (beyond ``lat_limit``, or whose reach wraps across the antimeridian)."""
    n = len(lon)
    result = ScreenResult.empty(n)
    grid, cells = plan.grid, plan.grid.cells
    sub, shift = cells.sub, cells.shift
    exact = np.abs(lat) > lat_limit
    if plan.wraps:
        exact |= (lon - plan.dlon < -180) | (lon + plan.dlon > 180)
    frow, fcol = cells.fine_of(lon, lat)
    row, col = frow >> shift, fcol >> shift
    rc = np.clip(row, 0, cells.nrow - 1)
    cc = np.clip(col, 0, cells.ncol - 1)
    cell = rc * cells.ncol + cc
    on_grid = (row == rc) & (col == cc) & ~exact
    code = np.where(on_grid, grid.code[cell], -1)
    piece = code.copy()
    split = np.flatnonzero(code <= -2)
    fine = np.full(n, -1, np.int64)
    if len(split):
        fine[split] = (
            (-2 - code[split].astype(np.int64)) * (sub * sub)
            + (frow[split] - (row[split] << shift)) * sub
            + (fcol[split] - (col[split] << shift))
        )
        piece[split] = grid.fine_interior[fine[split]]
    hit = np.flatnonzero(piece >= 0)
    result.status[hit] = STATUS_INSIDE
    result.nearest[hit] = piece_hazard[piece[hit]]
    result.distance_m[hit] = 0.0
    todo = (piece < 0) & ~exact & plan.refine[cell]
    todo &= (np.abs(row - rc) <= plan.ky) & (np.abs(col - cc) <= plan.kx)
    idx = np.flatnonzero(todo)
    if len(idx):
        _refine(
            plan, edges, piece_hazard, lon[idx], lat[idx], row[idx], col[idx], on_grid[idx],
            cell[idx], fine[idx], idx, result, holds,
        )  # fmt: skip
    return result, np.flatnonzero(exact)


def _refine(
    plan: Plan,
    edges: Edges,
    piece_hazard: np.ndarray,
    px: np.ndarray,
    py: np.ndarray,
    row: np.ndarray,
    col: np.ndarray,
    on_grid: np.ndarray,
    cell: np.ndarray,
    fine: np.ndarray,
    idx: np.ndarray,
    result: ScreenResult,
    holds: Holds,
) -> None:
    grid, cells = plan.grid, plan.grid.cells
    # the point's own cell: fine where its coarse cell is split
    in_fine = fine >= 0
    fine_at = np.where(in_fine, fine, 0)
    start = grid.offsets[cell].astype(np.int64)
    end = grid.offsets[cell + 1].astype(np.int64)
    if grid.nblocks:
        start = np.where(in_fine, grid.fine_offsets[fine_at], start)
        end = np.where(in_fine, grid.fine_offsets[fine_at + 1], end)
    count = np.where(on_grid, end - start, 0)
    # the reference: the centre of the coarse cell (a corner of a fine one)
    cx = cells.x0 + (col + 0.5) * cells.cw
    cy = cells.y0 + (row + 0.5) * cells.ch
    mx, my = metres_per_degree(py)
    inside_point, inside_piece, own_m = _contains(grid, edges, px, py, start, count, cx, cy, mx, my, holds)
    where = idx[inside_point]
    result.status[where] = STATUS_INSIDE
    result.nearest[where] = piece_hazard[inside_piece]
    result.distance_m[where] = 0.0
    rest = np.ones(len(px), bool)
    rest[inside_point] = False
    rest_idx = np.flatnonzero(rest)
    if not len(rest_idx):
        return
    # no edge nearer than the nearest one of the point's own cell: the box shrinks to it (in the
    # local frame a distance r spans r / (metres per degree) exactly; a hair more for rounding)
    reach = np.minimum(own_m[rest_idx], prefilter_m(plan.cutoff_m)) * (1 + 1e-9) + 1e-6
    dlon = np.minimum(reach / mx[rest_idx], plan.dlon)
    dlat = np.minimum(reach / my[rest_idx], plan.dlat)
    if plan.fine:
        slots = _fine_window(plan, px[rest_idx], py[rest_idx], dlon, dlat)
    else:
        slots = _coarse_window(plan, px[rest_idx], py[rest_idx], row[rest_idx], col[rest_idx], dlon, dlat)
    slot_point, slot_start, slot_count = slots
    for lo, hi in _batches(slot_point, slot_count, len(rest_idx)):
        a, b = np.searchsorted(slot_point, [lo, hi])
        chunk = rest_idx[lo:hi]
        _nearest_edges(
            plan, edges, piece_hazard, px[chunk], py[chunk], slot_point[a:b] - lo, slot_start[a:b],
            slot_count[a:b], idx[chunk], result,
        )  # fmt: skip


#: a point or cell centre this close (degrees) to an edge's line is left to GEOS, whose
#: predicates are exact: float crossing tests are not trusted that close
DOUBT_DEG = 1e-9


def _contains(
    grid: Grid,
    edges: Edges,
    px: np.ndarray,
    py: np.ndarray,
    start: np.ndarray,
    count: np.ndarray,
    cx: np.ndarray,
    cy: np.ndarray,
    mx: np.ndarray,
    my: np.ndarray,
    holds: Holds,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The points held by a piece, one such piece each, and per point the distance in its local
    frame (metres per degree ``mx``, ``my``) to the nearest edge of its cell (inf if none).

    Only the pieces whose edges cross the point's own cell can hold it (the others hold the whole
    cell or none of it, and a cell held whole was answered as interior). For each, the segment
    from the point to the cell's centre (cx, cy) crosses the piece's edges in that cell (an edge
    crossing it must pass through the cell) an odd number of times iff the point and the centre
    are on different sides of the boundary. Lines and points hold only the points on them: GEOS
    decides those in doubt."""
    own_m = np.full(len(px), np.inf)
    point, reg = _ranges(start, count)
    if not len(point):
        return point, point, own_m
    code = grid.regs[reg]
    a = (code & VERTEX_MASK).astype(np.int64)
    x, y = px[point], py[point]
    # coordinates relative to the point: (a, b) the edge, c the cell's centre
    pa, pb = np.take(edges.xy, a, axis=0), np.take(edges.xy, a + 1, axis=0)
    ax, ay = pa[:, 0] - x, pa[:, 1] - y
    bx, by = pb[:, 0] - x, pb[:, 1] - y
    del pa, pb
    ccx, ccy = cx[point] - x, cy[point] - y
    ex, ey = bx - ax, by - ay
    side_a = ccx * ay - ccy * ax > 0  # a vertex on the line counts as on one side: shared vertices agree
    side_b = ccx * by - ccy * bx > 0
    at_point = ex * -ay - ey * -ax  # orient(a, b, point): twice the area, so distance × |ab|
    at_centre = ex * (ccy - ay) - ey * (ccx - ax)
    crosses = (side_a != side_b) & ((at_point > 0) != (at_centre > 0))
    # |orient| ≤ DOUBT_DEG·(|ex| + |ey|) holds whenever the distance to the line is ≤ DOUBT_DEG
    scale = DOUBT_DEG * (np.abs(ex) + np.abs(ey) + DOUBT_DEG)
    doubt = np.zeros(len(point), bool)
    for orient, qx, qy in ((at_point, None, None), (at_centre, ccx, ccy)):
        k = np.flatnonzero(np.abs(orient) <= scale)
        qxk = 0.0 if qx is None else qx[k]
        qyk = 0.0 if qy is None else qy[k]
        doubt[k] |= _in_box(qxk, qyk, ax[k], ay[k], bx[k], by[k])
    piece = edges.piece[a]
    first = np.flatnonzero(np.r_[True, (piece[1:] != piece[:-1]) | (point[1:] != point[:-1])])
    odd = np.add.reduceat(crosses.astype(np.int32), first) % 2 == 1
    unsure = np.logical_or.reduceat(doubt, first)
    centre_inside = code[first] >= INSIDE_BIT
    areal = a[first] < edges.n_areal
    run_piece, run_point = piece[first], point[first]
    held = areal & (odd != centre_inside)
    if unsure.any():
        held[unsure] = holds(run_piece[unsure], px[run_point[unsure]], py[run_point[unsure]])
    inside_point, at = np.unique(run_point[held], return_index=True)
    # the nearest edge of the cell, as _nearest_edges measures it, for the points not inside
    outside = np.ones(len(px), bool)
    outside[inside_point] = False
    keep = np.flatnonzero(outside[point])
    point = point[keep]
    mxp, myp = mx[point], my[point]
    ex, ey = ex[keep] * mxp, ey[keep] * myp
    ax, ay = ax[keep] * mxp, ay[keep] * myp
    length2 = ex * ex + ey * ey
    t = np.clip(-(ax * ex + ay * ey) / np.where(length2 > 0, length2, 1.0), 0.0, 1.0)
    qx = ax + t * ex
    qy = ay + t * ey
    if len(point):
        groups = np.flatnonzero(np.r_[True, point[1:] != point[:-1]])
        own_m[point[groups]] = np.sqrt(np.minimum.reduceat(qx * qx + qy * qy, groups))
    return inside_point, run_piece[held][at], own_m


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
    count = count.astype(np.int64, copy=False)
    total = int(count.sum())
    owner = np.repeat(np.arange(len(count)), count)
    position = np.arange(total) + np.repeat(start.astype(np.int64) - (np.cumsum(count) - count), count)
    return owner, position


def _fine_window(
    plan: Plan, px: np.ndarray, py: np.ndarray, dlon: np.ndarray, dlat: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Slots (point, start, count) into ``grid.regs``, sorted by point, holding the registrations
    of the cells that the box of ± (dlon, dlat) around each point overlaps: per fine row, one slot
    for each split coarse cell it crosses (the fine cells of a row of a block are consecutive),
    and one for each other coarse cell (in its first row)."""
    grid = plan.grid
    cells = grid.cells
    sub, shift = cells.sub, cells.shift
    slack = 2 * EDGE_EPS_DEG
    top, right = cells.nrow * sub - 1, cells.ncol * sub - 1
    r_lo = np.maximum(_floor_of(py - (dlat + slack), cells.y0, cells.fch), 0)
    r_hi = np.minimum(_floor_of(py + (dlat + slack), cells.y0, cells.fch), top)
    c_lo = np.maximum(_floor_of(px - (dlon + slack), cells.x0, cells.fcw), 0)
    c_hi = np.minimum(_floor_of(px + (dlon + slack), cells.x0, cells.fcw), right)
    nrows = np.maximum(r_hi - r_lo + 1, 0)
    seg_lo = c_lo >> shift
    nsegs = np.maximum((c_hi >> shift) - seg_lo + 1, 0)
    n = nrows * nsegs
    point = np.repeat(np.arange(len(px)), n)
    k = np.arange(len(point)) - np.repeat(np.cumsum(n) - n, n)
    segs = nsegs[point]
    fr = r_lo[point] + k // segs
    big_col = seg_lo[point] + k % segs
    del k, segs
    big_row = fr >> shift
    lo_col, hi_col = c_lo[point], c_hi[point]
    first = np.maximum(lo_col, big_col << shift)
    last = np.minimum(hi_col, (big_col << shift) + sub - 1)
    cell = big_row * cells.ncol + big_col
    code = grid.code[cell].astype(np.int64)
    split = code <= -2
    # a split cell: the fine cells of this row of its block in the box
    base = (-2 - code[split]) * (sub * sub) + (fr[split] - (big_row[split] << shift)) * sub
    base -= big_col[split] << shift
    start = grid.offsets[cell].astype(np.int64)
    end = grid.offsets[cell + 1].astype(np.int64)
    start[split] = grid.fine_offsets[base + first[split]]
    end[split] = grid.fine_offsets[base + last[split] + 1]
    # another cell: all of it, once (in the first of its fine rows that the box reaches)
    use = split | (fr == np.maximum(r_lo[point], big_row << shift))
    use &= end > start
    return point[use], start[use], (end - start)[use]


def _floor_of(value: np.ndarray, origin: float, size: float) -> np.ndarray:
    return np.floor((value - origin) / size).astype(np.int64)


def _coarse_window(
    plan: Plan,
    px: np.ndarray,
    py: np.ndarray,
    row: np.ndarray,
    col: np.ndarray,
    dlon: np.ndarray,
    dlat: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Slots (point, start, count) into ``grid.regs``, sorted by point: the neighbour coarse
    cells whose nearest side is within ± (dlon, dlat) of the point."""
    grid = plan.grid
    cells = grid.cells
    rows, cols = np.meshgrid(
        np.arange(-plan.ky, plan.ky + 1), np.arange(-plan.kx, plan.kx + 1), indexing="ij"
    )
    dr, dc = rows.ravel(), cols.ravel()
    r = row[:, None] + dr[None, :]
    c = col[:, None] + dc[None, :]
    valid = (r >= 0) & (r < cells.nrow) & (c >= 0) & (c < cells.ncol)
    slack = 2 * EDGE_EPS_DEG
    x = px[:, None] - cells.x0
    y = py[:, None] - cells.y0
    gap_x = np.where(dc > 0, c * cells.cw - x, np.where(dc < 0, x - (c + 1) * cells.cw, 0.0))
    gap_y = np.where(dr > 0, r * cells.ch - y, np.where(dr < 0, y - (r + 1) * cells.ch, 0.0))
    valid &= (gap_x <= dlon[:, None] + slack) & (gap_y <= dlat[:, None] + slack)
    point = np.repeat(np.arange(len(px)), valid.shape[1])[valid.ravel()]
    start, end = grid.ranges((r * cells.ncol + c)[valid])
    use = end > start
    return point[use], start[use], (end - start)[use]


def _batches(slot_point: np.ndarray, slot_count: np.ndarray, n: int) -> Iterator[tuple[int, int]]:
    """Ranges of the points whose (point, edge) pairs stay under ``MAX_PAIRS``."""
    per_point = np.cumsum(np.bincount(slot_point, weights=slot_count, minlength=n))
    begin = 0
    while begin < n:
        base = per_point[begin - 1] if begin else 0
        end = max(begin + 1, int(np.searchsorted(per_point, base + MAX_PAIRS, side="right")))
        yield begin, min(end, n)
        begin = end


def _nearest_edges(
    plan: Plan,
    edges: Edges,
    piece_hazard: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    slot_point: np.ndarray,
    start: np.ndarray,
    count: np.ndarray,
    where_in_result: np.ndarray,
    result: ScreenResult,
) -> None:
    """The nearest edge of each point among its slots' registrations (slots sorted by point);
    near if its geodesic distance is within the cutoff."""
    if not len(slot_point):
        return
    slot, reg = _ranges(start, count)
    point = slot_point[slot]
    per_point = np.bincount(point, minlength=len(x))
    has = per_point > 0
    a = (plan.grid.regs[reg] & VERTEX_MASK).astype(np.int64)
    mx, my = metres_per_degree(y)
    mxp, myp, xp, yp = mx[point], my[point], x[point], y[point]
    pa, pb = np.take(edges.xy, a, axis=0), np.take(edges.xy, a + 1, axis=0)
    xa, ya = pa[:, 0], pa[:, 1]
    ex = (pb[:, 0] - xa) * mxp
    ey = (pb[:, 1] - ya) * myp
    del pb
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
    qa, qb = np.take(edges.xy, s, axis=0), np.take(edges.xy, s + 1, axis=0)
    qlon = qa[:, 0] + pt * (qb[:, 0] - qa[:, 0])
    qlat = qa[:, 1] + pt * (qb[:, 1] - qa[:, 1])
    distance, _ = geodesic_m(x[groups], y[groups], qlon, qlat)
    near = distance <= plan.cutoff_m
    where = where_in_result[groups[near]]
    result.status[where] = STATUS_NEAR
    result.nearest[where] = piece_hazard[edges.piece[s[near]]]
    result.distance_m[where] = distance[near]
