"""Two public layers the map UI draws: the admin areas (``admin-areas``: name, code and level,
never the importer's source id) as OGC API items and vector tiles, and the markers of minefield
marking reports (``MK-…``) in the public ``markers`` collection by their public fields only —
never the minefield record they mark, nor anything of it (mine types, fuzes, quantities).
SYNTHETIC data."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import mapbox_vector_tile
import pytest
import shapely
import shapely.geometry
from apidata import ADMIN_AREAS, built_registry, settings_for, with_admin_areas
from fastapi.testclient import TestClient

from clearland.api.app import create_app
from clearland.services.registry import init_registry, open_registry
from clearland.services.tiles import lonlat_to_tile
from clearland.settings import Settings
from dbs import database
from minefield_data import AP_FUZE, AP_TYPE, AT_FUZE, AT_TYPE, Custodian, expected_vertices, make_record

GEOJSON = {"Accept": "application/geo+json"}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    db = with_admin_areas(tmp_path_factory.mktemp("admin-areas"), built_registry(tmp_path_factory))
    with TestClient(create_app(settings_for(db))) as client:
        yield client


def test_admin_areas_are_a_public_collection_of_their_public_fields(client: TestClient) -> None:
    listed = client.get("/collections", headers={"Accept": "application/json"}).json()
    assert "admin-areas" in [c["id"] for c in listed["collections"]]
    doc = client.get("/collections/admin-areas/items", headers=GEOJSON).json()
    assert doc["numberMatched"] == len(ADMIN_AREAS) == 2
    assert [f["id"] for f in doc["features"]] == ["ADM-000001", "ADM-000002"]
    for feature, (name, code, box) in zip(doc["features"], ADMIN_AREAS, strict=True):
        assert feature["properties"]["name"] == name and feature["properties"]["code"] == code
        assert feature["properties"]["level"] == 2
        assert set(feature["properties"]) == {
            "ref",
            "name",
            "code",
            "level",
            "area_m2",
            "date_of_information",
        }
        assert shapely.geometry.shape(feature["geometry"]).equals(box)
    (south,) = client.get("/collections/admin-areas/items", params={"code": "EX-S"}, headers=GEOJSON).json()[
        "features"
    ]
    assert south["id"] == "ADM-000002"
    # the importer's source id is not public: refused as a filter without being named
    refused = client.get("/collections/admin-areas/items", params={"source_id": "x"})
    assert refused.status_code == 400 and "source_id" not in refused.text


def test_admin_areas_have_vector_tiles_with_their_names(client: TestClient) -> None:
    z = 8
    x, y = lonlat_to_tile(18.15, 44.70, z)
    response = client.get(f"/tiles/admin-areas/{z}/{x}/{y}.mvt")
    assert response.status_code == 200
    (feature,) = mapbox_vector_tile.decode(response.content)["admin-areas"]["features"]
    assert feature["properties"] == {
        "ref": "ADM-000001",
        "name": ADMIN_AREAS[0][0],
        "code": "EX-N",
        "level": 2,
    }
    assert feature["geometry"]["type"] == "Polygon"
    assert client.get("/tiles/admin-areas.json").json()["bounds"] == pytest.approx(
        list(shapely.union_all([box for _n, _c, box in ADMIN_AREAS]).bounds), abs=1e-6
    )


def test_minefield_markers_are_in_the_public_markers_with_nothing_restricted(tmp_path: Path) -> None:
    db = database(tmp_path / "registry.db")
    registry = open_registry(Settings(), db=db)
    init_registry(registry)
    custodian = Custodian(registry, tmp_path)
    custodian.land(make_record())
    corners = expected_vertices()
    custodian.land(
        {
            "type": "marking_inspection",
            "minefield_ref": "MFR-000001",
            "date_of_information": "2026-02-10",
            "markers": [
                {
                    "type": "sign",
                    "position": {"type": "Point", "coordinates": list(corners[0])},
                    "description": "red triangle (synthetic)",
                },
                {
                    "type": "fence",
                    "position": {"type": "LineString", "coordinates": [list(c) for c in corners[1:3]]},
                },
            ],
        }
    )
    registry.close()
    with TestClient(create_app(settings_for(db, jobs_dir=tmp_path))) as client:
        doc = client.get("/collections/markers/items", headers=GEOJSON).json()
        assert [f["id"] for f in doc["features"]] == ["MK-000001", "MK-000002"]
        sign, fence = doc["features"]
        assert sign["geometry"] == {"type": "Point", "coordinates": pytest.approx(list(corners[0]))}
        assert fence["geometry"]["type"] == "LineString"
        assert sign["properties"]["type"] == "sign" and fence["properties"]["type"] == "fence"
        assert sign["properties"]["description"] == "red triangle (synthetic)"
        assert sign["properties"]["hazard_ref"] == "HA-000001"  # the CHA is public
        assert sign["properties"]["condition"] == "good"
        assert sign["properties"]["date_of_information"] == "2026-02-10"
        assert {f["properties"]["activity_ref"] for f in doc["features"]} == {None}
        # filters on the markers' public fields
        only = client.get("/collections/markers/items", params={"type": "fence"}, headers=GEOJSON).json()
        assert [f["id"] for f in only["features"]] == ["MK-000002"]
        marked = client.get("/collections/markers/items", params={"hazard_ref": "HA-000001"}, headers=GEOJSON)
        assert marked.json()["numberMatched"] == 2
        one = client.get("/collections/markers/items/MK-000001", headers=GEOJSON).json()
        assert one["properties"] == sign["properties"]
        assert (
            client.get("/collections/markers/items", params={"as_of": "2026-02-09"}).json()["numberMatched"]
            == 0
        )
        # nothing of the minefield record: not its ref, nor its mines, in the items or the tiles
        z = 16
        tile = client.get(f"/tiles/markers/{z}/{'/'.join(map(str, lonlat_to_tile(*corners[0], z)))}.mvt")
        assert tile.status_code == 200
        (drawn,) = [
            f
            for f in mapbox_vector_tile.decode(tile.content)["markers"]["features"]
            if f["properties"].get("id") == "MK-000001"
        ]
        assert drawn["properties"]["type"] == "sign"
        texts = [json.dumps(doc), json.dumps(one), tile.content.decode("latin-1")]
        for secret in (
            "MFR-000001",
            "minefield_ref",
            AP_TYPE,
            AT_TYPE,
            AP_FUZE,
            AT_FUZE,
            "quantity",
            "mines",
        ):
            assert all(secret not in text for text in texts), secret
        refused = client.get("/collections/markers/items", params={"minefield_ref": "MFR-000001"})
        assert refused.status_code == 400 and "minefield_ref" not in refused.text
