"""Screening jobs end to end over HTTP: a points file posted, the job followed until done, its
result downloaded and compared row by row with ``screening.screen`` run directly; failures,
deletion, expiry, and another worker process reading a job from the shared folder."""

from __future__ import annotations

import csv
import io
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from apidata import DOBOJ, built_registry, settings_for
from fastapi.testclient import TestClient
from openapi_schema_validator import OAS30Validator

from clearland.api.app import create_app
from clearland.services import screening
from clearland.services.jobs import Jobs
from clearland.services.registry import Registry, open_registry
from clearland.settings import Settings
from conftest import REAL

GPX = REAL / "gpx-gpxpy-tracks"


@pytest.fixture(scope="module")
def jobs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("jobs")


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, jobs_dir: Path) -> Iterator[TestClient]:
    settings = settings_for(built_registry(tmp_path_factory), jobs_dir=jobs_dir, check_rate_per_minute=0)
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    opened = open_registry(Settings(), db=built_registry(tmp_path_factory))
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def points_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Points inside, near and far from the Doboj areas, and rows that cannot be screened."""
    rows = ["fix,x,y"]
    for i, area in enumerate(DOBOJ):
        cx, cy = area.centroid.coords[0]
        rows += [f"in-{i},{cx},{cy}", f"near-{i},{cx},{area.bounds[3] + 0.0005}", f"far-{i},{cx + 1},{cy}"]
    rows += ["bad-lat,18.1,95", "bad-number,east,44.7", "missing,,"]
    path = tmp_path_factory.mktemp("points") / "fixes.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def wait_for(client: TestClient, location: str, timeout_s: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        job = client.get(location).json()
        if job["state"] in ("done", "failed") or time.monotonic() > deadline:
            return job
        time.sleep(0.05)


def start(client: TestClient, path: Path, **params: Any) -> Any:
    return client.post(
        "/screen", content=path.read_bytes(), params=params, headers={"content-type": "text/csv"}
    )


def test_a_job_runs_to_the_same_rows_as_screening_directly(client, registry, points_csv, tmp_path):
    response = start(
        client, points_csv, lon_col="x", lat_col="y", id_col="fix", within_m=100, filename="fixes.csv"
    )
    assert response.status_code == 202, response.text
    location = response.headers["location"]
    queued = response.json()
    assert location == f"http://testserver/jobs/{queued['id']}" and len(queued["id"]) == 32
    assert queued["state"] in ("queued", "running", "done") and queued["input_name"] == "fixes.csv"

    job = wait_for(client, location)
    assert job["state"] == "done", job
    assert job["points_done"] == 39 and job["progress"] == 1.0
    counts = job["summary"]["counts"]
    assert counts["inside"] == 12 and counts["invalid_input"] == 3 and counts["near"] >= 10
    assert "input" not in job["summary"] and "output" not in job["summary"]  # no server paths
    (result_link,) = [x for x in job["links"] if x["rel"] == "enclosure"]

    download = client.get(result_link["href"])
    assert download.status_code == 200 and download.headers["content-type"].startswith("text/csv")
    assert 'filename="fixes-screened.csv"' in download.headers["content-disposition"]
    direct = tmp_path / "direct.csv"
    summary = screening.screen(
        registry, points_csv, direct, within_m=100, lon_col="x", lat_col="y", id_col="fix"
    )
    assert summary["counts"] == counts
    over_http = list(csv.DictReader(io.StringIO(download.text)))
    assert over_http == list(csv.DictReader(io.StringIO(direct.read_text(encoding="utf-8"))))
    assert {r["id"]: r["status"] for r in over_http}["in-3"] == "inside"

    document = client.get("/openapi.json").json()
    schema = {**document["components"]["schemas"]["Job"], "components": document["components"]}
    OAS30Validator(schema).validate(job)
    OAS30Validator(schema).validate(queued)
    assert {"/screen", "/jobs/{jobId}", "/jobs/{jobId}/result"} <= set(document["paths"])


def test_parquet_results_and_gpx_input(client, registry, tmp_path):
    body = (GPX / "korita-zbevnica.gpx").read_bytes()
    response = client.post("/screen", content=body, params={"format": "gpx", "out_format": "parquet"})
    assert response.status_code == 202, response.text
    job = wait_for(client, response.headers["location"])
    assert job["state"] == "done" and job["out_format"] == "parquet"
    download = client.get(f"/jobs/{job['id']}/result")
    assert download.headers["content-type"] == "application/vnd.apache.parquet"
    table = pq.read_table(io.BytesIO(download.content))
    direct = tmp_path / "direct.parquet"
    screening.screen(registry, GPX / "korita-zbevnica.gpx", direct)
    assert table.to_pylist() == pq.read_table(direct).to_pylist()


def test_a_job_that_cannot_read_its_file_fails_with_the_reason(client, tmp_path):
    no_coordinates = tmp_path / "names.csv"
    no_coordinates.write_text("name,colour\na,red\n", encoding="utf-8")
    response = start(client, no_coordinates, filename="names.csv")
    job = wait_for(client, response.headers["location"])
    assert job["state"] == "failed" and job["error"]["code"].startswith("input")
    assert str(client.app.state.jobs.folder) not in str(job["error"])  # type: ignore[attr-defined]
    result = client.get(f"/jobs/{job['id']}/result")
    assert result.status_code == 409 and result.headers["content-type"] == "application/problem+json"
    assert "failed" in result.json()["detail"]


def test_no_result_before_the_job_is_done(client):
    jobs: Jobs = client.app.state.jobs  # type: ignore[attr-defined]
    waiting = jobs.prepare(within_m=50)  # prepared, its file not yet there: queued
    response = client.get(f"/jobs/{waiting.id}/result")
    assert response.status_code == 409 and "queued" in response.json()["detail"]
    assert client.get(f"/jobs/{waiting.id}").json()["state"] == "queued"
    jobs.delete(waiting.id)
    assert client.get(f"/jobs/{waiting.id}").status_code == 404


def test_bad_requests_unknown_jobs_and_deleting(client, points_csv):
    for params, parameter in (
        ({"within_m": -5}, "within_m"),
        ({"out_format": "xlsx"}, "out_format"),
        ({"format": "doc"}, "format"),
        ({"colour": "red"}, "colour"),
    ):
        response = start(client, points_csv, **params)
        assert response.status_code == 400 and response.headers["content-type"] == "application/problem+json"
        assert parameter in [e["parameter"] for e in response.json()["errors"]]
    for url in ("/jobs/nope", "/jobs/nope/result", "/jobs/" + "A" * 32, "/jobs/..%2F..%2Fetc"):
        missing = client.get(url)
        assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    job = wait_for(client, start(client, points_csv, lon_col="x", lat_col="y").headers["location"])
    assert client.delete(f"/jobs/{job['id']}").status_code == 204
    assert client.get(f"/jobs/{job['id']}").status_code == 404
    assert client.get(f"/jobs/{job['id']}/result").status_code == 404


def test_old_jobs_are_deleted_and_other_workers_see_jobs_in_the_shared_folder(
    client, registry, points_csv, jobs_dir
):
    job = wait_for(client, start(client, points_csv, lon_col="x", lat_col="y").headers["location"])
    other_worker = Jobs(registry, jobs_dir, ttl_s=3600)
    seen = other_worker.get(job["id"])
    assert seen.state == "done" and seen.points_done == 39
    assert other_worker.result(job["id"])[1].exists()
    # an hour and a minute later, the next look deletes it with its files
    old = time.time() - 3660
    os.utime(jobs_dir / job["id"] / "job.json", (old, old))
    assert other_worker.sweep() == 1
    assert not (jobs_dir / job["id"]).exists()
    assert client.get(f"/jobs/{job['id']}").status_code == 404


def test_too_many_jobs_at_once_is_503_and_screen_has_its_own_body_limit(tmp_path_factory, points_csv):
    settings = settings_for(
        built_registry(tmp_path_factory),
        jobs_dir=tmp_path_factory.mktemp("busy"),
        max_jobs=1,
        max_body_bytes=10,
        check_rate_per_minute=0,
    )
    with TestClient(create_app(settings)) as client:
        client.app.state.jobs.prepare()  # type: ignore[attr-defined]  # one job waiting
        busy = start(client, points_csv, lon_col="x", lat_col="y")
        assert busy.status_code == 503 and busy.headers["retry-after"] == "60"
        # the 10-byte limit of other routes is not the limit of /screen
        assert client.post("/check/route?format=gpx", content=b"x" * 11).status_code == 413
