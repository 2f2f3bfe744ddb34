"""Remaining land: each hazard area minus its released outcomes, kept with the current state
and checked against the accounting rule (released + remaining = area) on every approval."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import shapely

from clearland.domain.release import check_accounting, measured_areas_m2, remaining_geometry
from clearland.domain.vocab import RELEASE_KINDS, RecordKind
from clearland.errors import StateError
from clearland.storage.repository import Tx

RELEASED = frozenset(k.value for k in RELEASE_KINDS)


def remaining_for(
    hazards: Sequence[dict[str, Any]],
    outcomes: Iterable[dict[str, Any]],
    *,
    sliver_min_m2: float,
    children: Iterable[dict[str, Any]] = (),
) -> list[tuple[dict[str, Any], Any, float, list[str]]]:
    """(hazard, remaining geometry or None if nothing released, remaining m², problems).

    The land of a CHA split off an SHA (``children``, by ``parent_ref``) leaves the SHA's
    remaining land as released land does; the accounting counts it with the released land."""
    released: dict[str, list[Any]] = defaultdict(list)
    for outcome in outcomes:
        if outcome.get("kind") in RELEASED and outcome.get("hazard_ref"):
            released[outcome["hazard_ref"]].append(outcome["geometry"])
    for child in children:
        if child.get("parent_ref"):
            released[child["parent_ref"]].append(child["geometry"])
    out: list[tuple[dict[str, Any], Any, float, list[str]]] = []
    for hazard in hazards:
        parts = released.get(hazard["ref"], [])
        if not parts or hazard["geometry"].geom_type not in ("Polygon", "MultiPolygon"):
            out.append((hazard, None, float(hazard["area_m2"]), []))
            continue
        rest = remaining_geometry(hazard["geometry"], parts)
        check = check_accounting(hazard["geometry"], parts, rest, sliver_min_m2=sliver_min_m2)
        out.append((hazard, rest, float(measured_areas_m2([rest])[0]), list(check.problems)))
    return out


def refresh_remaining(tx: Tx, hazard_refs: Iterable[str], *, sliver_min_m2: float = 1.0) -> int:
    """Recompute and store the remaining land of these hazard areas from their current
    outcomes; refuse (roll back) if the accounting rule does not hold."""
    refs = sorted(set(hazard_refs))
    if not refs:
        return 0
    hazards = tx.current(RecordKind.HAZARD_AREA, refs=refs)
    outcomes = tx.current(RecordKind.OUTCOME, hazard_refs=refs)
    children = tx.current(RecordKind.HAZARD_AREA, parent_refs=refs)
    rows = []
    problems = []
    for hazard, rest, area_m2, issues in remaining_for(
        hazards, outcomes, sliver_min_m2=sliver_min_m2, children=children
    ):
        problems += [{"ref": hazard["ref"], "message": issue} for issue in issues]
        wkb = None if rest is None else bytes(shapely.to_wkb(rest, output_dimension=2))
        rows.append((hazard["record_id"], wkb, area_m2))
    if problems:
        raise StateError(
            f"land release accounting does not add up for {len({p['ref'] for p in problems})} hazard area(s)",
            detail=problems,
        )
    tx.set_remaining(rows)
    return len(rows)
