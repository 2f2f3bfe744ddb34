"""The current state's tiles drawn in Python from the rows read column by column (SQLite's path:
``Tx.current_columns`` over ``tile_layers.SQL_LAYERS``, then ``_Layer.of_columns``) are the tiles
drawn from the collection read as features (``services.features``, ``_Layer.of``: the path of
tiles as of a date, and the reference).

Over a SYNTHETIC registry holding something of every collection (``tile_data.build_varied``):
the two layers of each collection hold the same rows in the same order, with the same geometry
and the same attribute values (of the same type); and every tile of a spread z 2–15 (dense ones
included) shows, decoded, the same features: the same geometry in tile units, the same
attributes and the same gathered points with their ``count``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely

from clearland.services.features import COLLECTIONS, Feature
from clearland.services.registry import Registry, init_registry, open_registry
from clearland.services.tiles import DETAIL_ZOOM, HAZARD_COLLECTIONS, MAP_FIELDS, Tiles, _Layer, render
from clearland.settings import Settings
from dbs import database
from tile_data import build_varied, python_layer, tile_features, tiles_to_compare


@pytest.fixture(scope="module")
def varied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    folder = tmp_path_factory.mktemp("tile-columns")
    registry = open_registry(Settings(), db=database(folder / "varied.db"))
    init_registry(registry)
    build_varied(registry, folder)
    yield registry
    registry.close()


def columns_layer(registry: Registry, collection_id: str) -> _Layer:
    """The current state as ``Tiles`` reads it for drawing in Python."""
    tiles = Tiles(registry)
    return tiles._layer(collection_id, tiles.revision())


def attribute_values(layer: _Layer) -> dict[str, list[Any]]:
    """Each attribute's value on each row (None where it has none), with its type: 1, 1.0 and
    True are equal in Python, not in a tile."""
    out = {}
    for k, name in enumerate(layer.names):
        table = layer.values[k]
        out[name] = [None if c < 0 else (type(table[c]).__name__, table[c]) for c in layer.codes[:, k]]
    return out


@pytest.mark.parametrize("collection_id", list(COLLECTIONS))
def test_the_columns_make_the_layer_the_features_make(varied: Registry, collection_id: str) -> None:
    columns, features = columns_layer(varied, collection_id), python_layer(varied, collection_id)
    assert len(columns.lonlat) == len(features.lonlat) >= 10
    # the same geometry, row by row (so in the same order), to the last bit
    assert (shapely.to_wkb(columns.lonlat) == shapely.to_wkb(features.lonlat)).all()
    assert np.array_equal(columns.bounds, features.bounds)
    # the boxes a tile is drawn from are those of the geometry projected, to the bit
    projected = features.mercator(np.arange(len(features.lonlat)))
    assert np.array_equal(features.bounds, shapely.bounds(projected))
    assert np.array_equal(columns.point_like, features.point_like)
    assert columns.lonlat_bounds == features.lonlat_bounds
    assert sorted(columns.names) == sorted(features.names)
    assert attribute_values(columns) == attribute_values(features)


def test_the_registry_holds_what_the_comparison_needs(varied: Registry) -> None:
    layers = {c: python_layer(varied, c) for c in COLLECTIONS}
    values = {c: attribute_values(layer) for c, layer in layers.items()}
    hazards = values["hazard-areas"]
    assert ("str", "ap_mine,uxo") in hazards["hazard_types"] and None in hazards["hazard_types"]
    assert None in hazards["name"] and len(set(hazards["date_of_information"])) >= 3
    markers = values["markers"]
    assert any(v is not None and "-M" in v[1] for v in markers["id"])  # placed by an activity
    assert any(v is not None and v[1].startswith("MK-") for v in markers["id"])  # marker records
    assert None in markers["description"] and None in markers["activity_ref"]
    assert {v[1] for v in values["released-land"]["kind"] if v} == {"reduced", "cleared"}
    assert {v[0] for v in values["admin-areas"]["level"] if v} == {"int"}


def test_tiles_from_the_columns_are_the_tiles_from_the_features(varied: Registry) -> None:
    differences = []
    shown: Counter[str] = Counter()
    compared = drawn = 0
    for collection_id in COLLECTIONS:
        columns, features = columns_layer(varied, collection_id), python_layer(varied, collection_id)
        for z, x, y in tiles_to_compare(varied):
            fields = None if z >= DETAIL_ZOOM else MAP_FIELDS[collection_id]
            keep_small = collection_id in HAZARD_COLLECTIONS
            new, new_count = render(columns, collection_id, z, x, y, keep_small=keep_small, fields=fields)
            old, old_count = render(features, collection_id, z, x, y, keep_small=keep_small, fields=fields)
            drawn_new, drawn_old = tile_features(new, collection_id), tile_features(old, collection_id)
            compared += 1
            drawn += bool(drawn_old)
            if drawn_new != drawn_old or new_count != old_count:
                tile = f"{collection_id} {z}/{x}/{y}"
                differences.append((tile, drawn_new - drawn_old, drawn_old - drawn_new))
            shown.update(f"{collection_id} {feature.split(',')[0]}" for feature in drawn_old.elements())
            shown.update(f"{collection_id} count" for feature in drawn_old.elements() if '"count"' in feature)
    assert not differences, f"{len(differences)} of {compared} tiles differ: {differences[:3]}"
    assert compared >= 400 and drawn >= 200, (compared, drawn)  # 408 and 221 when written
    # every way of drawing was compared: areas, fences, single and gathered points
    for way in (
        'hazard-areas [{"type": "Polygon"',
        'hazard-areas [{"type": "Point"',
        "hazard-areas count",
        'released-land [{"type": "Polygon"',
        'markers [{"type": "Point"',
        'markers [{"type": "LineString"',
        "markers count",
        'admin-areas [{"type": "Polygon"',
    ):
        assert shown[way] >= 5, (way, shown)


def test_the_current_state_is_read_without_features_and_a_past_one_with(
    varied: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[tuple[str, dt.date | None]] = []
    for collection_id, spec in COLLECTIONS.items():

        def read(registry: Registry, as_of: dt.date | None, spec: Any = spec) -> list[Feature]:
            reads.append((spec.id, as_of))
            return list(spec.read(registry, as_of))

        monkeypatch.setitem(COLLECTIONS, collection_id, dataclasses.replace(spec, read=read))
    tiles = Tiles(varied)
    revision = tiles.revision()
    for collection_id in COLLECTIONS:
        assert len(tiles._layer(collection_id, revision).lonlat)
    assert reads == []
    past = dt.date(2026, 1, 20)
    assert len(tiles._layer("hazard-areas", revision, as_of=past).lonlat)
    assert reads == [("hazard-areas", past)]


def test_an_empty_registry_reads_as_the_features_read_it(tmp_path: Path) -> None:
    registry = open_registry(Settings(), db=database(tmp_path / "empty.db"))
    init_registry(registry)
    try:
        for collection_id in COLLECTIONS:
            columns, features = columns_layer(registry, collection_id), python_layer(registry, collection_id)
            assert columns.names == features.names  # none, or the id of a collection without refs
            assert columns.lonlat_bounds is features.lonlat_bounds is None
            assert len(columns.lonlat) == len(columns.codes) == 0
            assert Tiles(registry).tile(collection_id, 0, 0, 0).is_empty
    finally:
        registry.close()
