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


REPORT_MODELS: dict[str, type[BaseModel]] = {"hazard_report": HazardReport}


def report_schema(report_type: str) -> dict[str, Any]:
    try:
        model = REPORT_MODELS[report_type]
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
    kind = data.get("type") if isinstance(data, dict) else None
    model = REPORT_MODELS.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise InputFileError(
            f"{path.name}: 'type' must be one of {', '.join(REPORT_MODELS)} (found {kind!r})",
            detail=[{"file": str(path), "field": "type", "message": "unknown or missing report type"}],
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [{"file": str(path), "field": _path(e["loc"]), "message": e["msg"]} for e in exc.errors()]
        raise InputFileError(
            f"{path.name}: {len(problems)} problem(s) with the report's form; nothing was submitted",
            detail=problems,
        ) from None


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
