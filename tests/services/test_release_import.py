"""Bulk release of land: outcomes matched to hazard areas, remaining land, accounting, history."""

from __future__ import annotations

import datetime as dt

import pytest
import shapely
from pyproj import Geod

from clearland.domain.vocab import ActivityType, OnUnmatched, OutcomeKind, RecordKind
from clearland.errors import ValidationFailed
from clearland.services import queries, review, statistics
from clearland.services.imports import ImportOptions, import_file
from clearland.services.release_import import ReleaseOptions, import_outcomes
from conftest import make_hazard_feature, write_geojson

GEOD = Geod(ellps="WGS84")
D1, D2 = dt.date(2025, 1, 1), dt.date(2025, 6, 1)
# about 1.6 km x 1.1 km each, side by side at 44°N 17°E
WEST = shapely.box(17.00, 44.00, 17.02, 44.01)
EAST = shapely.box(17.02, 44.00, 17.04, 44.01)


def reference_m2(geom):
    """Independent: densified in lon/lat, then pyproj.Geod ring by ring (exterior minus holes)."""
    geom = shapely.segmentize(geom, 2e-5)
    total = 0.0
    for poly in shapely.get_parts(geom):
        if poly.geom_type != "Polygon" or poly.is_empty:
            continue
        total += abs(GEOD.polygon_area_perimeter(*poly.exterior.xy)[0])
        total -= sum(abs(GEOD.polygon_area_perimeter(*h.xy)[0]) for h in poly.interiors)
    return total


@pytest.fixture
def two_hazards(registry, tmp_path):
    path = write_geojson(
        tmp_path / "ha.geojson",
        [
            make_hazard_feature(WEST, id="west", category="CHA"),
            make_hazard_feature(EAST, id="east", category="CHA"),
        ],
    )
    import_file(registry, path, ImportOptions(date_of_information=D1))
    return registry


def cleared(**kw):
    return ReleaseOptions(
        outcome=OutcomeKind.CLEARED,
        activity_type=ActivityType.CLEARANCE,
        date_of_information=D2,
        organisation="Example Operator",
        **kw,
    )


def test_outcome_across_two_hazards_is_split_and_remaining_follows(two_hazards, tmp_path):
    outcome = shapely.box(17.015, 44.002, 17.025, 44.008)
    path = write_geojson(
        tmp_path / "cleared.geojson",
        [{"type": "Feature", "properties": {"id": "c1"}, "geometry": shapely.geometry.mapping(outcome)}],
    )
    result = import_outcomes(two_hazards, path, cleared())
    assert (
        result["status"] == "approved"
        and result["parts"] == 2
        and result["hazard_areas"] == ["HA-000001", "HA-000002"]
    )
    parts = queries.records(two_hazards, RecordKind.OUTCOME)
    assert sorted(p["hazard_ref"] for p in parts) == ["HA-000001", "HA-000002"]
    assert {p["kind"] for p in parts} == {"cleared"}
    hazards = {h["ref"]: h for h in queries.records(two_hazards)}
    for ref, hazard in (("HA-000001", WEST), ("HA-000002", EAST)):
        expected_remaining = reference_m2(hazard.difference(outcome))
        assert hazards[ref]["remaining_area_m2"] == pytest.approx(expected_remaining, rel=1e-6)
        released = reference_m2(hazard.intersection(outcome))
        # the accounting rule: released + remaining = area (0.1 %)
        assert released + hazards[ref]["remaining_area_m2"] == pytest.approx(reference_m2(hazard), rel=1e-3)
    stats = statistics.statistics(two_hazards)
    assert stats["released_m2"]["cleared"] == pytest.approx(reference_m2(outcome), rel=1e-6)
    assert stats["released_m2"]["reduced"] == 0
    assert stats["remaining_m2_net"] == pytest.approx(
        reference_m2(WEST.union(EAST).difference(outcome)), rel=1e-6
    )

    # the past is kept: before the release the whole area remained
    before = {h["ref"]: h for h in queries.records(two_hazards, as_of=D1)}
    assert before["HA-000001"]["remaining_area_m2"] == pytest.approx(before["HA-000001"]["area_m2"])
    after = {h["ref"]: h for h in queries.records(two_hazards, as_of=D2)}
    assert after["HA-000001"]["remaining_area_m2"] == pytest.approx(
        hazards["HA-000001"]["remaining_area_m2"], rel=1e-9
    )

    life = queries.record(two_hazards, "HA-000001", history=True)["history"]
    assert [h["type"] for h in life] == ["import_batch", "release_import"]
    assert life[1]["changed"] == ["outcomes (cleared)"] and life[1]["date_of_information"] == "2025-06-01"

    again = import_outcomes(two_hazards, path, cleared())
    assert again["created"] == 0 and again["unchanged"] == 2 and again["report"] is None

    review.unapprove_report(two_hazards, result["report"], "wrong file")
    restored = {h["ref"]: h for h in queries.records(two_hazards)}
    assert restored["HA-000001"]["remaining_area_m2"] == pytest.approx(restored["HA-000001"]["area_m2"])
    assert queries.records(two_hazards, RecordKind.OUTCOME) == []


def test_outcome_outside_every_hazard_is_refused_or_skipped(two_hazards, tmp_path):
    inside = shapely.box(17.001, 44.001, 17.005, 44.005)
    straddling = shapely.box(17.035, 44.005, 17.05, 44.02)  # partly outside
    nowhere = shapely.box(18.0, 45.0, 18.01, 45.01)
    path = write_geojson(
        tmp_path / "mixed.geojson",
        [
            {"type": "Feature", "properties": {"id": i}, "geometry": shapely.geometry.mapping(g)}
            for i, g in enumerate((inside, straddling, nowhere))
        ],
    )
    with two_hazards.store.read() as tx:
        counts = tx.table_counts()
    with pytest.raises(ValidationFailed) as refused:
        import_outcomes(two_hazards, path, cleared())
    unmatched = [p for p in refused.value.detail if p["code"] == "unmatched"]
    assert sorted(p["feature"] for p in unmatched) == [2, 3]
    nowhere_problem = next(p for p in unmatched if p["feature"] == 3)
    assert nowhere_problem["area_m2"] == pytest.approx(reference_m2(nowhere), rel=1e-6)
    with two_hazards.store.read() as tx:
        assert tx.table_counts() == counts

    result = import_outcomes(two_hazards, path, cleared(on_unmatched=OnUnmatched.SKIP))
    assert result["parts"] == 2 and result["unmatched"] == 2
    released = sum(o["area_m2"] for o in queries.records(two_hazards, RecordKind.OUTCOME))
    expected = reference_m2(inside) + reference_m2(straddling.intersection(EAST))
    assert released == pytest.approx(expected, rel=1e-5)


def test_release_statistics_by_month_and_admin_area(two_hazards, tmp_path):
    from clearland.errors import ConfigError

    june = shapely.box(17.001, 44.001, 17.005, 44.005)
    july = shapely.box(17.025, 44.001, 17.03, 44.005)
    for name, geom, date in (("jun", june, dt.date(2025, 6, 10)), ("jul", july, dt.date(2025, 7, 2))):
        path = write_geojson(
            tmp_path / f"{name}.geojson",
            [{"type": "Feature", "properties": {"id": name}, "geometry": shapely.geometry.mapping(geom)}],
        )
        kind = OutcomeKind.CLEARED if name == "jun" else OutcomeKind.REDUCED
        import_outcomes(
            two_hazards,
            path,
            ReleaseOptions(
                outcome=kind,
                activity_type=ActivityType.TS if kind is OutcomeKind.REDUCED else ActivityType.CLEARANCE,
                date_of_information=date,
            ),
        )
    monthly = statistics.release_statistics(two_hazards, by="month")
    assert list(monthly["groups"]) == ["2025-06", "2025-07"]
    assert monthly["groups"]["2025-06"]["cleared"] == pytest.approx(reference_m2(june), rel=1e-6)
    assert monthly["groups"]["2025-07"]["reduced"] == pytest.approx(reference_m2(july), rel=1e-6)
    assert monthly["released_m2"]["total"] == pytest.approx(reference_m2(june) + reference_m2(july), rel=1e-6)
    as_of_june = statistics.release_statistics(two_hazards, by="month", as_of=dt.date(2025, 6, 30))
    assert list(as_of_june["groups"]) == ["2025-06"]
    with pytest.raises(ConfigError, match="no admin areas"):
        statistics.release_statistics(two_hazards, by="admin-area")
    west_district = write_geojson(
        tmp_path / "adm.geojson",
        [
            {
                "type": "Feature",
                "properties": {"name": "West district"},
                "geometry": shapely.geometry.mapping(WEST),
            },
        ],
    )
    import_file(two_hazards, west_district, ImportOptions(kind=RecordKind.ADMIN_AREA))
    by_area = statistics.release_statistics(two_hazards, by="admin-area")
    assert by_area["groups"]["West district"]["cleared"] == pytest.approx(reference_m2(june), rel=1e-6)
    assert by_area["groups"]["West district"]["reduced"] == 0
