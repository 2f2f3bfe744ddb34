"""The review workflow: list reports, see what one would change, approve, reject, unapprove."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import shapely
import shapely.geometry

from clearland.domain.geometry import geodesic_area_m2
from clearland.domain.reconcile import next_status
from clearland.domain.vocab import RecordKind, ReportStatus, ReportType, Role
from clearland.errors import ConflictError, StateError
from clearland.services.approval import approve, rebuild
from clearland.services.minefields import check_report_access, redact_changes
from clearland.services.registry import Registry, acting_user, require_role
from clearland.services.transitions import plan_transitions


def list_reports(
    registry: Registry, *, status: str | None = None, type: str | None = None
) -> list[dict[str, Any]]:
    if status is not None:
        status = ReportStatus(ReportStatus.parse(status)).value
    registry.store.check_ready()
    with registry.store.read() as tx:
        return [_plain(r) for r in tx.list_reports(status=status, type=type)]


def show_report(registry: Registry, report_id: int) -> dict[str, Any]:
    """The report, and per record what it says against the current state (before → after). A
    minefield record's report is for records custodians only; of any other report, everyone else
    sees no link to a minefield record and nothing of an inspection (``minefields.redact_changes``)."""
    registry.store.check_ready()
    with registry.store.read() as tx:
        user = acting_user(tx, registry.user_name)
        check_report_access(tx, report_id, user)
        found = tx.list_reports(report_id=report_id)
        if not found:
            tx.get_report(report_id)  # raises UnknownRecord
        report = found[0]
        changes = tx.report_changes(report_id)
        by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for change in changes:
            by_kind[change["kind"]].append(change)
        records = []
        for kind_value, kind_changes in by_kind.items():
            kind = RecordKind(kind_value)
            current = {s["ref"]: s for s in tx.current(kind, refs=[c["ref"] for c in kind_changes])}
            for change in kind_changes:
                before = current.get(change["ref"])
                fields = {
                    name: {"before": None if before is None else before.get(name), "after": value}
                    for name, value in change["values"].items()
                    if before is None or before.get(name) != value
                }
                entry: dict[str, Any] = {
                    "kind": kind.value,
                    "ref": change["ref"],
                    "action": "create" if before is None else "update",
                    "fields": fields,
                }
                if change["geom"] is not None:
                    after_geom = shapely.from_wkb(bytes(change["geom"]))
                    same = before is not None and shapely.equals_exact(before["geometry"], after_geom, 0)
                    if not same:
                        # the shapes too (GeoJSON, EPSG:4326), so a reviewer can see them on a map
                        entry["geometry"] = {
                            "area_m2_before": None if before is None else before["area_m2"],
                            "area_m2_after": geodesic_area_m2(after_geom),
                            "before": None
                            if before is None
                            else shapely.geometry.mapping(before["geometry"]),
                            "after": shapely.geometry.mapping(after_geom),
                        }
                records.append(entry)
        preview: dict[str, Any] = {}
        if (
            report["type"] == ReportType.ACTIVITY_REPORT.value
            and report["status"] == ReportStatus.SUBMITTED.value
        ):
            # what approving it now would do to the hazard areas' states
            try:
                preview["transitions"] = plan_transitions(
                    tx,
                    tx.get_report(report_id),
                    changes,
                    sliver_min_m2=registry.settings.sliver_min_m2,
                    allocate=False,
                )[1]
            except StateError as exc:
                preview["approval_refused"] = {"message": exc.message, "detail": exc.detail}
    result = _plain(report)
    result["changes"] = redact_changes(records, user)  # counted below as they are, redacted or not
    result.update(preview)
    result["summary"] = {
        "create": sum(1 for r in records if r["action"] == "create"),
        "update": sum(1 for r in records if r["action"] == "update" and (r["fields"] or "geometry" in r)),
        "no_change": sum(
            1 for r in records if r["action"] == "update" and not r["fields"] and "geometry" not in r
        ),
    }
    return result


def approve_report(registry: Registry, report_id: int, *, expect_status: str | None = None) -> dict[str, Any]:
    """``expect_status``: refuse (``ConflictError``) if the report is no longer in this status:
    the caller decided on what it saw, and someone else has decided since."""
    registry.store.check_ready()
    with registry.store.write() as tx:
        user = acting_user(tx, registry.user_name)
        require_role(user, Role.REVIEWER, Role.ADMIN)
        check_report_access(tx, report_id, user)
        _check_expected(tx.get_report(report_id), expect_status)
        result = approve(tx, report_id, user, sliver_min_m2=registry.settings.sliver_min_m2)
        tx.audit(user["id"], "report.approve", f"report {report_id}", {"revision": result.get("revision")})
        return result


def reject_report(
    registry: Registry, report_id: int, reason: str | None, *, expect_status: str | None = None
) -> dict[str, Any]:
    registry.store.check_ready()
    with registry.store.write() as tx:
        user = acting_user(tx, registry.user_name)
        require_role(user, Role.REVIEWER, Role.ADMIN)
        report = tx.get_report(report_id)
        _check_expected(report, expect_status)
        status = _transition(report, "reject")
        tx.set_report_status(report_id, status, decided_by=user["id"], reason=reason or "")
        tx.audit(user["id"], "report.reject", f"report {report_id}", {"reason": reason or ""})
    return {"report": report_id, "status": status.value}


def unapprove_report(
    registry: Registry, report_id: int, reason: str, *, expect_status: str | None = None
) -> dict[str, Any]:
    """Withdraw an approved report (admins): it stays in history, marked unapproved, and the
    records it touched are rebuilt from the reports still approved."""
    registry.store.check_ready()
    with registry.store.write() as tx:
        user = acting_user(tx, registry.user_name)
        require_role(user, Role.ADMIN)
        report = tx.get_report(report_id)
        _check_expected(report, expect_status)
        status = _transition(report, "unapprove")
        tx.set_report_status(report_id, status, decided_by=user["id"], reason=reason)
        by_kind: dict[str, list[int]] = defaultdict(list)
        for change in tx.report_changes(report_id):
            if change["record_id"] is not None:
                by_kind[change["kind"]].append(change["record_id"])
        sliver = registry.settings.sliver_min_m2
        kept = sum(rebuild(tx, RecordKind(kind), ids, sliver_min_m2=sliver) for kind, ids in by_kind.items())
        touched = sum(len(ids) for ids in by_kind.values())
        revision = tx.bump_revision()
        tx.audit(
            user["id"], "report.unapprove", f"report {report_id}", {"reason": reason, "revision": revision}
        )
    return {
        "report": report_id,
        "status": status.value,
        "records_rebuilt": kept,
        "records_withdrawn": touched - kept,
        "revision": revision,
    }


def _check_expected(report: dict[str, Any], expect_status: str | None) -> None:
    if expect_status is not None and report["status"] != expect_status:
        raise ConflictError(
            f"report {report['id']} changed since it was read: it is {report['status']} now, "
            f"not {expect_status}",
            detail=[{"report": report["id"], "status": report["status"], "expected": expect_status}],
        )


def _transition(report: dict[str, Any], action: str) -> ReportStatus:
    try:
        return next_status(ReportStatus(report["status"]), action)
    except ValueError as exc:
        raise StateError(f"report {report['id']}: {exc}") from None


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}
