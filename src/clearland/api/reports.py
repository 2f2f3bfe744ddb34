"""Reports over HTTP: submit a report document, list and read reports, approve, reject and
unapprove them, with the rules of ``clearland report …`` (the same services, run as the caller:
attributed to it and audited as coming over HTTP).

Stale updates: ``GET /reports/{id}`` gives an ``ETag`` that changes whenever the report's status
does (``"report-7-submitted"``). A decision sent with ``If-Match: <that ETag>`` is refused with 409
if the report is no longer in that status (another reviewer decided it meanwhile); the check runs
inside the decision's transaction. Without ``If-Match``, the report's lifecycle alone decides:
approving an approved report, rejecting an approved one, unapproving one not approved are 409 as
well. Approval conflicts (another report of the same date of information says otherwise) and
approvals the hazard area rules refuse are 409 too, with each problem in ``errors``."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from clearland.api import inputs
from clearland.api.auth import Caller, acting, require
from clearland.api.openapi import SECURED, problems
from clearland.domain.vocab import ReportStatus, ReportType, Role
from clearland.errors import InputError
from clearland.io.report_files import REPORT_MODELS
from clearland.services import review
from clearland.services.submissions import submit_report_document

#: who may submit and read reports; each service then checks the report's own rules (a
#: minefield record is submitted and read by records custodians only, approval by reviewers)
REPORTERS = (Role.SURVEYOR, Role.REVIEWER, Role.ADMIN, Role.RECORDS_CUSTODIAN)
DECIDERS = (Role.REVIEWER, Role.ADMIN)
#: the name a report sent over HTTP goes by in its problems and its history
BODY_NAME = "request body"
ETAG_HEADER = {
    "description": "The report's version: changes whenever its status changes; send it back as `If-Match`.",
    "schema": {"type": "string"},
}
#: a report's id in a path: SQLite's integers end at 2**63
ReportId = Annotated[int, Path(ge=1, le=2**62, description="The report's id.")]
_ETAG = re.compile(r'^(?:W/)?"report-(\d+)-([a-z]+)"$')


class ReportJSON(JSONResponse):
    """JSON whose dates (and any other value JSON has no word for) are written as text."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, default=str, separators=(",", ":")).encode("utf-8")


def etag(report_id: int, status: str) -> str:
    return f'"report-{report_id}-{status}"'


def expected_status(request: Request, report_id: int) -> str | None:
    """The status the caller saw, from ``If-Match`` (None without one, or with ``*``)."""
    header = request.headers.get("if-match")
    if header is None or header.strip() == "*":
        return None
    match = _ETAG.match(header.strip())
    if match is None or int(match.group(1)) != report_id:
        message = f"give the ETag that GET /reports/{report_id} answers, e.g. {etag(report_id, 'submitted')}"
        raise InputError(f"If-Match: {message}", detail=[{"parameter": "If-Match", "message": message}])
    return match.group(2)


async def json_object(request: Request, *, required: bool) -> dict[str, Any]:
    """The body as a JSON object (an empty body is ``{}`` unless ``required``)."""
    media_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    body = await request.body()
    if not body.strip() and not required:
        return {}
    if media_type not in ("application/json", ""):
        message = f"send JSON (application/json), not {media_type}"
        raise InputError(message, detail=[{"parameter": "body", "message": message}])
    try:
        data = json.loads(body)
    except ValueError as exc:
        message = f"not valid JSON: {exc.msg if isinstance(exc, json.JSONDecodeError) else 'not UTF-8'}"
        raise InputError(f"body: {message}", detail=[{"parameter": "body", "message": message}]) from None
    if not isinstance(data, dict):
        message = "a JSON object"
        raise InputError(f"body: send {message}", detail=[{"parameter": "body", "message": message}])
    return data


async def reason_of(request: Request, *, required: bool) -> str | None:
    data = await json_object(request, required=required)
    unknown = sorted(set(data) - {"reason"})
    found = [{"parameter": f"body.{name}", "message": "unknown field (allowed: reason)"} for name in unknown]
    reason = data.get("reason")
    if reason is not None and not isinstance(reason, str):
        found.append({"parameter": "body.reason", "message": "text"})
    elif required and not (reason or "").strip():
        found.append({"parameter": "body.reason", "message": "required: why the report is withdrawn"})
    inputs.raise_problems(found)
    return reason.strip() if isinstance(reason, str) else None


# -- the OpenAPI document's words for these routes ------------------------------------------------
_SUMMARY_PROPERTIES: dict[str, Any] = {
    "id": {"type": "integer"},
    "type": {"type": "string", "enum": [t.value for t in ReportType]},
    "status": {"type": "string", "enum": [s.value for s in ReportStatus]},
    "date_of_information": {"type": "string", "format": "date"},
    "created_at": {"type": "string", "format": "date-time"},
    "decided_at": {"type": "string", "format": "date-time", "nullable": True},
    "reason": {"type": "string", "nullable": True, "description": "why it was rejected or unapproved"},
    "source_name": {"type": "string", "nullable": True, "description": "the file it came from"},
    "created_by": {"type": "string"},
    "decided_by": {"type": "string", "nullable": True},
    "records": {"type": "integer", "description": "how many records it changes"},
}
REPORT_SUMMARY = {
    "type": "object",
    "required": ["id", "type", "status", "date_of_information", "created_by", "records"],
    "properties": _SUMMARY_PROPERTIES,
}
_CHANGE = {
    "type": "object",
    "required": ["kind", "ref", "action", "fields"],
    "properties": {
        "kind": {"type": "string"},
        "ref": {"type": "string"},
        "action": {"type": "string", "enum": ["create", "update"]},
        "restricted": {
            "type": "boolean",
            "description": (
                "true: a minefield record's or an inspection's change, whose fields only records "
                "custodians see (`fields` is empty, no `geometry`)"
            ),
        },
        "fields": {
            "type": "object",
            "description": "per field that would change: {before, after}",
            "additionalProperties": {"type": "object", "properties": {"before": {}, "after": {}}},
        },
        "geometry": {
            "type": "object",
            "properties": {
                "area_m2_before": {"type": "number", "nullable": True},
                "area_m2_after": {"type": "number"},
                "before": {
                    "description": "the record's geometry now (GeoJSON, CRS84); null for a new record",
                    "nullable": True,
                    "allOf": [{"$ref": "#/components/schemas/Geometry"}],
                },
                "after": {
                    "description": "its geometry once the report is approved (GeoJSON, CRS84)",
                    "allOf": [{"$ref": "#/components/schemas/Geometry"}],
                },
            },
        },
    },
}
REPORT_DETAIL = {
    "type": "object",
    "description": "What `clearland report show ID --json` gives.",
    "required": [*REPORT_SUMMARY["required"], "changes", "summary"],
    "properties": {
        **_SUMMARY_PROPERTIES,
        "changes": {"type": "array", "items": _CHANGE},
        "summary": {
            "type": "object",
            "required": ["create", "update", "no_change"],
            "properties": {n: {"type": "integer"} for n in ("create", "update", "no_change")},
        },
        "transitions": {
            "type": "array",
            "description": "a submitted activity report: what approving it now would do to hazard areas",
            "items": {"type": "object"},
        },
        "approval_refused": {
            "type": "object",
            "description": "a submitted activity report the hazard area rules would refuse now, and why",
            "properties": {
                "message": {"type": "string"},
                "detail": {"type": "array", "items": {"type": "object"}},
            },
        },
    },
}
SUBMITTED = {
    "type": "object",
    "description": "What `clearland report submit FILE --json` gives.",
    "required": ["report", "status", "type"],
    "properties": {
        "report": {"type": "integer", "description": "the report's id"},
        "status": {"type": "string", "enum": ["submitted"]},
        "type": {"type": "string"},
        "records": {"type": "array", "items": {"type": "string"}, "description": "hazard report: refs"},
        "activity": {"type": "string", "description": "activity report: the activity's ref"},
    },
}
DECISION = {
    "type": "object",
    "description": "What `clearland report approve|reject|unapprove ID --json` gives.",
    "required": ["report"],
    "properties": {
        "report": {"type": "integer"},
        "status": {"type": "string"},
        "records": {"type": "integer", "description": "approve: records changed"},
        "revision": {"type": "integer", "description": "the registry's revision after it"},
        "transitions": {"type": "array", "items": {"type": "object"}},
        "records_rebuilt": {"type": "integer"},
        "records_withdrawn": {"type": "integer"},
    },
}
REPORT_DOCUMENT = {
    "type": "object",
    "description": (
        "A report document, as `clearland report submit FILE` takes it; its JSON Schema is "
        "`clearland report schema TYPE` (docs/reports.md)."
    ),
    "required": ["type", "date_of_information"],
    "properties": {
        "type": {"type": "string", "enum": list(REPORT_MODELS)},
        "date_of_information": {"type": "string", "format": "date"},
    },
    "additionalProperties": True,
}
IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "description": (
        "The report's ETag from `GET /reports/{report_id}`: the decision is refused (409) if the "
        "report changed since."
    ),
    "schema": {"type": "string"},
}
CSRF = {
    "name": "X-CSRF-Token",
    "in": "header",
    "required": False,
    "description": "The session's CSRF token, when the session cookie is sent.",
    "schema": {"type": "string"},
}
CONFLICT = (
    "Not possible: the report changed since the `If-Match` ETag (another reviewer decided it), its "
    "status does not allow this, or approving it conflicts with another report (each in `errors`)."
)


def _json(schema: dict[str, Any], description: str, **headers: Any) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": description, "content": {"application/json": {"schema": schema}}}
    if headers:
        answer["headers"] = headers
    return answer


def _reason_body(required: bool) -> dict[str, Any]:
    reason: dict[str, Any] = {"type": "string", "description": "why (for the reporter and the history)"}
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {"reason": reason},
        "additionalProperties": False,
    }
    if required:
        schema["required"] = ["reason"]
        reason["minLength"] = 1
        reason["pattern"] = r"\S"
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def router() -> APIRouter:
    routes = APIRouter(tags=["Reports and review"])
    reporter = require(*REPORTERS)

    @routes.post(
        "/reports",
        summary="Submit a report",
        description=(
            "Checks the report document whole (form, vocabularies, geometry, the rules of the "
            "records it changes) and stores it as a submitted report for review; on any problem "
            "nothing is stored and the answer names each field (`errors[].field`, e.g. "
            "`hazard_areas[0].set.category`). Surveyors, reviewers and admins; a minefield record "
            "only records custodians."
        ),
        operation_id="submitReport",
        status_code=201,
        responses={
            201: _json(
                SUBMITTED,
                "Submitted.",
                Location={"description": "/reports/{id}", "schema": {"type": "string"}},
                ETag=ETAG_HEADER,
            ),
            **problems(400, 401, 403, 404, 409, 413, 503, described_as={404: "A ref it names is unknown."}),
        },
        openapi_extra={
            "security": SECURED,
            "parameters": [CSRF],
            "requestBody": {"required": True, "content": {"application/json": {"schema": REPORT_DOCUMENT}}},
        },
    )
    async def submit(request: Request, who: Caller = Depends(reporter)) -> Response:
        inputs.query(request, {})
        document = await json_object(request, required=True)
        result = await run_in_threadpool(submit_report_document, acting(request, who), document, BODY_NAME)
        headers = {
            "location": f"/reports/{result['report']}",
            "etag": etag(result["report"], result["status"]),
        }
        return ReportJSON(result, status_code=201, headers=headers)

    @routes.get(
        "/reports",
        summary="List reports",
        description=(
            "Reports, newest first, with who made and decided them and how many records each changes."
        ),
        operation_id="listReports",
        responses={
            200: _json({"type": "array", "items": REPORT_SUMMARY}, "The reports."),
            **problems(400, 401, 403, 503),
        },
        openapi_extra={
            "security": SECURED,
            "parameters": [
                {
                    "name": "status",
                    "in": "query",
                    "required": False,
                    "description": "Only reports in this status.",
                    "schema": {"type": "string", "enum": [s.value for s in ReportStatus]},
                },
                {
                    "name": "type",
                    "in": "query",
                    "required": False,
                    "description": "Only reports of this type.",
                    "schema": {"type": "string", "enum": [t.value for t in ReportType]},
                },
            ],
        },
    )
    def list_reports(request: Request, who: Caller = Depends(reporter)) -> Response:
        values = inputs.query(request, {"status": "a report status", "type": "a report type"})
        found = []
        for name, vocabulary in (("status", ReportStatus), ("type", ReportType)):
            if name in values and values[name] not in {v.value for v in vocabulary}:
                choices = ", ".join(v.value for v in vocabulary)
                found.append({"parameter": name, "message": f"one of: {choices}"})
        inputs.raise_problems(found)
        items = review.list_reports(
            acting(request, who), status=values.get("status"), type=values.get("type")
        )
        return ReportJSON(items)

    @routes.get(
        "/reports/{report_id}",
        summary="One report and what it would change",
        description=(
            "The report, per record what it says against the current state (before → after), and "
            "for a submitted activity report the hazard area transitions approval would make, or "
            "why approval would be refused. The `ETag` changes whenever the report's status does. "
            "A minefield record's report is for records custodians only (403); of any other report, "
            "everyone else sees no link to a minefield record and an inspection's change only as "
            "`restricted`."
        ),
        operation_id="getReport",
        responses={
            200: _json(REPORT_DETAIL, "The report.", ETag=ETAG_HEADER),
            **problems(400, 401, 403, 404, 503, described_as={404: "No such report."}),
        },
        openapi_extra={"security": SECURED},
    )
    def show(request: Request, report_id: ReportId, who: Caller = Depends(reporter)) -> Response:
        inputs.query(request, {})
        item = review.show_report(acting(request, who), report_id)
        return ReportJSON(item, headers={"etag": etag(report_id, item["status"])})

    decision_responses = {
        **problems(
            400,
            401,
            403,
            404,
            409,
            413,
            503,
            described_as={404: "No such report.", 409: CONFLICT},
        )
    }

    @routes.post(
        "/reports/{report_id}/approve",
        summary="Approve a submitted report",
        description=(
            "Reviewers and admins: the report's changes become versions of the records, in one "
            "transaction. 409 when it is not submitted, when it changed since the `If-Match` ETag, "
            "or when it conflicts with another report or the hazard area rules refuse it."
        ),
        operation_id="approveReport",
        responses={200: _json(DECISION, "Approved.", ETag=ETAG_HEADER), **decision_responses},
        openapi_extra={"security": SECURED, "parameters": [IF_MATCH, CSRF]},
    )
    def approve(request: Request, report_id: ReportId, who: Caller = Depends(require(*DECIDERS))) -> Response:
        inputs.query(request, {})
        expect = expected_status(request, report_id)
        result = review.approve_report(acting(request, who), report_id, expect_status=expect)
        result.setdefault("status", ReportStatus.APPROVED.value)
        return ReportJSON(result, headers={"etag": etag(report_id, result["status"])})

    @routes.post(
        "/reports/{report_id}/reject",
        summary="Reject a submitted report",
        description=(
            "Reviewers and admins: the report stays in the history with the reason; nothing "
            "changes. 409 when it is not submitted or changed since the `If-Match` ETag."
        ),
        operation_id="rejectReport",
        responses={200: _json(DECISION, "Rejected.", ETag=ETAG_HEADER), **decision_responses},
        openapi_extra={
            "security": SECURED,
            "parameters": [IF_MATCH, CSRF],
            "requestBody": _reason_body(False),
        },
    )
    async def reject(
        request: Request, report_id: ReportId, who: Caller = Depends(require(*DECIDERS))
    ) -> Response:
        inputs.query(request, {})
        expect = expected_status(request, report_id)
        reason = await reason_of(request, required=False)
        registry = acting(request, who)
        result = await run_in_threadpool(
            review.reject_report, registry, report_id, reason, expect_status=expect
        )
        return ReportJSON(result, headers={"etag": etag(report_id, result["status"])})

    @routes.post(
        "/reports/{report_id}/unapprove",
        summary="Withdraw an approved report",
        description=(
            "Admins: the report stays in the history, marked unapproved with the reason, and the "
            "records it touched are rebuilt from the reports still approved. 409 when it is not "
            "approved or changed since the `If-Match` ETag."
        ),
        operation_id="unapproveReport",
        responses={200: _json(DECISION, "Unapproved.", ETag=ETAG_HEADER), **decision_responses},
        openapi_extra={
            "security": SECURED,
            "parameters": [IF_MATCH, CSRF],
            "requestBody": _reason_body(True),
        },
    )
    async def unapprove(
        request: Request, report_id: ReportId, who: Caller = Depends(require(Role.ADMIN))
    ) -> Response:
        inputs.query(request, {})
        expect = expected_status(request, report_id)
        reason = await reason_of(request, required=True)
        assert reason is not None
        registry = acting(request, who)
        result = await run_in_threadpool(
            review.unapprove_report, registry, report_id, reason, expect_status=expect
        )
        return ReportJSON(result, headers={"etag": etag(report_id, result["status"])})

    return routes
