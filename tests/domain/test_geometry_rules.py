import shapely
from hypothesis import given
from hypothesis import strategies as st

from clearland.domain.geometry import (
    check_geometry,
    find_swapped_outliers,
    geodesic_area_m2,
    geodesic_areas_m2,
    repair,
)
from conftest import reference_area_m2

POLY = frozenset({"Polygon", "MultiPolygon"})


reference_area = reference_area_m2


def test_checks_name_the_rule():
    assert check_geometry(None, POLY).code == "null"
    assert check_geometry(shapely.Polygon(), POLY).code == "empty"
    bowtie = shapely.Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])
    problem = check_geometry(bowtie, POLY)
    assert problem.code == "invalid" and "Self-intersection" in problem.message and problem.repairable
    assert check_geometry(shapely.box(12, 104, 12.1, 104.1), POLY).code == "swapped_axes"
    assert check_geometry(shapely.box(500000, 1400000, 500100, 1400100), POLY).code == "outside_world"
    assert check_geometry(shapely.LineString([(0, 0), (1, 1)]), POLY).code == "wrong_type"
    assert check_geometry(shapely.box(0, 0, 1, 1), POLY) is None


def test_repair_keeps_polygonal_parts_only():
    bowtie = shapely.Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])
    fixed = repair(bowtie)
    assert fixed.is_valid and fixed.geom_type == "MultiPolygon" and abs(fixed.area - 0.5) < 1e-12
    assert repair(shapely.Polygon([(0, 0), (1, 1), (2, 2), (0, 0)])) is None  # collapses to a line


def test_swapped_outlier_is_found():
    centres = [(17.0 + i * 0.01, 44.0 + i * 0.01) for i in range(10)] + [(44.05, 17.05)]
    assert find_swapped_outliers(centres) == [10]
    assert find_swapped_outliers(centres[:10]) == []


def test_area_of_polygon_with_hole_and_multipolygon_matches_geod():
    outer = shapely.Polygon(
        [(17, 43), (17.01, 43), (17.01, 43.01), (17, 43.01)],
        [[(17.002, 43.002), (17.004, 43.002), (17.004, 43.004), (17.002, 43.004)]],
    )
    multi = shapely.MultiPolygon([shapely.box(-60, -30, -59.99, -29.99), shapely.box(20, 69, 20.02, 69.01)])
    for geom in (outer, multi):
        assert abs(geodesic_area_m2(geom) - reference_area(geom)) < 1e-6 * reference_area(geom)
    assert list(geodesic_areas_m2([outer, None, shapely.Point(0, 0)]))[1:] == [0.0, 0.0]


@given(st.floats(-179, 179), st.floats(-85, 85), st.floats(1e-4, 0.5), st.floats(1e-4, 0.5))
def test_vectorised_area_equals_single(lon, lat, w, h):
    box = shapely.box(lon, lat, lon + w, lat + h)
    single = geodesic_area_m2(box)
    assert abs(geodesic_areas_m2([box])[0] - single) <= 1e-9 * single
    assert abs(single - reference_area(box)) <= 1e-9 * single


def test_bulk_area_path_agrees_with_geod():
    import numpy as np

    from clearland.domain.geometry import BULK_AREA_THRESHOLD

    rng = np.random.default_rng(3)
    shapes = []
    for i in range(BULK_AREA_THRESHOLD + 10):
        size = 10 ** rng.uniform(-4, 0)  # ~10 m to ~100 km
        cx, cy = rng.uniform(-179, 178), rng.uniform(-80, 80)
        angles = np.sort(rng.uniform(0, 2 * np.pi, 30))
        ring = np.column_stack([cx + size * np.cos(angles), cy + 0.5 * size * np.sin(angles)])
        poly = shapely.Polygon(ring)
        if i % 7 == 0:
            poly = poly.difference(poly.centroid.buffer(size * 0.2))  # a hole
        shapes.append(poly if poly.is_valid else poly.convex_hull)
    bulk = geodesic_areas_m2(shapes)
    for geom, area in zip(shapes, bulk, strict=True):
        assert abs(area - reference_area(geom)) <= 2e-6 * reference_area(geom)
