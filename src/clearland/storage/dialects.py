"""The seam between databases: everything that differs between SQLite and PostGIS lives here.
Shared SQL stays in ``repository``; a dialect overrides only these hooks."""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import json
import logging
import operator
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
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
from clearland.storage.rtree_pack import fill_empty
from clearland.storage.vector_tiles import PostGISTiles

log = logging.getLogger(__name__)

_CHUNK = 900  # keeps IN (...) lists under every database's parameter limit


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class SpatialDialect:
    name = "generic"

    def configure(self, engine: Engine) -> None:
        """Connection settings applied once per engine."""

    def end_write(self, conn: Connection) -> None:
        """Called when a write transaction of ``conn`` has ended (committed or rolled back)."""

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

    def insert_columns(self, conn: Connection, table: Table, columns: Mapping[str, Sequence[Any]]) -> None:
        """Insert many rows given column by column (name -> one value per row, in row order),
        as ``insert_rows`` would: what a caller that has its values by column hands over
        without making a tuple per row."""
        names = list(columns)
        self.insert_rows(conn, table, names, zip(*(columns[n] for n in names), strict=True))

    def index_boxes(
        self, conn: Connection, table: Table, record_ids: Sequence[int], bounds: np.ndarray
    ) -> None:
        """Called after rows of a geometry table were inserted, with their record ids and
        bounds (minx, miny, maxx, maxy per row); GiST on PostGIS needs nothing."""

    def vector_tiles(self, conn: Connection) -> PostGISTiles | None:
        """What draws vector tiles of the current state in SQL in ``conn``'s transaction, or
        None where the database does not (the caller draws them in Python)."""
        return None


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
            # WAL, unless another connection holds the database in a bulk write right now (see
            # ``_bulk_journal``): this one then reads as usual and takes to the WAL by itself
            # once the database is back in it (SQLite opens the WAL a database's header names)
            cursor.execute("PRAGMA busy_timeout=0")
            try:
                cursor.execute("PRAGMA journal_mode=WAL")
            except sqlite3.OperationalError as exc:
                if getattr(exc, "sqlite_errorcode", None) not in _LOCKED:
                    raise
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            cursor.execute(f"PRAGMA cache_size=-{CACHE_KIB}")  # bulk index inserts need it
            cursor.execute("PRAGMA temp_store=MEMORY")  # the ephemeral tables of IN (json_each)
            cursor.close()

        # bulk inserts may still be running on the transaction's writer thread (``_Writer``):
        # every other statement, the commit and the rollback wait for them first
        @event.listens_for(engine, "before_cursor_execute")
        def _before_execute(conn: Any, *_args: Any) -> None:
            _settle(conn)

        @event.listens_for(engine, "commit")
        def _on_commit(conn: Any) -> None:
            _settle(conn, end=True)

        @event.listens_for(engine, "rollback")
        def _on_rollback(conn: Any) -> None:
            _settle(conn, end=True, quiet=True)

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            # writers take the lock up front so two writers never both read-then-write
            options = conn.get_execution_options()
            if options.get("clearland_bulk", False):
                _bulk_journal(conn)
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

    def end_write(self, conn: Connection) -> None:
        if conn.info.pop(_BULK_KEY, False):
            _back_to_wal(conn.connection.dbapi_connection)

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
        array = func.json_each(_json_array(keys)).table_valued("value")
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
        array = func.json_each(_json_array(keys)).table_valued("value")
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
        """Straight to sqlite3, not through SQLAlchemy: its per-row processing costs more than
        SQLite's own work on an import of 100k areas. Values are stored the way SQLAlchemy's
        SQLite types store them (dates as ISO text, JSON as text).

        Rows go in ``INSERT … VALUES (…), (…), …`` of up to ``_ROWS_PER_INSERT`` rows, in their
        order: half the CPU of an ``executemany`` (which starts the statement again for every
        row), and sqlite3 lets go of the GIL once per statement, not once per row, so other
        threads (validity, areas) do not make the insert wait for the GIL row after row.
        A column that is NULL in every row is written as a literal ``NULL`` (sqlite3 looks for an
        adapter for every ``None`` it binds: 0.6-0.9 s on the 1.2M empty cells of 100k hazard
        areas); a column of dates converts each distinct date once. Same stored values."""
        batch = rows if isinstance(rows, list) else list(rows)
        if not batch:
            return
        columns: list[Sequence[Any]] = list(zip(*batch, strict=True))
        if len(columns) != len(names):
            raise ValueError(f"{table.name}: rows of {len(columns)} values for {len(names)} columns")
        del batch
        self.insert_columns(conn, table, dict(zip(names, columns, strict=True)))

    def insert_columns(self, conn: Connection, table: Table, columns: Mapping[str, Sequence[Any]]) -> None:
        """``insert_rows`` of rows given column by column (how it works on them anyway)."""
        names = list(columns)
        count = len(columns[names[0]]) if names else 0
        if not count:
            return
        if any(len(columns[n]) != count for n in names):
            raise ValueError(f"{table.name}: columns of different lengths")
        placeholders = []
        kept: list[Sequence[Any]] = []
        for name in names:
            column = columns[name]
            if column.count(None) == count:
                placeholders.append("NULL")
                continue
            placeholders.append("?")
            kept.append(_sqlite_column(table.c[name].type, column))
        quoted = ", ".join(f'"{n}"' for n in names)
        head = f"INSERT INTO {table.name} ({quoted}) VALUES "
        one = f"({', '.join(placeholders)})"
        per = max(1, min(_ROWS_PER_INSERT, _variable_limit(conn) // max(1, len(kept))))
        statements: list[_Statement] = []
        for start in range(0, count, per):
            part = [column[start : start + per] for column in kept]
            size = min(per, count - start)
            values = list(itertools.chain.from_iterable(zip(*part, strict=True))) if kept else []
            statements.append((head + ", ".join(itertools.repeat(one, size)), values))
        _execute(conn, statements, count)

    def index_boxes(
        self, conn: Connection, table: Table, record_ids: Sequence[int], bounds: np.ndarray
    ) -> None:
        """Add the new rows' boxes to the table's R*Tree from the values at hand (no read back
        of the rows just written): ~6x faster than a per-row insert trigger on 100k rows, in
        multi-row INSERTs as ``insert_rows``. (Updates and deletes stay with triggers.)"""
        if not len(record_ids):
            return
        boxes = np.asarray(bounds, dtype=float)
        if len(boxes) != len(record_ids):
            raise ValueError(f"{table.name}: {len(record_ids)} ids for {len(boxes)} boxes")
        rtree = f"{table.name}_rtree"

        def insert_one_by_one(raw: Any) -> None:
            # rtree order: x, x, y, y; the rows zipped from columns, no tuple made in Python per row
            minx, miny, maxx, maxy = (boxes[:, k].tolist() for k in range(4))
            rows = list(zip(record_ids, minx, maxx, miny, maxy, strict=True))
            head = f"INSERT INTO {rtree} (id, minx, maxx, miny, maxy) VALUES "
            for start in range(0, len(rows), _ROWS_PER_INSERT):
                part = rows[start : start + _ROWS_PER_INSERT]
                raw.execute(
                    head + ", ".join(itertools.repeat("(?, ?, ?, ?, ?)", len(part))),
                    list(itertools.chain.from_iterable(part)),
                )

        def fill(raw: Any) -> None:
            # into an empty tree, many boxes go in as one packed tree (checked by SQLite itself)
            if len(boxes) < _PACK_ROWS or not fill_empty(raw, rtree, np.asarray(record_ids), boxes):
                insert_one_by_one(raw)

        _execute(conn, [fill], len(boxes))


#: rows per multi-row INSERT on SQLite (fewer when the columns would pass the variable limit)
_ROWS_PER_INSERT = 5000
#: from this many rows on, a bulk insert goes to the transaction's writer thread
_WRITE_BEHIND_ROWS = 2000
#: from this many boxes on, an empty R*Tree is filled as one packed tree (``rtree_pack``)
_PACK_ROWS = 5000


def _variable_limit(conn: Connection) -> int:
    """How many ``?`` one SQLite statement may hold on this connection (999 before 3.32)."""
    try:
        return int(conn.connection.dbapi_connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))  # type: ignore[union-attr]
    except (AttributeError, sqlite3.Error):
        return 999


_WRITER_KEY = "clearland.sqlite_writer"
_BULK_KEY = "clearland.sqlite_bulk_journal"
#: SQLITE_BUSY and SQLITE_LOCKED: another connection holds the database
_LOCKED = (5, 6)


def _bulk_journal(conn: Connection) -> None:
    """Before a bulk write transaction (``Store.write(bulk=True)``): when no other connection
    has the database open, leave the WAL for a rollback journal until it ends. A WAL transaction
    writes every new page twice, into the WAL at the commit and into the database at the
    checkpoint after it (~250 MB each for 100k hazard areas, each waiting for its fsync); with
    the rollback journal the new pages go once into the database, and the journal holds only the
    few old pages the transaction changes. It is atomic the same way: a transaction killed
    halfway leaves a journal with which SQLite puts the old pages back when the database is next
    opened. Meanwhile others may still open and read the database (``_on_connect``); at the
    commit they wait for it (~1 s). When another connection has it open, nothing changes."""
    raw = conn.connection.dbapi_connection
    assert raw is not None
    raw.execute("PRAGMA busy_timeout=0")  # someone has it open: fail at once, stay in the WAL
    try:
        (mode,) = raw.execute("PRAGMA journal_mode=DELETE").fetchone()
    except sqlite3.OperationalError as exc:
        if getattr(exc, "sqlite_errorcode", None) not in _LOCKED:
            raise
        mode = None
    finally:
        raw.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    if mode == "delete":
        conn.info[_BULK_KEY] = True
    elif mode is not None and mode != "wal":  # (the database was in neither: leave it so)
        _back_to_wal(raw)


def _back_to_wal(raw: Any) -> None:
    """The WAL again after a bulk write; should a reader keep it from that now, the next
    connection to open the database puts it back (``_on_connect``)."""
    try:
        raw.execute("PRAGMA journal_mode=WAL")
    except sqlite3.OperationalError as exc:
        log.info("the database stays in its rollback journal for now: %s", exc)


#: one piece of a bulk write: an INSERT and its values, or work done with the sqlite3 connection
_Statement = tuple[str, list[Any]] | Callable[[Any], None]


class _Writer:
    """The bulk inserts of one SQLite write transaction, run in the order given on a thread of
    their own, on the transaction's connection, while the caller goes on preparing the next
    ones (sqlite3 lets go of the GIL while SQLite works). Nothing else uses the connection
    meanwhile: every other statement of the transaction, its commit and its rollback first
    wait for what the writer holds (``_settle``). The first insert that fails stops the rest,
    and every later statement and the commit raise its error: the transaction can only roll
    back, so it still lands whole or not at all."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw
        # a page cache that holds the whole batch (100k areas: ~250 MB of pages) until the
        # commit: none is written to the WAL and read back while the transaction runs (a
        # quarter less time for the inserts); back to the usual size when the transaction ends
        raw.execute(f"PRAGMA cache_size=-{BULK_CACHE_KIB}")
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clearland-sqlite-writer")
        self._pending: list[Future[None]] = []
        self.error: BaseException | None = None

    def submit(self, statements: list[_Statement]) -> None:
        self._pending.append(self._pool.submit(self._run, statements))

    def _run(self, statements: list[_Statement]) -> None:
        try:
            # stops between statements once something failed or the transaction ended
            _run_statements(self._raw, statements, lambda: self.error is not None)
        except BaseException as exc:
            self.error = exc

    def wait(self) -> None:
        """Wait for everything submitted so far."""
        pending, self._pending = self._pending, []
        for future in pending:
            future.result()

    def close(self) -> None:
        self.error = self.error or _Closed("the transaction ended")  # skip what has not started
        try:
            self.wait()
        finally:
            self._pool.shutdown(wait=True)
            # the usual page cache again (a connection that failed has other worries)
            with contextlib.suppress(sqlite3.Error):
                self._raw.execute(f"PRAGMA cache_size=-{CACHE_KIB}")


class _Closed(Exception):
    pass


def _run_statements(
    raw: Any, statements: Sequence[_Statement], stop: Callable[[], bool] = lambda: False
) -> None:
    cursor = raw.cursor()
    try:
        for statement in statements:
            if stop():
                return
            if callable(statement):
                statement(raw)
            else:
                cursor.execute(*statement)
    finally:
        cursor.close()


def _execute(conn: Connection, statements: list[_Statement], rows: int) -> None:
    """Run prepared INSERTs in ``conn``'s transaction: on its writer thread when it has one or
    when they are many rows (``_WRITE_BEHIND_ROWS``), else here and now."""
    writer: _Writer | None = conn.info.get(_WRITER_KEY)
    if writer is None and rows >= _WRITE_BEHIND_ROWS and conn.in_transaction():
        writer = conn.info[_WRITER_KEY] = _Writer(conn.connection.dbapi_connection)
    if writer is not None:
        if writer.error is not None:
            _settle(conn)
        writer.submit(statements)
        return
    _run_statements(conn.connection.dbapi_connection, statements)


def _settle(conn: Any, *, end: bool = False, quiet: bool = False) -> None:
    """Wait for the inserts ``conn``'s writer holds; raise the error of one that failed (unless
    ``quiet``: the transaction is rolling back). ``end``: the transaction ends, the writer goes."""
    writer: _Writer | None = conn.info.get(_WRITER_KEY)
    if writer is None:
        return
    try:
        if not quiet:
            writer.wait()  # all of it, before a commit
    finally:
        if end:
            del conn.info[_WRITER_KEY]
            writer.close()  # a rollback does not wait for what has not started
    error = writer.error
    if error is not None and not quiet and not isinstance(error, _Closed):
        raise error


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
#: SQLite's page cache per connection (KiB), and while a transaction makes bulk inserts
CACHE_KIB = 128 * 1024
BULK_CACHE_KIB = 512 * 1024

_JSON_FALLBACK = json.JSONEncoder(ensure_ascii=False).encode


def _json_text(value: Any) -> str:
    """JSON text that reads back as SQLAlchemy's JSON type would store it: by orjson (~7x faster
    than the standard encoder on the 100k rows of an import), by the standard encoder where
    orjson refuses (an integer beyond 64 bits)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return _JSON_FALLBACK(value)


def _json_array(keys: Sequence[str | int]) -> str:
    """The keys as one JSON array (text), for ``json_each``: by orjson (100k keys in a few ms),
    by the standard encoder where orjson refuses (a lone surrogate, a huge integer)."""
    try:
        return orjson.dumps(list(keys)).decode()
    except TypeError:
        return json.dumps(list(keys), ensure_ascii=False)


def _sqlite_converter(column_type: Any) -> Callable[[Any], Any] | None:
    """How SQLAlchemy's SQLite types would store a Python value, or ``None`` to pass it as is."""
    if isinstance(column_type, JSON):
        return _json_text
    if isinstance(column_type, DateTime):
        return lambda value: value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value
    if isinstance(column_type, Date):
        return lambda value: value.isoformat() if isinstance(value, dt.date) else value
    return None


def _sqlite_column(column_type: Any, values: Sequence[Any]) -> Sequence[Any]:
    """A column's values as SQLAlchemy's SQLite type would store them (``_sqlite_converter``);
    the dates of a date column converted once per distinct date."""
    convert = _sqlite_converter(column_type)
    if convert is None:
        return values
    if isinstance(column_type, Date):
        dates = {v: convert(v) for v in {v for v in values if type(v) is dt.date}}
        return [dates[v] if type(v) is dt.date else None if v is None else convert(v) for v in values]
    if convert is _json_text:
        # orjson straight, value by value (``_json_text`` for the whole column only if it refuses one)
        dumps, option = orjson.dumps, orjson.OPT_NON_STR_KEYS
        try:
            return [None if v is None else dumps(v, option=option).decode() for v in values]
        except TypeError:
            pass
    return [None if v is None else convert(v) for v in values]


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

    def vector_tiles(self, conn: Connection) -> PostGISTiles | None:
        """Tiles drawn as ``services.tiles`` draws them, one query each (``storage.vector_tiles``)."""
        return PostGISTiles(conn)

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
