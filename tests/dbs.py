"""Where tests keep their registries: SQLite files, or (``pytest --postgis``) databases of a
throwaway PostgreSQL + PostGIS cluster, one new database per registry.

Tests ask ``database(tmp_path / "registry.db")`` for a registry's location and pass it where a
user passes ``--db``; ``contents``, ``execute`` and ``row_counts`` read and change a database
the same way on both.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pgcluster import Cluster

_cluster: Cluster | None = None
_databases: dict[Path, str] = {}
_numbers = itertools.count(1)


def use_cluster(cluster: Cluster | None) -> None:
    global _cluster
    _cluster = cluster
    _databases.clear()


def postgis() -> bool:
    """This run keeps registries on PostgreSQL + PostGIS."""
    return _cluster is not None


def database(path: Path) -> str:
    """The ``--db`` of a registry the test would keep at ``path``: that SQLite file, or a new
    empty PostGIS database (the same one each time for the same path)."""
    if _cluster is None:
        return str(path)
    key = Path(path).resolve()
    if key not in _databases:
        stem = re.sub(r"[^a-z0-9]+", "_", key.stem.lower())[:30]
        name = f"t{os.getpid()}_{next(_numbers)}_{stem}"
        _databases[key] = _cluster.create_database(name)
    return _databases[key]


@contextlib.contextmanager
def postgis_database(folder: Path, name: str) -> Iterator[str]:
    """A new PostGIS database for a test that needs PostGIS on either run: on the ``--postgis``
    run in the run's cluster, otherwise in a throwaway cluster of its own (stopped afterwards)."""
    if _cluster is not None:
        yield database(folder / f"{name}.db")
        return
    from pgcluster import temporary_cluster

    with temporary_cluster() as cluster:
        yield cluster.create_database(name)


def url(db: str | Path) -> str:
    """A SQLAlchemy URL for what ``database`` gave."""
    text = str(db)
    return text if "://" in text else f"sqlite:///{Path(text).resolve()}"


def execute(db: str | Path, statement: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
    """Run one SQL statement (``:name`` parameters) in its own transaction, as a person with
    database access would; the rows it returns, if any."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url(db))
    try:
        with engine.begin() as conn:
            result = conn.execute(text(statement), dict(params or {}))
            return [tuple(r) for r in result] if result.returns_rows else []
    finally:
        engine.dispose()


def contents(db: str | Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (sorted), to show that a failed command changed nothing. On
    SQLite the file's bytes are compared as well (``file_bytes``)."""
    from sqlalchemy import MetaData, create_engine, select

    engine = create_engine(url(db))
    try:
        meta = MetaData()
        with engine.connect() as conn, warnings.catch_warnings():
            # PostGIS's geometry type is not one SQLAlchemy knows: its values compare as text
            warnings.filterwarnings("ignore", "Did not recognize type 'geometry'", category=Warning)
            meta.reflect(conn)
            out: dict[str, list[tuple[Any, ...]]] = {}
            for name, table in sorted(meta.tables.items()):
                if name == "spatial_ref_sys" or name.endswith(
                    ("_rtree_node", "_rtree_parent", "_rtree_rowid")
                ):
                    continue
                rows = [tuple(repr(v) for v in row) for row in conn.execute(select(table))]
                out[name] = sorted(rows)
            return out
    finally:
        engine.dispose()


def row_counts(db: str | Path) -> dict[str, int]:
    return {name: len(rows) for name, rows in contents(db).items()}


def file_bytes(db: str | Path) -> bytes | None:
    """The SQLite file's content (``None`` on PostGIS, where ``contents`` is the comparison)."""
    text = str(db)
    if "://" in text:
        return None
    path = Path(text)
    return path.read_bytes() if path.exists() else b""


@contextlib.contextmanager
def writer_holding(db: str | Path) -> Iterator[None]:
    """Another writer holds the registry meanwhile (mid-import, say), as clearland's own writers
    take it: ``BEGIN IMMEDIATE`` on SQLite, the transaction-level advisory lock on PostgreSQL.
    Nothing is written; the lock is let go at the end."""
    from sqlalchemy import create_engine

    from clearland.storage.dialects import WRITE_LOCK

    engine = create_engine(url(db))
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                raw = conn.connection.dbapi_connection
                assert raw is not None
                raw.isolation_level = None
                raw.execute("BEGIN IMMEDIATE")
                try:
                    yield
                finally:
                    raw.execute("ROLLBACK")
            else:
                with conn.begin() as transaction:
                    conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITE_LOCK})")
                    yield
                    transaction.rollback()
    finally:
        engine.dispose()


def copy(source: str | Path, path: Path) -> str:
    """A copy of the registry ``source`` (what ``database`` gave) at ``path``: the SQLite file
    copied, or on PostGIS a new database with the same contents; ``database(path)`` gives it
    from then on."""
    text = str(source)
    if "://" not in text:
        import shutil

        shutil.copy(text, path)
        return str(path)
    assert _cluster is not None, "a PostGIS registry outside the --postgis run"
    from sqlalchemy.engine import make_url

    key = Path(path).resolve()
    assert key not in _databases, f"{path} is a registry already"
    stem = re.sub(r"[^a-z0-9]+", "_", key.stem.lower())[:30]
    name = f"t{os.getpid()}_{next(_numbers)}_{stem}"
    origin = make_url(text).database
    import psycopg

    # a file-level copy when nothing is connected to the source (PostgreSQL would wait 5 s for
    # connections to end, then refuse); by pg_dump while a server or a registry has it open
    in_use = execute(
        _cluster.url(), "SELECT count(*) FROM pg_stat_activity WHERE datname = :d", {"d": origin}
    )
    try:
        if in_use[0][0]:
            raise psycopg.errors.ObjectInUse
        target = _cluster.create_database(name, template=str(origin))
    except psycopg.errors.ObjectInUse:
        target = _cluster.create_database(name, template="template0")
        _dump_and_restore(str(origin), name)
    _databases[key] = target
    return target


def _dump_and_restore(source: str, target: str) -> None:
    import subprocess

    from pgcluster import _bin

    assert _cluster is not None
    where = ["-h", _cluster.host, "-p", str(_cluster.port), "-U", _cluster.user]
    dump = subprocess.run(
        [_bin("pg_dump"), *where, "-Fc", "-d", source], capture_output=True, check=True
    ).stdout
    subprocess.run(
        [_bin("pg_restore"), *where, "--no-owner", "--exit-on-error", "-d", target],
        input=dump,
        capture_output=True,
        check=True,
    )


def missing(path: Path) -> str:
    """The ``--db`` of a registry that does not exist: the SQLite path ``path`` (not created), or
    on PostGIS the URL of a database of the cluster named after ``path``, never created."""
    if _cluster is None:
        return str(path)
    name = "-".join(Path(path).parts[-2:])
    return _cluster.url(f"missing-{os.getpid()}-{name}")


def bytes_written(db: str | Path) -> int:
    """How much the database has on disk that a write in progress adds to before it commits: the
    size of the SQLite WAL file, or of the PostgreSQL database (its tables' files grow with rows
    not yet committed)."""
    text = str(db)
    if "://" not in text:
        wal = Path(f"{text}-wal")
        return wal.stat().st_size if wal.exists() else 0
    ((size,),) = execute(db, "SELECT pg_database_size(current_database())")
    return int(size)
