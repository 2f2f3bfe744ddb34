"""Streaming GPS points for screening: every format in, bad rows flagged (never fatal), results out
whole or not at all."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pyogrio
import pytest
import shapely

from clearland.errors import InputFileError
from clearland.io.points import ResultWriter, open_points
from conftest import REAL

GPX = REAL / "gpx-gpxpy-tracks"


def rows(path: Path, **kw) -> tuple[list[str], np.ndarray, np.ndarray, dict[int, str]]:
    ids: list[str] = []
    lon: list[np.ndarray] = []
    lat: list[np.ndarray] = []
    reasons: dict[int, str] = {}
    for batch in open_points(path, **kw):
        reasons.update({len(ids) + k: v for k, v in batch.reason.items()})
        ids += batch.ids.to_pylist()
        lon.append(batch.lon)
        lat.append(batch.lat)
    return ids, np.concatenate(lon), np.concatenate(lat), reasons


def test_csv_bad_rows_get_reasons_and_the_rest_is_read(tmp_path: Path) -> None:
    path = tmp_path / "fixes.csv"
    path.write_text(
        "id,Longitude,Latitude,time\n"
        "a,18.1,44.2,2024-01-01T10:00:00Z\n"
        "b,abc,44,\n"
        "c,18,95,\n"
        "d,,44,\n"
        "e,18,44,1901-12-13T20:45:52Z\n"
        ",18.5,44.5,2024-01-01 10:00:00\n"
        "g,18,44,not a time\n"
        "h,-181,44,\n",
        encoding="utf-8",
    )
    ids, lon, lat, reasons = rows(path, batch_size=3)
    assert ids == ["a", "b", "c", "d", "e", "6", "g", "h"]  # a missing id is the row number
    assert lon[0] == 18.1 and lat[5] == 44.5
    assert reasons == {
        1: "longitude 'abc' is not a number",
        2: "latitude 95 is outside ±90",
        3: "missing longitude",
        4: "corrupt timestamp 1901-12-13T20:45:52Z (before the GPS epoch 1980-01-06)",
        6: "timestamp 'not a time' cannot be read",
        7: "longitude -181 is outside ±180",
    }
    assert np.isnan(lon[list(reasons)]).all() and not np.isnan(lon[[0, 5]]).any()


def test_csv_columns_named_or_refused(tmp_path: Path) -> None:
    path = tmp_path / "xy.csv"
    path.write_text("E,N\n18.1,44.2\n", encoding="utf-8")
    with pytest.raises(InputFileError, match=r"no longitude column found .* name it with --lon-col"):
        open_points(path)
    ids, lon, lat, _ = rows(path, lon_col="E", lat_col="N")
    assert ids == ["1"] and (lon[0], lat[0]) == (18.1, 44.2)
    with pytest.raises(InputFileError, match="no column 'X' for the longitude"):
        open_points(path, lon_col="X", lat_col="N")


def test_gpx_corrupt_timestamps_are_flagged_not_fatal() -> None:
    ids, _lon, _lat, reasons = rows(GPX / "Mojstrovka.gpx")
    assert len(ids) == 184 and ids[0] == "track_points:1"
    assert set(reasons.values()) == {
        "corrupt timestamp 1901-12-13T20:45:52Z (before the GPS epoch 1980-01-06)"
    }
    assert len(reasons) == 184
    ids, _lon, _lat, reasons = rows(GPX / "korita-zbevnica.gpx")
    assert len(ids) == 871 + 2 and reasons == {}  # track points and waypoints
    ids, _lon, _lat, reasons = rows(GPX / "route.gpx")
    assert len(ids) == 55 and ids[0].startswith("route_points:") and reasons == {}


def test_geojson_flatgeobuf_and_geoparquet(tmp_path: Path) -> None:
    features = [
        {
            "type": "Feature",
            "properties": {"id": "p1"},
            "geometry": {"type": "Point", "coordinates": [18.1, 44.2]},
        },
        {"type": "Feature", "properties": {"id": "p2"}, "geometry": None},
        {
            "type": "Feature",
            "properties": {"id": "p3"},
            "geometry": {"type": "LineString", "coordinates": [[18, 44], [18.1, 44.1]]},
        },
    ]
    geojson = tmp_path / "p.geojson"
    geojson.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    ids, lon, _lat, reasons = rows(geojson, id_col="id")
    assert ids == ["p1", "p2", "p3"] and lon[0] == pytest.approx(18.1)
    assert reasons == {1: "missing geometry", 2: "geometry is a LineString, not a point"}

    fgb = tmp_path / "p.fgb"
    pyogrio.write_dataframe(pyogrio.read_dataframe(geojson).iloc[[0]], fgb, driver="FlatGeobuf")
    ids, lon, _lat, reasons = rows(fgb)
    assert ids == ["1"] and lon[0] == pytest.approx(18.1) and reasons == {}

    parquet = tmp_path / "p.parquet"
    out = ResultWriter(parquet)
    out.write({"id": ["x", "y"], "status": ["near", "no_record"], "nearest_ref": ["HA-1", None],
               "distance_m": [3.0, None], "reason": [None, None], "lon": [18.0, 19.0],
               "lat": [44.0, 45.0]})  # fmt: skip
    out.commit()
    ids, lon, _lat, reasons = rows(parquet, id_col="id")
    assert ids == ["x", "y"] and list(lon) == [18.0, 19.0] and reasons == {}


def test_result_writer_is_all_or_nothing(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    writer = ResultWriter(target)
    writer.write({"id": ["1"], "status": ["inside"], "nearest_ref": ["HA-000001"], "distance_m": [0.0],
                  "reason": [None], "lon": [18.0], "lat": [44.0]})  # fmt: skip
    assert not target.exists()  # only the .partial file while writing
    writer.abort()
    assert not target.exists() and not list(tmp_path.iterdir())

    parquet = tmp_path / "out.parquet"
    writer = ResultWriter(parquet)
    writer.write({"id": ["1", "2"], "status": ["inside", "invalid_input"], "nearest_ref": ["HA-000001", None],
                  "distance_m": [0.0, None], "reason": [None, "missing latitude"], "lon": [18.0, None],
                  "lat": [44.0, None]})  # fmt: skip
    writer.commit()
    table = pq.read_table(parquet)
    geo = json.loads(table.schema.metadata[b"geo"])
    assert geo["primary_column"] == "geometry" and geo["columns"]["geometry"]["encoding"] == "WKB"
    geoms = shapely.from_wkb(table.column("geometry").to_numpy(zero_copy_only=False))
    assert geoms[0].equals(shapely.Point(18, 44)) and geoms[1] is None
    assert table.column("reason").to_pylist() == [None, "missing latitude"]
    with pytest.raises(InputFileError, match=r"write results as \.csv or \.parquet"):
        ResultWriter(tmp_path / "out.xlsx")


def test_unknown_or_missing_files(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="file not found"):
        open_points(tmp_path / "nope.csv")
    odd = tmp_path / "fixes.xlsx"
    odd.write_bytes(b"PK\x03\x04")
    with pytest.raises(InputFileError, match="cannot screen this kind of file"):
        open_points(odd)
