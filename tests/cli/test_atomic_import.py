"""An import killed with SIGKILL halfway leaves the database as it was: every row of every table,
and on SQLite the file byte for byte (but for the two counters in its header that SQLite steps
when a bulk import leaves the WAL for a rollback journal and comes back).

On SQLite an import of many features that has the database to itself writes through a rollback
journal (``dialects._bulk_journal``); with another connection open it stays in the WAL. Both are
killed: in the middle of the transaction, and while the commit writes the new pages out."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import shapely
from test_broken_inputs import CLI, cli_env, fingerprint, run

from clearland.io import write_layer
from clearland.io.types import OutputFeature
from dbs import bytes_written, database, execute, file_bytes

#: SQLite's header: the file change counter and the version-valid-for number (offsets 24, 92)
_COUNTERS = (slice(24, 28), slice(92, 96))


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(1)
    features = [
        OutputFeature(
            {"source_id": f"k{i}", "category": "SHA"},
            shapely.Point(17 + rng.random(), 44 + rng.random()).buffer(0.002, 16),
        )
        for i in range(60_000)
    ]
    path = tmp_path_factory.mktemp("file") / "big.gpkg"
    write_layer(path, features, format="gpkg", layer="hazard_areas")
    return path


def _on_disk(db: str) -> int:
    """What the database has on disk that a write adds to: the WAL, the rollback journal and the
    file itself on SQLite; the database's size on PostgreSQL."""
    if "://" in db:
        return bytes_written(db)
    return sum(
        Path(name).stat().st_size for name in (db, f"{db}-wal", f"{db}-journal") if Path(name).exists()
    )


def _writing(db: str, other: sqlite3.Connection | None) -> Callable[[], bool]:
    """True once the import's write transaction has begun: on SQLite a rollback journal (it
    appears with the transaction's first page), or, in the WAL (which only the commit writes
    to), the write lock another connection cannot take; rows on PostgreSQL."""
    if "://" in db:
        start = bytes_written(db)
        return lambda: bytes_written(db) - start > 0
    if other is None:
        return lambda: Path(f"{db}-journal").exists()

    def locked() -> bool:
        try:
            other.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            return True
        other.execute("ROLLBACK")
        return False

    return locked


def _committing(db: str) -> Callable[[], bool]:
    """True once more than 4 MB of new pages are on disk: on SQLite only the commit writes them
    (the transaction's page cache holds them until then), on PostgreSQL rows as they come."""
    start = _on_disk(db)
    return lambda: _on_disk(db) - start > 4 * 1024 * 1024


@pytest.mark.parametrize("journal", ["bulk", "wal"])
@pytest.mark.parametrize("moment", ["transaction", "commit"])
def test_sigkill_halfway_leaves_the_database_as_before(
    tmp_path: Path, big: Path, journal: str, moment: str
) -> None:
    # the WAL case is SQLite's: a SQLite file on the PostGIS run too
    db = database(tmp_path / "registry.db") if journal == "bulk" else str(tmp_path / "registry.db")
    assert run(db, "init").returncode == 0
    before = fingerprint(db)
    assert before[1]["users"] and (before[0] is None) == ("://" in db)
    raw_before = file_bytes(db)
    # another connection keeps the database open (SQLite): the import stays in the WAL
    other = (
        sqlite3.connect(db, timeout=0, isolation_level=None) if journal == "wal" and "://" not in db else None
    )
    if other is not None:
        other.execute("SELECT count(*) FROM users").fetchone()
    ready = _writing(db, other) if moment == "transaction" else _committing(db)

    proc = subprocess.Popen(
        [*CLI, "--db", db, "import", str(big)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli_env(),
    )
    deadline = time.monotonic() + 300
    killed = False
    while time.monotonic() < deadline and proc.poll() is None:
        if ready():
            if moment == "transaction":
                time.sleep(0.3)  # well into it: records, changes, rows being written
            os.kill(proc.pid, signal.SIGKILL)
            killed = True
            break
        time.sleep(0.002)
    proc.wait()
    proc.stdout.close()
    proc.stderr.close()
    assert killed, "the import finished before it could be killed"
    assert proc.returncode == -signal.SIGKILL
    if "://" not in db:  # the way the import wrote: a rollback journal left behind, or none
        assert Path(f"{db}-journal").exists() == (journal == "bulk")
    if other is not None:
        other.close()

    # the registry opened again (SQLite puts back the pages of an interrupted rollback journal;
    # the WAL's uncommitted frames are ignored), then compared
    assert run(db, "hazards", "list").returncode == 0
    after = fingerprint(db)
    assert after[1] == before[1]
    raw_after = file_bytes(db)
    if raw_before is not None and raw_after is not None:
        assert len(raw_after) == len(raw_before)
        if journal == "wal":
            assert raw_after == raw_before
        else:
            masked_before, masked_after = bytearray(raw_before), bytearray(raw_after)
            for counter in _COUNTERS:
                masked_before[counter] = masked_after[counter] = bytes(4)
            assert masked_after == masked_before
    # and the registry still works: the same import now lands whole
    assert run(db, "import", str(big)).returncode == 0
    assert execute(db, "SELECT count(*) FROM hazard_areas") == [(60_000,)]
