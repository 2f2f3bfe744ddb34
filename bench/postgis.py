"""Benchmark: the same registry on SQLite and on PostgreSQL + PostGIS, measured in one run.

1. Import of 100k synthetic polygons (the demo registry's generator: 5–40 vertices, 0.5–20 ha,
   along three invented lines at sea, mostly apart as real hazard areas are) from a GeoPackage
   into an empty registry on each database: wall time and the ratio PostGIS / SQLite.
2. ``clearland stats`` on each (``services.statistics.statistics``: counts, sum and net areas).
3. The densest zoom-9 tile of hazard areas: drawn by PostGIS (``ST_AsMVT``, the dialect's
   ``mvt_tile``) against the Python tile path (``services.tiles``: the collection read once per
   revision, then each tile drawn from memory), with the features and bytes of each.

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
    from clearland.services.tiles import MAP_FIELDS, Tiles, lonlat_to_tile
    from clearland.settings import Settings

    registry = open_registry(Settings(), db=db)
    init_registry(registry)
    result, import_s = _timed(lambda: import_file(registry, source, ImportOptions()))
    registry.close()
    registry = open_registry(Settings(), db=db)
    totals, stats_s = _timed(lambda: statistics(registry))
    with registry.store.read() as tx:
        bounds = np.array([h["geometry"].bounds for h in tx.current(RecordKind.HAZARD_AREA)])
    centres = np.column_stack(((bounds[:, 0] + bounds[:, 2]) / 2, (bounds[:, 1] + bounds[:, 3]) / 2))
    keys, counts = np.unique(
        np.array([lonlat_to_tile(lo, la, 9) for lo, la in centres]), axis=0, return_counts=True
    )
    x, y = (int(v) for v in keys[int(np.argmax(counts))])
    tiles = Tiles(registry)
    _, read_s = _timed(lambda: tiles.bounds("hazard-areas"))
    python_tile, draw_s = _timed(lambda: tiles.tile("hazard-areas", 9, x, y))
    out: dict[str, Any] = {
        "database": registry.store.dialect.name,
        "imported": result["summary"]["created"] if "summary" in result else result.get("created"),
        "import_s": round(import_s, 2),
        "stats_s": round(stats_s, 2),
        "area_m2_sum": totals["area_m2_sum"],
        "area_m2_net": totals["area_m2_net"],
        "tile": f"9/{x}/{y}",
        "python_tile": {
            "collection_read_s": round(read_s, 3),
            "draw_s": round(draw_s, 4),
            "first_tile_s": round(read_s + draw_s, 3),
            "features": python_tile.features,
            "bytes": len(python_tile.data),
        },
    }
    if registry.store.dialect.name == "postgresql":
        columns = sorted(MAP_FIELDS["hazard-areas"])
        runs = []
        for _ in range(3):
            with registry.store.read() as tx:
                data, seconds = _timed(
                    lambda tx=tx: tx.mvt_tile(RecordKind.HAZARD_AREA, "hazard-areas", columns, 9, x, y)
                )
            runs.append(seconds)
        import mapbox_vector_tile

        decoded = mapbox_vector_tile.decode(data)
        out["st_asmvt_tile"] = {
            "draw_s_runs": [round(s, 3) for s in runs],
            "draw_s_median": round(sorted(runs)[1], 3),
            "features": len(decoded.get("hazard-areas", {}).get("features", [])),
            "bytes": len(data),
        }
    registry.close()
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
    summary = {
        "count": args.count,
        "sqlite": sqlite,
        "postgis": postgis,
        "import_ratio_postgis_to_sqlite": round(postgis["import_s"] / sqlite["import_s"], 2),
        "stats_ratio_postgis_to_sqlite": round(postgis["stats_s"] / sqlite["stats_s"], 2),
        "tile_st_asmvt_vs_python_first_tile": round(
            postgis["st_asmvt_tile"]["draw_s_median"] / postgis["python_tile"]["first_tile_s"], 4
        ),
        "tile_st_asmvt_vs_python_draw_only": round(
            postgis["st_asmvt_tile"]["draw_s_median"] / max(postgis["python_tile"]["draw_s"], 1e-9), 2
        ),
    }
    (OUT / "postgis.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    print(json.dumps({k: v for k, v in summary.items() if k not in ("sqlite", "postgis")}, indent=2))


if __name__ == "__main__":
    main()
