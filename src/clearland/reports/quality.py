"""Data-quality checks of the stored registry (``clearland validate``).

Each check takes plain values (refs, shapely geometries in EPSG:4326, state dicts) and returns
JSON-ready lists of findings. Areas are geodesic on the WGS84 ellipsoid, in m². Overlaps between
hazard areas are reported as information (land can be recorded twice for good reasons, e.g. an
SHA and a later CHA); near duplicates, slivers and rule violations make the registry not ``ok``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import shapely

from clearland.domain.geometry import WGS84, check_geometry
from clearland.domain.vocab import HazardCategory, HazardStatus
from clearland.reports.stats import areas_m2, as_areal, intersecting_pairs

#: relative tolerance between a stored area and the area measured from the geometry (0.1 %)
AREA_TOLERANCE = 0.001
#: absolute tolerance (m²) for the same comparisons, for stored values rounded to 0.01 m²
AREA_TOLERANCE_M2 = 0.01
#: a closed hazard may keep this much remaining land (m²): slivers are absorbed (DOMAIN.md)
CLOSED_REMAINING_MAX_M2 = 1.0

_HAZARD_GEOMETRY_TYPES = frozenset({"Polygon", "MultiPolygon", "Point", "MultiPoint"})
_POINT_TYPES = frozenset({"Point", "MultiPoint"})

__all__ = ["check_rules", "find_overlaps", "find_slivers", "validate"]


def find_overlaps(
    items: Sequence[tuple[str, shapely.Geometry | None]],
    *,
    min_overlap_m2: float = 1.0,
    near_duplicate_iou: float = 0.9,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Pairs of geometries sharing at least ``min_overlap_m2``, largest overlap first, and those of
    them whose intersection over union is at least ``near_duplicate_iou`` (most alike first).

    Each finding is ``{"a", "b", "overlap_m2", "iou"}`` with ``a < b``. Pairs that only touch
    share no area and are not reported. Invalid geometry is compared after repair.
    """
    refs = [ref for ref, _ in items]
    areal = as_areal([geom for _, geom in items])
    areas = areas_m2(areal)
    left, right = intersecting_pairs(areal)
    # an intersection may be a collection of polygons, lines and points: keep the polygons
    shared = areas_m2(as_areal(shapely.intersection(areal[left], areal[right])))
    keep = shared >= min_overlap_m2
    left, right, shared = left[keep], right[keep], shared[keep]
    # union area by inclusion-exclusion of geodesic areas
    iou = np.clip(shared / (areas[left] + areas[right] - shared), 0.0, 1.0)

    overlaps = []
    for i, j, overlap_m2, ratio in zip(left, right, shared, iou, strict=True):
        a, b = sorted((refs[i], refs[j]))
        overlaps.append({"a": a, "b": b, "overlap_m2": float(overlap_m2), "iou": float(ratio)})
    overlaps.sort(key=lambda o: (-o["overlap_m2"], o["a"], o["b"]))
    near_duplicates = [dict(o) for o in overlaps if o["iou"] >= near_duplicate_iou]
    near_duplicates.sort(key=lambda o: (-o["iou"], o["a"], o["b"]))
    return overlaps, near_duplicates


def find_slivers(
    items: Sequence[tuple[str, shapely.Geometry | None]],
    *,
    min_area_m2: float = 1.0,
    max_thinness: float = 0.05,
) -> list[dict[str, Any]]:
    """Polygon parts smaller than ``min_area_m2`` ("small") or thinner than ``max_thinness``
    ("thin"; both: "small+thin"): ``{"ref", "part", "area_m2", "thinness", "reason"}``.

    Thinness is the Polsby-Popper ratio 4π·area / perimeter², geodesic, holes included: 1 for a
    circle, 0.785 for a square, 0.03 for a 100:1 strip. ``part`` numbers the polygons of a
    multipolygon from 0. Invalid geometry is checked after repair.
    """
    areal = as_areal([geom for _, geom in items])
    parts, owner = shapely.get_parts(areal, return_index=True)
    first_part = np.searchsorted(owner, owner)  # owner is sorted: index of each owner's part 0
    area_m2 = areas_m2(parts)
    perimeter_m = _perimeters_m(parts)
    with np.errstate(divide="ignore", invalid="ignore"):
        thinness = np.where(perimeter_m > 0, 4 * math.pi * area_m2 / perimeter_m**2, 0.0)
    small, thin = area_m2 < min_area_m2, thinness < max_thinness
    return [
        {
            "ref": items[owner[k]][0],
            "part": int(k - first_part[k]),
            "area_m2": float(area_m2[k]),
            "thinness": float(thinness[k]),
            "reason": "+".join(name for name, hit in (("small", small[k]), ("thin", thin[k])) if hit),
        }
        for k in np.flatnonzero(small | thin)
    ]


def check_rules(states: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rules each hazard area state must keep: ``{"ref", "rule", "message"}`` per broken rule.

    Rules: ``geometry_<problem>`` (null, empty, invalid, outside_world, swapped_axes, wrong_type;
    see ``domain.geometry.check_geometry``), ``point_not_indication``, ``area_stale`` (stored
    ``area_m2`` differs from the geodesic area by more than 0.1 %), ``remaining_negative``,
    ``remaining_exceeds_area``, ``closed_with_remaining`` and ``not_a_number``.
    """
    violations: list[dict[str, Any]] = []
    measured_m2 = areas_m2([state.get("geometry") for state in states])
    for state, measured_here in zip(states, measured_m2, strict=True):
        ref = state.get("ref")

        def report(rule: str, message: str, ref: Any = ref) -> None:
            violations.append({"ref": ref, "rule": rule, "message": message})

        geom = state.get("geometry")
        problem = check_geometry(geom, _HAZARD_GEOMETRY_TYPES)
        if problem is not None:
            report(f"geometry_{problem.code}", problem.message)
        if geom is not None and geom.geom_type in _POINT_TYPES:
            category = state.get("category")
            if category != HazardCategory.INDICATION:
                report(
                    "point_not_indication",
                    f"a point is allowed only for an indication, not for category {category}",
                )

        numbers = {}
        for field in ("area_m2", "remaining_area_m2"):
            value = state.get(field)
            numbers[field] = _as_number(value)
            if value is not None and numbers[field] is None:
                report("not_a_number", f"{field} is not a finite number: {value!r}")

        measured = None if problem is not None else float(measured_here)
        stored = numbers["area_m2"]
        if measured and "area_m2" in state and state["area_m2"] is None:
            report("area_stale", f"area_m2 is missing; the geometry measures {measured:.2f} m²")
        elif measured is not None and stored is not None and _differ(stored, measured):
            report(
                "area_stale",
                f"stored area {stored:.2f} m² differs from the geometry's "
                f"{measured:.2f} m² by more than {AREA_TOLERANCE:.1%}",
            )

        remaining = numbers["remaining_area_m2"]
        if remaining is None:
            continue
        area = stored if stored is not None else measured
        if remaining < 0:
            report("remaining_negative", f"remaining area is negative: {remaining:.2f} m²")
        elif area is not None and remaining > area * (1 + AREA_TOLERANCE) + AREA_TOLERANCE_M2:
            report(
                "remaining_exceeds_area",
                f"remaining area {remaining:.2f} m² is larger than the area {area:.2f} m²",
            )
        if state.get("status") == HazardStatus.CLOSED and remaining > CLOSED_REMAINING_MAX_M2:
            report(
                "closed_with_remaining",
                f"closed but {remaining:.2f} m² remain to be released",
            )
    return violations


def validate(
    states: Sequence[Mapping[str, Any]],
    *,
    min_overlap_m2: float = 1.0,
    near_duplicate_iou: float = 0.9,
    sliver_min_m2: float = 1.0,
) -> dict[str, Any]:
    """All checks over ``states``. ``ok`` is false when there are near duplicates, slivers or
    rule violations; plain overlaps are information only.

    Geometry that breaks a rule other than validity (null, empty, outside the world, swapped
    axes, wrong type) is reported once, under ``rule_violations``, and left out of the
    geometric checks; invalid geometry is repaired for them.
    """
    rule_violations = check_rules(states)
    items: list[tuple[str, shapely.Geometry | None]] = [
        (state["ref"], state.get("geometry")) for state in states if _is_measurable(state.get("geometry"))
    ]
    overlaps, near_duplicates = find_overlaps(
        items, min_overlap_m2=min_overlap_m2, near_duplicate_iou=near_duplicate_iou
    )
    slivers = find_slivers(items, min_area_m2=sliver_min_m2)
    findings = {
        "overlaps": overlaps,
        "near_duplicates": near_duplicates,
        "slivers": slivers,
        "rule_violations": rule_violations,
    }
    return {
        **findings,
        "counts": {name: len(found) for name, found in findings.items()},
        "ok": not (near_duplicates or slivers or rule_violations),
    }


def _is_measurable(geom: shapely.Geometry | None) -> bool:
    problem = check_geometry(geom, _HAZARD_GEOMETRY_TYPES)
    return problem is None or problem.repairable


def _as_number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _differ(stored: float, measured: float) -> bool:
    return abs(stored - measured) > max(AREA_TOLERANCE * measured, AREA_TOLERANCE_M2)


def _perimeters_m(polygons: np.ndarray) -> np.ndarray:
    """Geodesic perimeter of each polygon, holes included (m), in one pyproj call."""
    rings, ring_polygon = shapely.get_rings(polygons, return_index=True)
    xy, vertex_ring = shapely.get_coordinates(rings, return_index=True)
    same_ring = vertex_ring[1:] == vertex_ring[:-1]  # consecutive vertices form an edge
    start, end = xy[:-1][same_ring], xy[1:][same_ring]
    _, _, length_m = WGS84.inv(start[:, 0], start[:, 1], end[:, 0], end[:, 1])
    edge_polygon = ring_polygon[vertex_ring[:-1][same_ring]]
    return np.bincount(edge_polygon, weights=length_m, minlength=len(polygons))
