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
    any_,
    bindparam,
    event,
    func,
    insert,
    literal,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql import Executable
from sqlalchemy.sql.elements import ColumnElement

from clearland.errors import Busy

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
        _insert_dicts_as_rows(self, conn, table, rows)

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


def _insert_dicts_as_rows(
    dialect: SpatialDialect, conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]
) -> None:
    """``bulk_insert`` through the dialect's ``insert_rows``: the dicts as tuples of the first
    row's keys (every row has the same keys)."""
    if not rows:
        return
    names = list(rows[0].keys())
    getter = operator.itemgetter(*names)
    if len(names) == 1:
        dialect.insert_rows(conn, table, names, ((getter(row),) for row in rows))
    else:
        dialect.insert_rows(conn, table, names, map(getter, rows))


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


class PostGISDialect(SpatialDialect):
    """PostgreSQL with PostGIS. Each geometry table has ``geom_pg``, a ``geometry(Geometry,
    4326)`` column generated from the WKB (migration 0007) with a GiST index.

    Isolation: a read transaction is REPEATABLE READ, one snapshot for all its queries (as an
    SQLite reader in WAL mode), so it never sees half of a report's approval. A write transaction
    first takes one transaction-level advisory lock, then runs READ COMMITTED: writers queue as
    behind SQLite's ``BEGIN IMMEDIATE``, and each of a writer's statements sees everything
    committed before it got the lock, so no update is lost to a stale read."""

    name = "postgresql"

    def configure(self, engine: Engine) -> None:
        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # dates and times are stored without a zone: always in UTC, whatever the server's
            cursor = dbapi_connection.cursor()
            cursor.execute("SET TIME ZONE 'UTC'")
            cursor.close()
            dbapi_connection.commit()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            options = conn.get_execution_options()
            if not options.get("clearland_write", False):
                conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            elif options.get("clearland_wait", True):
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITE_LOCK})")
            else:  # a writer that would rather not wait for another: fails at once if it must
                taken = conn.exec_driver_sql(f"SELECT pg_try_advisory_xact_lock({WRITE_LOCK})").scalar()
                if not taken:
                    raise Busy("another write holds the registry")

    def bbox_filter(self, table: Table, bbox: tuple[float, float, float, float]) -> ColumnElement[bool]:
        minx, miny, maxx, maxy = bbox
        clause = text(
            f"{table.name}.geom_pg && ST_MakeEnvelope(:bminx, :bminy, :bmaxx, :bmaxy, 4326)"
        ).bindparams(bminx=minx, bmaxx=maxx, bminy=miny, bmaxy=maxy)
        return clause  # type: ignore[return-value]

    def in_batches(self, column: ColumnElement[Any], keys: Sequence[Any]) -> Iterator[ColumnElement[bool]]:
        """All the keys in one query, as one array parameter: ``column = ANY(:keys)``."""
        if not keys:
            return
        if not all(type(k) is str or type(k) is int for k in keys):
            yield from super().in_batches(column, keys)
            return
        yield column == any_(bindparam(None, list(keys), type_=ARRAY(column.type)))

    def bulk_insert(self, conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
        _insert_dicts_as_rows(self, conn, table, rows)

    def insert_rows(
        self, conn: Connection, table: Table, names: Sequence[str], rows: Iterable[Sequence[Any]]
    ) -> None:
        """``COPY … FROM STDIN`` on the caller's connection (its transaction): several times
        faster than INSERTs on an import of 100k areas. JSON columns go as JSON text."""
        from psycopg.types.json import Json

        json_at = [i for i, n in enumerate(names) if isinstance(table.c[n].type, JSON)]
        quoted = ", ".join(f'"{n}"' for n in names)
        raw = conn.connection.dbapi_connection
        with raw.cursor() as cursor, cursor.copy(f"COPY {table.name} ({quoted}) FROM STDIN") as copy:  # type: ignore[union-attr]
            for row in rows:
                if json_at:
                    row = list(row)
                    for i in json_at:
                        if row[i] is not None:
                            row[i] = Json(row[i], dumps=_json_text)
                copy.write_row(row)

    def mvt_tile(
        self,
        conn: Connection,
        table: Table,
        layer: str,
        columns: Sequence[str],
        z: int,
        x: int,
        y: int,
        *,
        extent: int = 4096,
        buffer: int = 64,
    ) -> bytes:
        """Tile z/x/y of ``table`` drawn by PostGIS (``ST_AsMVT``): each row's ``columns`` (lists
        as comma-separated text) and its geometry in Web Mercator, simplified by half a display
        pixel, clipped to the tile plus ``buffer`` units and snapped to the ``extent`` grid; a
        row too small to draw at this zoom becomes a point where it lies (never dropped)."""
        world = 2 * 6378137.0 * 3.141592653589793
        tolerance = world / (1 << z) / 256 * 0.5  # half a display pixel, in metres
        selected = ", ".join(
            f"replace(t.\"{c}\", ';', ',') AS \"{c}\"" if c in _LIST_COLUMNS else f't."{c}"' for c in columns
        )
        statement = text(
            f"""
            WITH b AS (SELECT ST_TileEnvelope(:z, :x, :y) AS env,
                              ST_Transform(ST_TileEnvelope(:z, :x, :y, margin => :margin), 4326) AS near)
            SELECT ST_AsMVT(q, :layer, {extent}, 'geom') FROM (
                SELECT {selected},
                       COALESCE(
                           ST_AsMVTGeom(ST_Simplify(ST_Transform(t.geom_pg, 3857), :tolerance, true),
                                        b.env, {extent}, {buffer}, true),
                           ST_AsMVTGeom(ST_Transform(ST_PointOnSurface(t.geom_pg), 3857),
                                        b.env, {extent}, {buffer}, true)
                       ) AS geom
                FROM {table.name} AS t, b
                WHERE t.geom_pg && b.near
            ) AS q
            WHERE q.geom IS NOT NULL
            """
        ).bindparams(z=z, x=x, y=y, margin=buffer / extent, layer=layer, tolerance=tolerance)
        data = conn.execute(statement).scalar()
        return bytes(data or b"")


#: text columns that hold a list (";"-joined); a tile shows them comma-separated
_LIST_COLUMNS = frozenset({"hazard_types", "blockage"})

#: the key of the advisory lock PostgreSQL writers take (any constant; "clearland" in ASCII)
WRITE_LOCK = 0x636C6561726C616E


def dialect_for(engine: Engine) -> SpatialDialect:
    if engine.dialect.name == "sqlite":
        return SQLiteDialect()
    if engine.dialect.name == "postgresql":
        return PostGISDialect()
    return SpatialDialect()
