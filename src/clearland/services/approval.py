"""Approving a report: reconcile its changes into the records, in the caller's transaction."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

import numpy as np
import shapely

from clearland.domain.geometry import geodesic_areas_m2
from clearland.domain.reconcile import Change, conflicts, fold, next_status
from clearland.domain.records import RECORD_TYPES
from clearland.domain.vocab import RecordKind, ReportStatus, ReportType
from clearland.errors import ConflictError, StateError
from clearland.services.remaining import refresh_remaining
from clearland.services.transitions import plan_transitions
from clearland.storage.repository import Tx


def approve(
    tx: Tx,
    report_id: int,
    approver: dict[str, Any],
    changes: list[dict[str, Any]] | None = None,
    *,
    sliver_min_m2: float = 1.0,
    report: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Approve ``report_id`` and reconcile it. Raises ``ConflictError`` (and the caller's
    transaction rolls back) when another report says otherwise with the same date, and
    ``StateError`` when the rules refuse what an activity report does to a hazard area.

    ``changes``: the report's rows when the caller has just written them in this transaction;
    a row may also carry ``shape``, its geometry already parsed, and ``area_m2``, its geodesic
    area already measured (an import has both at hand: the approval need not redo them).
    ``report``: the report's row, when the caller read it in this transaction (an import,
    before its bulk inserts: an approval of new records then reads nothing until it writes)."""
    if report is None or report["id"] != report_id:
        report = tx.get_report(report_id)
    try:
        status = next_status(ReportStatus(report["status"]), "approve")
    except ValueError as exc:
        raise StateError(f"report {report_id}: {exc}") from None
    next_seq: list[int] = []

    def approval_seq() -> int:
        # read when first needed: an approval of new records only needs it at the end
        if not next_seq:
            next_seq.append(tx.next_approval_seq())
        return next_seq[0]

    doi: dt.date = report["date_of_information"]
    by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
    # ``changes``: the report's rows when the caller has just written them in this transaction
    stored = changes if changes is not None else tx.report_changes(report_id)
    transitions: list[dict[str, Any]] = []
    if report["type"] == ReportType.ACTIVITY_REPORT.value:
        # the hazard areas' new states, decided now against the registry as it is; stored with
        # the report so that its history shows them and an unapproval undoes them
        extra, transitions = plan_transitions(tx, report, stored, sliver_min_m2=sliver_min_m2, allocate=True)
        if extra:
            stored = [*stored, *tx.insert_changes(report_id, RecordKind.HAZARD_AREA, extra)]
    for change in stored:
        by_kind[change["kind"]].append(change)
    found: list[dict[str, Any]] = []
    applied = 0
    touched_hazards: set[str] = set()
    for kind_value, kind_changes in by_kind.items():
        kind = RecordKind(kind_value)
        ids, created = tx.ensure_records(kind, [c["ref"] for c in kind_changes])
        existing = tx.approved_changes([ids[c["ref"]] for c in kind_changes if c["ref"] not in created])
        states = []
        doi_text = doi.isoformat()
        for change in kind_changes:
            ref = change["ref"]
            state: dict[str, Any] | None
            if ref in created:  # no earlier version: nothing to fold or conflict with
                state = dict(change["values"])
                geom = change["geom"]
                if geom is not None:
                    state["geometry"] = bytes(geom)
                state["date_of_information"] = doi_text
                state["record_id"] = ids[ref]
                state["ref"] = ref
                if geom is not None:
                    # the state's geometry is the change's own: what the caller knows of it holds
                    shape, area = change.get("shape"), change.get("area_m2")
                    if shape is not None:
                        state["_shape"] = shape
                    if area is not None:
                        state["_area_m2"] = area
                states.append(state)
                continue
            values = dict(change["values"])
            if change["geom"] is not None:
                values["geometry"] = bytes(change["geom"])
            record_id = ids[ref]
            new = Change(report_id=report_id, seq=approval_seq(), date_of_information=doi, values=values)
            history = existing.get(record_id, [])
            for c in conflicts(history, new):
                found.append(
                    {
                        "ref": change["ref"],
                        "field": c.field,
                        "report": c.report_id,
                        "existing": _show(c.existing_value),
                        "new": _show(c.new_value),
                    }
                )
            state = fold([*history, new])
            assert state is not None
            state["record_id"] = record_id
            state["ref"] = change["ref"]
            states.append(state)
        if found:
            continue
        _complete(kind, states)
        tx.write_current(kind, states, new=len(created) == len(states))
        if any(c.get("record_id") is None for c in kind_changes):
            tx.link_changes(report_id, kind)
        applied += len(states)
        touched_hazards.update(_hazards_touched(tx, kind, states, created))
    if found:
        raise ConflictError(
            f"report {report_id} conflicts with {len({f['report'] for f in found})} approved "
            f"report(s) of the same date of information ({doi}) on {len(found)} field(s)",
            detail=found,
        )
    refresh_remaining(tx, touched_hazards, sliver_min_m2=sliver_min_m2)
    tx.set_report_status(report_id, status, decided_by=approver["id"], approval_seq=approval_seq())
    revision = tx.bump_revision()
    result: dict[str, Any] = {"report": report_id, "records": applied, "revision": revision}
    if transitions:
        result["transitions"] = transitions
    return result


def _hazards_touched(tx: Tx, kind: RecordKind, states: list[dict[str, Any]], created: set[str]) -> set[str]:
    """Hazard areas whose remaining land may have changed with these states."""
    if kind is RecordKind.HAZARD_AREA:
        # a new hazard area has nothing released yet: its remaining land is its area; a CHA split
        # off an SHA takes its land from the parent's remaining land
        return {s["ref"] for s in states if s["ref"] not in created} | {
            s["parent_ref"] for s in states if s.get("parent_ref")
        }
    if kind is RecordKind.OUTCOME:
        return {s["hazard_ref"] for s in states if s.get("hazard_ref")}
    return set()


def rebuild(tx: Tx, kind: RecordKind, record_ids: list[int], *, sliver_min_m2: float = 1.0) -> int:
    """Recompute the current state of records from their approved changes (after an
    unapproval); a record no approved report supports any more leaves the current state."""
    changes = tx.approved_changes(record_ids)
    refs = tx.record_refs(record_ids)
    before = tx.current(kind, refs=list(refs.values()))
    states = []
    for record_id in record_ids:
        state = fold(changes.get(record_id, []))
        if state is None or state.get("geometry") is None:
            continue
        state["record_id"] = record_id
        state["ref"] = refs[record_id]
        states.append(state)
    gone = sorted(set(record_ids) - {s["record_id"] for s in states})
    if gone:
        tx.delete_current(kind, gone)
    if states:
        _complete(kind, states)
        tx.write_current(kind, states)
    touched = _hazards_touched(tx, kind, [*before, *states], set())
    if kind is RecordKind.HAZARD_AREA:
        touched -= {s["ref"] for s in before if s["record_id"] in gone}
    refresh_remaining(tx, touched, sliver_min_m2=sliver_min_m2)
    return len(states)


def _complete(kind: RecordKind, states: list[dict[str, Any]]) -> None:
    """Fill defaults and derived fields (geodesic area) of folded states. A state may carry
    ``_shape`` (its WKB already parsed) and ``_area_m2`` (already measured)."""
    record_type = RECORD_TYPES[kind]
    raw = [s["geometry"] for s in states]
    geoms = np.array([s.pop("_shape", None) for s in states], dtype=object)
    unparsed = [i for i, geom in enumerate(geoms) if geom is None]
    if unparsed:
        geoms[unparsed] = shapely.from_wkb(np.array([raw[i] for i in unparsed], dtype=object))
    known = [s.pop("_area_m2", None) for s in states]
    areas = np.array([np.nan if a is None else a for a in known], dtype=float)
    unmeasured = np.flatnonzero(np.isnan(areas))
    if len(unmeasured):
        areas[unmeasured] = geodesic_areas_m2(geoms[unmeasured])
    defaults = [(spec.name, spec.default) for spec in record_type.fields if spec.default is not None]
    for state, wkb, geom, area in zip(states, raw, geoms, areas.tolist(), strict=True):
        for name, default in defaults:
            if state.get(name) is None:
                state[name] = default
        state["wkb"] = wkb  # written as it came: no second encoding
        state["geometry"] = geom
        state["area_m2"] = area
        if kind is RecordKind.HAZARD_AREA:
            # outcomes (land release) arrive with their own issue; until then nothing is released
            state["remaining_area_m2"] = area


def _show(value: Any) -> Any:
    if isinstance(value, bytes):
        return shapely.from_wkb(value).wkt[:200]
    return value
