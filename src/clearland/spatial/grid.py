"""The grid of the bulk screen: lon/lat cells over the hazards, in two levels. Each cell knows the
hazard edges that pass through it and, where one exists, a hazard that holds the whole cell.

Every hazard is taken apart into pieces (polygons, lines, points) and their boundaries into
edges, straight in lon/lat as GEOS draws them. An edge is registered in every cell its bounding
box (grown by ``EDGE_EPS_DEG``) overlaps, so a cell with no registered edge of a piece is wholly
inside or wholly outside it; a scanline through the cell centres tells which, and a cell wholly
inside some piece is *interior*: every point in it is ``inside`` without further work.

The coarse level covers the extent with at most ``MAX_CELLS`` cells. A busy coarse cell (more than
``SPLIT_MIN`` edge registrations, not interior) is split into 2 × 2 fine cells with their own
registrations and interior pieces: where hazards are dense a point meets a few edges, not dozens.
The coarse centre is a corner of each of its fine cells, so it stays their reference: a piece
whose edges keep clear of a fine cell holds all of it iff it holds the coarse centre, and the
segment from a point of the fine cell to that corner crosses only edges registered in the cell.

Positions are taken in fine units (``Cells.fine_of``) and coarse cells derived from them by a
shift; edges are put in cells with a margin of ``EDGE_EPS_DEG``, which dwarfs any rounding, so a
point and an edge near it always agree on the cells they share.

Each registration is the first vertex of its edge, with ``INSIDE_BIT`` set when the edge's piece
holds the centre of the coarse cell it is registered in (the reference of the containment test).
"""

from __future__ import annotations

import itertools
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import shapely

#: an edge counts as crossing every cell within this of it (about 1 cm): floating-point cell
#: arithmetic can never lose an edge from a cell it touches
EDGE_EPS_DEG = 1e-7
#: default coarse cell height in degrees of latitude (about 110 m)
CELL_DEG = 0.001
#: the coarse grid never has more cells than this, nor more than CELLS_PER_EDGE per edge (sparse
#: hazards over a wide extent): wider extents get larger cells
MAX_CELLS = 1 << 24
CELLS_PER_EDGE = 4
#: fine cells per side of a split coarse cell
SUB = 2
#: a coarse cell with more edge registrations than this is split
SPLIT_MIN = 6
#: registrations are vertex numbers below 2^30; this bit marks "the piece holds the cell centre"
INSIDE_BIT = 1 << 30
VERTEX_MASK = INSIDE_BIT - 1


@dataclass(frozen=True)
class Edges:
    """Vertices of every piece's rings, lines and points: an edge runs from vertex ``v`` to
    ``v + 1`` where ``ok[v]`` (a point is a path of two equal vertices: one edge of length zero).
    Polygon rings come first: vertices below ``n_areal`` bound areas. Longitude and latitude
    side by side, so that fetching an edge's ends touches one or two cache lines."""

    xy: np.ndarray  # float64 (n, 2): lon, lat
    piece: np.ndarray  # int32 piece of each vertex
    ok: np.ndarray  # bool per vertex
    n_areal: int

    @property
    def x(self) -> np.ndarray:
        return self.xy[:, 0]

    @property
    def y(self) -> np.ndarray:
        return self.xy[:, 1]

    @property
    def count(self) -> int:
        return int(np.count_nonzero(self.ok))


def decompose(geoms: np.ndarray) -> tuple[np.ndarray, Edges, int]:
    """``geoms`` taken apart into single-part pieces (polygons first, then lines, then points, so
    each kind's edges are contiguous): the index of the geometry each piece came from, their
    edges, and how many of the first pieces are *plain*: whole geometries, polygons without holes
    (most hazards), each the one path of its vertices. Those are read without copying a geometry."""
    type_id = shapely.get_type_id(geoms)
    empty = shapely.is_empty(geoms)
    simple = (type_id == 3) & ~empty
    simple[simple] = shapely.get_num_interior_rings(geoms[simple]) == 0
    plain = np.flatnonzero(simple)
    rest = np.flatnonzero(~simple & ~empty)
    parts, owner = shapely.get_parts(geoms[rest], return_index=True)
    owner = rest[owner]
    part_type = shapely.get_type_id(parts)
    while np.isin(part_type, [4, 5, 6, 7]).any():  # collections of collections
        parts, at = shapely.get_parts(parts, return_index=True)
        owner = owner[at]
        part_type = shapely.get_type_id(parts)
    keep = ~shapely.is_empty(parts)
    polygon = np.flatnonzero(keep & (part_type == 3))
    line = np.flatnonzero(keep & np.isin(part_type, [1, 2]))
    point = np.flatnonzero(keep & (part_type == 0))
    piece_hazard = np.concatenate([plain, owner[polygon], owner[line], owner[point]]).astype(np.int64)
    n_plain, n_polygon, n_line = len(plain), len(polygon), len(line)
    # paths: the rings of the polygon pieces, then the lines; then every point as two vertices
    rings, ring_owner = shapely.get_rings(parts[polygon], return_index=True)
    paths = np.concatenate([geoms[plain], rings, parts[line]])
    path_piece = np.concatenate(
        [
            np.arange(n_plain),
            n_plain + ring_owner,
            n_plain + n_polygon + np.arange(n_line),
            n_plain + n_polygon + n_line + np.arange(len(point)),
        ]
    ).astype(np.int32)
    counts = shapely.get_num_coordinates(paths).astype(np.int64)
    coords = shapely.get_coordinates(paths)
    n_areal = int(counts[: n_plain + len(rings)].sum())
    if len(point):
        point_xy = shapely.get_coordinates(parts[point])
        coords = np.concatenate([coords, np.repeat(point_xy, 2, axis=0)])
        counts = np.concatenate([counts, np.full(len(point), 2, np.int64)])
    xy = np.ascontiguousarray(coords, dtype=np.float64).reshape(-1, 2)
    if len(xy) >= INSIDE_BIT:
        raise ValueError(f"{len(xy):,} vertices: the grid takes fewer than {INSIDE_BIT:,}")
    piece = np.repeat(path_piece, counts)
    ok = np.ones(len(xy), bool)
    ok[np.cumsum(counts) - 1] = False
    return piece_hazard, Edges(xy, piece, ok, n_areal), n_plain


@dataclass(frozen=True)
class Cells:
    """Coarse cell (row, col) spans lon x0 + col·cw .. + cw and lat y0 + row·ch .. + ch; index
    row·ncol + col. Each is ``sub`` × ``sub`` fine cells of fcw × fch."""

    x0: float
    y0: float
    cw: float  # degrees of longitude
    ch: float  # degrees of latitude
    ncol: int
    nrow: int
    sub: int = 1

    @property
    def fcw(self) -> float:
        return self.cw / self.sub

    @property
    def fch(self) -> float:
        return self.ch / self.sub

    @property
    def shift(self) -> int:
        return self.sub.bit_length() - 1

    @property
    def max_abs_lat(self) -> float:
        return max(abs(self.y0), abs(self.y0 + self.nrow * self.ch))

    def fine_of(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Fine row and column (unbounded) of each position; its coarse cell is them >> shift."""
        return _floor(lat, self.y0, self.fch), _floor(lon, self.x0, self.fcw)


def _floor(value: np.ndarray, origin: float, size: float) -> np.ndarray:
    """floor((value - origin) / size) as int64: the cell row or column of a point."""
    return np.floor((value - origin) / size).astype(np.int64)


@dataclass(frozen=True)
class Grid:
    cells: Cells
    # CSR: the registrations of coarse cell k are regs[offsets[k]:offsets[k + 1]]; none for a
    # split cell: those of its fine cells, consecutive, are all of its edges
    offsets: np.ndarray
    code: np.ndarray  # int32 per coarse cell: a piece holding it whole (≥ 0), -1, or split: -2 - block
    fine_offsets: np.ndarray  # CSR over fine cells block·sub² + i·sub + j, into the same regs
    fine_interior: np.ndarray  # int32 per fine cell: a piece holding it whole, or -1
    regs: np.ndarray  # int32: the first vertex of an edge | INSIDE_BIT; coarse cells' first

    @property
    def nblocks(self) -> int:
        return len(self.fine_interior) // (self.cells.sub * self.cells.sub)

    def touched(self) -> np.ndarray:
        """bool (nrow, ncol): some edge crosses the coarse cell."""
        touched = (self.offsets[1:] != self.offsets[:-1]) | (self.code <= -2)
        shaped: np.ndarray = touched.reshape(self.cells.nrow, self.cells.ncol)
        return shaped

    def ranges(self, cell: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(start, end) in ``regs`` of all the edges of each coarse cell (of its fine cells if split)."""
        code = self.code[cell]
        start = self.offsets[cell].astype(np.int64)
        end = self.offsets[cell + 1].astype(np.int64)
        split = code <= -2
        if split.any():
            sub2 = self.cells.sub * self.cells.sub
            block = (-2 - code[split]).astype(np.int64) * sub2
            start[split] = self.fine_offsets[block]
            end[split] = self.fine_offsets[block + sub2]
        return start, end


def grid_cells(edges: Edges, cell_deg: float, sub: int) -> Cells:
    """Coarse cells ``cell_deg`` high (more if the extent needs it) and about as wide in metres
    at the extent's middle latitude, with a margin of two cells."""
    lon0, lon1 = float(edges.x.min()), float(edges.x.max())
    lat0, lat1 = float(edges.y.min()), float(edges.y.max())
    mid = min(abs((lat0 + lat1) / 2), 80.0)
    aspect = 1 / math.cos(math.radians(mid))  # degrees of longitude per degree of latitude, in metres
    ch = cell_deg
    area_cells = (lon1 - lon0 + 4 * ch * aspect) * (lat1 - lat0 + 4 * ch) / (ch * ch * aspect)
    most = min(MAX_CELLS, max(4096, CELLS_PER_EDGE * edges.count))
    if area_cells > most:
        ch *= math.sqrt(area_cells / most) * 1.01
    cw = ch * aspect
    x0, y0 = lon0 - 2 * cw, lat0 - 2 * ch
    ncol = math.ceil((lon1 + 2 * cw - x0) / cw) + 1
    nrow = math.ceil((lat1 + 2 * ch - y0) / ch) + 1
    return Cells(x0, y0, cw, ch, ncol, nrow, sub)


def build_grid(edges: Edges, cell_deg: float = CELL_DEG, *, sub: int = 1) -> Grid:
    """The grid over ``edges``; with ``sub`` = 2 the busy coarse cells are split in 2 × 2."""
    if sub not in (1, 2):
        raise ValueError("sub must be 1 or 2: a fine cell's reference is the coarse centre, a corner")
    cells = grid_cells(edges, cell_deg, sub)
    ncells = cells.ncol * cells.nrow
    # the scanline and the registration are independent, and numpy leaves the GIL in both
    with ThreadPoolExecutor(max_workers=1) as pool:
        spans = pool.submit(_spans, edges, cells)
        reg_cell, reg_vertex, reg_mask = _register(edges, cells)
        inside_cell, inside_piece = spans.result()
    counts = np.bincount(reg_cell, minlength=ncells)
    offsets = np.zeros(ncells + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    piece = edges.piece[reg_vertex]
    starts_run = np.empty(len(reg_cell), bool)
    starts_run[:1] = True
    np.not_equal(reg_cell[1:], reg_cell[:-1], out=starts_run[1:])
    starts_run[1:] |= piece[1:] != piece[:-1]
    first = np.flatnonzero(starts_run)
    run = np.cumsum(starts_run, dtype=np.int64) - 1
    interior, centre_inside = _whole_cells(
        edges, ncells, reg_cell[first], piece[first], inside_cell, inside_piece
    )
    regs = reg_vertex.astype(np.int32)
    regs[centre_inside[run]] |= INSIDE_BIT
    code = interior.copy()
    split = np.zeros(0, np.int64)
    if sub > 1:
        split = np.flatnonzero((counts > SPLIT_MIN) & (interior < 0))
    if not len(split):
        empty = np.zeros(1, offsets.dtype)
        return Grid(cells, _narrow(offsets, len(regs)), code, empty, np.zeros(0, np.int32), regs)
    code[split] = -2 - np.arange(len(split), dtype=np.int32)
    fine = _fine_level(cells, offsets, split, regs, reg_mask, piece, run, centre_inside)
    fine_offsets, fine_regs, fine_interior = fine
    # a split cell's registrations are those of its fine cells: its coarse ones go
    counts[split] = 0
    regs = regs[code[reg_cell] > -2]
    np.cumsum(counts, out=offsets[1:])
    fine_offsets += len(regs)
    regs = np.concatenate([regs, fine_regs])
    return Grid(
        cells,
        _narrow(offsets, len(regs)),
        code,
        _narrow(fine_offsets, len(regs)),
        fine_interior,
        regs,
    )


def _narrow(offsets: np.ndarray, total: int) -> np.ndarray:
    return offsets.astype(np.int32) if total < 2**31 else offsets


def _bits(n: int) -> int:
    return max(1, int(n).bit_length())


def _register(edges: Edges, cells: Cells) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(coarse cell, first vertex, fine mask) for every coarse cell the grown bounding box of
    every edge overlaps, sorted by cell and by vertex within a cell (so by piece within a cell).
    The mask (split grids) has bit i·2 + j set when the box overlaps fine cell (i, j) of the cell."""
    sub, shift = cells.sub, cells.shift
    spans = []
    for values, origin, size, top in (
        (edges.y, cells.y0, cells.fch, cells.nrow * sub - 1),
        (edges.x, cells.x0, cells.fcw, cells.ncol * sub - 1),
    ):
        # in fine units once per vertex; the margin EDGE_EPS_DEG dwarfs any rounding, so points
        # (put in cells by Cells.fine_of) and edges always agree
        u = values - origin
        u /= size
        eps = EDGE_EPS_DEG / size
        for v, grow in ((np.minimum(u[:-1], u[1:]), -eps), (np.maximum(u[:-1], u[1:]), eps)):
            v += grow
            np.floor(v, out=v)
            np.clip(v, 0, top, out=v)
            spans.append(v.astype(np.int32))
        del u
    fr0, fr1, fc0, fc1 = spans  # per vertex: the edge from it to the next
    del spans
    r0, r1, c0, c1 = fr0 >> shift, fr1 >> shift, fc0 >> shift, fc1 >> shift
    height = r1 - r0 + 1
    width = c1 - c0 + 1
    del r1, c1
    n = width * height
    n[~edges.ok[:-1]] = 0  # from the end of a path to the start of the next: no edge
    base = r0.astype(np.int64)
    base *= cells.ncol
    base += c0
    del r0, c0
    # (edges, their coarse cells, row and column offsets within their box) by box shape
    groups = []
    one = np.flatnonzero(n == 1)  # most edges lie in one cell
    groups.append((one, base[one], 0, 0))
    small = np.flatnonzero((n > 1) & (width <= 2) & (height <= 2))
    for dr, dc in ((0, 0), (0, 1), (1, 0), (1, 1)):
        at = small
        if dc:
            at = at[width[at] == 2]
        if dr:
            at = at[height[at] == 2]
        groups.append((at, base[at] + dr * cells.ncol + dc, dr, dc))
    many = np.flatnonzero((n > 1) & ((width > 2) | (height > 2)))
    count = n[many].astype(np.int64)
    owner = np.repeat(many, count)
    k = np.arange(len(owner)) - np.repeat(np.cumsum(count) - count, count)
    w = width[owner]
    dr_many, dc_many = k // w, k % w
    groups.append((owner, base[owner] + dr_many * cells.ncol + dc_many, dr_many, dc_many))
    del n, base, k, w, owner
    vb = _bits(len(edges.xy))
    mb = 4 if sub == 2 else 0
    if mb:
        # the fine halves of the box's first and last coarse rows and columns: bits
        # 3 = low row starts high, 2 = high row ends high, 1 and 0 the same for columns
        ends = ((fr0 & 1) << 3) | ((fr1 & 1) << 2) | ((fc0 & 1) << 1) | (fc1 & 1)
    keys = []
    for at, cell, dr, dc in groups:
        key = cell << (vb + mb)
        key |= at.astype(np.int64) << mb
        if mb:
            code = ends[at]
            _halves(code, dr, height[at], 0b1000, 0b0100, at is one)
            _halves(code, dc, width[at], 0b0010, 0b0001, at is one)
            key |= _FINE_MASK[code]
        keys.append(key)
    del groups, fr0, fr1, fc0, fc1, height, width
    key = np.concatenate(keys)
    del keys
    key.sort()
    return key >> (vb + mb), (key >> mb) & ((1 << vb) - 1), (key & ((1 << mb) - 1)).astype(np.uint8)


def _halves(
    code: np.ndarray, d: np.ndarray | int, size: np.ndarray, low: int, high: int, single: bool
) -> None:
    """Adjust the half bits of boxes ``size`` cells long at their ``d``-th cell: a cell after the
    first starts at its low half (clear ``low``), one before the last ends high (set ``high``)."""
    if isinstance(d, int):
        if d:
            code &= ~low
        if d == 0 and not single:
            code |= np.where(size > 1, high, 0).astype(code.dtype)
        return
    code &= np.where(d > 0, ~low, 0b1111).astype(code.dtype)
    code |= np.where(d < size - 1, high, 0).astype(code.dtype)


def _fine_mask(code: int) -> int:
    """Fine cells (bit 2·i + j) of a coarse cell that a box overlaps, from its halves: bits 3 and 2
    the first and last row half (0 low, 1 high), bits 1 and 0 the same for columns."""
    rows = (2 << ((code >> 2) & 1)) - (1 << ((code >> 3) & 1))
    cols = (2 << (code & 1)) - (1 << ((code >> 1) & 1))
    return cols * ((rows & 1) + 4 * (rows >> 1))


_FINE_MASK = np.array([_fine_mask(code) for code in range(16)], np.int64)


def _spans(edges: Edges, cells: Cells) -> tuple[np.ndarray, np.ndarray]:
    """The crossing rule along each row of coarse cell centres: every (cell, polygon piece) whose
    centre the piece holds."""
    if edges.n_areal < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    # rows whose centre line y satisfies min ≤ y < max, widened by a hair against rounding; the
    # exact half-open crossing rule on row_y then decides
    u = edges.y[: edges.n_areal] - cells.y0
    u /= cells.ch
    u -= 0.5
    a, b = u[:-1], u[1:]
    lo = np.minimum(a, b)
    lo -= 1e-6
    np.ceil(lo, out=lo)
    hi = np.maximum(a, b)
    hi += 1e-6
    np.ceil(hi, out=hi)
    np.clip(lo, 0, None, out=lo)
    np.clip(hi, None, cells.nrow, out=hi)
    hi -= lo  # rows per edge: lo .. hi - 1
    hi[~edges.ok[: edges.n_areal - 1]] = 0
    some = np.flatnonzero(hi > 0)
    n = hi[some].astype(np.int64)
    owner = np.repeat(some, n)
    row = np.repeat(lo[some].astype(np.int64), n)
    row += np.arange(len(owner)) - np.repeat(np.cumsum(n) - n, n)
    del u, a, b, lo, hi, n
    yr = cells.y0 + (row + 0.5) * cells.ch
    a, b = np.take(edges.xy, owner, axis=0), np.take(edges.xy, owner + 1, axis=0)
    ya, yb = a[:, 1], b[:, 1]
    crosses = (ya > yr) != (yb > yr)
    row, yr, a, b = row[crosses], yr[crosses], a[crosses], b[crosses]
    v = owner[crosses]
    xa, xb, ya, yb = a[:, 0], b[:, 0], a[:, 1], b[:, 1]
    x_cross = xa + (yr - ya) * (xb - xa) / (yb - ya)
    # the first column whose centre is east of the crossing
    col = np.ceil((x_cross - cells.x0) / cells.cw - 0.5)
    col = np.clip(col, 0, cells.ncol).astype(np.int64)
    piece = edges.piece[v].astype(np.int64)
    cb = _bits(cells.ncol + 1)
    rb = _bits(cells.nrow)
    key = (((piece << rb) | row) << cb) | col
    key.sort()
    group = key >> cb
    col = key & ((1 << cb) - 1)
    # every closed ring crosses a row an even number of times: pair them up within each group
    m = len(key)
    if m % 2 or (m and np.any(group[0::2] != group[1::2])):
        raise ValueError("a polygon ring crosses a scanline an odd number of times")
    c_lo, c_hi = col[0::2], col[1::2] - 1
    group = group[0::2]
    span_n = np.maximum(c_hi - c_lo + 1, 0)
    span = np.repeat(np.arange(len(c_lo)), span_n)
    cols = c_lo[span] + np.arange(int(span_n.sum())) - np.repeat(np.cumsum(span_n) - span_n, span_n)
    g = group[span]
    return (g & ((1 << rb) - 1)) * cells.ncol + cols, g >> rb


def _whole_cells(
    edges: Edges,
    ncells: int,
    run_cell: np.ndarray,
    run_piece: np.ndarray,
    inside_cell: np.ndarray,
    inside_piece: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Per cell, a polygon piece that holds the whole cell (its centre is inside and none of its
    edges touches the cell), else -1; and per run (a piece whose edges touch a cell, sorted by
    cell then piece), whether the piece holds the cell's centre."""
    interior = np.full(ncells, -1, np.int32)
    centre_inside = np.zeros(len(run_cell), bool)
    if not len(inside_cell) or not len(run_cell):
        if len(inside_cell):
            interior[inside_cell] = inside_piece.astype(np.int32)
        return interior, centre_inside
    # the cells of a span that an edge of the same piece touches are runs: they are not whole
    pb = _bits(int(edges.piece.max()) + 1)
    runs = (run_cell.astype(np.int64) << pb) | run_piece  # sorted
    keys = np.sort((inside_cell << pb) | inside_piece)
    at = np.minimum(np.searchsorted(runs, keys), len(runs) - 1)
    is_run = runs[at] == keys
    whole = keys[~is_run]
    interior[whole >> pb] = (whole & ((1 << pb) - 1)).astype(np.int32)
    centre_inside[at[is_run]] = True
    return interior, centre_inside


def _fine_level(
    cells: Cells,
    offsets: np.ndarray,
    split: np.ndarray,
    regs: np.ndarray,
    reg_mask: np.ndarray,
    reg_piece: np.ndarray,
    run: np.ndarray,
    centre_inside: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fine offsets (from 0), registrations and interior pieces of the blocks of ``split``,
    made in independent chunks of blocks on two threads (numpy leaves the GIL)."""
    bounds = np.linspace(0, len(split), min(len(split), FINE_CHUNKS) + 1).astype(np.int64)

    def chunk(ab: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        a, b = ab
        return _fine_chunk(offsets, split[a:b], regs, reg_mask, reg_piece, run, centre_inside)

    with ThreadPoolExecutor(max_workers=2) as pool:
        parts = list(pool.map(chunk, itertools.pairwise(bounds)))
    counts = np.concatenate([p[0] for p in parts])
    fine_offsets = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(counts, out=fine_offsets[1:])
    return fine_offsets, np.concatenate([p[1] for p in parts]), np.concatenate([p[2] for p in parts])


#: the fine level is made in this many chunks of blocks
FINE_CHUNKS = 8


def _fine_chunk(
    offsets: np.ndarray,
    split: np.ndarray,
    regs: np.ndarray,
    reg_mask: np.ndarray,
    reg_piece: np.ndarray,
    run: np.ndarray,
    centre_inside: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Registrations per fine cell, the registrations and the interior pieces of the blocks of
    the coarse cells ``split`` (fine cell 4·block + 2·i + j), numbered from 0.

    A registration keeps its ``INSIDE_BIT``: the reference of a fine cell is the centre of its
    coarse cell, one of its corners. A piece with no edge in a fine cell has its boundary clear
    of the whole closed cell, that corner included: it holds the whole cell iff it holds the
    coarse centre. Only pieces with edges in the coarse cell can (it is not whole inside any)."""
    nfine = 4 * len(split)
    # the coarse registrations of these cells (consecutive), and their runs renumbered from 0
    count = offsets[split + 1] - offsets[split]
    block = np.repeat(np.arange(len(split), dtype=np.int64), count)
    reg = np.arange(int(count.sum())) + np.repeat(offsets[split] - (np.cumsum(count) - count), count)
    mask = reg_mask[reg]
    coarse_run = run[reg]
    starts = np.empty(len(reg), bool)
    starts[:1] = True
    np.not_equal(coarse_run[1:], coarse_run[:-1], out=starts[1:])
    srun = np.cumsum(starts, dtype=np.int64) - 1
    run_block = block[starts]
    run_piece = reg_piece[reg[starts]]
    whole = np.repeat(centre_inside[coarse_run[starts]], 4).reshape(-1, 4)
    del coarse_run, starts
    # each fine cell's registrations, in the order of the coarse ones: no sort needed
    selected = [np.flatnonzero(mask & (1 << b)) for b in range(4)]
    per_cell = np.zeros((len(split), 4), np.int64)
    for b, at in enumerate(selected):
        per_cell[:, b] = np.bincount(block[at], minlength=len(split))
    counts = per_cell.reshape(-1)
    fine_start = np.cumsum(counts) - counts
    fine_regs = np.empty(int(counts.sum()), regs.dtype)
    for b, at in enumerate(selected):
        blk = block[at]
        first = np.flatnonzero(np.r_[True, blk[1:] != blk[:-1]]) if len(at) else at
        rank = np.arange(len(at)) - np.repeat(first, np.diff(np.r_[first, len(at)]))
        fine_regs[fine_start[4 * blk + b] + rank] = regs[reg[at]]
        # a piece with an edge in the fine cell does not hold it whole
        whole[srun[at], b] = False
    # fine cells whole inside a piece: it holds the coarse centre and has no edge in the cell
    r, local = np.nonzero(whole)
    fine_interior = np.full(nfine, -1, np.int32)
    fine_interior[4 * run_block[r] + local] = run_piece[r]
    return counts, fine_regs, fine_interior


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
