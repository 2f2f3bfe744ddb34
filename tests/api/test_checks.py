"""Safety checks over HTTP answer exactly what ``services.safety`` answers (the CLI's ``--json``),
on real GPS tracks (gpxpy test data) and a SYNTHETIC hazard made to cross one; bad input is a
400 problem, a client past its rate a 429 problem."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio
import pytest
import shapely
from apidata import settings_for
from fastapi.testclient import TestClient
from openapi_schema_validator import OAS30Validator
from pyproj import Geod

from clearland.api.app import create_app
from clearland.services import safety
from clearland.services.imports import ImportOptions, import_file
from clearland.services.registry import Registry, init_registry, open_registry
from clearland.settings import Settings
from conftest import REAL, make_hazard_feature, write_geojson
from dbs import database

GPX = REAL / "gpx-gpxpy-tracks"
GPX_FILES = sorted(p.name for p in GPX.glob("*.gpx"))
GEOD = Geod(ellps="WGS84")
TRACK = pyogrio.read_dataframe(GPX / "korita-zbevnica.gpx", layer="track_points")
CROSSED = np.array([TRACK.geometry.x[400], TRACK.geometry.y[400]])
# SYNTHETIC: a ~160 m × 220 m box around one point of the korita-zbevnica track, not a real hazard
SYNTHETIC = shapely.box(CROSSED[0] - 0.001, CROSSED[1] - 0.001, CROSSED[0] + 0.001, CROSSED[1] + 0.001)
FIELD = shapely.box(CROSSED[0] + 0.0015, CROSSED[1] - 0.0005, CROSSED[0] + 0.0025, CROSSED[1] + 0.0005)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("checks")
    registry = open_registry(Settings(), db=database(folder / "registry.db"))
    init_registry(registry)
    path = write_geojson(
        folder / "synthetic.geojson",
        [
            make_hazard_feature(SYNTHETIC, id="syn-1", category="CHA", name="SYNTHETIC crossing korita"),
            make_hazard_feature(shapely.box(16.0, 45.0, 16.01, 45.01), id="syn-2", marking="signs"),
        ],
    )
    import_file(registry, path, ImportOptions(date_of_information=dt.date(2026, 1, 15)))
    registry.close()
    return database(folder / "registry.db")


@pytest.fixture(scope="module")
def registry(db: str) -> Iterator[Registry]:
    opened = open_registry(Settings(), db=db)
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def client(db: str) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(db, check_rate_per_minute=0))) as client:
        yield client


def same(http: dict[str, Any], direct: dict[str, Any]) -> None:
    """The two answers are one, but for the moment each was given and the file's path."""
    http, direct = dict(http), dict(direct)
    assert http.pop("checked_at") and direct.pop("checked_at")
    if "file" in direct["query"]:
        direct["query"] = {**direct["query"], "file": Path(direct["query"]["file"]).name}
    assert http == direct


def assert_problem(response: Any, status: int, parameter: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert set(body) == {"type", "title", "status", "detail", "errors"} and body["status"] == status
    if parameter is not None:
        assert parameter in [e.get("parameter") for e in body["errors"]], body
    return body


# -- points -----------------------------------------------------------------------------------


def test_point_inside_near_and_no_record_as_the_service_answers(client, registry):
    east_lon, east_lat, _ = GEOD.fwd(CROSSED[0] + 0.001, CROSSED[1], 90, 60)  # 60 m east of the box
    for lon, lat, within_m, expected in (
        (float(CROSSED[0]), float(CROSSED[1]), 100.0, "inside"),
        (east_lon, east_lat, 100.0, "near"),
        (east_lon, east_lat, 50.0, "no_record"),
        (16.005, 45.005, 0.0, "inside"),
        (10.0, 50.0, 100.0, "no_record"),
    ):
        response = client.get("/check/point", params={"lon": lon, "lat": lat, "within_m": within_m})
        assert response.status_code == 200 and response.headers["content-type"] == "application/json"
        answer = response.json()
        assert answer["answer"] == expected
        same(answer, safety.check_point(registry, lon, lat, within_m))
    near = client.get("/check/point", params={"lon": east_lon, "lat": east_lat}).json()
    assert near["within_m"] == 100 and near["hazards"][0]["distance_m"] == pytest.approx(60, abs=0.5)
    assert "not proof of safety" in near["notice"] and near["registry"]["latest_information"] == "2026-01-15"


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"lat": 45}, "lon"),
        ({"lon": 16}, "lat"),
        ({"lon": "east", "lat": 45}, "lon"),
        ({"lon": 16, "lat": 95}, "lat"),
        ({"lon": 190, "lat": 45}, "lon"),
        ({"lon": "nan", "lat": 45}, "lon"),
        ({"lon": 16, "lat": 45, "within_m": -1}, "within_m"),
        ({"lon": 16, "lat": 45, "within_m": 1e6}, "within_m"),
        ({"lon": 16, "lat": 45, "radius": 5}, "radius"),
        ({"lon": [16, 17], "lat": 45}, "lon"),
    ],
)
def test_bad_point_queries_are_problems_naming_the_parameter(client, params, parameter):
    assert_problem(client.get("/check/point", params=params), 400, parameter)


# -- routes and areas -------------------------------------------------------------------------


@pytest.mark.parametrize("name", GPX_FILES)
def test_every_real_gpx_track_is_answered_as_the_service_answers(client, registry, name):
    body = (GPX / name).read_bytes()
    response = client.post(
        "/check/route",
        content=body,
        params={"filename": name},
        headers={"content-type": "application/gpx+xml"},
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    same(answer, safety.check_file(registry, GPX / name, "route"))
    assert answer["query"] == {"type": "route", "file": name}
    if name == "korita-zbevnica.gpx":
        assert answer["answer"] == "inside" and answer["hazards"][0]["ref"] == "HA-000001"
    if name == "Mojstrovka.gpx":  # every point stamped 1901-12-13: flagged, checked all the same
        assert any("corrupt timestamp" in w for w in answer["warnings"])


def test_the_file_may_come_as_a_form_part_and_its_format_from_its_name(client, registry):
    body = (GPX / "korita-zbevnica.gpx").read_bytes()
    as_form = client.post(
        "/check/route", files={"file": ("korita-zbevnica.gpx", body, "application/octet-stream")}
    )
    assert as_form.status_code == 200, as_form.text
    same(as_form.json(), safety.check_file(registry, GPX / "korita-zbevnica.gpx", "route"))
    by_parameter = client.post("/check/route", content=body, params={"format": "gpx", "within_m": 500})
    assert by_parameter.status_code == 200
    assert by_parameter.json()["query"]["file"] == "route.gpx" and by_parameter.json()["within_m"] == 500


def test_areas_and_routes_in_geojson_and_kml(client, registry, tmp_path):
    field = write_geojson(tmp_path / "field.geojson", [make_hazard_feature(FIELD, name="my field")])
    response = client.post(
        "/check/area",
        content=field.read_bytes(),
        params={"filename": "field.geojson", "within_m": 200},
        headers={"content-type": "application/geo+json"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["answer"] == "near"
    same(response.json(), safety.check_file(registry, field, "area", 200))

    line = " ".join(
        f"{x},{y}" for x, y in zip(TRACK.geometry.x[390:410], TRACK.geometry.y[390:410], strict=True)
    )
    kml = tmp_path / "walk.kml"
    kml.write_text(
        '<?xml version="1.0" encoding="UTF-8"?><kml xmlns="http://www.opengis.net/kml/2.2"><Document>'
        f"<Placemark><name>walk</name><LineString><coordinates>{line}</coordinates></LineString>"
        "</Placemark></Document></kml>",
        encoding="utf-8",
    )
    response = client.post(
        "/check/route",
        content=kml.read_bytes(),
        params={"filename": "walk.kml"},
        headers={"content-type": "application/vnd.google-earth.kml+xml"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["answer"] == "inside"
    same(response.json(), safety.check_file(registry, kml, "route"))


def test_answers_match_their_schema(client):
    document = client.get("/openapi.json").json()
    schema = {**document["components"]["schemas"]["SafetyAnswer"], "components": document["components"]}
    OAS30Validator(schema).validate(client.get("/check/point", params={"lon": 16.005, "lat": 45.005}).json())
    body = (GPX / "Mojstrovka.gpx").read_bytes()
    OAS30Validator(schema).validate(client.post("/check/route?format=gpx", content=body).json())
    for path in ("/check/point", "/check/route", "/check/area"):
        assert path in document["paths"]


def test_bad_files_are_problems_naming_the_file_and_never_a_server_path(client, tmp_path):
    gpx = (GPX / "route.gpx").read_bytes()
    assert_problem(client.post("/check/route", content=gpx), 400, "format")  # no way to tell
    assert_problem(client.post("/check/route?format=shp", content=gpx), 400, "format")
    assert_problem(client.post("/check/route?format=gpx", content=b""), 400, "body")
    assert_problem(client.post("/check/route?format=gpx&color=red", content=gpx), 400, "color")
    assert_problem(client.post("/check/route?format=gpx&within_m=x", content=gpx), 400, "within_m")
    area = assert_problem(client.post("/check/area?format=gpx&filename=route.gpx", content=gpx), 400)
    assert "route.gpx" in area["detail"]
    broken = assert_problem(
        client.post("/check/route?format=gpx&filename=mine.gpx", content=b"<gpx><trk"), 400
    )
    point = json.dumps(
        {"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": [16, 45]}}
    )
    not_a_line = assert_problem(client.post("/check/route?format=geojson", content=point), 400)
    assert not_a_line["errors"] and not_a_line["errors"][0]["field"] == "geometry"
    for body in (area, broken, not_a_line):
        assert "clearland-check-" not in json.dumps(body) and "/tmp" not in json.dumps(body)
    assert_problem(client.post("/check/route", files={"other": ("x.gpx", gpx)}), 400, "file")
    secret = client.get("/check/point", params={"lon": 16, "lat": 45, "minefield_record_ref": "x"})
    assert "minefield_record_ref" not in assert_problem(secret, 400)["detail"] + secret.text


def test_a_file_over_the_body_limit_is_413(db):
    with TestClient(create_app(settings_for(db, max_body_bytes=1000, check_rate_per_minute=0))) as small:
        body = (GPX / "route.gpx").read_bytes()
        assert_problem(small.post("/check/route?format=gpx", content=body), 413)


def test_anonymous_callers_past_their_rate_get_429_with_retry_after(db):
    with TestClient(create_app(settings_for(db, check_rate_per_minute=3))) as limited:
        params = {"lon": 16.005, "lat": 45.005}
        assert [limited.get("/check/point", params=params).status_code for _ in range(3)] == [200] * 3
        refused = limited.get("/check/point", params=params)
        body = assert_problem(refused, 429)
        assert 1 <= int(refused.headers["retry-after"]) <= 20 and "3 a minute" in body["detail"]
        gpx = (GPX / "route.gpx").read_bytes()
        assert limited.post("/check/route?format=gpx", content=gpx).status_code == 429
        assert limited.get("/collections").status_code == 200  # the rest of the API is not limited
