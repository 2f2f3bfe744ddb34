"""Submitting minefield records and marking/inspection reports: checked whole against the rules and
the registry, stored as one submitted report; nothing is stored on any problem.

A minefield record report carries two changes: the record (``MFR-…``) and the CHA it creates or
updates (``HA-…``, only public facts: category, status, hazard types from the mine categories,
marking, the perimeter). Both land through the ordinary approval (``services.approval``): the
record and the CHA get their versions together, and an unapproval withdraws both.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import shapely
import shapely.geometry

from clearland.domain.geometry import check_geometry
from clearland.domain.minefield import build_perimeter
from clearland.domain.records import HAZARD_AREA, INSPECTION, MARKER, MINEFIELD_RECORD
from clearland.domain.vocab import (
    EmplacingMethod,
    EvidenceType,
    HazardCategory,
    HazardStatus,
    MarkerCondition,
    MarkerType,
    Marking,
    MineCategory,
    RecordKind,
    ReportStatus,
    ReportType,
    Role,
    Vocabulary,
)
from clearland.errors import ValidationFailed
from clearland.io.minefield_files import MarkingInspectionReport, MinefieldRecordReport
from clearland.services.registry import Registry, acting_user, require_role
from clearland.storage.repository import Tx

Problem = Callable[[str, str], None]
_PERIODS = ("life_time_days", "self_destruct_days", "self_deactivation_days")


def _wkb(geom: Any) -> bytes:
    return bytes(shapely.to_wkb(shapely.normalize(geom), output_dimension=2))


def _vocab(vocab: type[Vocabulary], raw: str | None, field: str, problem: Problem) -> Any:
    try:
        return vocab.parse(raw)
    except ValueError as exc:
        problem(field, str(exc))
        return None


def _refuse(path: Path, problems: list[dict[str, Any]]) -> None:
    if problems:
        raise ValidationFailed(
            f"{path.name}: {len(problems)} problem(s); nothing was submitted", detail=problems
        )


def submit_minefield_record(registry: Registry, path: Path, report: MinefieldRecordReport) -> dict[str, Any]:
    """Check ``report`` completely, then store it as submitted (records custodians only)."""
    registry.store.check_ready()
    problems: list[dict[str, Any]] = []

    def problem(field: str, message: str) -> None:
        problems.append({"file": path.name, "field": field, "message": message})

    with registry.store.write() as tx:
        user = acting_user(tx, registry.user_name)
        require_role(user, Role.RECORDS_CUSTODIAN)
        values = _record_values(report, problem)
        perimeter, found = build_perimeter(
            [p.model_dump() for p in report.reference_points],
            [t.model_dump(by_alias=True) for t in report.turning_points],
            report.perimeter.coordinates if report.perimeter is not None else None,
            tolerance_m=report.tolerance_m,
        )
        for item in found:
            problem(item.field, item.message)
        if perimeter is not None:
            items = _check_items(report, perimeter.polygon, values.get("mines") or [], problem)
            values["items"] = items or None  # each report is a whole version of the record
        before: dict[str, Any] = {}
        if report.ref is not None:
            current = tx.current(RecordKind.MINEFIELD_RECORD, refs=[report.ref])
            if not current:
                problem("ref", f"no minefield record {report.ref!r} in the registry")
            else:
                before = current[0]
        _refuse(path, problems)
        assert perimeter is not None
        ref = report.ref or tx.allocate_refs(RecordKind.MINEFIELD_RECORD, MINEFIELD_RECORD.ref_prefix, 1)[0]
        hazard_ref = (
            before.get("hazard_ref") or tx.allocate_refs(RecordKind.HAZARD_AREA, HAZARD_AREA.ref_prefix, 1)[0]
        )
        values.update(
            reference_points=[p.model_dump() for p in report.reference_points],
            turning_points=perimeter.turning_points,
            perimeter_source=perimeter.source,
            hazard_ref=hazard_ref,
        )
        cha = _cha_values(ref, values, new=not before)
        report_id = tx.insert_report(
            type=ReportType.MINEFIELD_RECORD.value,
            status=ReportStatus.SUBMITTED,
            date_of_information=report.date_of_information,
            created_by=user["id"],
            source_name=path.name,
            # the summary is shown in report lists: no record details in it
            summary={"minefield_record": ref, "hazard_area": hazard_ref},
        )
        wkb = _wkb(perimeter.polygon)
        tx.insert_changes(report_id, RecordKind.MINEFIELD_RECORD, [(ref, values, wkb)])
        tx.insert_changes(report_id, RecordKind.HAZARD_AREA, [(hazard_ref, cha, wkb)])
        tx.audit(
            user["id"],
            "report.submit",
            f"report {report_id}",
            {"type": ReportType.MINEFIELD_RECORD.value, "file": path.name, "minefield_record": ref},
        )
    return {
        "report": report_id,
        "status": ReportStatus.SUBMITTED.value,
        "type": ReportType.MINEFIELD_RECORD.value,
        "minefield_record": ref,
        "hazard_area": hazard_ref,
        "perimeter_source": perimeter.source,
        "disagreement_m": perimeter.disagreement_m,
    }


def _record_values(report: MinefieldRecordReport, problem: Problem) -> dict[str, Any]:
    values: dict[str, Any] = {"recording_unit": report.recording_unit.strip()}
    method = _vocab(EmplacingMethod, report.emplacing_method, "emplacing_method", problem)
    if method is not None:
        values["emplacing_method"] = method.value
    if report.laid_to < report.laid_from:
        problem(
            "laid_to",
            f"laying ended ({report.laid_to.isoformat()}) before it began ({report.laid_from.isoformat()})",
        )
    if report.laid_to.date() > report.date_of_information:
        problem(
            "laid_to",
            f"{report.laid_to.date()} is after the date of information ({report.date_of_information})",
        )
    values["laid_from"] = report.laid_from.isoformat()
    values["laid_to"] = report.laid_to.isoformat()
    if not report.tolerance_m > 0:
        problem("tolerance_m", f"the tolerance must be more than 0 m, not {report.tolerance_m:g}")
    mines = []
    for index, mine in enumerate(report.mines):
        where = f"mines[{index}]"
        category = _vocab(MineCategory, mine.category, f"{where}.category", problem)
        if mine.quantity <= 0:
            problem(f"{where}.quantity", f"quantity must be more than 0, not {mine.quantity}")
        for name in _PERIODS:
            days = getattr(mine, name)
            if days is not None and not days > 0:
                problem(f"{where}.{name}", f"a period must be more than 0 days, not {days:g}")
        if method is EmplacingMethod.REMOTELY_DELIVERED:
            for name in ("self_destruct_days", "self_deactivation_days"):
                if getattr(mine, name) is None:
                    problem(
                        f"{where}.{name}",
                        "remotely delivered mines must be recorded with their self-destruct "
                        "and self-deactivation periods (Amended Protocol II, Technical Annex)",
                    )
        entry = mine.model_dump()
        entry["category"] = category.value if category is not None else mine.category
        mines.append(entry)
    values["mines"] = mines
    values["marking"] = None
    if report.marking is not None:
        marking = _vocab(Marking, report.marking, "marking", problem)
        values["marking"] = marking.value if marking is not None else None
    for name in ("name", "description"):
        values[name] = getattr(report, name) or None  # each report is a whole version of the record
    return values


def _check_items(
    report: MinefieldRecordReport, polygon: Any, mines: list[dict[str, Any]], problem: Problem
) -> list[dict[str, Any]]:
    """The item positions, checked: inside the perimeter, no more per category than recorded."""
    quantity: dict[str, int] = {}
    for mine in mines:
        quantity[mine["category"]] = quantity.get(mine["category"], 0) + max(mine["quantity"], 0)
    counted: dict[str, int] = {}
    seen: set[str] = set()
    items = []
    for index, item in enumerate(report.items):
        where = f"items[{index}]"
        category = _vocab(MineCategory, item.category, f"{where}.category", problem)
        if item.id in seen:
            problem(f"{where}.id", f"item {item.id!r} is given twice")
        seen.add(item.id)
        point = shapely.Point(item.lon, item.lat)
        found = check_geometry(point, frozenset({"Point"}))
        if found is not None:
            problem(where, f"{found.message} (lon, lat in EPSG:4326)")
        elif not polygon.covers(point):
            problem(where, f"item {item.id!r} at ({item.lon:.6f}, {item.lat:.6f}) lies outside the perimeter")
        if category is not None:
            counted[category.value] = counted.get(category.value, 0) + 1
            items.append({**item.model_dump(), "category": category.value})
    for category, count in sorted(counted.items()):
        if count > quantity.get(category, 0):
            problem(
                "items",
                f"{count} {category} item positions, more than the {quantity.get(category, 0)} "
                f"{category} mines in the mine table",
            )
    return items


def _cha_values(ref: str, values: dict[str, Any], *, new: bool) -> dict[str, Any]:
    """The CHA's side of the record: only what the public may see, plus the restricted link."""
    types = sorted({MineCategory(m["category"]).hazard_type.value for m in values["mines"]})
    cha: dict[str, Any] = {"hazard_types": types, "minefield_record_ref": ref}
    if values.get("marking"):
        cha["marking"] = values["marking"]
    if new:
        cha.update(
            category=HazardCategory.CHA.value,
            status=HazardStatus.OPEN.value,
            evidence_type=EvidenceType.DIRECT.value,
            evidence_description="minefield record",
            name="Recorded minefield",
        )
    return cha


def submit_marking_inspection(
    registry: Registry, path: Path, report: MarkingInspectionReport
) -> dict[str, Any]:
    """Markers put up (or updated) around a minefield, and an inspection of its marking."""
    registry.store.check_ready()
    problems: list[dict[str, Any]] = []

    def problem(field: str, message: str) -> None:
        problems.append({"file": path.name, "field": field, "message": message})

    with registry.store.write() as tx:
        user = acting_user(tx, registry.user_name)
        require_role(user, Role.SURVEYOR, Role.RECORDS_CUSTODIAN, Role.REVIEWER, Role.ADMIN)
        found = tx.current(RecordKind.MINEFIELD_RECORD, refs=[report.minefield_ref])
        record = found[0] if found else None
        if record is None:
            problem("minefield_ref", f"no minefield record {report.minefield_ref!r} in the registry")
        known = {
            m["ref"]: m for m in tx.current(RecordKind.MARKER, where={"minefield_ref": report.minefield_ref})
        }
        if not report.markers and report.inspection is None:
            problem("markers", "nothing reported: give markers, an inspection, or both")
        markers = _marker_changes(tx, report, known, record, problem)
        inspection = _inspection_values(report, known, problem)
        _refuse(path, problems)
        assert record is not None
        new_refs = iter(
            tx.allocate_refs(
                RecordKind.MARKER, MARKER.ref_prefix, sum(1 for r, _v, _w in markers if r is None)
            )
        )
        marker_changes = [(ref or next(new_refs), values, wkb) for ref, values, wkb in markers]
        report_id = tx.insert_report(
            type=ReportType.MARKING_INSPECTION.value,
            status=ReportStatus.SUBMITTED,
            date_of_information=report.date_of_information,
            created_by=user["id"],
            source_name=path.name,
            summary={"minefield_record": report.minefield_ref, "hazard_area": record.get("hazard_ref")},
        )
        inspection_ref = None
        if inspection is not None:
            inspection_ref = tx.allocate_refs(RecordKind.INSPECTION, INSPECTION.ref_prefix, 1)[0]
            tx.insert_changes(
                report_id, RecordKind.INSPECTION, [(inspection_ref, inspection, _wkb(record["geometry"]))]
            )
            day = inspection["inspected_on"]
            listed = {r for r, _v, _w in marker_changes}
            for ref in sorted(set(known) - listed):  # every marker of the record was inspected
                condition = _inspected_condition(ref, inspection)
                marker_changes.append((ref, {"last_inspected": day, "condition": condition}, None))
        if marker_changes:
            tx.insert_changes(report_id, RecordKind.MARKER, marker_changes)
        tx.audit(
            user["id"],
            "report.submit",
            f"report {report_id}",
            {
                "type": ReportType.MARKING_INSPECTION.value,
                "file": path.name,
                "minefield_record": report.minefield_ref,
            },
        )
    return {
        "report": report_id,
        "status": ReportStatus.SUBMITTED.value,
        "type": ReportType.MARKING_INSPECTION.value,
        "minefield_record": report.minefield_ref,
        "markers": [ref for ref, _v, _w in marker_changes],
        "inspection": inspection_ref,
    }


def _inspected_condition(ref: str, inspection: dict[str, Any]) -> str:
    if ref in (inspection.get("missing_markers") or []):
        return MarkerCondition.MISSING.value
    if ref in (inspection.get("damaged_markers") or []):
        return MarkerCondition.DAMAGED.value
    return MarkerCondition.GOOD.value


def _marker_changes(
    tx: Tx,
    report: MarkingInspectionReport,
    known: dict[str, Any],
    record: dict[str, Any] | None,
    problem: Problem,
) -> list[tuple[str | None, dict[str, Any], bytes | None]]:
    out: list[tuple[str | None, dict[str, Any], bytes | None]] = []
    for index, entry in enumerate(report.markers):
        where = f"markers[{index}]"
        values: dict[str, Any] = {}
        kind = None
        if entry.ref is not None:
            if entry.ref not in known:
                problem(f"{where}.ref", f"no marker {entry.ref!r} of {report.minefield_ref} in the registry")
                continue
            kind = MarkerType(known[entry.ref]["type"])
        elif entry.type is None or entry.position is None:
            problem(where, "a new marker needs a type and a position")
            continue
        if entry.type is not None:
            kind = _vocab(MarkerType, entry.type, f"{where}.type", problem)
            if kind is not None:
                values["type"] = kind.value
        if entry.condition is not None:
            condition = _vocab(MarkerCondition, entry.condition, f"{where}.condition", problem)
            if condition is not None:
                values["condition"] = condition.value
        if entry.description is not None:
            values["description"] = entry.description
        wkb = None
        if entry.position is not None:
            allowed = frozenset({"LineString"}) if kind is MarkerType.FENCE else frozenset({"Point"})
            try:
                geom = shapely.force_2d(shapely.geometry.shape(entry.position))
            except (ValueError, TypeError, IndexError, AttributeError, shapely.errors.GEOSException) as exc:
                problem(f"{where}.position", f"not a usable GeoJSON geometry: {exc}")
                continue
            found = check_geometry(geom, allowed)
            if found is not None:
                problem(
                    f"{where}.position", f"{found.message} (a fence is a LineString, other markers a Point)"
                )
                continue
            wkb = _wkb(geom)
        if entry.ref is None and record is not None:
            values.update(
                minefield_ref=report.minefield_ref,
                hazard_ref=record.get("hazard_ref"),
                installed_on=report.date_of_information.isoformat(),
            )
            values.setdefault("condition", MarkerCondition.GOOD.value)
        out.append((entry.ref, values, wkb))
    return out


def _inspection_values(
    report: MarkingInspectionReport, known: dict[str, Any], problem: Problem
) -> dict[str, Any] | None:
    entry = report.inspection
    if entry is None:
        return None
    condition = _vocab(MarkerCondition, entry.condition, "inspection.condition", problem)
    if entry.inspected_on > report.date_of_information:
        problem("inspection.inspected_on", f"{entry.inspected_on} is after the report's date of information")
    for name in ("missing_markers", "damaged_markers"):
        for index, ref in enumerate(getattr(entry, name)):
            if ref not in known:
                problem(
                    f"inspection.{name}[{index}]",
                    f"no marker {ref!r} of {report.minefield_ref} in the registry",
                )
    both = set(entry.missing_markers) & set(entry.damaged_markers)
    if both:
        problem("inspection", f"{', '.join(sorted(both))} listed both as missing and as damaged")
    values = {
        "minefield_ref": report.minefield_ref,
        "inspected_on": entry.inspected_on.isoformat(),
        "inspector": entry.inspector,
        "condition": condition.value if condition is not None else None,
        "missing_markers": sorted(set(entry.missing_markers)) or None,
        "damaged_markers": sorted(set(entry.damaged_markers)) or None,
        "notes": entry.notes,
    }
    return {k: v for k, v in values.items() if v is not None}
