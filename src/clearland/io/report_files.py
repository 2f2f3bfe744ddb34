"""Report files: the JSON documents field teams submit (``clearland report submit FILE``).

The models here are the file format: they check shape and types and give the JSON Schema
(``clearland report schema TYPE``). Field values are checked against the vocabularies by the
service, with the domain's rules, so both paths (import and report) share one set of rules.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from clearland.errors import InputFileError
from clearland.io.minefield_files import MarkingInspectionReport, MinefieldRecordReport
from clearland.io.safety import check_input_file  # size and existence checks shared with GIS files
from clearland.io.types import ReadLimits


class GeoJSONGeometry(BaseModel):
    """A GeoJSON geometry (RFC 7946): EPSG:4326, longitude first."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["Point", "MultiPoint", "Polygon", "MultiPolygon"]
    coordinates: list[Any]


class HazardAreaEntry(BaseModel):
    """One hazard area the report creates (no ``ref``) or updates (``ref`` of an existing one)."""

    model_config = ConfigDict(extra="forbid")
    ref: str | None = Field(None, description="ref of the hazard area to update; omit to record a new one")
    set: dict[str, Any] = Field(
        default_factory=dict,
        description='fields and their new values, e.g. {"status": "worked_on", "marking": "fenced"}',
    )
    geometry: GeoJSONGeometry | None = Field(None, description="required for a new area")


class HazardReport(BaseModel):
    """A hazard report: new evidence of hazard areas, or new facts about known ones."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "type": "hazard_report",
                    "date_of_information": "2026-03-01",
                    "organisation": "Example Demining Operator",
                    "description": "Farmer reported AP mines near the old checkpoint",
                    "hazard_areas": [
                        {
                            "set": {
                                "category": "SHA",
                                "hazard_types": ["ap_mine"],
                                "name": "Old checkpoint",
                                "evidence_type": "indirect",
                                "marking": "none",
                            },
                            "geometry": {
                                "type": "Polygon",
                                "coordinates": [
                                    [
                                        [17.80, 43.85],
                                        [17.81, 43.85],
                                        [17.81, 43.86],
                                        [17.80, 43.86],
                                        [17.80, 43.85],
                                    ]
                                ],
                            },
                        },
                        {"ref": "HA-000012", "set": {"marking": "fenced"}},
                    ],
                }
            ]
        },
    )
    type: Literal["hazard_report"]
    date_of_information: dt.date
    organisation: str | None = None
    description: str | None = None
    hazard_areas: list[HazardAreaEntry] = Field(min_length=1)


class PointGeometry(BaseModel):
    """A GeoJSON Point (RFC 7946): ``[longitude, latitude]`` in EPSG:4326."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["Point"]
    coordinates: list[float] = Field(min_length=2, max_length=3)


class PolygonGeometry(BaseModel):
    """A GeoJSON Polygon or MultiPolygon (RFC 7946): EPSG:4326, longitude first."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["Polygon", "MultiPolygon"]
    coordinates: list[Any]


class OutcomeEntry(BaseModel):
    """Land the activity cancelled, reduced, cleared or confirmed. The polygon is clipped to the
    hazard areas the report works on; a part outside all of them is an error (or dropped with
    ``"on_unmatched": "skip"``)."""

    model_config = ConfigDict(extra="forbid")
    kind: str = Field(description="cancelled · reduced · cleared · confirmed")
    hazard_ref: str | None = Field(
        None, description="limit the outcome to this hazard area (one of the report's hazard_areas)"
    )
    geometry: PolygonGeometry


class DeviceEntry(BaseModel):
    """An item found, destroyed or removed (IMAS 04.10)."""

    model_config = ConfigDict(extra="forbid")
    category: str = Field(description="ap_mine · at_mine · uxo · axo · submunition · ied · other")
    model: str | None = Field(None, description="e.g. PMA-2; omit when not known")
    quantity: int = Field(description="number of items, at least 1")
    position: PointGeometry
    depth_cm: int | None = Field(None, description="depth below the surface, cm")
    disposal: str = Field(description="destroyed_in_situ · removed · rendered_safe")
    hazard_ref: str | None = Field(None, description="the hazard area it was found in, if known")


class MarkerEntry(BaseModel):
    """A permanent marker or sign placed by the activity."""

    model_config = ConfigDict(extra="forbid")
    type: str = Field(description="sign · fence · permanent_marker")
    position: PointGeometry
    description: str | None = None


_SQUARE: Any = [[[17.80, 43.85], [17.81, 43.85], [17.81, 43.86], [17.80, 43.86], [17.80, 43.85]]]


class ActivityReport(BaseModel):
    """Work done on hazard areas: a non-technical or technical survey, clearance, battle area
    clearance, an EOD spot task, quality assurance or control, or a handover. On approval it
    records the activity, its outcomes and devices, and moves each hazard area it works on to
    the state the rules allow (or is refused with the reason)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "type": "activity_report",
                    "activity_type": "ts",
                    "date_of_information": "2026-05-20",
                    "organisation": "Example Demining Operator",
                    "start_date": "2026-05-04",
                    "end_date": "2026-05-19",
                    "status": "completed",
                    "hazard_areas": ["HA-000012"],
                    "assets": ["manual", "dog"],
                    "depth_cm": 13,
                    "outcomes": [
                        {
                            "kind": "confirmed",
                            "geometry": {
                                "type": "Polygon",
                                "coordinates": [
                                    [
                                        [17.80, 43.85],
                                        [17.805, 43.85],
                                        [17.805, 43.855],
                                        [17.80, 43.855],
                                        [17.80, 43.85],
                                    ]
                                ],
                            },
                        },
                        {"kind": "reduced", "geometry": {"type": "Polygon", "coordinates": _SQUARE}},
                    ],
                    "devices": [
                        {
                            "category": "ap_mine",
                            "model": "PMA-2",
                            "quantity": 2,
                            "position": {"type": "Point", "coordinates": [17.802, 43.852]},
                            "depth_cm": 5,
                            "disposal": "destroyed_in_situ",
                        }
                    ],
                }
            ]
        },
    )
    type: Literal["activity_report"]
    activity_type: str = Field(description="nts · ts · clearance · bac · eod_spot_task · qa · qc · handover")
    activity_ref: str | None = Field(
        None,
        description="ref of an activity reported before (a progress report continued); omit for a new one",
    )
    date_of_information: dt.date
    organisation: str | None = None
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    status: str = Field("completed", description="planned · ongoing · completed · suspended")
    hazard_areas: list[str] = Field(min_length=1, description="refs of the hazard areas worked on")
    depth_cm: int | None = Field(None, description="depth of clearance, cm")
    assets: list[str] = Field(default_factory=list, description="manual · mechanical · dog")
    qc_passed: bool | None = Field(None, description="quality control: did the released land pass?")
    new_evidence: str | None = Field(
        None, description="new evidence of explosive ordnance (reopens a closed hazard area)"
    )
    description: str | None = None
    worksite: PolygonGeometry | None = Field(
        None, description="the land worked on; default: the hazard areas worked on"
    )
    outcomes: list[OutcomeEntry] = Field(default_factory=list)
    devices: list[DeviceEntry] = Field(default_factory=list)
    markers: list[MarkerEntry] = Field(default_factory=list)
    on_unmatched: Literal["reject", "skip"] = Field(
        "reject", description="outcome land outside the hazard areas: refuse the report, or drop that land"
    )


REPORT_MODELS: dict[str, type[BaseModel]] = {
    "hazard_report": HazardReport,
    "activity_report": ActivityReport,
    "minefield_record": MinefieldRecordReport,
    "marking_inspection": MarkingInspectionReport,
}


def report_schema(report_type: str) -> dict[str, Any]:
    """The JSON Schema of ``report_type`` (``minefield-record`` is ``minefield_record``)."""
    try:
        model = REPORT_MODELS[report_type.replace("-", "_")]
    except KeyError:
        raise InputFileError(
            f"unknown report type {report_type!r} (types: {', '.join(REPORT_MODELS)})"
        ) from None
    return model.model_json_schema()


def read_report_file(path: str | Path, limits: ReadLimits = ReadLimits()) -> BaseModel:
    """The validated report in ``path``; ``InputFileError`` naming the file and every problem."""
    path = Path(path)
    check_input_file(path, limits)
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise InputFileError(f"cannot read {path}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise InputFileError(
            f"cannot read {path}: not valid JSON (line {exc.lineno}, column {exc.colno})",
            detail=[{"file": str(path), "message": exc.msg, "line": exc.lineno}],
        ) from None
    return parse_report(data, str(path), path.name)


def parse_report(data: Any, source: str, name: str | None = None) -> BaseModel:
    """The validated report in ``data`` (a parsed JSON document); ``InputFileError`` naming
    ``source`` (a file, or the body of a request) and every problem, field by field."""
    name = name or source
    kind = data.get("type") if isinstance(data, dict) else None
    model = REPORT_MODELS.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise InputFileError(
            f"{name}: 'type' must be one of {', '.join(REPORT_MODELS)} (found {kind!r})",
            detail=[{"file": source, "field": "type", "message": "unknown or missing report type"}],
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [{"file": source, "field": _path(e["loc"]), "message": e["msg"]} for e in exc.errors()]
        raise InputFileError(
            f"{name}: {len(problems)} problem(s) with the report's form; nothing was submitted",
            detail=problems,
        ) from None


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
