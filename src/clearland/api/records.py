"""Records and statistics over HTTP: one record with its history (``clearland hazards show
--history``), and the registry's statistics (``clearland stats``, ``clearland stats release``).

Who sees what (DOMAIN.md "Roles", ARCHITECTURE.md principle 5):

- anonymous callers, and users without a staff role, get a record's **public** fields only (its
  activities, outcomes and devices by their own public fields) and **no history**: a report's
  values, file name and author are not public;
- staff (``surveyor``, ``reviewer``, ``admin``, ``records_custodian``) get every field and the
  history, each report with the values it set, except the link to a minefield record
  (``minefield_record_ref``, a marker's ``minefield_ref``), which only records custodians see;
- minefield records and inspections (``MFR-…``, ``INS-…``) are for records custodians only (401
  anonymous, 403 others), as in ``/collections/minefield-records``.

Statistics are public: counts and areas only, no field of any single record."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from clearland.api import inputs
from clearland.api.auth import Caller, acting, caller
from clearland.api.openapi import SECURED, problems
from clearland.api.reports import ReportJSON
from clearland.domain.records import RECORD_TYPES
from clearland.domain.vocab import RecordKind, Role
from clearland.errors import ConfigError, NotAuthenticated, StateError, UnknownRecord
from clearland.services import minefields, queries, statistics
from clearland.services.features import parse_as_of

#: roles that see a record's restricted fields and its history
STAFF = frozenset({Role.SURVEYOR, Role.REVIEWER, Role.ADMIN, Role.RECORDS_CUSTODIAN})
#: links to minefield records, and the record kinds only records custodians read (one rule for
#: records and reports: ``services.minefields``)
CUSTODIAN_FIELDS = minefields.CUSTODIAN_FIELDS
CUSTODIAN_KINDS = minefields.CUSTODIAN_KINDS
KINDS_BY_PREFIX = {t.ref_prefix: kind for kind, t in RECORD_TYPES.items()}
_AS_OF = {"as_of": "a date, YYYY-MM-DD"}


def kind_of(ref: str) -> RecordKind:
    for prefix, kind in KINDS_BY_PREFIX.items():
        if ref.startswith(prefix):
            return kind
    prefixes = ", ".join(f"{p}…" for p in KINDS_BY_PREFIX)
    raise UnknownRecord(f"no record {ref!r}: a record's ref starts with one of {prefixes}")


def as_of_of(values: dict[str, str]) -> dt.date | None:
    if "as_of" not in values:
        return None
    try:
        return parse_as_of(values["as_of"])
    except ValueError as exc:
        inputs.raise_problems([{"parameter": "as_of", "message": str(exc)}])
    raise AssertionError("unreachable")


def record_view(request: Request, who: Caller, ref: str, as_of: dt.date | None) -> dict[str, Any]:
    """The record as ``who`` may see it, as JSON-ready values."""
    kind = kind_of(ref)
    staff = who.has(*STAFF)
    if kind in CUSTODIAN_KINDS:
        if who.is_anonymous:
            raise NotAuthenticated("sign in for this: minefield records are for records custodians")
        minefields.check_custodian(acting(request, who))
    if staff:
        state = queries.record(acting(request, who), ref, kind, as_of=as_of, history=True)
    else:
        registry = request.app.state.auth.registry
        state = queries.record(registry, ref, kind, as_of=as_of, public=True)
    if not who.has(Role.RECORDS_CUSTODIAN):
        state = {k: v for k, v in state.items() if k not in CUSTODIAN_FIELDS}
        for entry in state.get("history", []):
            if "values" in entry:
                entry["values"] = {k: v for k, v in entry["values"].items() if k not in CUSTODIAN_FIELDS}
    state.pop("record_id", None)
    geometry = state.pop("geometry")
    remaining = state.pop("remaining_geometry", None)
    body: dict[str, Any] = {"record_type": kind.value, **state, "geometry": geometry.__geo_interface__}
    if remaining is not None:
        body["remaining_geometry"] = remaining.__geo_interface__
    body["as_of"] = as_of.isoformat() if as_of else None
    body["view"] = "restricted" if staff else "public"
    return body


def _statistics(call: Any, **kwargs: Any) -> dict[str, Any]:
    try:
        result: dict[str, Any] = call(**kwargs)
    except ConfigError as exc:
        # a grouping the registry cannot give yet (no admin areas imported): not the server's fault
        raise StateError(exc.message) from None
    return result


_RECORD = {
    "type": "object",
    "description": (
        "A record: its fields (public ones only for the public), `geometry` (GeoJSON, CRS84), and "
        "for a hazard area its activities, outcomes, devices and the CHAs split off it. Staff also "
        "get `history`: every report that changed it, oldest information first."
    ),
    "required": ["record_type", "ref", "geometry", "view"],
    "properties": {
        "record_type": {"type": "string", "enum": [k.value for k in RECORD_TYPES]},
        "ref": {"type": "string"},
        "geometry": {"$ref": "#/components/schemas/Geometry"},
        "remaining_geometry": {"$ref": "#/components/schemas/Geometry"},
        "as_of": {"type": "string", "format": "date", "nullable": True},
        "view": {"type": "string", "enum": ["public", "restricted"]},
        "activities": {"type": "array", "items": {"type": "object"}},
        "outcomes": {"type": "array", "items": {"type": "object"}},
        "devices": {"type": "array", "items": {"type": "object"}},
        "children": {"type": "array", "items": {"type": "string"}},
        "history": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["report", "type", "status", "date_of_information", "changed"],
                "properties": {
                    "report": {"type": "integer"},
                    "type": {"type": "string"},
                    "status": {"type": "string"},
                    "date_of_information": {"type": "string", "format": "date"},
                    "approval_seq": {"type": "integer", "nullable": True},
                    "by": {"type": "string"},
                    "source": {"type": "string", "nullable": True},
                    "changed": {"type": "array", "items": {"type": "string"}},
                    "values": {"type": "object"},
                    "outcomes": {"type": "array", "items": {"type": "object"}},
                },
            },
        },
    },
    "additionalProperties": True,
}
_TOTALS: dict[str, Any] = {
    "type": "object",
    "required": ["count", "area_m2_sum", "area_m2_net"],
    "properties": {
        "count": {"type": "integer"},
        "area_m2_sum": {"type": "number", "description": "each area added, m²"},
        "area_m2_net": {"type": "number", "description": "overlaps counted once, m²"},
        "remaining_m2_net": {
            "type": "number",
            "description": "by admin area: left in the areas not closed, overlaps once, m²",
        },
    },
}
_REGISTRY = {
    "revision": {"type": "integer"},
    "latest_information": {"type": "string", "format": "date", "nullable": True},
    "synthetic": {"type": "string"},
    "as_of": {"type": "string", "format": "date", "nullable": True},
}
_RELEASED = {
    "type": "object",
    "properties": {k: {"type": "number"} for k in ("cancelled", "reduced", "cleared", "total")},
}
_STATISTICS = {
    "type": "object",
    "description": "What `clearland stats --json` gives.",
    "required": [
        "revision",
        "count",
        "area_m2_sum",
        "area_m2_net",
        "remaining_m2_net",
        "released_m2",
    ],
    "properties": {
        **_REGISTRY,
        **_TOTALS["properties"],
        "remaining_m2_net": {"type": "number", "description": "left in areas not closed, m²"},
        "released_m2": _RELEASED,
        "by": {"type": "string"},
        "groups": {"type": "object", "additionalProperties": _TOTALS},
    },
}
_OPENED_CLOSED = {
    "type": "object",
    "properties": {"opened": {"type": "integer"}, "closed": {"type": "integer"}},
}
_RELEASE_STATISTICS = {
    "type": "object",
    "description": "What `clearland stats release --json` gives.",
    "required": ["revision", "by", "released_m2", "groups", "devices_destroyed"],
    "properties": {
        **_REGISTRY,
        "by": {"type": "string", "enum": list(statistics.RELEASE_GROUPINGS)},
        "released_m2": _RELEASED,
        "groups": {"type": "object", "additionalProperties": _RELEASED},
        "devices_destroyed": {
            "type": "object",
            "properties": {
                "total": {"type": "object", "additionalProperties": {"type": "integer"}},
                "groups": {
                    "type": "object",
                    "additionalProperties": {"type": "object", "additionalProperties": {"type": "integer"}},
                },
            },
        },
        "hazard_areas": {
            "type": "object",
            "description": (
                "By month only: hazard areas opened (first approved version) and closed (status "
                "became closed) per month of the reports' date of information, from the history."
            ),
            "properties": {
                "total": _OPENED_CLOSED,
                "groups": {"type": "object", "additionalProperties": _OPENED_CLOSED},
            },
        },
    },
}
AS_OF = {
    "name": "as_of",
    "in": "query",
    "required": False,
    "description": "As the registry was on this date (YYYY-MM-DD).",
    "schema": {"type": "string", "format": "date"},
}
#: anyone; a signed-in caller may see more
OPTIONAL_SECURITY = [{}, *SECURED]
NO_ADMIN_AREAS = "No admin areas in the registry to group by (import them first)."


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def router() -> APIRouter:
    routes = APIRouter(tags=["Records and statistics"])

    @routes.get(
        "/records/{ref}",
        summary="One record with its history",
        description=(
            "A hazard area (`HA-…`), outcome, activity, device, marker or admin area by its ref, now "
            "or `as_of` a date. Anonymous callers get the public fields and no history; staff "
            "(surveyor, reviewer, admin, records custodian) every field and the history, the link "
            "to a minefield record for records custodians only. Minefield records (`MFR-…`) and "
            "inspections (`INS-…`): records custodians only."
        ),
        operation_id="getRecord",
        responses={
            200: _json(_RECORD, "The record."),
            **problems(400, 401, 403, 404, 503, described_as={404: "No such record (on that date)."}),
        },
        openapi_extra={
            "security": OPTIONAL_SECURITY,
            "parameters": [AS_OF],
        },
    )
    def record(request: Request, ref: str, who: Caller = Depends(caller)) -> Response:
        as_of = as_of_of(inputs.query(request, _AS_OF))
        return ReportJSON(record_view(request, who, ref, as_of))

    @routes.get(
        "/stats",
        summary="Hazard area statistics",
        description=(
            "Counts and areas of the hazard areas (sum of areas, and net: overlaps once), land "
            "remaining in areas not closed and land released per kind; with `by`, per status, "
            "category or admin area. Public: totals only."
        ),
        operation_id="getStatistics",
        responses={
            200: _json(_STATISTICS, "The statistics."),
            **problems(400, 409, 503, described_as={409: NO_ADMIN_AREAS}),
        },
        openapi_extra={
            "parameters": [
                {
                    "name": "by",
                    "in": "query",
                    "required": False,
                    "description": "Group by this.",
                    "schema": {"type": "string", "enum": list(statistics.GROUPINGS)},
                },
                AS_OF,
            ]
        },
    )
    def stats(request: Request) -> Response:
        values = inputs.query(request, {"by": "status, category or admin-area", **_AS_OF})
        by = values.get("by")
        if by is not None and by not in statistics.GROUPINGS:
            message = f"one of: {', '.join(statistics.GROUPINGS)}"
            inputs.raise_problems([{"parameter": "by", "message": message}])
        result = _statistics(request.app.state.statistics.statistics, by=by, as_of=as_of_of(values))
        return ReportJSON(result)

    @routes.get(
        "/stats/release",
        summary="Land release statistics",
        description=(
            "Land released (m², overlaps once) per outcome kind, per month of the date of "
            "information or per admin area, and devices destroyed by category; by month also the "
            "hazard areas opened and closed each month (`hazard_areas`). Public."
        ),
        operation_id="getReleaseStatistics",
        responses={
            200: _json(_RELEASE_STATISTICS, "The statistics."),
            **problems(400, 409, 503, described_as={409: NO_ADMIN_AREAS}),
        },
        openapi_extra={
            "parameters": [
                {
                    "name": "by",
                    "in": "query",
                    "required": False,
                    "description": "Group by this (default: month).",
                    "schema": {
                        "type": "string",
                        "enum": list(statistics.RELEASE_GROUPINGS),
                        "default": "month",
                    },
                },
                AS_OF,
            ]
        },
    )
    def release(request: Request) -> Response:
        values = inputs.query(request, {"by": "month or admin-area", **_AS_OF})
        by = values.get("by", "month")
        if by not in statistics.RELEASE_GROUPINGS:
            message = f"one of: {', '.join(statistics.RELEASE_GROUPINGS)}"
            inputs.raise_problems([{"parameter": "by", "message": message}])
        result = _statistics(request.app.state.statistics.release_statistics, by=by, as_of=as_of_of(values))
        return ReportJSON(result)

    return routes
