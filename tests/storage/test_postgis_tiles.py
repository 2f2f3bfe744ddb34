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
import json
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import mapbox_vector_tile
import numpy as np
import pytest
import shapely
import shapely.geometry

from clearland.domain.vocab import ActivityType, OutcomeKind, RecordKind
from clearland.errors import StorageError
from clearland.io import write_layer
from clearland.services import review
from clearland.services.demo import synthetic_admin_areas, synthetic_hazards
from clearland.services.features import COLLECTIONS
from clearland.services.imports import ImportOptions, import_file
from clearland.services.registry import Registry, init_registry, open_registry
from clearland.services.release_import import ReleaseOptions, import_outcomes
from clearland.services.submissions import submit_report_file
from clearland.services.tiles import (
    DETAIL_ZOOM,
    HAZARD_COLLECTIONS,
    MAP_FIELDS,
    Tiles,
    _Layer,
    lonlat_to_tile,
    render,
)
from clearland.settings import Settings
from clearland.storage import vector_tiles
from conftest import make_hazard_feature, write_geojson
from dbs import database, postgis
from minefield_data import Custodian, make_record


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


def python_layer(registry: Registry, collection_id: str) -> _Layer:
    """The collection read whole, as the Python tile path reads it."""
    spec = COLLECTIONS[collection_id]
    return _Layer.of(spec.read(registry, None), 0, with_id=not any(f.name == "ref" for f in spec.filters))


def python_tile(
    registry: Registry, collection_id: str, z: int, x: int, y: int, layer: _Layer | None = None
) -> bytes:
    """The tile as the Python path draws it (on SQLite): drawn from the collection in memory."""
    layer = layer or python_layer(registry, collection_id)
    fields = None if z >= DETAIL_ZOOM else MAP_FIELDS[collection_id]
    return render(
        layer, collection_id, z, x, y, keep_small=collection_id in HAZARD_COLLECTIONS, fields=fields
    )[0]


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

DEMO_AREA = (0.2, 0.2, 2.2, 1.7)  # where the demo's hazards lie (lon/lat box, at sea)
MINEFIELD = (18.1015, 44.7007)  # the synthetic minefield record's CHA and its markers


@pytest.fixture(scope="module")
def varied(
    new_database: Callable[[str], str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Registry]:
    """A SYNTHETIC registry with something of everything a tile draws: the demo's hazards
    (polygons and indication points, dense), hazards of every size and shape (under a metre
    to kilometres, slivers, holes, several parts) with lists, dates and empty fields, released
    land of every size (and a confirmed part, which is not released), markers placed by an
    activity and the markers (points and fences) of a marking report, admin areas."""
    folder = tmp_path_factory.mktemp("pg-tiles-varied")
    registry = open_registry(Settings(), db=new_database("varied"))
    init_registry(registry)
    rng = np.random.default_rng(8)
    custodian = Custodian(registry, folder)
    custodian.land(make_record())  # HA-000001, the CHA of the record
    markers: list[dict[str, Any]] = []
    for i in range(120):
        lon, lat = MINEFIELD[0] + rng.normal(0, 0.002), MINEFIELD[1] + rng.normal(0, 0.001)
        if i % 10 == 0:
            end = [lon + rng.uniform(-0.002, 0.002), lat + rng.uniform(-0.001, 0.001)]
            markers.append(
                {"type": "fence", "position": {"type": "LineString", "coordinates": [[lon, lat], end]}}
            )
        else:
            described = {"description": f"synthetic sign {i % 3}"} if i % 4 else {}
            point = {"type": "Point", "coordinates": [lon, lat]}
            markers.append({"type": ("sign", "permanent_marker")[i % 2], "position": point, **described})
    custodian.land(
        {
            "type": "marking_inspection",
            "minefield_ref": "MFR-000001",
            "date_of_information": "2026-02-10",
            "markers": markers,
        }
    )
    demo = folder / "demo.gpkg"
    write_layer(demo, synthetic_hazards(1200, seed=5), format="gpkg", layer="hazard_areas")
    import_file(registry, demo, ImportOptions(date_of_information=dt.date(2026, 1, 15)))
    west, south, east, north = DEMO_AREA
    shapes = []
    for i in range(700):
        lon, lat = rng.uniform(west, east), rng.uniform(south, north - 0.3)
        size = 10 ** rng.uniform(-5.5, -1.5)  # degrees: 0.3 m to 3.5 km
        geometry = (
            shapely.box(lon, lat, lon + size, lat + size * rng.uniform(0.02, 1)),
            shapely.Polygon(
                [
                    (lon, lat),
                    (lon + size, lat + size * rng.uniform(0.001, 0.05)),
                    (lon + size / 2, lat + size / 10),
                ]
            ),
            shapely.Point(lon, lat).buffer(size, quad_segs=int(rng.integers(2, 12))),
            shapely.Point(lon, lat).buffer(size, 6) - shapely.Point(lon, lat).buffer(size / 2, 4),
            shapely.MultiPolygon(
                [
                    shapely.box(lon, lat, lon + size, lat + size),
                    shapely.box(lon + 3 * size, lat, lon + 4 * size, lat + size * 0.3),
                ]
            ),
        )[i % 5]
        values = {
            "category": ("SHA", "CHA")[i % 2],
            "status": ("open", "worked_on", "closed")[i % 3],
            "hazard_types": ("ap_mine;uxo", "at_mine", "uxo", None)[i % 4],
            "marking": ("none", "signs", None)[i % 3],
            "name": (f"SYNTHETIC shape {i}", "SYNTHETIC same name", None)[i % 3],
        }
        properties = {k: v for k, v in values.items() if v is not None}
        shapes.append(make_hazard_feature(geometry, id=f"shape{i}", **properties))
    # hazards standing apart, part of each released below: boxes of 20 m to 5 km
    plots = []
    for i in range(160):
        lon, lat = west + (i % 20) * 0.1, north - 0.25 + (i // 20) * 0.03
        size = 10 ** rng.uniform(-3.7, -1.35)
        plot = shapely.box(lon, lat, lon + size, lat + size * 0.6)
        plots.append(plot)
        shapes.append(make_hazard_feature(plot, id=f"plot{i}", category="SHA"))
    source = write_geojson(folder / "shapes.geojson", shapes)
    import_file(registry, source, ImportOptions(date_of_information=dt.date(2026, 2, 1)))
    for name, kind in (("reduced", OutcomeKind.REDUCED), ("cleared", OutcomeKind.CLEARED)):
        start = 0 if kind is OutcomeKind.REDUCED else 1
        parts = []
        for plot in plots[start::2]:
            minx, miny, maxx, maxy = plot.bounds
            part = shapely.box(minx, miny, (minx + maxx) / 2, maxy)
            parts.append({"type": "Feature", "properties": {}, "geometry": shapely.geometry.mapping(part)})
        activity = ActivityType.CLEARANCE if kind is OutcomeKind.CLEARED else ActivityType.TS
        options = ReleaseOptions(
            outcome=kind,
            activity_type=activity,
            organisation="Synthetic Operator",
            date_of_information=dt.date(2026, 3, 1),
        )
        import_outcomes(registry, write_geojson(folder / f"{name}.geojson", parts), options)
    # an activity placing markers across the demo's area and confirming part of the last plot
    # (outside its released half)
    with registry.store.read() as tx:
        (plot_ref,) = (h["ref"] for h in tx.current(RecordKind.HAZARD_AREA) if h["source_id"] == "plot159")
    (cx, cy), (_minx, miny, maxx, _maxy) = plots[-1].centroid.coords[0], plots[-1].bounds
    confirmed = shapely.box(cx + (maxx - cx) / 4, miny, maxx, cy)
    report = {
        "type": "activity_report",
        "activity_type": "ts",
        "date_of_information": "2026-03-05",
        "organisation": "Synthetic Operator",
        "hazard_areas": [plot_ref],
        "outcomes": [{"kind": "confirmed", "geometry": shapely.geometry.mapping(confirmed)}],
        "markers": [
            {
                "type": ("sign", "permanent_marker")[k % 2],
                "position": {"type": "Point", "coordinates": [rng.uniform(0.5, 0.9), rng.uniform(0.5, 0.8)]},
                **({"description": ("post", "sign A")[k % 2]} if k % 3 else {}),
            }
            for k in range(300)
        ],
    }
    path = folder / "activity.json"
    path.write_text(json.dumps(report), encoding="utf-8")
    review.approve_report(registry, submit_report_file(registry, path)["report"])
    admin = folder / "admin.geojson"
    write_layer(admin, synthetic_admin_areas(), format="geojson", layer="admin_areas")
    import_file(
        registry, admin, ImportOptions(kind=RecordKind.ADMIN_AREA, date_of_information=dt.date(2026, 1, 1))
    )
    yield registry
    registry.close()


def _content(data: bytes, collection_id: str) -> tuple[Counter[tuple[str, tuple[Any, ...]]], int]:
    """What a tile shows: each feature as its geometry type and attributes, and how many
    features it stands for in all (a gathered point for its ``count``)."""
    if not data:
        return Counter(), 0
    features = mapbox_vector_tile.decode(data)[collection_id]["features"]
    shown = Counter(
        (f["geometry"]["type"].removeprefix("Multi"), tuple(sorted(f["properties"].items())))
        for f in features
    )
    return shown, sum(int(f["properties"].get("count", 1)) for f in features)


def _tiles_to_compare(registry: Registry) -> list[tuple[int, int, int]]:
    """z 2–15 around the places where things are: the minefield's markers, the activity's,
    the densest part of the demo's hazards (9/257/254 is its densest z9 tile), and hazards
    picked at random; each tile once."""
    rng = np.random.default_rng(3)
    with registry.store.read() as tx:
        hazards = [h["geometry"] for h in tx.current(RecordKind.HAZARD_AREA)]
    places = [MINEFIELD, (0.7, 0.65), (0.703, 0.70), (1.0, 0.9), (0.25, 1.55)]
    places += [
        hazards[int(i)].representative_point().coords[0] for i in rng.choice(len(hazards), 10, replace=False)
    ]
    tiles = {(9, 257, 254)}
    for z in range(2, 16):
        tiles.update((z, *lonlat_to_tile(lon, lat, z)) for lon, lat in places)
    return sorted(tiles)


def test_server_tiles_on_postgis_show_what_the_python_path_draws(varied: Registry) -> None:
    tiles = Tiles(varied)
    layers = {collection_id: python_layer(varied, collection_id) for collection_id in COLLECTIONS}
    differences = []
    seen: Counter[tuple[str, str, bool]] = Counter()
    compared = 0
    for z, x, y in _tiles_to_compare(varied):
        for collection_id in COLLECTIONS:
            served = tiles.tile(collection_id, z, x, y)
            sql, sql_total = _content(served.data, collection_id)
            python_data = python_tile(varied, collection_id, z, x, y, layers[collection_id])
            python, python_total = _content(python_data, collection_id)
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
    assert 0 < _content(past.data, "hazard-areas")[1] < _content(now.data, "hazard-areas")[1]


def test_a_tile_the_database_fails_to_draw_is_drawn_in_python(
    varied: Registry, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(vector_tiles, "DROPS_RING_START", True)
    monkeypatch.setattr(vector_tiles, "_SIMPLIFIED_DROPPING_RING_START", "ST_GeomFromText('not a geometry')")
    tiles = Tiles(varied)
    with caplog.at_level(logging.WARNING, logger="clearland.tiles"):
        served = tiles.tile("hazard-areas", 9, 257, 254)
    assert "could not draw a tile of hazard-areas" in caplog.text
    assert _content(served.data, "hazard-areas") == _content(
        python_tile(varied, "hazard-areas", 9, 257, 254), "hazard-areas"
    )
    assert "hazard-areas" in tiles._layers  # read whole for this one
