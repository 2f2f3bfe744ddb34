"""The OpenAPI 3.0 document (valid, complete, answers matching their schemas) and the docs page
served from local files only."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from apidata import SECRETS, built_registry, settings_for, with_admin_areas
from fastapi.testclient import TestClient
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate

from clearland.api.app import create_app
from clearland.services.features import COLLECTIONS

SAMPLE_IDS = {
    "hazard-areas": "HA-000001",
    "released-land": "OUT-000001",
    "markers": "ACT-000001-M1",
    "admin-areas": "ADM-000001",
}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    # with admin areas, so that every public collection has an item to answer
    db = with_admin_areas(tmp_path_factory.mktemp("openapi"), built_registry(tmp_path_factory))
    with TestClient(create_app(settings_for(db))) as client:
        yield client


@pytest.fixture(scope="module")
def document(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.oai.openapi+json;version=3.0"
    return response.json()


def test_the_document_is_valid_openapi_3_0(document):
    assert document["openapi"] == "3.0.3"
    validate(document)  # raises on anything OpenAPI 3.0 does not allow


def test_every_collection_has_its_routes_and_its_own_filters(document):
    for collection in COLLECTIONS.values():
        base = f"/collections/{collection.id}"
        assert {base, f"{base}/items", f"{base}/items/{{featureId}}"} <= set(document["paths"])
        names = {p["name"] for p in document["paths"][f"{base}/items"]["get"]["parameters"]}
        assert {"bbox", "datetime", "limit", "offset", "as_of", "f"} <= names
        assert {f.name for f in collection.filters} <= names
    limit = next(
        p
        for p in document["paths"]["/collections/hazard-areas/items"]["get"]["parameters"]
        if p["name"] == "limit"
    )
    assert limit["schema"] == {"type": "integer", "minimum": 1, "maximum": 10000, "default": 10}
    operation_ids = [op["operationId"] for path in document["paths"].values() for op in path.values()]
    assert len(operation_ids) == len(set(operation_ids))
    text = str(document)
    assert all(secret not in text for secret in SECRETS)


#: paths whose answers tests/api/test_tiles.py, test_checks.py, test_screening_jobs.py,
#: test_auth.py, test_minefield_records_api.py (the restricted collection) and
#: test_reports_api.py (reports, records, statistics) check
OTHER_PATHS = (
    "/reports",
    "/records/",
    "/stats",
    "/tiles/",
    "/check/",
    "/screen",
    "/jobs/",
    "/auth/",
    "/users",
    "/audit",
    "/collections/minefield-records",
)


def _paths(document: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """The OGC API – Features paths, with a sample feature id."""
    for template in document["paths"]:
        if template.startswith(OTHER_PATHS):
            continue
        match = re.match(r"/collections/([^/]+)/items/\{featureId\}", template)
        yield template, template.replace("{featureId}", SAMPLE_IDS[match.group(1)]) if match else template


def test_every_documented_answer_matches_its_schema(client, document):
    checked = 0
    for template, url in _paths(document):
        operation = document["paths"][template]["get"]
        for params in ({}, {"limit": 2}) if url.endswith("/items") else ({},):
            response = client.get(url, params=params)
            assert response.status_code == 200, (url, response.text)
            media_type = response.headers["content-type"]
            schema = operation["responses"]["200"]["content"][media_type]["schema"]
            OAS30Validator({**schema, "components": document["components"]}).validate(response.json())
            checked += 1
        bad = client.get(url, params={"as_of": "not a date"})
        problem = operation["responses"]["400"]["content"]["application/problem+json"]["schema"]
        OAS30Validator({**problem, "components": document["components"]}).validate(bad.json())
    assert checked == 3 + len(COLLECTIONS) * 4 == 19  # landing, conformance, collections; 4 per collection


def test_docs_page_loads_swagger_ui_from_this_server_only(client):
    page = client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    urls = re.findall(r'(?:href|src|data-url)="([^"]+)"', page.text)
    assert urls and all(u.startswith("/") and not u.startswith("//") for u in urls)
    assert "/openapi.json" in urls
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
    init = client.get("/docs/assets/init.js").text
    assert "validatorUrl: null" in init  # Swagger UI would otherwise ask an online validator
    bundle = client.get("/docs/assets/swagger-ui-bundle.js")
    assert bundle.headers["content-type"].startswith("text/javascript") and len(bundle.content) > 100_000
    assert client.get("/docs/assets/../../settings.py").status_code == 404
    assert client.get("/docs/assets/index.html").status_code == 404
