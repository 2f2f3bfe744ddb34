"""Submitting report files (JSON) for review: checked whole, stored as one submitted report."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import shapely
import shapely.geometry
from pydantic import BaseModel

from clearland.domain.geometry import check_geometry
from clearland.domain.records import HAZARD_AREA, allowed_geometry_types
from clearland.domain.vocab import HazardStatus, RecordKind, ReportStatus, ReportType, Role
from clearland.errors import ValidationFailed
from clearland.io.minefield_files import MarkingInspectionReport, MinefieldRecordReport
from clearland.io.report_files import ActivityReport, HazardReport, parse_report, read_report_file
from clearland.services.activities import submit_activity_report
from clearland.services.minefield_reports import submit_marking_inspection, submit_minefield_record
from clearland.services.registry import Registry, acting_user, read_limits, require_role

#: fields a report may not set: the ref names the record, the source id belongs to imports
NOT_SETTABLE = frozenset({"ref", "source_id"})


def submit_report_file(registry: Registry, path: str | Path) -> dict[str, Any]:
    """Check ``path`` completely, then store it as a submitted report; nothing on any error."""
    path = Path(path)
    return submit_report(registry, read_report_file(path, read_limits(registry)), path.name)


def submit_report_document(registry: Registry, data: Any, source_name: str) -> dict[str, Any]:
    """The same for a report document already parsed from JSON (the body of ``POST /reports``);
    ``source_name`` names it in problems and in the report's history."""
    return submit_report(registry, parse_report(data, source_name), source_name)


def submit_report(registry: Registry, report: BaseModel, source_name: str) -> dict[str, Any]:
    """Check a validated report document completely, then store it as a submitted report."""
    # the services name the report's source by ``path.name``: a bare name keeps it as given
    path = Path(PurePosixPath(source_name).name or "report")
    if isinstance(report, ActivityReport):
        return submit_activity_report(registry, path, report)
    if isinstance(report, MinefieldRecordReport):
        return submit_minefield_record(registry, path, report)
    if isinstance(report, MarkingInspectionReport):
        return submit_marking_inspection(registry, path, report)
    assert isinstance(report, HazardReport)
    registry.store.check_ready()
    problems: list[dict[str, Any]] = []
    with registry.store.write() as tx:
        user = acting_user(tx, registry.user_name)
        require_role(user, Role.SURVEYOR, Role.REVIEWER, Role.ADMIN)
        refs = [e.ref for e in report.hazard_areas if e.ref]
        current = {s["ref"]: s for s in tx.current(RecordKind.HAZARD_AREA, refs=refs)} if refs else {}
        seen: set[str] = set()
        entries: list[tuple[str | None, dict[str, Any], bytes | None]] = []
        for index, entry in enumerate(report.hazard_areas):
            where = f"hazard_areas[{index}]"

            def problem(field: str, message: str) -> None:
                problems.append({"file": path.name, "field": f"{where}.{field}", "message": message})  # noqa: B023

            values = _parse_values(entry.set, problem)
            if entry.ref is not None:
                if entry.ref in seen:
                    problem("ref", f"{entry.ref} appears twice in this report")
                seen.add(entry.ref)
                if entry.ref not in current:
                    problem("ref", f"no hazard area {entry.ref!r} in the registry")
            elif report.organisation and "organisation" not in values:
                values["organisation"] = report.organisation
            before = current.get(entry.ref or "", {})
            if before:
                _state_change(before, values, problem)
            if entry.ref is None and values.get("category") is None:
                problem("set.category", "a new hazard area needs a category (indication, SHA or CHA)")
            wkb = None
            if entry.geometry is not None:
                wkb = _checked_geometry(entry.geometry.model_dump(), {**before, **values}, problem)
            elif entry.ref is None:
                problem("geometry", "a new hazard area needs a geometry")
            if entry.ref is not None and not values and entry.geometry is None:
                problem("set", "nothing to change: give fields in 'set' or a geometry")
            entries.append((entry.ref, values, wkb))
        if problems:
            raise ValidationFailed(
                f"{path.name}: {len(problems)} problem(s); nothing was submitted", detail=problems
            )
        new_refs = iter(
            tx.allocate_refs(
                RecordKind.HAZARD_AREA,
                HAZARD_AREA.ref_prefix,
                sum(1 for ref, _v, _w in entries if ref is None),
            )
        )
        changes = [(ref or next(new_refs), values, wkb) for ref, values, wkb in entries]
        report_id = tx.insert_report(
            type=ReportType.HAZARD_REPORT.value,
            status=ReportStatus.SUBMITTED,
            date_of_information=report.date_of_information,
            created_by=user["id"],
            source_name=path.name,
            summary={"organisation": report.organisation, "description": report.description},
        )
        tx.insert_changes(report_id, RecordKind.HAZARD_AREA, changes)
        tx.audit(
            user["id"],
            "report.submit",
            f"report {report_id}",
            {"type": ReportType.HAZARD_REPORT.value, "file": path.name, "records": len(changes)},
        )
    return {
        "report": report_id,
        "status": ReportStatus.SUBMITTED.value,
        "type": ReportType.HAZARD_REPORT.value,
        "records": [ref for ref, _v, _w in changes],
    }


#: fields whose news is evidence of explosive ordnance: reported on a closed area, they reopen it
EVIDENCE_FIELDS = frozenset({"evidence_type", "evidence_description", "hazard_types"})


def _state_change(before: dict[str, Any], values: dict[str, Any], problem: Any) -> None:
    """A hazard report may not move a known area between states: only activity reports do, by
    the rules (DOMAIN.md). New evidence on a closed area reopens it (status open)."""
    for name in ("category", "status"):
        if name in values and values[name] != before.get(name):
            problem(
                f"set.{name}",
                f"a hazard report cannot change the {name} of {before['ref']} ({before.get(name)} → "
                f"{values[name]}): {name} changes through approved activity reports (survey, clearance, "
                "QC, handover); report new evidence to reopen a closed area",
            )
    if before.get("status") == HazardStatus.CLOSED.value and EVIDENCE_FIELDS & values.keys():
        values["status"] = HazardStatus.OPEN.value  # reopened: new evidence in a closed area


def _parse_values(raw_values: dict[str, Any], problem: Any) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, raw in raw_values.items():
        if name not in HAZARD_AREA.field_names or name in NOT_SETTABLE:
            settable = [n for n in HAZARD_AREA.field_names if n not in NOT_SETTABLE]
            problem(f"set.{name}", f"unknown field {name!r} (fields: {', '.join(settable)})")
            continue
        try:
            values[name] = HAZARD_AREA.field(name).parse(raw)
        except ValueError as exc:
            problem(f"set.{name}", str(exc))
    return values


def _checked_geometry(geojson: dict[str, Any], values: dict[str, Any], problem: Any) -> bytes | None:
    try:
        geom = shapely.geometry.shape(geojson)
    except (ValueError, TypeError, IndexError, shapely.errors.GEOSException) as exc:
        problem("geometry", f"not a usable GeoJSON geometry: {exc}")
        return None
    found = check_geometry(geom, allowed_geometry_types(HAZARD_AREA, values))
    if found is not None:
        problem("geometry", found.message)
        return None
    return bytes(shapely.to_wkb(shapely.normalize(shapely.force_2d(geom)), output_dimension=2))
