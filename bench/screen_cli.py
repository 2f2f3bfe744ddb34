"""Benchmark: end-to-end ``clearland screen`` of a 1M-point CSV against 100k hazard areas, within
50 m, against the equivalent geopandas script (read the hazards from a GeoPackage and the CSV,
project both to a metric CRS, ``sjoin(predicate="dwithin")``, write a CSV).

SYNTHETIC data, written to bench/out/ and reused: the hazard polygons of bench/screening.py
(5–200 vertices, clustered along lines over eastern Ukraine, ~10 % overlapping), as a GeoPackage
whose features are named "SYNTHETIC bench …" and imported into a registry with
``services.imports.import_file``; 1M GPS points as a CSV (id, lon, lat), half anywhere over the
area, half near a hazard.

Each side runs in its own process and is timed from outside, interpreter start included:
geopandas once, ``clearland screen`` cold (the index cache removed first: the index is built
from the registry and kept on disk) and warm (the cached index is mapped back). Then the sets of
flagged points are compared: every point flagged by one side only is measured exactly
(``HazardIndex.check``); a point geodesically within 50 m that clearland does not flag would be a
bug. UTM zone 36N (EPSG:32636) stretches distances by up to 0.25 % here and clearland flags up to
50.5 m, which explains the differences.

    .venv/bin/python bench/screen_cli.py [--hazards 100000] [--points 1000000] [--within 50]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from screening import OUT, make_hazards, make_points

PYTHON = sys.executable
UTM = 32636

GEOPANDAS_SCRIPT = f"""
import sys, time
started = time.perf_counter()
import geopandas as gpd
import pandas as pd
hazards_path, points_path, out_path, within = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
hazards = gpd.read_file(hazards_path, columns=["source_id"], engine="pyogrio", use_arrow=True)
points = pd.read_csv(points_path)
points = gpd.GeoDataFrame(points, geometry=gpd.points_from_xy(points.lon, points.lat), crs=4326)
read = time.perf_counter()
hazards = hazards.to_crs({UTM})
points = points.to_crs({UTM})
projected = time.perf_counter()
joined = gpd.sjoin(points, hazards, how="left", predicate="dwithin", distance=within)
joined = joined[~joined.index.duplicated(keep="first")]
joined = joined.assign(flagged=joined["source_id"].notna())
joined_at = time.perf_counter()
joined[["id", "lon", "lat", "flagged", "source_id"]].to_csv(out_path, index=False)
done = time.perf_counter()
print(f"read {{read - started:.2f}} project {{projected - read:.2f}} join {{joined_at - projected:.2f}} "
      f"write {{done - joined_at:.2f}} (after imports)", file=sys.stderr)
"""


def setup(hazard_count: int, point_count: int) -> tuple[Path, Path, Path]:
    """The GeoPackage, the registry (imported from it) and the points CSV, made once."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from clearland.io import OutputFeature, write_layer
    from clearland.services.imports import ImportOptions, import_file
    from clearland.services.registry import init_registry, open_registry
    from clearland.settings import Settings

    OUT.mkdir(exist_ok=True)
    gpkg = OUT / f"screen_cli_{hazard_count}.gpkg"
    db = OUT / f"screen_cli_{hazard_count}.db"
    csv = OUT / f"screen_cli_{point_count}.csv"
    hazards = None
    if not gpkg.exists():
        print(f"writing {hazard_count:,} SYNTHETIC hazard polygons to {gpkg} …", flush=True)
        hazards = make_hazards(hazard_count)
        features = [
            OutputFeature(
                {
                    "source_id": f"b{i}",
                    "category": ("SHA", "CHA")[i % 2],
                    "status": "open",
                    "hazard_types": "ap_mine",
                    "name": f"SYNTHETIC bench {i}",
                },
                polygon,
            )
            for i, polygon in enumerate(hazards)
        ]
        tmp = gpkg.with_name(gpkg.name + ".partial.gpkg")
        write_layer(tmp, features, format="gpkg", layer="hazard_areas")
        tmp.replace(gpkg)
    if not db.exists():
        print(f"importing them into {db} (once) …", flush=True)
        tmp_db = db.with_name(db.name + ".partial")
        tmp_db.unlink(missing_ok=True)
        registry = open_registry(Settings(), db=str(tmp_db))
        init_registry(registry)
        started = time.perf_counter()
        result = import_file(registry, gpkg, ImportOptions(date_of_information=dt.date(2026, 1, 15)))
        registry.close()
        print(f"  imported {result['created']:,} in {time.perf_counter() - started:.1f} s", flush=True)
        tmp_db.replace(db)
    if not csv.exists():
        print(f"writing {point_count:,} points to {csv} …", flush=True)
        if hazards is None:
            import pyogrio

            hazards = pyogrio.read_dataframe(gpkg, columns=[]).geometry.values
        lon, lat = make_points(point_count, np.asarray(hazards))
        table = pa.table({"id": np.arange(point_count), "lon": lon, "lat": lat})
        tmp_csv = csv.with_name(csv.name + ".partial")
        pacsv.write_csv(table, tmp_csv)
        tmp_csv.replace(csv)
    return gpkg, db, csv


def run(label: str, argv: list[str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    # as installed: bytecode cached (this environment may turn the cache off)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{label} failed:\n{done.stderr}")
    print(f"{label:<44} {seconds:8.2f} s", flush=True)
    return seconds, done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hazards", type=int, default=100_000)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--within", type=float, default=50.0)
    args = parser.parse_args()
    gpkg, db, csv = setup(args.hazards, args.points)
    cache = db.with_name(db.name + ".index")
    ours_out = OUT / "screen_cli_ours.csv"
    theirs_out = OUT / "screen_cli_geopandas.csv"
    within = f"{args.within:g}"
    print(f"{args.hazards:,} SYNTHETIC hazards, {args.points:,} points, within {within} m")
    print(f"cores: {os.cpu_count()}")

    gp_s, gp = run(
        "geopandas script (read, project, join, write)",
        [PYTHON, "-c", GEOPANDAS_SCRIPT, str(gpkg), str(csv), str(theirs_out), within],
    )
    print(f"  {gp.stderr.strip()}")
    screen = [PYTHON, "-m", "clearland.cli.main", "--db", str(db), "screen", str(csv)]
    screen += ["--out", str(ours_out), "--within", within, "--json"]
    shutil.rmtree(cache, ignore_errors=True)
    cold_s, cold = run("clearland screen, cold (builds + caches index)", screen)
    summary = json.loads(cold.stdout)
    print(
        f"  index build {summary['index_build_seconds']:.2f} s, screen {summary['seconds']:.2f} s in-process"
    )
    warm_s, warm = run("clearland screen, warm (cached index)", screen)
    summary = json.loads(warm.stdout)
    print(
        f"  index load {summary['index_load_seconds']:.2f} s, screen {summary['seconds']:.2f} s in-process, "
        f"{summary['points_per_second']:,} points/s"
    )
    cache_mb = sum(f.stat().st_size for f in cache.rglob("*") if f.is_file()) / 1e6
    print(f"  index cache on disk: {cache_mb:,.0f} MB in {cache}")
    print(
        f"ratios: geopandas/clearland warm {gp_s / warm_s:.1f}x, cold {gp_s / cold_s:.1f}x "
        f"(target: warm ≥ 5x)"
    )
    compare(db, ours_out, theirs_out, args.within)


def compare(db: Path, ours_out: Path, theirs_out: Path, within: float) -> None:
    import pyarrow.csv as pacsv
    import shapely

    from clearland.services.registry import open_registry
    from clearland.services.safety import hazard_index
    from clearland.settings import Settings

    ours = pacsv.read_csv(ours_out).to_pandas()
    theirs = pacsv.read_csv(theirs_out).to_pandas()
    ours = ours.set_index(ours["id"].astype(np.int64)).sort_index()
    theirs = theirs.set_index(theirs["id"].astype(np.int64)).sort_index()
    assert len(ours) == len(theirs), (len(ours), len(theirs))
    flagged = ours["status"].isin(["inside", "near"]).to_numpy()
    other = theirs["flagged"].to_numpy(bool)
    print(
        f"flagged: clearland {flagged.sum():,} (inside {(ours['status'] == 'inside').sum():,}, "
        f"near {(ours['status'] == 'near').sum():,}), geopandas {other.sum():,}"
    )
    only_ours = np.flatnonzero(flagged & ~other)
    only_theirs = np.flatnonzero(other & ~flagged)
    if len(only_ours):
        d = ours["distance_m"].to_numpy()[only_ours]
        print(
            f"flagged by clearland only: {len(only_ours):,}, "
            f"geodesic distance {d.min():.3f}–{d.max():.3f} m; "
            f"within {within:g} m geodesically: {(d <= within).sum():,} (geopandas misses them)"
        )
    else:
        print("flagged by clearland only: none")
    if len(only_theirs):
        registry = open_registry(Settings(), db=str(db))
        index, _ = hazard_index(registry)
        lon, lat = theirs["lon"].to_numpy(), theirs["lat"].to_numpy()
        exact = np.array(
            [
                min((h.distance_m for h in index.check(shapely.Point(lon[i], lat[i]), 1e4)), default=np.inf)
                for i in only_theirs
            ]
        )
        registry.close()
        print(
            f"flagged by geopandas only: {len(only_theirs):,}, geodesic distance {exact.min():.3f}–"
            f"{exact.max():.3f} m; within {within:g} m geodesically (missed by clearland, a bug): "
            f"{(exact <= within).sum():,}"
        )
    else:
        print("flagged by geopandas only: none (nothing geodesically within the threshold is missed)")


if __name__ == "__main__":
    main()
