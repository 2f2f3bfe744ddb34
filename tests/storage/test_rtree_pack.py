"""The packed load of an empty SQLite R*Tree (``storage.rtree_pack``) against SQLite's own
one-by-one inserts: the same entries, the same answers, a tree SQLite's ``rtreecheck`` accepts
and that SQLite's own inserts, updates and deletes go on working on; and a tree that does not
check out is never left behind."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest
import shapely

from clearland.io import write_layer
from clearland.io.types import OutputFeature
from clearland.services.imports import ImportOptions, import_file
from clearland.services.registry import init_registry, open_registry
from clearland.settings import Settings
from clearland.storage import rtree_pack
from clearland.storage.rtree_pack import fill_empty, rounded_boxes
from dbs import execute

ENTRIES = "SELECT id, minx, maxx, miny, maxy FROM t_rtree ORDER BY id"


def _rtree(page_size: int = 16384) -> sqlite3.Connection:
    raw = sqlite3.connect(":memory:", isolation_level=None)
    raw.execute(f"PRAGMA page_size={page_size}")
    raw.execute("CREATE VIRTUAL TABLE t_rtree USING rtree(id, minx, maxx, miny, maxy)")
    return raw


def _insert(raw: sqlite3.Connection, ids: np.ndarray, boxes: np.ndarray) -> None:
    rows = zip(
        ids.tolist(),
        boxes[:, 0].tolist(),
        boxes[:, 2].tolist(),
        boxes[:, 1].tolist(),
        boxes[:, 3].tolist(),
        strict=True,
    )
    raw.executemany("INSERT INTO t_rtree VALUES (?, ?, ?, ?, ?)", rows)


def _boxes(count: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """minx, miny, maxx, maxy rows around the world: both signs, tiny and wide boxes, points,
    values no 32-bit float holds exactly; ids neither dense nor in order."""
    rng = np.random.default_rng(seed)
    centre = rng.uniform([-179, -89], [179, 89], size=(count, 2))
    half = rng.choice([0.0, 1e-7, 3e-4, 0.01, 0.7], size=(count, 1)) * rng.uniform(0.5, 1, (count, 2))
    boxes = np.hstack([centre - half, centre + half])
    ids = rng.permutation(np.arange(1, count + 1) * 7 + 3)
    return ids, boxes


@pytest.mark.parametrize("page_size, count", [(16384, 20_000), (512, 6_000)])
def test_a_packed_tree_holds_what_inserts_would_and_answers_the_same(page_size: int, count: int) -> None:
    # 512-byte pages make nodes of 18 cells: a tree four levels deep
    ids, boxes = _boxes(count)
    packed, inserted = _rtree(page_size), _rtree(page_size)
    assert fill_empty(packed, "t_rtree", ids, boxes)
    _insert(inserted, ids, boxes)
    assert packed.execute("SELECT rtreecheck('t_rtree')").fetchone() == ("ok",)
    assert packed.execute(ENTRIES).fetchall() == inserted.execute(ENTRIES).fetchall()
    depth = int.from_bytes(
        packed.execute("SELECT substr(data, 1, 2) FROM t_rtree_node WHERE nodeno = 1").fetchone()[0]
    )
    assert depth == (2 if page_size == 16384 else 3)  # 51 cells a node, or 18
    rng = np.random.default_rng(2)
    for _ in range(300):
        x, y = rng.uniform([-180, -90], [180, 90])
        w, h = rng.choice([1e-6, 0.01, 1.0, 20.0], size=2)
        query = (
            f"SELECT id FROM t_rtree WHERE maxx >= {x} AND minx <= {x + w} "
            f"AND maxy >= {y} AND miny <= {y + h} ORDER BY id"
        )
        assert packed.execute(query).fetchall() == inserted.execute(query).fetchall()

    # SQLite's own inserts, updates and deletes go on working on the packed tree
    for raw in (packed, inserted):
        raw.execute("BEGIN")
        raw.executemany("DELETE FROM t_rtree WHERE id = ?", [(int(i),) for i in ids[: count // 3]])
        raw.executemany("INSERT INTO t_rtree VALUES (?, 1, 2, 3, 4)", [(10**9 + i,) for i in range(3000)])
        raw.execute("UPDATE t_rtree SET minx = minx - 1 WHERE id % 5 = 0")
        raw.execute("COMMIT")
    assert packed.execute("SELECT rtreecheck('t_rtree')").fetchone() == ("ok",)
    assert packed.execute(ENTRIES).fetchall() == inserted.execute(ENTRIES).fetchall()


def test_boxes_are_rounded_outwards_as_sqlite_rounds_them() -> None:
    ids, boxes = _boxes(5000, seed=3)
    raw = _rtree()
    _insert(raw, ids, boxes)
    stored = np.array(raw.execute("SELECT minx, maxx, miny, maxy FROM t_rtree ORDER BY id").fetchall())
    ours = rounded_boxes(boxes[:, [0, 2, 1, 3]])[np.argsort(ids)].astype(np.float64)
    assert np.array_equal(stored, ours)
    assert (ours[:, 0::2] <= boxes[np.argsort(ids)][:, :2]).all()
    assert (ours[:, 1::2] >= boxes[np.argsort(ids)][:, 2:]).all()


def test_a_tree_that_is_not_empty_or_boxes_that_are_not_finite_are_left_to_inserts() -> None:
    ids, boxes = _boxes(6000)
    raw = _rtree()
    _insert(raw, ids[:1], boxes[:1])
    assert not fill_empty(raw, "t_rtree", ids[1:], boxes[1:])
    assert raw.execute("SELECT count(*) FROM t_rtree").fetchone() == (1,)
    empty = _rtree()
    bad = boxes.copy()
    bad[10, 2] = np.nan
    assert not fill_empty(empty, "t_rtree", ids, bad)
    assert empty.execute("SELECT count(*) FROM t_rtree_rowid").fetchone() == (0,)
    aux = sqlite3.connect(":memory:", isolation_level=None)
    aux.execute("CREATE VIRTUAL TABLE t_rtree USING rtree(id, minx, maxx, miny, maxy, +name)")
    assert not fill_empty(aux, "t_rtree", ids, boxes)


def test_a_packed_tree_that_does_not_check_out_is_rolled_back(monkeypatch: pytest.MonkeyPatch) -> None:
    # a fault in the node format (here: one box off by a float step, or a cell lost) must be
    # caught by the checks and leave the tree empty for the one-by-one inserts
    ids, boxes = _boxes(8000)
    real_pack = rtree_pack.pack

    def one_box_off(ids_: np.ndarray, stored: np.ndarray, node_size: int) -> rtree_pack.PackedTree:
        stored = stored.copy()
        stored[123, 1] = np.nextafter(stored[123, 1], np.float32(np.inf))
        return real_pack(ids_, stored, node_size)

    def one_cell_lost(ids_: np.ndarray, stored: np.ndarray, node_size: int) -> rtree_pack.PackedTree:
        tree = real_pack(ids_, stored, node_size)
        number, blob = tree.nodes[0]
        cells = int.from_bytes(blob[2:4]) - 1
        tree.nodes[0] = (number, blob[:2] + cells.to_bytes(2) + blob[4:])
        return tree

    for fault in (one_box_off, one_cell_lost):
        monkeypatch.setattr(rtree_pack, "pack", fault)
        raw = _rtree()
        raw.execute("BEGIN")
        assert not fill_empty(raw, "t_rtree", ids, boxes)
        assert raw.execute("SELECT count(*) FROM t_rtree_node").fetchone() == (1,)
        assert raw.execute("SELECT count(*) FROM t_rtree_rowid").fetchone() == (0,)
        assert raw.in_transaction  # the caller's transaction goes on
        raw.execute("COMMIT")


def test_an_import_into_an_empty_registry_packs_its_index_and_the_next_one_inserts(tmp_path) -> None:
    # the first import of 6,000 areas fills the empty R*Tree as a packed tree (2 levels of
    # full nodes); the second adds to it one by one; both leave exactly each row's box
    db = str(tmp_path / "registry.db")  # a SQLite file on the PostGIS run too
    registry = open_registry(Settings(), db=db)
    init_registry(registry)
    try:
        for batch in range(2):
            rng = np.random.default_rng(batch)
            features = [
                OutputFeature(
                    {"source_id": f"b{batch}-{i}", "category": "SHA"},
                    shapely.Point(17 + rng.random(), 44 + rng.random()).buffer(0.001 + rng.random() / 100, 3),
                )
                for i in range(6000)
            ]
            path = tmp_path / f"batch{batch}.gpkg"
            write_layer(path, features, format="gpkg", layer="hazard_areas")
            assert import_file(registry, path, ImportOptions())["created"] == 6000
            if batch == 0:
                (nodes,) = execute(db, "SELECT count(*) FROM hazard_areas_rtree_node")[0]
                assert nodes == 1 + 3 + 118  # root, 3 inner nodes, 6000 / 51 leaves: packed
    finally:
        registry.close()
    assert execute(db, "SELECT rtreecheck('hazard_areas_rtree')") == [("ok",)]
    rows = execute(db, "SELECT record_id, geom FROM hazard_areas ORDER BY record_id")
    ids = np.array([r[0] for r in rows])
    bounds = shapely.bounds(shapely.from_wkb([r[1] for r in rows]))
    index = np.array(execute(db, "SELECT id, minx, maxx, miny, maxy FROM hazard_areas_rtree ORDER BY id"))
    assert np.array_equal(index[:, 0], ids)
    assert np.array_equal(index[:, 1:], rounded_boxes(bounds[:, [0, 2, 1, 3]]).astype(np.float64))
