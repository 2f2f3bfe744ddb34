"""Moving a whole registry from one database to another (``clearland db copy``, ``backup``,
``restore``): every row of every table of ``schema.metadata``, ids and all.

The target's schema is built by the same Alembic migrations as ``Store.upgrade`` and the rows
go in, parents before children, in ONE transaction on the target, read from ONE read
transaction (a consistent snapshot) on the source. Before that transaction commits, each table
of the target is read back in primary-key order and its row count and SHA-256 compared with
the source's; any difference is an error and the transaction is rolled back.

- PostgreSQL: dropping an old registry (``replace``), the migrations, the rows and the sequence
  reset are all one transaction (PostgreSQL's DDL is transactional), under the writers' advisory
  lock; a failure leaves the database as it was.
- SQLite: the copy is built in a new file beside the target and moved over it (an atomic
  rename) once committed and verified; a failure leaves the target file as it was. The file is
  left in rollback-journal mode: one self-contained file (a backup is such a file).

Only the tables declared in ``schema.metadata`` are read and written, never reflected ones:
PostGIS's generated ``geom_pg`` columns must not be inserted into (PostgreSQL computes them),
and SQLite's R*Trees are filled through the dialect's ``index_boxes`` hook as rows arrive.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import json
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import JSON, Column, Connection, Integer, MetaData, Table, func, inspect, select, text
from sqlalchemy.exc import DBAPIError

from clearland.errors import StorageError
from clearland.storage import auth_rows as _auth_rows  # noqa: F401  (its tables join metadata)
from clearland.storage import schema as t
from clearland.storage.repository import MIGRATIONS, Store

#: ``(stage, done, total)``: stages ``copy`` and ``verify``, counted in rows
Progress = Callable[[str, int, int], None]

#: rows read and written at a time
BATCH_ROWS = 2_000

#: the first bytes of every SQLite database file
SQLITE_HEADER = b"SQLite format 3\x00"


@dataclass(frozen=True)
class TableCheck:
    """A table's row count and the SHA-256 of its rows in primary-key order."""

    table: str
    rows: int
    sha256: str


def tables() -> list[Table]:
    """Every table of the registry, parents before children (foreign-key order)."""
    return list(t.metadata.sorted_tables)


def registry_tables(store: Store) -> list[str]:
    """The clearland tables (and Alembic's) the database holds already; none for a missing or
    empty SQLite file. A database that cannot be opened is a ``StorageError``."""
    path = store.sqlite_path
    if path is not None and (not path.exists() or path.stat().st_size == 0):
        return []
    store.schema_revision()  # a clear error when the database cannot be opened
    with store.engine.connect() as conn:
        present = set(inspect(conn).get_table_names())
    ours = {table.name for table in tables()} | {"alembic_version"}
    return sorted(present & ours)


def is_foreign_file(store: Store) -> bool:
    """A SQLite target path that holds something other than a clearland registry: never
    overwritten, not even with --force."""
    path = store.sqlite_path
    if path is None or not path.exists():
        return False
    if not path.is_file():
        return True
    if path.stat().st_size == 0:
        return False
    with path.open("rb") as fh:
        if fh.read(len(SQLITE_HEADER)) != SQLITE_HEADER:
            return True
    try:
        return not registry_tables(store)
    except (StorageError, DBAPIError):
        return True


def sqlite_file_problem(path: Path) -> str | None:
    """What is wrong with an SQLite file, or ``None``: not one at all, or damaged (SQLite's
    ``quick_check`` of every page). Opened read-only: the file is never changed."""
    try:
        with path.open("rb") as fh:
            header = fh.read(100)
    except OSError as exc:
        return exc.strerror or str(exc)
    if not header.startswith(SQLITE_HEADER):
        return "not an SQLite file"
    if len(header) < 100:
        return "truncated (shorter than an SQLite header)"
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        return str(exc)
    try:
        found = [str(row[0]) for row in conn.execute("PRAGMA quick_check")]
    except sqlite3.Error as exc:
        return f"damaged: {exc}"
    finally:
        conn.close()
    if found != ["ok"]:
        return f"damaged: {found[0]}"
    return None


def upgrade_schema(store: Store) -> None:
    """``Store.upgrade``, with a database's refusal (e.g. no right to create the ``postgis``
    extension) as a one-line ``StorageError``: the migrations' transaction is rolled back."""
    failures: tuple[type[Exception], ...] = (DBAPIError, *_driver_errors(store))
    try:
        store.upgrade()
    except failures as exc:
        raise StorageError(f"upgrading {store.where} failed, nothing was changed: {_reason(exc)}") from exc


def known_revisions() -> list[str]:
    """Every migration of this code, oldest first."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return [rev.revision for rev in reversed(list(ScriptDirectory.from_config(cfg).walk_revisions()))]


def copy_registry(
    source: Store,
    target: Store,
    *,
    replace: bool = False,
    seal: bool = False,
    progress: Progress | None = None,
    batch_rows: int = BATCH_ROWS,
) -> list[TableCheck]:
    """Copy every row of ``source`` into ``target`` (created by the migrations; with
    ``replace`` a registry already there is dropped first, in the same transaction), reset
    PostgreSQL's sequences, verify, and commit. Returns the verified checks, table by table.
    ``seal``: keep the checks in the target too (a backup), for ``seal_problems`` to test."""
    report = progress or (lambda _stage, _done, _total: None)
    failures: tuple[type[Exception], ...] = (DBAPIError, *_driver_errors(source, target))
    try:
        with source.read() as tx:
            src = tx.conn
            counts = {
                table.name: int(src.scalar(select(func.count()).select_from(table)) or 0)
                for table in tables()
            }
            total = sum(counts.values())
            with _target_transaction(target, replace=replace) as dst:
                expected: list[TableCheck] = []
                done = 0
                for table in tables():
                    digest = _Digest(table)
                    for rows in _batches(src, table, batch_rows):
                        digest.update(rows)
                        _insert(dst, target, table, rows)
                        done += len(rows)
                        report("copy", done, total)
                    expected.append(digest.result())
                report("copy", done, total)
                _reset_sequences(dst)
                found = table_checks(dst, progress=lambda done, _total: report("verify", done, total))
                _compare(expected, found, source.where, target.where)
                if seal:
                    _write_seal(dst, found)
    except failures as exc:
        # the drivers' own errors come from the dialects' bulk paths (executemany, COPY), which
        # go past SQLAlchemy
        raise StorageError(
            f"copying into {target.where} failed, nothing was written: {_reason(exc)}"
        ) from exc
    return found


def _reason(exc: Exception) -> str:
    """The first line of a database's error, with a hint where the fix is known."""
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    reason = (str(orig).strip() or type(orig).__name__).splitlines()[0]
    if "postgis" in reason.lower():
        reason += " (a superuser must run CREATE EXTENSION postgis in that database first: docs/server.md)"
    return reason


def _driver_errors(*stores: Store) -> tuple[type[Exception], ...]:
    return tuple({store.engine.dialect.loaded_dbapi.Error for store in stores})


def table_checks(conn: Connection, *, progress: Callable[[int, int], None] | None = None) -> list[TableCheck]:
    """Row count and SHA-256 of every table, read in primary-key order on ``conn``."""
    out = []
    done = 0
    for table in tables():
        digest = _Digest(table)
        for rows in _batches(conn, table, BATCH_ROWS):
            digest.update(rows)
            done += len(rows)
            if progress is not None:
                progress(done, 0)
        out.append(digest.result())
    return out


# -- the seal of a backup ---------------------------------------------------------------------------
#: a table of a backup file, outside the registry's schema (never copied): each table's checks
SEAL_TABLE = "clearland_backup_checks"


def _write_seal(conn: Connection, checks: Sequence[TableCheck]) -> None:
    conn.execute(
        text(f"CREATE TABLE {SEAL_TABLE} (table_name TEXT PRIMARY KEY, row_count INTEGER, sha256 TEXT)")
    )
    conn.execute(
        text(f"INSERT INTO {SEAL_TABLE} (table_name, row_count, sha256) VALUES (:t, :n, :h)"),
        [{"t": c.table, "n": c.rows, "h": c.sha256} for c in checks],
    )


def seal_problems(store: Store) -> list[str] | None:
    """Tables of a backup whose rows no longer match the checks written with them (a damaged
    file); ``None`` when it carries no checks (a registry file, not a backup)."""
    with store.read() as tx:
        if not inspect(tx.conn).has_table(SEAL_TABLE):
            return None
        sealed = {
            str(name): TableCheck(str(name), int(rows), str(sha))
            for name, rows, sha in tx.conn.execute(
                text(f"SELECT table_name, row_count, sha256 FROM {SEAL_TABLE}")
            )
        }
        found = table_checks(tx.conn)
    return [c.table for c in found if sealed.get(c.table) != c]


# -- the target -------------------------------------------------------------------------------
@contextmanager
def _target_transaction(target: Store, *, replace: bool) -> Iterator[Connection]:
    """One transaction on the target holding a new, empty registry schema; committed when the
    body returns, rolled back (leaving the target as it was) when it raises."""
    if target.sqlite_path is None:
        engine = target.engine.execution_options(clearland_write=True)
        with engine.begin() as conn:
            if replace:
                t.metadata.drop_all(conn)
                conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
            _migrate(conn)
            yield conn
        return
    path = target.sqlite_path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".copying", dir=path.parent)
    os.close(fd)
    building = Path(name)
    store = Store(f"sqlite:///{building}")
    try:
        store.upgrade()
        with store.write() as tx:
            yield tx.conn
        store.dispose()
        _single_file(building)
        if path.exists():
            shutil.copymode(path, building)  # a registry keeps its permissions
        target.dispose()
        _move_over(building, path)
    finally:
        store.dispose()
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{building}{suffix}").unlink(missing_ok=True)


def _migrate(conn: Connection) -> None:
    """``Store.upgrade`` on a connection whose transaction the caller holds: the schema is
    built in the copy's own transaction."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, "head")


def _single_file(path: Path) -> None:
    """Leave WAL mode: the file is whole by itself, with no -wal beside it (a registry opened
    by clearland goes back to WAL on its first connection)."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA journal_mode=DELETE")
    finally:
        conn.close()


def _move_over(new: Path, path: Path) -> None:
    """Rename ``new`` over ``path``. An old registry's WAL is folded into it first and removed:
    left beside the new file it would be read as part of it."""
    if path.exists():
        with contextlib.suppress(sqlite3.Error):
            conn = sqlite3.connect(path)
            try:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                conn.close()
        for suffix in ("-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    os.replace(new, path)


@functools.cache
def _insertable(table: Table) -> Table:
    """``table`` for inserting copied rows: JSON columns keep an SQL NULL as NULL (SQLAlchemy's
    JSON type would write the JSON value ``null``)."""
    columns = [
        Column(
            c.name,
            JSON(none_as_null=True) if isinstance(c.type, JSON) else c.type,
            primary_key=c.primary_key,
            autoincrement=False,
        )
        for c in table.columns
    ]
    return Table(table.name, MetaData(), *columns)


def _insert(conn: Connection, target: Store, table: Table, rows: Sequence[tuple[Any, ...]]) -> None:
    names = [c.name for c in table.columns]
    target.dialect.insert_rows(conn, _insertable(table), names, rows)
    if table.name in _CURRENT_NAMES:
        # the R*Tree on SQLite (nothing to do for GiST on PostGIS)
        at = {name: i for i, name in enumerate(names)}
        ids = [row[at["record_id"]] for row in rows]
        bounds = np.array(
            [[row[at[k]] for k in ("minx", "miny", "maxx", "maxy")] for row in rows], dtype=float
        )
        target.dialect.index_boxes(conn, table, ids, bounds)


_CURRENT_NAMES = {table.name for table in t.CURRENT_TABLES.values()}


def _reset_sequences(conn: Connection) -> None:
    """PostgreSQL: move each serial id's sequence past the copied ids, so that new rows get
    new ids (SQLite takes the largest rowid + 1 by itself)."""
    if conn.dialect.name != "postgresql":
        return
    for table in tables():
        keys = list(table.primary_key.columns)
        if len(keys) != 1 or not isinstance(keys[0].type, Integer):
            continue
        sequence = conn.scalar(
            text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table.name, "c": keys[0].name}
        )
        if sequence is None:  # a key that is also a foreign key: no sequence of its own
            continue
        conn.execute(
            text(
                f'SELECT setval(:s, coalesce((SELECT max("{keys[0].name}") FROM "{table.name}"), 1), '
                f'(SELECT max("{keys[0].name}") FROM "{table.name}") IS NOT NULL)'
            ),
            {"s": sequence},
        )


# -- reading and comparing ------------------------------------------------------------------------
def _batches(conn: Connection, table: Table, size: int) -> Iterator[list[tuple[Any, ...]]]:
    """The rows of ``table`` in primary-key order, ``size`` at a time (a server-side cursor
    on PostgreSQL)."""
    query = select(*table.columns).order_by(*table.primary_key.columns).execution_options(yield_per=size)
    for part in conn.execute(query).partitions():
        yield [tuple(row) for row in part]


class _Digest:
    """SHA-256 over a table's rows in primary-key order, from values as SQLAlchemy's types give
    them (dates, datetimes, parsed JSON, bytes): the same on SQLite and PostgreSQL. Keys that
    are text are sorted here by code point: the databases' collations order them differently."""

    def __init__(self, table: Table) -> None:
        self.table = table.name
        keys = [i for i, c in enumerate(table.columns) if c.primary_key]
        self.key = keys
        self.in_python = not all(isinstance(table.columns[i].type, Integer) for i in keys)
        self.hash = hashlib.sha256()
        self.rows = 0
        self.held: list[tuple[tuple[Any, ...], bytes]] = []

    def update(self, rows: Sequence[tuple[Any, ...]]) -> None:
        self.rows += len(rows)
        for row in rows:
            line = _canonical(row)
            if self.in_python:
                self.held.append((tuple(row[i] for i in self.key), line))
            else:
                self.hash.update(line)

    def result(self) -> TableCheck:
        for _key, line in sorted(self.held, key=lambda item: item[0]):
            self.hash.update(line)
        self.held = []
        return TableCheck(self.table, self.rows, self.hash.hexdigest())


def _canonical(row: Sequence[Any]) -> bytes:
    return (
        json.dumps([_plain(v) for v in row], ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n"
    ).encode()


def _plain(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return {"bytes": bytes(value).hex()}
    if isinstance(value, dt.date):  # datetimes too
        return value.isoformat()
    if isinstance(value, float):
        return {"float": value.hex()}  # exact, where repr of a JSON float could round
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _compare(expected: list[TableCheck], found: list[TableCheck], source: str, target: str) -> None:
    got = {check.table: check for check in found}
    differ: list[dict[str, Any]] = []
    for want in expected:
        have = got.get(want.table)
        if have == want:
            continue
        rows = "none" if have is None else have.rows
        what = "other rows" if have is not None and have.rows == want.rows else f"{rows} rows"
        differ.append(
            {
                "table": want.table,
                "source_rows": want.rows,
                "target_rows": None if have is None else have.rows,
                "source_sha256": want.sha256,
                "target_sha256": None if have is None else have.sha256,
                "message": f"table {want.table}: {want.rows} rows in the source, {what} in the copy",
            }
        )
    if differ:
        names = ", ".join(str(d["table"]) for d in differ)
        raise StorageError(
            f"the copy in {target} does not match {source} ({names}): rolled back, nothing was written",
            differ,
        )
