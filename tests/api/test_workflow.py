"""The review workflow over real HTTP: `clearland serve` in its own process on a loopback port,
called with httpx as a program would. A surveyor submits a hazard report, cannot approve it; a
reviewer approves it; the public then sees the new hazard area in the OGC items and on a map tile;
a second reviewer acting on what it read before gets 409, and so does approving twice; every write
is in the audit log as coming over HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import mapbox_vector_tile
import pytest
from apidata import built_registry
from reportdata import TUZLA, People, audit_rows, hazard_report, last_audit_id, make_people

from clearland.services.tiles import lonlat_to_tile

PROBLEM_JSON = "application/problem+json"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _clearland() -> list[str]:
    script = Path(sys.executable).with_name("clearland")
    return [str(script)] if script.exists() else [sys.executable, "-m", "clearland.cli.main"]


@pytest.fixture(scope="module")
def people(tmp_path_factory: pytest.TempPathFactory) -> People:
    return make_people(tmp_path_factory.mktemp("workflow"), built_registry(tmp_path_factory))


@pytest.fixture(scope="module")
def server(people: People, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    log = tmp_path_factory.mktemp("workflow-serve") / "serve.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLEARLAND_")}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*_clearland(), "--db", people.db, "serve", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                pytest.fail(f"clearland serve exited with {process.returncode}:\n{log.read_text()}")
            try:
                if httpx.get(url + "/conformance", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"clearland serve did not answer in 30 s:\n{log.read_text()}")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert body["status"] == status and body["detail"]
    return body


def public_refs(client: httpx.Client) -> set[str]:
    box = ",".join(str(v) for v in TUZLA.buffer(0.01).bounds)
    items = client.get("/collections/hazard-areas/items", params={"bbox": box, "limit": 100})
    assert items.status_code == 200, items.text
    return {f["id"] for f in items.json()["features"]}


def tile_refs(client: httpx.Client) -> set[str]:
    lon, lat = TUZLA.centroid.x, TUZLA.centroid.y
    x, y = lonlat_to_tile(lon, lat, 14)
    tile = client.get(f"/tiles/hazard-areas/14/{x}/{y}.mvt")
    if tile.status_code == 204:
        return set()
    assert tile.status_code == 200, tile.text
    layer = mapbox_vector_tile.decode(tile.content)["hazard-areas"]
    return {f["properties"]["ref"] for f in layer["features"]}


def test_surveyor_submits_reviewer_approves_public_sees_stale_update_gets_409(server, people):
    first_audit = last_audit_id(people.db)
    with httpx.Client(base_url=server, timeout=30) as client:
        assert public_refs(client) == set() and tile_refs(client) == set()

        # nobody signed in: 401 with the challenge, nothing stored
        anonymous = client.post("/reports", json=hazard_report())
        problem(anonymous, 401)
        assert anonymous.headers["www-authenticate"].startswith("Bearer")

        # the surveyor submits
        submitted = client.post("/reports", json=hazard_report(), headers=people.bearer("ana"))
        assert submitted.status_code == 201, submitted.text
        report = submitted.json()["report"]
        new_ref = submitted.json()["records"][0]
        assert submitted.headers["location"] == f"/reports/{report}"
        assert submitted.json()["status"] == "submitted"

        # ... and cannot approve it
        body = problem(client.post(f"/reports/{report}/approve", headers=people.bearer("ana")), 403)
        assert "reviewer" in body["detail"]
        assert public_refs(client) == set()

        # two reviewers read it; the first approves on what it read
        seen = client.get(submitted.headers["location"], headers=people.bearer("rev"))
        assert seen.status_code == 200 and seen.json()["changes"][0]["action"] == "create"
        old_etag = seen.headers["etag"]
        assert client.get(f"/reports/{report}", headers=people.bearer("rev2")).headers["etag"] == old_etag
        approved = client.post(
            f"/reports/{report}/approve", headers={**people.bearer("rev"), "If-Match": old_etag}
        )
        assert approved.status_code == 200, approved.text
        assert approved.json()["report"] == report and approved.json()["records"] == 1
        assert approved.headers["etag"] != old_etag

        # the public sees the new hazard area at once: in the items and on the map
        assert public_refs(client) == {new_ref}
        assert tile_refs(client) == {new_ref}
        public = client.get(f"/collections/hazard-areas/items/{new_ref}").json()
        assert public["properties"]["name"] == "Tuzla orchard"
        assert "evidence_description" not in public["properties"]

        # the second reviewer, acting on the ETag it read before, is refused: 409
        stale = client.post(
            f"/reports/{report}/reject",
            json={"reason": "duplicate"},
            headers={**people.bearer("rev2"), "If-Match": old_etag},
        )
        body = problem(stale, 409)
        assert f"report {report}" in body["detail"] and "approved" in body["detail"]
        # approving twice is refused by the lifecycle, with or without If-Match
        body = problem(client.post(f"/reports/{report}/approve", headers=people.bearer("rev2")), 409)
        assert f"report {report}" in body["detail"] and "approved" in body["detail"]
        assert client.get(f"/reports/{report}", headers=people.bearer("rev2")).json()["status"] == "approved"
        assert public_refs(client) == {new_ref}

    rows = audit_rows(people.db, first_audit)
    writes = [(user, action, target) for user, action, target, _source in rows]
    assert writes == [
        ("ana", "report.submit", f"report {report}"),
        ("rev", "report.approve", f"report {report}"),
    ]
    assert {source for *_rest, source in rows} == {"http"}
