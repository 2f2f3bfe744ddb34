import datetime as dt
import warnings

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from clearland.storage.repository import MIGRATIONS, SCHEMA_HEAD
from clearland.storage.schema import CURRENT_TABLES, metadata
from dbs import postgis

#: the tables that hold a geometry, each with a spatial index of the dialect's
GEOMETRY_TABLES = sorted(table.name for table in CURRENT_TABLES.values())


def test_schema_head_matches_alembic():
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(cfg).get_current_head() == SCHEMA_HEAD


def test_migrations_build_exactly_the_declared_tables(registry):
    with registry.store.engine.connect() as conn, warnings.catch_warnings():
        # PostGIS's geometry type (geom_pg, checked below) is not one SQLAlchemy knows
        warnings.filterwarnings("ignore", "Did not recognize type 'geometry'", category=Warning)
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    if not postgis():
        # the R*Tree virtual tables belong to the SQLite dialect, not to the declared schema
        diff = [d for d in diff if not (d[0] == "remove_table" and "_rtree" in d[1].name)]
        assert diff == []
        return
    # PostGIS's own table, and the generated geometry column with its GiST index of each
    # geometry table (migration 0007), belong to the PostGIS dialect: exactly those, nothing else
    dialect_only = []
    for d in diff:
        if isinstance(d, tuple) and d[0] == "remove_table" and d[1].name == "spatial_ref_sys":
            continue
        if isinstance(d, tuple) and d[0] == "remove_column" and d[3].name == "geom_pg":
            dialect_only.append(("column", d[2]))
        elif isinstance(d, tuple) and d[0] == "remove_index" and d[1].name.endswith("_geom_pg"):
            dialect_only.append(("index", d[1].table.name))
        else:
            raise AssertionError(f"the migrations and the declared schema differ: {d}")
    assert sorted(dialect_only) == sorted(
        [("column", name) for name in GEOMETRY_TABLES] + [("index", name) for name in GEOMETRY_TABLES]
    )


def test_sqlite_is_in_wal_mode_with_rtrees_postgis_has_geometry_with_gist(registry):
    if postgis():
        _postgis_geometry_columns_with_gist(registry)
        return
    with registry.store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        names = {r[0] for r in conn.exec_driver_sql("SELECT name FROM sqlite_master")}
    assert {"hazard_areas_rtree", "admin_areas_rtree", "hazard_areas_rtree_del"} <= names


def _postgis_geometry_columns_with_gist(registry) -> None:
    """Each geometry table: ``geom_pg geometry(Geometry, 4326)`` generated from the WKB, and a
    GiST index on it."""
    with registry.store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT extname FROM pg_extension WHERE extname = 'postgis'").scalar()
        columns = conn.exec_driver_sql(
            "SELECT f_table_name, type, srid FROM geometry_columns WHERE f_geometry_column = 'geom_pg'"
        ).all()
        generated = conn.exec_driver_sql(
            "SELECT table_name, is_generated, generation_expression FROM information_schema.columns "
            "WHERE column_name = 'geom_pg'"
        ).all()
        indexes = conn.exec_driver_sql(
            "SELECT tablename, indexdef FROM pg_indexes WHERE indexdef LIKE '%%(geom_pg)%%'"
        ).all()
    assert sorted(columns) == [(name, "GEOMETRY", 4326) for name in GEOMETRY_TABLES]
    assert sorted(name for name, _, _ in generated) == GEOMETRY_TABLES
    assert all(
        kind == "ALWAYS" and "st_geomfromwkb(geom, 4326)" in expr.lower() for _, kind, expr in generated
    )
    assert sorted(name for name, _ in indexes) == GEOMETRY_TABLES
    assert all("USING gist (geom_pg)" in definition for _, definition in indexes)


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
        if postgis():  # the GiST index over geom_pg, generated from the WKB each row holds now
            boxes = _gist_boxes(conn)
        else:
            boxes = conn.exec_driver_sql("SELECT id, minx, miny FROM hazard_areas_rtree ORDER BY id").all()
        rows = conn.exec_driver_sql("SELECT record_id, minx, miny FROM hazard_areas ORDER BY record_id").all()
    assert len(boxes) == 5
    assert [(i, round(x, 4), round(y, 4)) for i, x, y in boxes] == [
        (i, round(x, 4), round(y, 4)) for i, x, y in rows
    ]
    from clearland.services import queries

    hits = queries.records(registry, bbox=(18.0, 44.9, 18.15, 45.1))
    assert [h["source_id"] for h in hits] == ["r0", "r1"]


def _gist_boxes(conn):
    """(record id, minx, miny) of every row the GiST index of hazard_areas finds for the whole
    world (read through the index, not the table), after checking that geom_pg is the WKB."""
    assert (
        conn.exec_driver_sql(
            "SELECT count(*) FROM hazard_areas WHERE geom_pg IS NULL OR ST_AsBinary(geom_pg) <> geom"
        ).scalar()
        == 0
    )
    world = "geom_pg && ST_MakeEnvelope(-180, -90, 180, 90, 4326)"
    conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
    plan = "\n".join(
        r[0] for r in conn.exec_driver_sql(f"EXPLAIN SELECT record_id FROM hazard_areas WHERE {world}")
    )
    assert "ix_hazard_areas_geom_pg" in plan, plan
    return conn.exec_driver_sql(
        "SELECT record_id, ST_XMin(geom_pg), ST_YMin(geom_pg) FROM hazard_areas "
        f"WHERE {world} ORDER BY record_id"
    ).all()
