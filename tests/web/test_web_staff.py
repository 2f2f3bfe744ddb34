"""The web UI for signed-in staff and the pages around them, in Debian's Chromium against a real
``clearland serve`` (see conftest.py): sign-in and role-aware navigation (the public cannot reach
restricted pages, and the API refuses their data too), the record page's work and history, the
review inbox (a reviewer approves a report and the map draws the new hazard area; a decision made
meanwhile by someone else is a 409 the page explains), and the dashboard (its numbers are the
API's). Every new page is checked with axe-core and kept as a screenshot in tests/web/out/."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import shapely
import shapely.geometry
from playwright.sync_api import Page, expect

from .conftest import (
    CROSSING_NAME,
    Guard,
    Server,
    approve_report,
    screenshot,
    serious_violations,
    sign_in,
    submit_report,
    wait_for_map,
)

REVIEWERS = "reviewer, administrator"


def assert_accessible(page: Page) -> None:
    assert serious_violations(page) == []


def fetch_status(page: Page, path: str, method: str = "GET") -> int:
    return int(
        page.evaluate(
            "([path, method]) => fetch(path, {method, headers: {Accept: 'application/json'}})"
            ".then(r => r.status)",
            [path, method],
        )
    )


def browser_json(page: Page, path: str) -> Any:
    """What the server answers the page's own session."""
    return page.evaluate(
        "path => fetch(path, {headers: {Accept: 'application/json'}}).then(r => r.json())", path
    )


def cell_values(page: Page, table: str, key: str) -> list[float]:
    return [
        float(v)
        for v in page.locator(f'{table} tr[data-key="{key}"] td').evaluate_all(
            "cells => cells.map(c => c.dataset.value)"
        )
    ]


@pytest.fixture(scope="session")
def worked_hazard(server: Server, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """An approved clearance on an open CHA of the demo registry: an activity, a cleared outcome
    and two AP mines destroyed in place (SYNTHETIC), reported by the reviewer with the CLI."""
    folder = tmp_path_factory.mktemp("worked")
    candidates = server.get("/collections/hazard-areas/items", limit=10000, category="CHA", status="open")
    chosen = next(
        f
        for f in candidates["features"]
        if f["geometry"]["type"] == "Polygon" and f["properties"]["name"] != CROSSING_NAME
    )
    shape = shapely.geometry.shape(chosen["geometry"])
    centre = shape.representative_point()
    cleared = shape.intersection(centre.buffer(0.0002))
    document = {
        "type": "activity_report",
        "activity_type": "clearance",
        "date_of_information": "2026-02-01",
        "organisation": "SYNTHETIC Demining Operator",
        "start_date": "2026-01-20",
        "end_date": "2026-01-30",
        "status": "ongoing",
        "hazard_areas": [chosen["id"]],
        "assets": ["manual"],
        "outcomes": [{"kind": "cleared", "geometry": shapely.geometry.mapping(cleared)}],
        "devices": [
            {
                "category": "ap_mine",
                "quantity": 2,
                "position": shapely.geometry.mapping(centre),
                "disposal": "destroyed_in_situ",
            }
        ],
    }
    report = submit_report(server.db, "rev", document, folder)
    approve_report(server.db, "rev", report)
    record = server.get(f"/records/{chosen['id']}")
    return {"ref": chosen["id"], "report": report, "record": record}


# -- 1. sign-in and role-aware navigation ---------------------------------------------------------


def test_the_public_cannot_reach_restricted_pages(page: Page, server: Server) -> None:
    for route in ("review", "review/1"):
        page.goto(f"{server.url}/#/{route}")
        expect(page.locator("#page-title")).to_have_text("Sign in")
        expect(page.locator("main")).to_contain_text(f"for signed-in users with the role: {REVIEWERS}")
        expect(page.locator("table")).to_have_count(0)
    # the navigation offers the public pages only
    nav = page.get_by_role("navigation", name="Pages")
    expect(nav.get_by_role("link", name="Review inbox")).to_be_hidden()
    for name in ("Map", "Safety check", "Dashboard"):
        expect(nav.get_by_role("link", name=name)).to_be_visible()
    expect(page.locator("#who").get_by_role("link", name="Sign in")).to_be_visible()
    # and the API itself refuses the restricted pages' data to the anonymous: not only the UI
    assert fetch_status(page, "./reports?status=submitted") == 401
    assert fetch_status(page, "./reports/1") == 401
    assert fetch_status(page, "./reports/1/approve", "POST") == 401
    assert "history" not in browser_json(page, "./records/HA-000001")
    assert_accessible(page)
    screenshot(page, "login-required")

    page.get_by_label("User name").fill("rev")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".form-status")).to_have_text("Wrong user name or password.")
    expect(page.locator("#who")).not_to_contain_text("Signed in")


def test_a_user_without_the_role_is_told_it_is_not_allowed(page: Page, server: Server) -> None:
    sign_in(page, server, "vic")
    nav = page.get_by_role("navigation", name="Pages")
    expect(nav.get_by_role("link", name="Review inbox")).to_be_hidden()
    page.goto(server.url + "/#/review")
    expect(page.locator("#page-title")).to_have_text("Not allowed")
    expect(page.get_by_role("alert")).to_contain_text(f"This page needs the role: {REVIEWERS}")
    expect(page.get_by_role("alert")).to_contain_text("signed in as vic")
    # the server says the same: 403, with the session, for the list and for a decision
    assert fetch_status(page, "./reports?status=submitted") == 403
    csrf = browser_json(page, "./auth/me")["csrf_token"]
    status = page.evaluate(
        "csrf => fetch('./reports/1/approve', {method: 'POST', headers: {'X-CSRF-Token': csrf}})"
        ".then(r => r.status)",
        csrf,
    )
    assert status == 403
    assert "history" not in browser_json(page, "./records/HA-000001")  # victim data is no staff role
    assert_accessible(page)
    screenshot(page, "not-allowed")


def test_a_reviewer_signs_in_to_the_inbox_and_out_again_and_every_change_carries_the_csrf_token(
    page: Page, server: Server, guard: Guard
) -> None:
    page.goto(server.url + "/#/review")
    page.get_by_label("User name").fill("rev")
    page.get_by_label("Password").fill("rev-pass-0123456789")
    page.get_by_role("button", name="Sign in").click()
    # back where the sign-in was asked for
    expect(page.locator("#page-title")).to_have_text("Review inbox")
    expect(page).to_have_url(re.compile(r"#/review$"))
    expect(page.locator("#who")).to_contain_text("Signed in as rev")
    nav = page.get_by_role("navigation", name="Pages")
    expect(nav.get_by_role("link", name="Review inbox")).to_be_visible()
    # with the session cookie but without the token, the server refuses a change
    assert fetch_status(page, "./auth/logout", "POST") == 403
    before = len(guard.changes)
    page.locator("#who").get_by_role("button", name="Sign out").click()
    expect(page.locator("#who").get_by_role("link", name="Sign in")).to_be_visible()
    expect(nav.get_by_role("link", name="Review inbox")).to_be_hidden()
    assert browser_json(page, "./auth/me")["name"] is None
    sent = guard.changes[before:]
    assert [path for path, _ in sent] == ["/auth/logout"]
    assert all(headers.get("x-csrf-token") for _, headers in sent)
    login = [headers for path, headers in guard.changes if path == "/auth/login"]
    assert len(login) == 1


@pytest.mark.parametrize("route", ["login", "review", "dashboard"])
def test_the_new_pages_in_ukrainian(page: Page, server: Server, route: str) -> None:
    if route == "review":
        sign_in(page, server, "rev")
    page.goto(server.url + "/#/map")
    wait_for_map(page)
    page.get_by_label("Language").select_option("uk")
    expect(page.locator("html")).to_have_attribute("lang", "uk")
    wait_for_map(page)
    page.goto(f"{server.url}/#/{route}")
    title = {"login": "Вхід", "review": "Звіти на розгляд", "dashboard": "Панель показників"}[route]
    expect(page.locator("#page-title")).to_have_text(title)
    if route == "dashboard":
        expect(page.locator("#opened-table")).to_be_visible()
    assert_accessible(page)
    screenshot(page, f"{route}-uk")


# -- 2. the record page: work, and history for staff ----------------------------------------------


def test_the_record_page_shows_the_work_to_all_and_the_history_to_staff(
    page: Page, server: Server, worked_hazard: dict[str, Any]
) -> None:
    ref = worked_hazard["ref"]
    record = worked_hazard["record"]
    (activity,) = record["activities"]
    (outcome,) = record["outcomes"]
    (device,) = record["devices"]
    page.goto(f"{server.url}/#/records/{ref}")
    work = page.locator(".record-work")
    expect(work).to_contain_text(activity["ref"])
    expect(work).to_contain_text("Clearance")
    expect(work).to_contain_text(outcome["ref"])
    expect(work.locator("tr", has_text=device["ref"])).to_contain_text("Anti-personnel mine")
    expect(work.locator("tr", has_text=device["ref"])).to_contain_text("Destroyed in place")
    # the public gets no history: the server does not give it, and the page says who may see it
    assert "history" not in record
    expect(page.locator(".record-history")).to_contain_text("is for signed-in staff")
    expect(page.locator("ol.timeline")).to_have_count(0)
    wait_for_map(page)
    assert page.evaluate("() => window.clearlandRecord.overlayRefs('outcome')") == [outcome["ref"]]
    assert page.evaluate("() => window.clearlandRecord.overlayRefs('device')") == [device["ref"]]
    assert page.evaluate("() => window.clearlandRecord.view()") == "public"
    assert_accessible(page)
    screenshot(page, "record-work-public")

    sign_in(page, server, "rev")
    page.goto(f"{server.url}/#/records/{ref}")
    entries = page.locator("ol.timeline > li")
    staff = browser_json(page, f"./records/{ref}")
    history = staff["history"]
    assert worked_hazard["report"] in [e["report"] for e in history]
    expect(entries).to_have_count(len(history))
    assert entries.evaluate_all("items => items.map(i => Number(i.dataset.report))") == [
        e["report"] for e in history
    ]
    assert page.evaluate("() => window.clearlandRecord.historyReports()") == [e["report"] for e in history]
    assert page.evaluate("() => window.clearlandRecord.view()") == "restricted"
    worked = entries.filter(has_text=f"report {worked_hazard['report']} (activity report)")
    expect(worked.first).to_contain_text("by rev")
    expect(worked.first).to_contain_text("Being worked on")
    wait_for_map(page)
    assert_accessible(page)
    screenshot(page, "record-history")


# -- 3. the review inbox --------------------------------------------------------------------------

REVIEWED_NAME = "SYNTHETIC reviewed area"
REVIEWED_BOX = shapely.box(0.9, -0.62, 0.904, -0.616)  # at sea, apart from the demo areas


def _neighbour(server: Server) -> dict[str, Any]:
    found = server.get("/collections/hazard-areas/items", limit=10000, marking="none")["features"]
    return next(f for f in found if f["properties"]["name"] != CROSSING_NAME)


def test_a_reviewer_approves_a_report_and_the_map_changes(page: Page, server: Server, tmp_path: Path) -> None:
    existing = _neighbour(server)
    document = {
        "type": "hazard_report",
        "date_of_information": "2026-03-01",
        "organisation": "SYNTHETIC Survey Team",
        "description": "SYNTHETIC: a farmer reported AP mines by the old road",
        "hazard_areas": [
            {
                "set": {
                    "category": "SHA",
                    "hazard_types": ["ap_mine"],
                    "name": REVIEWED_NAME,
                    "marking": "none",
                    "evidence_type": "indirect",
                },
                "geometry": shapely.geometry.mapping(REVIEWED_BOX),
            },
            {"ref": existing["id"], "set": {"marking": "fenced"}},
        ],
    }
    report = submit_report(server.db, "sur", document, tmp_path)
    minx, miny, maxx, maxy = REVIEWED_BOX.bounds
    there = f"{minx - 0.003:.6f},{miny - 0.003:.6f},{maxx + 0.003:.6f},{maxy + 0.003:.6f}"

    sign_in(page, server, "rev")
    page.goto(f"{server.url}/#/map?bbox={there}")
    wait_for_map(page)
    assert page.evaluate("() => window.clearlandMap.renderedFeatureRefs()") == []

    page.get_by_role("navigation", name="Pages").get_by_role("link", name="Review inbox").click()
    row = page.locator(f'tr[data-report="{report}"]')
    expect(row).to_contain_text("hazard report")
    expect(row).to_contain_text("sur")
    assert_accessible(page)
    screenshot(page, "review-inbox")
    row.get_by_role("link", name=f"Report {report}").click()
    expect(page.locator("#page-title")).to_have_text(f"Report {report}")
    changes = page.locator("table.changes")
    marking = changes.locator(f'tr[data-ref="{existing["id"]}"][data-field="marking"]')
    expect(marking.locator("td.before")).to_have_text("Not marked")
    expect(marking.locator("td.after")).to_have_text("Fenced")
    category = changes.locator('tr[data-field="category"]')
    expect(category.locator("td.before")).to_have_text("—")
    expect(category.locator("td.after")).to_have_text("Suspected hazardous area (SHA)")
    expect(changes.locator('tr[data-field="geometry"]')).to_contain_text("ha")
    wait_for_map(page)
    assert page.evaluate("() => window.clearlandReview.etag()") == f'"report-{report}-submitted"'
    # the new area's shape, from GET /reports/{id}, drawn on the report's map as it would be
    (new,) = [
        c for c in page.evaluate("() => window.clearlandReview.report().changes") if c["action"] == "create"
    ]
    assert shapely.geometry.shape(new["geometry"]["after"]).equals(REVIEWED_BOX)
    assert new["geometry"]["before"] is None
    assert page.evaluate("() => window.clearlandReview.drawnRefs('after')") == [new["ref"]]
    assert page.evaluate("() => window.clearlandReview.drawnRefs('before')") == []
    assert_accessible(page)
    screenshot(page, "review-report")

    page.get_by_label("Reason").fill("SYNTHETIC: evidence checked")
    page.get_by_role("button", name="Approve").click()
    outcome = page.locator(".decision-outcome")
    expect(outcome).to_contain_text(f"Report {report} approved: 2 record(s) changed")
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)
    (created,) = server.get("/collections/hazard-areas/items", name=REVIEWED_NAME)["features"]
    revision = server.get("/")["registry"]["revision"]
    expect(page.locator("#registry-status")).to_contain_text(f"(revision {revision})")
    assert (
        server.get(f"/collections/hazard-areas/items/{existing['id']}")["properties"]["marking"] == "fenced"
    )

    outcome.get_by_role("link", name="Show the change on the main map").click()
    wait_for_map(page)
    page.wait_for_function(
        "ref => window.clearlandMap.renderedFeatureRefs().includes(ref)", arg=created["id"], timeout=10_000
    )
    screenshot(page, "review-approved-map")


def test_a_decision_made_meanwhile_is_a_clear_409_and_the_report_reloads(
    page: Page, server: Server, tmp_path: Path
) -> None:
    existing = _neighbour(server)
    document = {
        "type": "hazard_report",
        "date_of_information": "2026-03-02",
        "hazard_areas": [{"ref": existing["id"], "set": {"marking": "signs"}}],
    }
    report = submit_report(server.db, "sur", document, tmp_path)
    sign_in(page, server, "rev")
    page.goto(f"{server.url}/#/review/{report}")
    expect(page.get_by_role("button", name="Reject")).to_be_visible()
    approve_report(server.db, "rev", report)  # another reviewer, meanwhile
    page.get_by_label("Reason").fill("SYNTHETIC: duplicate")
    page.get_by_role("button", name="Reject").click()
    alert = page.locator(".decision-outcome [role=alert]")
    expect(alert).to_contain_text("Not done:")
    expect(alert).to_contain_text("approved")
    expect(alert).to_contain_text("The report has been reloaded")
    expect(page.locator("dl.facts")).to_contain_text("approved")
    expect(page.get_by_role("button", name="Reject")).to_have_count(0)
    expect(page.locator("main")).to_contain_text("This report has been decided (approved)")
    assert server.get(f"/collections/hazard-areas/items/{existing['id']}")["properties"]["marking"] == "signs"


# -- 4. the dashboard -----------------------------------------------------------------------------


def month_ends(last: str, count: int) -> list[tuple[str, str]]:
    year, month = (int(x) for x in last.split("-"))
    out = []
    for i in range(count, -1, -1):
        y, m = divmod(year * 12 + month - 1 - i, 12)
        first = dt.date(y, m + 1, 1)
        end = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
        out.append((first.isoformat()[:7], end.isoformat()))
    return out


def test_the_dashboard_shows_the_numbers_of_the_statistics_api(
    page: Page, server: Server, worked_hazard: dict[str, Any]
) -> None:
    page.goto(server.url + "/#/dashboard")
    expect(page.locator("#page-title")).to_have_text("Dashboard")
    expect(page.locator("#opened-table")).to_be_visible()
    totals = server.get("/stats")
    by_area = server.get("/stats", by="admin-area")
    release = server.get("/stats/release", by="month")

    admin_rows = page.locator("#admin-table tbody tr")
    expect(admin_rows).to_have_count(len(by_area["groups"]))
    for name, group in by_area["groups"].items():
        expected = [group["count"], group["area_m2_sum"], group["area_m2_net"], group["remaining_m2_net"]]
        assert cell_values(page, "#admin-table", name) == pytest.approx(expected)
    # what remains, per admin area, adds up to what remains nationally (the areas do not overlap)
    remaining = sum(g["remaining_m2_net"] for g in by_area["groups"].values())
    assert remaining == pytest.approx(totals["remaining_m2_net"], rel=1e-6)
    assert remaining < sum(g["area_m2_net"] for g in by_area["groups"].values())  # land was cleared
    busiest = max(by_area["groups"], key=lambda n: by_area["groups"][n]["count"])
    count_cell = page.locator(f'#admin-table tr[data-key="{busiest}"] td').first
    expect(count_cell).to_have_text(str(by_area["groups"][busiest]["count"]))

    assert release["groups"], "the worked hazard released land"
    expect(page.locator("#release-table tbody tr")).to_have_count(len(release["groups"]))
    for month, kinds in release["groups"].items():
        expected = [kinds["cancelled"], kinds["reduced"], kinds["cleared"], kinds["total"]]
        assert cell_values(page, "#release-table", month) == pytest.approx(expected)
    devices = release["devices_destroyed"]
    assert devices["total"].get("ap_mine", 0) >= 2
    for month, counts in devices["groups"].items():
        assert cell_values(page, "#devices-table", month) == [
            float(counts.get(c, 0)) for c in devices["total"]
        ]

    # opened and closed per month: exact, from the registry's history (GET /stats/release)
    last = (totals["latest_information"] or dt.date.today().isoformat())[:7]
    events = release["hazard_areas"]["groups"]
    months = [month for month, _ in month_ends(last, 12)[1:]]
    expect(page.locator("#opened-table tbody tr")).to_have_count(12)
    for month in months:
        shown = events.get(month, {"opened": 0, "closed": 0})
        assert cell_values(page, "#opened-table", month) == [shown["opened"], shown["closed"]]
    # every hazard area the registry holds was opened once, in one of these months (the demo's and
    # the test's reports are all of 2026)
    opened = sum(cell_values(page, "#opened-table", m)[0] for m in months)
    assert opened == release["hazard_areas"]["total"]["opened"] == totals["count"]

    shown_totals = page.locator("dl.dash-totals [data-value]").evaluate_all(
        "s => s.map(x => Number(x.dataset.value))"
    )
    assert shown_totals == pytest.approx(
        [totals["count"], totals["area_m2_net"], totals["remaining_m2_net"], release["released_m2"]["total"]]
    )
    # the charts are drawn, as SVG made here, one bar per value above zero
    assert page.locator("svg.chart").count() == 4
    assert page.locator("#release-title ~ svg rect").count() >= 1
    assert_accessible(page)
    screenshot(page, "dashboard")
    assert (
        httpx.get(server.url + "/stats/release", params={"by": "month"}).json()["groups"] == release["groups"]
    )
