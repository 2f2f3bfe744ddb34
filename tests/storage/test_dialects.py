"""The SQLite dialect's fast paths (JSON key arrays, multi-row INSERTs on the transaction's
writer thread, INSERT … RETURNING, R*Tree filled from the values at hand) give what the shared
SQL gives: the generic dialect runs here on SQLite over the same imports. With ``--postgis`` the
same comparison runs on PostGIS: the PostGIS dialect's hooks (``= ANY(array)`` key lists, the
bbox filter on the GiST-indexed ``geom_pg``) against the generic ones (IN lists, the four bbox
columns). And the writer thread's and the R*Tree-first paths keep a transaction whole."""

from __future__ import annotations

import datetime as dt

import pytest
import shapely

from clearland.services import queries, review
from clearland.services.imports import ImportOptions, import_file
from clearland.services.registry import init_registry, open_registry
from clearland.settings import Settings
from clearland.storage import schema
from clearland.storage.dialects import PostGISDialect, SpatialDialect, SQLiteDialect
from conftest import make_hazard_feature, square, write_geojson
from dbs import contents, database, postgis

D1, D2 = dt.date(2024, 1, 10), dt.date(2024, 2, 10)
COUNT = 1000  # more keys than one IN list of the generic dialect holds


def _imports(registry, tmp_path):
    first = [make_hazard_feature(square(17 + i / 1000, 44), id=f"k{i}", name=f"n{i}") for i in range(COUNT)]
    second = [
        make_hazard_feature(square(17 + i / 1000, 44.5 if i % 3 == 0 else 44), id=f"k{i}", name=f"n{i}")
        for i in range(COUNT)
    ]
    one = import_file(
        registry, write_geojson(tmp_path / "one.geojson", first), ImportOptions(date_of_information=D1)
    )
    two = import_file(
        registry, write_geojson(tmp_path / "two.geojson", second), ImportOptions(date_of_information=D2)
    )
    return one, two


def _state(registry, **kwargs):
    return [
        (r["ref"], r["source_id"], r["name"], round(r["area_m2"], 6), shapely.to_wkb(r["geometry"]))
        for r in queries.records(registry, **kwargs)
    ]


def test_generic_and_the_databases_own_dialect_land_the_same_imports(tmp_path):
    states = {}
    own = PostGISDialect() if postgis() else SQLiteDialect()
    for dialect in (own, SpatialDialect()):
        where = tmp_path / dialect.name
        where.mkdir()
        registry = open_registry(Settings(), db=database(where / "registry.db"))
        init_registry(registry)
        # the connection set-up stays the database's own; only the hooks are swapped
        assert type(registry.store.dialect) is type(own)
        registry.store.dialect = dialect
        try:
            one, two = _imports(registry, where)
            assert (one["created"], two["updated"], two["unchanged"]) == (
                COUNT,
                (COUNT + 2) // 3,
                COUNT * 2 // 3,
            )
            now, past = _state(registry), _state(registry, as_of=D1)
            bbox = sorted(r["source_id"] for r in queries.records(registry, bbox=(17.0, 44.4, 17.01, 44.6)))
            ref = now[0][0]
            history = [h["changed"] for h in queries.record(registry, ref, history=True)["history"]]
            review.unapprove_report(registry, two["report"], "test")
            rebuilt = _state(registry)
            states[dialect.name] = (now, past, bbox, history, rebuilt)
        finally:
            registry.close()
    mine, generic = states[own.name], states["generic"]
    assert mine == generic
    now, past, bbox, history, rebuilt = mine
    assert len(now) == COUNT and bbox == sorted(f"k{i}" for i in range(0, 11, 3))
    assert rebuilt == past and all("geometry" in changed for changed in history)


def _bulk_records(prefix: str, count: int, *, duplicate: bool = False) -> dict[str, list[object]]:
    refs = [f"{prefix}-{i:06d}" for i in range(count)]
    if duplicate:
        refs[-1] = refs[0]  # the unique (kind, ref) refuses the last row
    return {"kind": ["hazard_area"] * count, "ref": refs, "row_version": [0] * count}


def test_bulk_inserts_land_with_the_commit_or_not_at_all(tmp_path):
    # on SQLite, many rows go to the transaction's writer thread: the commit waits for them;
    # an insert that fails there fails the transaction's next statement (or its commit), and
    # the transaction rolls back whole, the rows inserted before it too
    db = database(tmp_path / "registry.db")
    registry = open_registry(Settings(), db=db)
    init_registry(registry)
    store = registry.store
    try:
        before = contents(db)
        for later_statement in (True, False):
            with pytest.raises(Exception, match=r"(?i)unique"), store.write() as tx:
                tx.set_meta("marker", "written")
                tx.dialect.insert_columns(tx.conn, schema.records, _bulk_records("A", 5000))
                tx.dialect.insert_columns(tx.conn, schema.records, _bulk_records("B", 3000, duplicate=True))
                if later_statement:
                    tx.get_meta("marker")
            assert contents(db) == before
        with store.write() as tx:
            tx.dialect.insert_columns(tx.conn, schema.records, _bulk_records("A", 5000))
            tx.dialect.insert_columns(tx.conn, schema.records, _bulk_records("B", 3000))
        with store.read() as tx:
            assert tx.conn.exec_driver_sql("SELECT count(*) FROM records").scalar() == 8000
    finally:
        registry.close()


def test_boxes_indexed_ahead_must_be_those_of_the_rows_written(tmp_path):
    # ``box_new_current`` puts the boxes of rows still to be written into the spatial index (an
    # import fills SQLite's R*Tree first): a row then written with another box, or a box whose
    # row never comes, and the transaction refuses to commit; nothing is stored
    from clearland.domain.vocab import RecordKind
    from clearland.errors import StorageError

    db = database(tmp_path / "registry.db")
    registry = open_registry(Settings(), db=db)
    init_registry(registry)
    before = contents(db)

    def state(record_id: int, ref: str, geom: shapely.Geometry) -> dict[str, object]:
        return {
            "record_id": record_id,
            "ref": ref,
            "category": "SHA",
            "status": "open",
            "area_m2": 1.0,
            "remaining_area_m2": 1.0,
            "date_of_information": "2024-01-10",
            "geometry": geom,
        }

    try:
        for written in ("other", "none"):
            with pytest.raises(StorageError), registry.store.write() as tx:
                ids, _blank = tx.ensure_records(RecordKind.HAZARD_AREA, ["HA-000001", "HA-000002"])
                boxes = [square(17, 44), square(18, 44)]
                tx.box_new_current(RecordKind.HAZARD_AREA, [ids["HA-000001"], ids["HA-000002"]], boxes)
                if written == "other":  # the second row with another geometry than its box
                    states = [
                        state(ids["HA-000001"], "HA-000001", boxes[0]),
                        state(ids["HA-000002"], "HA-000002", square(19, 44)),
                    ]
                    tx.write_current(RecordKind.HAZARD_AREA, states, new=True)
            assert contents(db) == before
        with registry.store.write() as tx:
            ids, _blank = tx.ensure_records(RecordKind.HAZARD_AREA, ["HA-000001"])
            tx.box_new_current(RecordKind.HAZARD_AREA, [ids["HA-000001"]], [square(17, 44)])
            tx.write_current(
                RecordKind.HAZARD_AREA, [state(ids["HA-000001"], "HA-000001", square(17, 44))], new=True
            )
        assert queries.records(registry, bbox=(17.001, 44.001, 17.002, 44.002))[0]["ref"] == "HA-000001"
    finally:
        registry.close()
