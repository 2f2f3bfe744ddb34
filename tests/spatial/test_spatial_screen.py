"""HazardIndex.screen and screen_parallel on point clouds: the same answers as ``check`` point by
point, and never ``no_record`` where the reference distance is within the threshold."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from spatial_reference import GEOD, offset, star, tolerance_m, truth

from clearland.spatial import HazardIndex, IndexedHazard, decision_m, screen_parallel

PLACES = [(18.0, 44.2), (24.0, 48.5), (35.0, 47.5), (104.9, 12.5), (25.0, 79.8), (-70.0, -78.0)]


def cloud(
    seed: int, place: tuple[float, float], count: int
) -> tuple[list[shapely.Geometry], np.ndarray, np.ndarray]:
    """A few overlapping hazards (one with a hole, one multipolygon) and points around them."""
    rng = np.random.default_rng(seed)
    lon0, lat0 = place
    geoms: list[shapely.Geometry] = []
    for k in range(6):
        centre = offset(lon0, lat0, float(rng.uniform(0, 360)), float(rng.uniform(0, 3000)))
        geoms.append(star(*centre, float(rng.uniform(50, 1500)), int(rng.integers(5, 80)), seed + k))
    hole = star(lon0, lat0, 200, 9, seed + 10)
    outer = star(lon0, lat0, 900, 30, seed + 11)
    if outer.contains(hole):
        geoms.append(shapely.Polygon(outer.exterior.coords, [hole.exterior.coords]))
    geoms.append(shapely.MultiPolygon([star(*offset(lon0, lat0, 90, 4000), 300, 8, seed + 12), geoms[0]]))
    coords = shapely.get_coordinates(shapely.GeometryCollection(geoms))
    pick = coords[rng.integers(0, len(coords), count)]
    az = rng.uniform(0, 360, count)
    metres = rng.choice([0.0, 1.0, 5.0, 50.0, 300.0, 3000.0], count) * rng.random(count)
    lon, lat, _ = GEOD.fwd(pick[:, 0], pick[:, 1], az, metres)
    return geoms, np.asarray(lon), np.asarray(lat)


def expected_from_check(index: HazardIndex, lon: np.ndarray, lat: np.ndarray, within_m: float):  # type: ignore[no-untyped-def]
    refs = {h.ref: i for i, h in enumerate(index.hazards)}
    status, nearest, distance = [], [], []
    for x, y in zip(lon, lat, strict=True):
        hits = index.check(shapely.Point(x, y), within_m)
        status.append(0 if not hits else 2 if hits[0].inside else 1)
        nearest.append(-1 if not hits else refs[hits[0].ref])
        distance.append(np.nan if not hits else hits[0].distance_m)
        if hits and hits[0].inside:
            nearest[-1] = -2  # any hazard holding the point will do
    return np.array(status), np.array(nearest), np.array(distance)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    place=st.sampled_from(PLACES),
    within_m=st.sampled_from([0.0, 10.0, 50.0, 100.0, 1000.0, 5000.0]) | st.floats(0, 5000),
)
def test_screen_equals_check_point_by_point(seed: int, place: tuple[float, float], within_m: float) -> None:
    geoms, lon, lat = cloud(seed, place, 300)
    index = HazardIndex([IndexedHazard(f"H{i}", "SHA", "open", None, g) for i, g in enumerate(geoms)])
    result = index.screen(lon, lat, within_m)
    status, nearest, distance = expected_from_check(index, lon, lat, within_m)
    # a point within a millimetre of the decision distance may fall either side
    edge = np.abs(np.nan_to_num(distance, nan=-1) - decision_m(within_m)) < 1e-3
    assert np.array_equal(result.status[~edge], status[~edge])
    near = (status == 1) & (result.status == 1)
    assert np.allclose(result.distance_m[near], distance[near], rtol=1e-6, atol=1e-3)
    assert (result.distance_m[result.status == 2] == 0).all()
    assert np.isnan(result.distance_m[result.status == 0]).all()
    assert (result.nearest[result.status == 0] == -1).all()
    # inside: the hazard named holds the point
    for i in np.flatnonzero(result.status == 2):
        assert shapely.intersects_xy(geoms[result.nearest[i]], lon[i], lat[i])
    # near: the named hazard is at that distance (ties between hazards may name either)
    tie = np.abs(np.diff(np.sort(distance[near]))).min(initial=1.0) < 1e-3
    if not tie:
        assert np.array_equal(result.nearest[near], nearest[near])


@pytest.mark.parametrize("place", PLACES)
def test_screen_never_misses_against_reference(place: tuple[float, float]) -> None:
    geoms, lon, lat = cloud(7, place, 400)
    index = HazardIndex([IndexedHazard(f"H{i}", "SHA", "open", None, g) for i, g in enumerate(geoms)])
    within = 50.0
    result = index.screen(lon, lat, within)
    for i in range(len(lon)):
        truths = [truth(lon[i], lat[i], g) for g in geoms]
        inside = any(t.intersects for t in truths)
        nearest = min(t.distance_m for t in truths)
        assert (result.status[i] == 2) == inside
        if not inside and nearest <= within:
            assert result.status[i] == 1
            assert abs(result.distance_m[i] - nearest) <= tolerance_m(nearest)
        if not inside and nearest > decision_m(within) + tolerance_m(nearest):
            assert result.status[i] == 0


@pytest.mark.parametrize("method", ["threads", "fork"])
def test_screen_parallel_gives_the_same_answers(method: str) -> None:
    geoms, lon, lat = cloud(3, (30.0, 48.0), 30_000)
    index = HazardIndex([IndexedHazard(f"H{i}", "SHA", "open", None, g) for i, g in enumerate(geoms)])
    one = index.screen(lon, lat, 50)
    many = screen_parallel(index, lon, lat, 50, workers=2, method=method)  # type: ignore[arg-type]
    assert np.array_equal(one.status, many.status) and np.array_equal(one.nearest, many.nearest)
    assert np.array_equal(one.distance_m, many.distance_m, equal_nan=True)
    assert (one.status > 0).any() and (one.status == 0).any()


def test_large_threshold_uses_a_coarser_grid_with_the_same_answers() -> None:
    geoms, lon, lat = cloud(5, (24.0, 48.5), 500)
    index = HazardIndex(
        [IndexedHazard(f"H{i}", "SHA", "open", None, g) for i, g in enumerate(geoms)], cell_deg=0.0005
    )
    result = index.screen(lon, lat, 5000)
    status, _, _ = expected_from_check(index, lon, lat, 5000)
    assert np.array_equal(result.status, status)
    assert index.plan(5000).grid is not index.plan(0).grid
