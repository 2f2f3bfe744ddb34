"""Vector tiles over a real registry, decoded with mapbox-vector-tile (an encoder other than
ours): each hazard where it lies at z 10–16 and nowhere else, public attributes only, a new
revision drawn at once, the registry as it was on a date (``as_of``), the grid checked, and a
low-zoom tile of thousands of hazards small."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import mapbox_vector_tile
import pytest
import shapely
from apidata import DOBOJ, MARKERS, REDUCED_1, SARAJEVO, SECRETS, built_registry, gj, settings_for
from fastapi.testclient import TestClient
from openapi_schema_validator import OAS30Validator

from clearland.api.app import create_app
from clearland.domain.records import RECORD_TYPES
from clearland.services import review
from clearland.services.demo import SYNTHETIC_LABEL, create_demo
from clearland.services.registry import open_registry
from clearland.services.submissions import submit_report_file
from clearland.services.tiles import EXTENT, MAP_FIELDS, lonlat_to_pixel, lonlat_to_tile, tile_bounds_lonlat
from clearland.settings import Settings
from dbs import copy, database

MVT = "application/vnd.mapbox-vector-tile"
#: fields of any record type that the public may not see
RESTRICTED = {s.name for t in RECORD_TYPES.values() for s in t.fields} - {
    s.name for t in RECORD_TYPES.values() for s in t.fields if s.public
}
HAZARD = DOBOJ[4]  # HA-000005, untouched by any activity
HAZARD_REF = "HA-000005"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(built_registry(tmp_path_factory)))) as client:
        yield client


def get_tile(
    client: TestClient, collection: str, z: int, x: int, y: int, as_of: str | None = None
) -> dict[str, Any]:
    """The decoded layer of a tile (empty when 204), coordinates in tile units, y down."""
    response = client.get(f"/tiles/{collection}/{z}/{x}/{y}.mvt", params={"as_of": as_of} if as_of else {})
    if response.status_code == 204:
        assert response.content == b""
        return {"features": [], "extent": EXTENT}
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == MVT
    decoded = mapbox_vector_tile.decode(response.content, default_options={"y_coord_down": True})
    assert list(decoded) == [collection]  # one layer, named after the collection
    return decoded[collection]


def by_ref(layer: dict[str, Any], ref: str) -> list[dict[str, Any]]:
    return [f for f in layer["features"] if f["properties"].get("ref") == ref]


def expected_box(geom: shapely.Geometry, z: int, x: int, y: int) -> tuple[float, ...]:
    """The geometry's box in tile units, clipped to the tile and its 64-unit buffer."""
    west, south, east, north = geom.bounds
    x0, y0 = lonlat_to_pixel(west, north, z, x, y)
    x1, y1 = lonlat_to_pixel(east, south, z, x, y)
    return tuple(min(max(v, -64), EXTENT + 64) for v in (x0, y0, x1, y1))


@pytest.mark.parametrize("z", range(10, 17))
def test_a_hazard_is_drawn_where_it_lies_at_zoom_10_to_16(client, z):
    x, y = lonlat_to_tile(*HAZARD.centroid.coords[0], z)
    layer = get_tile(client, "hazard-areas", z, x, y)
    assert layer["extent"] == EXTENT
    (feature,) = by_ref(layer, HAZARD_REF)
    assert feature["geometry"]["type"] == "Polygon"
    drawn = shapely.geometry.shape(feature["geometry"])
    assert drawn.is_valid
    assert drawn.bounds == pytest.approx(expected_box(HAZARD, z, x, y), abs=1.0)
    properties = feature["properties"]
    assert properties["category"] == "SHA" and properties["status"] == "open"
    assert properties["hazard_types"] == "at_mine,uxo" and properties["marking"] == "none"
    if z < 12:  # the map's fields only; the rest is one request away
        assert set(properties) == MAP_FIELDS["hazard-areas"]
    else:
        assert properties["name"] == "Doboj field 5" and properties["date_of_information"] == "2026-01-10"
        assert properties["area_m2"] > 0
    # nothing of it two tiles east, nor in the tile of Sarajevo
    assert by_ref(get_tile(client, "hazard-areas", z, x + 2, y), HAZARD_REF) == []
    sx, sy = lonlat_to_tile(*SARAJEVO[0].centroid.coords[0], z)
    far = get_tile(client, "hazard-areas", z, sx, sy)
    assert far["features"] and by_ref(far, HAZARD_REF) == []


def test_a_hazard_smaller_than_a_pixel_is_a_point_never_dropped(client):
    # at zoom 5 a pixel is ~5 km: the 12 Doboj areas gather in one point, the 3 of Sarajevo in another
    features = []
    for z in range(0, 7):
        x, y = lonlat_to_tile(18.2, 44.3, z)
        layer = get_tile(client, "hazard-areas", z, x, y)
        features = layer["features"]
        assert {f["geometry"]["type"] for f in features} == {"Point"}
        assert sum(f["properties"].get("count", 1) for f in features) == 16, z  # every hazard
    gathered = [f for f in features if f["properties"].get("count", 1) > 1]
    assert gathered and all("ref" not in f["properties"] for f in gathered)  # only shared fields


def test_released_land_and_markers_have_their_own_layers(client):
    z = 15
    x, y = lonlat_to_tile(18.1005, 44.702, z)
    released = get_tile(client, "released-land", z, x, y)
    (strip,) = [f for f in released["features"] if f["properties"]["kind"] == "reduced"]
    assert strip["geometry"]["type"] == "Polygon" and strip["properties"]["hazard_ref"] == "HA-000001"
    lon, lat, _type, _text = MARKERS[0]
    tile = (16, *lonlat_to_tile(lon + 1e-5, lat + 1e-5, 16))
    (sign,) = [
        f for f in get_tile(client, "markers", *tile)["features"] if f["properties"].get("type") == "sign"
    ]
    assert sign["properties"]["id"] == "ACT-000001-M1"
    assert sign["geometry"]["coordinates"] == pytest.approx(lonlat_to_pixel(lon, lat, *tile), abs=1)


def test_tiles_carry_public_fields_only(client):
    """The fields of a tile are those of the same collection's public features (OGC API),
    plus ``count``; no secret value of the registry is in any tile."""
    for collection in ("hazard-areas", "released-land", "markers"):
        items = client.get(f"/collections/{collection}/items", params={"limit": 1000}).json()
        public = {k for f in items["features"] for k in f["properties"]} | {"count", "id"}
        seen: set[str] = set()
        for z in (4, 8, 11, 12, 14):
            x, y = lonlat_to_tile(18.13, 44.702, z)
            response = client.get(f"/tiles/{collection}/{z}/{x}/{y}.mvt")
            assert all(secret.encode() not in response.content for secret in SECRETS)
            if response.status_code == 200:
                decoded = mapbox_vector_tile.decode(response.content)
                seen |= {k for f in decoded[collection]["features"] for k in f["properties"]}
        assert seen and seen <= public, (collection, seen - public)
        if collection == "hazard-areas":
            assert not seen & RESTRICTED and {"ref", "category", "status", "name", "count"} <= seen


def test_empty_tiles_are_204_and_off_grid_tiles_are_400_problems(client):
    empty = client.get("/tiles/hazard-areas/14/0/0.mvt")
    assert empty.status_code == 204 and empty.headers["etag"] and empty.content == b""
    for url, parameter in (
        ("/tiles/hazard-areas/23/0/0.mvt", "z"),
        ("/tiles/hazard-areas/-1/0/0.mvt", "z"),
        ("/tiles/hazard-areas/3/8/0.mvt", "x"),
        ("/tiles/hazard-areas/3/0/8.mvt", "y"),
        ("/tiles/hazard-areas/3/0/-1.mvt", "y"),
        ("/tiles/hazard-areas/a/0/0.mvt", "z"),
        ("/tiles/hazard-areas/3/0/0.mvt?as_of=2026-02-30", "as_of"),
        ("/tiles/hazard-areas/3/0/0.mvt?as_of=yesterday", "as_of"),
        ("/tiles/hazard-areas/3/0/0.mvt?as_of=2026-01-01&as_of=2026-02-01", "as_of"),
        ("/tiles/hazard-areas/3/0/0.mvt?at=2026-01-01", "at"),
        ("/tiles/hazard-areas.json?as_of=2026-13-01", "as_of"),
    ):
        response = client.get(url)
        assert response.status_code == 400 and response.headers["content-type"] == "application/problem+json"
        assert parameter in [e["parameter"] for e in response.json()["errors"]], url
    missing = client.get("/tiles/minefield-records/3/0/0.mvt")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"


def test_etag_and_cache_control_and_not_modified(client):
    x, y = lonlat_to_tile(*HAZARD.centroid.coords[0], 12)
    first = client.get(f"/tiles/hazard-areas/12/{x}/{y}.mvt")
    assert first.headers["cache-control"] == "public, max-age=60"
    again = client.get(
        f"/tiles/hazard-areas/12/{x}/{y}.mvt", headers={"if-none-match": first.headers["etag"]}
    )
    assert again.status_code == 304 and again.headers["etag"] == first.headers["etag"]


def test_an_approved_hazard_shows_on_the_same_tile_url_at_once(tmp_path, tmp_path_factory):
    db = copy(built_registry(tmp_path_factory), tmp_path / "registry.db")
    new_area = shapely.box(18.2205, 44.7005, 18.2245, 44.7035)  # east of the Doboj row, on its own
    z = 13
    x, y = lonlat_to_tile(*new_area.centroid.coords[0], z)
    url = f"/tiles/hazard-areas/{z}/{x}/{y}.mvt"
    with TestClient(create_app(settings_for(db))) as client:
        before = client.get(url)
        known = {f["properties"]["ref"] for f in _decoded(before)}
        assert "HA-000017" not in known
        registry = open_registry(Settings(), db=db)
        report = tmp_path / "new.json"
        report.write_text(
            json.dumps(
                {
                    "type": "hazard_report",
                    "date_of_information": "2026-04-01",
                    "hazard_areas": [
                        {"set": {"category": "SHA", "name": "SYNTHETIC new area"}, "geometry": gj(new_area)}
                    ],
                }
            ),
            encoding="utf-8",
        )
        review.approve_report(registry, submit_report_file(registry, report)["report"])
        registry.close()
        after = client.get(url, headers={"if-none-match": before.headers.get("etag", '"none"')})
        assert after.status_code == 200 and after.headers["etag"] != before.headers.get("etag")
        assert {f["properties"]["ref"] for f in _decoded(after)} == known | {"HA-000017"}


def _decoded(response: Any) -> list[dict[str, Any]]:
    if response.status_code == 204:
        return []
    return mapbox_vector_tile.decode(response.content)["hazard-areas"]["features"]


def test_tilejson_and_collection_links_lead_to_the_tiles(client):
    document = client.get("/openapi.json").json()
    collection = client.get("/collections/hazard-areas").json()
    tile_links = [x for x in collection["links"] if x["rel"] == "tiles"]
    assert {x["type"] for x in tile_links} == {"application/json", MVT}
    (templated,) = [x for x in tile_links if x.get("templated")]
    assert templated["href"] == "http://testserver/tiles/hazard-areas/{z}/{x}/{y}.mvt"
    (tilejson_link,) = [x for x in tile_links if x["type"] == "application/json"]
    tilejson = client.get(tilejson_link["href"]).json()
    schema = document["components"]["schemas"]["TileJSON"]
    OAS30Validator({**schema, "components": document["components"]}).validate(tilejson)
    assert tilejson["tiles"] == [templated["href"]]
    assert tilejson["minzoom"] == 0 and tilejson["maxzoom"] == 22
    minx, miny, maxx, maxy = shapely.union_all([*DOBOJ, *SARAJEVO]).bounds
    assert tilejson["bounds"] == pytest.approx([minx, miny, maxx, maxy])
    (layer,) = tilejson["vector_layers"]
    assert layer["id"] == "hazard-areas" and "status" in layer["fields"]
    assert not set(layer["fields"]) & RESTRICTED
    assert client.get("/tiles/nothing.json").status_code == 404


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> str:
    db = database(tmp_path_factory.mktemp("tiles-demo") / "demo.db")
    registry = open_registry(Settings(), db=db)
    create_demo(registry, count=3000)
    registry.close()
    return db


def test_low_zoom_tiles_of_thousands_of_hazards_stay_small(demo):
    with TestClient(create_app(settings_for(demo))) as client:
        bounds = client.get("/tiles/hazard-areas.json").json()["bounds"]
        centre = ((bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2)
        for z in range(0, 9):
            x, y = lonlat_to_tile(*centre, z)
            response = client.get(f"/tiles/hazard-areas/{z}/{x}/{y}.mvt")
            assert len(response.content) < 32 * 1024, (z, len(response.content))
            assert SYNTHETIC_LABEL.encode() not in response.content  # evidence is restricted
            layer = mapbox_vector_tile.decode(response.content)["hazard-areas"]
            vertices = sum(
                len(shapely.get_coordinates(shapely.geometry.shape(f["geometry"]))) for f in layer["features"]
            )
            assert vertices <= 3000  # the 3000 areas have ~60,000 vertices between them
            if z <= 5:  # one tile holds them all: every hazard is in it, alone or counted
                assert sum(f["properties"].get("count", 1) for f in layer["features"]) == 3000


# -- the registry as it was on a date -------------------------------------------------------------
#
# apidata: the Doboj areas (HA-000001…12) on 2026-01-10, Sarajevo (HA-000013…15) on 2026-02-15,
# HA-000001 worked on and its west strip released (OUT-000001) on 2026-03-01, HA-000002 split
# (HA-000016 confirmed, the rest released as OUT-000003, HA-000002 closed) on 2026-03-05.


def refs_in(layer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["properties"]["ref"]: f["properties"] for f in layer["features"] if "ref" in f["properties"]}


def test_as_of_tiles_show_the_registry_as_it_was(client):
    z = 12
    sarajevo = lonlat_to_tile(*SARAJEVO[0].centroid.coords[0], z)
    assert "HA-000013" in refs_in(get_tile(client, "hazard-areas", z, *sarajevo))
    assert get_tile(client, "hazard-areas", z, *sarajevo, as_of="2026-02-14")["features"] == []
    assert "HA-000013" in refs_in(get_tile(client, "hazard-areas", z, *sarajevo, as_of="2026-02-15"))

    doboj = lonlat_to_tile(*DOBOJ[1].centroid.coords[0], z)
    now = refs_in(get_tile(client, "hazard-areas", z, *doboj))
    before = refs_in(get_tile(client, "hazard-areas", z, *doboj, as_of="2026-02-01"))
    split_eve = refs_in(get_tile(client, "hazard-areas", z, *doboj, as_of="2026-03-04"))
    # changed after the date: worked on, closed, split off
    assert before["HA-000001"]["status"] == "open" and now["HA-000001"]["status"] == "worked_on"
    assert split_eve["HA-000002"]["status"] == "open" and now["HA-000002"]["status"] == "closed"
    assert "HA-000016" in now and "HA-000016" not in split_eve and "HA-000016" not in before

    z = 10  # a tile holding both released parts, each taller than a pixel: drawn
    released = lonlat_to_tile(*REDUCED_1.centroid.coords[0], z)
    assert lonlat_to_tile(*DOBOJ[1].centroid.coords[0], z) == released
    layer = get_tile(client, "released-land", z, *released)
    eve = get_tile(client, "released-land", z, *released, as_of="2026-03-04")
    assert {f["properties"]["hazard_ref"] for f in layer["features"]} == {"HA-000001", "HA-000002"}
    assert {f["properties"]["hazard_ref"] for f in eve["features"]} == {"HA-000001"}
    assert get_tile(client, "released-land", z, *released, as_of="2026-02-28")["features"] == []


@pytest.mark.parametrize(
    "as_of", [None, "2026-01-09", "2026-01-10", "2026-02-15", "2026-03-01", "2026-03-05"]
)
def test_as_of_tiles_hold_what_the_items_of_that_date_hold(client, as_of):
    """The tile and ``/collections/…/items`` of the same date show the same features, with
    the same status."""
    z = 10  # one tile holds the whole Doboj row, each area larger than a pixel: drawn with its ref
    x, y = lonlat_to_tile(*DOBOJ[6].centroid.coords[0], z)
    west, south, east, north = tile_bounds_lonlat(z, x, y)
    params = {"bbox": f"{west},{south},{east},{north}", "limit": 1000, **({"as_of": as_of} if as_of else {})}
    for collection in ("hazard-areas", "released-land"):
        items = client.get(f"/collections/{collection}/items", params=params).json()["features"]
        layer = get_tile(client, collection, z, x, y, as_of=as_of)
        drawn = refs_in(layer)
        assert len(drawn) == len(layer["features"])  # none gathered in a counted point
        assert {f["id"]: f["properties"].get("status") for f in items} == {
            ref: properties.get("status") for ref, properties in drawn.items()
        }, (collection, as_of)


def test_the_same_tile_now_and_as_of_a_date_are_cached_apart(client):
    z = 13
    x, y = lonlat_to_tile(*DOBOJ[1].centroid.coords[0], z)
    url = f"/tiles/hazard-areas/{z}/{x}/{y}.mvt"
    now, past = client.get(url), client.get(url, params={"as_of": "2026-03-04"})
    assert now.status_code == past.status_code == 200 and now.headers["etag"] != past.headers["etag"]
    again_now, again_past = client.get(url), client.get(url, params={"as_of": "2026-03-04"})
    assert again_now.content == now.content and again_past.content == past.content
    # the date, not its spelling, is the key
    assert client.get(url, params={"as_of": "2026/03/04"}).headers["etag"] == past.headers["etag"]
    revalidated = client.get(
        url, params={"as_of": "2026-03-04"}, headers={"if-none-match": past.headers["etag"]}
    )
    assert revalidated.status_code == 304
    assert client.get(url, headers={"if-none-match": past.headers["etag"]}).status_code == 200


def test_tilejson_and_collection_links_keep_as_of(client):
    as_of = "2026-02-01"
    tilejson = client.get("/tiles/hazard-areas.json", params={"as_of": as_of}).json()
    assert tilejson["tiles"] == [f"http://testserver/tiles/hazard-areas/{{z}}/{{x}}/{{y}}.mvt?as_of={as_of}"]
    minx, miny, maxx, maxy = shapely.union_all(DOBOJ).bounds  # Sarajevo came later
    assert tilejson["bounds"] == pytest.approx([minx, miny, maxx, maxy])
    collection = client.get("/collections/hazard-areas", params={"as_of": as_of}).json()
    tile_links = {x["type"]: x["href"] for x in collection["links"] if x["rel"] == "tiles"}
    assert tile_links == {
        "application/json": f"http://testserver/tiles/hazard-areas.json?as_of={as_of}",
        MVT: tilejson["tiles"][0],
    }
    # the template, filled in, is a tile of that date
    z, (x, y) = 12, lonlat_to_tile(*SARAJEVO[0].centroid.coords[0], 12)
    filled = tilejson["tiles"][0].format(z=z, x=x, y=y).removeprefix("http://testserver")
    assert client.get(filled).status_code == 204  # Sarajevo is not in the registry yet
    document = client.get("/openapi.json").json()
    for path in ("/tiles/{collectionId}/{z}/{x}/{y}.mvt", "/tiles/{collectionId}.json"):
        assert "as_of" in {p["name"] for p in document["paths"][path]["get"]["parameters"]}
