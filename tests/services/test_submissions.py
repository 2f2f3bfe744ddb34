"""Report files submitted for review: checked whole, nothing stored on any error."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from clearland.domain.vocab import Role
from clearland.errors import InputFileError, ValidationFailed
from clearland.io.report_files import report_schema
from clearland.services import queries, review
from clearland.services.imports import ImportOptions, import_file
from clearland.services.registry import add_user
from clearland.services.submissions import submit_report_file
from conftest import make_hazard_feature, square, write_geojson

POLY = {
    "type": "Polygon",
    "coordinates": [[[17.8, 43.85], [17.81, 43.85], [17.81, 43.86], [17.8, 43.86], [17.8, 43.85]]],
}


def write_report(path: Path, **overrides) -> Path:
    report = {
        "type": "hazard_report",
        "date_of_information": "2026-03-01",
        "organisation": "Example Operator",
        "hazard_areas": [
            {"set": {"category": "SHA", "hazard_types": ["ap_mine"], "name": "Checkpoint"}, "geometry": POLY}
        ],
    }
    report.update(overrides)
    path.write_text(json.dumps(report), encoding="utf-8")
    return path


@pytest.fixture
def seeded(registry, tmp_path):
    seed = write_geojson(tmp_path / "seed.geojson", [make_hazard_feature(square(17, 44), id="seed")])
    import_file(registry, seed, ImportOptions(date_of_information=dt.date(2025, 1, 1)))
    add_user(registry, "rev", [Role.REVIEWER.value])
    return registry


def test_submit_then_approve_creates_and_updates(seeded, tmp_path):
    path = write_report(
        tmp_path / "r.json",
        hazard_areas=[
            {"set": {"category": "SHA", "hazard_types": "AP mine", "name": "Checkpoint"}, "geometry": POLY},
            {"ref": "HA-000001", "set": {"marking": "fenced", "priority": "high"}},
        ],
    )
    result = submit_report_file(seeded, path)
    assert result["status"] == "submitted" and result["records"] == ["HA-000002", "HA-000001"]
    assert len(queries.records(seeded)) == 1  # nothing changes before review
    from clearland.services.registry import Registry

    review.approve_report(Registry(seeded.store, seeded.settings, "rev"), result["report"])
    records = {r["ref"]: r for r in queries.records(seeded)}
    assert records["HA-000002"]["organisation"] == "Example Operator"
    assert records["HA-000002"]["hazard_types"] == ["ap_mine"]
    assert records["HA-000001"]["marking"] == "fenced" and records["HA-000001"]["priority"] == "high"
    # the earlier state is still there as of its date
    (before,) = queries.records(seeded, as_of=dt.date(2025, 6, 1))
    assert before["marking"] is None and before["priority"] is None


def test_a_hazard_report_cannot_move_an_area_between_states(seeded, tmp_path):
    path = write_report(tmp_path / "r.json", hazard_areas=[{"ref": "HA-000001", "set": {"status": "closed"}}])
    with pytest.raises(ValidationFailed) as failed:
        submit_report_file(seeded, path)
    (problem,) = failed.value.detail
    assert problem["field"] == "hazard_areas[0].set.status"
    assert "changes through approved activity reports" in problem["message"]


BAD = {
    "wrong schema": (
        {"hazard_areas": [{"set": {"category": "SHA"}, "geometry": POLY, "colour": "red"}]},
        "colour",
    ),
    "unknown hazard ref": (
        {"hazard_areas": [{"ref": "HA-999999", "set": {"marking": "signs"}}]},
        "HA-999999",
    ),
    "geometry in the wrong CRS": (
        {
            "hazard_areas": [
                {
                    "set": {"category": "SHA"},
                    "geometry": {
                        "type": "Polygon",
                        "coordinates": [
                            [[500000, 4850000], [500100, 4850000], [500100, 4850100], [500000, 4850000]]
                        ],
                    },
                }
            ]
        },
        "outside the world",
    ),
    "value outside the vocabulary": (
        {"hazard_areas": [{"set": {"category": "maybe"}, "geometry": POLY}]},
        "maybe",
    ),
    "new area without geometry": ({"hazard_areas": [{"set": {"category": "SHA"}}]}, "needs a geometry"),
    "bad date": ({"date_of_information": "2026-13-45"}, "date_of_information"),
    "unknown type": ({"type": "minefield_sketch"}, "type"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_report_files_change_nothing(case, seeded, tmp_path):
    overrides, words = BAD[case]
    path = write_report(tmp_path / "bad.json", **overrides)
    with seeded.store.read() as tx:
        before = tx.table_counts()
    with pytest.raises((InputFileError, ValidationFailed)) as failed:
        submit_report_file(seeded, path)
    text = failed.value.message + json.dumps(failed.value.detail)
    assert words in text and "bad.json" in text
    with seeded.store.read() as tx:
        assert tx.table_counts() == before


def test_not_json_is_a_clear_error(seeded, tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"type": "hazard_report", ', encoding="utf-8")
    with pytest.raises(InputFileError, match="not valid JSON"):
        submit_report_file(seeded, path)


def test_schema_has_an_example():
    schema = report_schema("hazard_report")
    assert schema["examples"][0]["type"] == "hazard_report"
    assert "hazard_areas" in schema["required"]
    with pytest.raises(InputFileError, match="unknown report type"):
        report_schema("nope")
