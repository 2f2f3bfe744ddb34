"""Land-release documents of an activity report (``clearland report pdf``): a completion report,
or a handover certificate for a handover, for one hazard area the report worked on."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import shapely

from clearland.domain.release import measured_areas_m2, polygonal
from clearland.domain.vocab import RELEASE_KINDS, ActivityType, RecordKind, ReportStatus, ReportType
from clearland.errors import InputError, StateError
from clearland.reports.documents import DocumentData, render_pdf
from clearland.services.registry import Registry

DOCUMENT_STATUSES = (ReportStatus.APPROVED.value, ReportStatus.SUBMITTED.value)


def report_pdf(
    registry: Registry, report_id: int, out: str | Path, *, hazard_ref: str | None = None
) -> dict[str, Any]:
    """Write the document of activity report ``report_id`` to ``out`` (PDF). A report still under
    review gives a draft; a rejected or unapproved one gives none."""
    registry.store.check_ready()
    with registry.store.read() as tx:
        report = tx.get_report(report_id)
        if report["type"] != ReportType.ACTIVITY_REPORT.value:
            raise InputError(
                f"report {report_id} is a {report['type']}: documents are made for activity reports"
            )
        if report["status"] not in DOCUMENT_STATUSES:
            raise StateError(f"report {report_id} is {report['status']}: it has no document")
        summary = report["summary"] or {}
        refs = list(summary.get("hazard_areas") or [])
        if hazard_ref is None:
            if len(refs) != 1:
                raise InputError(
                    f"report {report_id} worked on {len(refs)} hazard areas ({', '.join(refs)}): "
                    "choose one with --hazard REF"
                )
            hazard_ref = refs[0]
        elif hazard_ref not in refs:
            raise InputError(
                f"report {report_id} did not work on {hazard_ref} (it worked on {', '.join(refs)})"
            )
        found = tx.current(RecordKind.HAZARD_AREA, refs=[hazard_ref])
        if not found:
            raise StateError(f"{hazard_ref} is not in the current registry (withdrawn by an unapproval?)")
        hazard = found[0]
        activities = tx.activities_on(hazard_ref)
        outcomes = tx.current(RecordKind.OUTCOME, hazard_refs=[hazard_ref])
        devices = tx.current(RecordKind.DEVICE, hazard_refs=[hazard_ref])
        approver = None
        if report["decided_by"] is not None and report["status"] == ReportStatus.APPROVED.value:
            approver = next((u["name"] for u in tx.list_users() if u["id"] == report["decided_by"]), None)
    kind = (
        "handover_certificate"
        if summary.get("activity_type") == ActivityType.HANDOVER.value
        else "completion_report"
    )
    data = DocumentData(
        kind=kind,
        report_id=report_id,
        authority=registry.settings.authority,
        hazard={**hazard, "geometry": polygonal(hazard["geometry"])},
        activities=activities,
        outcomes=outcomes,
        devices=[{**d, "lon": d["geometry"].x, "lat": d["geometry"].y} for d in devices],
        markers=[m for a in activities for m in (a.get("markers") or [])],
        released_m2=_released_m2(outcomes),
        date_of_information=report["date_of_information"].isoformat(),
        approved_by=approver,
        approved_at=report["decided_at"].isoformat(timespec="seconds") if approver else None,
    )
    try:
        pdf = render_pdf(data)
    except ValueError as exc:
        raise InputError(f"cannot make the document of report {report_id}: {exc}") from None
    out = Path(out)
    partial = out.with_name(out.name + ".partial")
    partial.write_bytes(pdf)
    partial.replace(out)  # never a half-written document under the real name
    return {
        "report": report_id,
        "document": kind,
        "hazard_area": hazard_ref,
        "file": str(out),
        "bytes": len(pdf),
    }


def _released_m2(outcomes: list[dict[str, Any]]) -> dict[str, float]:
    """Land released by kind: the union of each kind's outcomes (overlaps counted once)."""
    by_kind: dict[str, list[Any]] = defaultdict(list)
    for outcome in outcomes:
        by_kind[outcome["kind"]].append(outcome["geometry"])
    kinds = [k.value for k in RELEASE_KINDS]
    unions = [shapely.union_all(by_kind[k]) if by_kind[k] else shapely.Polygon() for k in kinds]
    return {k: float(a) for k, a in zip(kinds, measured_areas_m2(unions), strict=True)}
