"""A real client: `clearland serve` in its own process on a free loopback port, read by GDAL's
OGC API – Features driver (as QGIS reads it) through pyogrio."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pyogrio
import pytest
import shapely
from apidata import SARAJEVO, SECRETS, built_registry

from clearland.domain.vocab import RecordKind
from clearland.services import queries
from clearland.services.registry import open_registry
from clearland.settings import Settings
from conftest import reference_area_m2


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _clearland() -> list[str]:
    script = Path(sys.executable).with_name("clearland")
    return [str(script)] if script.exists() else [sys.executable, "-m", "clearland.cli.main"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    db = built_registry(tmp_path_factory)
    port = _free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLEARLAND_")}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*_clearland(), "--db", db, "serve", "--port", str(port)],
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
                with urllib.request.urlopen(url + "/", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"clearland serve did not answer in 30 s:\n{log.read_text()}")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _stored(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    registry = open_registry(Settings(), db=built_registry(tmp_path_factory))
    try:
        return {r["ref"]: r for r in queries.records(registry, RecordKind.HAZARD_AREA, public=True)}
    finally:
        registry.close()


def test_gdal_lists_the_collections_as_layers(server):
    layers = dict(pyogrio.list_layers(f"OAPIF:{server}"))
    # admin-areas has no feature in this registry: GDAL cannot tell its geometry type
    assert layers == {
        "hazard-areas": "Polygon",
        "released-land": "Polygon",
        "markers": "Point",
        "admin-areas": "Unknown",
    }


def test_gdal_reads_every_hazard_area_with_its_attributes_and_geometry(server, tmp_path_factory):
    stored = _stored(tmp_path_factory)
    frame = pyogrio.read_dataframe(f"OAPIF:{server}", layer="hazard-areas")
    assert sorted(frame["ref"]) == sorted(stored) and len(frame) == 16
    assert list(frame["id"]) == list(frame["ref"])
    public = {k for record in stored.values() for k in record} - {"geometry"}
    assert set(frame.columns) == public | {"id", "geometry"}
    for row in frame.itertuples(index=False):
        record = stored[row.ref]
        assert row.name == record["name"] and row.category == record["category"]
        assert row.status == record["status"] and list(row.hazard_types) == record["hazard_types"]
        assert row.area_m2 == pytest.approx(record["area_m2"])
        assert row.remaining_area_m2 == pytest.approx(record["remaining_area_m2"])
        assert str(row.date_of_information)[:10] == record["date_of_information"]
        assert row.geometry.equals(record["geometry"])
        assert reference_area_m2(row.geometry) == pytest.approx(record["area_m2"], rel=1e-6)
    for secret in SECRETS:
        assert secret not in repr(frame.drop(columns="geometry").to_dict("records"))


def test_gdal_pages_through_next_links_and_filters_by_bbox(server, tmp_path_factory):
    # four features a page: GDAL must follow `next` three times to get all sixteen
    paged = pyogrio.read_dataframe(f"OAPIF:{server}", layer="hazard-areas", PAGE_SIZE=4)
    assert sorted(paged["ref"]) == sorted(_stored(tmp_path_factory))
    minx, miny, maxx, maxy = shapely.union_all(SARAJEVO).bounds
    boxed = pyogrio.read_dataframe(
        f"OAPIF:{server}", layer="hazard-areas", bbox=(minx - 0.001, miny - 0.001, maxx + 0.001, maxy + 0.001)
    )
    assert sorted(boxed["ref"]) == ["HA-000013", "HA-000014", "HA-000015"]


def test_gdal_reads_released_land_and_markers_and_a_past_registry(server):
    released = pyogrio.read_dataframe(f"OAPIF:{server}", layer="released-land")
    assert sorted(released["ref"]) == ["OUT-000001", "OUT-000003"] and set(released["kind"]) == {"reduced"}
    markers = pyogrio.read_dataframe(f"OAPIF:{server}", layer="markers")
    assert list(markers["activity_ref"]) == ["ACT-000001", "ACT-000001"]
    # query parameters on the connection string go on every request: the registry as it was
    before = pyogrio.read_dataframe(f"OAPIF:{server}?as_of=2026-02-01", layer="hazard-areas")
    assert len(before) == 12 and set(before["status"]) == {"open"}


def test_the_served_landing_page_names_the_registry_revision(server):
    with urllib.request.urlopen(server + "/?f=json") as answer:
        landing = json.load(answer)
        assert answer.headers["server"] is None  # no server banner
    assert landing["registry"]["latest_information"] == "2026-03-05"
