"""Database administration: upgrade a registry in place, back it up, restore it, copy it to
another database (SQLite ↔ PostgreSQL + PostGIS).

One format for backups: a backup is itself an SQLite registry file, written by the same copy
engine (``storage.copying``) as ``copy``. So a backup of either database restores into either,
and a backup can be opened and read with ``clearland --db FILE …``.

These work on the database itself: what they need is access to it (the file, or the server's
credentials), not a clearland role. They add nothing to the registry (no audit entry): a copy
is the registry as it was, row for row.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from clearland.errors import InputFileError, StateError, StorageError
from clearland.services.registry import Registry
from clearland.settings import database_url
from clearland.storage.copying import (
    Progress,
    TableCheck,
    copy_registry,
    is_foreign_file,
    known_revisions,
    registry_tables,
    seal_problems,
    sqlite_file_problem,
    upgrade_schema,
)
from clearland.storage.repository import SCHEMA_HEAD, Store


def upgrade(registry: Registry) -> dict[str, Any]:
    """Bring the registry's schema up to this code's, in place (Alembic's migrations)."""
    store = registry.store
    before = store.schema_revision()
    if before is None:
        raise StorageError(f"no clearland registry at {store.where}: run `clearland init` to create one")
    _check_known(before, store.where)
    if before != SCHEMA_HEAD:
        upgrade_schema(store)
    after = store.schema_revision()
    return {"database": store.where, "from": before, "to": after, "upgraded": before != after}


def copy(
    registry: Registry, to: str, *, force: bool = False, progress: Progress | None = None
) -> dict[str, Any]:
    """Copy the registry, every row with its id, to the database ``to`` (a URL or an SQLite
    path), verified table by table. A target holding a registry is refused unless ``force``."""
    source = registry.store
    target = Store(database_url(to))
    try:
        if target.url == source.url:
            raise StateError(f"{target.where} is the registry being copied: give another database")
        source.check_ready()
        replace = _check_target(target, force=force)
        return _copy(source, target, replace=replace, progress=progress)
    finally:
        target.dispose()


def backup(
    registry: Registry, file: Path, *, force: bool = False, progress: Progress | None = None
) -> dict[str, Any]:
    """Write the registry to ``file``, an SQLite registry file (whatever the database), from
    one consistent snapshot: others may go on writing meanwhile."""
    source = registry.store
    target = Store(database_url(str(file)))
    try:
        if target.url == source.url:
            raise StateError(f"{file} is the registry itself: back it up to another file")
        source.check_ready()
        if file.exists() and not force:
            raise StateError(f"{file} exists: add --force to overwrite it")
        replace = _check_target(target, force=True)
        result = _copy(source, target, replace=replace, seal=True, progress=progress)
        return {**result, "file": str(file), "bytes": file.stat().st_size}
    finally:
        target.dispose()


def restore(
    registry: Registry, file: Path, *, force: bool = False, progress: Progress | None = None
) -> dict[str, Any]:
    """Replace the registry with the backup ``file``: all of it, or (on any error) nothing.
    The backup is checked and read in a scratch copy (``file`` itself is only read); one made
    by an older clearland is upgraded there first."""
    target = registry.store
    replace = _check_target(target, force=force)
    if not file.is_file():
        raise InputFileError(f"{file}: backup file not found")
    with tempfile.TemporaryDirectory(prefix="clearland-restore-") as scratch:
        work = Path(scratch) / "backup.db"
        shutil.copyfile(file, work)
        problem = sqlite_file_problem(work)
        if problem is not None:
            raise InputFileError(f"{file} is not a usable clearland backup: {problem}")
        source = Store(database_url(str(work)))
        try:
            revision = source.schema_revision()
            if revision is None:
                raise InputFileError(f"{file} is not a clearland backup: it holds no registry")
            _check_known(revision, str(file))
            # the checks are of the tables as this code declares them: a backup of an older
            # schema is read as its migrations left it (quick_check above) and upgraded
            damaged = seal_problems(source) if revision == SCHEMA_HEAD else None
            if damaged:
                raise InputFileError(
                    f"{file} is damaged: {', '.join(damaged)} no longer match the checksums written with it"
                )
            if revision != SCHEMA_HEAD:
                upgrade_schema(source)
            result = _copy(source, target, replace=replace, progress=progress)
        finally:
            source.dispose()
    if not target.is_ready():  # after the commit, read afresh
        raise StorageError(f"the restored registry at {target.where} is not at schema {SCHEMA_HEAD}")
    return {**result, "source": str(file), "backup_revision": revision}


def _check_target(target: Store, *, force: bool) -> bool:
    """Whether the copy replaces a registry there; refused without ``force``."""
    if is_foreign_file(target):
        raise StateError(f"{target.where} exists and is not a clearland registry: give a new file")
    present = registry_tables(target)
    if present and not force:
        raise StateError(f"{target.where} already holds a registry: add --force to replace it")
    return bool(present)


def _copy(
    source: Store, target: Store, *, replace: bool, progress: Progress | None, seal: bool = False
) -> dict[str, Any]:
    started = time.monotonic()
    checks = copy_registry(source, target, replace=replace, seal=seal, progress=progress)
    return {
        "source": source.where,
        "target": target.where,
        "replaced": replace,
        "revision": SCHEMA_HEAD,
        "rows": sum(c.rows for c in checks),
        "tables": _tables(checks),
        "verified": True,
        "seconds": round(time.monotonic() - started, 3),
    }


def _tables(checks: list[TableCheck]) -> dict[str, dict[str, Any]]:
    return {c.table: {"rows": c.rows, "sha256": c.sha256} for c in checks}


def _check_known(revision: str, where: str) -> None:
    if revision not in known_revisions():
        raise StorageError(
            f"{where} is at schema {revision}, which this clearland does not know "
            f"(it knows up to {SCHEMA_HEAD}): use the clearland that made it, or a newer one"
        )
