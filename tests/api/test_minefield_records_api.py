"""The restricted OGC collection ``minefield-records`` (401/403 problem+json for all but records
custodians) and the public API, which shows the CHA and no mine type, fuze or quantity.
SYNTHETIC data."""

from __future__ import annotations

import json
from pathlib import Path

import mapbox_vector_tile
import shapely
from apidata import settings_for
from fastapi.testclient import TestClient

from clearland.api.app import create_app
from clearland.services import users
from clearland.services.registry import init_registry, open_registry
from clearland.services.tiles import lonlat_to_tile
from clearland.settings import Settings
from dbs import database
from minefield_data import AP_FUZE, AP_TYPE, AT_FUZE, AT_TYPE, Custodian, expected_vertices, make_record

BASE = "https://testserver"


def test_minefield_records_collection_is_restricted(tmp_path: Path) -> None:
    db = database(tmp_path / "registry.db")
    registry = open_registry(Settings(), db=db)
    init_registry(registry)
    Custodian(registry, tmp_path).land(make_record())
    users.add_user(registry, "rev", ["reviewer"])
    tokens = {name: users.create_token(registry, name)["token"] for name in ("cus", "rev")}
    registry.close()
    with TestClient(create_app(settings_for(db, jobs_dir=tmp_path)), base_url=BASE) as client:
        paths = ["/collections/minefield-records", "/collections/minefield-records/items",
                 "/collections/minefield-records/items/MFR-000001"]  # fmt: skip
        for path in paths:
            anonymous = client.get(path)
            assert anonymous.status_code == 401
            assert anonymous.headers["content-type"].startswith("application/problem+json")
            other = client.get(path, headers={"Authorization": f"Bearer {tokens['rev']}"})
            assert other.status_code == 403 and "records_custodian" in other.json()["detail"]
        custodian = {"Authorization": f"Bearer {tokens['cus']}"}
        items = client.get(paths[1], headers=custodian)
        assert items.status_code == 200
        (feature,) = items.json()["features"]
        assert feature["id"] == "MFR-000001" and feature["properties"]["mines"][0]["type_name"] == AP_TYPE
        assert client.get(paths[2], headers=custodian).json()["properties"]["hazard_ref"] == "HA-000001"
        assert (
            client.get("/collections/minefield-records/items/MFR-000404", headers=custodian).status_code
            == 404
        )

        public = client.get("/collections/hazard-areas/items", headers={"Accept": "application/geo+json"})
        assert public.status_code == 200
        (cha,) = public.json()["features"]
        assert cha["properties"]["category"] == "CHA"
        text = json.dumps(public.json())
        for secret in (AP_TYPE, AT_TYPE, AP_FUZE, AT_FUZE, "quantity", "MFR-000001"):
            assert secret not in text
        listed = client.get("/collections", headers={"Accept": "application/json"}).json()
        assert "minefield-records" not in [c["id"] for c in listed["collections"]]


def test_get_report_keeps_record_details_from_others(tmp_path: Path) -> None:
    """GET /reports/{id}: the minefield record's report is 403 for a reviewer; a marking report
    shows the reviewer its markers and CHA, not the record's ref nor the inspection."""
    db = database(tmp_path / "registry.db")
    registry = open_registry(Settings(), db=db)
    init_registry(registry)
    custodian = Custodian(registry, tmp_path)
    custodian.land(make_record())
    users.add_user(registry, "rev", ["reviewer"])
    marking = {
        "type": "marking_inspection",
        "minefield_ref": "MFR-000001",
        "date_of_information": "2026-02-10",
        "markers": [{"type": "sign", "position": {"type": "Point", "coordinates": [18.1005, 44.7006]}}],
        "inspection": {
            "inspected_on": "2026-02-10",
            "inspector": "Synthetic Inspector Q",
            "condition": "good",
        },
    }
    report = custodian.submit(marking, registry=registry.acting_as("rev", source="cli"))["report"]
    tokens = {name: users.create_token(registry, name)["token"] for name in ("cus", "rev")}
    registry.close()
    with TestClient(create_app(settings_for(db, jobs_dir=tmp_path)), base_url=BASE) as client:
        as_rev = {"Authorization": f"Bearer {tokens['rev']}"}
        as_cus = {"Authorization": f"Bearer {tokens['cus']}"}
        refused = client.get("/reports/1", headers=as_rev)
        assert refused.status_code == 403 and "records_custodian" in refused.json()["detail"]
        assert refused.headers["content-type"].startswith("application/problem+json")
        seen = client.get(f"/reports/{report}", headers=as_rev)
        assert seen.status_code == 200
        text = seen.text
        for secret in ("MFR-000001", "minefield_ref", "Synthetic Inspector Q"):
            assert secret not in text, secret
        changes = {c["ref"]: c for c in seen.json()["changes"]}
        assert changes["INS-000001"]["restricted"] is True and changes["INS-000001"]["fields"] == {}
        assert changes["MK-000001"]["fields"]["hazard_ref"]["after"] == "HA-000001"
        full = client.get(f"/reports/{report}", headers=as_cus)
        assert full.status_code == 200 and "MFR-000001" in full.text and "Synthetic Inspector Q" in full.text


def test_every_public_view_of_the_cha_has_no_record_details(tmp_path: Path) -> None:
    """Must show (issue 7): the public API carries no mine type, fuze or quantity, nor the record's
    ref: one item, the record endpoint, the safety check and the vector tiles, not only the list."""
    db = database(tmp_path / "registry.db")
    registry = open_registry(Settings(), db=db)
    init_registry(registry)
    Custodian(registry, tmp_path).land(make_record())
    registry.close()
    inside = shapely.Polygon(expected_vertices()).representative_point()
    z = 16
    x, y = lonlat_to_tile(inside.x, inside.y, z)
    with TestClient(create_app(settings_for(db, jobs_dir=tmp_path)), base_url=BASE) as client:
        item = client.get(
            "/collections/hazard-areas/items/HA-000001", headers={"Accept": "application/geo+json"}
        )
        record = client.get("/records/HA-000001")
        check = client.get("/check/point", params={"lon": inside.x, "lat": inside.y})
        tile = client.get(f"/tiles/hazard-areas/{z}/{x}/{y}.mvt")
        for response in (item, record, check, tile):
            assert response.status_code == 200, response.url
        assert item.json()["properties"]["category"] == "CHA" and record.json()["view"] == "public"
        assert check.json()["answer"] == "inside" and "HA-000001" in check.text
        (drawn,) = mapbox_vector_tile.decode(tile.content)["hazard-areas"]["features"]
        assert drawn["properties"]["category"] == "CHA"
        texts = [
            item.text,
            record.text,
            check.text,
            json.dumps(drawn["properties"]),
            tile.content.decode("latin-1"),
        ]
        for secret in (
            AP_TYPE,
            AT_TYPE,
            AP_FUZE,
            AT_FUZE,
            "quantity",
            "MFR-000001",
            "Synthetic Engineer Unit",
        ):
            assert all(secret not in text for text in texts), secret
        assert client.get("/records/MFR-000001").status_code == 401
