"""Submitting activity reports (survey, clearance, EOD, QA/QC, handover): checked whole against the
registry, stored as one submitted report with the activity, its outcomes and its devices. What
the report does to the hazard areas' states is decided on approval (``services.transitions``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import shapely
import shapely.geometry

from clearland.domain.geometry import check_geometry
from clearland.domain.records import ACTIVITY, DEVICE, OUTCOME
from clearland.domain.release import match_outcomes, outcomes_allowed, polygonal
from clearland.domain.vocab import (
    ActivityStatus,
    ActivityType,
    Asset,
    DeviceCategory,
    Disposal,
    MarkerType,
    OutcomeKind,
    RecordKind,
    ReportStatus,
    ReportType,
    Role,
    Vocabulary,
)
from clearland.errors import ValidationFailed
from clearland.io.report_files import ActivityReport
from clearland.services.registry import Registry, acting_user, require_role
from clearland.storage.repository import Tx

Problem = Callable[[str, str], None]
_POLYGONAL = frozenset({"Polygon", "MultiPolygon"})


def submit_activity_report(registry: Registry, path: Path, report: ActivityReport) -> dict[str, Any]:
    """Check ``report`` completely against the registry, then store it as submitted; nothing is
    stored on any problem (``ValidationFailed`` lists them all, each naming its field)."""
    registry.store.check_ready()
    problems: list[dict[str, Any]] = []

    def problem(field: str, message: str) -> None:
        problems.append({"file": path.name, "field": field, "message": message})

    with registry.store.write() as tx:
        user = acting_user(tx, registry.user_name)
        require_role(user, Role.SURVEYOR, Role.REVIEWER, Role.ADMIN)
        activity = _activity_values(tx, report, problem)
        hazards = {h["ref"]: h for h in tx.current(RecordKind.HAZARD_AREA, refs=report.hazard_areas)}
        for index, ref in enumerate(report.hazard_areas):
            if ref not in hazards:
                problem(f"hazard_areas[{index}]", f"no hazard area {ref!r} in the registry")
        if len(set(report.hazard_areas)) != len(report.hazard_areas):
            problem("hazard_areas", "a hazard area is listed twice")
        outcome_parts, dropped = _outcome_parts(
            report, hazards, activity.get("activity_type"), problem, registry
        )
        devices = _devices(report, hazards, problem)
        if problems:
            raise ValidationFailed(
                f"{path.name}: {len(problems)} problem(s); nothing was submitted", detail=problems
            )

        activity_ref = report.activity_ref or tx.allocate_refs(RecordKind.ACTIVITY, ACTIVITY.ref_prefix, 1)[0]
        worksite = (
            shapely.geometry.shape(report.worksite.model_dump())
            if report.worksite is not None
            else shapely.union_all([hazards[ref]["geometry"] for ref in report.hazard_areas])
        )
        common = {"activity_type": activity["activity_type"], "activity_ref": activity_ref}
        if report.organisation:
            common["organisation"] = report.organisation
        out_refs = iter(tx.allocate_refs(RecordKind.OUTCOME, OUTCOME.ref_prefix, len(outcome_parts)))
        outcome_changes = [
            (next(out_refs), {**common, "kind": kind, "hazard_ref": hazard_ref}, _wkb(geom))
            for kind, hazard_ref, geom in outcome_parts
        ]
        dev_refs = iter(tx.allocate_refs(RecordKind.DEVICE, DEVICE.ref_prefix, len(devices)))
        device_changes = [
            (next(dev_refs), {**values, "activity_ref": activity_ref}, _wkb(point))
            for values, point in devices
        ]
        report_id = tx.insert_report(
            type=ReportType.ACTIVITY_REPORT.value,
            status=ReportStatus.SUBMITTED,
            date_of_information=report.date_of_information,
            created_by=user["id"],
            source_name=path.name,
            summary={
                "activity_type": activity["activity_type"],
                "activity_ref": activity_ref,
                "organisation": report.organisation,
                "description": report.description,
                "hazard_areas": report.hazard_areas,
                "dropped_outside_m2": dropped,
            },
        )
        tx.insert_changes(report_id, RecordKind.ACTIVITY, [(activity_ref, activity, _wkb(worksite))])
        if outcome_changes:
            tx.insert_changes(report_id, RecordKind.OUTCOME, outcome_changes)
        if device_changes:
            tx.insert_changes(report_id, RecordKind.DEVICE, device_changes)
        tx.audit(
            user["id"],
            "report.submit",
            f"report {report_id}",
            {"type": ReportType.ACTIVITY_REPORT.value, "file": path.name, "activity": activity_ref},
        )
    return {
        "report": report_id,
        "status": ReportStatus.SUBMITTED.value,
        "type": ReportType.ACTIVITY_REPORT.value,
        "activity": activity_ref,
        "outcomes": [ref for ref, _v, _w in outcome_changes],
        "devices": [ref for ref, _v, _w in device_changes],
        "dropped_outside_m2": dropped,
    }


def _activity_values(tx: Tx, report: ActivityReport, problem: Problem) -> dict[str, Any]:
    values: dict[str, Any] = {}
    activity_type = _vocab(ActivityType, report.activity_type, "activity_type", problem)
    if activity_type is not None:
        values["activity_type"] = activity_type.value
    status = _vocab(ActivityStatus, report.status, "status", problem)
    if status is not None:
        values["status"] = status.value
    assets = [_vocab(Asset, a, f"assets[{i}]", problem) for i, a in enumerate(report.assets)]
    if assets:
        values["assets"] = sorted({a.value for a in assets if a is not None})
    if report.start_date and report.end_date and report.end_date < report.start_date:
        problem("end_date", f"end date {report.end_date} is before start date {report.start_date}")
    for name in ("start_date", "end_date"):
        day = getattr(report, name)
        if day is not None and day > report.date_of_information:
            problem(name, f"{day} is after the report's date of information ({report.date_of_information})")
        if day is not None:
            values[name] = day.isoformat()
    if report.depth_cm is not None and report.depth_cm < 0:
        problem("depth_cm", f"depth {report.depth_cm} cm is negative")
    if report.qc_passed is not None and activity_type not in (ActivityType.QC, None):
        problem("qc_passed", "only a quality control (qc) reports whether the land passed")
    if activity_type is ActivityType.QC and report.qc_passed is None:
        problem("qc_passed", "a quality control must say whether the land passed (true or false)")
    for name in ("organisation", "depth_cm", "qc_passed", "new_evidence", "description"):
        if getattr(report, name) is not None:
            values[name] = getattr(report, name)
    values["hazard_refs"] = sorted(set(report.hazard_areas))
    markers = []
    for index, marker in enumerate(report.markers):
        kind = _vocab(MarkerType, marker.type, f"markers[{index}].type", problem)
        point = _point(marker.position.model_dump(), f"markers[{index}].position", problem)
        if kind is not None and point is not None:
            markers.append(
                {"type": kind.value, "lon": point.x, "lat": point.y, "description": marker.description}
            )
    if markers:
        values["markers"] = markers
    if report.activity_ref is not None:
        found = tx.current(RecordKind.ACTIVITY, refs=[report.activity_ref])
        earlier = found[0] if found else None
        if earlier is None:
            problem("activity_ref", f"no activity {report.activity_ref!r} in the registry")
        else:
            if activity_type is not None and earlier["activity_type"] != activity_type.value:
                problem(
                    "activity_type",
                    f"{report.activity_ref} is a {earlier['activity_type']} activity, "
                    f"not {activity_type.value}",
                )
            values["hazard_refs"] = sorted(set(values["hazard_refs"]) | set(earlier["hazard_refs"] or []))
    return values


def _outcome_parts(
    report: ActivityReport,
    hazards: dict[str, dict[str, Any]],
    activity_type: str | None,
    problem: Problem,
    registry: Registry,
) -> tuple[list[tuple[str, str, Any]], float]:
    """(kind, hazard ref, clipped geometry) per part, and the m² dropped outside (``skip``)."""
    allowed = outcomes_allowed(ActivityType(activity_type)) if activity_type else None
    sliver = registry.settings.sliver_min_m2
    parts: list[tuple[str, str, Any]] = []
    dropped = 0.0
    for index, entry in enumerate(report.outcomes):
        where = f"outcomes[{index}]"
        kind = _vocab(OutcomeKind, entry.kind, f"{where}.kind", problem)
        if kind is not None and allowed is not None and kind not in allowed:
            words = ", ".join(sorted(allowed)) or "none"
            problem(
                f"{where}.kind",
                f"a {activity_type} activity cannot report {kind.value} land (it may: {words})",
            )
        geom = _shape(entry.geometry.model_dump(), f"{where}.geometry", _POLYGONAL, problem)
        if entry.hazard_ref is not None and entry.hazard_ref not in report.hazard_areas:
            problem(f"{where}.hazard_ref", f"{entry.hazard_ref!r} is not one of the report's hazard_areas")
            continue
        targets = [entry.hazard_ref] if entry.hazard_ref else [r for r in report.hazard_areas if r in hazards]
        if kind is None or geom is None or not targets or any(r not in hazards for r in targets):
            continue
        # an indication recorded as a point has no land to clip to: an outcome polygon that covers
        # the point is the land the survey established around it (cancelled, or the SHA confirmed)
        points = [r for r in targets if hazards[r]["geometry"].geom_type in ("Point", "MultiPoint")]
        covered = [r for r in points if geom.covers(hazards[r]["geometry"])]
        parts += [(kind.value, ref, shapely.normalize(geom)) for ref in covered]
        areal = [r for r in targets if r not in points]
        if covered or not areal:
            if not covered:
                problem(
                    f"{where}.geometry",
                    f"the polygon does not cover the point of the indication(s) {', '.join(points)}",
                )
            continue
        matched = match_outcomes(
            [(str(index), geom)],
            [(ref, hazards[ref]["geometry"]) for ref in areal],
            sliver_min_m2=sliver,
        )
        for lost in matched.unmatched:
            if report.on_unmatched == "reject":
                problem(
                    f"{where}.geometry",
                    f"{lost.area_m2:,.1f} m² lie outside the hazard areas the report works on "
                    f'({", ".join(targets)}); correct the polygon or set "on_unmatched": "skip"',
                )
            dropped += lost.area_m2
        for part in matched.parts:
            parts.append((kind.value, part.hazard_ref, shapely.normalize(polygonal(part.geometry))))
    return parts, round(dropped, 3)


def _devices(
    report: ActivityReport, hazards: dict[str, dict[str, Any]], problem: Problem
) -> list[tuple[dict[str, Any], Any]]:
    out = []
    for index, entry in enumerate(report.devices):
        where = f"devices[{index}]"
        category = _vocab(DeviceCategory, entry.category, f"{where}.category", problem)
        disposal = _vocab(Disposal, entry.disposal, f"{where}.disposal", problem)
        if entry.quantity < 1:
            problem(f"{where}.quantity", f"quantity must be at least 1, not {entry.quantity}")
        if entry.depth_cm is not None and entry.depth_cm < 0:
            problem(f"{where}.depth_cm", f"depth {entry.depth_cm} cm is negative")
        point = _point(entry.position.model_dump(), f"{where}.position", problem)
        hazard_ref = entry.hazard_ref
        if hazard_ref is not None and hazard_ref not in report.hazard_areas:
            problem(f"{where}.hazard_ref", f"{hazard_ref!r} is not one of the report's hazard_areas")
        if hazard_ref is None and point is not None:  # the hazard area it lies in, if any
            inside = [r for r in report.hazard_areas if r in hazards and hazards[r]["geometry"].covers(point)]
            hazard_ref = inside[0] if inside else None
        if category is None or disposal is None or point is None:
            continue
        values = {
            "category": category.value,
            "quantity": entry.quantity,
            "disposal": disposal.value,
            "model": entry.model,
            "depth_cm": entry.depth_cm,
            "hazard_ref": hazard_ref,
        }
        out.append(({k: v for k, v in values.items() if v is not None}, point))
    return out


def _vocab(vocab: type[Vocabulary], raw: str, field: str, problem: Problem) -> Any:
    try:
        return vocab.parse(raw)
    except ValueError as exc:
        problem(field, str(exc))
        return None


def _shape(geojson: dict[str, Any], field: str, allowed: frozenset[str], problem: Problem) -> Any:
    try:
        geom = shapely.force_2d(shapely.geometry.shape(geojson))
    except (ValueError, TypeError, IndexError, AttributeError, shapely.errors.GEOSException) as exc:
        problem(field, f"not a usable GeoJSON geometry: {exc}")
        return None
    found = check_geometry(geom, allowed)
    if found is not None:
        problem(field, f"{found.message} (coordinates must be longitude, latitude in EPSG:4326)")
        return None
    return geom


def _point(geojson: dict[str, Any], field: str, problem: Problem) -> Any:
    return _shape(geojson, field, frozenset({"Point"}), problem)


def _wkb(geom: Any) -> bytes:
    return bytes(shapely.to_wkb(geom, output_dimension=2))
