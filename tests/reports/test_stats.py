"""Area totals: sum of recorded areas and net area (overlaps once), checked against an
independent computation (shapely union in lon/lat, pyproj geodesic area ring by ring)."""

from __future__ import annotations

import itertools
import json
import time
import warnings

import numpy as np
import pytest
import shapely
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pyproj import Geod
from shapely.geometry import shape

from clearland.reports import stats
from clearland.reports.stats import (
    NO_KEY,
    OUTSIDE_ADMIN_AREAS,
    totals,
    totals_by,
    totals_by_admin_area,
)
from conftest import REAL

GEOD = Geod(ellps="WGS84")
BIH_ADM2 = REAL / "bih-geoboundaries-adm2" / "geoBoundaries-BIH-ADM2.geojson"
BIH_AREA_M2 = 51_447.1e6  # sum of the 12 units in the geoBoundaries metadata (meanAreaSqKM × 12)


# --- independent reference -------------------------------------------------------------------


def reference_area_m2(geom: shapely.Geometry) -> float:
    """Geodesic area, exterior minus holes, ring by ring (no project code)."""
    if geom.geom_type == "Polygon":
        area = abs(GEOD.polygon_area_perimeter(*geom.exterior.xy)[0])
        return area - sum(abs(GEOD.polygon_area_perimeter(*h.xy)[0]) for h in geom.interiors)
    if geom.geom_type in ("MultiPolygon", "GeometryCollection"):
        return sum(reference_area_m2(part) for part in geom.geoms)
    return 0.0


def reference_densify(geom: shapely.Geometry, step_m: float = 5.0) -> shapely.Geometry:
    """``geom`` with points added along its geodesic edges (``Geod.npts``), so that a union in
    lon/lat keeps the edges geodesic; areas are measured with geodesic edges."""
    if geom.geom_type == "MultiPolygon":
        return shapely.MultiPolygon([reference_densify(p, step_m) for p in geom.geoms])

    def ring(coords: list[tuple[float, float]]) -> list[tuple[float, float]]:
        out: list[tuple[float, float]] = []
        for (x0, y0), (x1, y1) in itertools.pairwise(coords):
            length = GEOD.inv(x0, y0, x1, y1)[2]
            out.append((x0, y0))
            if (count := int(length // step_m)) > 0:  # npts refuses 0 points (an edge < step_m)
                out.extend(GEOD.npts(x0, y0, x1, y1, count))
        return [*out, out[0]]

    return shapely.Polygon(ring(list(geom.exterior.coords)), [ring(list(h.coords)) for h in geom.interiors])


def reference_totals(geoms: list[shapely.Geometry]) -> tuple[float, float]:
    return (
        sum(reference_area_m2(g) for g in geoms),
        reference_area_m2(shapely.union_all([reference_densify(g) for g in geoms])),
    )


def square(lon: float, lat: float, side_deg: float = 0.01) -> shapely.Polygon:
    return shapely.box(lon, lat, lon + side_deg, lat + side_deg)


# --- named canonical geometries -------------------------------------------------------------

SARAJEVO = square(18.40, 43.85)
SARAJEVO_SHIFTED = square(18.405, 43.855)  # overlaps SARAJEVO by a quarter
SARAJEVO_EAST = square(18.42, 43.85)  # disjoint from SARAJEVO
WITH_HOLE = shapely.Polygon(
    [(18.0, 44.0), (18.02, 44.0), (18.02, 44.02), (18.0, 44.02)],
    [[(18.005, 44.005), (18.015, 44.005), (18.015, 44.015), (18.005, 44.015)]],
)
MULTI = shapely.MultiPolygon([square(17.5, 44.5, 0.004), square(17.51, 44.5, 0.006)])
ANGOLA = square(13.5, -12.5)  # southern hemisphere
ANGOLA_SHIFTED = square(13.503, -12.496)
TROMSO = square(18.9, 69.6, 0.02)  # high latitude, far from the antimeridian
TROMSO_SHIFTED = square(18.91, 69.61, 0.02)

CASES = {
    "overlapping squares": [SARAJEVO, SARAJEVO_SHIFTED],
    "disjoint squares": [SARAJEVO, SARAJEVO_EAST],
    "identical duplicates": [SARAJEVO, SARAJEVO],
    "polygon with hole": [WITH_HOLE],
    "hole partly filled by another": [WITH_HOLE, square(18.01, 44.01)],
    "multipolygon": [MULTI, square(17.508, 44.502, 0.004)],
    "southern hemisphere": [ANGOLA, ANGOLA_SHIFTED],
    "69 degrees north": [TROMSO, TROMSO_SHIFTED],
}


@pytest.mark.parametrize("geoms", CASES.values(), ids=CASES.keys())
def test_totals_match_the_reference(geoms: list[shapely.Geometry]) -> None:
    expected_sum, expected_net = reference_totals(geoms)

    result = totals(geoms)

    assert result["count"] == len(geoms)
    assert result["area_m2_sum"] == pytest.approx(expected_sum, rel=1e-9)
    assert result["area_m2_net"] == pytest.approx(expected_net, rel=1e-9)
    assert result["area_m2_net"] <= result["area_m2_sum"] * (1 + 1e-12)


@pytest.mark.parametrize(
    "a, b",
    [(SARAJEVO, SARAJEVO_SHIFTED), (ANGOLA, ANGOLA_SHIFTED), (TROMSO, TROMSO_SHIFTED)],
    ids=["44N", "12S", "69N"],
)
def test_net_area_counts_the_overlap_once(a: shapely.Polygon, b: shapely.Polygon) -> None:
    overlap = reference_area_m2(shapely.intersection(a, b))
    assert overlap > 0

    result = totals([a, b])

    assert result["area_m2_net"] < result["area_m2_sum"]
    assert result["area_m2_net"] == pytest.approx(result["area_m2_sum"] - overlap, rel=1e-6)


def test_disjoint_net_equals_sum() -> None:
    result = totals([SARAJEVO, SARAJEVO_EAST])
    assert result["area_m2_net"] == pytest.approx(result["area_m2_sum"], rel=1e-12)


def test_identical_duplicates_count_once_in_net() -> None:
    one = reference_area_m2(SARAJEVO)
    result = totals([SARAJEVO, SARAJEVO, SARAJEVO])
    assert result["area_m2_sum"] == pytest.approx(3 * one, rel=1e-12)
    # the union is measured on the geodesically densified copies: equal to ~1e-5 m²
    assert result["area_m2_net"] == pytest.approx(one, rel=1e-10)


def test_hole_is_not_counted() -> None:
    outer = reference_area_m2(shapely.Polygon(WITH_HOLE.exterior))
    hole = reference_area_m2(shapely.Polygon(WITH_HOLE.interiors[0]))
    result = totals([WITH_HOLE])
    assert result["area_m2_sum"] == pytest.approx(outer - hole, rel=1e-9)
    assert result["area_m2_net"] == pytest.approx(outer - hole, rel=1e-9)


def test_a_square_is_about_the_size_expected() -> None:
    # 0.01° at 43.85°N: 1112.0 m north-south × 803.3 m east-west (WGS84 arc lengths)
    assert totals([SARAJEVO])["area_m2_sum"] == pytest.approx(1112.0 * 803.3, rel=2e-3)


def test_points_count_but_have_no_area() -> None:
    result = totals([SARAJEVO, shapely.Point(18.405, 43.855), shapely.Point(10, 10)])
    assert result["count"] == 3
    assert result["area_m2_sum"] == pytest.approx(reference_area_m2(SARAJEVO), rel=1e-12)
    assert result["area_m2_net"] == pytest.approx(reference_area_m2(SARAJEVO), rel=1e-12)


def test_empty_input() -> None:
    assert totals([]) == {"count": 0, "area_m2_sum": 0.0, "area_m2_net": 0.0}


def test_invalid_polygon_is_measured_after_repair() -> None:
    bowtie = shapely.Polygon([(18, 44), (18.01, 44.01), (18.01, 44), (18, 44.01)])
    repaired = shapely.make_valid(bowtie)
    result = totals([bowtie])
    assert result["area_m2_sum"] == pytest.approx(reference_area_m2(repaired), rel=1e-9)
    assert result["area_m2_net"] == pytest.approx(reference_area_m2(repaired), rel=1e-9)


def test_geometry_with_non_finite_coordinates_has_no_area() -> None:
    with warnings.catch_warnings():  # shapely warns when it is handed NaN; that is the point
        warnings.simplefilter("ignore", RuntimeWarning)
        broken = shapely.from_wkt("POLYGON ((18 44, NaN 44, 18.01 44.01, 18 44))")
    assert totals([SARAJEVO, broken]) == {"count": 2, **_areas_of(SARAJEVO)}


def _areas_of(geom: shapely.Geometry) -> dict[str, float]:
    area = totals([geom])["area_m2_sum"]
    return {"area_m2_sum": area, "area_m2_net": area}


def test_result_is_json_serialisable() -> None:
    result = totals_by([("SHA", SARAJEVO), (None, shapely.Point(18, 44))])
    assert json.loads(json.dumps(result)) == result


def test_totals_by_groups_sorts_and_names_missing_keys() -> None:
    items = [
        ("SHA", SARAJEVO),
        ("CHA", SARAJEVO_SHIFTED),
        ("SHA", SARAJEVO_SHIFTED),
        (None, SARAJEVO_EAST),
        ("indication", shapely.Point(18.41, 43.86)),
    ]

    result = totals_by(items)

    assert list(result) == sorted(["SHA", "CHA", NO_KEY, "indication"])
    assert result["SHA"] == totals([SARAJEVO, SARAJEVO_SHIFTED])
    assert result["CHA"] == totals([SARAJEVO_SHIFTED])
    assert result[NO_KEY] == totals([SARAJEVO_EAST])
    assert result["indication"] == {"count": 1, "area_m2_sum": 0.0, "area_m2_net": 0.0}


# --- property test ----------------------------------------------------------------------------

ORIGINS = st.sampled_from([(18.3, 43.8), (13.5, -12.6), (18.9, 69.5), (-70.1, 4.3)])


@st.composite
def small_polygons(draw: st.DrawFn) -> list[shapely.Geometry]:
    """1–8 rectangles and convex polygons inside one 0.1° box."""
    lon0, lat0 = draw(ORIGINS)
    offset = st.floats(0.0, 0.09, allow_nan=False)
    size = st.floats(0.0002, 0.04, allow_nan=False)
    geoms: list[shapely.Geometry] = []
    for _ in range(draw(st.integers(1, 8))):
        x, y = lon0 + draw(offset), lat0 + draw(offset)
        if draw(st.booleans()):
            geoms.append(shapely.box(x, y, x + draw(size), y + draw(size)))
        else:
            corners = draw(st.lists(st.tuples(size, size), min_size=3, max_size=7))
            hull = shapely.MultiPoint([(x + dx, y + dy) for dx, dy in corners]).convex_hull
            if hull.geom_type == "Polygon" and hull.area > 1e-9:
                geoms.append(hull)
    if not geoms:
        geoms.append(shapely.box(lon0, lat0, lon0 + 0.01, lat0 + 0.01))
    return geoms


@settings(max_examples=150, deadline=None, database=None)
@example(  # found by CI: a triangle sharing part of an edge with a rectangle (net exceeded sum)
    [
        shapely.Polygon([(18.308, 43.808), (18.331, 43.831), (18.339, 43.808)]),
        shapely.box(18.3, 43.8, 18.316, 43.808),
    ]
)
@given(small_polygons())
def test_property_sum_at_least_net_at_least_largest(geoms: list[shapely.Geometry]) -> None:
    expected_sum, expected_net = reference_totals(geoms)
    largest = max(reference_area_m2(g) for g in geoms)

    result = totals(geoms)

    assert result["area_m2_sum"] == pytest.approx(expected_sum, rel=1e-9)
    assert result["area_m2_net"] == pytest.approx(expected_net, rel=1e-6)
    # edges stay geodesic through the union, so touching polygons never measure more than their sum
    assert result["area_m2_sum"] >= result["area_m2_net"] * (1 - 1e-8)
    assert result["area_m2_net"] >= largest * (1 - 1e-8)


# --- real admin units: Bosnia and Herzegovina ADM2 (geoBoundaries, public domain) ------------


@pytest.fixture(scope="module")
def bih_units() -> list[tuple[str, shapely.Geometry]]:
    features = json.loads(BIH_ADM2.read_text())["features"]
    return [(f["properties"]["shapeName"], shape(f["geometry"])) for f in features]


def test_bih_units_total_the_country(bih_units: list[tuple[str, shapely.Geometry]]) -> None:
    result = totals([geom for _, geom in bih_units])
    assert result["count"] == 12
    assert result["area_m2_sum"] == pytest.approx(BIH_AREA_M2, rel=0.005)
    assert result["area_m2_net"] == pytest.approx(BIH_AREA_M2, rel=0.005)


def squares_across(
    a: shapely.Geometry, b: shapely.Geometry, fractions: tuple[float, ...], side_deg: float
) -> list[shapely.Polygon]:
    """Squares centred on the longest stretch of the boundary shared by ``a`` and ``b``."""
    shared = shapely.line_merge(shapely.intersection(a.boundary, b.boundary))
    line = max(shapely.get_parts(shared), key=lambda part: part.length)
    centres = [line.interpolate(f, normalized=True) for f in fractions]
    half = side_deg / 2
    return [shapely.box(p.x - half, p.y - half, p.x + half, p.y + half) for p in centres]


def test_hazards_across_a_canton_boundary_are_split_between_the_cantons(
    bih_units: list[tuple[str, shapely.Geometry]],
) -> None:
    units = dict(bih_units)
    sarajevo, srpska = units["Sarajevo Canton"], units["Republika Srpska"]
    hazards = squares_across(sarajevo, srpska, (0.2, 0.5, 0.8), side_deg=0.02)
    whole = sum(reference_area_m2(h) for h in hazards)

    result = totals_by_admin_area(hazards, bih_units)

    assert list(result) == sorted(units)  # every unit, none outside
    holding = {name for name, t in result.items() if t["area_m2_sum"] > 0}
    assert holding == {"Sarajevo Canton", "Republika Srpska"}
    for name, unit in (("Sarajevo Canton", sarajevo), ("Republika Srpska", srpska)):
        part = sum(reference_area_m2(shapely.intersection(h, unit)) for h in hazards)
        assert 0.2 * whole < part < 0.8 * whole
        assert result[name]["count"] == len(hazards)
        # the reference cuts the squares' edges as straight lon/lat lines, not geodesics
        assert result[name]["area_m2_sum"] == pytest.approx(part, rel=1e-4)
        assert result[name]["area_m2_net"] == pytest.approx(result[name]["area_m2_sum"], rel=1e-9)
    assert sum(t["area_m2_sum"] for t in result.values()) == pytest.approx(whole, rel=1e-6)
    assert sum(t["area_m2_net"] for t in result.values()) == pytest.approx(whole, rel=1e-6)


def test_land_outside_every_admin_area_is_its_own_group(
    bih_units: list[tuple[str, shapely.Geometry]],
) -> None:
    units = dict(bih_units)
    una_sana = units["Una-Sana Canton"]
    # squares on Una-Sana's border with Croatia: the part outside BiH lies in no admin area
    world = shapely.box(10, 40, 25, 50)
    outside_bih = shapely.difference(world, shapely.union_all(list(units.values())))
    hazards = squares_across(una_sana, outside_bih, (0.3, 0.6), side_deg=0.02)
    hazards.append(shapely.box(15.0, 45.5, 15.01, 45.51))  # wholly in Croatia
    indication_in_sarajevo = shapely.Point(18.40, 43.85)
    indication_in_italy = shapely.Point(12.5, 41.9)
    whole = sum(reference_area_m2(h) for h in hazards)

    result = totals_by_admin_area([*hazards, indication_in_sarajevo, indication_in_italy], bih_units)

    assert list(result)[-1] == OUTSIDE_ADMIN_AREAS
    assert result[OUTSIDE_ADMIN_AREAS]["count"] == 3 + 1  # two cut, one whole, one point
    assert result["Una-Sana Canton"]["count"] == 2
    assert result["Sarajevo Canton"] == {"count": 1, "area_m2_sum": 0.0, "area_m2_net": 0.0}
    expected_outside = sum(reference_area_m2(shapely.intersection(h, outside_bih)) for h in hazards)
    assert result[OUTSIDE_ADMIN_AREAS]["area_m2_sum"] == pytest.approx(expected_outside, rel=1e-4)
    assert sum(t["area_m2_sum"] for t in result.values()) == pytest.approx(whole, rel=1e-6)


def test_no_outside_group_when_everything_is_inside(
    bih_units: list[tuple[str, shapely.Geometry]],
) -> None:
    result = totals_by_admin_area([SARAJEVO], bih_units)
    assert OUTSIDE_ADMIN_AREAS not in result
    assert result["Sarajevo Canton"] == totals([SARAJEVO])


def test_overlapping_hazards_in_one_admin_area_count_once_in_net(
    bih_units: list[tuple[str, shapely.Geometry]],
) -> None:
    result = totals_by_admin_area([SARAJEVO, SARAJEVO_SHIFTED], bih_units)
    assert result["Sarajevo Canton"] == totals([SARAJEVO, SARAJEVO_SHIFTED])


def test_admin_areas_with_the_same_name_are_merged() -> None:
    west, east = shapely.box(18.0, 43.0, 18.5, 44.0), shapely.box(18.5, 43.0, 19.0, 44.0)
    hazard = square(18.495, 43.5)
    result = totals_by_admin_area([hazard], [("Canton", west), ("Canton", east)])
    assert result == {"Canton": totals([hazard])}


def test_many_hazards_over_the_bih_units_are_fast(
    bih_units: list[tuple[str, shapely.Geometry]],
) -> None:
    rng = np.random.default_rng(7)
    minx, miny, maxx, maxy = shapely.union_all([g for _, g in bih_units]).bounds
    x, y = rng.uniform(minx, maxx, 5000), rng.uniform(miny, maxy, 5000)
    hazards = list(shapely.box(x, y, x + rng.uniform(1e-3, 2e-2, 5000), y + 0.01))

    started = time.perf_counter()
    result = totals_by_admin_area(hazards, bih_units)
    elapsed = time.perf_counter() - started

    assert elapsed < 10
    whole = totals(hazards)
    assert sum(t["area_m2_sum"] for t in result.values()) == pytest.approx(whole["area_m2_sum"], rel=1e-9)
    # hazards overlapping one another are unioned in lon/lat: crossings sit ~cm off the geodesic
    assert sum(t["area_m2_net"] for t in result.values()) == pytest.approx(whole["area_m2_net"], rel=1e-6)


def test_a_point_on_a_shared_boundary_counts_once() -> None:
    west, east = shapely.box(18.0, 43.0, 18.5, 44.0), shapely.box(18.5, 43.0, 19.0, 44.0)
    on_boundary = shapely.Point(18.5, 43.5)
    result = totals_by_admin_area([on_boundary], [("West", west), ("East", east)])
    assert [result[name]["count"] for name in ("East", "West")] == [1, 0]
    assert OUTSIDE_ADMIN_AREAS not in result


# --- internals worth pinning -----------------------------------------------------------------


def test_components_join_chains_and_leave_singletons() -> None:
    # 0-1-2-3 chain given in reverse, 4 alone, 5-6 pair
    left = np.array([3, 2, 1, 5])
    right = np.array([2, 1, 0, 6])
    labels = stats._components(7, left, right)
    assert labels.tolist() == [0, 0, 0, 0, 4, 5, 5]
