"""write_layer: format choice, atomic replacement, mixed and empty layers, format details."""

from __future__ import annotations

import json

import defusedxml.ElementTree as SafeET
import pytest
import shapely
from io_samples import (
    FIELD_POLYGON,
    HOLED_POLYGON,
    MARKER_POINT,
    TWO_PART_MULTIPOLYGON,
    same_geometry,
    sample_features,
)

from clearland.errors import InputFileError
from clearland.io import (
    SHAPEFILE_FIELD_LIMIT,
    WRITE_FORMATS,
    OutputFeature,
    format_from_path,
    read_layer,
    shapefile_field_names,
    write_layer,
)

EXTENSIONS = {
    "gpkg": ".gpkg",
    "geojson": ".geojson",
    "kml": ".kml",
    "shp": ".shp",
    "csv": ".csv",
    "fgb": ".fgb",
    "parquet": ".parquet",
    "osm": ".osm",
}


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("a.gpkg", "gpkg"),
        ("a.GeoJSON", "geojson"),
        ("a.json", "geojson"),
        ("a.kml", "kml"),
        ("a.kmz", "kml"),
        ("a.shp", "shp"),
        ("a.zip", "shp"),
        ("a.csv", "csv"),
        ("a.fgb", "fgb"),
        ("a.parquet", "parquet"),
        ("a.geoparquet", "parquet"),
        ("a.osm", "osm"),
    ],
)
def test_format_from_path(name, fmt):
    assert format_from_path(name) == fmt
    assert fmt in WRITE_FORMATS


def test_format_from_an_unknown_path():
    with pytest.raises(InputFileError) as caught:
        format_from_path("areas.dwg")
    assert caught.value.message.startswith("unsupported format '.dwg' (areas.dwg); supported: ")


def test_unknown_write_format(tmp_path):
    with pytest.raises(InputFileError):
        write_layer(tmp_path / "a.dwg", sample_features(), format="dwg")


def test_missing_target_directory(tmp_path):
    target = tmp_path / "no" / "such" / "a.gpkg"
    with pytest.raises(InputFileError) as caught:
        write_layer(target, sample_features(), format="gpkg")
    assert caught.value.message == (f"cannot write {target}: directory {target.parent} does not exist")


@pytest.mark.parametrize("fmt", WRITE_FORMATS)
def test_an_empty_layer_is_a_valid_file(tmp_path, fmt):
    target = tmp_path / f"empty{EXTENSIONS[fmt]}"
    write_layer(target, [], format=fmt)
    assert target.stat().st_size > 0
    if fmt == "osm":
        assert SafeET.parse(target).getroot().tag == "osm"
    elif fmt == "csv":
        assert target.read_text() == "wkt\n" or target.read_text() == "wkt\r\n"
    else:
        assert read_layer(target).features == []


def test_overwrite_replaces_the_old_file_and_leaves_no_temporary_files(tmp_path):
    target = tmp_path / "areas.gpkg"
    write_layer(target, sample_features(), format="gpkg")
    write_layer(target, sample_features()[:1], format="gpkg")
    assert len(read_layer(target).features) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["areas.gpkg"]


@pytest.mark.parametrize("fmt", ["shp", "fgb"])
def test_points_mixed_with_polygons_are_refused_atomically(tmp_path, fmt):
    target = tmp_path / f"mixed{EXTENSIONS[fmt]}"
    features = [OutputFeature({"k": 1}, FIELD_POLYGON), OutputFeature({"k": 2}, MARKER_POINT)]

    with pytest.raises(InputFileError) as caught:
        write_layer(target, features, format=fmt)

    assert "holds one geometry type per file" in caught.value.message
    assert "Point, Polygon" in caught.value.message
    assert list(tmp_path.iterdir()) == []  # nothing at the target, no temporary leftovers


def test_a_failed_overwrite_keeps_the_old_file(tmp_path):
    target = tmp_path / "areas.fgb"
    write_layer(target, sample_features(), format="fgb")
    before = target.read_bytes()
    with pytest.raises(InputFileError):
        write_layer(target, [OutputFeature({}, FIELD_POLYGON), OutputFeature({}, MARKER_POINT)], format="fgb")
    assert target.read_bytes() == before


@pytest.mark.parametrize("fmt", ["gpkg", "fgb", "shp"])
def test_polygons_and_multipolygons_mix(tmp_path, fmt):
    target = tmp_path / f"mixed{EXTENSIONS[fmt]}"
    features = [OutputFeature({"k": i}, g) for i, g in enumerate((FIELD_POLYGON, TWO_PART_MULTIPOLYGON))]

    write_layer(target, features, format=fmt)

    got = sorted(read_layer(target).features, key=lambda f: f.properties["k"])
    assert [same_geometry(f.geometry, o.geometry) for f, o in zip(got, features, strict=True)] == [
        True,
        True,
    ]


def test_geopackage_holds_points_and_polygons_together(tmp_path):
    target = tmp_path / "mixed.gpkg"
    write_layer(target, [OutputFeature({}, HOLED_POLYGON), OutputFeature({}, MARKER_POINT)], format="gpkg")
    kinds = [f.geometry.geom_type for f in read_layer(target).features]
    assert kinds == ["Polygon", "Point"]


def test_shapefile_field_names_are_cut_deterministically():
    names = ["hazard_type", "hazard_typology", "HAZARD_TYP", "ref", "назва_району"]
    mapping = shapefile_field_names(names)

    assert mapping == {
        "hazard_type": "hazard_typ",
        "hazard_typology": "hazard_t_1",
        "HAZARD_TYP": "HAZARD_T_2",
        "ref": "ref",
        "назва_району": "назва",  # 10 bytes of UTF-8, never half a letter
    }
    assert all(len(v.encode()) <= SHAPEFILE_FIELD_LIMIT for v in mapping.values())
    assert shapefile_field_names(names) == mapping


def test_shapefile_uses_the_cut_names(tmp_path):
    target = tmp_path / "areas.zip"
    props = {"hazard_type": "AP", "hazard_typology": "mixed", "ref": "HA-1"}
    write_layer(target, [OutputFeature(props, FIELD_POLYGON)], format="shp")

    layer = read_layer(target)

    assert layer.fields == ["hazard_typ", "hazard_t_1", "ref"]
    assert layer.features[0].properties == {"hazard_typ": "AP", "hazard_t_1": "mixed", "ref": "HA-1"}


def test_shapefile_must_end_in_shp_or_zip(tmp_path):
    with pytest.raises(InputFileError):
        write_layer(tmp_path / "areas.dat", sample_features(), format="shp")


def test_geojson_is_rfc7946(tmp_path):
    target = tmp_path / "areas.geojson"
    write_layer(target, sample_features(), format="geojson")

    document = json.loads(target.read_text(encoding="utf-8"))

    assert "crs" not in document
    assert document["type"] == "FeatureCollection"
    holed = shapely.geometry.shape(document["features"][1]["geometry"])
    assert holed.exterior.is_ccw and not holed.interiors[0].is_ccw
    assert document["features"][0]["properties"]["hazards"] == "AP;AV"


def test_kml_carries_properties_as_extended_data(tmp_path):
    target = tmp_path / "areas.kml"
    write_layer(target, sample_features(), format="kml")

    root = SafeET.parse(target).getroot()
    ns = {"k": "http://www.opengis.net/kml/2.2"}
    placemarks = root.findall(".//k:Placemark", ns)

    assert len(placemarks) == 3
    data = {d.get("name"): d.text for d in placemarks[0].findall(".//k:SimpleData", ns)}
    assert data["ref"] == "HA-0001" and data["devices"] == "3"
    assert placemarks[1].find("k:name", ns).text == sample_features()[1].properties["name"]


def test_csv_has_a_wkt_column_first(tmp_path):
    target = tmp_path / "areas.csv"
    write_layer(target, sample_features(), format="csv")
    header = target.read_text(encoding="utf-8").splitlines()[0]
    assert header == "wkt,ref,name,devices,area_m2,verified,note,hazards"


def test_csv_refuses_a_property_named_like_its_geometry_column(tmp_path):
    target = tmp_path / "areas.csv"
    with pytest.raises(InputFileError):
        write_layer(target, [OutputFeature({"WKT": "x"}, FIELD_POLYGON)], format="csv")
    assert not target.exists()


def test_features_without_geometry(tmp_path):
    features = [OutputFeature({"ref": "HA-9"}, None), *sample_features()[:1]]
    for fmt in ("gpkg", "geojson", "fgb", "parquet", "csv", "shp"):
        target = tmp_path / f"nulls{EXTENSIONS[fmt]}"
        write_layer(target, features, format=fmt)
        got = {f.properties["ref"]: f for f in read_layer(target).features}
        assert got["HA-9"].geometry is None, fmt
    with pytest.raises(InputFileError) as caught:
        write_layer(tmp_path / "nulls.osm", features, format="osm")
    assert caught.value.message.endswith("as OSM: feature 1 has no geometry")
