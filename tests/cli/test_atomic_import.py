"""An import killed with SIGKILL halfway leaves the database exactly as it was."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import shapely
from test_broken_inputs import CLI, fingerprint, run

from clearland.io import write_layer
from clearland.io.types import OutputFeature


def test_sigkill_halfway_leaves_the_database_as_before(tmp_path: Path) -> None:
    db = tmp_path / "registry.db"
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
    wal = Path(f"{db}-wal")

    proc = subprocess.Popen(
        [*CLI, "--db", str(db), "import", str(big)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 300
    killed_while_writing = False
    while time.monotonic() < deadline and proc.poll() is None:
        # the write transaction has begun once the WAL holds more than a few pages
        if wal.exists() and wal.stat().st_size > 4 * 1024 * 1024:
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
    _, counts = fingerprint(db)
    assert counts["hazard_areas"] == 60_000
