"""Reading minefield records and checking them: who may see them, the records with their markers
and inspections, item logs, overdue inspections and gaps in the signs along a perimeter.

Access (DOMAIN.md "Roles", ARCHITECTURE.md principle 5): a record's details are for the
``records_custodian`` role only. ``admin`` does not see them by being admin (it manages users and
may grant itself the role, which the audit log then shows); everyone else sees the CHA only.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from clearland.domain.minefield_checks import check_items, sign_gaps
from clearland.domain.vocab import MarkerCondition, MarkerType, RecordKind, ReportType, Role
from clearland.errors import PermissionDenied, UnknownRecord
from clearland.io.minefield_logs import read_item_log
from clearland.services import queries
from clearland.services.registry import Registry, acting_user
from clearland.storage.repository import Tx

#: report types whose content is a minefield record's details
RESTRICTED_REPORTS = frozenset({ReportType.MINEFIELD_RECORD.value})
CUSTODIAN = Role.RECORDS_CUSTODIAN
#: links to a minefield record from other records (a CHA's, a marker's): its ref is one of its details
CUSTODIAN_FIELDS = frozenset({"minefield_record_ref", "minefield_ref"})
#: record kinds whose every field is a minefield record's detail
CUSTODIAN_KINDS = frozenset({RecordKind.MINEFIELD_RECORD, RecordKind.INSPECTION})


def is_custodian(user: dict[str, Any]) -> bool:
    return CUSTODIAN.value in user["roles"]


def require_custodian(user: dict[str, Any], what: str = "minefield records") -> None:
    if not is_custodian(user):
        raise PermissionDenied(
            f"user {user['name']!r} needs the {CUSTODIAN.value} role to see {what}; "
            "others see only the hazard area (CHA) a record creates"
        )


def check_custodian(registry: Registry) -> dict[str, Any]:
    """The acting user, if it holds the records custodian role (``PermissionDenied`` if not)."""
    registry.store.check_ready()
    with registry.store.read() as tx:
        user = acting_user(tx, registry.user_name)
    require_custodian(user)
    return user


def check_export_access(registry: Registry, kind: RecordKind, *, public: bool) -> None:
    """Minefield records and inspections are exported for records custodians only, and never as a
    public export: the public sees the CHA (``--as hazard-areas --public``)."""
    if kind not in (RecordKind.MINEFIELD_RECORD, RecordKind.INSPECTION):
        return
    if public:
        raise PermissionDenied(
            f"{kind.value.replace('_', ' ')}s are never exported publicly: the public sees the hazard areas "
            "(CHAs) the records create (export --as hazard-areas --public)"
        )
    check_custodian(registry)


def check_report_access(tx: Tx, report_id: int, user: dict[str, Any] | str) -> None:
    """A minefield record report is shown and approved by records custodians only. ``user``:
    the acting user, or its name (looked up only when the report is restricted)."""
    report = tx.get_report(report_id)
    if report["type"] in RESTRICTED_REPORTS:
        who = acting_user(tx, user) if isinstance(user, str) else user
        require_custodian(who, f"report {report_id} (a minefield record)")


def redact_changes(changes: list[dict[str, Any]], user: dict[str, Any]) -> list[dict[str, Any]]:
    """A report's changes (``review.show_report``) as ``user`` may see them. For anyone but a
    records custodian, the change of a minefield record or an inspection keeps only its kind, ref
    and action, marked ``restricted``, and no change shows a link to a minefield record: what is
    left is what the public layers and staff see of the CHA and its markers."""
    if is_custodian(user):
        return changes
    kinds = {kind.value for kind in CUSTODIAN_KINDS}
    shown = []
    for change in changes:
        if change["kind"] in kinds:
            keep = {k: change[k] for k in ("kind", "ref", "action")}
            shown.append({**keep, "fields": {}, "restricted": True})
        else:
            fields = {k: v for k, v in change["fields"].items() if k not in CUSTODIAN_FIELDS}
            shown.append({**change, "fields": fields})
    return shown


def list_records(registry: Registry, *, as_of: dt.date | None = None) -> list[dict[str, Any]]:
    """Every minefield record (or as of a date), with mine totals and its last inspection."""
    check_custodian(registry)
    states = queries.records(registry, RecordKind.MINEFIELD_RECORD, as_of=as_of)
    last = _last_inspections(registry)
    out = []
    for state in states:
        totals: dict[str, int] = {}
        for mine in state.get("mines") or []:
            totals[mine["category"]] = totals.get(mine["category"], 0) + int(mine["quantity"])
        out.append({**state, "mine_totals": totals, "last_inspected": last.get(state["ref"])})
    return out


def show_record(
    registry: Registry, ref: str, *, as_of: dt.date | None = None, history: bool = False
) -> dict[str, Any]:
    """One record with its markers, inspections and the state of its CHA."""
    check_custodian(registry)
    state = queries.record(registry, ref, RecordKind.MINEFIELD_RECORD, as_of=as_of, history=history)
    with registry.store.read() as tx:
        state["markers"] = [_plain(m) for m in tx.current(RecordKind.MARKER, where={"minefield_ref": ref})]
        inspections = tx.current(RecordKind.INSPECTION, where={"minefield_ref": ref})
        state["inspections"] = sorted((_plain(i) for i in inspections), key=lambda i: i["inspected_on"])
        cha = (
            tx.current(RecordKind.HAZARD_AREA, refs=[state["hazard_ref"]]) if state.get("hazard_ref") else []
        )
    state["last_inspected"] = state["inspections"][-1]["inspected_on"] if state["inspections"] else None
    if cha:
        keys = ("ref", "category", "status", "marking", "area_m2", "remaining_area_m2", "handed_over_on")
        state["hazard_area"] = {k: cha[0].get(k) for k in keys}
    return state


def _plain(state: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in state.items() if k not in ("geometry", "record_id")}
    geom = state["geometry"]
    if geom.geom_type == "Point":
        out["lon"], out["lat"] = geom.x, geom.y
    elif geom.geom_type == "LineString":
        out["coordinates"] = [list(c) for c in geom.coords]
    return out


def _last_inspections(registry: Registry) -> dict[str, str]:
    with registry.store.read() as tx:
        last: dict[str, str] = {}
        for row in tx.current(RecordKind.INSPECTION):
            ref = row["minefield_ref"]
            last[ref] = max(last.get(ref, ""), row["inspected_on"])
    return last


def items(registry: Registry, ref: str, path: str | Path, *, margin_m: float = 10.0) -> dict[str, Any]:
    """A log of items (CSV: id, lon, lat, category, time) against the record: counts per
    category, items outside the perimeter, ids in one and not the other, and when any lies
    outside, a perimeter with ``margin_m`` to spare for marking (signs or fencing) around all."""
    check_custodian(registry)
    if not margin_m > 0:
        from clearland.errors import InputError

        raise InputError(f"--margin must be more than 0 m, not {margin_m:g}")
    logged = read_item_log(Path(path))
    state = queries.record(registry, ref, RecordKind.MINEFIELD_RECORD)
    result = check_items(
        state["geometry"], state["mines"], state.get("items") or [], logged, margin_m=margin_m
    )
    out: dict[str, Any] = {
        "minefield_record": ref,
        "file": str(path),
        "items": len(logged),
        "matches": result.matches,
        "categories": result.categories,
        "outside": result.outside,
        "unrecorded_ids": result.unrecorded_ids,
        "unlogged_ids": result.unlogged_ids,
        "marking_perimeter": None,
    }
    if result.marking_perimeter is not None:
        from clearland.domain.geometry import geodesic_area_m2

        out["marking_perimeter"] = {
            "purpose": "warning signs or fencing around the record and every item found outside it",
            "margin_m": margin_m,
            "area_m2": round(geodesic_area_m2(result.marking_perimeter), 1),
            "geometry": result.marking_perimeter.__geo_interface__,
        }
    return out


def overdue(registry: Registry, days: int, *, today: dt.date | None = None) -> list[dict[str, Any]]:
    """Records whose marking was last inspected more than ``days`` ago, or never, oldest first."""
    check_custodian(registry)
    if days < 0:
        from clearland.errors import InputError

        raise InputError(f"--days must be 0 or more, not {days}")
    today = today or dt.date.today()
    last = _last_inspections(registry)
    with registry.store.read() as tx:
        records = tx.current(RecordKind.MINEFIELD_RECORD)
    out = []
    for state in records:
        when = last.get(state["ref"])
        age = (today - dt.date.fromisoformat(when)).days if when else None
        if age is None or age > days:
            out.append(
                {
                    "ref": state["ref"],
                    "name": state.get("name"),
                    "hazard_ref": state.get("hazard_ref"),
                    "last_inspected": when,
                    "days_since": age,
                }
            )
    return sorted(out, key=lambda r: (r["last_inspected"] is not None, r["last_inspected"] or "", r["ref"]))


def gaps(registry: Registry, ref: str, *, max_gap_m: float = 50.0) -> dict[str, Any]:
    """Stretches of the record's perimeter with no sign within ``max_gap_m`` (signs found
    missing at the last inspection do not count: they warn no one)."""
    check_custodian(registry)
    if not max_gap_m > 0:
        from clearland.errors import InputError

        raise InputError(f"--max-gap must be more than 0 m, not {max_gap_m:g}")
    with registry.store.read() as tx:
        found = tx.current(RecordKind.MINEFIELD_RECORD, refs=[ref])
        if not found:
            raise UnknownRecord(f"no minefield record {ref!r}")
        markers = tx.current(RecordKind.MARKER, where={"minefield_ref": ref})
    signs = [
        m
        for m in markers
        if m["type"] == MarkerType.SIGN.value
        and m.get("condition") != MarkerCondition.MISSING.value
        and m["geometry"].geom_type == "Point"
    ]
    found_gaps = sign_gaps(
        found[0]["geometry"], [(m["geometry"].x, m["geometry"].y) for m in signs], max_gap_m
    )
    return {
        "minefield_record": ref,
        "max_gap_m": max_gap_m,
        "signs": len(signs),
        "signs_missing": sum(1 for m in markers if m["type"] == MarkerType.SIGN.value and m not in signs),
        "gaps": found_gaps,
        "unwarned_m": round(sum(g["length_m"] for g in found_gaps), 1),
    }
