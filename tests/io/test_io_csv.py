"""CSV: geometry from a WKT column or lon/lat columns, one bad cell spoiling only its row."""

from __future__ import annotations

import pytest
import shapely

from clearland.errors import ConfigError, InputFileError
from clearland.io import read_layer


def csv_file(tmp_path, text: str, name: str = "points.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_bad_wkt_spoils_only_its_row(tmp_path):
    path = csv_file(
        tmp_path,
        "id,WKT,note\n"
        '1,"POLYGON ((0 0, 1 0, 1 1, 0 0))",fine\n'
        '2,"POLYGON ((0 0, 1 0, oops",bad\n'
        '3,"POINT (105 11.5)",fine\n',
    )

    layer = read_layer(path)

    assert [f.number for f in layer.features] == [1, 2, 3]
    good, bad, point = layer.features
    assert bad.geometry is None
    assert bad.geometry_error is not None and bad.geometry_error.startswith("invalid WKT: ")
    assert good.geometry_error is None and good.geometry.geom_type == "Polygon"
    assert point.geometry.equals(shapely.Point(105, 11.5))
    assert layer.fields == ["id", "note"]  # the geometry column is not a property
    assert bad.properties == {"id": "2", "note": "bad"}


def test_lon_lat_columns_are_detected(tmp_path):
    path = csv_file(tmp_path, "Name,Latitude,Longitude\nA,11.5,105.25\nB,,105\nC,north,105\n")

    layer = read_layer(path)

    a, b, c = layer.features
    assert a.geometry.equals(shapely.Point(105.25, 11.5))
    assert a.properties == {"Name": "A"}
    assert b.geometry is None and b.geometry_error == "no geometry: column 'Latitude' is empty"
    assert c.geometry is None
    assert c.geometry_error == "no geometry: column 'Latitude' is not a number: 'north'"


def test_empty_wkt_cell_is_reported(tmp_path):
    layer = read_layer(csv_file(tmp_path, 'wkt,n\n"POINT (1 2)",1\n,2\n'))
    assert layer.features[1].geometry_error == "no geometry: column 'wkt' is empty"


def test_override_names_the_geometry_columns(tmp_path):
    text = 'easting,northing,shape,x\n1,2,"POINT (5 6)",9\n'
    path = csv_file(tmp_path, text)

    by_lonlat = read_layer(path, csv_geometry=("easting", "northing"))
    by_wkt = read_layer(path, csv_geometry=("SHAPE",))  # case-insensitive when unambiguous

    assert by_lonlat.features[0].geometry.equals(shapely.Point(1, 2))
    assert by_lonlat.fields == ["shape", "x"]
    assert by_wkt.features[0].geometry.equals(shapely.Point(5, 6))
    assert by_wkt.fields == ["easting", "northing", "x"]


def test_override_naming_a_missing_column(tmp_path):
    path = csv_file(tmp_path, "a,b\n1,2\n")
    with pytest.raises(InputFileError) as caught:
        read_layer(path, csv_geometry=("lon", "lat"))
    assert caught.value.message == f"{path} has no column 'lon', 'lat'; columns found: a, b"


def test_override_of_the_wrong_size(tmp_path):
    path = csv_file(tmp_path, "a,b\n1,2\n")
    with pytest.raises(ConfigError):
        read_layer(path, csv_geometry=("a", "b", "c"))


def test_no_geometry_column_names_the_columns_found(tmp_path):
    path = csv_file(tmp_path, "municipio,hectares\nSONSON,12\n")

    with pytest.raises(InputFileError) as caught:
        read_layer(path)

    message = caught.value.message
    assert message.startswith(f"{path} has no geometry column: expected a WKT column (wkt, ")
    assert message.endswith("columns found: municipio, hectares")
    assert caught.value.detail == [{"file": str(path), "columns": ["municipio", "hectares"]}]


def test_wkt_preferred_over_lon_lat(tmp_path):
    path = csv_file(tmp_path, 'lat,lon,the_geom\n1,2,"POINT (7 8)"\n')
    layer = read_layer(path)
    assert layer.features[0].geometry.equals(shapely.Point(7, 8))
    assert layer.fields == ["lat", "lon"]


def test_quoted_headers_accents_bom_and_semicolons(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes(
        '\ufefflongitud_x;latitud_y;"Vocación, agrícola";Municipio\n-75.1;5.3;1;SONSÓN\n'.encode()
    )

    layer = read_layer(path)

    assert layer.fields == ["Vocación, agrícola", "Municipio"]
    (feature,) = layer.features
    assert feature.properties == {"Vocación, agrícola": "1", "Municipio": "SONSÓN"}
    assert feature.geometry.equals(shapely.Point(-75.1, 5.3))


def test_repeated_headers_get_distinct_names(tmp_path):
    layer = read_layer(csv_file(tmp_path, "a,a,a_2,lon,lat\n1,2,3,4,5\n"))
    assert layer.fields == ["a", "a_3", "a_2"]
    assert layer.features[0].properties == {"a": "1", "a_3": "2", "a_2": "3"}
    assert "repeated column name 'a' read as 'a_3'" in layer.notes
