"""The rest of the web UI, in Debian's Chromium against a real ``clearland serve`` (see conftest.py):
the admin boundaries drawn under the hazards on the map, and on the dashboard a map of the admin
areas coloured by what remains in each; a KML route drawn on the safety check's map (its icons
never fetched); a surveyor submitting a report document and seeing it land or seeing the server's
problems; an administrator withdrawing an approved report with a reason. Every page is checked
with axe-core and kept as a screenshot in tests/web/out/. SYNTHETIC data, and the real
korita-zbevnica GPS track."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import shapely
import shapely.geometry
from playwright.sync_api import Page, expect

from .conftest import (
    GPX,
    TRACK,
    Guard,
    Server,
    approve_report,
    screenshot,
    serious_violations,
    sign_in,
    submit_report,
    wait_for_map,
)

#: SYNTHETIC hazard areas at sea, apart from the demo areas and from each other
SUBMITTED_BOX = shapely.box(1.90, -0.62, 1.904, -0.616)
WITHDRAWN_BOX = shapely.box(1.95, -0.62, 1.954, -0.616)


def assert_accessible(page: Page) -> None:
    assert serious_violations(page) == []


def browser_json(page: Page, path: str) -> Any:
    return page.evaluate(
        "path => fetch(path, {headers: {Accept: 'application/json'}}).then(r => r.json())", path
    )


def hazard_report(name: str, box: shapely.Geometry, date: str) -> dict[str, Any]:
    """A report document as `clearland report submit` takes it (tests/api/reportdata.py)."""
    return {
        "type": "hazard_report",
        "date_of_information": date,
        "description": "SYNTHETIC: a fisherman reported a mine washed ashore",
        "hazard_areas": [
            {
                "set": {
                    "category": "SHA",
                    "name": name,
                    "hazard_types": ["ap_mine"],
                    "evidence_type": "direct",
                    "evidence_description": "SYNTHETIC: seen by the reporter",
                },
                "geometry": shapely.geometry.mapping(box),
            }
        ],
    }


# -- admin boundaries ----------------------------------------------------------------------------


def test_the_map_draws_the_admin_boundaries_under_the_hazards(
    page: Page, server: Server, guard: Guard
) -> None:
    areas = server.get("/collections/admin-areas/items", limit=1000)["features"]
    assert len(areas) == 12 and all("Synthetic District" in a["properties"]["name"] for a in areas)
    page.goto(f"{server.url}/#/map?bbox=0.2,0.2,2.2,1.7")
    wait_for_map(page)
    drawn = page.evaluate("() => window.clearlandMap.renderedRefsOf('admin-areas')")
    view = shapely.box(*page.evaluate("() => window.clearlandMap.viewBbox()"))
    inside = {a["id"] for a in areas if shapely.geometry.shape(a["geometry"]).intersects(view)}
    assert set(drawn) == inside and len(drawn) == 12
    assert page.evaluate("() => window.clearlandMap.renderedFeatureRefs()")  # and the hazards
    order = page.evaluate("() => window.clearlandMap.layerOrder()")
    assert order.index("admin-areas") < order.index("released-land") < order.index("hazard-areas")
    assert any("/tiles/admin-areas/" in url for url in guard.seen)
    switch = page.get_by_label("Admin boundaries", exact=True)
    switch.uncheck()
    assert not page.evaluate("() => window.clearlandMap.layerVisible('admin-areas')")
    switch.check()
    assert page.evaluate("() => window.clearlandMap.layerVisible('admin-areas')")
    expect(page.locator(".legend")).to_contain_text("Admin boundaries")
    assert_accessible(page)
    screenshot(page, "map-admin-boundaries")


def test_the_dashboard_maps_what_remains_in_each_admin_area(page: Page, server: Server) -> None:
    by_area = server.get("/stats", by="admin-area")["groups"]
    page.goto(server.url + "/#/dashboard")
    expect(page.locator("#admin-map")).to_be_visible()
    page.wait_for_function("() => window.clearlandDashboard !== undefined")
    page.evaluate("() => window.clearlandDashboard.whenMapRendered()")
    drawn = page.evaluate("() => window.clearlandDashboard.mapAreas()")
    names = {
        a["properties"]["name"] for a in server.get("/collections/admin-areas/items", limit=1000)["features"]
    }
    assert {d["name"] for d in drawn} == names
    for area in drawn:
        assert area["remaining"] == pytest.approx(by_area[area["name"]]["remaining_m2_net"])
    # the more land remains, the darker: colours follow the legend's order of steps
    steps = page.locator(".choropleth-legend .swatch").evaluate_all("s => s.map(x => x.dataset.colour)")
    ranked = sorted(drawn, key=lambda d: d["remaining"])
    positions = [steps.index(d["colour"]) for d in ranked]
    assert positions == sorted(positions) and positions[-1] == len(steps) - 1
    assert len(set(positions)) > 1  # the districts are not all alike
    expect(page.locator(".admin-map figcaption")).to_contain_text("Land left to release")
    assert_accessible(page)
    screenshot(page, "dashboard-admin-map")


# -- KML on the safety check ------------------------------------------------------------------------


def test_a_kml_route_is_checked_and_drawn_without_fetching_its_icons(
    page: Page, server: Server, guard: Guard, tmp_path: Path
) -> None:
    # the real korita-zbevnica track as a KML line, with a style naming an icon on another host
    coordinates = " ".join(
        f"{x:.7f},{y:.7f}" for x, y in zip(TRACK.geometry.x, TRACK.geometry.y, strict=True)
    )
    kml = tmp_path / "korita-zbevnica.kml"
    kml.write_text(
        f"""<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2"><Document>
  <Style id="pin"><IconStyle><Icon><href>https://icons.example.org/pin.png</href></Icon></IconStyle></Style>
  <Placemark><name>korita-zbevnica ({GPX.name})</name><styleUrl>#pin</styleUrl>
    <LineString><coordinates>{coordinates}</coordinates></LineString></Placemark>
</Document></kml>""",
        encoding="utf-8",
    )
    expected = httpx.post(
        server.url + "/check/route",
        params={"filename": kml.name},
        headers={"content-type": "application/vnd.google-earth.kml+xml"},
        content=kml.read_bytes(),
    ).json()
    assert expected["answer"] == "inside", expected

    page.goto(server.url + "/#/check")
    wait_for_map(page)
    page.get_by_label("File", exact=True).set_input_files(str(kml))
    page.get_by_role("button", name="Check this file").click()
    answer = page.locator("section.answer")
    expect(answer).to_have_attribute("data-answer", "inside")
    expect(answer).to_contain_text(f"Route checked: {kml.name}")
    assert page.evaluate("() => window.clearlandCheck.drawnQuery()") == ["LineString"]
    refs = sorted(h["ref"] for h in expected["hazards"])
    # the hazards are highlighted once their shapes are read, just after the answer is shown
    page.wait_for_function("n => window.clearlandCheck.highlightedRefs().length === n", arg=len(refs))
    assert page.evaluate("() => window.clearlandCheck.highlightedRefs()") == refs
    page.evaluate("() => window.clearlandMap.whenRendered()")
    # the drawn line lies along the track: the map's view holds the whole of it
    view = shapely.box(*page.evaluate("() => window.clearlandMap.viewBbox()"))
    assert view.contains(shapely.LineString(zip(TRACK.geometry.x, TRACK.geometry.y, strict=True)))
    assert not [url for url in guard.seen if "example.org" in url]
    assert_accessible(page)
    screenshot(page, "check-kml")


# -- submitting a report ---------------------------------------------------------------------------


def test_a_surveyor_submits_a_report_and_sees_it_land_or_the_problems(
    page: Page, server: Server, guard: Guard, tmp_path: Path
) -> None:
    page.goto(server.url + "/#/submit")
    expect(page.locator("#page-title")).to_have_text("Sign in")  # not for the public
    sign_in(page, server, "sur")
    nav = page.get_by_role("navigation", name="Pages")
    nav.get_by_role("link", name="Submit a report").click()
    expect(page.locator("#page-title")).to_have_text("Submit a report")
    assert_accessible(page)

    good = tmp_path / "synthetic-hazard-report.json"
    good.write_text(json.dumps(hazard_report("SYNTHETIC submitted area", SUBMITTED_BOX, "2026-03-10")))
    page.get_by_label("Report document (JSON)").set_input_files(str(good))
    page.get_by_role("button", name="Submit for review").click()
    status = page.get_by_role("status")
    expect(status).to_contain_text("submitted")
    done = page.evaluate("() => window.clearlandSubmit.last()")
    report = int(done["report"])
    expect(status.get_by_role("heading")).to_have_text(f"Report {report} submitted")
    expect(status).to_contain_text("hazard report")
    (ref,) = done["records"]
    expect(status.get_by_role("link", name=ref)).to_be_visible()
    stored = browser_json(page, f"./reports/{report}")
    assert stored["status"] == "submitted" and stored["created_by"] == "sur"
    expect(status).to_contain_text(good.name)  # the file sent (the API names it "request body")
    assert shapely.geometry.shape(stored["changes"][0]["geometry"]["after"]).equals(SUBMITTED_BOX)
    # a surveyor is no reviewer: no link to the inbox
    expect(status.get_by_role("link", name=f"Open report {report} in the review inbox")).to_have_count(0)
    posted = [headers for path, headers in guard.changes if path == "/reports"]
    assert len(posted) == 1 and posted[0].get("x-csrf-token")
    assert_accessible(page)
    screenshot(page, "submit-done")

    # a document the server refuses: its problems in words, field by field, and nothing stored
    before = len(browser_json(page, "./reports?status=submitted"))
    bad_document = hazard_report("SYNTHETIC refused area", SUBMITTED_BOX, "2026-03-11")
    bad_document["hazard_areas"][0]["set"]["category"] = "minefield-ish"
    bad_document["hazard_areas"][0]["geometry"] = {
        "type": "Polygon",
        "coordinates": [[[1, 1], [2, 2], [1, 1]]],
    }
    bad = tmp_path / "synthetic-bad-report.json"
    bad.write_text(json.dumps(bad_document))
    page.get_by_label("Report document (JSON)").set_input_files(str(bad))
    page.get_by_role("button", name="Submit for review").click()
    alert = page.get_by_role("alert")
    expect(alert.get_by_role("heading")).to_have_text("Not submitted")
    expect(alert).to_contain_text("The server refused the report:")
    named = alert.locator("ul.problems li")
    expect(named.filter(has_text="hazard_areas[0].set.category").first).to_be_visible()
    expect(named.filter(has_text="hazard_areas[0].geometry").first).to_be_visible()
    expect(alert).to_contain_text("Nothing was stored")
    problem = page.evaluate("() => ({status: window.clearlandSubmit.last().status})")
    assert problem["status"] == 400
    assert len(browser_json(page, "./reports?status=submitted")) == before
    assert_accessible(page)
    screenshot(page, "submit-refused")

    # a file that is no JSON at all is refused here, without sending anything
    sent = len(guard.changes)
    text = tmp_path / "notes.json"
    text.write_text("SYNTHETIC: not a report")
    page.get_by_label("Report document (JSON)").set_input_files(str(text))
    page.get_by_role("button", name="Submit for review").click()
    expect(page.get_by_role("alert")).to_contain_text("notes.json is not a JSON document")
    assert len(guard.changes) == sent


# -- withdrawing an approval -----------------------------------------------------------------------


def test_an_administrator_unapproves_a_report_with_a_reason(
    page: Page, server: Server, guard: Guard, tmp_path: Path
) -> None:
    name = "SYNTHETIC withdrawn area"
    report = submit_report(server.db, "sur", hazard_report(name, WITHDRAWN_BOX, "2026-03-12"), tmp_path)
    approve_report(server.db, "rev", report)
    assert len(server.get("/collections/hazard-areas/items", name=name)["features"]) == 1

    # a reviewer sees the approved report but may not withdraw it (the server says admins only)
    sign_in(page, server, "rev")
    page.goto(f"{server.url}/#/review/{report}")
    expect(page.locator("main")).to_contain_text("This report has been decided (approved)")
    expect(page.get_by_role("button", name="Unapprove")).to_have_count(0)
    page.goto(f"{server.url}/#/review")
    expect(page.locator("#page-title")).to_have_text("Review inbox")
    expect(page.get_by_role("heading", name="Approved reports")).to_have_count(0)

    page.locator("#who").get_by_role("button", name="Sign out").click()
    expect(page.locator("#who").get_by_role("link", name="Sign in")).to_be_visible()
    sign_in(page, server, "adm")
    page.get_by_role("navigation", name="Pages").get_by_role("link", name="Review inbox").click()
    approved = page.locator(".approved-reports")
    expect(approved.get_by_role("heading", name="Approved reports")).to_be_visible()
    assert_accessible(page)
    approved.get_by_role("link", name=f"Report {report}", exact=True).click()
    expect(page.locator("#page-title")).to_have_text(f"Report {report}")
    page.wait_for_function("() => window.clearlandReview !== undefined")
    etag = page.evaluate("() => window.clearlandReview.etag()")
    assert etag == f'"report-{report}-approved"'
    sent = len(guard.changes)
    page.get_by_role("button", name="Unapprove").click()  # no reason: the browser asks for one
    assert len(guard.changes) == sent
    page.get_by_label("Reason for withdrawing it (required)").fill("SYNTHETIC: entered twice")
    assert_accessible(page)
    screenshot(page, "review-unapprove")
    page.get_by_role("button", name="Unapprove").click()
    outcome = page.locator(".decision-outcome")
    expect(outcome).to_contain_text(f"Report {report} unapproved")
    expect(page.locator("dl.facts")).to_contain_text("withdrawn")  # the words for "unapproved"
    expect(page.locator("dl.facts")).to_contain_text("SYNTHETIC: entered twice")
    expect(page.get_by_role("button", name="Unapprove")).to_have_count(0)
    (path, headers) = guard.changes[-1]
    assert path == f"/reports/{report}/unapprove"
    assert headers.get("if-match") == etag and headers.get("x-csrf-token")
    # the registry no longer holds the area; the report stays in the history, unapproved
    assert server.get("/collections/hazard-areas/items", name=name)["features"] == []
    assert browser_json(page, f"./reports/{report}")["reason"] == "SYNTHETIC: entered twice"
    revision = server.get("/")["registry"]["revision"]
    expect(page.locator("#registry-status")).to_contain_text(f"(revision {revision})")
    screenshot(page, "review-unapproved")


@pytest.mark.parametrize("route", ["submit", "review"])
def test_the_report_pages_in_ukrainian(page: Page, server: Server, route: str) -> None:
    sign_in(page, server, "adm")
    page.get_by_label("Language").select_option("uk")
    expect(page.locator("html")).to_have_attribute("lang", "uk")
    page.goto(f"{server.url}/#/{route}")
    title = {"submit": "Подати звіт", "review": "Звіти на розгляд"}[route]
    expect(page.locator("#page-title")).to_have_text(title)
    if route == "review":
        expect(page.get_by_role("heading", name="Затверджені звіти")).to_be_visible()
    assert_accessible(page)
    screenshot(page, f"{route}-uk")


def test_a_map_move_that_ends_after_leaving_the_map_keeps_the_new_address(page: Page, server: Server) -> None:
    """The address names another page before its hashchange arrives; a map move that ends in
    between must not rewrite the address back to the map (a fresh-clone CI run drew the map
    instead of the report pages that way)."""
    sign_in(page, server, "adm")
    page.goto(f"{server.url}/#/map")
    wait_for_map(page)
    page.evaluate(
        """async () => {
            history.pushState(null, "", "#/review");  // the address changes; the event comes later
            await window.clearlandMap.fit([10, 40, 12, 42]);  // a move ends in between
            window.dispatchEvent(new HashChangeEvent("hashchange"));
        }"""
    )
    expect(page.locator("#page-title")).to_have_text("Review inbox")
    assert page.url.endswith("#/review")
