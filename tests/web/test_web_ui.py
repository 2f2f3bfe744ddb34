"""The web UI in Debian's Chromium against a real ``clearland serve`` (see browser_env.py): the map
draws the registry's hazard areas (as the map itself reports them), a click on one leads to its
record page, the safety check of a real GPX track against a SYNTHETIC hazard made to cross it
says "inside", no request leaves the server, axe-core finds no serious or critical violation,
and a screenshot of each page is kept in tests/web/out/."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import shapely
import shapely.geometry
from fastapi import FastAPI
from fastapi.testclient import TestClient
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect

from clearland.api import problems, web
from clearland.api.app import create_app
from clearland.settings import ApiSettings, Settings

from .conftest import (
    CROSSING,
    CROSSING_NAME,
    GPX,
    ROOT,
    Guard,
    Server,
    screenshot,
    serious_violations,
    wait_for_map,
)

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
CATALOGUES = ROOT / "web" / "src" / "i18n"
#: the same in both languages: names, symbols, the API's name
SAME_IN_BOTH = {"app.name", "nav.api", "nav.api_landing", "value.none"}


def hazards(server: Server, **params: Any) -> list[dict[str, Any]]:
    return server.get("/collections/hazard-areas/items", limit=10000, **params)["features"]


def crossing_ref(server: Server) -> str:
    (found,) = hazards(server, name=CROSSING_NAME)
    return str(found["id"])


def bbox_param(bounds: tuple[float, ...]) -> str:
    return ",".join(f"{v:.6f}" for v in bounds)


def padded(geom: shapely.Geometry, fraction: float) -> tuple[float, float, float, float]:
    minx, miny, maxx, maxy = geom.bounds
    pad = max(maxx - minx, maxy - miny) * fraction
    return (minx - pad, miny - pad, maxx + pad, maxy + pad)


def two_neighbours(server: Server) -> tuple[dict[str, Any], dict[str, Any]]:
    """A demo hazard polygon and the polygon nearest to it."""
    polygons = [f for f in hazards(server) if f["geometry"]["type"] == "Polygon"]
    polygons = [f for f in polygons if f["properties"]["name"] != CROSSING_NAME]
    first = polygons[0]
    shape = shapely.geometry.shape(first["geometry"])
    nearest = min(polygons[1:], key=lambda f: shape.distance(shapely.geometry.shape(f["geometry"])))
    return first, nearest


def assert_accessible(page: Page) -> None:
    assert serious_violations(page) == []


# -- serving: / for browsers, the API for everyone else ---------------------------------------


def test_browsers_get_the_ui_at_root_and_clients_keep_the_api(server: Server) -> None:
    ui = httpx.get(server.url + "/", headers={"accept": BROWSER_ACCEPT})
    assert ui.status_code == 200 and ui.headers["content-type"].startswith("text/html")
    for href in ("./?f=html", "./collections", "./conformance", "./docs"):
        assert f'href="{href}"' in ui.text
    assert re.search(r'<script type="module" crossorigin src="\./ui/index-[\w-]+\.js"></script>', ui.text)
    # no basemap configured: the common policy, which lets the page load only from the server
    csp = ui.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "connect-src 'self'" in csp
    assert "http" not in csp

    ogc_html = httpx.get(server.url + "/", params={"f": "html"}, headers={"accept": BROWSER_ACCEPT})
    assert ogc_html.text.startswith("<!DOCTYPE html>") and "<script" not in ogc_html.text
    assert "clearland hazard registry" in ogc_html.text
    for accept in ("application/json", "*/*", "application/json, text/html;q=0.5"):
        landing = httpx.get(server.url + "/", headers={"accept": accept})
        assert landing.headers["content-type"] == "application/json"
        assert landing.json()["title"] == "clearland hazard registry"
    assert httpx.get(server.url + "/?f=json", headers={"accept": BROWSER_ACCEPT}).json()["links"]

    script = re.search(r'src="\./(ui/index-[\w-]+\.js)"', ui.text)
    assert script is not None
    asset = httpx.get(f"{server.url}/{script.group(1)}")
    assert asset.status_code == 200 and "javascript" in asset.headers["content-type"]
    assert "immutable" in asset.headers["cache-control"]
    assert httpx.get(server.url + "/ui/config.json").json() == {
        "basemap_url": None,
        "basemap_attribution": None,
    }
    # the UI's routes are not part of the API's definition
    paths = httpx.get(server.url + "/openapi.json").json()["paths"]
    assert not [p for p in paths if p.startswith("/ui")]


def test_without_built_assets_a_browser_at_root_gets_a_problem_naming_make_web(tmp_path: Path) -> None:
    app = FastAPI()
    problems.install(app)
    web.install(app, ApiSettings(), folder=tmp_path / "not-built")
    with TestClient(app) as client:
        answer = client.get("/", headers={"accept": BROWSER_ACCEPT})
    assert answer.status_code == 503
    assert answer.headers["content-type"] == "application/problem+json"
    body = answer.json()
    assert body["status"] == 503 and "make web" in body["detail"]
    assert "<html" not in answer.text.lower()


def test_a_configured_basemap_reaches_the_ui_and_only_its_origin_is_allowed(web_registry: str) -> None:
    template = "https://tiles.example.org/osm/{z}/{x}/{y}.png"
    api = ApiSettings(basemap_url=template, basemap_attribution="© Example")
    settings = Settings(database_url=str(web_registry), api=api)
    with TestClient(create_app(settings)) as client:
        assert client.get("/ui/config.json").json() == {
            "basemap_url": template,
            "basemap_attribution": "© Example",
        }
        csp = client.get("/", headers={"accept": BROWSER_ACCEPT}).headers["content-security-policy"]
        api_csp = client.get("/collections").headers["content-security-policy"]
    assert "img-src 'self' data: https://tiles.example.org;" in csp
    assert "https://tiles.example.org" not in api_csp  # the API's pages keep the common policy
    assert csp.replace(" https://tiles.example.org", "") == api_csp


def test_message_catalogues_are_complete_in_english_and_ukrainian() -> None:
    en = json.loads((CATALOGUES / "en.json").read_text(encoding="utf-8"))
    uk = json.loads((CATALOGUES / "uk.json").read_text(encoding="utf-8"))
    assert set(en) == set(uk)
    assert [k for k, v in {**en, **uk}.items() if not v.strip()] == []
    untranslated = [k for k in en if en[k] == uk[k] and k not in SAME_IN_BOTH]
    assert untranslated == []
    for key in en:  # the same placeholders in both
        assert set(re.findall(r"\{\w+\}", en[key])) == set(re.findall(r"\{\w+\}", uk[key])), key
    source = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "web").glob("src/**/*.ts"))
    source += (ROOT / "web" / "index.html").read_text(encoding="utf-8")
    used = set(re.findall(r'\bt\(\s*"([\w.]+)"', source)) | set(
        re.findall(r'data-i18n[\w-]*="([\w.]+)"', source)
    )
    assert used and used <= set(en)


# -- in the browser -------------------------------------------------------------------------------


def test_a_request_to_another_host_is_refused_and_reported(page: Page, server: Server, guard: Guard) -> None:
    page.goto(server.url + "/#/map")
    wait_for_map(page)
    # the page's own policy refuses it (connect-src 'self'): it never reaches the network
    failed = page.evaluate("() => fetch('https://tiles.example.org/0/0/0.png').then(() => 'sent', String)")
    assert failed != "sent"
    assert not [url for url in guard.seen if "example.org" in url]
    guard.csp_violations.clear()  # the refusal this test asked for
    # what the policy does not cover (a navigation) meets the guard, which refuses and reports it
    with pytest.raises(PlaywrightError):
        page.goto("http://127.0.0.2:9/elsewhere")
    assert guard.foreign == ["http://127.0.0.2:9/elsewhere"]
    guard.foreign.clear()  # seen and refused: what this test is about
    assert all(url.startswith(server.url) for url in guard.seen if "127.0.0.2" not in url)


def test_the_map_draws_the_registry_hazard_areas(page: Page, server: Server, guard: Guard) -> None:
    first, nearest = two_neighbours(server)
    both = shapely.union(
        shapely.geometry.shape(first["geometry"]), shapely.geometry.shape(nearest["geometry"])
    )
    page.goto(f"{server.url}/#/map?bbox={bbox_param(padded(both, 0.2))}")
    wait_for_map(page)
    rendered = page.evaluate("() => window.clearlandMap.renderedFeatureRefs()")
    assert {first["id"], nearest["id"]} <= set(rendered)
    # and nothing that is not in the registry's view of that place
    view = shapely.box(*page.evaluate("() => window.clearlandMap.viewBbox()"))
    around = hazards(server, bbox=bbox_param(padded(view, 0.5)))
    assert set(rendered) <= {f["id"] for f in around}
    assert page.evaluate("() => window.clearlandMap.renderedFeatureCount()") >= len(rendered)
    # requests went to the server's tiles, nowhere else
    assert any("/tiles/hazard-areas/" in url and url.endswith(".mvt") for url in guard.seen)

    # the layer switcher turns layers off and on
    for collection, label in (("released-land", "Released land"), ("markers", "Markers")):
        assert page.evaluate(f"() => window.clearlandMap.layerVisible('{collection}')")
        page.get_by_label(label, exact=True).uncheck()
        assert not page.evaluate(f"() => window.clearlandMap.layerVisible('{collection}')")
        page.get_by_label(label, exact=True).check()
    expect(page.get_by_role("heading", name="Legend")).to_be_visible()
    assert_accessible(page)
    screenshot(page, "map")


def test_clicking_a_hazard_opens_its_record_page(page: Page, server: Server) -> None:
    first, _ = two_neighbours(server)
    shape = shapely.geometry.shape(first["geometry"])
    page.goto(f"{server.url}/#/map?bbox={bbox_param(padded(shape, 0.6))}")
    wait_for_map(page)
    inside = shape.point_on_surface()
    x, y = page.evaluate(f"() => window.clearlandMap.pixelOf({inside.x}, {inside.y})")
    page.mouse.click(x, y)
    popup = page.locator(".popup")
    expect(popup).to_be_visible()
    expect(popup.get_by_role("heading")).to_have_text(first["id"])
    expect(popup).to_contain_text("Category")
    assert_accessible(page)
    screenshot(page, "map-popup")

    popup.get_by_role("link", name="Open the record page").click()
    expect(page).to_have_url(re.compile(rf"#/records/{first['id']}$"))
    title = page.locator("#page-title")
    expect(title).to_contain_text(first["id"])
    expect(title).to_contain_text(first["properties"]["name"])
    details = page.locator("dl.facts")
    expect(details).to_contain_text(
        {"open": "Open", "worked_on": "Being worked on", "closed": "Closed"}[first["properties"]["status"]]
    )
    expect(details).to_contain_text(first["properties"]["date_of_information"][:4])
    expect(page.get_by_role("link", name="This record as GeoJSON")).to_have_attribute(
        "href", f"./collections/hazard-areas/items/{first['id']}?f=json"
    )
    wait_for_map(page)
    assert first["id"] in page.evaluate("() => window.clearlandMap.renderedFeatureRefs()")
    assert_accessible(page)
    screenshot(page, "record")


def test_an_unknown_record_says_so(page: Page, server: Server) -> None:
    page.goto(server.url + "/#/records/HA-999999")
    expect(page.locator("#page-title")).to_have_text("No such hazard area")
    expect(page.locator("main")).to_contain_text("HA-999999")


def test_search_by_ref_and_by_name(page: Page, server: Server) -> None:
    first, _ = two_neighbours(server)
    page.goto(server.url + "/#/map")
    wait_for_map(page)
    search = page.get_by_label("Search by reference or name")
    search.fill(first["id"].lower())
    search.press("Enter")
    results = page.locator(".search-results")
    expect(results).to_contain_text("Found: 1")
    expect(results.get_by_role("link", name=first["id"])).to_be_visible()
    search.fill(CROSSING_NAME)
    page.get_by_role("button", name="Search", exact=True).click()
    expect(results.get_by_role("link", name=crossing_ref(server))).to_be_visible()
    search.fill("no hazard has this name")
    search.press("Enter")
    expect(results).to_contain_text("No hazard area has the reference or name")


def test_the_safety_check_of_a_real_gpx_track_says_inside(page: Page, server: Server) -> None:
    ref = crossing_ref(server)
    with GPX.open("rb") as body:
        expected = httpx.post(
            server.url + "/check/route",
            params={"filename": GPX.name},
            headers={"content-type": "application/gpx+xml"},
            content=body.read(),
        ).json()
    assert expected["answer"] == "inside" and [h["ref"] for h in expected["hazards"]] == [ref]

    page.goto(server.url + "/#/check")
    wait_for_map(page)
    page.get_by_label("File", exact=True).set_input_files(str(GPX))
    page.get_by_role("button", name="Check this file").click()
    answer = page.locator("section.answer")
    expect(answer).to_have_attribute("data-answer", "inside")
    expect(answer.locator(".answer-headline")).to_contain_text("INSIDE a recorded hazard area")
    expect(answer).to_contain_text(f"Route checked: {GPX.name}")
    expect(answer).to_contain_text("No record is not proof of safety")
    expect(answer.get_by_role("link", name=ref)).to_be_visible()
    latest = server.get("/")["registry"]["latest_information"]
    shown = page.evaluate(
        "d => new Intl.DateTimeFormat('en', {dateStyle: 'long', timeZone: 'UTC'})"
        ".format(new Date(d + 'T00:00:00Z'))",
        latest,
    )
    expect(answer).to_contain_text(shown)
    assert page.evaluate("() => window.clearlandCheck.highlightedRefs()") == [ref]
    assert page.evaluate("() => window.clearlandCheck.lastAnswer().hazards.map(h => h.ref)") == [ref]
    assert_accessible(page)
    screenshot(page, "check-gpx")

    page.emulate_media(media="print")
    expect(answer).to_be_visible()
    expect(page.get_by_role("navigation", name="Pages")).to_be_hidden()
    expect(page.get_by_role("button", name="Check this file")).to_be_hidden()
    screenshot(page, "check-gpx-print")


def test_the_safety_check_by_clicking_the_map_and_by_position(page: Page, server: Server) -> None:
    ref = crossing_ref(server)
    page.goto(server.url + "/#/check")
    wait_for_map(page)
    page.evaluate(f"() => window.clearlandMap.fit([{bbox_param(padded(CROSSING, 1.0))}])")
    centre = CROSSING.centroid
    x, y = page.evaluate(f"() => window.clearlandMap.pixelOf({centre.x}, {centre.y})")
    page.mouse.click(x, y)
    answer = page.locator("section.answer")
    expect(answer).to_have_attribute("data-answer", "inside")
    page.wait_for_function(f"() => window.clearlandCheck.highlightedRefs().includes('{ref}')")

    # 500 m east of the box: near, with the distance; far away: no record, never "safe"
    east = CROSSING.bounds[2] + 0.0064  # ~500 m at 45°N
    page.get_by_label("Distance that counts as near (metres)").fill("1000")
    page.get_by_label("Longitude").fill(f"{east:.6f}")
    page.get_by_label("Latitude").fill(f"{centre.y:.6f}")
    page.get_by_role("button", name="Check this place").click()
    expect(answer).to_have_attribute("data-answer", "near")
    expect(answer.locator(".answer-headline")).to_contain_text(f"the nearest, {ref}, is")
    expect(answer.locator(".answer-headline")).to_contain_text("m away to the west")
    page.get_by_label("Distance that counts as near (metres)").fill("100")
    page.get_by_role("button", name="Check this place").click()
    expect(answer).to_have_attribute("data-answer", "no_record")
    expect(answer.locator(".answer-headline")).to_have_text("No recorded hazard area within 100 m.")
    expect(answer).to_contain_text("No record is not proof of safety")
    assert "safe" not in answer.locator(".answer-headline").inner_text().lower()
    assert_accessible(page)
    screenshot(page, "check-point")


@pytest.mark.parametrize("route", ["map", "check"])
def test_the_ui_in_ukrainian(page: Page, server: Server, route: str) -> None:
    page.goto(f"{server.url}/#/{route}")
    wait_for_map(page)
    page.get_by_label("Language").select_option("uk")
    expect(page.locator("html")).to_have_attribute("lang", "uk")
    expect(page.get_by_role("link", name="Мапа", exact=True)).to_be_visible()
    expect(page.locator("#not-proof")).to_contain_text("Відсутність запису не доводить")
    heading = {"map": "Мапа зареєстрованих небезпечних територій", "check": "Перевірка безпеки"}[route]
    expect(page.locator("#page-title")).to_have_text(heading)
    wait_for_map(page)
    assert_accessible(page)
    screenshot(page, f"{route}-uk")
    # the choice is kept: a new visit opens in Ukrainian
    page.reload()
    expect(page.locator("html")).to_have_attribute("lang", "uk")


def test_the_map_works_from_the_keyboard(page: Page, server: Server) -> None:
    page.goto(server.url + "/#/map")
    wait_for_map(page)
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    page.locator("#map").focus()
    before = page.evaluate("() => window.clearlandMap.viewBbox()")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("+")
    page.wait_for_function(
        "before => JSON.stringify(window.clearlandMap.viewBbox()) !== JSON.stringify(before)", arg=before
    )
