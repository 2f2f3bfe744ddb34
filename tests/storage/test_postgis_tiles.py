"""Vector tiles drawn by PostGIS hold what the Python tile path draws from the same registry.

The server's tiles of the current state (``Tiles.tile`` on PostgreSQL: one query per tile,
``storage.vector_tiles``) are compared, decoded, with the Python path's tiles of the same
registry (``services.tiles.render`` over the collection read whole), for every public
collection and a spread of tiles z 2–15, dense ones included: the same features drawn as
polygons, lines and points, the same gathered points with the same ``count`` and shared
attributes, the same attribute values. The older ``Tx.mvt_tile`` (``ST_AsMVTGeom``) is checked
against the Python path too.

On the SQLite run the registries for these comparisons live in a cluster of this module's own
(the comparison needs PostGIS); on the ``--postgis`` run, in the run's cluster.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import mapbox_vector_tile
import pytest
import shapely
import shapely.geometry

from clearland.domain.vocab import RecordKind
from clearland.errors import StorageError
from clearland.services.features import COLLECTIONS
from clearland.services.imports import ImportOptions, import_file
from clearland.services.registry import Registry, init_registry, open_registry
from clearland.services.tiles import MAP_FIELDS, Tiles, lonlat_to_tile
from clearland.settings import Settings
from clearland.storage import vector_tiles
from conftest import make_hazard_feature, write_geojson
from dbs import database, postgis
from tile_data import build_varied, python_layer, python_tile, tile_content, tiles_to_compare


@pytest.fixture(scope="module")
def new_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], str]]:
    """Makes a new PostGIS database by name: in the run's cluster, or in one of this module."""
    folder = tmp_path_factory.mktemp("pg-tiles")
    if postgis():
        yield lambda name: database(folder / f"{name}.db")
        return
    from pgcluster import temporary_cluster

    with temporary_cluster() as cluster:
        yield cluster.create_database


@pytest.fixture(scope="module")
def loaded(
    new_database: Callable[[str], str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Registry]:
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
    registry = open_registry(Settings(), db=new_database("tiles"))
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
def test_st_asmvtgeom_draws_what_the_python_path_draws(loaded: Registry, z: int) -> None:
    x, y = lonlat_to_tile(18.45, 44.25, z)
    python = _decoded(python_tile(loaded, "hazard-areas", z, x, y))
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
    served = _decoded(Tiles(loaded).tile("hazard-areas", 12, x, y).data)
    assert any(p["hazard_types"] == "ap_mine,uxo" for p in served.values())


def test_sqlite_has_no_sql_tiles(tmp_path: Path) -> None:
    registry = open_registry(Settings(), db=str(tmp_path / "plain.db"))
    init_registry(registry)
    try:
        with registry.store.read() as tx, pytest.raises(StorageError, match="need PostGIS"):
            tx.mvt_tile(RecordKind.HAZARD_AREA, "hazard-areas", ["ref"], 9, 280, 185)
        with registry.store.read() as tx:
            assert tx.vector_tiles() is None  # Tiles draws every tile in Python there
    finally:
        registry.close()


# -- the server's tiles (Tiles.tile on PostGIS) against the Python path ----------------------------


@pytest.fixture(scope="module")
def varied(
    new_database: Callable[[str], str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Registry]:
    """The SYNTHETIC registry of ``tile_data.build_varied``, on PostGIS."""
    registry = open_registry(Settings(), db=new_database("varied"))
    init_registry(registry)
    build_varied(registry, tmp_path_factory.mktemp("pg-tiles-varied"))
    yield registry
    registry.close()


def test_server_tiles_on_postgis_show_what_the_python_path_draws(varied: Registry) -> None:
    tiles = Tiles(varied)
    layers = {collection_id: python_layer(varied, collection_id) for collection_id in COLLECTIONS}
    differences = []
    seen: Counter[tuple[str, str, bool]] = Counter()
    compared = 0
    for z, x, y in tiles_to_compare(varied):
        for collection_id in COLLECTIONS:
            served = tiles.tile(collection_id, z, x, y)
            sql, sql_total = tile_content(served.data, collection_id)
            python_data = python_tile(varied, collection_id, z, x, y, layers[collection_id])
            python, python_total = tile_content(python_data, collection_id)
            compared += 1
            if sql != python or sql_total != python_total or served.features != sum(python.values()):
                differences.append(
                    (f"{collection_id} {z}/{x}/{y}", sql_total, python_total, sql - python, python - sql)
                )
            for (kind, properties), n in sql.items():
                seen[(collection_id, kind, "count" in dict(properties))] += n
    assert not differences, f"{len(differences)} of {compared} tiles differ: {differences[:5]}"
    # the comparison covered each way of drawing: areas, fences, single and gathered points
    assert tiles._layers == {}  # no collection was read into Python for them
    for expected in (
        ("hazard-areas", "Polygon", False),
        ("hazard-areas", "Point", False),
        ("hazard-areas", "Point", True),
        ("released-land", "Polygon", False),
        ("markers", "Point", False),
        ("markers", "Point", True),
        ("markers", "LineString", False),
        ("admin-areas", "Polygon", False),
    ):
        assert seen[expected] >= 5, (expected, seen)


def test_tilejson_extent_and_fields_on_postgis_are_the_python_paths(varied: Registry) -> None:
    tiles = Tiles(varied)
    for collection_id in COLLECTIONS:
        layer = python_layer(varied, collection_id)
        assert tiles.bounds(collection_id) == layer.lonlat_bounds, collection_id
        assert set(tiles.fields(collection_id)) == {*layer.names, "count"}, collection_id
    assert tiles._layers == {}  # measured by the database, not read


def test_tiles_as_of_a_date_stay_on_the_python_path(varied: Registry) -> None:
    tiles = Tiles(varied)
    z, (x, y) = 9, (257, 254)
    past = tiles.tile("hazard-areas", z, x, y, as_of=dt.date(2026, 1, 20))
    now = tiles.tile("hazard-areas", z, x, y)
    assert set(tiles._past_layers) == {("hazard-areas", dt.date(2026, 1, 20))} and tiles._layers == {}
    # on 2026-01-20 only the demo's hazards were recorded
    assert 0 < tile_content(past.data, "hazard-areas")[1] < tile_content(now.data, "hazard-areas")[1]


def test_a_tile_the_database_fails_to_draw_is_drawn_in_python(
    varied: Registry, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(vector_tiles, "DROPS_RING_START", True)
    monkeypatch.setattr(vector_tiles, "_SIMPLIFIED_DROPPING_RING_START", "ST_GeomFromText('not a geometry')")
    tiles = Tiles(varied)
    with caplog.at_level(logging.WARNING, logger="clearland.tiles"):
        served = tiles.tile("hazard-areas", 9, 257, 254)
    assert "could not draw a tile of hazard-areas" in caplog.text
    assert tile_content(served.data, "hazard-areas") == tile_content(
        python_tile(varied, "hazard-areas", 9, 257, 254), "hazard-areas"
    )
    assert "hazard-areas" in tiles._layers  # read whole for this one
