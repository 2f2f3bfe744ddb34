"""Real files from ../shared/data/real/ (read in place, never copied); figures from EXPECTED.md."""

from __future__ import annotations

from collections import Counter

import pyproj
import pytest
import shapely
from io_samples import BIH_GEOJSON, CAMBODIA_GEOJSON, COLOMBIA_CSV

from clearland.io import list_layers, read_layer


def test_bih_admin_units_read_as_12_polygons_in_wgs84():
    layer = read_layer(BIH_GEOJSON)

    assert layer.driver == "GeoJSON"
    assert layer.crs == "EPSG:4326"  # the file says OGC:CRS84, the same axes clearland uses
    assert len(layer.features) == 12
    assert layer.fields == ["shapeName", "shapeISO", "shapeID", "shapeGroup", "shapeType"]
    assert all(f.geometry is not None and f.geometry.is_valid for f in layer.features)
    assert {f.properties["shapeType"] for f in layer.features} == {"ADM2"}


def test_cambodia_points_keep_the_legacy_crs_member():
    layer = read_layer(CAMBODIA_GEOJSON)

    assert layer.crs == "EPSG:32648"
    assert len(layer.features) == 124
    assert {f.geometry.geom_type for f in layer.features} == {"Point"}
    incident = next(f for f in layer.features if f.properties["IncidentID"] == 64458)
    to_wgs84 = pyproj.Transformer.from_crs(layer.crs, "EPSG:4326", always_xy=True)
    lon, lat = to_wgs84.transform(incident.geometry.x, incident.geometry.y)
    assert lon == pytest.approx(107.443813, abs=1e-5)
    assert lat == pytest.approx(12.565782, abs=1e-5)


def test_cambodia_values_are_plain_python():
    layer = read_layer(CAMBODIA_GEOJSON)

    victims = sum(f.properties["VICTIM"] for f in layer.features)
    assert victims == 217
    assert Counter(f.properties["MINE_TYPE"] for f in layer.features)[None] == 59
    first = layer.features[0].properties
    assert type(first["VICTIM"]) is int and type(first["IncidentID"]) is float
    assert first["Incident_D"] == "2005-01-10"  # a date, as ISO 8601 text
    village = next(f for f in layer.features if f.properties["Village"] is None)
    assert village.properties["VilCode"] == 0


def test_colombia_csv_reads_geometry_from_the_wkt_column():
    layer = read_layer(COLOMBIA_CSV)

    assert layer.driver == "CSV"
    assert layer.crs is None and any("no CRS" in n for n in layer.notes)
    assert len(layer.features) == 1305
    assert all(f.geometry_error is None for f in layer.features)
    assert Counter(f.properties["Municipio"] for f in layer.features) == {
        "NORCASIA": 693,
        "PENSILVANIA": 325,
        "SAMANA": 287,
    }
    # the WKT column is geometry, not a property; the unused LATITUD_Y/LONGITUD_X stay
    assert "geometry" not in layer.fields and len(layer.fields) == 62
    first = layer.features[0]
    assert first.properties["field_1"] == "0"  # the header with no name
    assert shapely.equals_exact(
        first.geometry,
        shapely.Point(float(first.properties["LONGITUD_X"]), float(first.properties["LATITUD_Y"])),
        tolerance=1e-12,
    )
    assert "CLIMA_Muy frío, pluvial" in layer.fields  # quoted header with a comma and an accent
    xmin, ymin, xmax, ymax = shapely.total_bounds([f.geometry for f in layer.features])
    assert (xmin, ymin, xmax, ymax) == pytest.approx((-75.2950, 5.2708, -74.7656, 5.7285), abs=1e-4)


def test_gpx_layers_are_listed_and_one_can_be_read():
    path = COLOMBIA_CSV.parents[1] / "gpx-gpxpy-tracks" / "korita-zbevnica.gpx"
    assert "tracks" in list_layers(path)

    layer = read_layer(path, layer="tracks")

    assert layer.driver == "GPX" and layer.crs == "EPSG:4326"
    assert len(layer.features) == 4
