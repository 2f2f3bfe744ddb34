"""The seam between databases: everything that differs between SQLite and PostGIS lives here.
Shared SQL stays in ``repository``; a dialect overrides only these hooks."""

from __future__ import annotations

import datetime as dt
import json
import operator
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import orjson
from sqlalchemy import (
    JSON,
    Connection,
    Date,
    DateTime,
    Engine,
    Table,
    event,
    func,
    insert,
    literal,
    select,
    text,
)
from sqlalchemy.sql import Executable
from sqlalchemy.sql.elements import ColumnElement

_CHUNK = 900  # keeps IN (...) lists under every database's parameter limit


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class SpatialDialect:
    name = "generic"

    def configure(self, engine: Engine) -> None:
        """Connection settings applied once per engine."""

    def bbox_filter(self, table: Table, bbox: tuple[float, float, float, float]) -> ColumnElement[bool]:
        """Rows whose bounding box meets ``bbox`` (minx, miny, maxx, maxy, EPSG:4326)."""
        minx, miny, maxx, maxy = bbox
        c = table.c
        return (c.maxx >= minx) & (c.minx <= maxx) & (c.maxy >= miny) & (c.miny <= maxy)

    def in_batches(self, column: ColumnElement[Any], keys: Sequence[Any]) -> Iterator[ColumnElement[bool]]:
        """Conditions that together select the rows whose ``column`` is one of ``keys``, one
        query each: IN lists short enough for every database's parameter limit."""
        for chunk in _chunks(keys):
            yield column.in_(chunk)

    def fetch_plain(self, conn: Connection, statement: Executable) -> list[tuple[Any, ...]]:
        """All the rows of a query of plain columns (integers, text), as tuples."""
        return [tuple(row) for row in conn.execute(statement)]

    def insert_keyed(
        self, conn: Connection, table: Table, key: str, keys: Sequence[str], values: Mapping[str, Any]
    ) -> dict[str, int]:
        """Insert one row per key (column ``key`` set to it, the other columns to ``values``);
        returns the new rows' ids by key."""
        self.bulk_insert(conn, table, [{**values, key: k} for k in keys])
        same = [table.c[name] == value for name, value in values.items()]
        out: dict[str, int] = {}
        for condition in self.in_batches(table.c[key], keys):
            out.update(self.fetch_plain(conn, select(table.c[key], table.c.id).where(condition, *same)))
        return out

    def bulk_insert(self, conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert many rows (dicts keyed by column name) in the caller's transaction."""
        if rows:
            conn.execute(insert(table), list(rows))

    def insert_rows(
        self, conn: Connection, table: Table, names: Sequence[str], rows: Iterable[Sequence[Any]]
    ) -> None:
        """Insert many rows given as tuples of the columns ``names``, in that order."""
        self.bulk_insert(conn, table, [dict(zip(names, row, strict=True)) for row in rows])

    def index_boxes(
        self, conn: Connection, table: Table, record_ids: Sequence[int], bounds: np.ndarray
    ) -> None:
        """Called after rows of a geometry table were inserted, with their record ids and
        bounds (minx, miny, maxx, maxy per row); GiST on PostGIS needs nothing."""


class SQLiteDialect(SpatialDialect):
    """SQLite in WAL mode; the bbox filter goes through the R*Tree kept by triggers."""

    name = "sqlite"

    def configure(self, engine: Engine) -> None:
        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # let SQLAlchemy's "begin" event below issue BEGIN itself (pysqlite would defer it)
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            # a new database gets 16 KiB pages: rows of a geometry table (WKB of a few KiB) left a
            # quarter of 4 KiB pages empty (no effect on an existing database)
            cursor.execute("PRAGMA page_size=16384")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA cache_size=-131072")  # 128 MiB: bulk index inserts need it
            cursor.execute("PRAGMA temp_store=MEMORY")  # the ephemeral tables of IN (json_each)
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            # writers take the lock up front so two writers never both read-then-write
            options = conn.get_execution_options()
            if not options.get("clearland_write", False):
                conn.exec_driver_sql("BEGIN")
            elif options.get("clearland_wait", True):
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            else:  # a writer that would rather not wait for another: fails at once if it must
                conn.exec_driver_sql("PRAGMA busy_timeout=0")
                try:
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                finally:
                    conn.exec_driver_sql(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")

    def bbox_filter(self, table: Table, bbox: tuple[float, float, float, float]) -> ColumnElement[bool]:
        minx, miny, maxx, maxy = bbox
        rtree = f"{table.name}_rtree"
        clause = text(
            f"{table.name}.record_id IN (SELECT id FROM {rtree} WHERE maxx >= :bminx "
            "AND minx <= :bmaxx AND maxy >= :bminy AND miny <= :bmaxy)"
        ).bindparams(bminx=minx, bmaxx=maxx, bminy=miny, bmaxy=maxy)
        return clause  # type: ignore[return-value]

    def in_batches(self, column: ColumnElement[Any], keys: Sequence[Any]) -> Iterator[ColumnElement[bool]]:
        """All the keys in one query, as one JSON array read by ``json_each``: a hundred IN
        lists of 900 cost more in SQLAlchemy's compiler than in SQLite on 100k keys."""
        if not keys:
            return
        if not all(type(k) is str or type(k) is int for k in keys):
            yield from super().in_batches(column, keys)
            return
        array = func.json_each(json.dumps(list(keys), ensure_ascii=False)).table_valued("value")
        yield column.in_(select(array.c.value))

    def fetch_plain(self, conn: Connection, statement: Executable) -> list[tuple[Any, ...]]:
        """Straight from the sqlite3 cursor: SQLAlchemy's rows cost more than the query on 100k
        ids; plain columns need none of its result processing."""
        return [tuple(row) for row in conn.execute(statement).cursor.fetchall()]

    def insert_keyed(
        self, conn: Connection, table: Table, key: str, keys: Sequence[str], values: Mapping[str, Any]
    ) -> dict[str, int]:
        """One INSERT … SELECT over the keys as a JSON array, RETURNING the new ids: no read back."""
        if not keys:
            return {}
        array = func.json_each(json.dumps(list(keys), ensure_ascii=False)).table_valued("value")
        names = [*values, key]
        statement = (
            insert(table)
            .from_select(names, select(*(literal(v) for v in values.values()), array.c.value))
            .returning(table.c[key], table.c.id)
        )
        return dict(self.fetch_plain(conn, statement))

    def bulk_insert(self, conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        names = list(rows[0].keys())
        getter = operator.itemgetter(*names)
        if len(names) == 1:
            self.insert_rows(conn, table, names, ((getter(row),) for row in rows))
        else:
            self.insert_rows(conn, table, names, map(getter, rows))

    def insert_rows(
        self, conn: Connection, table: Table, names: Sequence[str], rows: Iterable[Sequence[Any]]
    ) -> None:
        """Straight to sqlite3's executemany: SQLAlchemy's per-row processing costs more than
        SQLite's own work on an import of 100k areas. Values are stored the way SQLAlchemy's
        SQLite types store them (dates as ISO text, JSON as text)."""
        quoted = ", ".join(f'"{n}"' for n in names)
        sql = f"INSERT INTO {table.name} ({quoted}) VALUES ({', '.join('?' for _ in names)})"
        converters = [(i, c) for i, n in enumerate(names) if (c := _sqlite_converter(table.c[n].type))]

        def converted() -> Iterator[Sequence[Any]]:
            # a generator: the rows are not copied into a second big list
            for row in rows:
                values = list(row)
                for i, convert in converters:
                    if values[i] is not None:
                        values[i] = convert(values[i])
                yield values

        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(sql, converted() if converters else rows)  # type: ignore[arg-type]
        finally:
            cursor.close()

    def index_boxes(
        self, conn: Connection, table: Table, record_ids: Sequence[int], bounds: np.ndarray
    ) -> None:
        """Add the new rows' boxes to the table's R*Tree in one executemany from the values at
        hand (no read back of the rows just written): ~6x faster than a per-row insert trigger
        on 100k rows. (Updates and deletes stay with triggers.)"""
        if not len(record_ids):
            return
        boxes = np.asarray(bounds, dtype=float)[:, [0, 2, 1, 3]].tolist()  # rtree order: x, x, y, y
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(
                f"INSERT INTO {table.name}_rtree (id, minx, maxx, miny, maxy) VALUES (?, ?, ?, ?, ?)",
                ((rid, *box) for rid, box in zip(record_ids, boxes, strict=True)),  # type: ignore[arg-type]
            )
        finally:
            cursor.close()


#: how long an SQLite writer waits for another to finish before it gives up
BUSY_TIMEOUT_MS = 30_000

_JSON_FALLBACK = json.JSONEncoder(ensure_ascii=False).encode


def _json_text(value: Any) -> str:
    """JSON text that reads back as SQLAlchemy's JSON type would store it: by orjson (~7x faster
    than the standard encoder on the 100k rows of an import), by the standard encoder where
    orjson refuses (an integer beyond 64 bits)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return _JSON_FALLBACK(value)


def _sqlite_converter(column_type: Any) -> Callable[[Any], Any] | None:
    """How SQLAlchemy's SQLite types would store a Python value, or ``None`` to pass it as is."""
    if isinstance(column_type, JSON):
        return _json_text
    if isinstance(column_type, DateTime):
        return lambda value: value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value
    if isinstance(column_type, Date):
        return lambda value: value.isoformat() if isinstance(value, dt.date) else value
    return None


def dialect_for(engine: Engine) -> SpatialDialect:
    if engine.dialect.name == "sqlite":
        return SQLiteDialect()
    return SpatialDialect()
