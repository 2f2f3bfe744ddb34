"""One error shape on every route (RFC 9457 problem+json, from one table of the error tree),
and the hardening around requests: body size limit, CORS off unless configured, security
headers on every answer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from apidata import SECRETS, built_registry, settings_for
from fastapi import Request
from fastapi.testclient import TestClient

from clearland.api.app import create_app
from clearland.api.problems import STATUS, status_of
from clearland.errors import (
    ClearlandError,
    ConfigError,
    ConflictError,
    InputError,
    InputFileError,
    PermissionDenied,
    StateError,
    StorageError,
    UnknownRecord,
    ValidationFailed,
)
from dbs import missing

PROBLEM_KEYS = {"type", "title", "status", "detail", "errors"}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(built_registry(tmp_path_factory)))) as client:
        yield client


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert set(body) == PROBLEM_KEYS
    assert body["status"] == status
    assert body["type"] == "about:blank" or body["type"].startswith("urn:clearland:problem:")
    assert isinstance(body["detail"], str) and body["detail"]
    assert isinstance(body["errors"], list)
    return body


@pytest.mark.parametrize(
    ("url", "status", "parameter"),
    [
        ("/collections/nope", 404, None),
        ("/collections/nope/items", 404, None),
        ("/collections/nope/items/HA-000001", 404, None),
        ("/collections/hazard-areas/items/HA-999999", 404, None),
        ("/no/such/page", 404, None),
        ("/collections/hazard-areas/items?bbox=1,2", 400, "bbox"),
        ("/collections/hazard-areas/items?bbox=a,b,c,d", 400, "bbox"),
        ("/collections/hazard-areas/items?bbox=0,50,1,40", 400, "bbox"),
        ("/collections/hazard-areas/items?bbox=0,0,200,1", 400, "bbox"),
        ("/collections/hazard-areas/items?bbox=0,0,nan,1", 400, "bbox"),
        ("/collections/hazard-areas/items?datetime=2026-03-01/2026-01-01", 400, "datetime"),
        ("/collections/hazard-areas/items?datetime=yesterday", 400, "datetime"),
        ("/collections/hazard-areas/items?datetime=a/b/c", 400, "datetime"),
        ("/collections/hazard-areas/items?limit=0", 400, "limit"),
        ("/collections/hazard-areas/items?limit=ten", 400, "limit"),
        ("/collections/hazard-areas/items?offset=-1", 400, "offset"),
        ("/collections/hazard-areas/items?as_of=2026-13-01", 400, "as_of"),
        ("/collections/hazard-areas/items?status=nonsense", 400, "status"),
        ("/collections/hazard-areas/items?status=", 400, "status"),
        ("/collections/hazard-areas/items?status=open&status=closed", 400, "status"),
        ("/collections/hazard-areas/items?colour=red", 400, "colour"),
        ("/collections/hazard-areas/items?crs=EPSG:3857", 400, "crs"),
        ("/collections/hazard-areas/items?f=xml", 400, "f"),
        ("/collections/markers/items?kind=reduced", 400, "kind"),
        ("/?limit=5", 400, "limit"),
        ("/collections?as_of=soon", 400, "as_of"),
    ],
)
def test_every_error_is_a_problem_naming_its_parameter(client, url, status, parameter):
    body = assert_problem(client.get(url), status)
    if parameter:
        assert parameter in [e["parameter"] for e in body["errors"]]
        assert body["detail"].startswith(parameter) or parameter in body["detail"]


def test_several_wrong_parameters_are_all_named(client):
    response = client.get("/collections/hazard-areas/items", params={"bbox": "1", "limit": "x", "foo": "1"})
    body = assert_problem(response, 400)
    assert sorted(e["parameter"] for e in body["errors"]) == ["bbox", "foo", "limit"]
    assert body["title"] == "Bad request" and body["type"] == "urn:clearland:problem:input"


def test_a_restricted_field_as_a_parameter_is_refused_without_echoing_its_name(client):
    response = client.get("/collections/hazard-areas/items", params={"minefield_record_ref": SECRETS[1]})
    body = assert_problem(response, 400)
    assert "1 unknown parameter" in body["detail"]
    assert all(secret not in response.text for secret in SECRETS)


def test_wrong_method_is_a_problem_with_its_allow_header(client):
    response = client.post("/collections")
    assert_problem(response, 405)
    assert response.headers["allow"] == "GET"


def test_a_body_over_the_limit_is_refused_with_413(tmp_path_factory):
    app = create_app(settings_for(built_registry(tmp_path_factory), max_body_bytes=100))

    @app.post("/echo")  # a route that reads its body, as the report and check routes will
    async def echo(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    with TestClient(app) as small:
        body = assert_problem(small.post("/collections", content=b"x" * 101), 413)
        assert "100 bytes" in body["detail"]
        assert_problem(small.post("/collections", content=b"x" * 100), 405)  # at the limit: on to the route
        assert small.post("/echo", content=b"x" * 100).json() == {"bytes": 100}
        # a chunked body (no Content-Length) is counted as it arrives
        assert_problem(small.post("/echo", content=iter([b"x" * 60, b"x" * 60])), 413)
        assert small.post("/echo", content=iter([b"x" * 50, b"x" * 50])).json() == {"bytes": 100}
        response = small.get("/", headers={"content-length": "many"})
        assert_problem(response, 400)


def test_a_missing_registry_is_503_without_saying_where_it_was_looked_for(tmp_path):
    nowhere = missing(tmp_path / "secret-place" / "registry.db")
    assert "secret-place" in nowhere
    with TestClient(create_app(settings_for(nowhere))) as client:
        for url in ("/", "/collections", "/collections/hazard-areas/items"):
            body = assert_problem(client.get(url), 503)
            assert "secret-place" not in body["detail"] and body["type"] == "urn:clearland:problem:storage"
        assert client.get("/conformance").status_code == 200  # needs no registry


def test_one_table_maps_the_error_tree_to_statuses():
    expected = {
        InputError: 400,
        InputFileError: 400,
        ValidationFailed: 400,
        UnknownRecord: 404,
        PermissionDenied: 403,
        StateError: 409,
        ConflictError: 409,
        ConfigError: 500,
        StorageError: 503,
        ClearlandError: 500,
    }
    assert {cls: status_of(cls("x")) for cls in expected} == expected
    assert set(STATUS) <= set(expected)


def test_security_headers_on_every_answer_including_errors(client):
    for response in (client.get("/"), client.get("/nope"), client.get("/docs"), client.post("/")):
        csp = response.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"


def test_cors_is_off_unless_origins_are_configured(client, tmp_path_factory):
    origin = {"origin": "https://map.example.org"}
    assert "access-control-allow-origin" not in client.get("/", headers=origin).headers
    preflight = {**origin, "access-control-request-method": "GET"}
    assert "access-control-allow-origin" not in client.options("/collections", headers=preflight).headers

    settings = settings_for(built_registry(tmp_path_factory), cors_origins=["https://map.example.org"])
    with TestClient(create_app(settings)) as allowed:
        response = allowed.get("/", headers=origin)
        assert response.headers["access-control-allow-origin"] == "https://map.example.org"
        answer = allowed.options("/collections", headers=preflight)
        assert answer.status_code == 200 and "GET" in answer.headers["access-control-allow-methods"]
        other = allowed.get("/", headers={"origin": "https://elsewhere.example.com"})
        assert "access-control-allow-origin" not in other.headers


def test_cors_origins_setting_reads_a_comma_separated_list(monkeypatch):
    from clearland.settings import Settings

    monkeypatch.setenv("CLEARLAND_API_CORS_ORIGINS", "https://a.example.org, https://b.example.org")
    monkeypatch.setenv("CLEARLAND_API_MAX_BODY_BYTES", "2048")
    api = Settings().api
    assert api.cors_origins == ["https://a.example.org", "https://b.example.org"]
    assert api.max_body_bytes == 2048


def test_an_unexpected_error_is_a_logged_500_problem_with_headers(tmp_path_factory, caplog):
    app = create_app(settings_for(built_registry(tmp_path_factory)))

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("internal detail that must not leak")

    with TestClient(app) as client:
        response = client.get("/boom")
    body = assert_problem(response, 500)
    assert "internal detail" not in response.text and body["type"] == "urn:clearland:problem:error"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "internal detail that must not leak" in caplog.text


def test_public_url_setting_makes_the_links(tmp_path_factory):
    settings = settings_for(built_registry(tmp_path_factory), public_url="https://registry.example.org/api/")
    with TestClient(create_app(settings)) as client:
        links = client.get("/").json()["links"]
    assert all(x["href"].startswith("https://registry.example.org/api/") for x in links)
