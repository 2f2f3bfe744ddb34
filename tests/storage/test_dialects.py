"""The SQLite dialect's fast paths (JSON key arrays, raw executemany, INSERT … RETURNING, R*Tree
filled from the values at hand) give what the shared SQL gives: the generic dialect runs here on
SQLite over the same imports. With ``--postgis`` the same comparison runs on PostGIS: the PostGIS
dialect's hooks (``= ANY(array)`` key lists, the bbox filter on the GiST-indexed ``geom_pg``)
against the generic ones (IN lists, the four bbox columns)."""

from __future__ import annotations

import datetime as dt

import shapely

from clearland.services import queries, review
from clearland.services.imports import ImportOptions, import_file
from clearland.services.registry import init_registry, open_registry
from clearland.settings import Settings
from clearland.storage.dialects import PostGISDialect, SpatialDialect, SQLiteDialect
from conftest import make_hazard_feature, square, write_geojson
from dbs import database, postgis

D1, D2 = dt.date(2024, 1, 10), dt.date(2024, 2, 10)
COUNT = 1000  # more keys than one IN list of the generic dialect holds


def _imports(registry, tmp_path):
    first = [make_hazard_feature(square(17 + i / 1000, 44), id=f"k{i}", name=f"n{i}") for i in range(COUNT)]
    second = [
        make_hazard_feature(square(17 + i / 1000, 44.5 if i % 3 == 0 else 44), id=f"k{i}", name=f"n{i}")
        for i in range(COUNT)
    ]
    one = import_file(
        registry, write_geojson(tmp_path / "one.geojson", first), ImportOptions(date_of_information=D1)
    )
    two = import_file(
        registry, write_geojson(tmp_path / "two.geojson", second), ImportOptions(date_of_information=D2)
    )
    return one, two


def _state(registry, **kwargs):
    return [
        (r["ref"], r["source_id"], r["name"], round(r["area_m2"], 6), shapely.to_wkb(r["geometry"]))
        for r in queries.records(registry, **kwargs)
    ]


def test_generic_and_the_databases_own_dialect_land_the_same_imports(tmp_path):
    states = {}
    own = PostGISDialect() if postgis() else SQLiteDialect()
    for dialect in (own, SpatialDialect()):
        where = tmp_path / dialect.name
        where.mkdir()
        registry = open_registry(Settings(), db=database(where / "registry.db"))
        init_registry(registry)
        # the connection set-up stays the database's own; only the hooks are swapped
        assert type(registry.store.dialect) is type(own)
        registry.store.dialect = dialect
        try:
            one, two = _imports(registry, where)
            assert (one["created"], two["updated"], two["unchanged"]) == (
                COUNT,
                (COUNT + 2) // 3,
                COUNT * 2 // 3,
            )
            now, past = _state(registry), _state(registry, as_of=D1)
            bbox = sorted(r["source_id"] for r in queries.records(registry, bbox=(17.0, 44.4, 17.01, 44.6)))
            ref = now[0][0]
            history = [h["changed"] for h in queries.record(registry, ref, history=True)["history"]]
            review.unapprove_report(registry, two["report"], "test")
            rebuilt = _state(registry)
            states[dialect.name] = (now, past, bbox, history, rebuilt)
        finally:
            registry.close()
    mine, generic = states[own.name], states["generic"]
    assert mine == generic
    now, past, bbox, history, rebuilt = mine
    assert len(now) == COUNT and bbox == sorted(f"k{i}" for i in range(0, 11, 3))
    assert rebuilt == past and all("geometry" in changed for changed in history)
