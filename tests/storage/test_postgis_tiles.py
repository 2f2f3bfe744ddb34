"""Vector tiles drawn by PostGIS (``ST_AsMVT`` through the dialect's ``mvt_tile``) hold the same
hazard areas, with the same attributes, as the Python tile path draws from the same registry.

On the SQLite run the registry for this comparison lives in a cluster of this module's own (the
comparison needs PostGIS); on the ``--postgis`` run, in the run's cluster."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import mapbox_vector_tile
import pytest
import shapely

from clearland.domain.vocab import RecordKind
from clearland.errors import StorageError
from clearland.services.imports import ImportOptions, import_file
from clearland.services.registry import Registry, init_registry, open_registry
from clearland.services.tiles import MAP_FIELDS, Tiles, lonlat_to_tile
from clearland.settings import Settings
from conftest import make_hazard_feature, write_geojson
from dbs import database, postgis


@pytest.fixture(scope="module")
def pg_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("pg-tiles")
    if postgis():
        yield database(folder / "registry.db")
        return
    from pgcluster import temporary_cluster

    with temporary_cluster() as cluster:
        yield cluster.create_database("tiles")


@pytest.fixture(scope="module")
def loaded(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    folder = tmp_path_factory.mktemp("pg-tiles-data")
    features = []
    for i in range(6):
        for j in range(6):
            lon, lat = 18.30 + i * 0.05, 44.10 + j * 0.05
            features.append(
                make_hazard_feature(
                    shapely.box(lon, lat, lon + 0.01, lat + 0.01),
                    id=f"sq{i}{j}",
                    category=("SHA", "CHA")[(i + j) % 2],
                    hazard_types="ap_mine;uxo" if i == 0 else "at_mine",
                )
            )
    # a hazard one metre across: too small to draw at zoom 9, drawn as a point, never dropped
    features.append(make_hazard_feature(shapely.box(18.47, 44.27, 18.47001, 44.27001), id="tiny"))
    source = write_geojson(folder / "hazards.geojson", features)
    registry = open_registry(Settings(), db=pg_url)
    init_registry(registry)
    import_file(registry, source, ImportOptions(date_of_information=dt.date(2026, 3, 1)))
    yield registry
    registry.close()


def _decoded(data: bytes) -> dict[str, dict[str, object]]:
    layer = mapbox_vector_tile.decode(data)["hazard-areas"]
    return {
        str(f["properties"]["ref"]): {**f["properties"], "_type": f["geometry"]["type"]}
        for f in layer["features"]
    }


@pytest.mark.parametrize("z", [9, 12])
def test_st_asmvt_draws_what_the_python_path_draws(loaded: Registry, z: int) -> None:
    x, y = lonlat_to_tile(18.45, 44.25, z)
    python = _decoded(Tiles(loaded).tile("hazard-areas", z, x, y).data)
    columns = sorted(MAP_FIELDS["hazard-areas"])
    with loaded.store.read() as tx:
        sql = _decoded(tx.mvt_tile(RecordKind.HAZARD_AREA, "hazard-areas", columns, z, x, y))
    assert sql.keys() == python.keys() and len(sql) >= (30 if z == 9 else 2)
    for ref, props in python.items():
        assert {k: sql[ref].get(k) for k in columns} == {k: props.get(k) for k in columns}, ref
        assert sql[ref]["_type"] == props["_type"], ref  # polygons as polygons, points as points
    with loaded.store.read() as tx:
        (tiny,) = (s["ref"] for s in tx.current(RecordKind.HAZARD_AREA) if s["source_id"] == "tiny")
    if z == 9:  # in this tile, and too small to draw as a polygon at this zoom
        assert sql[tiny]["_type"] == python[tiny]["_type"] == "Point"


def test_a_list_field_reads_as_comma_separated_text(loaded: Registry) -> None:
    x, y = lonlat_to_tile(18.305, 44.105, 12)
    with loaded.store.read() as tx:
        sql = _decoded(tx.mvt_tile(RecordKind.HAZARD_AREA, "hazard-areas", ["ref", "hazard_types"], 12, x, y))
    assert any(p["hazard_types"] == "ap_mine,uxo" for p in sql.values())


def test_sqlite_has_no_sql_tiles(tmp_path: Path) -> None:
    registry = open_registry(Settings(), db=str(tmp_path / "plain.db"))
    init_registry(registry)
    try:
        with registry.store.read() as tx, pytest.raises(StorageError, match="need PostGIS"):
            tx.mvt_tile(RecordKind.HAZARD_AREA, "hazard-areas", ["ref"], 9, 280, 185)
    finally:
        registry.close()
