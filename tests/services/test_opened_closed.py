"""Hazard areas opened and closed per month, exact from the registry's history
(``statistics.opened_and_closed``), on a small registry built here through the ordinary reports:
late information counts in the month it is about, an unapproved report counts nowhere, a reopened
area that closes again closes twice, and ``as_of`` cuts the history."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import shapely
import shapely.geometry

from clearland.domain.reconcile import Change
from clearland.services import queries, review, statistics
from clearland.services.registry import Registry
from clearland.services.submissions import submit_report_file

# four invented fields near Doboj (44.7°N 18.1°E), apart from each other
A, B, C, D = (shapely.box(18.100 + i * 0.01, 44.700, 18.104 + i * 0.01, 44.703) for i in range(4))


def gj(geom: shapely.Geometry) -> dict[str, Any]:
    return shapely.geometry.mapping(geom)


class Reports:
    def __init__(self, registry: Registry, tmp: Path) -> None:
        self.registry, self.tmp, self.n = registry, tmp, 0

    def land(self, report: dict[str, Any]) -> int:
        self.n += 1
        path = self.tmp / f"report-{self.n}.json"
        path.write_text(json.dumps(report), encoding="utf-8")
        report_id = int(submit_report_file(self.registry, path)["report"])
        review.approve_report(self.registry, report_id)
        return report_id

    def hazards(self, day: str, *shapes: shapely.Geometry) -> int:
        return self.land(
            {
                "type": "hazard_report",
                "date_of_information": day,
                "hazard_areas": [
                    {"set": {"category": "SHA", "hazard_types": ["ap_mine"]}, "geometry": gj(s)}
                    for s in shapes
                ],
            }
        )

    def cancel(self, day: str, ref: str, shape: shapely.Geometry) -> int:
        """An NTS that cancels the whole area: it closes."""
        return self.land(
            {
                "type": "activity_report",
                "activity_type": "nts",
                "date_of_information": day,
                "organisation": "Example Survey Team",
                "hazard_areas": [ref],
                "outcomes": [{"kind": "cancelled", "geometry": gj(shape)}],
            }
        )


def test_opened_and_closed_per_month_follow_the_history(registry: Registry, tmp_path: Path) -> None:
    reports = Reports(registry, tmp_path)
    reports.hazards("2026-01-10", A, B)  # HA-000001, HA-000002 opened in January
    reports.hazards("2026-02-15", C)  # HA-000003 opened in February
    reports.cancel("2026-03-05", "HA-000001", A)  # closed in March
    withdrawn = reports.hazards("2026-03-20", D)  # HA-000004, then withdrawn: counts nowhere
    review.unapprove_report(registry, withdrawn, "entered by mistake")
    reports.land(  # new evidence on HA-000001 in June reopens it ...
        {
            "type": "hazard_report",
            "date_of_information": "2026-06-01",
            "hazard_areas": [{"ref": "HA-000001", "set": {"evidence_description": "mine seen after floods"}}],
        }
    )
    assert queries.record(registry, "HA-000001")["status"] == "open"
    reports.cancel("2026-07-02", "HA-000001", A)  # ... and a second survey closes it again
    reports.cancel("2026-07-09", "HA-000003", C)
    reports.hazards("2026-01-25", D)  # approved last, but its information is of January

    events = statistics.opened_and_closed(registry)
    assert events["groups"] == {
        "2026-01": {"opened": 3, "closed": 0},
        "2026-02": {"opened": 1, "closed": 0},
        "2026-03": {"opened": 0, "closed": 1},
        "2026-07": {"opened": 0, "closed": 2},
    }
    assert events["total"] == {"opened": 4, "closed": 3}
    # what the registry holds now agrees: 4 areas recorded, 2 of them closed
    states = queries.records(registry)
    assert len(states) == 4 and sum(s["status"] == "closed" for s in states) == 2

    # as of the end of March: January to March only, from the history as it then was
    march = statistics.opened_and_closed(registry, as_of=dt.date(2026, 3, 31))
    assert march["groups"] == {
        "2026-01": {"opened": 3, "closed": 0},
        "2026-02": {"opened": 1, "closed": 0},
        "2026-03": {"opened": 0, "closed": 1},
    }
    # and the public statistics give the same, by month
    monthly = statistics.release_statistics(registry, by="month")
    assert monthly["hazard_areas"] == events
    before = statistics.release_statistics(registry, by="month", as_of=dt.date(2025, 12, 31))
    assert before["hazard_areas"] == {"total": {"opened": 0, "closed": 0}, "groups": {}}


def test_an_area_recorded_closed_closes_in_its_first_month_and_status_defaults_to_open() -> None:
    def change(seq: int, day: str, **values: Any) -> Change:
        return Change(report_id=seq, seq=seq, date_of_information=dt.date.fromisoformat(day), values=values)

    events = statistics.hazard_area_events(
        [
            [change(1, "2026-01-03", status="closed")],  # recorded already closed
            [change(3, "2026-02-01", marking="signs"), change(2, "2026-01-05", name="x")],  # never closed
            [
                change(4, "2026-01-05"),
                change(5, "2026-01-05", status="closed"),
                change(6, "2026-01-05", status="closed"),
            ],
            [],
        ]
    )
    assert events == {
        "total": {"opened": 3, "closed": 2},
        "groups": {"2026-01": {"opened": 3, "closed": 2}},
    }


def test_a_server_computes_the_figures_once_per_revision(registry: Registry, tmp_path: Path) -> None:
    """``statistics.Remembered`` (what ``GET /stats`` answers from): the same figures object for
    the same question while the registry is unchanged, new figures once a report is approved,
    each question apart, and the same figures as computed afresh."""
    reports = Reports(registry, tmp_path)
    reports.hazards("2026-01-10", A, B)
    remembered = statistics.Remembered(registry)
    first = remembered.statistics()
    assert remembered.statistics() is first
    assert first == statistics.statistics(registry)
    by_status = remembered.statistics(by="status")
    assert by_status is not first and remembered.statistics(by="status") is by_status
    release = remembered.release_statistics()
    assert remembered.release_statistics(by="month") is release
    assert release == statistics.release_statistics(registry, by="month")

    reports.hazards("2026-02-10", C)
    after = remembered.statistics()
    assert after is not first and after["count"] == first["count"] + 1
    assert after == statistics.statistics(registry)
    assert remembered.release_statistics() is not release
