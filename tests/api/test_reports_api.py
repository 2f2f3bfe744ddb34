"""Reports, review, records and statistics over HTTP, through the real app on a copy of the API
tests' registry: submitting (and refusing bad documents whole), listing and reading reports with
their ETag, approving, rejecting, unapproving, the 409 rules, who sees which fields of a record,
public statistics, and the audit of every write."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from apidata import (
    SECRET_EVIDENCE,
    SECRET_MINEFIELD_REF,
    SECRET_ORGANISATION,
    SECRETS,
    built_registry,
    settings_for,
)
from fastapi.testclient import TestClient
from openapi_schema_validator import OAS30Validator
from reportdata import People, audit_rows, hazard_report, last_audit_id, make_people, row_counts

from clearland.api.app import create_app

BASE = "https://testserver"  # the session cookie is Secure: sent over HTTPS only
PROBLEM_KEYS = {"type", "title", "status", "detail", "errors"}


@pytest.fixture
def people(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> People:
    return make_people(tmp_path, built_registry(tmp_path_factory))


@pytest.fixture
def client(people: People) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(people.db)), base_url=BASE) as client:
        yield client


@pytest.fixture(scope="module")
def public_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The read-only tests share one app, on a copy of the registry with the users added."""
    folder = tmp_path_factory.mktemp("reports-api-read")
    people = make_people(folder, built_registry(tmp_path_factory))
    with TestClient(create_app(settings_for(people.db)), base_url=BASE) as client:
        client.people = people  # type: ignore[attr-defined]
        yield client


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert set(body) == PROBLEM_KEYS and body["status"] == status and body["detail"]
    return body


def matches_schema(client: TestClient, path: str, method: str, status: int, body: Any) -> None:
    document = client.get("/openapi.json").json()
    content = document["paths"][path][method]["responses"][str(status)]["content"]
    schema = next(iter(content.values()))["schema"]
    OAS30Validator({**schema, "components": document["components"]}).validate(body)


def submit(client: TestClient, people: People, document: dict[str, Any], who: str = "ana") -> dict[str, Any]:
    response = client.post("/reports", json=document, headers=people.bearer(who))
    assert response.status_code == 201, response.text
    return dict(response.json())


# -- submitting --------------------------------------------------------------------------------


def test_a_submitted_report_is_stored_and_shown_as_the_cli_shows_it(client, people):
    before = row_counts(people.db)
    response = client.post("/reports", json=hazard_report(), headers=people.bearer("ana"))
    assert response.status_code == 201, response.text
    matches_schema(client, "/reports", "post", 201, response.json())
    report = response.json()["report"]
    assert response.headers["location"] == f"/reports/{report}"
    assert response.headers["etag"] == f'"report-{report}-submitted"'
    after = row_counts(people.db)
    assert (
        after["reports"] == before["reports"] + 1 and after["report_changes"] == before["report_changes"] + 1
    )
    assert after["hazard_areas"] == before["hazard_areas"]  # nothing public until approved

    shown = client.get(f"/reports/{report}", headers=people.bearer("rev"))
    assert shown.status_code == 200
    matches_schema(client, "/reports/{report_id}", "get", 200, shown.json())
    body = shown.json()
    assert (
        body["status"] == "submitted"
        and body["created_by"] == "ana"
        and body["source_name"] == "request body"
    )
    assert body["summary"] == {"create": 1, "update": 0, "no_change": 0}
    assert body["changes"][0]["fields"]["name"] == {"before": None, "after": "Tuzla orchard"}
    assert shown.headers["etag"] == response.headers["etag"]

    listed = client.get("/reports", params={"status": "submitted"}, headers=people.bearer("ana"))
    assert listed.status_code == 200
    matches_schema(client, "/reports", "get", 200, listed.json())
    assert [r["id"] for r in listed.json()] == [report]
    typed = client.get("/reports", params={"type": "activity_report"}, headers=people.bearer("rev")).json()
    assert typed and {r["type"] for r in typed} == {"activity_report"}
    assert_problem(client.get("/reports", params={"status": "pending"}, headers=people.bearer("rev")), 400)
    assert_problem(client.get(f"/reports/{report}"), 401)
    assert_problem(client.get("/reports/999999", headers=people.bearer("rev")), 404)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d["hazard_areas"][0]["set"].pop("category"), "hazard_areas[0].set.category"),
        (lambda d: d["hazard_areas"][0]["set"].update(marking="painted"), "hazard_areas[0].set.marking"),
        (lambda d: d["hazard_areas"][0]["set"].update(colour="red"), "hazard_areas[0].set.colour"),
        (lambda d: d["hazard_areas"][0].pop("geometry"), "hazard_areas[0].geometry"),
        (lambda d: d["hazard_areas"][0].update(ref="HA-999999"), "hazard_areas[0].ref"),
        (lambda d: d.update(date_of_information="yesterday"), "date_of_information"),
        (lambda d: d.update(type="rumour"), "type"),
        (lambda d: d.update(weather="fine"), "weather"),
    ],
)
def test_a_bad_document_names_the_field_and_stores_nothing(client, people, change, field):
    document = copy.deepcopy(hazard_report())
    change(document)
    before = row_counts(people.db)
    body = assert_problem(client.post("/reports", json=document, headers=people.bearer("ana")), 400)
    assert field in {e.get("field") for e in body["errors"]}, body
    assert "nothing was submitted" in body["detail"] or field == "type"
    assert row_counts(people.db) == before


@pytest.mark.parametrize(
    ("content", "media_type"),
    [(b"{not json", "application/json"), (b"[1, 2]", "application/json"), (b"type=x", "text/plain")],
)
def test_a_body_that_is_no_json_object_is_400(client, people, content, media_type):
    before = row_counts(people.db)
    headers = {**people.bearer("ana"), "content-type": media_type}
    body = assert_problem(client.post("/reports", content=content, headers=headers), 400)
    assert body["errors"][0]["parameter"] == "body"
    assert row_counts(people.db) == before


def test_anonymous_and_unentitled_callers_cannot_submit(client, people):
    before = row_counts(people.db)
    anonymous = client.post("/reports", json=hazard_report())
    body = assert_problem(anonymous, 401)
    assert anonymous.headers["www-authenticate"] == 'Bearer realm="clearland"'
    assert body["type"] == "urn:clearland:problem:unauthenticated"
    assert_problem(
        client.post("/reports", json=hazard_report(), headers={"Authorization": "Bearer cl_x"}), 401
    )
    assert row_counts(people.db) == before


def test_a_session_needs_its_csrf_token_to_submit(client, people, tmp_path):
    from clearland.services import users
    from clearland.services.registry import open_registry
    from clearland.settings import Settings

    registry = open_registry(Settings(), db=people.db)
    try:
        users.set_password(registry, "ana", "surveyor password 77")
    finally:
        registry.close()
    login = client.post("/auth/login", json={"name": "ana", "password": "surveyor password 77"})
    assert login.status_code == 200, login.text
    before = row_counts(people.db)
    assert_problem(client.post("/reports", json=hazard_report()), 403)
    assert row_counts(people.db) == before
    sent = client.post("/reports", json=hazard_report(), headers={"X-CSRF-Token": login.json()["csrf_token"]})
    assert sent.status_code == 201, sent.text


# -- deciding ----------------------------------------------------------------------------------


def test_reject_with_a_reason_then_no_second_decision(client, people):
    report = submit(client, people, hazard_report())["report"]
    etag = client.get(f"/reports/{report}", headers=people.bearer("rev")).headers["etag"]
    assert_problem(
        client.post(f"/reports/{report}/reject", json={"reason": "x"}, headers=people.bearer("ana")), 403
    )
    rejected = client.post(
        f"/reports/{report}/reject",
        json={"reason": "the farmer's field is already HA-000013"},
        headers={**people.bearer("rev"), "If-Match": etag},
    )
    assert rejected.status_code == 200, rejected.text
    matches_schema(client, "/reports/{report_id}/reject", "post", 200, rejected.json())
    assert rejected.json() == {"report": report, "status": "rejected"}
    shown = client.get(f"/reports/{report}", headers=people.bearer("ana"))
    assert shown.json()["reason"] == "the farmer's field is already HA-000013"
    assert shown.json()["decided_by"] == "rev"
    assert shown.headers["etag"] == f'"report-{report}-rejected"' != etag
    body = assert_problem(client.post(f"/reports/{report}/approve", headers=people.bearer("rev2")), 409)
    assert f"report {report}" in body["detail"] and "rejected" in body["detail"]
    body = assert_problem(
        client.post(f"/reports/{report}/approve", headers={**people.bearer("rev2"), "If-Match": etag}), 409
    )
    assert body["type"] == "urn:clearland:problem:conflict"
    assert body["errors"] == [{"report": report, "status": "rejected", "expected": "submitted"}]


def test_if_match_must_be_this_reports_etag(client, people):
    report = submit(client, people, hazard_report())["report"]
    for bad in ("nonsense", '"report-1-submitted"', "report-x"):
        body = assert_problem(
            client.post(f"/reports/{report}/approve", headers={**people.bearer("rev"), "If-Match": bad}), 400
        )
        assert body["errors"][0]["parameter"] == "If-Match"
    assert client.get(f"/reports/{report}", headers=people.bearer("rev")).json()["status"] == "submitted"
    star = client.post(f"/reports/{report}/approve", headers={**people.bearer("rev"), "If-Match": "*"})
    assert star.status_code == 200, star.text


def test_unapprove_is_for_admins_needs_a_reason_and_withdraws_the_area(client, people):
    submitted = submit(client, people, hazard_report(name="Withdrawn orchard"))
    report, ref = submitted["report"], submitted["records"][0]
    approved = client.post(f"/reports/{report}/approve", headers=people.bearer("rev"))
    assert approved.status_code == 200, approved.text
    assert client.get(f"/collections/hazard-areas/items/{ref}").status_code == 200
    etag = client.get(f"/reports/{report}", headers=people.bearer("root")).headers["etag"]

    assert_problem(client.post(f"/reports/{report}/unapprove", json={"reason": "x"}), 401)
    assert_problem(
        client.post(f"/reports/{report}/unapprove", json={"reason": "x"}, headers=people.bearer("rev")), 403
    )
    for body in ({}, {"reason": "  "}, {"reason": 3}, {"reason": "x", "why": "y"}):
        problem = assert_problem(
            client.post(f"/reports/{report}/unapprove", json=body, headers=people.bearer("root")), 400
        )
        assert problem["errors"][0]["parameter"].startswith("body.")
    unapproved = client.post(
        f"/reports/{report}/unapprove",
        json={"reason": "reported twice"},
        headers={**people.bearer("root"), "If-Match": etag},
    )
    assert unapproved.status_code == 200, unapproved.text
    assert unapproved.json()["status"] == "unapproved" and unapproved.json()["records_withdrawn"] == 1
    assert_problem(client.get(f"/collections/hazard-areas/items/{ref}"), 404)
    assert_problem(client.get(f"/records/{ref}"), 404)
    again = client.post(
        f"/reports/{report}/unapprove", json={"reason": "again"}, headers=people.bearer("root")
    )
    assert "unapproved" in assert_problem(again, 409)["detail"]


def test_an_approval_conflict_is_409_with_each_conflict(client, people):
    document = {
        "type": "hazard_report",
        "date_of_information": "2026-05-01",
        "hazard_areas": [{"ref": "HA-000013", "set": {"marking": "fenced"}}],
    }
    first = submit(client, people, document)["report"]
    other = copy.deepcopy(document)
    other["hazard_areas"][0]["set"]["marking"] = "signs"
    second = submit(client, people, other)["report"]
    assert client.post(f"/reports/{first}/approve", headers=people.bearer("rev")).status_code == 200
    before = row_counts(people.db)
    body = assert_problem(client.post(f"/reports/{second}/approve", headers=people.bearer("rev")), 409)
    assert body["type"] == "urn:clearland:problem:conflict"
    assert body["errors"] and all(e["report"] == first for e in body["errors"]), body
    assert row_counts(people.db) == before  # all or nothing
    assert client.get(f"/reports/{second}", headers=people.bearer("rev")).json()["status"] == "submitted"


def test_every_http_write_is_audited_as_coming_over_http(client, people):
    start = last_audit_id(people.db)
    one = submit(client, people, hazard_report(name="One"))["report"]
    two = submit(client, people, hazard_report(name="Two", date="2026-04-02"))["report"]
    assert client.post(f"/reports/{one}/approve", headers=people.bearer("rev")).status_code == 200
    assert client.post(f"/reports/{two}/reject", headers=people.bearer("rev2")).status_code == 200
    unapprove = client.post(f"/reports/{one}/unapprove", json={"reason": "r"}, headers=people.bearer("root"))
    assert unapprove.status_code == 200
    assert_problem(client.post(f"/reports/{two}/approve", headers=people.bearer("rev")), 409)  # no write
    assert audit_rows(people.db, start) == [
        ("ana", "report.submit", f"report {one}", "http"),
        ("ana", "report.submit", f"report {two}", "http"),
        ("rev", "report.approve", f"report {one}", "http"),
        ("rev2", "report.reject", f"report {two}", "http"),
        ("root", "report.unapprove", f"report {one}", "http"),
    ]


def test_an_activity_report_shows_the_transitions_approval_would_make(client, people):
    document = {
        "type": "activity_report",
        "activity_type": "nts",
        "date_of_information": "2026-04-10",
        "hazard_areas": ["HA-000014"],
        "outcomes": [{"kind": "cancelled", "geometry": hazard_geometry(client, "HA-000014")}],
    }
    report = submit(client, people, document)["report"]
    shown = client.get(f"/reports/{report}", headers=people.bearer("rev")).json()
    assert [t["ref"] for t in shown["transitions"]] == ["HA-000014"]
    assert shown["transitions"][0]["to"]["status"] == "closed"
    assert client.post(f"/reports/{report}/approve", headers=people.bearer("rev")).status_code == 200
    assert client.get("/records/HA-000014").json()["status"] == "closed"


def hazard_geometry(client: TestClient, ref: str) -> dict[str, Any]:
    return dict(client.get(f"/collections/hazard-areas/items/{ref}").json()["geometry"])


# -- records -----------------------------------------------------------------------------------


def test_the_public_sees_public_fields_and_no_history(public_client):
    response = public_client.get("/records/HA-000001")
    assert response.status_code == 200, response.text
    matches_schema(public_client, "/records/{ref}", "get", 200, response.json())
    body = response.json()
    assert body["view"] == "public" and body["ref"] == "HA-000001" and body["status"] == "worked_on"
    assert "history" not in body
    assert all(secret not in response.text for secret in SECRETS)
    for hidden in ("evidence_type", "organisation", "priority", "source_id", "remaining_geometry"):
        assert hidden not in body
    assert [o["ref"] for o in body["outcomes"]] == ["OUT-000001"]
    assert "organisation" not in body["outcomes"][0] and "source_id" not in body["outcomes"][0]
    assert body["activities"][0]["ref"] == "ACT-000001"
    assert "new_evidence" not in body["activities"][0] and "description" not in body["activities"][0]
    assert body["geometry"]["type"] == "Polygon"
    for number in range(1, 17):
        every = public_client.get(f"/records/HA-{number:06d}")
        assert every.status_code == 200 and "history" not in every.json()
        assert all(secret not in every.text for secret in SECRETS), number
    # a user without a staff role sees what the public sees
    victim = public_client.get("/records/HA-000001", headers=public_client.people.bearer("vic"))
    assert victim.json() == body


def test_staff_see_every_field_and_the_history_the_custodian_the_minefield_link(public_client):
    people = public_client.people
    reviewer = public_client.get("/records/HA-000001", headers=people.bearer("rev"))
    assert reviewer.status_code == 200
    matches_schema(public_client, "/records/{ref}", "get", 200, reviewer.json())
    body = reviewer.json()
    assert body["view"] == "restricted"
    assert body["evidence_description"] == SECRET_EVIDENCE and body["organisation"] == SECRET_ORGANISATION
    assert body["remaining_geometry"]["type"] == "Polygon"
    assert [h["report"] for h in body["history"]] == [1, 3, 3]
    assert body["history"][0]["values"]["evidence_description"] == SECRET_EVIDENCE
    assert "minefield_record_ref" not in body and SECRET_MINEFIELD_REF not in reviewer.text
    custodian = public_client.get("/records/HA-000001", headers=people.bearer("cus")).json()
    assert custodian["minefield_record_ref"] == SECRET_MINEFIELD_REF
    assert custodian["history"][0]["values"]["minefield_record_ref"] == SECRET_MINEFIELD_REF


def test_a_record_as_of_a_date(public_client):
    then = public_client.get("/records/HA-000001", params={"as_of": "2026-02-01"}).json()
    assert then["status"] == "open" and then["as_of"] == "2026-02-01"
    assert_problem(public_client.get("/records/HA-000013", params={"as_of": "2026-01-31"}), 404)
    body = assert_problem(public_client.get("/records/HA-000001", params={"as_of": "soon"}), 400)
    assert body["errors"][0]["parameter"] == "as_of"
    assert_problem(public_client.get("/records/HA-000001", params={"history": "yes"}), 400)


def test_other_record_kinds_and_unknown_refs(public_client):
    people = public_client.people
    outcome = public_client.get("/records/OUT-000001").json()
    assert outcome["record_type"] == "outcome" and outcome["kind"] == "reduced"
    assert "organisation" not in outcome and outcome["hazard_ref"] == "HA-000001"
    assert assert_problem(public_client.get("/records/HA-999999"), 404)["detail"]
    assert_problem(public_client.get("/records/nothing-like-a-ref"), 404)
    assert_problem(public_client.get("/records/MFR-000001"), 401)
    assert_problem(public_client.get("/records/MFR-000001", headers=people.bearer("rev")), 403)
    assert_problem(public_client.get("/records/MFR-000001", headers=people.bearer("cus")), 404)


# -- statistics --------------------------------------------------------------------------------


def test_statistics_are_public_totals(public_client):
    response = public_client.get("/stats")
    assert response.status_code == 200, response.text
    matches_schema(public_client, "/stats", "get", 200, response.json())
    body = response.json()
    assert body["count"] == 16 and body["area_m2_net"] > 0 and body["released_m2"]["reduced"] > 0
    by = public_client.get("/stats", params={"by": "category"}).json()
    assert sum(g["count"] for g in by["groups"].values()) == 16
    assert set(by["groups"]) == {"CHA", "SHA", "indication"}
    before = public_client.get("/stats", params={"as_of": "2026-01-31"}).json()
    assert before["count"] == 12 and before["as_of"] == "2026-01-31"
    body = assert_problem(public_client.get("/stats", params={"by": "colour"}), 400)
    assert body["errors"][0]["parameter"] == "by"
    assert (
        "admin areas"
        in assert_problem(public_client.get("/stats", params={"by": "admin-area"}), 409)["detail"]
    )
    assert all(secret not in response.text + str(by) for secret in SECRETS)


def test_release_statistics_per_month(public_client):
    response = public_client.get("/stats/release")
    assert response.status_code == 200, response.text
    matches_schema(public_client, "/stats/release", "get", 200, response.json())
    body = response.json()
    assert body["by"] == "month" and set(body["groups"]) == {"2026-03"}
    assert body["groups"]["2026-03"]["reduced"] == pytest.approx(body["released_m2"]["reduced"])
    assert_problem(public_client.get("/stats/release", params={"by": "outcome"}), 400)
    assert_problem(public_client.get("/stats/release", params={"by": "admin-area"}), 409)
