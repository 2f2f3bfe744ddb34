"""Reading details per format: GeoParquet metadata, zipped shapefiles, KML/KMZ layers, CRS."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pyproj
import pytest
import shapely
from io_samples import FIELD_POLYGON, HOLED_POLYGON, kml_document, sample_features, write_zip

from clearland.errors import InputFileError
from clearland.io import OutputFeature, list_layers, read_layer, write_layer

# ----------------------------------------------------------------------------- GeoParquet


def geoparquet(path, geometry_spec: dict | None, *, column="geometry", cells=None):
    cells = cells if cells is not None else [shapely.to_wkb(FIELD_POLYGON), None]
    table = pa.table({"ref": ["HA-1", "HA-2"][: len(cells)], column: cells})
    if geometry_spec is not None:
        geo = {"version": "1.0.0", "primary_column": column, "columns": {column: geometry_spec}}
        table = table.replace_schema_metadata({b"geo": json.dumps(geo).encode()})
    pq.write_table(table, path)
    return path


def test_written_geoparquet_metadata(tmp_path):
    target = tmp_path / "areas.parquet"
    write_layer(target, sample_features(), format="parquet")

    geo = json.loads(pq.read_schema(target).metadata[b"geo"])

    assert geo["version"] == "1.0.0" and geo["primary_column"] == "geometry"
    spec = geo["columns"]["geometry"]
    assert spec["encoding"] == "WKB"
    assert spyproj_epsg(spec["crs"]) == 4326
    assert spec["geometry_types"] == ["MultiPolygon", "Polygon"]
    bounds = shapely.total_bounds([f.geometry for f in sample_features()])
    assert spec["bbox"] == pytest.approx(list(bounds))


def spyproj_epsg(projjson) -> int | None:
    return pyproj.CRS.from_json_dict(projjson).to_epsg()


@pytest.mark.parametrize(
    ("spec", "crs"),
    [
        ({"encoding": "WKB", "geometry_types": []}, "EPSG:4326"),  # no crs key: OGC:CRS84
        ({"encoding": "WKB", "crs": None}, None),  # explicitly unknown
        ({"encoding": "WKB", "crs": pyproj.CRS.from_epsg(32648).to_json_dict()}, "EPSG:32648"),
    ],
)
def test_geoparquet_crs(tmp_path, spec, crs):
    layer = read_layer(geoparquet(tmp_path / "a.parquet", spec))
    assert layer.driver == "GeoParquet"
    assert layer.crs == crs
    assert layer.fields == ["ref"]
    assert layer.features[0].geometry.equals(FIELD_POLYGON)
    assert layer.features[1].geometry is None and layer.features[1].geometry_error is None


def test_geoparquet_with_a_bad_wkb_cell(tmp_path):
    cells = [shapely.to_wkb(FIELD_POLYGON), b"\x01\x03\x00\x00\x00garbage"]
    layer = read_layer(geoparquet(tmp_path / "a.parquet", {"encoding": "WKB"}, cells=cells))
    assert layer.features[0].geometry_error is None
    assert layer.features[1].geometry is None
    assert layer.features[1].geometry_error.startswith("invalid WKB: ")


def test_geoparquet_with_an_unsupported_encoding(tmp_path):
    path = geoparquet(tmp_path / "a.parquet", {"encoding": "point"})
    with pytest.raises(InputFileError) as caught:
        read_layer(path)
    assert "encoding 'point' is not supported" in caught.value.message


def test_plain_parquet_with_a_wkb_column(tmp_path):
    layer = read_layer(geoparquet(tmp_path / "plain.parquet", None, column="geom"))
    assert layer.driver == "Parquet"
    assert layer.crs is None and any("CRS is unknown" in n for n in layer.notes)
    assert layer.features[0].geometry.equals(FIELD_POLYGON)


def test_plain_parquet_with_a_wkt_column(tmp_path):
    cells = [FIELD_POLYGON.wkt, "POLYGON ((bad"]
    layer = read_layer(geoparquet(tmp_path / "plain.parquet", None, column="WKT", cells=cells))
    assert layer.features[0].geometry.equals_exact(FIELD_POLYGON, 1e-9)
    assert layer.features[1].geometry_error.startswith("invalid WKT: ")


def test_plain_parquet_without_geometry(tmp_path):
    path = tmp_path / "table.parquet"
    pq.write_table(pa.table({"ref": ["a"], "status": ["open"]}), path)
    with pytest.raises(InputFileError) as caught:
        read_layer(path)
    assert caught.value.message.endswith("columns found: ref, status")


# ----------------------------------------------------------------------------- shapefiles


def test_zip_with_two_shapefiles(tmp_path):
    write_layer(tmp_path / "areas.shp", sample_features(), format="shp")
    write_layer(tmp_path / "marks.shp", sample_features()[:1], format="shp")
    members = {f"export/{p.name}": p.read_bytes() for p in sorted(tmp_path.iterdir()) if p.is_file()}
    archive = write_zip(tmp_path / "both.zip", members)

    with pytest.raises(InputFileError) as caught:
        read_layer(archive)

    assert caught.value.message == (f"{archive} contains 2 shapefiles; name the one to read: areas, marks")
    assert list_layers(archive) == ["areas", "marks"]
    assert len(read_layer(archive, layer="marks").features) == 1


def test_shapefile_without_prj_has_no_crs(tmp_path):
    path = tmp_path / "areas.shp"
    write_layer(path, sample_features(), format="shp")
    path.with_suffix(".prj").unlink()

    layer = read_layer(path)

    assert layer.crs is None
    assert any("no .prj" in note for note in layer.notes)


def test_shapefile_in_a_projected_crs(tmp_path):
    path = tmp_path / "utm.shp"
    write_layer(path, sample_features(), format="shp")
    path.with_suffix(".prj").write_text(pyproj.CRS.from_epsg(32648).to_wkt("WKT1_ESRI"))
    assert read_layer(path).crs == "EPSG:32648"


# ----------------------------------------------------------------------------- KML, KMZ


def test_kml_with_two_folders_needs_a_layer(tmp_path):
    path = tmp_path / "folders.kml"
    folder = "<Folder><name>{}</name><Placemark><name>p</name><Point><coordinates>1,2</coordinates></Point></Placemark></Folder>"  # noqa: E501
    path.write_text(
        '<?xml version="1.0"?><kml xmlns="http://www.opengis.net/kml/2.2"><Document>'
        + folder.format("Minefields")
        + folder.format("Marking")
        + "</Document></kml>"
    )

    with pytest.raises(InputFileError) as caught:
        read_layer(path)

    assert caught.value.message == f"{path} has 2 layers; name the one to read: Minefields, Marking"
    layer = read_layer(path, layer="Marking")
    assert layer.crs == "EPSG:4326"
    assert layer.features[0].properties == {"name": "p"}
    assert layer.features[0].geometry.equals(shapely.Point(1, 2))


def test_kmz_from_another_tool_with_images(tmp_path):
    path = write_zip(
        tmp_path / "field.kmz",
        {"doc.kml": kml_document("Mined orchard"), "files/icon.png": b"\x89PNG\r\n\x1a\n"},
    )
    layer = read_layer(path)
    assert layer.driver == "KML"
    assert [f.properties["name"] for f in layer.features] == ["Mined orchard"]
    assert layer.features[0].geometry.equals(shapely.Point(105, 11.6))  # altitude 0 dropped


def test_kml_keeps_a_real_altitude(tmp_path):
    path = tmp_path / "alt.kml"
    path.write_text(kml_document("hill").replace("105.0,11.6", "105.0,11.6,850"))
    assert read_layer(path).features[0].geometry.has_z


# ----------------------------------------------------------------------------- values, layers


def test_geopackage_values_keep_their_types(tmp_path):
    target = tmp_path / "values.gpkg"
    props = {"big": 9_007_199_254_740_993, "ratio": 1 / 3, "ok": True, "when": "2024-05-01"}
    write_layer(target, [OutputFeature(props, HOLED_POLYGON)], format="gpkg")
    (got,) = read_layer(target).features
    assert got.properties == props
    assert type(got.properties["big"]) is int


def test_geojson_datetimes_become_iso_text(tmp_path):
    path = tmp_path / "dates.geojson"
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"seen": "2024-05-01T10:30:00Z", "n": 1},
                        "geometry": {"type": "Point", "coordinates": [1, 2]},
                    }
                ],
            }
        )
    )
    (feature,) = read_layer(path).features
    assert feature.properties["seen"].startswith("2024-05-01T10:30:00")
    assert feature.properties["n"] == 1


@pytest.mark.parametrize(
    ("name", "fmt", "expected"),
    [
        ("a.geojson", "geojson", ["hazard_areas"]),
        ("a.fgb", "fgb", ["hazard_areas"]),
        ("a.shp", "shp", ["a"]),
        ("a.csv", "csv", ["a"]),
        ("a.parquet", "parquet", ["a"]),
        ("a.kmz", "kml", ["hazard_areas"]),
    ],
)
def test_list_layers_of_single_layer_files(tmp_path, name, fmt, expected):
    write_layer(tmp_path / name, sample_features(), format=fmt)
    assert list_layers(tmp_path / name) == expected
