"""Report files of minefield records and of their marking (``clearland report submit FILE``).

The models are the file format: shape and types, and the JSON Schema printed by ``clearland report
schema minefield-record``. The rules (reference points, the perimeter, vocabularies) are checked
by ``services.minefield_reports`` with ``domain.minefield``. The example is SYNTHETIC.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

EXAMPLE_RECORD: dict[str, Any] = {
    "type": "minefield_record",
    "date_of_information": "2026-02-01",
    "name": "SYNTHETIC example minefield north of the bridge",
    "recording_unit": "Example Engineer Company (synthetic)",
    "laid_from": "1995-05-02T06:00:00",
    "laid_to": "1995-05-02T15:30:00",
    "emplacing_method": "hand",
    "reference_points": [
        {"id": "RP1", "lon": 18.1000, "lat": 44.7000, "description": "SW corner of the concrete bridge"},
        {"id": "RP2", "lon": 18.1030, "lat": 44.7000, "description": "km stone 14 on the road"},
    ],
    "turning_points": [
        {"id": "TP1", "from": "RP1", "bearing_deg": 20.0, "distance_m": 60.0},
        {"id": "TP2", "from": "RP1", "bearing_deg": 60.0, "distance_m": 180.0},
        {"id": "TP3", "from": "RP2", "bearing_deg": 340.0, "distance_m": 90.0},
        {"id": "TP4", "from": "RP2", "bearing_deg": 300.0, "distance_m": 40.0},
    ],
    "mines": [
        {
            "type_name": "EXAMPLE-AP-1 (synthetic)",
            "category": "AP",
            "quantity": 40,
            "fuze": "pressure",
            "life_time_days": None,
            "anti_handling": False,
        },
        {
            "type_name": "EXAMPLE-AT-2 (synthetic)",
            "category": "AT",
            "quantity": 6,
            "fuze": "pressure, tilt rod",
            "anti_handling": True,
        },
    ],
    "marking": "signs",
    "tolerance_m": 1.0,
}


class ReferencePointEntry(BaseModel):
    """A fixed, findable point the perimeter is measured from (at least two per record)."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1)
    lon: float = Field(description="longitude, EPSG:4326")
    lat: float = Field(description="latitude, EPSG:4326")
    description: str = Field(min_length=1, description="how to find it on the ground")


class TurningPointEntry(BaseModel):
    """A corner of the perimeter: by bearing and distance from a reference point, or by
    coordinates, or both (then they must agree within ``tolerance_m``)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    id: str = Field(min_length=1)
    from_: str | None = Field(None, alias="from", description="id of the reference point measured from")
    bearing_deg: float | None = Field(None, description="degrees true, clockwise from north, 0–360")
    distance_m: float | None = Field(None, description="metres on the ground (geodesic), > 0")
    lon: float | None = None
    lat: float | None = None


class PerimeterPolygon(BaseModel):
    """The perimeter as a GeoJSON Polygon (one closed ring, EPSG:4326, longitude first)."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["Polygon"]
    coordinates: list[Any]


class MineEntry(BaseModel):
    """One line of the mine table."""

    model_config = ConfigDict(extra="forbid")
    type_name: str = Field(min_length=1, description="the mine's type designation")
    category: str = Field(description="AP (anti-personnel) or AT (anti-tank/anti-vehicle)")
    quantity: int = Field(description="number laid, > 0")
    fuze: str | None = Field(None, description="fuze type")
    life_time_days: float | None = Field(None, description="life time, days (> 0)")
    self_destruct_days: float | None = Field(None, description="self-destruct period, days (> 0)")
    self_deactivation_days: float | None = Field(None, description="self-deactivation period, days (> 0)")
    anti_handling: bool = Field(False, description="fitted with an anti-handling device")


class ItemEntry(BaseModel):
    """The recorded position of one mine (or of a row, with ``row``)."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1)
    lon: float
    lat: float
    category: str = Field(description="AP or AT")
    row: str | None = Field(None, description="the row it belongs to, if laid in rows")


class MinefieldRecordReport(BaseModel):
    """A minefield record (Amended Protocol II, Art. 9 and Technical Annex): a new record, or a
    new version of one (``ref``). On approval it creates or updates the linked CHA."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE_RECORD]})
    type: Literal["minefield_record"]
    ref: str | None = Field(None, description="MFR-… of the record this report updates; omit for a new one")
    date_of_information: dt.date
    name: str | None = None
    recording_unit: str = Field(min_length=1, description="the unit that laid and recorded the mines")
    laid_from: dt.datetime = Field(description="date and time laying began")
    laid_to: dt.datetime = Field(description="date and time laying ended")
    emplacing_method: str = Field(description="hand · mechanical · remotely_delivered")
    reference_points: list[ReferencePointEntry]
    turning_points: list[TurningPointEntry] = Field(default_factory=list)
    perimeter: PerimeterPolygon | None = Field(
        None, description="the perimeter as a polygon (alone or as a check)"
    )
    tolerance_m: float = Field(1.0, description="how far a perimeter given twice may disagree, metres")
    mines: list[MineEntry] = Field(min_length=1)
    items: list[ItemEntry] = Field(default_factory=list)
    marking: str | None = Field(None, description="none · signs · fenced · both")
    description: str | None = None


class MarkerPlaced(BaseModel):
    """A sign, a fence (a line) or a permanent marker put on the ground, or a known one updated."""

    model_config = ConfigDict(extra="forbid")
    ref: str | None = Field(None, description="MK-… of a marker already recorded; omit for a new one")
    type: str | None = Field(None, description="sign · fence · permanent_marker (new markers)")
    position: dict[str, Any] | None = Field(None, description="GeoJSON Point (a fence: LineString)")
    condition: str | None = Field(None, description="good · damaged · missing")
    description: str | None = None


class InspectionEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    inspected_on: dt.date
    inspector: str = Field(min_length=1)
    condition: str = Field(description="the marking overall: good · damaged · missing")
    missing_markers: list[str] = Field(default_factory=list, description="refs of markers not found")
    damaged_markers: list[str] = Field(default_factory=list, description="refs of markers found damaged")
    notes: str | None = None


class MarkingInspectionReport(BaseModel):
    """Marking put up around a minefield, and/or an inspection of it."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "type": "marking_inspection",
                    "minefield_ref": "MFR-000001",
                    "date_of_information": "2026-03-01",
                    "markers": [
                        {
                            "type": "sign",
                            "position": {"type": "Point", "coordinates": [18.1005, 44.7006]},
                            "description": "red triangle, skull and 'MINES'",
                        }
                    ],
                    "inspection": {
                        "inspected_on": "2026-03-01",
                        "inspector": "Inspector A (synthetic)",
                        "condition": "damaged",
                        "damaged_markers": ["MK-000002"],
                    },
                }
            ]
        },
    )
    type: Literal["marking_inspection"]
    minefield_ref: str
    date_of_information: dt.date
    markers: list[MarkerPlaced] = Field(default_factory=list)
    inspection: InspectionEntry | None = None
