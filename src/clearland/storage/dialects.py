"""The seam between databases: everything that differs between SQLite and PostGIS lives here.
Shared SQL stays in ``repository``; a dialect overrides only these hooks."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, Table, event, insert, text
from sqlalchemy.sql.elements import ColumnElement


class SpatialDialect:
    name = "generic"

    def configure(self, engine: Engine) -> None:
        """Connection settings applied once per engine."""

    def bbox_filter(self, table: Table, bbox: tuple[float, float, float, float]) -> ColumnElement[bool]:
        """Rows whose bounding box meets ``bbox`` (minx, miny, maxx, maxy, EPSG:4326)."""
        minx, miny, maxx, maxy = bbox
        c = table.c
        return (c.maxx >= minx) & (c.minx <= maxx) & (c.maxy >= miny) & (c.miny <= maxy)

    def bulk_insert(self, conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert many rows (dicts keyed by column name) in the caller's transaction."""
        if rows:
            conn.execute(insert(table), list(rows))


class SQLiteDialect(SpatialDialect):
    """SQLite in WAL mode; the bbox filter goes through the R*Tree kept by triggers."""

    name = "sqlite"

    def configure(self, engine: Engine) -> None:
        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # let SQLAlchemy's "begin" event below issue BEGIN itself (pysqlite would defer it)
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            # writers take the lock up front so two writers never both read-then-write
            write = conn.get_execution_options().get("clearland_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    def bbox_filter(self, table: Table, bbox: tuple[float, float, float, float]) -> ColumnElement[bool]:
        minx, miny, maxx, maxy = bbox
        rtree = f"{table.name}_rtree"
        clause = text(
            f"{table.name}.record_id IN (SELECT id FROM {rtree} WHERE maxx >= :bminx "
            "AND minx <= :bmaxx AND maxy >= :bminy AND miny <= :bmaxy)"
        ).bindparams(bminx=minx, bmaxx=maxx, bminy=miny, bmaxy=maxy)
        return clause  # type: ignore[return-value]

    def bulk_insert(self, conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
        """Straight to sqlite3's executemany: SQLAlchemy's per-row processing costs more than
        SQLite's own work on an import of 100k areas. Values are stored the way SQLAlchemy's
        SQLite types store them (dates as ISO text, JSON as text)."""
        if not rows:
            return
        names = list(rows[0].keys())
        json_columns = {n for n in names if table.c[n].type.__class__.__name__ == "JSON"}
        sql = f"INSERT INTO {table.name} ({', '.join(f'{chr(34)}{n}{chr(34)}' for n in names)}) " + (
            f"VALUES ({', '.join('?' for _ in names)})"
        )
        params = [tuple(_sqlite_value(row[n], n in json_columns) for n in names) for row in rows]
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(sql, params)
        finally:
            cursor.close()


def _sqlite_value(value: Any, is_json: bool) -> Any:
    if is_json:
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def dialect_for(engine: Engine) -> SpatialDialect:
    if engine.dialect.name == "sqlite":
        return SQLiteDialect()
    return SpatialDialect()
