"""A hazard area's whole life through activity reports: indication → SHA → TS confirms a CHA and
reduces the rest → clearance clears the CHA in two reports → QC → closed and handed over; then new
evidence reopens it. Areas are checked at every step against shapely + pyproj.Geod."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import shapely
import shapely.geometry

from clearland.errors import StateError, ValidationFailed
from clearland.services import queries, review, statistics
from clearland.services.submissions import submit_report_file
from conftest import reference_area_m2

# the indication: about 400 m × 330 m near Doboj (44.7°N 18.1°E)
W, S, E, N = 18.100, 44.700, 18.105, 44.703
INDICATION = shapely.box(W, S, E, N)
STRIP = shapely.box(W, S, W + 0.001, N)  # cancelled by the NTS (west strip)
CONFIRMED = shapely.box(18.102, 44.701, 18.104, 44.702)  # the TS finds mines here
CLEAR_1 = shapely.box(18.102, 44.701, 18.103, 44.702)  # first clearance report: west half
CLEAR_2 = shapely.box(18.103, 44.701, 18.104, 44.702)  # second: east half


def geodesic_m2(geom: shapely.Geometry) -> float:
    """Independent area: densified along lon/lat edges (as the overlay draws them), then Geod."""
    return reference_area_m2(shapely.segmentize(geom, 1e-5)) if not geom.is_empty else 0.0


def gj(geom: shapely.Geometry) -> dict[str, Any]:
    return shapely.geometry.mapping(geom)


class Team:
    """Submits report files and approves them, as the local admin."""

    def __init__(self, registry: Any, tmp: Path) -> None:
        self.registry, self.tmp, self.n = registry, tmp, 0

    def submit(self, report: dict[str, Any]) -> dict[str, Any]:
        self.n += 1
        path = self.tmp / f"report-{self.n}.json"
        path.write_text(json.dumps(report), encoding="utf-8")
        return submit_report_file(self.registry, path)

    def land(self, report: dict[str, Any]) -> dict[str, Any]:
        submitted = self.submit(report)
        return {**submitted, **review.approve_report(self.registry, submitted["report"])}

    def activity(self, activity_type: str, day: str, refs: list[str], **fields: Any) -> dict[str, Any]:
        report = {
            "type": "activity_report",
            "activity_type": activity_type,
            "date_of_information": day,
            "organisation": "Example Demining Operator",
            "hazard_areas": refs,
            **fields,
        }
        return report

    def area(self, ref: str, **kw: Any) -> dict[str, Any]:
        return queries.record(self.registry, ref, **kw)


@pytest.fixture
def team(registry, tmp_path) -> Team:
    team = Team(registry, tmp_path)
    team.land(
        {
            "type": "hazard_report",
            "date_of_information": "2026-01-10",
            "description": "farmer reports mines near the old trench line",
            "hazard_areas": [
                {
                    "set": {"category": "indication", "hazard_types": ["ap_mine"], "name": "Trench line"},
                    "geometry": gj(INDICATION),
                }
            ],
        }
    )
    return team


def outcome(kind: str, geom: shapely.Geometry) -> dict[str, Any]:
    return {"kind": kind, "geometry": gj(geom)}


def test_full_life_cycle(team: Team) -> None:
    ha = team.area("HA-000001")
    assert ha["category"] == "indication" and ha["area_m2"] == pytest.approx(
        geodesic_m2(INDICATION), rel=1e-6
    )

    # NTS cancels the west strip: what remains of the indication is an SHA
    nts = team.land(
        team.activity(
            "nts",
            "2026-02-01",
            ["HA-000001"],
            start_date="2026-01-25",
            end_date="2026-01-31",
            outcomes=[outcome("cancelled", STRIP)],
        )
    )
    (step,) = nts["transitions"]
    assert step["to"] == {"category": "SHA", "status": "open"}
    ha = team.area("HA-000001")
    assert ha["category"] == "SHA" and ha["status"] == "open"
    assert ha["remaining_area_m2"] == pytest.approx(geodesic_m2(INDICATION - STRIP), rel=1e-5)

    # TS confirms the central block and reduces the rest: the block becomes a CHA child, the SHA closes
    rest = INDICATION - STRIP - CONFIRMED
    ts = team.land(
        team.activity(
            "ts",
            "2026-03-01",
            ["HA-000001"],
            assets=["manual", "dog"],
            outcomes=[outcome("confirmed", CONFIRMED), outcome("reduced", rest)],
        )
    )
    (step,) = ts["transitions"]
    assert step["split_off"] == "HA-000002" and step["to"] == {"category": "SHA", "status": "closed"}
    sha, cha = team.area("HA-000001"), team.area("HA-000002")
    assert sha["children"] == ["HA-000002"] and sha["remaining_area_m2"] == pytest.approx(0, abs=0.5)
    assert cha["parent_ref"] == "HA-000001" and cha["category"] == "CHA" and cha["status"] == "open"
    assert cha["hazard_types"] == ["ap_mine"] and cha["evidence_type"] == "direct"
    assert cha["area_m2"] == pytest.approx(geodesic_m2(CONFIRMED), rel=1e-5)
    assert cha["remaining_area_m2"] == pytest.approx(geodesic_m2(CONFIRMED), rel=1e-5)

    # clearance in two reports of one activity; devices found in the first
    first = team.land(
        team.activity(
            "clearance",
            "2026-04-01",
            ["HA-000002"],
            status="ongoing",
            start_date="2026-03-10",
            depth_cm=13,
            assets=["manual"],
            outcomes=[outcome("cleared", CLEAR_1)],
            devices=[
                {
                    "category": "AP mine",
                    "model": "PMA-2",
                    "quantity": 2,
                    "depth_cm": 5,
                    "position": {"type": "Point", "coordinates": [18.1025, 44.7015]},
                    "disposal": "destroyed in situ",
                }
            ],
        )
    )
    assert first["transitions"][0]["to"]["status"] == "worked_on"
    cha = team.area("HA-000002")
    assert cha["remaining_area_m2"] == pytest.approx(geodesic_m2(CONFIRMED - CLEAR_1), rel=1e-5)
    assert [(d["category"], d["quantity"], d["hazard_ref"]) for d in cha["devices"]] == [
        ("ap_mine", 2, "HA-000002")
    ]
    activity_ref = first["activity"]
    second = team.land(
        team.activity(
            "clearance",
            "2026-04-20",
            ["HA-000002"],
            activity_ref=activity_ref,
            end_date="2026-04-19",
            outcomes=[outcome("cleared", CLEAR_2)],
        )
    )
    assert second["activity"] == activity_ref
    (step,) = second["transitions"]
    assert step["to"]["status"] == "worked_on" and "quality control" in step["reason"]
    cha = team.area("HA-000002")
    assert cha["remaining_area_m2"] == pytest.approx(0, abs=0.5)
    (activity,) = [a for a in cha["activities"] if a["activity_type"] == "clearance"]
    assert activity["status"] == "completed" and activity["start_date"] == "2026-03-10"

    # a handover before quality control is refused, with the reason, and changes nothing
    early = team.submit(team.activity("handover", "2026-04-25", ["HA-000002"]))
    with pytest.raises(StateError, match="cannot be handed over before it is closed"):
        review.approve_report(team.registry, early["report"])
    assert team.area("HA-000002")["status"] == "worked_on"
    review.reject_report(team.registry, early["report"], "QC first")

    qc = team.land(team.activity("qc", "2026-05-01", ["HA-000002"], qc_passed=True))
    assert qc["transitions"][0]["to"] == {"category": "CHA", "status": "closed"}
    handover = team.land(team.activity("handover", "2026-05-10", ["HA-000002"], end_date="2026-05-10"))
    assert handover["transitions"][0]["to"]["status"] == "closed"
    cha = team.area("HA-000002")
    assert cha["status"] == "closed" and cha["handed_over_on"] == "2026-05-10"

    # released land adds up: cancelled + reduced + cleared = the indication's area
    stats = statistics.statistics(team.registry)
    released = stats["released_m2"]
    assert released["cancelled"] == pytest.approx(geodesic_m2(STRIP), rel=1e-5)
    assert released["reduced"] == pytest.approx(geodesic_m2(rest), rel=1e-5)
    assert released["cleared"] == pytest.approx(geodesic_m2(CONFIRMED), rel=1e-5)
    assert sum(released.values()) == pytest.approx(geodesic_m2(INDICATION), rel=1e-5)
    assert stats["remaining_m2_net"] == pytest.approx(0, abs=1)
    monthly = statistics.release_statistics(team.registry, by="month")
    assert monthly["groups"]["2026-04"]["cleared"] == pytest.approx(geodesic_m2(CONFIRMED), rel=1e-5)
    assert monthly["devices_destroyed"] == {"total": {"ap_mine": 2}, "groups": {"2026-04": {"ap_mine": 2}}}

    # new evidence months later reopens the closed CHA
    eod = team.land(
        team.activity(
            "eod_spot_task",
            "2026-08-01",
            ["HA-000002"],
            new_evidence="a shepherd found a PMA-2 after the spring floods",
        )
    )
    assert eod["transitions"][0]["to"] == {"category": "CHA", "status": "open"}
    assert "reopened" in eod["transitions"][0]["reason"]

    # the whole life in the history, and the past as it was
    history = team.area("HA-000002", history=True)["history"]
    assert [h["date_of_information"] for h in history] == sorted(h["date_of_information"] for h in history)
    assert len([h for h in history if h["type"] == "activity_report"]) >= 4
    then = team.area("HA-000002", as_of=dt.date(2026, 5, 5))
    assert then["status"] == "closed" and then["remaining_area_m2"] == pytest.approx(0, abs=0.5)
    before_ts = queries.records(team.registry, as_of=dt.date(2026, 2, 15))
    assert [(h["ref"], h["category"]) for h in before_ts] == [("HA-000001", "SHA")]


def test_clearing_an_sha_is_refused_and_the_report_stays_submitted(team: Team) -> None:
    team.land(team.activity("nts", "2026-02-01", ["HA-000001"], outcomes=[outcome("cancelled", STRIP)]))
    report = team.submit(
        team.activity("clearance", "2026-03-01", ["HA-000001"], outcomes=[outcome("cleared", CONFIRMED)])
    )
    shown = review.show_report(team.registry, report["report"])
    assert "before a technical survey" in shown["approval_refused"]["message"]
    with pytest.raises(StateError, match="an SHA cannot be cleared before a technical survey"):
        review.approve_report(team.registry, report["report"])
    assert review.show_report(team.registry, report["report"])["status"] == "submitted"
    ha = team.area("HA-000001")
    assert ha["category"] == "SHA" and ha["remaining_area_m2"] == pytest.approx(
        geodesic_m2(INDICATION - STRIP), rel=1e-5
    )


def test_show_previews_the_split_and_unapproval_undoes_it(team: Team) -> None:
    team.land(team.activity("nts", "2026-02-01", ["HA-000001"], outcomes=[outcome("cancelled", STRIP)]))
    ts = team.submit(
        team.activity("ts", "2026-03-01", ["HA-000001"], outcomes=[outcome("confirmed", CONFIRMED)])
    )
    (preview,) = review.show_report(team.registry, ts["report"])["transitions"]
    assert preview["split_off"] == "(new CHA)" and preview["to"]["status"] == "worked_on"
    review.approve_report(team.registry, ts["report"])
    sha = team.area("HA-000001")
    assert sha["status"] == "worked_on"
    assert sha["remaining_area_m2"] == pytest.approx(geodesic_m2(INDICATION - STRIP - CONFIRMED), rel=1e-5)

    review.unapprove_report(team.registry, ts["report"], "wrong block")
    assert [h["ref"] for h in queries.records(team.registry)] == ["HA-000001"]
    sha = team.area("HA-000001")
    assert sha["status"] == "open" and sha["children"] == []
    assert sha["remaining_area_m2"] == pytest.approx(geodesic_m2(INDICATION - STRIP), rel=1e-5)
    history = team.area("HA-000001", history=True)["history"]
    assert "unapproved" in {h["status"] for h in history}


BAD = {
    "end before start": (
        {"start_date": "2026-02-10", "end_date": "2026-02-01"},
        "end_date",
        "before start date",
    ),
    "unknown hazard": ({"hazard_areas": ["HA-999999"]}, "hazard_areas[0]", "no hazard area"),
    "wrong CRS": (
        {"outcomes": [outcome("cancelled", shapely.box(6_540_000, 4_950_000, 6_540_300, 4_950_300))]},
        "outcomes[0].geometry",
        "EPSG:4326",
    ),
    "outside the area": (
        {"outcomes": [outcome("cancelled", shapely.box(18.2, 44.8, 18.21, 44.81))]},
        "outcomes[0].geometry",
        "outside the hazard areas",
    ),
    "kind not allowed": (
        {"outcomes": [outcome("cleared", STRIP)]},
        "outcomes[0].kind",
        "cannot report cleared",
    ),
    "device quantity": (
        {
            "devices": [
                {
                    "category": "uxo",
                    "quantity": 0,
                    "disposal": "removed",
                    "position": {"type": "Point", "coordinates": [18.101, 44.701]},
                }
            ]
        },
        "devices[0].quantity",
        "at least 1",
    ),
}


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_bad_activity_reports_change_nothing(team: Team, case: str) -> None:
    fields, field, words = BAD[case]
    before = queries.registry_status(team.registry)
    report = {**team.activity("nts", "2026-02-01", ["HA-000001"]), **fields}
    with pytest.raises(ValidationFailed) as failed:
        team.submit(report)
    assert any(p["field"] == field and words in p["message"] for p in failed.value.detail), (
        failed.value.detail
    )
    assert review.list_reports(team.registry, status="submitted") == []
    assert queries.registry_status(team.registry) == before


def test_schema_and_docs_examples_are_valid_reports() -> None:
    import re

    from clearland.io.report_files import REPORT_MODELS, report_schema

    schema = report_schema("activity_report")
    (example,) = schema["examples"]
    REPORT_MODELS["activity_report"].model_validate(example)
    docs = (Path(__file__).resolve().parents[2] / "docs" / "reports.md").read_text(encoding="utf-8")
    blocks = [json.loads(b) for b in re.findall(r"```json\n(.*?)```", docs, re.S)]
    assert {b["type"] for b in blocks} == {"hazard_report", "activity_report"}
    for block in blocks:
        REPORT_MODELS[block["type"]].model_validate(block)


def test_conflicting_reports_of_the_same_date_leave_state_and_history_whole(team: Team) -> None:
    from clearland.errors import ConflictError

    left = INDICATION - STRIP
    team.land(team.activity("nts", "2026-02-01", ["HA-000001"], outcomes=[outcome("cancelled", STRIP)]))
    ts = team.land(team.activity("ts", "2026-03-01", ["HA-000001"], outcomes=[outcome("confirmed", left)]))
    assert ts["transitions"][0]["to"] == {"category": "CHA", "status": "open"}  # all land left confirmed
    team.land(team.activity("clearance", "2026-04-01", ["HA-000001"], outcomes=[outcome("cleared", left)]))
    team.land(team.activity("qc", "2026-05-01", ["HA-000001"], qc_passed=True))
    assert team.area("HA-000001")["status"] == "closed"

    # a find reported with the same date as the QC that closed the area: a reviewer must decide
    eod = team.submit(team.activity("eod_spot_task", "2026-05-01", ["HA-000001"], new_evidence="UXO found"))
    with pytest.raises(ConflictError, match="same date of information"):
        review.approve_report(team.registry, eod["report"])
    ha = team.area("HA-000001", history=True)
    assert ha["status"] == "closed" and ha["remaining_area_m2"] == pytest.approx(0, abs=0.5)
    assert review.show_report(team.registry, eod["report"])["status"] == "submitted"
    assert [h["status"] for h in ha["history"]] == ["approved"] * len(ha["history"])

    # the same find dated the day after reopens it
    review.reject_report(team.registry, eod["report"], "conflicts with the QC of the same day")
    later = team.land(team.activity("eod_spot_task", "2026-05-02", ["HA-000001"], new_evidence="UXO found"))
    assert later["transitions"][0]["to"]["status"] == "open"


def test_a_hazard_report_with_new_evidence_reopens_a_closed_area(team: Team) -> None:
    team.land(team.activity("nts", "2026-02-01", ["HA-000001"], outcomes=[outcome("cancelled", INDICATION)]))
    assert team.area("HA-000001")["status"] == "closed"  # all cancelled by NTS: closed
    team.land(
        {
            "type": "hazard_report",
            "date_of_information": "2026-06-01",
            "hazard_areas": [{"ref": "HA-000001", "set": {"evidence_description": "mine seen after floods"}}],
        }
    )
    assert team.area("HA-000001")["status"] == "open"


def test_a_point_indication_is_cancelled_or_becomes_the_sha_a_survey_draws(registry, tmp_path) -> None:
    team = Team(registry, tmp_path)
    points = [shapely.Point(18.2, 44.8), shapely.Point(18.3, 44.8)]
    team.land(
        {
            "type": "hazard_report",
            "date_of_information": "2026-01-10",
            "hazard_areas": [{"set": {"category": "indication"}, "geometry": gj(p)} for p in points],
        }
    )
    around = [shapely.box(p.x - 0.001, p.y - 0.001, p.x + 0.001, p.y + 0.001) for p in points]
    # no polygon: the NTS cannot turn a point into an SHA
    bare = team.submit(team.activity("nts", "2026-02-01", ["HA-000002"]))
    with pytest.raises(StateError, match="only with the SHA's polygon"):
        review.approve_report(team.registry, bare["report"])
    team.land(team.activity("nts", "2026-02-01", ["HA-000001"], outcomes=[outcome("cancelled", around[0])]))
    team.land(team.activity("nts", "2026-02-02", ["HA-000002"], outcomes=[outcome("confirmed", around[1])]))
    first, second = team.area("HA-000001"), team.area("HA-000002")
    assert first["status"] == "closed" and first["category"] == "indication"
    assert second["category"] == "SHA" and second["geometry"].equals(around[1])
    assert second["remaining_area_m2"] == pytest.approx(geodesic_m2(around[1]), rel=1e-5)
    # an outcome polygon that misses the point is refused
    far = shapely.box(18.5, 44.5, 18.51, 44.51)
    with pytest.raises(ValidationFailed, match="1 problem"):
        team.submit(team.activity("nts", "2026-03-01", ["HA-000001"], outcomes=[outcome("cancelled", far)]))
