"""OGC API – Features over a real SQLite registry: landing page, conformance, collections,
items (paging, bbox, datetime, property filters, as_of), one item, HTML, and no restricted
field or value in any public answer."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import shapely
import shapely.geometry
from apidata import DOBOJ, MARKERS, SARAJEVO, SECRETS, built_registry, settings_for
from fastapi.testclient import TestClient

from clearland.api.app import create_app
from clearland.domain.vocab import RecordKind
from clearland.services import queries
from clearland.services.registry import open_registry

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
ALL_REFS = [f"HA-{n:06d}" for n in range(1, 17)]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(built_registry(tmp_path_factory)))) as client:
        yield client


def get_json(client: TestClient, url: str, **params: Any) -> dict[str, Any]:
    response = client.get(url, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def items(client: TestClient, collection: str = "hazard-areas", **params: Any) -> dict[str, Any]:
    response = client.get(f"/collections/{collection}/items", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/geo+json"
    return response.json()


def ids(doc: dict[str, Any]) -> list[str]:
    return [f["id"] for f in doc["features"]]


def rel(doc: dict[str, Any], name: str, media_type: str | None = None) -> list[dict[str, Any]]:
    return [x for x in doc["links"] if x["rel"] == name and (media_type is None or x["type"] == media_type)]


# -- landing page, conformance, collections ---------------------------------------------------


def test_landing_page_links_lead_to_the_api_its_docs_conformance_and_data(client):
    landing = get_json(client, "/")
    rels = {x["rel"]: x for x in landing["links"]}
    assert {"self", "alternate", "service-desc", "service-doc", "conformance", "data"} <= set(rels)
    assert rels["service-desc"]["type"] == "application/vnd.oai.openapi+json;version=3.0"
    for name in ("service-desc", "service-doc", "conformance", "data"):
        assert client.get(rels[name]["href"]).status_code == 200
    assert landing["registry"]["revision"] >= 4
    assert landing["registry"]["latest_information"] == "2026-03-05"
    assert "not proof that land is safe" in landing["registry"]["notice"]


def test_conformance_lists_core_geojson_html_and_openapi(client):
    conforms = get_json(client, "/conformance")["conformsTo"]
    base = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/"
    assert {base + c for c in ("core", "geojson", "html", "oas30")} <= set(conforms)


def test_collections_describe_the_four_public_layers_in_crs84(client):
    doc = get_json(client, "/collections")
    assert [c["id"] for c in doc["collections"]] == [
        "hazard-areas",
        "released-land",
        "markers",
        "admin-areas",
    ]
    for collection in doc["collections"]:
        assert collection["crs"] == [CRS84] and collection["storageCrs"] == CRS84
        assert collection == get_json(client, f"/collections/{collection['id']}")
        (geojson_items,) = rel(collection, "items", "application/geo+json")
        assert client.get(geojson_items["href"]).status_code == 200
    hazards = doc["collections"][0]
    minx, miny, maxx, maxy = shapely.union_all([*DOBOJ, *SARAJEVO]).bounds
    assert hazards["extent"]["spatial"]["bbox"][0] == pytest.approx([minx, miny, maxx, maxy])
    assert hazards["extent"]["temporal"]["interval"] == [["2026-01-10T00:00:00Z", "2026-03-05T00:00:00Z"]]
    assert "not proof that land is safe" in hazards["description"]


# -- items ------------------------------------------------------------------------------------


def test_paging_follows_next_links_until_every_feature_was_seen_once(client):
    seen, pages, url = [], 0, "/collections/hazard-areas/items?limit=5"
    while url:
        response = client.get(url)
        doc = response.json()
        assert doc["numberMatched"] == 16 and doc["numberReturned"] == len(doc["features"]) <= 5
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", doc["timeStamp"])
        assert bool(rel(doc, "prev")) == (pages > 0)
        seen += ids(doc)
        pages += 1
        nxt = rel(doc, "next", "application/geo+json")
        url = nxt[0]["href"] if nxt else None
    assert seen == ALL_REFS and pages == 4
    assert items(client)["numberReturned"] == 10  # the default limit


def test_limit_above_the_maximum_is_the_maximum_and_offset_skips(client):
    doc = items(client, limit=20000)
    assert doc["numberReturned"] == 16
    assert parse_qs(urlsplit(rel(doc, "self")[0]["href"]).query)["limit"] == ["10000"]
    assert ids(items(client, limit=3, offset=14)) == ["HA-000015", "HA-000016"]
    assert items(client, offset=100)["features"] == []


def test_features_carry_the_public_fields_and_the_stored_geometry(client, tmp_path_factory):
    registry = open_registry(settings_for(built_registry(tmp_path_factory)))
    stored = {r["ref"]: r for r in queries.records(registry, public=True)}
    registry.close()
    for feature in items(client, limit=100)["features"]:
        record = stored[feature["id"]]
        assert feature["properties"] == {k: v for k, v in record.items() if k != "geometry"}
        assert shapely.geometry.shape(feature["geometry"]).equals(record["geometry"])
    ha1 = get_json(client, "/collections/hazard-areas/items/HA-000001")["properties"]
    assert ha1["status"] == "worked_on" and ha1["remaining_area_m2"] < ha1["area_m2"]


def test_bbox_selects_the_features_it_meets(client):
    minx, miny, maxx, maxy = shapely.union_all(SARAJEVO).bounds
    assert ids(items(client, bbox=f"{minx},{miny},{maxx},{maxy}")) == ["HA-000013", "HA-000014", "HA-000015"]
    # a box over the east edge of the third Doboj area and the west edge of the fourth
    box = f"{18.125},{44.701},{18.1305},{44.702}"
    assert ids(items(client, bbox=box)) == ["HA-000003", "HA-000004"]
    # with heights (6 numbers) the heights are ignored
    assert ids(items(client, bbox=f"{minx},{miny},0,{maxx},{maxy},100")) == [
        "HA-000013",
        "HA-000014",
        "HA-000015",
    ]
    assert items(client, bbox="-10,-10,-9,-9")["numberMatched"] == 0
    assert items(client, bbox="170,40,-170,50")["numberMatched"] == 0  # across the antimeridian


def test_datetime_instant_and_intervals_use_the_date_of_information(client):
    assert ids(items(client, datetime="2026-02-15")) == ["HA-000013", "HA-000014", "HA-000015"]
    assert items(client, datetime="2026-01-10", limit=100)["numberMatched"] == 10
    assert ids(items(client, datetime="2026-03-01/..")) == ["HA-000001", "HA-000002", "HA-000016"]
    assert ids(items(client, datetime="../2026-01-31", limit=100)) == [f"HA-{n:06d}" for n in range(3, 13)]
    assert ids(items(client, datetime="2026-02-01T00:00:00Z/2026-03-01T12:00:00+02:00")) == [
        "HA-000001",
        "HA-000013",
        "HA-000014",
        "HA-000015",
    ]


def test_property_filters_on_public_fields(client):
    assert ids(items(client, status="worked_on")) == ["HA-000001"]
    shas = ["HA-000001", "HA-000002", "HA-000005", "HA-000006", "HA-000009", "HA-000010"]
    shas += ["HA-000013", "HA-000014", "HA-000015"]
    assert ids(items(client, category="sha", limit=100)) == shas  # vocabulary spellings work
    assert ids(items(client, category="SHA", status="open", limit=100)) == shas[2:]
    assert ids(items(client, hazard_types="AT mine")) == [
        "HA-000002",
        "HA-000005",
        "HA-000008",
        "HA-000011",
        "HA-000016",  # the CHA split off HA-000002 keeps its hazard types
    ]
    assert ids(items(client, parent_ref="HA-000002")) == ["HA-000016"]
    assert ids(items(client, "released-land", kind="reduced")) == ["OUT-000001", "OUT-000003"]


def test_as_of_serves_the_registry_as_it_was(client):
    before = items(client, as_of="2026-02-01", limit=100)
    assert before["numberMatched"] == 12
    assert all(f["properties"]["status"] == "open" for f in before["features"])
    assert all("as_of=2026-02-01" in x["href"] for x in before["links"])
    assert items(client, as_of="2026-03-02", status="worked_on", limit=100)["numberMatched"] == 1
    assert items(client, "released-land", as_of="2026-03-02")["numberMatched"] == 1
    then = get_json(client, "/collections/hazard-areas/items/HA-000002", as_of="2026-03-02")
    assert then["properties"]["status"] == "open"
    assert (
        client.get("/collections/hazard-areas/items/HA-000016", params={"as_of": "2026-03-02"}).status_code
        == 404
    )
    landing = get_json(client, "/", as_of="2026-02-01")
    assert all("as_of=2026-02-01" in x["href"] for x in rel(landing, "data") + rel(landing, "conformance"))
    collection = get_json(client, "/collections/hazard-areas", as_of="2026-02-01")
    assert collection["extent"]["temporal"]["interval"] == [["2026-01-10T00:00:00Z", "2026-01-10T00:00:00Z"]]


def test_one_item_by_its_ref(client):
    response = client.get("/collections/hazard-areas/items/HA-000013")
    assert response.status_code == 200 and response.headers["content-type"] == "application/geo+json"
    assert response.headers["content-crs"] == f"<{CRS84}>"
    feature = response.json()
    assert feature["type"] == "Feature" and feature["id"] == "HA-000013"
    assert shapely.geometry.shape(feature["geometry"]).equals(SARAJEVO[0])
    assert {x["rel"] for x in feature["links"]} == {"self", "alternate", "collection"}


def test_released_land_is_cancelled_reduced_or_cleared_never_confirmed(client):
    doc = items(client, "released-land")
    assert ids(doc) == ["OUT-000001", "OUT-000003"]
    assert {f["properties"]["kind"] for f in doc["features"]} == {"reduced"}
    assert {f["properties"]["hazard_ref"] for f in doc["features"]} == {"HA-000001", "HA-000002"}
    assert client.get("/collections/released-land/items/OUT-000002").status_code == 404


def test_markers_are_points_with_their_type_description_and_activity(client):
    doc = items(client, "markers")
    assert ids(doc) == ["ACT-000001-M1", "ACT-000001-M2"]
    for feature, (lon, lat, kind, text) in zip(doc["features"], MARKERS, strict=True):
        assert feature["geometry"] == {"type": "Point", "coordinates": [lon, lat]}
        assert feature["properties"]["type"] == kind and feature["properties"]["description"] == text
        assert feature["properties"]["activity_ref"] == "ACT-000001"
    assert ids(items(client, "markers", type="permanent_marker")) == ["ACT-000001-M2"]
    assert ids(items(client, "markers", bbox="18.105,44.703,18.107,44.705")) == ["ACT-000001-M2"]
    marker = get_json(client, "/collections/markers/items/ACT-000001-M1")
    assert marker["properties"]["date_of_information"] == "2026-03-01"
    assert items(client, "markers", as_of="2026-02-01")["numberMatched"] == 0


# -- HTML -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/conformance",
        "/collections",
        "/collections/hazard-areas",
        "/collections/hazard-areas/items",
        "/collections/hazard-areas/items/HA-000001",
        "/collections/markers/items",
    ],
)
def test_html_pages_by_f_or_accept_with_nothing_from_elsewhere(client, path):
    by_f = client.get(path, params={"f": "html"})
    by_accept = client.get(path, headers={"accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    # a browser at / without `f` gets the web UI instead (tests/web); /?f=html is this page
    for response in (by_f, by_accept) if path != "/" else (by_f,):
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
        page = response.text
        assert page.startswith("<!DOCTYPE html>") and "<script" not in page
        for url in re.findall(r'(?:href|src)="([^"]+)"', page):
            assert url.startswith("http://testserver/"), url
    assert client.get(path, headers={"accept": "application/json"}).headers["content-type"] != "text/html"


def test_html_items_page_has_the_pager_and_links_to_each_item(client):
    page = client.get("/collections/hazard-areas/items", params={"f": "html", "limit": 5, "offset": 5}).text
    assert "6–10 of 16 features" in page
    assert "previous page" in page and "next page" in page
    assert 'href="http://testserver/collections/hazard-areas/items/HA-000006?f=html"' in page


# -- nothing restricted, anywhere -------------------------------------------------------------


def _crawl(client: TestClient, start: list[str]) -> dict[str, str]:
    """Every page reachable by links from ``start`` (JSON and HTML), by URL."""
    bodies: dict[str, str] = {}
    queue = list(start)
    while queue:
        url = queue.pop()
        if url in bodies or len(bodies) > 400:
            continue
        response = client.get(url)
        assert response.status_code == 200, (url, response.text)
        bodies[url] = response.text
        if "json" in response.headers["content-type"]:
            queue += [x["href"] for x in _links(response.json()) if not x.get("templated")]
        else:
            queue += [
                u.replace("&amp;", "&")
                for u in re.findall(r'href="(http://testserver/[^"]+)"', response.text)
            ]
    return bodies


def _links(doc: Any) -> Iterator[dict[str, Any]]:
    if isinstance(doc, dict):
        if isinstance(doc.get("href"), str) and "rel" in doc:
            yield doc
        for value in doc.values():
            yield from _links(value)
    elif isinstance(doc, list):
        for value in doc:
            yield from _links(value)


def test_no_restricted_field_or_value_in_any_public_answer(client, tmp_path_factory):
    start = ["/", "/?f=html", "/?as_of=2026-02-01", "/collections/hazard-areas/items?limit=3"]
    start += [f"/collections/hazard-areas/items/{ref}" for ref in ALL_REFS]
    start += [f"/collections/hazard-areas/items/{ref}?f=html" for ref in ALL_REFS]
    start += [
        f"/collections/hazard-areas/items/HA-000001?as_of={day}" for day in ("2026-01-10", "2026-03-01")
    ]
    start += ["/collections/hazard-areas/items?limit=100&f=html", "/collections/hazard-areas/items?limit=100"]
    start += ["/collections/hazard-areas/items?limit=100&as_of=2026-02-01"]
    bodies = _crawl(client, start)
    assert len(bodies) > 60
    errors = [
        client.get("/collections/hazard-areas/items", params={"minefield_record_ref": "MFR-SECRET-7731"}),
        client.get(
            "/collections/hazard-areas/items", params={"evidence_description": "x", "organisation": "y"}
        ),
        client.get("/collections/hazard-areas/items", params={"status": "nonsense"}),
        client.get("/collections/hazard-areas/items/HA-999999"),
        client.get("/collections/minefield-records/items"),  # restricted: sign in first
    ]
    assert [e.status_code for e in errors] == [400, 400, 400, 404, 401]
    assert errors[-1].headers["content-type"].startswith("application/problem+json")
    for text in [*bodies.values(), *(e.text for e in errors), client.get("/openapi.json").text]:
        for secret in SECRETS:
            assert secret not in text
    # while the registry does hold them
    registry = open_registry(settings_for(built_registry(tmp_path_factory)))
    full = queries.records(registry, RecordKind.HAZARD_AREA)
    registry.close()
    assert {r["minefield_record_ref"] for r in full if r["ref"] <= "HA-000012"} == {SECRETS[1]}


def test_as_of_answers_are_built_from_public_fields_too(client):
    doc = items(client, as_of=dt.date(2026, 1, 10).isoformat(), limit=100)
    assert doc["numberMatched"] == 12
    assert "minefield_record_ref" not in doc["features"][0]["properties"]
    assert "evidence_description" not in doc["features"][0]["properties"]
