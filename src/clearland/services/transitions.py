"""What an approved activity report does to the state of the hazard areas it works on.

Decided at approval, against the registry as it is then (``domain.release.next_state``): the
new category and status of each area, a CHA split off an SHA by a confirmed outcome (lineage in
``parent_ref``), the handover date. The result is a list of hazard-area changes that the
approval stores with the report, so the history shows them and an unapproval undoes them.
A transition the rules refuse refuses the whole approval, naming the area and the reason.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

import shapely

from clearland.domain.records import HAZARD_AREA
from clearland.domain.release import (
    TransitionRefused,
    measured_areas_m2,
    next_state,
    polygonal,
)
from clearland.domain.vocab import (
    RELEASE_KINDS,
    ActivityType,
    EvidenceType,
    HazardCategory,
    HazardStatus,
    OutcomeKind,
    RecordKind,
)
from clearland.errors import StateError
from clearland.storage.repository import Tx

Change = tuple[str, dict[str, Any], bytes | None]
_RELEASED = frozenset(k.value for k in RELEASE_KINDS)


def plan_transitions(
    tx: Tx, report: dict[str, Any], changes: list[dict[str, Any]], *, sliver_min_m2: float, allocate: bool
) -> tuple[list[Change], list[dict[str, Any]]]:
    """``(hazard-area changes, one entry per area: from, to, reason, split_off)`` for the activity
    report ``report`` whose stored ``changes`` are given. ``allocate``: reserve refs for split-off
    CHAs (on approval); a preview names them ``(new CHA)``. ``StateError`` if a rule refuses."""
    (activity,) = [c["values"] for c in changes if c["kind"] == RecordKind.ACTIVITY.value]
    activity_type = ActivityType(activity["activity_type"])
    refs = list((report.get("summary") or {}).get("hazard_areas") or activity.get("hazard_refs") or [])
    hazards = tx.current(RecordKind.HAZARD_AREA, refs=refs)
    released: dict[str, list[Any]] = defaultdict(list)
    for outcome in tx.current(RecordKind.OUTCOME, hazard_refs=refs):
        if outcome["kind"] in _RELEASED:
            released[outcome["hazard_ref"]].append(outcome["geometry"])
    children: dict[str, list[Any]] = defaultdict(list)
    for child in tx.current(RecordKind.HAZARD_AREA, parent_refs=refs):
        children[child["parent_ref"]].append(child["geometry"])
    new_kinds: dict[str, set[OutcomeKind]] = defaultdict(set)
    confirmed: dict[str, list[Any]] = defaultdict(list)
    for change in changes:
        if change["kind"] != RecordKind.OUTCOME.value:
            continue
        ref, kind = change["values"]["hazard_ref"], OutcomeKind(change["values"]["kind"])
        new_kinds[ref].add(kind)
        geom = shapely.from_wkb(bytes(change["geom"]))
        (released if kind.value in _RELEASED else confirmed)[ref].append(geom)

    out: list[Change] = []
    plan: list[dict[str, Any]] = []
    refused: list[dict[str, Any]] = []
    splits: list[tuple[dict[str, Any], Any]] = []
    for hazard in hazards:
        ref = hazard["ref"]
        area = polygonal(hazard["geometry"])
        gone = _union([*released[ref], *children[ref]])
        confirmed_part = polygonal(_union(confirmed[ref]) & area - gone) if confirmed[ref] else None
        rest = (
            polygonal(area - gone - confirmed_part) if confirmed_part is not None else polygonal(area - gone)
        )
        remaining_m2 = float(measured_areas_m2([rest])[0])
        try:
            step = next_state(
                hazard["category"],
                hazard["status"],
                activity_type,
                new_kinds[ref],
                remaining_m2=remaining_m2,
                qc_passed=activity.get("qc_passed") is True,
                new_evidence=bool(activity.get("new_evidence")),
                sliver_min_m2=sliver_min_m2,
            )
        except TransitionRefused as exc:
            refused.append(
                {"ref": ref, "category": hazard["category"], "status": hazard["status"], "reason": exc.reason}
            )
            continue
        values: dict[str, Any] = {}
        wkb = None
        if step.category.value != hazard["category"]:
            values["category"] = step.category.value
        if (
            hazard["geometry"].geom_type in ("Point", "MultiPoint")
            and step.category is not HazardCategory.INDICATION
        ):
            # a point indication becomes an SHA: its land is the confirmed polygon around the point
            if not confirmed[ref]:
                refused.append(
                    {
                        "ref": ref,
                        "category": hazard["category"],
                        "status": hazard["status"],
                        "reason": "a point indication becomes an SHA only with the SHA's polygon: "
                        "report it as a confirmed outcome covering the point",
                    }
                )
                continue
            wkb = bytes(shapely.to_wkb(shapely.normalize(_union(confirmed[ref])), output_dimension=2))
        if step.status.value != hazard["status"]:
            values["status"] = step.status.value
        if activity_type is ActivityType.HANDOVER:
            values["handed_over_on"] = activity.get("end_date") or _iso(report["date_of_information"])
        entry = {
            "ref": ref,
            "from": {"category": hazard["category"], "status": hazard["status"]},
            "to": {"category": step.category.value, "status": step.status.value},
            "reason": step.reason,
            "remaining_m2": round(remaining_m2, 3),
            "split_off": None,
        }
        if step.split_off is not None and confirmed_part is not None and not confirmed_part.is_empty:
            splits.append((entry, confirmed_part))
        if values or wkb is not None:
            out.append((ref, values, wkb))
        plan.append(entry)
    if refused:
        words = "; ".join(f"{r['ref']} ({r['category']}, {r['status']}): {r['reason']}" for r in refused)
        raise StateError(f"report {report['id']} cannot be approved: {words}", detail=refused)

    new_refs = (
        tx.allocate_refs(RecordKind.HAZARD_AREA, HAZARD_AREA.ref_prefix, len(splits))
        if allocate
        else ["(new CHA)"] * len(splits)
    )
    by_ref = {h["ref"]: h for h in hazards}
    for (entry, part), child_ref in zip(splits, new_refs, strict=True):
        parent = by_ref[entry["ref"]]
        entry["split_off"] = child_ref
        values = {
            "category": HazardCategory.CHA.value,
            "status": HazardStatus.OPEN.value,
            "parent_ref": parent["ref"],
            "evidence_type": EvidenceType.DIRECT.value,
            "name": f"{parent['name']} (confirmed part)" if parent.get("name") else None,
        }
        for name in ("hazard_types", "admin_area", "organisation", "priority", "blockage", "marking"):
            values[name] = parent.get(name)
        if activity.get("organisation"):
            values["organisation"] = activity["organisation"]
        values = {k: v for k, v in values.items() if v is not None}
        out.append((child_ref, values, bytes(shapely.to_wkb(shapely.normalize(part), output_dimension=2))))
    return out, plan


def _union(geoms: list[Any]) -> Any:
    parts = [polygonal(g) for g in geoms]
    return polygonal(shapely.union_all([p for p in parts if not p.is_empty])) if parts else shapely.Polygon()


def _iso(day: Any) -> str:
    return day.isoformat() if isinstance(day, dt.date) else str(day)
