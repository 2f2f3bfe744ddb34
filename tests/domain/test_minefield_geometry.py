"""The geometry of minefield records, against pyproj.Geod directly. SYNTHETIC perimeters only."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from pyproj import Geod

from clearland.domain.minefield import build_perimeter
from clearland.domain.minefield_checks import enclosing_perimeter, sign_gaps

GEOD = Geod(ellps="WGS84")
SW = (18.1, 44.7)


def walk(start: tuple[float, float], bearing: float, metres: float) -> tuple[float, float]:
    lon, lat, _ = GEOD.fwd(start[0], start[1], bearing, metres)
    return float(lon), float(lat)


def synthetic_square(side_m: float = 400.0) -> tuple[shapely.Polygon, list[tuple[float, float]]]:
    """A SYNTHETIC square-ish perimeter walked from SW: north, east, south, back west."""
    nw = walk(SW, 0.0, side_m)
    ne = walk(nw, 90.0, side_m)
    se = walk(SW, 90.0, side_m)
    corners = [SW, nw, ne, se]
    return shapely.Polygon(corners), corners


def test_sign_gaps_on_a_synthetic_perimeter() -> None:
    square, (sw, nw, ne, se) = synthetic_square()
    # a sign every 100 m on three sides; the east side (ne → se) has only its corners
    three_sides = [walk(sw, 0.0, d) for d in (100, 200, 300)] + [walk(nw, 90.0, d) for d in (100, 200, 300)]
    three_sides += [walk(sw, 90.0, d) for d in (100, 200, 300)]
    gaps = sign_gaps(square, [sw, nw, ne, se, *three_sides], max_gap_m=50.0)
    (gap,) = gaps
    assert gap["length_m"] == pytest.approx(300.0, abs=2.0)  # 50 m from each corner sign are covered
    ends = {tuple(gap["start"]), tuple(gap["end"])}
    for expected in (walk(ne, 180.0, 50.0), walk(se, 0.0, 50.0)):
        assert min(GEOD.inv(*expected, *end)[2] for end in ends) < 2.0
    # a sign every 100 m leaves nothing unwarned with 50 m; the whole perimeter with none
    every_100 = [walk(sw, 0.0, d) for d in range(0, 400, 100)] + [
        walk(nw, 90.0, d) for d in range(0, 400, 100)
    ]
    every_100 += [walk(ne, 180.0, d) for d in range(0, 400, 100)] + [
        walk(se, 270.0, d) for d in range(0, 400, 100)
    ]
    assert sign_gaps(square, every_100, max_gap_m=50.0) == []
    (whole,) = sign_gaps(square, [], max_gap_m=50.0)
    assert whole["whole_perimeter"] and whole["length_m"] == pytest.approx(1600.0, rel=2e-3)


def test_enclosing_perimeter_keeps_the_margin_geodesically() -> None:
    square, _ = synthetic_square(100.0)
    outside = walk(SW, 225.0, 30.0)
    grown = enclosing_perimeter(square, [outside], 20.0)
    bx, by = np.asarray(shapely.segmentize(grown.exterior, 1e-6).coords).T
    for x, y in [outside, *square.exterior.coords[:-1]]:
        assert grown.contains(shapely.Point(x, y))
        _, _, dist = GEOD.inv(bx, by, np.full(len(bx), x), np.full(len(by), y))
        assert dist.min() >= 20.0 * 0.999
        if (x, y) == outside:  # a corner of the hull: the margin, not much more
            assert dist.min() < 20.1


def test_turning_points_both_ways_must_agree() -> None:
    refs = [
        {"id": "A", "lon": SW[0], "lat": SW[1], "description": "synthetic"},
        {"id": "B", "lon": 18.101, "lat": 44.7, "description": "synthetic"},
    ]
    tp = [
        {"id": "T1", "from": "A", "bearing_deg": 0.0, "distance_m": 100.0},
        {"id": "T2", "from": "A", "bearing_deg": 45.0, "distance_m": 141.0},
        {"id": "T3", "from": "A", "bearing_deg": 90.0, "distance_m": 100.0},
    ]
    perimeter, problems = build_perimeter(refs, tp, None)
    assert problems == [] and perimeter is not None
    lon, lat = walk(SW, 0.0, 100.0)
    both = [{**tp[0], "lon": lon, "lat": lat + 2e-5}, *tp[1:]]  # 2.2 m north of where it is placed
    perimeter, problems = build_perimeter(refs, both, None, tolerance_m=1.0)
    assert perimeter is None
    assert [p.field for p in problems] == ["turning_points[0]"] and "2.2" in problems[0].message
