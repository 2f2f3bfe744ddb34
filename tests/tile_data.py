"""Builders for the vector tile tests: a SYNTHETIC registry holding something of everything a
tile draws, the tiles to compare over it, the Python path's reference tiles (``render`` over the
collection read through ``services.features``), and what a tile shows, decoded."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path
from typing import Any

import mapbox_vector_tile
import numpy as np
import shapely
import shapely.geometry

from clearland.domain.vocab import ActivityType, OutcomeKind, RecordKind
from clearland.io import write_layer
from clearland.services import review
from clearland.services.demo import synthetic_admin_areas, synthetic_hazards
from clearland.services.features import COLLECTIONS
from clearland.services.imports import ImportOptions, import_file
from clearland.services.registry import Registry
from clearland.services.release_import import ReleaseOptions, import_outcomes
from clearland.services.submissions import submit_report_file
from clearland.services.tiles import (
    DETAIL_ZOOM,
    HAZARD_COLLECTIONS,
    MAP_FIELDS,
    _Layer,
    lonlat_to_tile,
    render,
)
from conftest import make_hazard_feature, write_geojson
from minefield_data import Custodian, make_record


def python_layer(registry: Registry, collection_id: str) -> _Layer:
    """The collection read whole through ``services.features``, as the Python tile path reads
    it as of a date (and read the current state before ``Tx.current_columns``): the reference."""
    spec = COLLECTIONS[collection_id]
    return _Layer.of(spec.read(registry, None), 0, with_id=not any(f.name == "ref" for f in spec.filters))


def python_tile(
    registry: Registry, collection_id: str, z: int, x: int, y: int, layer: _Layer | None = None
) -> bytes:
    """The tile as the Python path draws it from ``python_layer``."""
    layer = layer or python_layer(registry, collection_id)
    fields = None if z >= DETAIL_ZOOM else MAP_FIELDS[collection_id]
    return render(
        layer, collection_id, z, x, y, keep_small=collection_id in HAZARD_COLLECTIONS, fields=fields
    )[0]


DEMO_AREA = (0.2, 0.2, 2.2, 1.7)  # where the demo's hazards lie (lon/lat box, at sea)
MINEFIELD = (18.1015, 44.7007)  # the synthetic minefield record's CHA and its markers


def build_varied(registry: Registry, folder: Path) -> None:
    """Fill an empty registry with something of everything a tile draws (all SYNTHETIC): the
    demo's hazards (polygons and indication points, dense), hazards of every size and shape
    (under a metre to kilometres, slivers, holes, several parts) with lists, dates and empty
    fields, released land of every size (and a confirmed part, which is not released), markers
    placed by an activity and the markers (points and fences) of a marking report, admin areas."""
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


def tile_content(data: bytes, collection_id: str) -> tuple[Counter[tuple[str, tuple[Any, ...]]], int]:
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


def tile_features(data: bytes, collection_id: str) -> Counter[str]:
    """Every feature of a tile, whole: its geometry (tile units) and attributes, as JSON text."""
    if not data:
        return Counter()
    features = mapbox_vector_tile.decode(data)[collection_id]["features"]
    return Counter(
        json.dumps([f["geometry"], sorted((k, type(v).__name__, v) for k, v in f["properties"].items())])
        for f in features
    )


def tiles_to_compare(registry: Registry) -> list[tuple[int, int, int]]:
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
