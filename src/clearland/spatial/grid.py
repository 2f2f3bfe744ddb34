"""The grid of the bulk screen: lon/lat cells over the hazards, each knowing the hazard edges that
pass through it and, where one exists, a hazard that holds the whole cell.

Every hazard is taken apart into pieces (polygons, lines, points) and their boundaries into
edges, straight in lon/lat as GEOS draws them. An edge is registered in every cell its bounding
box (grown by ``EDGE_EPS_DEG``) overlaps, so a cell with no registered edge of a piece is wholly
inside or wholly outside it; a scanline through the cell centres tells which, and a cell wholly
inside some piece is *interior*: every point in it is ``inside`` without further work.

A point anywhere else is answered from its neighbourhood: the cells within the reach of the
threshold (``reach_deg`` bounds it from above). Containment is asked of GEOS only for the pieces
whose edges cross the point's own cell; the distance is the nearest of the neighbourhood's edges.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import shapely

#: an edge counts as crossing every cell within this of it (about 1 cm): floating-point cell
#: arithmetic can never lose an edge from a cell it touches
EDGE_EPS_DEG = 1e-7
#: default cell height in degrees of latitude (about 110 m)
CELL_DEG = 0.001
#: the grid never has more cells than this, nor more than CELLS_PER_EDGE per edge (sparse
#: hazards over a wide extent): wider extents get larger cells
MAX_CELLS = 1 << 24
CELLS_PER_EDGE = 4

POLYGON, LINE, POINT = 0, 1, 2


@dataclass(frozen=True)
class Edges:
    """Vertices of every piece's rings, lines and points; edge ``e`` runs from vertex
    ``start[e]`` to ``start[e] + 1`` (a point is an edge of length zero)."""

    x: np.ndarray  # float64 lon
    y: np.ndarray  # float64 lat
    start: np.ndarray  # int64
    piece: np.ndarray  # int32
    areal: np.ndarray  # bool: the edge bounds a polygon (takes part in the scanline)


def split_pieces(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Single-part pieces of ``geoms`` and the index of the geometry each came from, polygons
    first, then lines, then points (so each kind's edges are contiguous)."""
    parts, owner = shapely.get_parts(geoms, return_index=True)
    kind = np.select(
        [np.isin(shapely.get_type_id(parts), [3]), np.isin(shapely.get_type_id(parts), [1, 2])],
        [POLYGON, LINE],
        POINT,
    )
    keep = ~shapely.is_empty(parts)
    order = np.lexsort((np.arange(len(parts)), kind))
    order = order[keep[order]]
    return parts[order], owner[order].astype(np.int64)


def edge_arrays(pieces: np.ndarray) -> Edges:
    type_id = shapely.get_type_id(pieces)
    polygon = np.flatnonzero(type_id == 3)
    line = np.flatnonzero(np.isin(type_id, [1, 2]))
    point = np.flatnonzero(type_id == 0)
    rings, ring_owner = shapely.get_rings(pieces[polygon], return_index=True)
    paths = np.concatenate([rings, pieces[line]])
    path_piece = np.concatenate([polygon[ring_owner], line]).astype(np.int32)
    coords, path = shapely.get_coordinates(paths, return_index=True)
    point_xy = shapely.get_coordinates(pieces[point])
    # each point becomes a path of two equal vertices: one edge of length zero
    x = np.concatenate([coords[:, 0], np.repeat(point_xy[:, 0], 2)])
    y = np.concatenate([coords[:, 1], np.repeat(point_xy[:, 1], 2)])
    vertex_path = np.concatenate([path, len(paths) + np.repeat(np.arange(len(point)), 2)])
    vertex_piece = np.concatenate([path_piece[path], np.repeat(point.astype(np.int32), 2)])
    start = np.flatnonzero(vertex_path[:-1] == vertex_path[1:]).astype(np.int64)
    ring_vertices = int(np.searchsorted(path, len(rings)))  # rings come first among the paths
    return Edges(x, y, start, vertex_piece[start].astype(np.int32), start < ring_vertices)


@dataclass(frozen=True)
class Cells:
    """Cell (row, col) spans lon x0 + col·cw .. + cw and lat y0 + row·ch .. + ch; index row·ncol + col."""

    x0: float
    y0: float
    cw: float  # degrees of longitude
    ch: float  # degrees of latitude
    ncol: int
    nrow: int

    @property
    def max_abs_lat(self) -> float:
        return max(abs(self.y0), abs(self.y0 + self.nrow * self.ch))

    def cell_of(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        row = np.floor((lat - self.y0) / self.ch).astype(np.int64)
        col = np.floor((lon - self.x0) / self.cw).astype(np.int64)
        return row, col


@dataclass(frozen=True)
class Grid:
    cells: Cells
    offsets: np.ndarray  # CSR: the edges of cell k are cell_edges[offsets[k]:offsets[k + 1]]
    cell_edges: np.ndarray  # first vertex of each edge (Edges.start), by cell, in edge order
    interior: np.ndarray  # int32 per cell: a piece holding the whole cell, or -1
    touched: np.ndarray  # bool (nrow, ncol): some edge crosses the cell
    # the registrations of one piece in one cell form a run: its index per registration, and per
    # run the piece and whether that piece holds the cell's centre
    run: np.ndarray  # int32 per registration
    run_piece: np.ndarray  # int32
    run_centre_inside: np.ndarray  # bool


def build_grid(edges: Edges, cell_deg: float = CELL_DEG) -> Grid:
    """The grid over ``edges`` with cells ``cell_deg`` high (more if the extent needs it) and
    about as wide in metres at the extent's middle latitude."""
    lon0, lon1 = float(edges.x.min()), float(edges.x.max())
    lat0, lat1 = float(edges.y.min()), float(edges.y.max())
    mid = min(abs((lat0 + lat1) / 2), 80.0)
    aspect = 1 / math.cos(math.radians(mid))  # degrees of longitude per degree of latitude, in metres
    ch = cell_deg
    area_cells = (lon1 - lon0 + 4 * ch * aspect) * (lat1 - lat0 + 4 * ch) / (ch * ch * aspect)
    most = min(MAX_CELLS, max(4096, CELLS_PER_EDGE * len(edges.start)))
    if area_cells > most:
        ch *= math.sqrt(area_cells / most) * 1.01
    cw = ch * aspect
    x0, y0 = lon0 - 2 * cw, lat0 - 2 * ch
    ncol = math.ceil((lon1 + 2 * cw - x0) / cw) + 1
    nrow = math.ceil((lat1 + 2 * ch - y0) / ch) + 1
    shape = Cells(x0, y0, cw, ch, ncol, nrow)
    # the two big passes are independent, and numpy leaves the GIL in both: run them side by side
    with ThreadPoolExecutor(max_workers=2) as pool:
        spans = pool.submit(_spans, edges, shape)
        cell, edge_ids = _register(edges, shape)
        inside_cell, inside_piece = spans.result()
    counts = np.bincount(cell, minlength=ncol * nrow)
    offsets = np.zeros(ncol * nrow + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    piece = edges.piece[edge_ids]
    starts_run = np.r_[True, (cell[1:] != cell[:-1]) | (piece[1:] != piece[:-1])]
    first = np.flatnonzero(starts_run)
    run = (np.cumsum(starts_run) - 1).astype(np.int32)
    interior, centre_inside = _whole_cells(edges, shape, cell[first], piece[first], inside_cell, inside_piece)
    touched = (counts > 0).reshape(nrow, ncol)
    vertex = edges.start[edge_ids]
    vertex = vertex.astype(np.int32) if len(edges.x) < 2**31 else vertex
    return Grid(shape, offsets, vertex, interior, touched, run, piece[first], centre_inside)


def _register(edges: Edges, grid: Cells) -> tuple[np.ndarray, np.ndarray]:
    """(cell, edge) for every cell the grown bounding box of every edge overlaps, sorted by cell
    and by edge within a cell (so by piece within a cell: edges are in piece order)."""
    xa, xb = edges.x[edges.start], edges.x[edges.start + 1]
    ya, yb = edges.y[edges.start], edges.y[edges.start + 1]
    c0 = np.floor((np.minimum(xa, xb) - EDGE_EPS_DEG - grid.x0) / grid.cw).astype(np.int64)
    c1 = np.floor((np.maximum(xa, xb) + EDGE_EPS_DEG - grid.x0) / grid.cw).astype(np.int64)
    r0 = np.floor((np.minimum(ya, yb) - EDGE_EPS_DEG - grid.y0) / grid.ch).astype(np.int64)
    r1 = np.floor((np.maximum(ya, yb) + EDGE_EPS_DEG - grid.y0) / grid.ch).astype(np.int64)
    np.clip(c0, 0, grid.ncol - 1, out=c0)
    np.clip(c1, 0, grid.ncol - 1, out=c1)
    np.clip(r0, 0, grid.nrow - 1, out=r0)
    np.clip(r1, 0, grid.nrow - 1, out=r1)
    width = c1 - c0 + 1
    n = width * (r1 - r0 + 1)
    single = np.flatnonzero(n == 1)  # most edges lie in one cell: no expansion for them
    many = np.flatnonzero(n > 1)
    count = n[many]
    owner = np.repeat(many, count)
    k = np.arange(len(owner)) - np.repeat(np.cumsum(count) - count, count)
    w = width[owner]
    cell = np.concatenate(
        [r0[single] * grid.ncol + c0[single], (r0[owner] + k // w) * grid.ncol + c0[owner] + k % w]
    )
    edge = np.concatenate([single, owner])
    # sorted by cell, then edge: one sort of a combined key (cells × edges < 2^63)
    key = np.sort(cell * len(n) + edge)
    return key // len(n), key % len(n)


def _spans(edges: Edges, grid: Cells) -> tuple[np.ndarray, np.ndarray]:
    """The crossing rule along each row of cell centres: every (cell, polygon piece) whose
    centre the piece holds."""
    ring = np.flatnonzero(edges.areal)
    if not len(ring):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    s = edges.start[ring]
    xa, xb, ya, yb = edges.x[s], edges.x[s + 1], edges.y[s], edges.y[s + 1]
    row_y = grid.y0 + (np.arange(grid.nrow) + 0.5) * grid.ch
    # rows whose centre line y satisfies min ≤ y < max, widened by a hair against rounding; the
    # exact half-open crossing rule on row_y then decides
    lo = np.ceil((np.minimum(ya, yb) - grid.y0) / grid.ch - 0.5 - 1e-6).astype(np.int64)
    hi = np.ceil((np.maximum(ya, yb) - grid.y0) / grid.ch - 0.5 + 1e-6).astype(np.int64) - 1
    lo, hi = np.clip(lo, 0, None), np.clip(hi, None, grid.nrow - 1)
    n = np.maximum(hi - lo + 1, 0)
    owner = np.repeat(np.arange(len(ring)), n)
    row = lo[owner] + np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
    yr = row_y[row]
    crosses = (ya[owner] > yr) != (yb[owner] > yr)
    owner, row, yr = owner[crosses], row[crosses], yr[crosses]
    x_cross = xa[owner] + (yr - ya[owner]) * (xb[owner] - xa[owner]) / (yb[owner] - ya[owner])
    piece = edges.piece[ring][owner].astype(np.int64)
    group = piece * grid.nrow + row
    order = np.lexsort((x_cross, group))
    group, x_cross, piece, row = group[order], x_cross[order], piece[order], row[order]
    # every closed ring crosses a row an even number of times: pair them up within each group
    first = np.r_[True, group[1:] != group[:-1]]
    rank = np.arange(len(group)) - np.maximum.accumulate(np.where(first, np.arange(len(group)), 0))
    opening = np.flatnonzero(rank % 2 == 0)
    if len(opening) and (opening[-1] + 1 >= len(group) or np.any(group[opening + 1] != group[opening])):
        raise ValueError("a polygon ring crosses a scanline an odd number of times")
    c_lo = np.ceil((x_cross[opening] - grid.x0) / grid.cw - 0.5).astype(np.int64)
    c_hi = np.ceil((x_cross[opening + 1] - grid.x0) / grid.cw - 0.5).astype(np.int64) - 1
    c_lo = np.clip(c_lo, 0, grid.ncol)
    c_hi = np.clip(c_hi, -1, grid.ncol - 1)
    n = np.maximum(c_hi - c_lo + 1, 0)
    span = np.repeat(np.arange(len(opening)), n)
    col = c_lo[span] + np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
    return row[opening][span] * grid.ncol + col, piece[opening][span]


def _whole_cells(
    edges: Edges,
    grid: Cells,
    run_cell: np.ndarray,
    run_piece: np.ndarray,
    inside_cell: np.ndarray,
    inside_piece: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Per cell, a polygon piece that holds the whole cell (its centre is inside and none of its
    edges touches the cell), else -1; and per run (a piece whose edges touch a cell, sorted by
    cell then piece), whether the piece holds the cell's centre."""
    interior = np.full(grid.nrow * grid.ncol, -1, np.int32)
    centre_inside = np.zeros(len(run_cell), bool)
    if not len(inside_cell):
        return interior, centre_inside
    # the cells of a span that an edge of the same piece touches are runs: they are not whole
    npieces = int(edges.piece.max()) + 1
    runs = run_cell.astype(np.int64) * npieces + run_piece  # sorted
    keys = inside_cell * npieces + inside_piece
    at = np.minimum(np.searchsorted(runs, keys), len(runs) - 1)
    is_run = runs[at] == keys
    whole = ~is_run
    interior[inside_cell[whole]] = inside_piece[whole].astype(np.int32)
    centre_inside[at[is_run]] = True
    return interior, centre_inside


def dilate(mask: np.ndarray, kx: int, ky: int) -> np.ndarray:
    """True where some True of ``mask`` lies within ``ky`` rows and ``kx`` columns."""
    out = _window_any(mask, kx, axis=1)
    return _window_any(out, ky, axis=0)


def _window_any(mask: np.ndarray, k: int, axis: int) -> np.ndarray:
    if k <= 0:
        return mask.copy()
    if k <= 4:  # a few shifted ORs beat the running sum for small windows
        out = mask.copy()
        for shift in range(1, k + 1):
            if axis == 1:
                out[:, shift:] |= mask[:, :-shift]
                out[:, :-shift] |= mask[:, shift:]
            else:
                out[shift:, :] |= mask[:-shift, :]
                out[:-shift, :] |= mask[shift:, :]
        return out
    n = mask.shape[axis]
    cs = np.cumsum(mask, axis=axis, dtype=np.int32)
    pad = [(0, 0), (0, 0)]
    pad[axis] = (1, 0)
    cs = np.pad(cs, pad)
    idx = np.arange(n)
    hi = np.minimum(idx + k + 1, n)
    lo = np.maximum(idx - k, 0)
    if axis == 1:
        return (cs[:, hi] - cs[:, lo]) > 0
    return (cs[hi, :] - cs[lo, :]) > 0
