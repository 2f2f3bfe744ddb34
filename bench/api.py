"""Benchmark: the HTTP safety check ``GET /check/point`` under load, against 100k hazard areas.

SYNTHETIC data, made once in bench/out/ and shared with bench/screen_cli.py: the hazard polygons
of bench/screening.py (5–200 vertices, clustered along lines over eastern Ukraine), named
"SYNTHETIC bench …", imported into a registry; the query points are that bench's points, half
anywhere over the area, half within a few hundred metres of a hazard. ``--db`` reuses another
registry instead (the points are then drawn around its hazards).

The server is ``clearland serve`` (uvicorn; ``--server uvicorn`` runs uvicorn on the same app
factory without an access log) on a free loopback port, as a subprocess. The anonymous rate
limit on ``/check/…`` is switched off for it (``CLEARLAND_API_CHECK_RATE_PER_MINUTE=0``): one
client address asks for thousands a second here. Once the landing page answers, every worker's
hazard index is warmed (checks until they answer fast) and the load runs ``--warmup`` seconds
unmeasured, then ``--duration`` seconds measured.

The load comes from a separate process: asyncio with ``--connections`` raw keep-alive HTTP/1.1
connections, each sending its next request as soon as the answer to the last one is in (a closed
loop). Latency is from sending a request to having read its whole answer. Reported: requests a
second, p50/p90/p99/max latency, errors (anything but a 200 with an answer), the answers given,
and the CPU the load generator itself used (it shares the machine's cores with the server).

It also times the densest zoom-9 tile of ``hazard-areas`` drawn by the Python tile path
(``services.tiles``, the SQLite registry's path; PostGIS, which would draw tiles in the
database, is not part of this run): reading the collection once per revision, drawing the tile
cold, and answering it again from the tile cache.

Targets (issue 5): at least 1,000 requests a second and p99 at most 50 ms on a 2-core machine.

    .venv/bin/python bench/api.py [--duration 10] [--connections 16] [--workers 2] [--json]
                                  [--db registry.db] [--within 100] [--server clearland|uvicorn]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import resource
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from screen_cli import setup
from screening import OUT, make_points

TARGET_RPS = 1000.0
TARGET_P99_MS = 50.0
ANSWERS = (b'"answer":"inside"', b'"answer":"near"', b'"answer":"no_record"')


# -- the load generator (its own process) --------------------------------------------------------


class _Connection(asyncio.Protocol):
    """One keep-alive connection: sends a request, reads its whole answer, sends the next."""

    def __init__(self, load: _Load, first: int) -> None:
        self.load = load
        self.next = first
        self.buffer = bytearray()
        self.sent_at = 0.0
        self.transport: asyncio.Transport | None = None
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._send()

    def _send(self) -> None:
        if not self.load.running:
            assert self.transport is not None
            self.transport.close()
            return
        requests = self.load.requests
        request = requests[self.next % len(requests)]
        self.next += self.load.stride
        self.sent_at = time.perf_counter()
        assert self.transport is not None
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).lower()
            length = 0
            at = head.find(b"\r\ncontent-length:")
            if at >= 0:
                stop = head.find(b"\r\n", at + 2)
                length = int(head[at + 17 : stop if stop >= 0 else None])
            total = end + 4 + length
            if len(self.buffer) < total:
                return
            body = bytes(self.buffer[end + 4 : total])
            del self.buffer[:total]
            status = int(head[9:12])
            self.load.record(status, body, time.perf_counter() - self.sent_at)
            self._send()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.load.running:
            self.load.dropped += 1
        if not self.closed.done():
            self.closed.set_result(None)


class _Load:
    def __init__(self, requests: list[bytes], stride: int) -> None:
        self.requests = requests
        self.stride = stride
        self.running = True
        self.measuring = False
        self.latencies: list[float] = []
        self.statuses: dict[int, int] = {}
        self.answers = [0, 0, 0]
        self.errors = 0  # anything but a 200 that holds an answer
        self.dropped = 0

    def record(self, status: int, body: bytes, seconds: float) -> None:
        if not self.measuring:
            return
        self.latencies.append(seconds)
        self.statuses[status] = self.statuses.get(status, 0) + 1
        for k, answer in enumerate(ANSWERS):
            if answer in body:
                self.answers[k] += 1
                if status != 200:
                    self.errors += 1
                break
        else:
            self.errors += 1


async def _run_load(
    port: int, requests: list[bytes], connections: int, warmup_s: float, duration_s: float
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    load = _Load(requests, stride=connections)
    opened = []
    # one connection at a time, the open ones already busy: uvicorn's workers share one listening
    # socket and whichever is waiting accepts, so the busier worker takes fewer and the
    # connections spread over the workers (opened all at once, one worker may take them all)
    ramp_s = min(0.05, warmup_s / (2 * connections))
    started = time.perf_counter()
    for k in range(connections):
        _transport, protocol = await loop.create_connection(
            lambda k=k: _Connection(load, k), "127.0.0.1", port
        )
        opened.append(protocol)
        await asyncio.sleep(ramp_s)
    await asyncio.sleep(max(0.0, warmup_s - (time.perf_counter() - started)))
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    load.measuring = True
    started = time.perf_counter()
    await asyncio.sleep(duration_s)
    load.measuring = False
    elapsed = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    load.running = False
    await asyncio.wait_for(asyncio.gather(*(p.closed for p in opened)), timeout=30)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    latencies_ms = np.array(load.latencies) * 1000.0
    return {
        "requests": len(latencies_ms),
        "seconds": elapsed,
        "requests_per_s": len(latencies_ms) / elapsed,
        "p50_ms": float(np.percentile(latencies_ms, 50)) if len(latencies_ms) else None,
        "p90_ms": float(np.percentile(latencies_ms, 90)) if len(latencies_ms) else None,
        "p99_ms": float(np.percentile(latencies_ms, 99)) if len(latencies_ms) else None,
        "max_ms": float(latencies_ms.max()) if len(latencies_ms) else None,
        "errors": load.errors + load.dropped,
        "statuses": {str(k): v for k, v in sorted(load.statuses.items())},
        "connections_dropped": load.dropped,
        "answers": dict(zip(("inside", "near", "no_record"), load.answers, strict=True)),
        "generator_cpu_share": cpu / elapsed,
    }


def _generator(
    port: int, requests: list[bytes], connections: int, warmup_s: float, duration_s: float, queue: mp.Queue
) -> None:
    queue.put(asyncio.run(_run_load(port, requests, connections, warmup_s, duration_s)))


# -- the server ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(db: Path, port: int, workers: int, kind: str, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "CLEARLAND_DATABASE_URL": str(db),
        "CLEARLAND_API_CHECK_RATE_PER_MINUTE": "0",  # no limit: one address asks thousands a second
    }
    if kind == "clearland":
        argv = [str(Path(sys.executable).with_name("clearland")), "--db", str(db), "serve"]
        argv += ["--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    else:
        argv = [sys.executable, "-m", "uvicorn", "--factory", "clearland.api.app:app_from_environment"]
        argv += ["--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
        argv += ["--no-access-log", "--no-server-header", "--log-level", "warning"]
    with log.open("wb") as out:
        return subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)


def cpu_seconds(root: int) -> float:
    """CPU time (user + system) used so far by a process and its children (uvicorn's workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        pid, ppid = int(entry.name), int(fields[1])
        if root in (pid, ppid):
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def get(url: str, timeout: float = 60.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read()


def wait_until_ready(server: subprocess.Popen[bytes], base: str, log: Path, timeout_s: float = 300) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout_s:
        if server.poll() is not None:
            raise SystemExit(f"the server stopped (exit {server.returncode}):\n{log.read_text()[-3000:]}")
        try:
            status, _ = get(base + "/", timeout=5)
            if status == 200:
                return time.perf_counter() - started
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the server did not answer within {timeout_s:.0f} s")


def warm_index(base: str, lon: np.ndarray, lat: np.ndarray, within_m: float, workers: int) -> float:
    """Checks over several connections at once until a whole round answers fast: every worker
    has then mapped (or built) its hazard index."""
    from concurrent.futures import ThreadPoolExecutor

    started = time.perf_counter()

    def one(k: int) -> float:
        t = time.perf_counter()
        status, body = get(f"{base}/check/point?lon={lon[k]:.6f}&lat={lat[k]:.6f}&within_m={within_m:g}")
        if status != 200:
            raise SystemExit(f"warm-up check failed: {status} {body[:300]!r}")
        return time.perf_counter() - t

    fast_rounds = 0
    with ThreadPoolExecutor(4 * workers) as pool:
        while fast_rounds < 3:
            slowest = max(pool.map(one, range(8 * workers)))
            fast_rounds = fast_rounds + 1 if slowest < 0.1 else 0
            if time.perf_counter() - started > 600:
                raise SystemExit("the hazard index did not warm up within 10 minutes")
    return time.perf_counter() - started


# -- the densest zoom-9 tile ----------------------------------------------------------------------


def densest_tile(db: Path) -> dict[str, Any]:
    """Time the densest z9 tile of hazard-areas through the Python tile path, in this process."""
    from clearland.services.registry import open_registry
    from clearland.services.safety import hazard_index
    from clearland.services.tiles import Tiles, lonlat_to_tile
    from clearland.settings import Settings

    registry = open_registry(Settings(), db=str(db))
    index, _ = hazard_index(registry)
    bounds = np.array([h.geometry.bounds for h in index.hazards])
    centres = np.column_stack(((bounds[:, 0] + bounds[:, 2]) / 2, (bounds[:, 1] + bounds[:, 3]) / 2))
    tiles_of = [lonlat_to_tile(lon, lat, 9) for lon, lat in centres]
    keys, counts = np.unique(np.array(tiles_of), axis=0, return_counts=True)
    x, y = (int(v) for v in keys[int(np.argmax(counts))])
    tiles = Tiles(registry)
    started = time.perf_counter()
    tiles.bounds("hazard-areas")  # reads the collection: once per revision and process
    read_s = time.perf_counter() - started
    started = time.perf_counter()
    cold = tiles.tile("hazard-areas", 9, x, y)
    cold_s = time.perf_counter() - started
    started = time.perf_counter()
    tiles.tile("hazard-areas", 9, x, y)
    cached_s = time.perf_counter() - started
    registry.close()
    return {
        "tile": f"9/{x}/{y}",
        "hazards_centred_in_it": int(counts.max()),
        "features_drawn": cold.features,
        "bytes": len(cold.data),
        "collection_read_s": read_s,
        "draw_s": cold_s,
        "cached_s": cached_s,
        "path": "Python (services.tiles, SQLite registry); PostGIS is not present in this run",
    }


# -- main -------------------------------------------------------------------------------------


def query_points(db: Path | None, hazard_count: int, count: int) -> tuple[Path, np.ndarray, np.ndarray]:
    """The registry and the query points, shuffled (they come half far, then half near)."""
    db, lon, lat = _points(db, hazard_count, count)
    order = np.random.default_rng(3).permutation(len(lon))
    return db, lon[order], lat[order]


def _points(db: Path | None, hazard_count: int, count: int) -> tuple[Path, np.ndarray, np.ndarray]:
    if db is None:
        _gpkg, db, csv = setup(hazard_count, count)
        import pyarrow.csv as pacsv

        from clearland.services.registry import init_registry, open_registry
        from clearland.settings import Settings

        registry = open_registry(Settings(), db=str(db))
        init_registry(registry)  # the bench's own registry: brought up to this version's schema
        registry.close()

        table = pacsv.read_csv(csv)
        return db, table["lon"].to_numpy(), table["lat"].to_numpy()
    from clearland.services.registry import open_registry
    from clearland.services.safety import hazard_index
    from clearland.settings import Settings

    registry = open_registry(Settings(), db=str(db))
    index, _ = hazard_index(registry)  # also leaves the index on disk, where the server maps it from
    registry.close()
    if not len(index):
        raise SystemExit(f"{db} holds no hazard area to check against")
    lon, lat = make_points(count, np.array([h.geometry for h in index.hazards], dtype=object))
    return db, lon, lat


def report(result: dict[str, Any]) -> str:
    load, server, tile = result["load"], result["server"], result.get("tile")
    columns = ("requests/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors", "requests")
    values = (
        f"{load['requests_per_s']:,.0f}",
        *(f"{load[k]:.2f}" for k in ("p50_ms", "p90_ms", "p99_ms")),
        f"{load['max_ms']:.1f}",
        f"{load['errors']:,}",
        f"{load['requests']:,}",
    )
    lines = [
        f"GET /check/point against {result['hazards']} — {server['command']}",
        f"  {server['workers']} worker(s), {load['connections']} connections, "
        f"{load['seconds']:.1f} s measured after {load['warmup_s']:g} s warm-up, "
        f"within_m={result['within_m']:g}, {result['cores']} cores",
        f"  rate limit: {server['rate_limit']}",
        "",
        "  " + "".join(f"{c:>11}" for c in columns),
        "  " + "".join(f"{v:>11}" for v in values),
        "",
        f"  answers: {load['answers']}; statuses: {load['statuses']}",
        f"  CPU: server {load['server_cpu_share']:.2f} cores "
        f"({load['server_cpu_ms_per_request']:.2f} ms a request), load generator "
        f"{load['generator_cpu_share']:.2f} cores; load average before the run {result['load_average']}",
        f"  targets: ≥ {TARGET_RPS:,.0f} req/s {'met' if result['rps_met'] else 'NOT met'}, "
        f"p99 ≤ {TARGET_P99_MS:g} ms {'met' if result['p99_met'] else 'NOT met'}",
    ]
    if tile:
        lines += [
            "",
            f"  densest z9 tile of hazard-areas: {tile['tile']}, {tile['hazards_centred_in_it']:,} "
            f"hazards centred in it, {tile['features_drawn']:,} features drawn, "
            f"{tile['bytes'] / 1024:,.0f} KiB",
            f"    drawn cold in {tile['draw_s'] * 1000:,.0f} ms, from the tile cache in "
            f"{tile['cached_s'] * 1000:.2f} ms; the collection is read once per revision "
            f"({tile['collection_read_s']:.1f} s)",
            f"    tile path: {tile['path']}",
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, help="reuse this registry (default: 100k SYNTHETIC hazards)")
    parser.add_argument("--hazards", type=int, default=100_000, help="hazards of the synthetic registry")
    parser.add_argument("--points", type=int, default=100_000, help="distinct query points")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of load before measuring")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--within", type=float, default=100.0, help="within_m of each check")
    parser.add_argument("--server", choices=("clearland", "uvicorn"), default="clearland")
    parser.add_argument("--no-tile", action="store_true", help="skip the densest z9 tile")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()

    def say(text: str) -> None:
        if not args.json:
            print(text, flush=True)

    with contextlib.redirect_stdout(sys.stderr if args.json else sys.stdout):  # stdout: the JSON alone
        db, lon, lat = query_points(args.db, args.hazards, args.points)
    # other work on the machine shares its cores with the server: said with the result
    load_average = " ".join(f"{v:.2f}" for v in os.getloadavg())
    tile = None if args.no_tile else densest_tile(db)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    OUT.mkdir(exist_ok=True)
    log = OUT / "api_server.log"
    server = start_server(db, port, args.workers, args.server, log)
    try:
        ready_s = wait_until_ready(server, base, log)
        say(f"server ready in {ready_s:.1f} s on {base} (log: {log})")
        warm_s = warm_index(base, lon, lat, args.within, args.workers)
        say(
            f"hazard index warm in every worker after {warm_s:.1f} s; "
            f"load for {args.warmup + args.duration:g} s"
        )
        host = f"127.0.0.1:{port}"
        requests = [
            f"GET /check/point?lon={x:.6f}&lat={y:.6f}&within_m={args.within:g} HTTP/1.1\r\n"
            f"Host: {host}\r\nAccept: application/json\r\n\r\n".encode()
            for x, y in zip(lon, lat, strict=True)
        ]
        ctx = mp.get_context("spawn")
        queue = ctx.Queue()
        generator = ctx.Process(
            target=_generator, args=(port, requests, args.connections, args.warmup, args.duration, queue)
        )
        generator.start()
        try:
            # the server's CPU over the warm-up and the measured seconds together (the
            # generator reports when it measured; its warm-up is as busy as the rest)
            cpu_before = cpu_seconds(server.pid)
            load = queue.get(timeout=args.warmup + args.duration + 120)
            server_cpu = cpu_seconds(server.pid) - cpu_before
        finally:
            generator.join(timeout=30)
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    load |= {"connections": args.connections, "warmup_s": args.warmup}
    busy_s = args.warmup + load["seconds"]
    load["server_cpu_share"] = server_cpu / busy_s
    load["server_cpu_ms_per_request"] = server_cpu / (load["requests_per_s"] * busy_s) * 1000
    command = "clearland serve" if args.server == "clearland" else "uvicorn --factory (no access log)"
    result = {
        "hazards": f"{args.db}" if args.db else f"{args.hazards:,} SYNTHETIC hazard areas ({db.name})",
        "within_m": args.within,
        "server": {
            "command": command,
            "workers": args.workers,
            "rate_limit": "off for this run (CLEARLAND_API_CHECK_RATE_PER_MINUTE=0)",
        },
        "load": load,
        "rps_met": load["requests_per_s"] >= TARGET_RPS,
        "p99_met": load["p99_ms"] is not None and load["p99_ms"] <= TARGET_P99_MS and load["errors"] == 0,
        "tile": tile,
        "cores": os.cpu_count(),
        "load_average": load_average,
    }
    print(json.dumps(result, indent=2) if args.json else report(result))


if __name__ == "__main__":
    main()
