"""Benchmark: the same registry on SQLite and on PostgreSQL + PostGIS, measured in one run.

1. Import of 100k synthetic polygons (the demo registry's generator: 5–40 vertices, 0.5–20 ha,
   along three invented lines at sea, mostly apart as real hazard areas are) from a GeoPackage
   into an empty registry on each database: wall time and the ratio PostGIS / SQLite.
2. ``clearland stats`` on each (``services.statistics.statistics``: counts, sum and net areas).
3. Vector tiles of hazard areas as the server draws them (``Tiles.tile``, its tile cache off so
   each one is drawn anew): on PostGIS one SQL query per tile (``storage.vector_tiles``), on
   SQLite the Python path (the collection read once per revision, then each tile drawn from
   memory). The densest tile of zooms 5, 7, 9 (9/257/254 for 100k areas), 11 and 13 and a
   neighbour of the z9 one; for each, the median of 3 draws on each path (the Python path
   also on the PostGIS registry), features and bytes, and the time of the Python path's
   collection read, which its first tile after every change of the registry waits for: the
   current rows read column by column (``Tx.current_columns``, ``python_collection_read_s``),
   and read as features through ``services.features`` as before (``python_features_read_s``,
   still the read of tiles as of a date).

PostgreSQL runs in a throwaway cluster (``tests/pgcluster.py``) with its default durability
settings (fsync on), on this machine, over TCP on 127.0.0.1.

    .venv/bin/python bench/postgis.py [--count 100000]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

OUT = HERE / "out"


def _timed(fn: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


def measure(db: str, source: Path) -> dict[str, Any]:
    from clearland.domain.vocab import RecordKind
    from clearland.services.imports import ImportOptions, import_file
    from clearland.services.registry import init_registry, open_registry
    from clearland.services.statistics import statistics
    from clearland.settings import Settings

    registry = open_registry(Settings(), db=db)
    init_registry(registry)
    result, import_s = _timed(lambda: import_file(registry, source, ImportOptions()))
    registry.close()
    registry = open_registry(Settings(), db=db)
    totals, stats_s = _timed(lambda: statistics(registry))
    with registry.store.read() as tx:
        bounds = np.array([h["geometry"].bounds for h in tx.current(RecordKind.HAZARD_AREA)])
    out: dict[str, Any] = {
        "database": registry.store.dialect.name,
        "imported": result["summary"]["created"] if "summary" in result else result.get("created"),
        "import_s": round(import_s, 2),
        "stats_s": round(stats_s, 2),
        "area_m2_sum": totals["area_m2_sum"],
        "area_m2_net": totals["area_m2_net"],
        **tile_timings(registry, densest_tiles(bounds)),
    }
    registry.close()
    return out


def densest_tiles(bounds: np.ndarray) -> list[tuple[int, int, int]]:
    """The tile holding the most hazard centres at zooms 5, 7, 9, 11 and 13, and the z9 one's
    eastern neighbour."""
    from clearland.services.tiles import lonlat_to_tile

    centres = np.column_stack(((bounds[:, 0] + bounds[:, 2]) / 2, (bounds[:, 1] + bounds[:, 3]) / 2))
    chosen = []
    for z in (5, 7, 9, 11, 13):
        keys, counts = np.unique(
            np.array([lonlat_to_tile(lo, la, z) for lo, la in centres]), axis=0, return_counts=True
        )
        x, y = (int(v) for v in keys[int(np.argmax(counts))])
        chosen.append((z, x, y))
        if z == 9:
            chosen.append((z, x + 1, y))
    return chosen


def tile_timings(registry: Any, chosen: list[tuple[int, int, int]]) -> dict[str, Any]:
    """Each tile drawn as the server draws it, and by the Python path (the reference)."""
    from clearland.services.features import COLLECTIONS
    from clearland.services.tiles import DETAIL_ZOOM, MAP_FIELDS, Tiles, _Layer, render

    server = Tiles(registry, cache_bytes=0)  # no tile cache: every call draws the tile
    _, features_read_s = _timed(
        lambda: _Layer.of(COLLECTIONS["hazard-areas"].read(registry, None), 0, with_id=False)
    )
    layer, read_s = _timed(lambda: Tiles(registry)._layer("hazard-areas", server.revision()))
    out: dict[str, Any] = {
        "python_collection_read_s": round(read_s, 3),
        "python_features_read_s": round(features_read_s, 3),
        "tiles": {},
    }
    for z, x, y in chosen:
        fields = None if z >= DETAIL_ZOOM else MAP_FIELDS["hazard-areas"]
        python_runs = [
            _timed(partial(render, layer, "hazard-areas", z, x, y, keep_small=True, fields=fields))[1]
            for _ in range(3)
        ]
        server_runs = [_timed(partial(server.tile, "hazard-areas", z, x, y))[1] for _ in range(3)]
        tile = server.tile("hazard-areas", z, x, y)
        out["tiles"][f"{z}/{x}/{y}"] = {
            "features": tile.features,
            "bytes": len(tile.data),
            "server_s_median": round(sorted(server_runs)[1], 4),
            "python_draw_s_median": round(sorted(python_runs)[1], 4),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    args = parser.parse_args()
    from clearland.io import write_layer
    from clearland.services.demo import synthetic_hazards
    from pgcluster import temporary_cluster

    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="clearland-bench-pg-") as tmp:
        source = Path(tmp) / f"hazards_{args.count}.gpkg"
        print(f"writing {args.count} synthetic polygons to {source.name} ...", flush=True)
        write_layer(source, synthetic_hazards(args.count), format="gpkg", layer="hazard_areas")
        print("SQLite ...", flush=True)
        sqlite = measure(str(Path(tmp) / "registry.db"), source)
        print(json.dumps(sqlite, indent=2), flush=True)
        with temporary_cluster(durable=True, settings=("shared_buffers=1GB", "max_wal_size=4GB")) as cluster:
            print("PostGIS ...", flush=True)
            postgis = measure(cluster.create_database("bench"), source)
            print(json.dumps(postgis, indent=2), flush=True)
    z9 = next(key for key in postgis["tiles"] if key.startswith("9/"))
    sql_s = postgis["tiles"][z9]["server_s_median"]
    summary = {
        "count": args.count,
        "sqlite": sqlite,
        "postgis": postgis,
        "import_ratio_postgis_to_sqlite": round(postgis["import_s"] / sqlite["import_s"], 2),
        "stats_ratio_postgis_to_sqlite": round(postgis["stats_s"] / sqlite["stats_s"], 2),
        "densest_z9_tile": z9,
        # the server on PostGIS (SQL) against the server on SQLite (Python), one tile after a
        # change of the registry: the Python path first reads the collection
        "tile_server_postgis_vs_sqlite_first_tile": round(
            sql_s / (sqlite["python_collection_read_s"] + sqlite["tiles"][z9]["server_s_median"]), 4
        ),
        # and once the collection is in memory
        "tile_server_postgis_vs_sqlite_draw_only": round(sql_s / sqlite["tiles"][z9]["server_s_median"], 2),
        # on the same PostGIS registry: SQL against what the server did before (Python path)
        "tile_sql_vs_python_on_postgis_first_tile": round(
            sql_s / (postgis["python_collection_read_s"] + postgis["tiles"][z9]["python_draw_s_median"]), 4
        ),
        "tile_sql_vs_python_on_postgis_draw_only": round(
            sql_s / postgis["tiles"][z9]["python_draw_s_median"], 2
        ),
    }
    (OUT / "postgis.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    print(json.dumps({k: v for k, v in summary.items() if k not in ("sqlite", "postgis")}, indent=2))


if __name__ == "__main__":
    main()
