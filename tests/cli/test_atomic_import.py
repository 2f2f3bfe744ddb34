"""An import killed with SIGKILL halfway leaves the database exactly as it was: every row of every
table, and on SQLite the file byte for byte."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import shapely
from test_broken_inputs import CLI, cli_env, fingerprint, run

from clearland.io import write_layer
from clearland.io.types import OutputFeature
from dbs import bytes_written, database, execute


def test_sigkill_halfway_leaves_the_database_as_before(tmp_path: Path) -> None:
    db = database(tmp_path / "registry.db")
    assert run(db, "init").returncode == 0
    rng = np.random.default_rng(1)
    features = [
        OutputFeature(
            {"source_id": f"k{i}", "category": "SHA"},
            shapely.Point(17 + rng.random(), 44 + rng.random()).buffer(0.002, 16),
        )
        for i in range(60_000)
    ]
    big = tmp_path / "big.gpkg"
    write_layer(big, features, format="gpkg", layer="hazard_areas")
    before = fingerprint(db)
    assert before[1]["users"] and (before[0] is None) == ("://" in db)
    written = bytes_written(db)

    proc = subprocess.Popen(
        [*CLI, "--db", db, "import", str(big)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli_env(),
    )
    deadline = time.monotonic() + 300
    killed_while_writing = False
    while time.monotonic() < deadline and proc.poll() is None:
        # the write transaction has begun once it has put down more than a few pages: in the
        # SQLite WAL, or in PostgreSQL's table files (rows not yet committed)
        if bytes_written(db) - written > 4 * 1024 * 1024:
            os.kill(proc.pid, signal.SIGKILL)
            killed_while_writing = True
            break
        time.sleep(0.005)
    proc.wait()
    proc.stdout.close()
    proc.stderr.close()
    assert killed_while_writing, "the import finished before it could be killed"
    assert proc.returncode == -signal.SIGKILL
    after = fingerprint(db)
    assert after == before
    # and the registry still works: the same import now lands whole
    assert run(db, "import", str(big)).returncode == 0
    assert execute(db, "SELECT count(*) FROM hazard_areas") == [(60_000,)]
