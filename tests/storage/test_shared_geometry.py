"""A change that creates its record points at the record's current geometry instead of holding
a copy (``report_changes.geom_in_current``: an import of new records writes each geometry
once). History, as-of reads, review and unapproval must see the geometry as if it were copied,
and it is copied into the change before the current row changes or goes."""

from __future__ import annotations

import datetime as dt
import warnings

import pytest
import shapely
from alembic import command
from alembic.config import Config

from clearland.services import queries, review
from clearland.services.imports import ImportOptions, import_file
from clearland.storage import schema as t
from clearland.storage.repository import MIGRATIONS
from conftest import make_hazard_feature, reference_area_m2, square, write_geojson
from dbs import postgis

D1, D2 = dt.date(2024, 1, 10), dt.date(2024, 2, 10)
# as stored: in canonical form
A, B, A_MOVED = (shapely.normalize(square(x, y)) for x, y in ((17, 44), (17.1, 44), (17.3, 44.2)))


def change_rows(registry):
    """(report, source id, holds its geometry, points at the current one) per change."""
    from sqlalchemy import select

    rc = t.report_changes
    with registry.store.engine.connect() as conn:
        rows = conn.execute(
            select(
                rc.c.report_id,
                rc.c["values"]["source_id"].as_string(),
                rc.c.geom.is_not(None),
                rc.c.geom_in_current,
            ).order_by(rc.c.id)
        ).all()
    return [(report, source, bool(held), bool(shared)) for report, source, held, shared in rows]


def by_source(registry, **kwargs):
    return {r["source_id"]: r for r in queries.records(registry, **kwargs)}


def test_new_records_point_at_their_geometry_and_every_reading_still_sees_it(registry, tmp_path):
    v1 = write_geojson(
        tmp_path / "v1.geojson", [make_hazard_feature(A, id="a"), make_hazard_feature(B, id="b")]
    )
    first = import_file(registry, v1, ImportOptions(date_of_information=D1))["report"]
    assert change_rows(registry) == [(first, "a", False, True), (first, "b", False, True)]
    ref_a = by_source(registry)["a"]["ref"]
    assert shapely.equals_exact(by_source(registry, as_of=D1)["a"]["geometry"], A, 0)
    (version,) = queries.record(registry, ref_a, history=True)["history"]
    assert "geometry" in version["changed"]

    # a moves: its first geometry goes into the first report's change before the current row changes
    v2 = write_geojson(
        tmp_path / "v2.geojson", [make_hazard_feature(A_MOVED, id="a"), make_hazard_feature(B, id="b")]
    )
    second = import_file(registry, v2, ImportOptions(date_of_information=D2))
    assert second["updated"] == 1 and second["unchanged"] == 1
    assert change_rows(registry) == [
        (first, "a", True, False),
        (first, "b", False, True),
        (second["report"], "a", True, False),
    ]
    assert shapely.equals_exact(by_source(registry)["a"]["geometry"], A_MOVED, 0)
    past = by_source(registry, as_of=D1)
    assert shapely.equals_exact(past["a"]["geometry"], A, 0)
    assert shapely.equals_exact(past["b"]["geometry"], B, 0)
    history = queries.record(registry, ref_a, history=True)["history"]
    assert [h["date_of_information"] for h in history] == ["2024-01-10", "2024-02-10"]
    assert all("geometry" in h["changed"] for h in history)

    # unapproving the second report rebuilds a from the first
    review.unapprove_report(registry, second["report"], "moved by mistake")
    assert shapely.equals_exact(by_source(registry)["a"]["geometry"], A, 0)

    # unapproving the first withdraws both records; the report keeps their geometry
    review.unapprove_report(registry, first, "wrong file")
    assert queries.records(registry) == []
    assert change_rows(registry) == [
        (first, "a", True, False),
        (first, "b", True, False),
        (second["report"], "a", True, False),
    ]
    shown = review.show_report(registry, first)
    assert [c["geometry"]["area_m2_after"] for c in shown["changes"]] == [
        pytest.approx(reference_area_m2(A)),
        pytest.approx(reference_area_m2(B)),
    ]


def test_a_submitted_report_holds_its_geometry(registry, tmp_path):
    from clearland.domain.vocab import Role
    from clearland.services.registry import Registry, add_user

    add_user(registry, "surveyor", [Role.SURVEYOR.value])
    surveyor = Registry(store=registry.store, settings=registry.settings, user_name="surveyor")
    path = write_geojson(tmp_path / "a.geojson", [make_hazard_feature(A, id="a")])
    report = import_file(surveyor, path, ImportOptions(date_of_information=D1))["report"]
    assert change_rows(registry) == [(report, "a", True, False)]
    review.approve_report(registry, report)
    assert shapely.equals_exact(by_source(registry)["a"]["geometry"], A, 0)


def _migrate(registry, action: str, revision: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with registry.store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        getattr(command, action)(cfg, revision)


def _spatial_index(registry) -> set[str]:
    """The spatial index of hazard_areas found in the database: the R*Tree and its delete
    trigger on SQLite; on PostGIS the generated geometry column and its GiST index (0007)."""
    from sqlalchemy import inspect

    with registry.store.engine.connect() as conn, warnings.catch_warnings():
        # PostGIS's geometry type (geom_pg) is not one SQLAlchemy knows
        warnings.filterwarnings("ignore", "Did not recognize type 'geometry'", category=Warning)
        if postgis():
            found = inspect(conn)
            names = {c["name"] for c in found.get_columns("hazard_areas")}
            names |= {i["name"] for i in found.get_indexes("hazard_areas")}
            return names & {"geom_pg", "ix_hazard_areas_geom_pg"}
        names = {r[0] for r in conn.exec_driver_sql("SELECT name FROM sqlite_master")}
        return names & {"hazard_areas_rtree", "hazard_areas_rtree_del"}


def test_downgrade_copies_the_pointed_at_geometry_back_and_upgrade_keeps_it(registry, tmp_path):
    from sqlalchemy import inspect

    path = write_geojson(
        tmp_path / "a.geojson", [make_hazard_feature(A, id="a"), make_hazard_feature(B, id="b")]
    )
    import_file(registry, path, ImportOptions(date_of_information=D1))
    assert len(_spatial_index(registry)) == 2
    _migrate(registry, "downgrade", "0003")
    with registry.store.engine.connect() as conn:
        found = inspect(conn)
        columns = {c["name"] for c in found.get_columns("report_changes")}
        indexes = {i["name"] for i in found.get_indexes("report_changes")}
        geoms = [bytes(g) for (g,) in conn.exec_driver_sql("SELECT geom FROM report_changes ORDER BY id")]
    assert "geom_in_current" not in columns
    assert [shapely.from_wkb(g).equals(s) for g, s in zip(geoms, (A, B), strict=True)] == [True, True]
    assert {"ix_report_changes_report", "ix_report_changes_record"} <= indexes
    # at 0003 SQLite keeps its R*Tree (0001); PostGIS's geometry column (0007) is gone
    assert len(_spatial_index(registry)) == (0 if postgis() else 2)
    _migrate(registry, "upgrade", "head")
    assert len(_spatial_index(registry)) == 2
    assert change_rows(registry)[0][2:] == (True, False)
    assert shapely.equals_exact(by_source(registry, as_of=D1)["b"]["geometry"], B, 0)
    hits = queries.records(registry, bbox=(17.105, 44.005, 17.106, 44.006))  # through the index
    assert [h["source_id"] for h in hits] == ["b"]
