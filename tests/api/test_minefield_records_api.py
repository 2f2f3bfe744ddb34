"""The restricted OGC collection ``minefield-records`` (401/403 problem+json for all but records
custodians) and the public API, which shows the CHA and no mine type, fuze or quantity.
SYNTHETIC data."""

from __future__ import annotations

import json
from pathlib import Path

from apidata import settings_for
from fastapi.testclient import TestClient

from clearland.api.app import create_app
from clearland.services import users
from clearland.services.registry import init_registry, open_registry
from clearland.settings import Settings
from minefield_data import AP_FUZE, AP_TYPE, AT_FUZE, AT_TYPE, Custodian, make_record

BASE = "https://testserver"


def test_minefield_records_collection_is_restricted(tmp_path: Path) -> None:
    db = tmp_path / "registry.db"
    registry = open_registry(Settings(), db=str(db))
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
