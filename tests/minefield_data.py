"""Builders for minefield-record tests. Every record, mine type, unit and place here is SYNTHETIC:
invented for the tests, near 44.7°N 18.1°E, and labelled as such."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from pyproj import Geod

from clearland.services import review, users
from clearland.services.registry import Registry
from clearland.services.submissions import submit_report_file

GEOD = Geod(ellps="WGS84")
RP1 = (18.1000, 44.7000)
RP2 = (18.1030, 44.7000)
#: (id, reference point, bearing degrees true, distance m) of the synthetic perimeter
TURNING = [
    ("TP1", "RP1", 20.0, 60.0),
    ("TP2", "RP1", 60.0, 180.0),
    ("TP3", "RP2", 340.0, 90.0),
    ("TP4", "RP2", 300.0, 40.0),
]
AP_TYPE = "SYNTH-AP-1 (synthetic)"
AT_TYPE = "SYNTH-AT-7 (synthetic)"
AP_FUZE = "synthetic-pressure-fuze"
AT_FUZE = "synthetic-tilt-rod-fuze"


def fwd(ref: str, bearing: float, distance: float) -> tuple[float, float]:
    lon, lat = RP1 if ref == "RP1" else RP2
    lon2, lat2, _ = GEOD.fwd(lon, lat, bearing, distance)
    return float(lon2), float(lat2)


def expected_vertices() -> list[tuple[float, float]]:
    return [fwd(ref, bearing, distance) for _id, ref, bearing, distance in TURNING]


def make_record(**overrides: Any) -> dict[str, Any]:
    """A SYNTHETIC minefield record given by bearings and distances."""
    record: dict[str, Any] = {
        "type": "minefield_record",
        "date_of_information": "2026-02-01",
        "name": "SYNTHETIC test minefield",
        "recording_unit": "Synthetic Engineer Unit",
        "laid_from": "1995-05-02T06:00:00",
        "laid_to": "1995-05-02T15:30:00",
        "emplacing_method": "hand",
        "reference_points": [
            {"id": "RP1", "lon": RP1[0], "lat": RP1[1], "description": "synthetic bridge corner"},
            {"id": "RP2", "lon": RP2[0], "lat": RP2[1], "description": "synthetic km stone"},
        ],
        "turning_points": [
            {"id": i, "from": ref, "bearing_deg": bearing, "distance_m": distance}
            for i, ref, bearing, distance in TURNING
        ],
        "mines": [
            {"type_name": AP_TYPE, "category": "AP", "quantity": 3, "fuze": AP_FUZE, "anti_handling": False},
            {"type_name": AT_TYPE, "category": "AT", "quantity": 2, "fuze": AT_FUZE, "anti_handling": True},
        ],
        "marking": "signs",
    }
    record.update(copy.deepcopy(overrides))
    return record


class Custodian:
    """Submits and approves reports as ``cus`` (records custodian and reviewer)."""

    def __init__(self, registry: Registry, tmp: Path) -> None:
        users.add_user(registry, "cus", ["records_custodian", "reviewer"])
        self.base = registry
        self.registry = registry.acting_as("cus", source="cli")
        self.tmp = tmp
        self.n = 0

    def write(self, report: dict[str, Any]) -> Path:
        self.n += 1
        path = self.tmp / f"report-{self.n}.json"
        path.write_text(json.dumps(report), encoding="utf-8")
        return path

    def submit(self, report: dict[str, Any], registry: Registry | None = None) -> dict[str, Any]:
        return submit_report_file(registry or self.registry, self.write(report))

    def land(self, report: dict[str, Any]) -> dict[str, Any]:
        submitted = self.submit(report)
        return {**submitted, **review.approve_report(self.registry, submitted["report"])}


def counts(registry: Registry) -> dict[str, int]:
    with registry.store.read() as tx:
        found = tx.table_counts()
        found["meta_revision"] = tx.revision()
        return found


# --- Article 7 Form G: activity reports with devices on the record's CHA ----------------------------

AP_TYPE_2 = "SYNTH-AP-2 (synthetic)"
#: where the devices of the clearance reports lie: inside the synthetic perimeter
DEVICE_AT = (18.1015, 44.70055)


def make_clearance(day: str, devices: list[tuple[str, str | None, int, str]]) -> dict[str, Any]:
    """A SYNTHETIC clearance report on HA-000001 (the CHA of the first record) dated ``day``;
    ``devices``: (category, model or None, quantity, disposal)."""
    return {
        "type": "activity_report",
        "activity_type": "clearance",
        "date_of_information": day,
        "organisation": "Synthetic Demining Operator",
        "hazard_areas": ["HA-000001"],
        "devices": [
            {
                "category": category,
                **({"model": model} if model else {}),
                "quantity": quantity,
                "disposal": disposal,
                "position": {"type": "Point", "coordinates": list(DEVICE_AT)},
            }
            for category, model, quantity, disposal in devices
        ],
    }


#: the record the Form G reports work on: dated before both years
FORM_G_RECORD = {"date_of_information": "2024-06-01"}
#: (report, what happens to it) in order: approved, left submitted, or approved then unapproved
FORM_G_REPORTS: list[tuple[dict[str, Any], str]] = [
    (
        make_clearance(
            "2025-03-10",
            [
                ("ap_mine", AP_TYPE, 3, "destroyed_in_situ"),
                ("ap_mine", AP_TYPE, 1, "removed"),
                ("ap_mine", None, 2, "destroyed"),  # model not known; "destroyed" is an alias
                ("at_mine", AT_TYPE, 4, "destroyed_in_situ"),  # not an AP mine: not Form G's
                ("uxo", None, 5, "destroyed_in_situ"),
            ],
        ),
        "approved",
    ),
    (
        make_clearance(
            "2025-12-31",
            [("ap_mine", AP_TYPE_2, 2, "rendered_safe"), ("ap_mine", AP_TYPE, 1, "destroyed_in_situ")],
        ),
        "approved",
    ),
    (
        make_clearance(
            "2026-01-01",
            [("ap_mine", AP_TYPE, 6, "destroyed_in_situ"), ("ap_mine", AP_TYPE_2, 4, "destroyed")],
        ),
        "approved",
    ),
    (make_clearance("2026-02-01", [("ap_mine", AP_TYPE, 100, "destroyed_in_situ")]), "submitted"),
    (make_clearance("2026-02-15", [("ap_mine", AP_TYPE, 50, "destroyed_in_situ")]), "unapproved"),
]
#: Form G of each year from ``FORM_G_REPORTS``
FORM_G: dict[int, dict[str, Any]] = {
    2024: {"rows": [], "destroyed": 0},
    2025: {
        "rows": [
            {"mine_type": AP_TYPE, "destroyed": 4, "removed": 1, "rendered_safe": 0},
            {"mine_type": AP_TYPE_2, "destroyed": 0, "removed": 0, "rendered_safe": 2},
            {"mine_type": "unknown", "destroyed": 2, "removed": 0, "rendered_safe": 0},
        ],
        "destroyed": 6,
    },
    2026: {
        "rows": [
            {"mine_type": AP_TYPE, "destroyed": 6, "removed": 0, "rendered_safe": 0},
            {"mine_type": AP_TYPE_2, "destroyed": 4, "removed": 0, "rendered_safe": 0},
        ],
        "destroyed": 10,
    },
}
