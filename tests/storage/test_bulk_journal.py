"""A bulk write on SQLite (``Store.write(bulk=True)``, what an import of many features asks for)
leaves the WAL for a rollback journal while it has the database to itself, and comes back to
it; others can still open and read the database meanwhile, and it stays in the WAL when they
have it open already."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from clearland.services.registry import init_registry, open_registry
from clearland.settings import Settings


@pytest.fixture
def db(tmp_path: Path) -> str:
    # a SQLite file on the PostGIS run too: the journal is SQLite's
    path = str(tmp_path / "registry.db")
    registry = open_registry(Settings(), db=path)
    init_registry(registry)
    registry.close()
    return path


def _mode(path: str) -> str:
    """The journal mode the database file names (a plain connection, no settings of ours)."""
    raw = sqlite3.connect(path)
    try:
        return str(raw.execute("PRAGMA journal_mode").fetchone()[0])
    finally:
        raw.close()


def _meta(tx: object, key: str) -> str | None:
    return tx.conn.execute(text("SELECT value FROM meta WHERE key = :k"), {"k": key}).scalar()  # type: ignore[attr-defined]


def test_a_bulk_write_goes_through_a_rollback_journal_and_back_to_the_wal(db: str) -> None:
    registry = open_registry(Settings(), db=db)
    try:
        with registry.store.write(bulk=True) as tx:
            tx.conn.execute(text("INSERT INTO meta (key, value) VALUES ('bulk', 'yes')"))
            assert tx.conn.execute(text("PRAGMA journal_mode")).scalar() == "delete"
            assert Path(f"{db}-journal").exists()
            # another process opening the database meanwhile reads what was committed before
            other = open_registry(Settings(), db=db)
            try:
                with other.store.read() as seen:
                    assert _meta(seen, "bulk") is None
            finally:
                other.close()
        assert _mode(db) == "wal"
        with registry.store.read() as tx:
            assert _meta(tx, "bulk") == "yes"
    finally:
        registry.close()
    assert not Path(f"{db}-journal").exists()


def test_a_bulk_write_that_fails_rolls_back_and_comes_back_to_the_wal(db: str) -> None:
    registry = open_registry(Settings(), db=db)
    try:
        with pytest.raises(RuntimeError), registry.store.write(bulk=True) as tx:
            tx.conn.execute(text("INSERT INTO meta (key, value) VALUES ('bulk', 'no')"))
            raise RuntimeError("refused halfway")
        assert _mode(db) == "wal"
        with registry.store.read() as tx:
            assert _meta(tx, "bulk") is None
    finally:
        registry.close()


def test_a_bulk_write_stays_in_the_wal_while_another_connection_has_the_database_open(db: str) -> None:
    reader = sqlite3.connect(db)
    reader.execute("SELECT count(*) FROM meta").fetchone()
    registry = open_registry(Settings(), db=db)
    try:
        with registry.store.write(bulk=True) as tx:
            tx.conn.execute(text("INSERT INTO meta (key, value) VALUES ('bulk', 'wal')"))
            assert tx.conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert reader.execute("SELECT value FROM meta WHERE key = 'bulk'").fetchone() == ("wal",)
    finally:
        registry.close()
        reader.close()
    assert _mode(db) == "wal"
