"""The browser tests of the web UI: Debian's Chromium driven by
Playwright against a real ``clearland serve`` on a loopback port, over a real registry (an
SQLite file; with ``--postgis`` a PostGIS database):

- ``clearland demo --count 40``: the SYNTHETIC demo registry (invented areas at sea near 0°N 0°E);
- plus one SYNTHETIC hazard area, a box made to cross the real korita-zbevnica GPS track
  (gpxpy test data, ../shared/data/real/gpx-gpxpy-tracks/), imported with ``clearland import``.

Every request the page makes is intercepted: one to any other host is refused and fails the
test. ``make test`` builds the UI (``make web``) and installs Chromium when it is missing
(``scripts/ensure_chromium.sh``), so nothing here is skipped."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pyogrio
import pytest
import shapely
import shapely.geometry
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect, sync_playwright

from conftest import REAL
from dbs import database

ROOT = Path(__file__).resolve().parents[2]
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
AXE = ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
OUT = Path(__file__).resolve().parent / "out"  # screenshots, for a person to look at
CLEARLAND = str(Path(sys.executable).with_name("clearland"))

GPX = REAL / "gpx-gpxpy-tracks" / "korita-zbevnica.gpx"
TRACK = pyogrio.read_dataframe(GPX, layer="track_points")
CROSSED = (float(TRACK.geometry.x[400]), float(TRACK.geometry.y[400]))
# SYNTHETIC: a ~160 m × 220 m box around one point of the real korita-zbevnica track
CROSSING = shapely.box(CROSSED[0] - 0.001, CROSSED[1] - 0.001, CROSSED[0] + 0.001, CROSSED[1] + 0.001)
CROSSING_NAME = "SYNTHETIC crossing korita-zbevnica"


@dataclass
class Server:
    url: str
    db: str

    def get(self, path: str, **params: Any) -> Any:
        response = httpx.get(self.url + path, params=params, headers={"accept": "application/json"})
        response.raise_for_status()
        return response.json()


@dataclass
class Guard:
    """Requests the page made, and those refused because they went elsewhere."""

    origin: str
    seen: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    #: every POST, PUT, PATCH or DELETE the page sent: (path, its headers)
    changes: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)

    def handle(self, route: Route) -> None:
        url = route.request.url
        self.seen.append(url)
        parts = urlsplit(url)
        if route.request.method not in ("GET", "HEAD", "OPTIONS"):
            self.changes.append((parts.path, dict(route.request.headers)))
        if parts.scheme == "data" or f"{parts.scheme}://{parts.netloc}" == self.origin:
            route.continue_()
        else:
            self.foreign.append(url)
            route.abort("blockedbyclient")


def _run(*args: str, stdin: str | None = None) -> str:
    done = subprocess.run([CLEARLAND, *args], capture_output=True, text=True, check=False, input=stdin)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


#: the registry's users (SYNTHETIC): name → (roles, password)
USERS = {
    "rev": (("reviewer",), "rev-pass-0123456789"),
    "sur": (("surveyor",), "sur-pass-0123456789"),
    "vic": (("victim_data",), "vic-pass-0123456789"),
    "adm": (("admin",), "adm-pass-0123456789"),
}


def submit_report(db: str, user: str, document: dict[str, Any], folder: Path) -> int:
    """Submit a report document as ``user`` with the CLI (as a field laptop would); its id."""
    path = folder / f"report-{user}-{time.monotonic_ns()}.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return int(json.loads(_run("--db", db, "--as", user, "report", "submit", str(path), "--json"))["report"])


def approve_report(db: str, user: str, report_id: int) -> None:
    _run("--db", db, "--as", user, "report", "approve", str(report_id), "--json")


@pytest.fixture(scope="session")
def web_registry(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("web-registry")
    db = database(folder / "registry.db")
    _run("--db", db, "demo", "--count", "40")
    crossing = folder / "synthetic-crossing.geojson"
    feature = {
        "type": "Feature",
        "properties": {
            "name": CROSSING_NAME,
            "category": "CHA",
            "status": "open",
            "hazard_types": "ap_mine",
            "marking": "signs",
        },
        "geometry": shapely.geometry.mapping(CROSSING),
    }
    crossing.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}), encoding="utf-8")
    _run("--db", db, "import", str(crossing), "--date-of-information", "2026-01-15")
    for name, (roles, password) in USERS.items():
        _run(
            "--db",
            db,
            "users",
            "add",
            name,
            *[f"--role={r}" for r in roles],
            "--password-stdin",
            stdin=password + "\n",
        )
    return db


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def server(web_registry: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    port = _free_port()
    env = {**os.environ, "CLEARLAND_API_CHECK_RATE_PER_MINUTE": "0"}
    env.pop("CLEARLAND_API_BASEMAP_URL", None)
    # the server's log goes to a file: a pipe nobody reads fills up (64 KiB of access log) and
    # then blocks the server in the middle of a request
    log = tmp_path_factory.mktemp("web-server") / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [CLEARLAND, "--db", web_registry, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, log.read_text(errors="replace")
            try:
                if httpx.get(url + "/", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not start within 30 s"
            time.sleep(0.2)
        yield Server(url, web_registry)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: `make browser` installs it"
    assert AXE.is_file(), f"{AXE} is missing: `make web` installs it"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def guard(server: Server) -> Guard:
    return Guard(origin=server.url)


@pytest.fixture
def context(browser: Browser, guard: Guard) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 860}, locale="en-GB")
    ctx.route("**/*", guard.handle)
    # axe-core as an init script: injected by the browser itself, so the page's CSP (scripts
    # from the server only) stays in force for everything the page does
    ctx.add_init_script(path=str(AXE))
    yield ctx
    ctx.close()
    assert guard.foreign == [], f"requests to other hosts: {guard.foreign}"
    assert guard.page_errors == [], guard.page_errors
    assert guard.csp_violations == [], guard.csp_violations


@pytest.fixture
def page(context: BrowserContext, guard: Guard) -> Page:
    opened = context.new_page()
    opened.set_default_timeout(20_000)
    opened.on("pageerror", lambda error: guard.page_errors.append(str(error)))
    opened.on(
        "console",
        lambda message: (
            guard.csp_violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    return opened


def serious_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is (WCAG 2.1 A/AA and best
    practice)."""
    result = page.evaluate(
        """async () => {
            const run = await axe.run(document, {
                runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]},
            });
            return run.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                             nodes: v.nodes.map(n => n.target.join(" ")).slice(0, 5)}));
        }"""
    )
    return [v for v in result if v["impact"] in ("serious", "critical")]


def screenshot(page: Page, name: str) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000  # a drawn page, not a blank one
    return path


def sign_in(page: Page, server: Server, name: str) -> None:
    """Sign in through the UI's own form, as a person would."""
    page.goto(server.url + "/#/login")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(USERS[name][1])
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#who")).to_contain_text(f"Signed in as {name}")


def wait_for_map(page: Page) -> None:
    page.wait_for_function("() => window.clearlandMap !== undefined")
    page.evaluate("() => window.clearlandMap.whenRendered()")
