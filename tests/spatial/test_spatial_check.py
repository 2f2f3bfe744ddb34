"""HazardIndex.check against the plain reference: points on boundaries, vertices and in holes,
multipolygons, polygons across UTM zone lines, high latitudes, thresholds 0–5000 m; and lines
and fields as the query."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from spatial_reference import GEOD, offset, star, tolerance_m, truth

from clearland.spatial import HazardIndex, IndexedHazard, decision_m


def make_index(*geoms: shapely.Geometry) -> HazardIndex:
    return HazardIndex([IndexedHazard(f"H{i}", "SHA", "open", None, g) for i, g in enumerate(geoms)])


def bearing_gap(a: float, b: float) -> float:
    return abs((a - b + 180) % 360 - 180)


def assert_agrees(
    index: HazardIndex, geoms: list[shapely.Geometry], lon: float, lat: float, within_m: float
) -> None:
    """Every property the brief asks of one answer, against the reference, hazard by hazard."""
    hits = {h.ref: h for h in index.check(shapely.Point(lon, lat), within_m)}
    for i, geom in enumerate(geoms):
        ref, expected = f"H{i}", truth(lon, lat, geom)
        hit = hits.get(ref)
        if expected.intersects:
            assert hit is not None and hit.inside and hit.distance_m == 0.0 and hit.bearing_deg is None
            continue
        if expected.distance_m <= within_m:  # the line never crossed: no miss
            assert hit is not None, (ref, expected)
        if expected.distance_m > decision_m(within_m) + tolerance_m(expected.distance_m):
            assert hit is None, (ref, expected, hit)
        if hit is None:
            continue
        assert not hit.inside
        assert abs(hit.distance_m - expected.distance_m) <= tolerance_m(expected.distance_m), (hit, expected)
        if expected.distance_m > 10:
            assert hit.bearing_deg is not None and 0 <= hit.bearing_deg < 360
            # two nearest points may tie: then the point our bearing leads to must be as near
            if bearing_gap(hit.bearing_deg, expected.bearing_deg or 0) > 0.5:
                there = offset(lon, lat, hit.bearing_deg, hit.distance_m)
                assert truth(*there, geom).distance_m <= tolerance_m(hit.distance_m) + 0.01 * hit.distance_m
    screened = index.screen(np.array([lon]), np.array([lat]), within_m)
    first = next(iter(sorted(hits.values(), key=lambda h: (not h.inside, h.distance_m))), None)
    expected_status = 0 if first is None else (2 if first.inside else 1)
    assert screened.status[0] == expected_status
    if first is not None and not first.inside:
        assert abs(screened.distance_m[0] - first.distance_m) <= 1e-3 + 1e-6 * first.distance_m


# where the hazards are: mid latitudes across the 18°E and 24°E zone lines, the tropics, ±80°
PLACES = st.sampled_from(
    [(18.0, 44.2), (24.0, 48.5), (104.9, 12.5), (15.5, 80.0), (-70.0, -79.5), (33.0, 48.0)]
)


@st.composite
def scene(draw: st.DrawFn) -> tuple[list[shapely.Geometry], float, float, float]:
    lon0, lat0 = draw(PLACES)
    radius = draw(st.sampled_from([30.0, 400.0, 5_000.0, 30_000.0]))  # 30 km spans a zone line
    seed = draw(st.integers(0, 10_000))
    outer = star(lon0, lat0, radius, draw(st.integers(5, 60)), seed)
    kind = draw(st.sampled_from(["polygon", "hole", "multi", "point"]))
    hole = star(lon0, lat0, radius * 0.3, 12, seed + 1)
    if kind == "hole" and outer.contains(hole):  # the registry stores valid geometry only
        geom: shapely.Geometry = shapely.Polygon(outer.exterior.coords, [hole.exterior.coords])
    elif kind == "multi":
        other = star(*offset(lon0, lat0, 90, radius * 3), radius * 0.5, 9, seed + 2)
        geom = shapely.MultiPolygon([outer, other])
    elif kind == "point":
        geom = shapely.MultiPoint([(lon0, lat0), offset(lon0, lat0, 45, radius)])
    else:
        geom = outer
    second = star(*offset(lon0, lat0, 200, radius * 1.5), radius * 0.4, 7, seed + 3)
    geoms = [geom, second]
    coords = shapely.get_coordinates(geom)
    where = draw(st.sampled_from(["vertex", "edge", "near", "inside", "far"]))
    k = draw(st.integers(0, len(coords) - 2)) if len(coords) > 1 else 0
    a, b = coords[k], coords[min(k + 1, len(coords) - 1)]
    if where == "vertex":
        lon, lat = a
    elif where == "edge":
        t = draw(st.floats(0, 1))
        lon, lat = a + t * (b - a)
    elif where == "inside":
        lon, lat = lon0, lat0
    else:
        metres = draw(st.floats(0, 60.0)) if where == "near" else draw(st.floats(0, 6000.0))
        lon, lat = offset(a[0], a[1], draw(st.floats(0, 359.9)), metres)
    within = draw(st.sampled_from([0.0, 1.0, 25.0, 50.0, 100.0, 999.0, 5000.0]) | st.floats(0, 5000))
    return geoms, float(lon), float(lat), within


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scene())
def test_check_agrees_with_reference(case: tuple[list[shapely.Geometry], float, float, float]) -> None:
    geoms, lon, lat, within = case
    assert_agrees(make_index(*geoms), geoms, lon, lat, within)


@pytest.mark.parametrize("within_m", [0.0, 50.0, 5000.0])
def test_every_vertex_and_edge_midpoint_is_inside(within_m: float) -> None:
    geoms = [star(21.0, 45.0, 800, 40, 7), star(24.0, 48.0, 5000, 25, 8)]  # the second spans 24°E
    index = make_index(*geoms)
    for i, geom in enumerate(geoms):
        coords = shapely.get_coordinates(geom)
        mids = (coords[:-1] + coords[1:]) / 2
        for lon, lat in np.vstack([coords, mids]):
            hits = index.check(shapely.Point(lon, lat), within_m)
            assert any(h.ref == f"H{i}" and h.inside for h in hits) == truth(lon, lat, geom).intersects


def test_point_in_a_hole_is_near_not_inside() -> None:
    outer = shapely.box(30.0, 48.0, 30.02, 48.02)
    hole = shapely.box(30.005, 48.005, 30.015, 48.015)
    index = make_index(shapely.Polygon(outer.exterior.coords, [hole.exterior.coords]))
    (hit,) = index.check(shapely.Point(30.01, 48.01), 1000)
    expected = truth(30.01, 48.01, index.hazard("H0").geometry)
    assert not hit.inside and abs(hit.distance_m - expected.distance_m) < 0.5
    assert index.check(shapely.Point(30.01, 48.01), expected.distance_m - 5) == []


def test_empty_index_answers_nothing() -> None:
    index = HazardIndex([])
    assert len(index) == 0
    assert index.check(shapely.Point(30, 48), 5000) == []
    result = index.screen(np.array([30.0, 31.0]), np.array([48.0, 49.0]), 100)
    assert result.status.tolist() == [0, 0] and result.nearest.tolist() == [-1, -1]
    assert np.isnan(result.distance_m).all()


def test_hits_are_sorted_inside_first_then_by_distance() -> None:
    a = shapely.box(30.0, 48.0, 30.01, 48.01)
    b = shapely.box(30.0, 48.0105, 30.01, 48.02)  # about 55 m north of a
    c = shapely.box(30.0125, 48.0, 30.02, 48.01)  # about 186 m east of a
    index = make_index(c, b, a)
    hits = index.check(shapely.Point(30.005, 48.0099), 1000)
    assert [h.ref for h in hits] == ["H2", "H1", "H0"]
    assert hits[0].inside and hits[1].distance_m < hits[2].distance_m


def test_threshold_is_never_undershot() -> None:
    """A point exactly at the threshold (by the reference) is near, whatever the threshold."""
    hazard = star(24.0, 60.0, 500, 30, 3)
    index = make_index(hazard)
    lon0, lat0 = shapely.get_coordinates(hazard)[0]
    for within in (0.0, 0.3, 12.0, 50.0, 250.0, 4999.0):
        lon, lat = offset(lon0, lat0, 123.0, within)
        if truth(lon, lat, hazard).distance_m <= within:
            assert index.check(shapely.Point(lon, lat), within), within


def test_indication_points_and_antimeridian() -> None:
    index = make_index(shapely.Point(179.9995, -17.0), shapely.MultiPoint([(30.0, 48.0), (30.001, 48.0)]))
    (hit,) = index.check(shapely.Point(-179.9995, -17.0), 200)  # across the antimeridian
    _, _, expected = GEOD.inv(179.9995, -17.0, -179.9995, -17.0)
    assert hit.ref == "H0" and abs(hit.distance_m - expected) < 0.5
    assert index.check(shapely.Point(30.0, 48.0), 0)[0].inside
    result = index.screen(np.array([-179.9995, 30.0, 30.0005]), np.array([-17.0, 48.0, 48.0]), 200)
    assert result.status.tolist() == [1, 2, 1] and result.nearest.tolist() == [0, 1, 1]


def test_high_latitude_and_pole() -> None:
    hazard = star(10.0, 89.9, 300, 12, 4)
    index = make_index(hazard)
    for lon, lat in [(190.0 - 360, 89.9), (10.0, 89.99), (100.0, 89.95), (-120.0, 89.999)]:
        expected = truth(lon, lat, hazard)
        assert expected.distance_m < 30_000
        hits = index.check(shapely.Point(lon, lat), 30_000)
        assert hits and abs(hits[0].distance_m - expected.distance_m) <= tolerance_m(expected.distance_m)
        screened = index.screen(np.array([lon]), np.array([lat]), 30_000)
        assert screened.status[0] == 1 and abs(screened.distance_m[0] - hits[0].distance_m) < 1e-3


# --- lines and fields as the query -------------------------------------------------------------

HAZARD = shapely.box(30.0, 48.0, 30.01, 48.01)  # about 745 m × 1112 m


def test_route_crossing_a_hazard_is_inside() -> None:
    (hit,) = make_index(HAZARD).check(shapely.LineString([(29.99, 48.005), (30.02, 48.006)]), 100)
    assert hit.inside and hit.distance_m == 0.0 and hit.bearing_deg is None


def test_route_passing_at_40_m_is_near_with_40_m() -> None:
    # a long route along the eastern side of the hazard, 40 m east of it
    lon, _ = offset(30.01, 48.005, 90, 40)
    route = shapely.LineString([(lon, 47.5), (lon, 48.5)])
    (hit,) = make_index(HAZARD).check(route, 50)
    assert not hit.inside and abs(hit.distance_m - 40) < 0.5
    assert hit.bearing_deg is not None and bearing_gap(hit.bearing_deg, 270) < 0.5
    assert make_index(HAZARD).check(route, 39) == []


def test_field_near_a_hazard() -> None:
    _, lat = offset(30.005, 48.01, 0, 40)  # 40 m north of the northern side
    field = shapely.box(30.002, lat, 30.008, lat + 0.003)
    (hit,) = make_index(HAZARD).check(field, 100)
    assert not hit.inside and abs(hit.distance_m - 40) < 0.5
    assert hit.bearing_deg is not None and bearing_gap(hit.bearing_deg, 180) < 0.5
    (inside,) = make_index(HAZARD).check(shapely.box(30.009, 48.009, 30.02, 48.02), 0)
    assert inside.inside


def test_multiline_route_takes_its_nearest_part() -> None:
    far = shapely.LineString([(31.0, 49.0), (31.1, 49.1)])
    _, lat = offset(30.005, 48.0, 180, 25)
    close = shapely.LineString([(29.9, lat), (30.1, lat)])
    (hit,) = make_index(HAZARD).check(shapely.MultiLineString([far, close]), 30)
    assert abs(hit.distance_m - 25) < 0.5 and bearing_gap(hit.bearing_deg or 0, 0) < 0.5


def test_distance_matches_geodesic_between_reported_points() -> None:
    index = make_index(HAZARD)
    lon, lat = offset(30.01, 48.01, 45, 1500)
    (hit,) = index.check(shapely.Point(lon, lat), 2000)
    x, y, _ = GEOD.fwd(lon, lat, hit.bearing_deg, hit.distance_m)
    assert math.isclose(x, 30.01, abs_tol=1e-6) and math.isclose(y, 48.01, abs_tol=1e-6)
