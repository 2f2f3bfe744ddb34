"""Fill an empty SQLite R*Tree with many boxes at once, as a packed tree.

SQLite's R*Tree inserts one box at a time (choose a leaf, split it when full, reinsert):
~15 µs a box, 1.5-2 s of an import of 100k areas. Into an *empty* tree, ``fill_empty`` writes
the whole tree instead: the boxes sorted into full nodes (Sort-Tile-Recursive), each node
made in numpy in the module's documented node format (``ext/rtree/rtree.c``: big-endian,
2 bytes of tree depth on the root, 2 bytes of cell count, then per cell an 8-byte id and
four 4-byte floats), and the three shadow tables (``%_node``, ``%_rowid``, ``%_parent``)
filled with a few INSERTs: ~0.3 s for 100k.

The index is what the safety answers rest on, so nothing is taken on trust: the tree is
written in a savepoint, then SQLite's own ``rtreecheck()`` checks its structure (every box
within its parent's, the node, rowid and parent tables agreeing) and every entry is read back
through the R*Tree and compared with the box SQLite's own insert would have stored (rounded
outwards to 32-bit floats the way ``rtreeValueDown``/``rtreeValueUp`` do). Anything unusual
(a tree not empty, a table with auxiliary columns, a node size out of the ordinary, a box
that is not finite) or any difference found rolls the savepoint back, and the caller inserts
the boxes one by one as before. Updates and deletes later go through the module as usual.
"""

from __future__ import annotations

import logging
import math
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

#: rtree.c's rounding factors: a box is stored as 32-bit floats rounded outwards
_RNDTOWARDS = 1.0 - 1.0 / 8388608.0
_RNDAWAY = 1.0 + 1.0 / 8388608.0
#: bytes per cell of a 2-dimensional tree: the 64-bit id and four 32-bit coordinates
_CELL = 24
_CELL_DTYPE = np.dtype([("id", ">i8"), ("box", ">f4", (4,))])
#: rows per multi-row INSERT into a shadow table (2 values each: under SQLite's 32,766 limit)
_ROWS_PER_INSERT = 5000


class PackRefused(Exception):
    """The packed tree could not be written or did not check out; the caller inserts instead."""


def rounded_boxes(boxes: np.ndarray) -> np.ndarray:
    """(minx, maxx, miny, maxy) rows as the R*Tree stores them: 32-bit floats, each minimum
    rounded down and each maximum rounded up (``rtreeValueDown``/``rtreeValueUp``)."""
    boxes = np.asarray(boxes, dtype=np.float64)
    out = boxes.astype(np.float32)
    lows, highs = boxes[:, 0::2], boxes[:, 1::2]
    out_lows, out_highs = out[:, 0::2], out[:, 1::2]  # views: written through
    up = out_lows.astype(np.float64) > lows
    if up.any():
        d = lows[up]
        out_lows[up] = (d * np.where(d < 0, _RNDAWAY, _RNDTOWARDS)).astype(np.float32)
    down = out_highs.astype(np.float64) < highs
    if down.any():
        d = highs[down]
        out_highs[down] = (d * np.where(d < 0, _RNDTOWARDS, _RNDAWAY)).astype(np.float32)
    return out


@dataclass
class PackedTree:
    nodes: list[tuple[int, bytes]]  # (node number, node blob); node 1 is the root
    rowids: tuple[list[int], list[int]]  # entry id and its leaf's node number
    parents: tuple[list[int], list[int]]  # node number and its parent's, for every non-root node
    depth: int


def pack(ids: np.ndarray, boxes: np.ndarray, node_size: int) -> PackedTree:
    """A packed tree of these entries (``boxes``: ``rounded_boxes``, rtree column order), in
    nodes of ``node_size`` bytes, each as full as the count allows (Sort-Tile-Recursive)."""
    max_cells = (node_size - 4) // _CELL
    if max_cells < 3:
        raise PackRefused(f"node size {node_size} holds fewer than 3 cells")
    cell_ids = np.asarray(ids, dtype=np.int64)
    cell_boxes = np.asarray(boxes, dtype=np.float32)
    next_number = 2
    nodes: list[tuple[int, bytes]] = []
    rowids: tuple[list[int], list[int]] = ([], [])
    parent_of: list[tuple[np.ndarray, np.ndarray]] = []  # (child numbers, parent numbers)
    depth = 0
    while True:
        count = len(cell_ids)
        root = count <= max_cells
        if root:
            order = np.arange(count)
            starts = np.array([0, count])
            numbers = np.array([1])
        else:
            order = _str_order(cell_boxes, max_cells)
            groups = math.ceil(count / max_cells)
            starts = (np.arange(groups + 1) * count) // groups  # sizes differ by one at most
            numbers = np.arange(next_number, next_number + groups)
            next_number += groups
        cell_ids, cell_boxes = cell_ids[order], cell_boxes[order]
        sizes = np.diff(starts)
        owner = np.repeat(numbers, sizes)
        if depth == 0:  # in id order: appended to the rowid table's b-tree, not spread over it
            by_id = np.argsort(cell_ids, kind="stable")
            rowids = (cell_ids[by_id].tolist(), owner[by_id].tolist())
        else:
            parent_of.append((cell_ids, owner))
        nodes.extend(_blobs(cell_ids, cell_boxes, starts, numbers, node_size, depth if root else 0))
        if root:
            break
        # the level above: one cell per node, its box the union of the node's cells
        lows = np.minimum.reduceat(cell_boxes[:, 0::2], starts[:-1], axis=0)
        highs = np.maximum.reduceat(cell_boxes[:, 1::2], starts[:-1], axis=0)
        cell_boxes = np.empty((len(numbers), 4), dtype=np.float32)
        cell_boxes[:, 0::2], cell_boxes[:, 1::2] = lows, highs
        cell_ids = numbers
        depth += 1
    children = [int(c) for c, _p in parent_of for c in c.tolist()]
    parents = [int(p) for _c, p in parent_of for p in p.tolist()]
    return PackedTree(nodes, rowids, (children, parents), depth)


def _str_order(boxes: np.ndarray, max_cells: int) -> np.ndarray:
    """Sort-Tile-Recursive order: by centre x into vertical slices of about sqrt(nodes) nodes
    each, by centre y within a slice; consecutive runs of ``max_cells`` then make compact nodes."""
    count = len(boxes)
    cx = boxes[:, 0].astype(np.float64) + boxes[:, 1]
    cy = boxes[:, 2].astype(np.float64) + boxes[:, 3]
    slices = math.ceil(math.sqrt(math.ceil(count / max_cells)))
    per_slice = slices * max_cells
    by_x = np.argsort(cx, kind="stable")
    slice_of = np.empty(count, dtype=np.int64)
    slice_of[by_x] = np.arange(count) // per_slice
    return np.lexsort((cy, slice_of))


def _blobs(
    cell_ids: np.ndarray,
    cell_boxes: np.ndarray,
    starts: np.ndarray,
    numbers: np.ndarray,
    node_size: int,
    depth: int,
) -> list[tuple[int, bytes]]:
    count = len(cell_ids)
    cells = np.empty(count, dtype=_CELL_DTYPE)
    cells["id"] = cell_ids
    cells["box"] = cell_boxes
    sizes = np.diff(starts)
    data = np.zeros((len(numbers), node_size), dtype=np.uint8)
    data[:, 0], data[:, 1] = depth >> 8, depth & 0xFF
    data[:, 2], data[:, 3] = sizes >> 8, sizes & 0xFF
    node = np.repeat(np.arange(len(numbers)), sizes)
    local = np.arange(count) - starts[:-1][node]
    columns = 4 + _CELL * local[:, None] + np.arange(_CELL)
    data[node[:, None], columns] = cells.view(np.uint8).reshape(count, _CELL)
    return [(int(n), row.tobytes()) for n, row in zip(numbers, data, strict=True)]


def fill_empty(raw: sqlite3.Connection, rtree: str, ids: np.ndarray, boxes: np.ndarray) -> bool:
    """Write the entries (``ids``; ``boxes`` as minx, miny, maxx, maxy rows) into the R*Tree
    ``rtree`` as one packed tree, if it is empty and everything checks out; False (nothing
    written) otherwise. Runs in the caller's transaction on the sqlite3 connection."""
    boxes = np.asarray(boxes, dtype=np.float64)
    if len(ids) == 0 or not np.isfinite(boxes).all():
        return False
    stored = rounded_boxes(boxes[:, [0, 2, 1, 3]])
    if (stored[:, 0] > stored[:, 1]).any() or (stored[:, 2] > stored[:, 3]).any():
        return False
    node_size = _empty_tree_node_size(raw, rtree)
    if node_size is None:
        return False
    raw.execute("SAVEPOINT clearland_rtree_pack")
    try:
        tree = pack(np.asarray(ids, dtype=np.int64), stored, node_size)
        _write(raw, rtree, tree)
        _check(raw, rtree, np.asarray(ids, dtype=np.int64), stored)
    except (PackRefused, sqlite3.DatabaseError, ValueError) as exc:
        raw.execute("ROLLBACK TO clearland_rtree_pack")
        raw.execute("RELEASE clearland_rtree_pack")
        log.warning("%s: packed R*Tree load refused (%s); inserting the boxes one by one", rtree, exc)
        return False
    raw.execute("RELEASE clearland_rtree_pack")
    return True


def _empty_tree_node_size(raw: sqlite3.Connection, rtree: str) -> int | None:
    """The node size of ``rtree`` if it is an empty 2-dimensional tree of the plain layout."""
    columns = [row[1] for row in raw.execute(f'PRAGMA table_info("{rtree}_rowid")')]
    if columns != ["rowid", "nodeno"]:
        return None
    nodes = raw.execute(f'SELECT nodeno, data FROM "{rtree}_node" LIMIT 2').fetchall()
    if len(nodes) != 1 or nodes[0][0] != 1 or not isinstance(nodes[0][1], bytes):
        return None
    root = nodes[0][1]
    if len(root) < 4 + 3 * _CELL or root[:4] != b"\0\0\0\0":
        return None
    for table in ("rowid", "parent"):
        if raw.execute(f'SELECT 1 FROM "{rtree}_{table}" LIMIT 1').fetchone() is not None:
            return None
    return len(root)


def _write(raw: sqlite3.Connection, rtree: str, tree: PackedTree) -> None:
    root = [blob for number, blob in tree.nodes if number == 1]
    raw.execute(f'UPDATE "{rtree}_node" SET data = ? WHERE nodeno = 1', root)
    others = [(number, blob) for number, blob in tree.nodes if number != 1]
    _insert_pairs(raw, f'"{rtree}_node" (nodeno, data)', others)
    _insert_pairs(raw, f'"{rtree}_rowid" (rowid, nodeno)', list(zip(*tree.rowids, strict=True)))
    _insert_pairs(raw, f'"{rtree}_parent" (nodeno, parentnode)', list(zip(*tree.parents, strict=True)))


def _insert_pairs(raw: sqlite3.Connection, target: str, rows: Sequence[tuple[object, object]]) -> None:
    for start in range(0, len(rows), _ROWS_PER_INSERT):
        part = rows[start : start + _ROWS_PER_INSERT]
        values = [value for row in part for value in row]
        raw.execute(f"INSERT INTO {target} VALUES " + ", ".join(["(?, ?)"] * len(part)), values)


def _check(raw: sqlite3.Connection, rtree: str, ids: np.ndarray, stored: np.ndarray) -> None:
    """SQLite's own check of the tree, then every entry read back through the module."""
    (verdict,) = raw.execute("SELECT rtreecheck(?)", (rtree,)).fetchone()
    if verdict != "ok":
        raise PackRefused(f"rtreecheck: {verdict}")
    rows = raw.execute(f'SELECT id, minx, maxx, miny, maxy FROM "{rtree}"').fetchall()
    if len(rows) != len(ids):
        raise PackRefused(f"{len(rows)} entries read back for {len(ids)} written")
    back = np.array(rows, dtype=np.float64)
    got = back[np.argsort(back[:, 0], kind="stable")]
    order = np.argsort(ids, kind="stable")
    if not np.array_equal(got[:, 0].astype(np.int64), ids[order]):
        raise PackRefused("the ids read back differ")
    if not np.array_equal(got[:, 1:], stored[order].astype(np.float64)):
        raise PackRefused("the boxes read back differ")
