"""``clearland db upgrade | backup | restore | copy`` end to end, the real ``clearland`` in a
subprocess, on a registry with real content (Bosnia and Herzegovina's ADM2 boundaries, hazard
areas, an approved and a submitted report, users with a password, a token and a session).

The registry lives where this run keeps registries (``dbs.database``: SQLite files, or PostGIS
with ``--postgis``); "the other database" is the other one of the two. On the SQLite run this
module starts its own throwaway PostgreSQL + PostGIS cluster for it: nothing here is skipped.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from test_broken_inputs import CLI

from clearland.errors import StorageError
from clearland.services import dbadmin, users
from clearland.services.registry import open_registry
from clearland.settings import Settings
from conftest import BIH_ADM2, make_hazard_feature, square, write_geojson
from dbs import contents, database, execute, file_bytes, postgis
from pgcluster import temporary_cluster

PASSWORD = "rev-pass-0123456789"


def clearland(db: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "--db", db, *args], capture_output=True, text=True, timeout=300, input=stdin, check=False
    )


def ok(db: str, *args: str, stdin: str | None = None) -> str:
    done = clearland(db, *args, stdin=stdin)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


def ok_json(db: str, *args: str) -> Any:
    return json.loads(ok(db, *args, "--json"))


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, done.stdout
    lines = done.stderr.splitlines()
    assert lines[0].startswith("error: "), done.stderr
    return lines[0]


def rows_of(db: str) -> dict[str, list[tuple[Any, ...]]]:
    """``dbs.contents``, quiet about PostGIS's geometry type (SQLAlchemy does not know it)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Did not recognize type 'geometry'")
        return contents(db)


def exported(db: str, folder: Path, kind: str = "hazard-areas") -> dict[str, Any]:
    """``clearland export`` as GeoJSON, parsed, features by ref."""
    path = folder / f"export-{next(_numbers)}.geojson"
    ok(db, "export", str(path), "--as", kind)
    collection = json.loads(path.read_text(encoding="utf-8"))
    features = collection.pop("features")
    return {"collection": collection, "features": {f["properties"]["ref"]: f for f in features}}


_numbers = itertools.count(1)


@dataclass
class Loaded:
    db: str
    folder: Path
    token: str
    session: str
    #: what the CLI shows of it, to compare copies with: command → output
    shown: dict[str, Any]


#: commands whose output a copy must repeat exactly
SHOWN = {
    "reports": ("report", "list"),
    "users": ("users", "list"),
    "history": ("hazards", "show", "HA-000001", "--history"),
}


@pytest.fixture(scope="module")
def other_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], str]]:
    """New, empty databases of the other kind than this run's: SQLite files on the PostGIS run,
    else PostGIS databases of a cluster started for this module."""
    folder = tmp_path_factory.mktemp("other")
    if postgis():
        yield lambda name: str(folder / f"{name}-{next(_numbers)}.db")
        return
    with temporary_cluster() as cluster:
        yield lambda name: cluster.create_database(f"{name}_{next(_numbers)}")


@pytest.fixture(scope="module")
def same_database(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], str]:
    """New, empty databases of this run's kind."""
    folder = tmp_path_factory.mktemp("same")
    return lambda name: database(folder / f"{name}-{next(_numbers)}.db")


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Loaded:
    folder = tmp_path_factory.mktemp("registry")
    db = database(folder / "registry.db")
    ok(db, "init")
    ok(db, "import", str(BIH_ADM2), "--as", "admin-areas", "--date-of-information", "2024-01-01")
    hazards = write_geojson(
        folder / "hazards.geojson",
        [
            make_hazard_feature(square(17.80, 43.85, 0.02), id="h1", name="Polje", hazard_types="ap_mine"),
            make_hazard_feature(square(17.81, 43.86, 0.02), id="h2", category="CHA"),
            make_hazard_feature(square(18.40, 44.50), id="h3", status="worked_on"),
        ],
    )
    ok(db, "import", str(hazards), "--date-of-information", "2024-05-01")
    ok(db, "users", "add", "ana", "--role", "surveyor")
    ok(db, "users", "add", "rev", "--role", "reviewer", "--password-stdin", stdin=PASSWORD + "\n")
    approved = ok_json(db, "--as", "ana", "report", "submit", str(_report(folder, "Livada", 18.0)))["report"]
    ok(db, "--as", "rev", "report", "approve", str(approved))
    submitted = ok_json(db, "--as", "ana", "report", "submit", str(_report(folder, "Brdo", 18.1)))["report"]
    statuses = {r["id"]: r["status"] for r in ok_json(db, "report", "list")}
    assert statuses[approved] == "approved" and statuses[submitted] == "submitted"
    token = ok_json(db, "users", "token", "rev", "--label", "qgis")["token"]
    registry = open_registry(Settings(), db=db)
    try:
        session = users.login(registry, "rev", PASSWORD, lifetime_s=3600)["session"]
    finally:
        registry.close()
    shown = {name: ok_json(db, *args) for name, args in SHOWN.items()}
    shown["hazard-areas"] = exported(db, folder)
    shown["admin-areas"] = exported(db, folder, "admin-areas")
    return Loaded(db, folder, token, session, shown)


def _report(folder: Path, name: str, lon: float) -> Path:
    ring = [[lon, 44.0], [lon + 0.01, 44.0], [lon + 0.01, 44.01], [lon, 44.01], [lon, 44.0]]
    document = {
        "type": "hazard_report",
        "date_of_information": "2025-03-01",
        "organisation": "Test Demining Operator",
        "hazard_areas": [
            {
                "geometry": {"type": "Polygon", "coordinates": [ring]},
                "set": {"category": "SHA", "name": name, "hazard_types": ["ap_mine"]},
            }
        ],
    }
    path = folder / f"report-{name}.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def backup(loaded: Loaded) -> Path:
    path = loaded.folder / "registry.backup"
    result = ok_json(loaded.db, "db", "backup", str(path))
    assert result["verified"] and result["file"] == str(path) and result["rows"] > 50
    return path


def _credentials_work(db: str, loaded: Loaded) -> None:
    registry = open_registry(Settings(), db=db)
    try:
        assert users.verify_password(registry, "rev", PASSWORD)
        assert (users.token_user(registry, loaded.token) or {}).get("name") == "rev"
        assert (users.session_user(registry, loaded.session) or {}).get("name") == "rev"
    finally:
        registry.close()


def _new_ids_follow(db: str, folder: Path) -> None:
    """A report, a user and their audit entries made after a copy get ids after the copied ones."""
    before = max(r["id"] for r in ok_json(db, "report", "list"))
    made = ok_json(db, "--as", "ana", "report", "submit", str(_report(folder, f"New{next(_numbers)}", 18.5)))
    assert made["report"] == before + 1
    added = ok_json(db, "users", "add", f"user{next(_numbers)}", "--role", "surveyor")
    assert added["id"] == 4  # admin, ana, rev were 1, 2, 3


# -- copy ---------------------------------------------------------------------------------------
def test_round_trip_through_the_other_database_keeps_every_row_and_id(
    loaded, other_database, same_database, tmp_path
):
    middle, back = other_database("middle"), same_database("back")
    there = ok_json(loaded.db, "db", "copy", "--to", middle)
    assert there["verified"] and not there["replaced"]
    assert {"reports", "report_changes", "records", "users", "credentials", "api_tokens", "sessions"} <= {
        name for name, table in there["tables"].items() if table["rows"] > 0
    }
    assert {"audit_log", "meta", "hazard_areas", "admin_areas"} <= set(there["tables"])
    returned = ok_json(middle, "db", "copy", "--to", back)
    # the same rows, table by table, by count and by SHA-256 of their content
    assert returned["tables"] == there["tables"]

    assert rows_of(back) == rows_of(loaded.db)
    assert len(loaded.shown["hazard-areas"]["features"]) == 4  # three imported, one approved report
    assert exported(middle, tmp_path) == loaded.shown["hazard-areas"] == exported(back, tmp_path)
    assert exported(middle, tmp_path, "admin-areas") == loaded.shown["admin-areas"]
    assert {name: ok_json(middle, *args) for name, args in SHOWN.items()} == {
        name: loaded.shown[name] for name in SHOWN
    }
    for db in (middle, back):
        _credentials_work(db, loaded)
        _new_ids_follow(db, tmp_path)


def test_copy_refuses_a_registry_unless_force_and_never_itself(loaded, other_database, tmp_path):
    target = other_database("busy")
    ok(target, "init")
    ok(target, "users", "add", "zed", "--role", "admin")
    before = rows_of(target)
    refused = clearland(loaded.db, "db", "copy", "--to", target)
    assert one_line_error(refused).endswith("already holds a registry: add --force to replace it")
    assert rows_of(target) == before
    assert "is the registry being copied" in one_line_error(
        clearland(loaded.db, "db", "copy", "--to", loaded.db)
    )
    replaced = ok_json(loaded.db, "db", "copy", "--to", target, "--force")
    assert replaced["replaced"] and replaced["verified"]
    assert [u["name"] for u in ok_json(target, "users", "list")] == ["admin", "ana", "rev"]
    assert exported(target, tmp_path) == loaded.shown["hazard-areas"]
    text_file = tmp_path / "notes.txt"
    text_file.write_text("not a registry", encoding="utf-8")
    foreign = clearland(loaded.db, "db", "copy", "--to", str(text_file), "--force")
    assert "exists and is not a clearland registry" in one_line_error(foreign)
    assert text_file.read_text(encoding="utf-8") == "not a registry"


def test_a_failed_copy_leaves_a_postgis_target_as_it_was(
    loaded, backup, other_database, same_database, tmp_path
):
    """A value PostgreSQL refuses (longer than its column) fails the copy midway; with --force
    the old registry's drop is undone with the rest."""
    postgis_db = same_database("victim") if postgis() else other_database("victim")
    ok(loaded.db, "db", "copy", "--to", postgis_db)
    before = rows_of(postgis_db)
    bad = tmp_path / "too-long.db"
    ok(str(bad), "db", "restore", str(backup))  # an SQLite registry, whatever this run keeps
    execute(bad, "UPDATE audit_log SET source = :s WHERE id = 1", {"s": "x" * 40})
    failed = clearland(str(bad), "db", "copy", "--to", postgis_db, "--force")
    line = one_line_error(failed)
    assert "nothing was written" in line and "too long" in line
    assert rows_of(postgis_db) == before


def test_a_copy_that_does_not_verify_is_rolled_back(loaded, same_database, monkeypatch):
    """Any difference between the tables read and the tables written is an error, and the
    target keeps what it held (here a registry being replaced with --force)."""
    from clearland.storage import copying

    target = same_database("unverified")
    ok(target, "init")
    before, before_bytes = rows_of(target), file_bytes(target)
    insert = copying._insert

    def losing_a_row(conn, store, table, rows):
        insert(conn, store, table, rows[:-1] if table.name == "audit_log" else rows)

    monkeypatch.setattr(copying, "_insert", losing_a_row)
    registry = open_registry(Settings(), db=loaded.db)
    try:
        with pytest.raises(StorageError, match=r"does not match .* \(audit_log\): rolled back") as caught:
            dbadmin.copy(registry, target, force=True)
    finally:
        registry.close()
    (difference,) = caught.value.detail
    assert difference["table"] == "audit_log"
    assert difference["target_rows"] == difference["source_rows"] - 1
    assert rows_of(target) == before
    assert file_bytes(target) == before_bytes


# -- backup and restore ---------------------------------------------------------------------------
def test_backup_restores_into_either_database(loaded, backup, other_database, same_database, tmp_path):
    assert backup.read_bytes()[:16] == b"SQLite format 3\x00"
    again = clearland(loaded.db, "db", "backup", str(backup))
    assert one_line_error(again) == f"error: {backup} exists: add --force to overwrite it"

    same = same_database("restored")
    restored = ok_json(same, "db", "restore", str(backup))
    assert restored["verified"] and restored["backup_revision"] == "0007"
    assert rows_of(same) == rows_of(loaded.db)

    other = other_database("restored")
    ok(other, "db", "restore", str(backup))
    assert exported(other, tmp_path) == loaded.shown["hazard-areas"]
    _credentials_work(other, loaded)
    _new_ids_follow(other, tmp_path)

    # a backup of the other database restores here just as well
    other_backup = tmp_path / "other.backup"
    ok(other, "db", "backup", str(other_backup))
    from_other = same_database("from-other")
    ok(from_other, "db", "restore", str(other_backup))
    assert exported(from_other, tmp_path) == exported(other, tmp_path)


def test_restore_refuses_a_registry_unless_force(loaded, backup, same_database):
    target = same_database("occupied")
    ok(target, "db", "restore", str(backup))
    ok(target, "users", "add", "later", "--role", "surveyor")
    before, before_bytes = rows_of(target), file_bytes(target)
    refused = clearland(target, "db", "restore", str(backup))
    assert one_line_error(refused).endswith("already holds a registry: add --force to replace it")
    assert rows_of(target) == before and file_bytes(target) == before_bytes
    replaced = ok_json(target, "db", "restore", str(backup), "--force")
    assert replaced["replaced"]
    assert rows_of(target) == rows_of(loaded.db)  # "later" is gone with the rest


def test_a_broken_backup_is_one_line_and_changes_nothing(loaded, backup, same_database, tmp_path):
    target = same_database("kept")
    ok(target, "db", "restore", str(backup))
    before, before_bytes = rows_of(target), file_bytes(target)
    good = backup.read_bytes()

    truncated = tmp_path / "truncated.backup"
    truncated.write_bytes(good[: len(good) // 2])
    flipped = tmp_path / "flipped.backup"
    # one byte of a geometry changed: the file is sound to SQLite, the content is not
    geometry = good.index(bytes.fromhex("0103000000"), len(good) // 2)
    flipped.write_bytes(good[: geometry + 40] + bytes([good[geometry + 40] ^ 0xFF]) + good[geometry + 41 :])
    text_file = tmp_path / "notes.backup"
    text_file.write_text("hello", encoding="utf-8")
    empty_sqlite = tmp_path / "empty.backup"
    execute(empty_sqlite, "CREATE TABLE t (x INTEGER)")

    expected = {
        truncated: "is not a usable clearland backup: damaged: database disk image is malformed",
        flipped: "damaged",
        text_file: "is not a usable clearland backup: not an SQLite file",
        empty_sqlite: "is not a clearland backup: it holds no registry",
        tmp_path / "missing.backup": "backup file not found",
    }
    for path, message in expected.items():
        done = clearland(target, "db", "restore", str(path), "--force")
        assert message in one_line_error(done), path
        assert len(done.stderr.strip().splitlines()) == 1
        assert rows_of(target) == before, path
        assert file_bytes(target) == before_bytes, path
    assert truncated.read_bytes() == good[: len(good) // 2]  # only ever read


# -- upgrade --------------------------------------------------------------------------------------
def test_upgrade_from_an_older_schema(same_database, tmp_path):
    from alembic import command
    from alembic.config import Config

    from clearland.settings import database_url
    from clearland.storage.repository import MIGRATIONS, Store

    old = same_database("old")
    store = Store(database_url(old))
    try:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with store.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0006")
    finally:
        store.dispose()
    execute(
        old,
        "INSERT INTO users (id, name, roles, created_at) VALUES (1, 'admin', 'admin', :at)",
        {"at": "2025-01-01 00:00:00.000000"},
    )
    refused = clearland(old, "db", "backup", str(tmp_path / "old.backup"))
    assert "the registry's schema is at 0006" in one_line_error(refused)

    done = ok_json(old, "db", "upgrade")
    assert done == {"database": done["database"], "from": "0006", "to": "0007", "upgraded": True}
    assert "is at schema 0007 already: nothing to do" in ok(old, "db", "upgrade")
    assert [u["name"] for u in ok_json(old, "users", "list")] == ["admin"]
    assert ok_json(old, "hazards", "list") == []

    nothing = clearland(same_database("nothing"), "db", "upgrade")
    assert "no clearland registry at" in one_line_error(nothing)


def test_an_older_backup_is_upgraded_as_it_is_restored(same_database, tmp_path):
    from alembic import command
    from alembic.config import Config

    from clearland.storage.repository import MIGRATIONS, Store

    old_file = tmp_path / "old-0006.backup"
    store = Store(f"sqlite:///{old_file}")
    try:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with store.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0006")
    finally:
        store.dispose()
    execute(
        old_file,
        "INSERT INTO users (id, name, roles, created_at) VALUES (1, 'admin', 'admin;reviewer', :at)",
        {"at": "2025-01-01 00:00:00.000000"},
    )
    before = old_file.read_bytes()
    target = same_database("from-old")
    restored = ok_json(target, "db", "restore", str(old_file))
    assert restored["backup_revision"] == "0006" and restored["revision"] == "0007"
    assert [u["name"] for u in ok_json(target, "users", "list")] == ["admin"]
    assert old_file.read_bytes() == before
