"""Data-quality checks: overlaps, near duplicates, slivers and record rules."""

from __future__ import annotations

import json
import math
import time
from typing import Any

import numpy as np
import pytest
import shapely
from pyproj import Geod
from shapely import affinity

from clearland.reports.quality import check_rules, find_overlaps, find_slivers, validate

GEOD = Geod(ellps="WGS84")
LAT = 44.0
M_PER_DEG_LAT = 111_141.0  # WGS84 meridian arc per degree near 44°N
M_PER_DEG_LON = 80_197.0  # WGS84 parallel arc per degree at 44°N


def reference_area_m2(geom: shapely.Geometry) -> float:
    """Geodesic area, exterior minus holes, ring by ring (no project code)."""
    if geom.geom_type == "Polygon":
        area = abs(GEOD.polygon_area_perimeter(*geom.exterior.xy)[0])
        return area - sum(abs(GEOD.polygon_area_perimeter(*h.xy)[0]) for h in geom.interiors)
    if geom.geom_type in ("MultiPolygon", "GeometryCollection"):
        return sum(reference_area_m2(part) for part in geom.geoms)
    return 0.0


def rectangle_m(lon: float, lat: float, width_m: float, height_m: float) -> shapely.Polygon:
    """A lon/lat rectangle of about ``width_m`` × ``height_m`` near 44°N."""
    return shapely.box(lon, lat, lon + width_m / M_PER_DEG_LON, lat + height_m / M_PER_DEG_LAT)


def make_hazard_area(**overrides: Any) -> dict[str, Any]:
    """A clean hazard area state: a 100 m square SHA, open, half of it remaining."""
    geometry = overrides.pop("geometry", rectangle_m(18.0, LAT, 100, 100))
    area_m2 = reference_area_m2(geometry)
    state = {
        "ref": "HA-000001",
        "geometry": geometry,
        "category": "SHA",
        "status": "open",
        "area_m2": area_m2,
        "remaining_area_m2": area_m2 / 2,
    }
    state.update(overrides)
    return state


SQUARE = rectangle_m(18.0, LAT, 200, 200)
SIDE_DEG = 200 / M_PER_DEG_LON
SQUARE_SHIFTED_1PC = affinity.translate(SQUARE, xoff=0.01 * SIDE_DEG)
OVERLAPPING = rectangle_m(18.0 + 150 / M_PER_DEG_LON, LAT + 50 / M_PER_DEG_LAT, 200, 200)
TOUCHING_EDGE = affinity.translate(SQUARE, xoff=SIDE_DEG)
TOUCHING_CORNER = affinity.translate(SQUARE, xoff=SIDE_DEG, yoff=200 / M_PER_DEG_LAT)
STRIP_1000_BY_HALF = rectangle_m(18.1, LAT, 1000, 0.5)


# --- overlaps ---------------------------------------------------------------------------------


def test_overlapping_pair_is_found_with_its_area() -> None:
    expected = reference_area_m2(shapely.intersection(SQUARE, OVERLAPPING))
    union = reference_area_m2(shapely.union(SQUARE, OVERLAPPING))
    assert expected == pytest.approx(50 * 150, rel=0.01)

    overlaps, near_duplicates = find_overlaps([("HA-2", OVERLAPPING), ("HA-1", SQUARE)])

    assert overlaps == [
        {
            "a": "HA-1",
            "b": "HA-2",
            "overlap_m2": pytest.approx(expected, rel=1e-9),
            "iou": pytest.approx(expected / union, rel=1e-6),
        }
    ]
    assert near_duplicates == []


def test_near_duplicate_is_found() -> None:
    shared = reference_area_m2(shapely.intersection(SQUARE, SQUARE_SHIFTED_1PC))
    iou = shared / reference_area_m2(shapely.union(SQUARE, SQUARE_SHIFTED_1PC))
    assert iou == pytest.approx(0.99 / 1.01, rel=1e-3)

    overlaps, near_duplicates = find_overlaps(
        [("HA-1", SQUARE), ("HA-9", SQUARE_SHIFTED_1PC), ("HA-5", OVERLAPPING)]
    )

    pairs = {(o["a"], o["b"]) for o in overlaps}
    assert pairs == {("HA-1", "HA-9"), ("HA-1", "HA-5"), ("HA-5", "HA-9")}
    sizes = [o["overlap_m2"] for o in overlaps]
    assert sizes == sorted(sizes, reverse=True)
    assert near_duplicates == [
        {
            "a": "HA-1",
            "b": "HA-9",
            "overlap_m2": pytest.approx(shared, rel=1e-9),
            "iou": pytest.approx(iou, rel=1e-6),
        }
    ]


def test_near_duplicate_threshold_is_respected() -> None:
    items = [("HA-1", SQUARE), ("HA-2", SQUARE_SHIFTED_1PC)]
    assert find_overlaps(items, near_duplicate_iou=0.99)[1] == []
    assert len(find_overlaps(items, near_duplicate_iou=0.97)[1]) == 1


@pytest.mark.parametrize("other", [TOUCHING_EDGE, TOUCHING_CORNER], ids=["edge", "corner"])
def test_touching_only_is_not_an_overlap(other: shapely.Polygon) -> None:
    assert shapely.intersects(SQUARE, other)
    assert find_overlaps([("HA-1", SQUARE), ("HA-2", other)]) == ([], [])


def test_overlap_below_the_minimum_is_not_reported() -> None:
    shaving = rectangle_m(18.0 + 199.5 / M_PER_DEG_LON, LAT, 200, 1)  # 0.5 m × 1 m inside
    items = [("HA-1", SQUARE), ("HA-2", shaving)]
    assert find_overlaps(items) == ([], [])
    assert len(find_overlaps(items, min_overlap_m2=0.1)[0]) == 1


def test_points_never_overlap() -> None:
    items = [("HA-1", SQUARE), ("HA-2", SQUARE.centroid), ("HA-3", SQUARE.centroid)]
    assert find_overlaps(items) == ([], [])


# --- slivers ----------------------------------------------------------------------------------


def test_thin_strip_is_a_sliver() -> None:
    area, perimeter = GEOD.geometry_area_perimeter(STRIP_1000_BY_HALF)
    thinness = 4 * math.pi * abs(area) / perimeter**2
    assert abs(area) == pytest.approx(500, rel=0.01)

    slivers = find_slivers([("HA-1", SQUARE), ("HA-2", STRIP_1000_BY_HALF)])

    assert slivers == [
        {
            "ref": "HA-2",
            "part": 0,
            "area_m2": pytest.approx(abs(area), rel=1e-9),
            "thinness": pytest.approx(thinness, rel=1e-9),
            "reason": "thin",
        }
    ]


def test_a_narrow_frame_is_a_sliver_because_holes_count_in_the_perimeter() -> None:
    outer = rectangle_m(18.2, LAT, 200, 200)
    inner = outer.buffer(-10 / M_PER_DEG_LAT, join_style="mitre")
    frame = shapely.Polygon(outer.exterior, [inner.exterior])  # a 10 m wide ring of land
    area = reference_area_m2(frame)
    # Polsby-Popper takes the whole boundary; pyproj's geometry_area_perimeter gives the exterior
    perimeter = sum(GEOD.line_length(*ring.xy) for ring in (frame.exterior, *frame.interiors))
    thinness = 4 * math.pi * area / perimeter**2
    assert 0.03 < thinness < 0.05  # measured on the exterior alone it would be ~0.15

    slivers = find_slivers([("HA-1", frame)])

    assert [(s["ref"], s["reason"]) for s in slivers] == [("HA-1", "thin")]
    assert slivers[0]["area_m2"] == pytest.approx(area, rel=1e-9)
    assert slivers[0]["thinness"] == pytest.approx(thinness, rel=1e-9)


def test_tiny_part_of_a_multipolygon_is_a_sliver() -> None:
    crumb = rectangle_m(18.2, LAT, 0.7, 0.7)  # about 0.5 m²
    hazard = shapely.MultiPolygon([SQUARE, crumb])

    slivers = find_slivers([("HA-1", hazard)])

    assert [(s["ref"], s["part"], s["reason"]) for s in slivers] == [("HA-1", 1, "small")]
    assert slivers[0]["area_m2"] == pytest.approx(reference_area_m2(crumb), rel=1e-9)


def test_tiny_thin_part_is_small_and_thin() -> None:
    assert find_slivers([("HA-1", rectangle_m(18.2, LAT, 10, 0.05))])[0]["reason"] == "small+thin"


def test_ordinary_shapes_are_not_slivers() -> None:
    long_but_fine = rectangle_m(18.3, LAT, 1000, 100)  # 10:1, thinness ≈ 0.26
    assert find_slivers([("HA-1", SQUARE), ("HA-2", long_but_fine), ("HA-3", SQUARE.centroid)]) == []


# --- rules ------------------------------------------------------------------------------------

BOWTIE = shapely.Polygon([(18, 44), (18.001, 44.001), (18.001, 44), (18, 44.001)])

BROKEN_STATES = {
    "geometry_invalid": make_hazard_area(geometry=BOWTIE, area_m2=0.0, remaining_area_m2=0.0),
    "geometry_empty": make_hazard_area(geometry=shapely.Polygon(), area_m2=0, remaining_area_m2=0),
    "geometry_outside_world": make_hazard_area(
        geometry=shapely.box(200, 44, 200.001, 44.001), area_m2=1.0, remaining_area_m2=1.0
    ),
    "point_not_indication": make_hazard_area(
        geometry=shapely.Point(18, 44), area_m2=0.0, remaining_area_m2=None
    ),
    "area_stale": make_hazard_area(area_m2=reference_area_m2(SQUARE) * 1.002, geometry=SQUARE),
    "remaining_exceeds_area": make_hazard_area(remaining_area_m2=100 * 100 * 1.01),
    "remaining_negative": make_hazard_area(remaining_area_m2=-5.0),
    "closed_with_remaining": make_hazard_area(status="closed", remaining_area_m2=100.0),
    "not_a_number": make_hazard_area(remaining_area_m2="lots"),
}


@pytest.mark.parametrize("rule", BROKEN_STATES.keys())
def test_each_rule_is_reported_alone(rule: str) -> None:
    violations = check_rules([BROKEN_STATES[rule]])
    assert [(v["ref"], v["rule"]) for v in violations] == [("HA-000001", rule)]
    assert violations[0]["message"] and "\n" not in violations[0]["message"]


def test_clean_states_break_no_rule() -> None:
    clean = [
        make_hazard_area(),
        make_hazard_area(ref="HA-2", category="CHA", status="worked_on"),
        make_hazard_area(ref="HA-3", status="closed", remaining_area_m2=0.4),
        make_hazard_area(
            ref="HA-4",
            geometry=shapely.Point(18, 44),
            category="indication",
            area_m2=0.0,
            remaining_area_m2=None,
        ),
        make_hazard_area(ref="HA-5", geometry=shapely.MultiPolygon([SQUARE, STRIP_1000_BY_HALF])),
    ]
    assert check_rules(clean) == []


def test_stored_area_within_a_tenth_of_a_percent_is_not_stale() -> None:
    state = make_hazard_area(area_m2=reference_area_m2(SQUARE) * 1.0009, geometry=SQUARE)
    assert check_rules([state]) == []


def test_missing_stored_area_is_stale() -> None:
    assert [v["rule"] for v in check_rules([make_hazard_area(area_m2=None)])] == ["area_stale"]


# --- validate ---------------------------------------------------------------------------------


def test_validate_counts_and_ok() -> None:
    states = [
        make_hazard_area(ref="HA-1", geometry=SQUARE, area_m2=reference_area_m2(SQUARE)),
        make_hazard_area(ref="HA-2", geometry=OVERLAPPING, area_m2=reference_area_m2(OVERLAPPING)),
    ]
    result = validate(states)
    assert result["counts"] == {"overlaps": 1, "near_duplicates": 0, "slivers": 0, "rule_violations": 0}
    assert result["ok"] is True  # plain overlaps are information
    assert json.loads(json.dumps(result)) == result

    states.append(
        make_hazard_area(
            ref="HA-3", geometry=SQUARE_SHIFTED_1PC, area_m2=reference_area_m2(SQUARE_SHIFTED_1PC)
        )
    )
    result = validate(states)
    assert result["counts"]["near_duplicates"] == 1
    assert result["ok"] is False


def test_validate_reports_broken_geometry_once() -> None:
    state = make_hazard_area(
        geometry=shapely.box(200, 44, 200.001, 44.001), area_m2=1.0, remaining_area_m2=1.0
    )
    result = validate([state])
    assert [v["rule"] for v in result["rule_violations"]] == ["geometry_outside_world"]
    assert result["slivers"] == [] and result["overlaps"] == []
    assert result["ok"] is False


def test_validate_checks_slivers_with_the_given_minimum() -> None:
    crumb = rectangle_m(18.2, LAT, 2, 2)  # about 4 m², square
    state = make_hazard_area(geometry=crumb, area_m2=reference_area_m2(crumb), remaining_area_m2=0)
    assert validate([state])["ok"] is True
    assert validate([state], sliver_min_m2=5.0)["counts"]["slivers"] == 1


def test_two_thousand_polygons_are_checked_without_comparing_every_pair() -> None:
    # 40 rows of 50 squares; each overlaps its right-hand neighbour by 10 %
    step = 0.9 * SIDE_DEG
    lon, lat = np.meshgrid(18 + step * np.arange(50), LAT + 0.01 * np.arange(40))
    squares = shapely.box(lon, lat, lon + SIDE_DEG, lat + 200 / M_PER_DEG_LAT).ravel()
    states = [
        make_hazard_area(ref=f"HA-{i:06d}", geometry=g, area_m2=reference_area_m2(g))
        for i, g in enumerate(squares)
    ]

    started = time.perf_counter()
    result = validate(states)
    elapsed = time.perf_counter() - started

    assert result["counts"] == {"overlaps": 40 * 49, "near_duplicates": 0, "slivers": 0, "rule_violations": 0}
    assert elapsed < 5
