"""Statistics measured by PostGIS (``storage.areas``: counts and geodesic areas in SQL, only the
overlapping rows unioned in Python) give the figures of the Python path.

The same SYNTHETIC registry (the demo's areas: separate ones, pairs and large clusters, points,
every status and category; released land across overlapping hazards) is built in a SQLite file
and in a PostGIS database; ``statistics`` must agree on both, and with a reference computed here
from the records themselves with ``reports.stats``. On the SQLite run the PostGIS database lives
in a cluster of this module's own; on the ``--postgis`` run, in the run's cluster.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import shapely
import shapely.geometry

from clearland.domain.vocab import ActivityType, OutcomeKind, RecordKind
from clearland.reports import stats
from clearland.services import queries, statistics
from clearland.services.demo import create_demo
from clearland.services.imports import ImportOptions, import_file
from clearland.services.registry import Registry, open_registry
from clearland.services.release_import import ReleaseOptions, import_outcomes
from clearland.settings import Settings
from conftest import make_hazard_feature, write_geojson
from dbs import postgis_database

HAZARDS = 400
REL = 1e-9


def _build(db: str, folder: Path) -> Registry:
    registry = open_registry(Settings(), db=db)
    create_demo(registry, count=HAZARDS)
    hazards = queries.records(registry)
    polygons = [h for h in hazards if h["geometry"].geom_type == "Polygon"]
    # released land: two overlapping clearances over one area, a reduction over another
    first, second = polygons[0]["geometry"], polygons[1]["geometry"]
    minx, miny, maxx, maxy = first.bounds
    midx = (minx + maxx) / 2
    for name, kind, within, shapes in (
        (
            "cleared",
            OutcomeKind.CLEARED,
            first,
            [shapely.box(minx, miny, midx, maxy), first.centroid.buffer(3e-4)],
        ),
        ("reduced", OutcomeKind.REDUCED, second, [second.centroid.buffer(2e-4)]),
    ):
        path = write_geojson(
            folder / f"{name}.geojson",
            [
                {
                    "type": "Feature",
                    "properties": {"id": f"{name}{i}"},
                    "geometry": shapely.geometry.mapping(s.intersection(within)),
                }
                for i, s in enumerate(shapes)
            ],
        )
        import_outcomes(
            registry,
            path,
            ReleaseOptions(
                outcome=kind,
                activity_type=ActivityType.CLEARANCE,
                date_of_information=dt.date(2026, 2, 1),
                organisation="SYNTHETIC Operator",
            ),
        )
    return registry


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Registry, Registry]]:
    folder = tmp_path_factory.mktemp("sql-areas")
    with postgis_database(folder, "sql_areas") as pg_url:
        sqlite = _build(str(folder / "registry.db"), folder)
        pg = _build(pg_url, folder)
        yield sqlite, pg
        pg.store.dispose()
        sqlite.store.dispose()


def _close(got: Any, expected: Any) -> None:
    """Equal structures; floats to ``REL``."""
    if isinstance(expected, dict):
        assert set(got) == set(expected)
        for key in expected:
            _close(got[key], expected[key])
    elif isinstance(expected, float):
        assert got == pytest.approx(expected, rel=REL, abs=1e-6)
    else:
        assert got == expected


def test_the_database_measures_the_areas_on_postgis_only(both: tuple[Registry, Registry]) -> None:
    sqlite, pg = both
    with sqlite.store.read() as tx:
        assert tx.area_groups(RecordKind.HAZARD_AREA) is None
    with pg.store.read() as tx:
        groups = tx.area_groups(RecordKind.HAZARD_AREA, group_by="status")
    assert groups is not None
    assert sum(g.count for g in groups.values()) == HAZARDS
    shared = sum(len(g.shared) for g in groups.values())
    # the demo has areas apart from all others and clusters: both paths are exercised
    assert 0 < shared < HAZARDS
    assert all(g.separate_m2 > 0 for g in groups.values())


@pytest.mark.parametrize("by", [None, "status", "category"])
def test_postgis_and_sqlite_give_the_same_statistics(both: tuple[Registry, Registry], by: str | None) -> None:
    sqlite, pg = both
    expected = statistics.statistics(sqlite, by=by)
    got = statistics.statistics(pg, by=by)
    for volatile in ("database", "revision", "generated_at"):
        expected.pop(volatile, None)
        got.pop(volatile, None)
    _close(got, expected)
    assert got["released_m2"]["cleared"] > 0 and got["released_m2"]["reduced"] > 0
    assert got["area_m2_net"] < got["area_m2_sum"]  # the demo overlaps


@pytest.mark.parametrize("by", ["status", "category"])
def test_postgis_statistics_match_a_reference_from_the_records(
    both: tuple[Registry, Registry], by: str
) -> None:
    _, pg = both
    hazards = queries.records(pg)
    got = statistics.statistics(pg, by=by)
    _close(got["groups"], stats.totals_by([(h[by], h["geometry"]) for h in hazards]))
    whole = stats.totals([h["geometry"] for h in hazards])
    _close({k: got[k] for k in whole}, whole)
    remaining = [
        h["geometry"] if h.get("remaining_geometry") is None else h["remaining_geometry"]
        for h in hazards
        if h["status"] != "closed"
    ]
    assert got["remaining_m2_net"] == pytest.approx(stats.totals(remaining)["area_m2_net"], rel=REL)
    outcomes = queries.records(pg, RecordKind.OUTCOME)
    cleared = stats.totals([o["geometry"] for o in outcomes if o["kind"] == "cleared"])
    assert got["released_m2"]["cleared"] == pytest.approx(cleared["area_m2_net"], rel=REL)
    assert cleared["area_m2_net"] < cleared["area_m2_sum"]  # the two clearances overlap


def test_with_nothing_closed_or_released_the_remaining_land_is_the_whole(tmp_path: Path) -> None:
    """A registry of open areas only (some overlapping, one pair touching): PostGIS measures the
    remaining land once (``remaining_is_whole``) and gives what SQLite gives; on either the
    remaining land is the net area to the bit."""
    boxes = [shapely.box(17.0 + i * 0.004, 44.0, 17.005 + i * 0.004, 44.003) for i in range(6)]
    boxes += [shapely.box(17.1, 44.1, 17.102, 44.102), shapely.box(17.102, 44.1, 17.104, 44.102)]
    path = write_geojson(
        tmp_path / "open.geojson", [make_hazard_feature(b, source_id=f"o{i}") for i, b in enumerate(boxes)]
    )
    with postgis_database(tmp_path, "sql_areas_open") as pg_url:
        figures = []
        for db in (str(tmp_path / "open.db"), pg_url):
            registry = open_registry(Settings(), db=db)
            import_file(registry, path, ImportOptions())
            with registry.store.read() as tx:
                whole = tx.area_groups(RecordKind.HAZARD_AREA) is not None and tx.remaining_is_whole(
                    RecordKind.HAZARD_AREA, exclude={"status": ["closed"]}
                )
            assert whole == db.startswith("postgresql")
            got = statistics.statistics(registry)
            registry.store.dispose()
            assert got["remaining_m2_net"] == got["area_m2_net"] < got["area_m2_sum"]
            figures.append(got)
        expected, got = figures
        for volatile in ("database", "revision", "generated_at"):
            expected.pop(volatile, None)
            got.pop(volatile, None)
        _close(got, expected)
