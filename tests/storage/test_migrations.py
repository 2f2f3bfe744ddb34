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
    assert {"hazard_areas_rtree", "admin_areas_rtree", "hazard_areas_rtree_ins"} <= names
