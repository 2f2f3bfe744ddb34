"""The review workflow on a real SQLite registry."""

from __future__ import annotations

import datetime as dt

import pytest

from clearland.domain.vocab import Role
from clearland.errors import PermissionDenied, StateError
from clearland.services import queries, review
from clearland.services.imports import ImportOptions, import_file
from clearland.services.registry import Registry, add_user
from conftest import make_hazard_feature, reference_area_m2, square, write_geojson

D1, D2 = dt.date(2024, 1, 10), dt.date(2024, 2, 10)


def as_user(registry: Registry, name: str) -> Registry:
    return Registry(store=registry.store, settings=registry.settings, user_name=name)


@pytest.fixture
def team(registry):
    add_user(registry, "surveyor", [Role.SURVEYOR.value])
    add_user(registry, "reviewer", [Role.REVIEWER.value])
    return registry


def test_submitted_import_waits_then_approval_lands_it(team, tmp_path):
    path = write_geojson(tmp_path / "a.geojson", [make_hazard_feature(square(17, 44), id="s1", name="Njiva")])
    submitted = import_file(as_user(team, "surveyor"), path, ImportOptions(date_of_information=D1))
    assert submitted["status"] == "submitted" and queries.records(team) == []
    (listed,) = review.list_reports(team, status="submitted")
    assert listed["id"] == submitted["report"] and listed["records"] == 1
    assert listed["created_by"] == "surveyor"
    shown = review.show_report(team, submitted["report"])
    assert shown["summary"] == {"create": 1, "update": 0, "no_change": 0}
    assert shown["changes"][0]["fields"]["name"] == {"before": None, "after": "Njiva"}
    assert shown["changes"][0]["geometry"]["area_m2_after"] == pytest.approx(
        reference_area_m2(square(17, 44))
    )

    with pytest.raises(PermissionDenied):
        review.approve_report(as_user(team, "surveyor"), submitted["report"])
    review.approve_report(as_user(team, "reviewer"), submitted["report"])
    (record,) = queries.records(team)
    assert record["name"] == "Njiva"
    with pytest.raises(StateError, match="the report is approved; it cannot be approved"):
        review.approve_report(as_user(team, "reviewer"), submitted["report"])


def test_rejected_report_changes_nothing(team, tmp_path):
    path = write_geojson(tmp_path / "a.geojson", [make_hazard_feature(square(17, 44), id="s1")])
    submitted = import_file(as_user(team, "surveyor"), path, ImportOptions())
    review.reject_report(as_user(team, "reviewer"), submitted["report"], "wrong district")
    assert queries.records(team) == []
    (item,) = review.list_reports(team)
    assert item["status"] == "rejected" and item["reason"] == "wrong district"
    with pytest.raises(StateError):
        review.approve_report(as_user(team, "reviewer"), submitted["report"])


def test_unapprove_rebuilds_from_the_remaining_reports(team, tmp_path):
    v1 = write_geojson(tmp_path / "v1.geojson", [make_hazard_feature(square(17, 44), id="k", status="open")])
    v2 = write_geojson(
        tmp_path / "v2.geojson",
        [
            make_hazard_feature(square(17, 44), id="k", status="worked_on"),
            make_hazard_feature(square(18, 44), id="only-in-v2"),
        ],
    )
    import_file(team, v1, ImportOptions(date_of_information=D1))
    second = import_file(team, v2, ImportOptions(date_of_information=D2))
    assert {r["status"] for r in queries.records(team)} == {"worked_on", "open"}
    with pytest.raises(PermissionDenied):
        review.unapprove_report(as_user(team, "reviewer"), second["report"], "duplicate")
    result = review.unapprove_report(team, second["report"], "entered twice")
    assert result["records_rebuilt"] == 1 and result["records_withdrawn"] == 1
    (left,) = queries.records(team)
    assert left["source_id"] == "k" and left["status"] == "open"
    history = queries.record(team, left["ref"], history=True)["history"]
    assert [h["status"] for h in history] == ["approved", "unapproved"]
