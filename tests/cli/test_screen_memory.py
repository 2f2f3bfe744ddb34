"""`clearland screen` streams: its peak memory does not grow with the input.

The same registry screens 1,000,000 points and 5,000,000 points (both several batches); the
peak resident memory of the whole process tree (the command and its screening workers) may
differ by a few buffers at most. Keeping the input, or the results, in memory would add
hundreds of MB for the larger file (4M more ids, coordinates and result rows)."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
import shapely
from test_broken_inputs import CLI, cli_env, run

from conftest import make_hazard_feature, write_geojson
from dbs import database

#: what the larger input may add to the peak, in MiB: the allocators settling and the batches
#: in flight (seen: 25-50 on a quiet machine, 65-109 on a loaded 2-core one), not the input
#: (4M more points would hold at least 160 MiB even as bare Arrow columns)
ALLOWED_GROWTH_MB = 125

_MEASURE = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
sys.stderr.write(done.stderr)
print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def _points(path: Path, count: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    table = pa.table(
        {
            "id": pa.array([f"fix-{i:09d}" for i in range(count)]),
            "lon": rng.uniform(14.0, 14.2, count).round(6),
            "lat": rng.uniform(45.2, 45.4, count).round(6),
        }
    )
    pacsv.write_csv(table, path)
    return path


def _peak_mb(db: str, src: Path, out: Path) -> float:
    """Peak RSS (MiB) of ``clearland screen`` and every process it started."""
    command = [*CLI, "--db", str(db), "screen", str(src), "--out", str(out), "--within", "50", "--json"]
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, *command], capture_output=True, text=True, env=cli_env()
    )
    code, peak_kib = done.stdout.split()
    assert code == "0", done.stderr
    return int(peak_kib) / 1024


@pytest.mark.slow
def test_peak_memory_does_not_grow_with_the_input(tmp_path: Path) -> None:
    db = database(tmp_path / "registry.db")
    assert run(db, "init").returncode == 0
    # SYNTHETIC hazard areas (not real ones) among the points, so that every status occurs
    hazards = [
        make_hazard_feature(shapely.box(x, y, x + 0.004, y + 0.004), id=f"s{i}", name="SYNTHETIC")
        for i, (x, y) in enumerate((14.01 + 0.02 * i, 45.21 + 0.015 * (i % 9)) for i in range(9))
    ]
    imported = run(db, "import", str(write_geojson(tmp_path / "h.geojson", hazards)))
    assert imported.returncode == 0, imported.stderr

    small = _points(tmp_path / "small.csv", 1_000_000, seed=1)
    large = _points(tmp_path / "large.csv", 5_000_000, seed=2)
    _peak_mb(db, tmp_path / "h.geojson", tmp_path / "warm.csv")  # the index is built and cached
    small_peak = _peak_mb(db, small, tmp_path / "small_out.csv")
    large_peak = _peak_mb(db, large, tmp_path / "large_out.csv")

    with (tmp_path / "large_out.csv").open(encoding="utf-8") as fh:
        rows = sum(1 for _ in csv.reader(fh)) - 1
    assert rows == 5_000_000  # every point was screened and written
    with (tmp_path / "small_out.csv").open(encoding="utf-8") as fh:
        statuses = {row["status"] for row in csv.DictReader(fh)}
    assert {"inside", "near", "no_record"} <= statuses
    print(f"peak RSS: {small_peak:.0f} MiB for 1M points, {large_peak:.0f} MiB for 5M points")
    assert large_peak - small_peak < ALLOWED_GROWTH_MB, (
        f"peak RSS {small_peak:.0f} MiB for 1M points, {large_peak:.0f} MiB for 5M points"
    )
