"""Benchmark: bulk safety screening of GPS points against hazard polygons, within 50 m.

Synthetic data (written to bench/out/ and reused): hazard polygons of 5–200 vertices and 40–550 m
across, clustered along 40 lines over eastern Ukraine (46.5–51°N, 29.5–39.5°E), about 10 % placed
over an earlier one; GPS points, half anywhere over the area, half within a few hundred metres of
a hazard.

In one run it times the index build (and its save and load, as the CLI's cache does),
``HazardIndex.screen`` (one core; cold = first call at this threshold, which also makes the
threshold's plan) and ``screen_parallel`` (threads and fork) on all the points, against
``geopandas.sjoin(predicate="dwithin", distance=50)`` and ``STRtree.query(predicate="dwithin")``
in UTM zone 36N (EPSG:32636; projecting both layers is part of their time). Then it compares the
sets of flagged points: where they differ, it prints how far each point is from 50 m by geodesic
distance. UTM's scale error (up to 0.25 % over this area) and our tolerance band (we also flag up
to 50.5 m) explain every difference; a point geodesically within 50 m that we do not flag would
be a bug.

    .venv/bin/python bench/screening.py [--hazards 100000] [--points 1000000] [--within 50]
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

import numpy as np
import shapely

from clearland.spatial import HazardIndex, IndexedHazard, screen_parallel

OUT = Path(__file__).parent / "out"
UTM = 32636


def make_hazards(count: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    lines = 40
    start = np.column_stack([rng.uniform(30, 38, lines), rng.uniform(47, 50, lines)])
    heading = rng.uniform(0, 2 * np.pi, lines)
    line = rng.integers(0, lines, count)
    along = rng.uniform(0, 1.5, count)
    cx = start[line, 0] + along * np.cos(heading[line]) + rng.normal(0, 0.03, count)
    cy = start[line, 1] + along * np.sin(heading[line]) * 0.6 + rng.normal(0, 0.02, count)
    radius = rng.uniform(0.0005, 0.005, count)  # degrees of latitude: 55–550 m
    over = np.flatnonzero(rng.random(count) < 0.1)
    over = over[over > 0]
    base = rng.integers(0, over)  # an earlier hazard, overlapped
    cx[over] = cx[base] + radius[base] * rng.uniform(-1, 1, len(over)) / np.cos(np.radians(cy[base]))
    cy[over] = cy[base] + radius[base] * rng.uniform(-1, 1, len(over))
    vertices = rng.integers(5, 201, count)
    owner = np.repeat(np.arange(count), vertices)
    angle = rng.uniform(0, 2 * np.pi, len(owner))
    order = np.lexsort((angle, owner))
    angle = angle[order]
    r = radius[owner] * rng.uniform(0.6, 1.0, len(owner))
    x = cx[owner] + r * np.cos(angle) / np.cos(np.radians(cy[owner]))
    y = cy[owner] + r * np.sin(angle)
    # close each ring: repeat its first vertex at its end
    first = np.cumsum(vertices) - vertices
    pos = np.arange(len(owner)) + owner
    ring_x = np.empty(len(owner) + count)
    ring_y = np.empty(len(owner) + count)
    ring_x[pos], ring_y[pos] = x, y
    ring_x[first + np.arange(count) + vertices], ring_y[first + np.arange(count) + vertices] = (
        x[first],
        y[first],
    )
    ring_owner = np.repeat(np.arange(count), vertices + 1)
    rings = shapely.linearrings(np.column_stack([ring_x, ring_y]), indices=ring_owner)
    polygons = shapely.polygons(rings)
    bad = ~shapely.is_valid(polygons)
    polygons[bad] = shapely.convex_hull(polygons[bad])
    return polygons


def make_points(count: int, hazards: np.ndarray, seed: int = 2) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = shapely.total_bounds(hazards)
    half = count // 2
    lon = np.empty(count)
    lat = np.empty(count)
    lon[:half] = rng.uniform(x0 - 0.2, x1 + 0.2, half)
    lat[:half] = rng.uniform(y0 - 0.2, y1 + 0.2, half)
    pick = rng.integers(0, len(hazards), count - half)
    bounds = shapely.bounds(hazards[pick])
    cx, cy = (bounds[:, 0] + bounds[:, 2]) / 2, (bounds[:, 1] + bounds[:, 3]) / 2
    size = (bounds[:, 3] - bounds[:, 1]) / 2
    angle = rng.uniform(0, 2 * np.pi, count - half)
    dist = rng.uniform(0, 1, count - half) * (size + 0.002)
    lon[half:] = cx + dist * np.cos(angle) / np.cos(np.radians(cy))
    lat[half:] = cy + dist * np.sin(angle)
    return lon, lat


def load(hazard_count: int, point_count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    OUT.mkdir(exist_ok=True)
    path = OUT / f"screening_{hazard_count}_{point_count}.npz"
    if path.exists():
        data = np.load(path)
        offsets = (data["ring_offsets"], data["polygon_offsets"])
        hazards = shapely.from_ragged_array(shapely.GeometryType.POLYGON, data["coords"], offsets)
        return hazards, data["lon"], data["lat"]
    hazards = make_hazards(hazard_count)
    lon, lat = make_points(point_count, hazards)
    _, coords, (ring_offsets, polygon_offsets) = shapely.to_ragged_array(hazards)
    np.savez(
        path, coords=coords, ring_offsets=ring_offsets, polygon_offsets=polygon_offsets, lon=lon, lat=lat
    )
    return hazards, lon, lat


def timed(label: str, func, *args, **kwargs):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    value = func(*args, **kwargs)
    seconds = time.perf_counter() - start
    print(f"{label:<52} {seconds:8.2f} s")
    return value, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hazards", type=int, default=100_000)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--within", type=float, default=50.0)
    args = parser.parse_args()
    import geopandas as gpd

    geoms, lon, lat = load(args.hazards, args.points)
    vertices = int(shapely.get_num_coordinates(geoms).sum())
    print(f"{len(geoms):,} hazards ({vertices:,} vertices), {len(lon):,} points, within {args.within:g} m")
    print(f"cores: {os.cpu_count()}")
    hazards = [IndexedHazard(f"H{i}", "SHA", "open", None, g) for i, g in enumerate(geoms)]
    index = HazardIndex(hazards)
    print(f"{'index build':<52} {index.build_seconds:8.2f} s")
    saved = OUT / "screening_index"
    shutil.rmtree(saved, ignore_errors=True)
    timed("index save (arrays + manifest)", index.save, saved)
    size_mb = sum(f.stat().st_size for f in saved.iterdir()) / 1e6
    loaded = HazardIndex.load(saved)
    label = "index load (mapped back, every array CRC-checked)"
    print(f"{label:<52} {loaded.load_seconds:8.2f} s ({size_mb:,.0f} MB)")
    assert np.array_equal(loaded.screen(lon[:100_000], lat[:100_000], args.within).status,
                          index.screen(lon[:100_000], lat[:100_000], args.within).status)  # fmt: skip
    del loaded
    shutil.rmtree(saved)
    ours, cold = timed("screen, one core, cold (makes the 50 m plan)", index.screen, lon, lat, args.within)
    _, warm = timed("screen, one core, warm", index.screen, lon, lat, args.within)
    par, threads = timed("screen_parallel threads", screen_parallel, index, lon, lat, args.within)
    _, fork = timed("screen_parallel fork", screen_parallel, index, lon, lat, args.within, method="fork")
    assert np.array_equal(par.status, ours.status) and np.array_equal(par.nearest, ours.nearest)

    start = time.perf_counter()
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs=4326).to_crs(UTM)
    areas = gpd.GeoDataFrame(geometry=geoms, crs=4326).to_crs(UTM)
    projected = time.perf_counter() - start
    joined, sjoin = timed(
        "geopandas sjoin dwithin (after projecting)",
        gpd.sjoin,
        points,
        areas,
        predicate="dwithin",
        distance=args.within,
    )
    start = time.perf_counter()
    tree = shapely.STRtree(areas.geometry.values)
    pairs = tree.query(points.geometry.values, predicate="dwithin", distance=args.within)
    strtree = time.perf_counter() - start
    print(f"{'  projection of both layers to EPSG:32636':<52} {projected:8.2f} s")
    print(f"{'geopandas total (projection + sjoin)':<52} {projected + sjoin:8.2f} s")
    print(
        f"{'shapely STRtree build + query dwithin (+ projection)':<52} {strtree:8.2f} s "
        f"({projected + strtree:.2f} s)"
    )
    best = min(warm, threads, fork)
    geopandas_total = projected + sjoin
    print(
        f"ratios: geopandas/ours {geopandas_total / cold:.1f}x one core cold, "
        f"{geopandas_total / best:.1f}x best "
        f"warm; geopandas/(build + cold screen) {geopandas_total / (index.build_seconds + cold):.1f}x; "
        f"STRtree/ours {(projected + strtree) / best:.1f}x; threads vs fork {fork / threads:.2f}"
    )

    flagged = ours.status > 0
    theirs = np.zeros(len(lon), bool)
    theirs[np.unique(joined.index.to_numpy())] = True
    assert np.array_equal(np.unique(pairs[0]), np.flatnonzero(theirs))
    print(
        f"flagged: ours {flagged.sum():,} (inside {(ours.status == 2).sum():,}, "
        f"near {(ours.status == 1).sum():,}), "
        f"geopandas {theirs.sum():,}"
    )
    only_ours = np.flatnonzero(flagged & ~theirs)
    only_theirs = np.flatnonzero(theirs & ~flagged)
    if len(only_ours):
        d = ours.distance_m[only_ours]
        over = (d - args.within) / args.within * 100
        print(
            f"flagged by us only: {len(only_ours):,}, geodesic distance {d.min():.3f}–{d.max():.3f} m "
            f"({over.min():+.3f} % to {over.max():+.3f} % of {args.within:g} m); "
            f"within {args.within:g} m geodesically: {(d <= args.within).sum():,} (geopandas misses them)"
        )
    else:
        print("flagged by us only: none")
    if len(only_theirs):
        exact = np.array(
            [
                min((h.distance_m for h in index.check(shapely.Point(lon[i], lat[i]), 1e4)), default=np.inf)
                for i in only_theirs
            ]
        )
        print(
            f"flagged by geopandas only: {len(only_theirs):,}, "
            f"geodesic distance {exact.min():.3f}–{exact.max():.3f} m; "
            f"within {args.within:g} m geodesically (missed by us, a bug): {(exact <= args.within).sum():,}"
        )
    else:
        print("flagged by geopandas only: none (nothing geodesically within the threshold is missed)")


if __name__ == "__main__":
    main()
