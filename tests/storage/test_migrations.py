import datetime as dt

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from clearland.storage.repository import MIGRATIONS, SCHEMA_HEAD
from clearland.storage.schema import metadata


def test_schema_head_matches_alembic():
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(cfg).get_current_head() == SCHEMA_HEAD


def test_migrations_build_exactly_the_declared_tables(registry):
    with registry.store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    # the R*Tree virtual tables belong to the SQLite dialect, not to the declared schema
    diff = [d for d in diff if not (d[0] == "remove_table" and "_rtree" in d[1].name)]
    assert diff == []


def test_sqlite_is_in_wal_mode_with_rtrees(registry):
    with registry.store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        names = {r[0] for r in conn.exec_driver_sql("SELECT name FROM sqlite_master")}
    assert {"hazard_areas_rtree", "admin_areas_rtree", "hazard_areas_rtree_del"} <= names


def test_rtree_holds_exactly_the_current_boxes(registry, tmp_path):
    from clearland.services.imports import ImportOptions, import_file
    from conftest import make_hazard_feature, square, write_geojson

    v1 = write_geojson(
        tmp_path / "a.geojson", [make_hazard_feature(square(17 + i / 10, 44), id=f"r{i}") for i in range(5)]
    )
    import_file(registry, v1, ImportOptions(date_of_information=dt.date(2024, 1, 1)))
    moved = write_geojson(
        tmp_path / "b.geojson", [make_hazard_feature(square(18 + i / 10, 45), id=f"r{i}") for i in range(5)]
    )
    import_file(registry, moved, ImportOptions(date_of_information=dt.date(2024, 2, 1)))
    with registry.store.engine.connect() as conn:
        boxes = conn.exec_driver_sql("SELECT id, minx, miny FROM hazard_areas_rtree ORDER BY id").all()
        rows = conn.exec_driver_sql("SELECT record_id, minx, miny FROM hazard_areas ORDER BY record_id").all()
    assert len(boxes) == 5
    assert [(i, round(x, 4), round(y, 4)) for i, x, y in boxes] == [
        (i, round(x, 4), round(y, 4)) for i, x, y in rows
    ]
    from clearland.services import queries

    hits = queries.records(registry, bbox=(18.0, 44.9, 18.15, 45.1))
    assert [h["source_id"] for h in hits] == ["r0", "r1"]
