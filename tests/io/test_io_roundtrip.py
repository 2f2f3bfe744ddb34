"""write_layer then read_layer gives the same features back, in every format."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pyogrio
import pyogrio.raw
import pytest
import shapely
from io_samples import KHMER, MARKER_POINT, UKRAINIAN, same_geometry, sample_features

from clearland.io import OutputFeature, read_layer, write_layer

# (format, file name): every write format except osm, with the zipped variants
ROUND_TRIPS = [
    ("gpkg", "areas.gpkg"),
    ("geojson", "areas.geojson"),
    ("kml", "areas.kml"),
    ("kml", "areas.kmz"),
    ("shp", "areas.shp"),
    ("shp", "areas.zip"),
    ("csv", "areas.csv"),
    ("fgb", "areas.fgb"),
    ("parquet", "areas.parquet"),
]
# formats that store numbers as decimal text with 15 significant digits
FIFTEEN_DIGITS = {"shp", "kml"}


def expected_value(fmt: str, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, list):
        return ";".join(value)
    if fmt == "csv":  # CSV reads back as text, written the way text_value writes it
        if isinstance(value, bool):
            return "true" if value else "false"
        return repr(value) if isinstance(value, float) else str(value)
    if fmt in FIFTEEN_DIGITS and isinstance(value, float):
        return pytest.approx(value, rel=1e-14)
    return value


@pytest.mark.parametrize(("fmt", "name"), ROUND_TRIPS)
def test_round_trip_keeps_features_values_and_geometry(tmp_path, fmt, name):
    written = sample_features()
    target = tmp_path / name

    write_layer(target, written, format=fmt)
    layer = read_layer(target)

    assert len(layer.features) == len(written)
    if fmt == "kml":  # LIBKML lists the placemark name first
        assert sorted(layer.fields) == sorted(written[0].properties)
    else:
        assert layer.fields == list(written[0].properties)
    assert layer.crs == (None if fmt == "csv" else "EPSG:4326")
    # FlatGeobuf's spatial index reorders features, so match them by ref
    by_ref = {f.properties["ref"]: f for f in layer.features}
    for original in written:
        got = by_ref[original.properties["ref"]]
        assert got.geometry_error is None
        assert got.properties == {
            key: expected_value(fmt, value) for key, value in original.properties.items()
        }
        assert same_geometry(got.geometry, original.geometry), (got.geometry, original.geometry)


def test_unicode_text_survives_every_format(tmp_path):
    for fmt, name in ROUND_TRIPS:
        write_layer(tmp_path / name, sample_features(), format=fmt)
        names = {f.properties["name"] for f in read_layer(tmp_path / name).features}
        assert {UKRAINIAN, KHMER} <= names, fmt


def test_points_round_trip_in_geojson_and_gpkg(tmp_path):
    features = [OutputFeature({"ref": "P-1"}, MARKER_POINT)]
    for name in ("points.geojson", "points.gpkg", "points.csv"):
        write_layer(tmp_path / name, features, format=name.rsplit(".", 1)[1])
        (got,) = read_layer(tmp_path / name).features
        assert shapely.equals_exact(got.geometry, MARKER_POINT, tolerance=1e-12)


# ----------------------------------------------------------------------------- OSM


def osm_features() -> list[OutputFeature]:
    tags = {
        "boundary": "hazard",
        "hazard": "minefield",
        "source": "clearland",
        "start_date": "2022-03-01",
        "name": UKRAINIAN,
        "note": None,
    }
    # OSM stores 7 decimals, so the test geometry lies on that grid already
    return [
        OutputFeature(dict(tags, ref=f.properties["ref"]), shapely.set_precision(f.geometry, 1e-7))
        for f in sample_features()
    ] + [OutputFeature({"hazard": "uxo", "ref": "P-1"}, MARKER_POINT)]


def test_osm_xml_has_negative_ids_tags_ways_and_relations(tmp_path):
    target = tmp_path / "areas.osm"
    write_layer(target, osm_features(), format="osm")

    root = ET.parse(target).getroot()
    assert root.tag == "osm" and root.get("version") == "0.6"
    ids = [int(e.get("id")) for e in root if e.tag in ("node", "way", "relation")]
    assert ids and all(i < 0 for i in ids) and len(set(ids)) == len(ids)
    # one way per ring: 1 (polygon) + 2 (outer, inner) + 2 (two outers)
    assert len(root.findall("way")) == 5
    relations = root.findall("relation")
    assert len(relations) == 2  # the polygon with a hole and the multipolygon
    for relation in relations:
        tags = {t.get("k"): t.get("v") for t in relation.findall("tag")}
        assert tags["type"] == "multipolygon"
        assert tags["boundary"] == "hazard" and tags["start_date"] == "2022-03-01"
        assert "note" not in tags  # None values are omitted
    roles = [m.get("role") for m in relations[0].findall("member")]
    assert roles == ["outer", "inner"]
    simple = next(w for w in root.findall("way") if w.find("tag") is not None)
    refs = [nd.get("ref") for nd in simple.findall("nd")]
    assert refs[0] == refs[-1]  # a closed way
    assert {t.get("k"): t.get("v") for t in simple.findall("tag")}["name"] == UKRAINIAN
    point = next(n for n in root.findall("node") if n.find("tag") is not None)
    assert {t.get("k"): t.get("v") for t in point.findall("tag")} == {"hazard": "uxo", "ref": "P-1"}


def test_osm_reads_back_in_gdal_as_multipolygons_with_the_same_area(tmp_path):
    target = tmp_path / "areas.osm"
    features = osm_features()
    write_layer(target, features, format="osm")

    # GDAL's default node index cannot hold negative (new, not yet uploaded) ids
    pyogrio.set_gdal_config_options({"OSM_USE_CUSTOM_INDEXING": "NO"})
    try:
        _, table = pyogrio.raw.read_arrow(target, layer="multipolygons")
    finally:
        pyogrio.set_gdal_config_options({"OSM_USE_CUSTOM_INDEXING": None})

    rows = table.to_pylist()
    assert len(rows) == 3
    areas = sorted(shapely.from_wkb(row["wkb_geometry"]).area for row in rows)
    expected = sorted(f.geometry.area for f in features[:3])
    assert areas == pytest.approx(expected, rel=1e-9)
    assert {row["boundary"] for row in rows} == {"hazard"}
    assert {row["name"] for row in rows} == {UKRAINIAN}
    assert all('"hazard"=>"minefield"' in row["other_tags"] for row in rows)


def test_osm_coordinates_have_seven_decimals_and_shared_nodes(tmp_path):
    target = tmp_path / "adjacent.osm"
    left = shapely.box(30.0, 50.0, 30.123456789, 50.1)
    right = shapely.box(30.123456789, 50.0, 30.2, 50.1)  # shares an edge with left
    write_layer(
        target,
        [OutputFeature({"hazard": "minefield"}, g) for g in (left, right)],
        format="osm",
    )
    nodes = ET.parse(target).getroot().findall("node")
    assert {n.get("lon") for n in nodes} == {"30", "30.1234568", "30.2"}
    assert len(nodes) == 6  # the two corners on the shared edge are one node each
