"""``services.features``: the parameters of an items request, and the catalogue's cache
following the registry's revision."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import shapely

from clearland.errors import InputError, UnknownRecord
from clearland.services import features, review
from clearland.services.features import Catalogue, ItemsQuery, parse_bbox, parse_interval
from clearland.services.submissions import submit_report_file

D = dt.date


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-01", (D(2026, 3, 1), D(2026, 3, 1))),
        ("2026-03-01T23:30:00-02:00", (D(2026, 3, 2), D(2026, 3, 2))),  # its UTC date
        ("2026-03-01T10:00:00Z", (D(2026, 3, 1), D(2026, 3, 1))),
        ("2026-01-01/2026-03-31", (D(2026, 1, 1), D(2026, 3, 31))),
        ("../2026-03-31", (None, D(2026, 3, 31))),
        ("2026-01-01/..", (D(2026, 1, 1), None)),
        ("2026-01-01/", (D(2026, 1, 1), None)),
        ("../..", (None, None)),
    ],
)
def test_datetime_instants_and_intervals(text, expected):
    assert parse_interval(text) == expected


@pytest.mark.parametrize("text", ["", "..", "2026-02-30", "2026-03-01/2026-02-01", "a/b/c", "today"])
def test_datetime_that_is_not_one(text):
    with pytest.raises(ValueError):
        parse_interval(text)


def test_bbox_forms():
    assert parse_bbox("18.1,44.7,18.2,44.8") == (18.1, 44.7, 18.2, 44.8)
    assert parse_bbox("18.1,44.7,-5,18.2,44.8,5") == (18.1, 44.7, 18.2, 44.8)
    assert parse_bbox("170,-10,-170,10") == (170, -10, -170, 10)  # across the antimeridian
    for bad in ("1,2,3", "1,2,3,4,5", "x,2,3,4", "1,2,3,inf", "-181,0,0,1", "0,-91,1,0", "0,10,1,5"):
        with pytest.raises(ValueError):
            parse_bbox(bad)


def test_items_query_collects_every_problem_and_never_echoes_a_restricted_name():
    with pytest.raises(InputError) as caught:
        features.parse_items_query(
            "hazard-areas",
            [
                ("limit", "0"),
                ("limit", "5"),
                ("priority", "high"),
                ("minefield_record_ref", "x"),
                ("zoom", "3"),
            ],
        )
    problems = caught.value.detail
    assert [p["parameter"] for p in problems] == ["limit", "zoom", None, "limit"]
    assert "minefield_record_ref" not in str(problems) and "priority" not in str(problems)
    assert "2 unknown parameter(s)" in str(problems)


def test_items_query_parses_filters_by_their_vocabulary():
    query = features.parse_items_query(
        "hazard-areas",
        [("category", "suspected hazardous area"), ("hazard_types", "APM"), ("limit", "99999")],
    )
    assert query == ItemsQuery(limit=features.MAX_LIMIT, where={"category": "SHA", "hazard_types": "ap_mine"})
    with pytest.raises(UnknownRecord):
        features.parse_items_query("minefields", [])


def test_the_catalogue_follows_the_registry_revision(registry, tmp_path):
    catalogue = Catalogue(registry)
    assert catalogue.items("hazard-areas", ItemsQuery()).number_matched == 0
    assert catalogue.extent("hazard-areas").bbox is None
    report = tmp_path / "report.json"
    report.write_text(
        json.dumps(
            {
                "type": "hazard_report",
                "date_of_information": "2026-05-01",
                "description": "new report",
                "hazard_areas": [
                    {
                        "set": {"category": "SHA"},
                        "geometry": shapely.geometry.mapping(shapely.box(20.0, 42.0, 20.01, 42.01)),
                    }
                ],
            }
        ),
        encoding="utf-8",
    )
    submitted = submit_report_file(registry, report)
    assert catalogue.items("hazard-areas", ItemsQuery()).number_matched == 0  # submitted, not approved
    review.approve_report(registry, submitted["report"])
    page = catalogue.items("hazard-areas", ItemsQuery())
    assert [f.id for f in page.features] == ["HA-000001"]
    assert catalogue.extent("hazard-areas").bbox == pytest.approx((20.0, 42.0, 20.01, 42.01))
    assert catalogue.items("hazard-areas", ItemsQuery(as_of=D(2026, 4, 30))).number_matched == 0
