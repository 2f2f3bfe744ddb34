"""Reading the registry: current state or as it was on a date, one record with its history."""

from __future__ import annotations

import datetime as dt
from typing import Any

import shapely

from clearland.domain.geometry import geodesic_areas_m2
from clearland.domain.reconcile import fold
from clearland.domain.records import RECORD_TYPES, public_view
from clearland.domain.vocab import RecordKind
from clearland.errors import UnknownRecord
from clearland.services.registry import Registry
from clearland.services.remaining import remaining_for


def records(
    registry: Registry,
    kind: RecordKind = RecordKind.HAZARD_AREA,
    *,
    as_of: dt.date | None = None,
    where: dict[str, str] | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    public: bool = False,
) -> list[dict[str, Any]]:
    """Current records (or as of a date), each a dict with its fields and ``geometry``."""
    registry.store.check_ready()
    with registry.store.read() as tx:
        if as_of is None:
            states = tx.current(kind, where=where, bbox=bbox)
        else:
            states = _as_of(tx, kind, as_of)
            if where:
                states = [s for s in states if all(s.get(k) == v for k, v in where.items())]
            if bbox is not None:
                box = shapely.box(*bbox)
                states = [s for s in states if s["geometry"].intersects(box)]
    if public:
        record_type = RECORD_TYPES[kind]
        states = [{**public_view(record_type, s), "geometry": s["geometry"]} for s in states]
    return states


def _as_of(tx: Any, kind: RecordKind, as_of: dt.date) -> list[dict[str, Any]]:
    changes = tx.approved_changes_of_kind(kind, as_of=as_of)
    refs = tx.record_refs(changes.keys())
    states = []
    for record_id, record_changes in changes.items():
        state = fold(record_changes, as_of)
        if state is None or state.get("geometry") is None:
            continue
        state["record_id"] = record_id
        state["ref"] = refs[record_id]
        state["geometry"] = shapely.from_wkb(state["geometry"])
        states.append(state)
    areas = geodesic_areas_m2([s["geometry"] for s in states])
    record_type = RECORD_TYPES[kind]
    for state, area in zip(states, areas, strict=True):
        for spec in record_type.fields:
            state.setdefault(spec.name, spec.default)
            if state[spec.name] is None and spec.default is not None:
                state[spec.name] = spec.default
        state["area_m2"] = float(area)
        if kind is RecordKind.HAZARD_AREA:
            state["remaining_area_m2"] = float(area)
            state["remaining_geometry"] = None
    states.sort(key=lambda s: s["ref"])
    if kind is RecordKind.HAZARD_AREA and states:
        # remaining land as of the date: the hazard minus the outcomes released by then
        outcomes = _as_of(tx, RecordKind.OUTCOME, as_of)
        for state, rest, area_m2, _problems in remaining_for(
            states, outcomes, sliver_min_m2=1.0, children=states
        ):
            state["remaining_geometry"] = rest
            state["remaining_area_m2"] = area_m2
    return states


def record(
    registry: Registry,
    ref: str,
    kind: RecordKind = RecordKind.HAZARD_AREA,
    *,
    as_of: dt.date | None = None,
    history: bool = False,
    public: bool = False,
) -> dict[str, Any]:
    """One record by ref; with ``history`` every report that touched it, oldest first."""
    registry.store.check_ready()
    with registry.store.read() as tx:
        if as_of is None:
            found = tx.current(kind, refs=[ref])
            state = found[0] if found else None
        else:
            state = next((s for s in _as_of(tx, kind, as_of) if s["ref"] == ref), None)
        if state is None:
            when = f" on {as_of}" if as_of else ""
            raise UnknownRecord(f"no {kind.value.replace('_', ' ')} {ref!r}{when}")
        if kind is RecordKind.HAZARD_AREA and as_of is None:
            state.update(_work_on(tx, ref))
        if public:
            extra: dict[str, Any] = {"children": state["children"]} if "children" in state else {}
            # the related records by their own public fields (an activity's description, an
            # outcome's organisation are not public); a device keeps its position
            for key, related in RELATED.items():
                if key in state:
                    extra[key] = [
                        {
                            **public_view(RECORD_TYPES[related], item),
                            **{k: item[k] for k in ("lon", "lat") if k in item},
                        }
                        for item in state[key]
                    ]
            state = {**public_view(RECORD_TYPES[kind], state), **extra, "geometry": state["geometry"]}
        if history:
            versions = []
            for row in tx.history(kind, ref):
                entry = _history_entry(row)
                entry["changed"] = sorted(row["values"].keys()) + (["geometry"] if row["geom"] else [])
                if not public:
                    entry["values"] = row["values"]
                versions.append(entry)
            if kind is RecordKind.HAZARD_AREA:
                # its outcomes are part of an area's life: land cancelled, reduced, cleared
                by_report: dict[int, dict[str, Any]] = {}
                for row in tx.outcome_history(ref):
                    entry = by_report.setdefault(row["id"], {**_history_entry(row), "outcomes": []})
                    entry["outcomes"].append({"ref": row["outcome_ref"], "kind": row["values"].get("kind")})
                for entry in by_report.values():
                    kinds = sorted({o["kind"] for o in entry["outcomes"]})
                    entry["changed"] = [f"outcomes ({', '.join(kinds)})"]
                versions.extend(by_report.values())
                versions.sort(key=lambda v: (v["date_of_information"], v["approval_seq"] or 0, v["report"]))
            state["history"] = versions
    return state


#: the records ``record`` gives with a hazard area: key → their kind
RELATED = {"activities": RecordKind.ACTIVITY, "outcomes": RecordKind.OUTCOME, "devices": RecordKind.DEVICE}


def _work_on(tx: Any, ref: str) -> dict[str, Any]:
    """The activities on a hazard area, its outcomes and devices, and the CHAs split off it."""
    outcomes = tx.current(RecordKind.OUTCOME, hazard_refs=[ref])
    devices = tx.current(RecordKind.DEVICE, hazard_refs=[ref])
    return {
        "activities": [_plain(a) for a in tx.activities_on(ref)],
        "outcomes": [_plain(o) for o in outcomes],
        "devices": [_plain(d) for d in devices],
        "children": [c["ref"] for c in tx.current(RecordKind.HAZARD_AREA, parent_refs=[ref])],
    }


def _plain(state: dict[str, Any]) -> dict[str, Any]:
    """A related record without its geometry (devices keep their position)."""
    out = {k: v for k, v in state.items() if k not in ("geometry", "record_id", "remaining_geometry")}
    if state["geometry"].geom_type == "Point":
        out["lon"], out["lat"] = round(state["geometry"].x, 7), round(state["geometry"].y, 7)
    return out


def _history_entry(row: Any) -> dict[str, Any]:
    return {
        "report": row["id"],
        "type": row["type"],
        "status": row["status"],
        "date_of_information": row["date_of_information"].isoformat(),
        "approval_seq": row["approval_seq"],
        "by": row["created_by"],
        "source": row["source_name"],
        "changed": [],
    }


def registry_status(registry: Registry) -> dict[str, Any]:
    """Revision and the date of the latest approved information."""
    registry.store.check_ready()
    with registry.store.read() as tx:
        latest = tx.latest_information()
        status: dict[str, Any] = {
            "revision": tx.revision(),
            "latest_information": latest.isoformat() if latest else None,
        }
        if tx.get_meta("synthetic_demo") == "true":
            status["synthetic"] = "this registry holds SYNTHETIC demo data, not real hazards"
        return status
