"""Benchmark: the web UI's map over 100k hazard areas — time to first render, and tile sizes.

SYNTHETIC data: the 100k-area registry bench/screen_cli.py and bench/api.py share (the hazard
polygons of bench/screening.py, 5–200 vertices, clustered along lines over eastern Ukraine, named
"SYNTHETIC bench …"), made once in bench/out/; ``--db`` uses another registry instead.

The server is ``clearland serve`` on a free loopback port, as a subprocess, serving the built UI
(``make web`` first). Debian's Chromium (``/usr/bin/chromium``, headless, as the browser tests
drive it) opens the map with Playwright, and the time to first render is measured in the page:
from the start of the navigation (``performance.timeOrigin``) to the first animation frame at
which the map reports hazard areas drawn from its vector tiles
(``window.clearlandMap.renderedFeatureCount() > 0``), and to the map's ``rendercomplete`` (every
tile in view loaded and drawn). Two views:

- ``overview``: ``/#/map`` as a visitor opens it, fitted to the registry's bounds (TileJSON);
- ``densest``: ``/#/map?bbox=…`` of the zoom-10 tile holding the most hazard areas.

Each is measured **cold** (the server just started: its tile cache empty; a new browser context:
no HTTP cache), **warm server** (a new browser context again, the server's tile cache filled by
the cold run) and **warm browser** (the same address again in a new tab of one browser context:
tiles from the browser's HTTP cache, which the tiles' ``Cache-Control: max-age`` allows). Warm
runs are repeated ``--runs`` times; the median is reported.

Tile sizes: around the centre of the densest zoom-12 tile, the ``hazard-areas`` tile holding it at
each zoom 6–12, fetched over HTTP from a freshly started server (bytes of the MVT, features in it
decoded with mapbox-vector-tile, time cold and from the server's tile cache).

    .venv/bin/python bench/web.py [--db registry.db] [--runs 3] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from screen_cli import setup
from screening import OUT

from api import free_port, get, start_server, wait_until_ready

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 860}
ZOOMS = range(6, 13)
#: recorded in the page: the first frame at which the map reports hazard areas drawn
FIRST_FEATURES = """() => {
    const m = window.clearlandMap;
    if (m && m.renderedFeatureCount() > 0) {
        window.__firstFeatures = window.__firstFeatures ?? performance.now();
        return true;
    }
    return false;
}"""


def registry(db: Path | None, hazard_count: int) -> Path:
    if db is not None:
        return db
    _gpkg, made, _csv = setup(hazard_count, 100_000)  # the registry bench/api.py uses too
    from clearland.services.registry import init_registry, open_registry
    from clearland.settings import Settings

    opened = open_registry(Settings(), db=str(made))
    init_registry(opened)  # brought up to this version's schema
    opened.close()
    return made


def hazard_centres(db: Path) -> np.ndarray:
    from clearland.services.registry import open_registry
    from clearland.services.safety import hazard_index
    from clearland.settings import Settings

    opened = open_registry(Settings(), db=str(db))
    index, _ = hazard_index(opened)
    bounds = np.array([h.geometry.bounds for h in index.hazards])
    opened.close()
    return np.column_stack(((bounds[:, 0] + bounds[:, 2]) / 2, (bounds[:, 1] + bounds[:, 3]) / 2))


def densest(centres: np.ndarray, z: int) -> tuple[int, int, int]:
    """The tile at zoom ``z`` holding the most hazard centres: (x, y, how many)."""
    from clearland.services.tiles import lonlat_to_tile

    keys, counts = np.unique(
        np.array([lonlat_to_tile(lon, lat, z) for lon, lat in centres]), axis=0, return_counts=True
    )
    best = int(np.argmax(counts))
    return int(keys[best][0]), int(keys[best][1]), int(counts[best])


def tile_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """West, south, east, north of an XYZ tile, degrees."""
    n = 2**z

    def lat(row: int) -> float:
        return float(np.degrees(np.arctan(np.sinh(np.pi * (1 - 2 * row / n)))))

    return (x / n * 360 - 180, lat(y + 1), (x + 1) / n * 360 - 180, lat(y))


def tile_sizes(base: str, centre: tuple[float, float]) -> list[dict[str, Any]]:
    import mapbox_vector_tile

    from clearland.services.tiles import lonlat_to_tile

    rows = []
    for z in ZOOMS:
        x, y = lonlat_to_tile(centre[0], centre[1], z)
        url = f"{base}/tiles/hazard-areas/{z}/{x}/{y}.mvt"
        started = time.perf_counter()
        status, body = get(url)
        cold_s = time.perf_counter() - started
        if status != 200:
            raise SystemExit(f"{url}: {status} {body[:200]!r}")
        started = time.perf_counter()
        get(url)
        cached_s = time.perf_counter() - started
        layer = mapbox_vector_tile.decode(body).get("hazard-areas", {"features": []})
        features = layer["features"]
        clusters = [f for f in features if int(f["properties"].get("count", 1) or 1) > 1]
        rows.append(
            {
                "z": z,
                "tile": f"{z}/{x}/{y}",
                "bytes": len(body),
                "features": len(features),
                "gathered_points": len(clusters),
                "areas_in_gathered": sum(int(f["properties"]["count"]) for f in clusters),
                "cold_ms": cold_s * 1000,
                "cached_ms": cached_s * 1000,
            }
        )
    return rows


def open_map(context: Any, url: str) -> dict[str, float]:
    """Open ``url`` in a new tab of ``context`` (sharing its HTTP cache) and time the first
    frame with hazard areas, and rendercomplete."""
    for old in context.pages:
        old.close()
    page = context.new_page()
    page.set_default_timeout(300_000)
    page.goto(url, wait_until="commit")
    page.wait_for_function(FIRST_FEATURES, polling="raf")
    complete_ms = page.evaluate("() => window.clearlandMap.whenRendered().then(() => performance.now())")
    return {
        "first_features_ms": float(page.evaluate("() => window.__firstFeatures")),
        "rendercomplete_ms": float(complete_ms),
        "features": int(page.evaluate("() => window.clearlandMap.renderedFeatureCount()")),
        "tiles": int(
            page.evaluate(
                "() => performance.getEntriesByType('resource').filter(e => e.name.includes('.mvt')).length"
            )
        ),
    }


def measure(base: str, views: dict[str, str], runs: int) -> dict[str, dict[str, Any]]:
    from playwright.sync_api import sync_playwright

    out: dict[str, dict[str, Any]] = {name: {} for name in views}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:

            def fresh(url: str) -> dict[str, float]:
                context = browser.new_context(viewport=VIEWPORT, locale="en-GB")
                try:
                    return open_map(context, url)
                finally:
                    context.close()

            for name, url in views.items():  # the server's tile cache is empty for these tiles
                out[name]["cold"] = fresh(url)
            for name, url in views.items():
                out[name]["warm_server"] = [fresh(url) for _ in range(runs)]
                context = browser.new_context(viewport=VIEWPORT, locale="en-GB")
                try:
                    open_map(context, url)
                    out[name]["warm_browser"] = [open_map(context, url) for _ in range(runs)]
                finally:
                    context.close()
        finally:
            browser.close()
    for timings in out.values():
        for key in ("warm_server", "warm_browser"):
            runs_of = timings[key]
            timings[key] = {
                "first_features_ms": statistics.median(r["first_features_ms"] for r in runs_of),
                "rendercomplete_ms": statistics.median(r["rendercomplete_ms"] for r in runs_of),
                "features": runs_of[-1]["features"],
                "tiles": runs_of[-1]["tiles"],
                "runs": len(runs_of),
            }
    return out


def report(result: dict[str, Any]) -> str:
    lon, lat = result["densest"]["centre"]
    lines = [
        f"registry: {result['hazards']}",
        f"server: clearland serve, 1 worker, loopback; browser: Chromium headless {VIEWPORT['width']}×"
        f"{VIEWPORT['height']}; {result['cores']} cores, load average {result['load_average']}",
        "",
        "time to first render of the map (ms from navigation; median of warm runs)",
        f"{'view':<10} {'cache':<13} {'first areas':>12} {'all drawn':>10} {'features':>9} {'tiles':>6}",
    ]
    for view, timings in result["render"].items():
        for cache in ("cold", "warm_server", "warm_browser"):
            t = timings[cache]
            lines.append(
                f"{view:<10} {cache:<13} {t['first_features_ms']:>12,.0f} {t['rendercomplete_ms']:>10,.0f} "
                f"{t['features']:>9,} {t['tiles']:>6}"
            )
    for view, url in result["views"].items():
        lines.append(f"  {view}: {url}")
    lines += [
        "",
        f"hazard-areas tiles over the densest area (centre {lon:.4f}, {lat:.4f}: "
        f"{result['densest']['z12_count']:,} areas centred in its z12 tile)",
        f"{'z':>2} {'tile':<16} {'bytes':>10} {'features':>9} {'gathered':>9} "
        f"{'cold ms':>8} {'cached ms':>10}",
    ]
    for row in result["tiles"]:
        gathered = (
            f"{row['gathered_points']} ({row['areas_in_gathered']:,})" if row["gathered_points"] else "0"
        )
        lines.append(
            f"{row['z']:>2} {row['tile']:<16} {row['bytes']:>10,} {row['features']:>9,} {gathered:>9} "
            f"{row['cold_ms']:>8,.0f} {row['cached_ms']:>10,.1f}"
        )
    lines.append("(gathered: points standing for several small areas (count), and how many areas they hold)")
    return "\n".join(lines)


def stop(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:  # a server that will not stop is killed
        server.kill()
        server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, help="use this registry (default: 100k SYNTHETIC hazards)")
    parser.add_argument("--hazards", type=int, default=100_000, help="hazards of the synthetic registry")
    parser.add_argument("--runs", type=int, default=3, help="warm runs per view (median reported)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    if not (ROOT / "src" / "clearland" / "web" / "static" / "index.html").is_file():
        raise SystemExit("the web UI is not built: run `make web` first")
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} is missing: `make browser` installs it")

    with contextlib.redirect_stdout(sys.stderr if args.json else sys.stdout):  # stdout: the JSON alone
        db = registry(args.db, args.hazards)
        centres = hazard_centres(db)
    load_average = " ".join(f"{v:.2f}" for v in os.getloadavg())
    x10, y10, count10 = densest(centres, 10)
    x12, y12, count12 = densest(centres, 12)
    w, s, e, n = tile_bounds(12, x12, y12)
    centre = ((w + e) / 2, (s + n) / 2)
    views = {
        "overview": "/#/map",
        "densest": "/#/map?bbox=" + ",".join(f"{v:.5f}" for v in tile_bounds(10, x10, y10)),
    }

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    OUT.mkdir(exist_ok=True)
    log = OUT / "web_server.log"
    server = start_server(db, port, 1, "clearland", log)
    try:
        ready_s = wait_until_ready(server, base, log)
        if not args.json:
            print(f"server ready in {ready_s:.1f} s on {base} (log: {log})", flush=True)
        render = measure(base, {k: base + v for k, v in views.items()}, args.runs)
    finally:
        stop(server)
    # the tiles on a server of their own, so "cold" is a tile no map view has drawn yet
    server = start_server(db, port, 1, "clearland", log)
    try:
        wait_until_ready(server, base, log)
        tiles = tile_sizes(base, centre)
    finally:
        stop(server)
    result = {
        "hazards": f"{args.db}" if args.db else f"{args.hazards:,} SYNTHETIC hazard areas ({db.name})",
        "views": views,
        "render": render,
        "densest": {
            "centre": centre,
            "z12_tile": f"12/{x12}/{y12}",
            "z12_count": count12,
            "z10_count": count10,
        },
        "tiles": tiles,
        "cores": os.cpu_count(),
        "load_average": load_average,
    }
    print(json.dumps(result, indent=2) if args.json else report(result))


if __name__ == "__main__":
    main()
