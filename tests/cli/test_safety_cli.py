"""`clearland check …` and `clearland screen` as a user runs them."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import shapely
from test_broken_inputs import run

from conftest import REAL, make_hazard_feature, write_geojson
from dbs import database

GPX = REAL / "gpx-gpxpy-tracks"
# SYNTHETIC hazard area across the korita-zbevnica track (not a real hazard)
SYNTHETIC = shapely.box(14.02, 45.25, 14.03, 45.26)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    tmp = tmp_path_factory.mktemp("safety")
    db = database(tmp / "registry.db")
    assert run(db, "init").returncode == 0
    hazards = write_geojson(
        tmp / "h.geojson",
        [make_hazard_feature(SYNTHETIC, id="s", category="CHA", marking="signs", name="SYNTHETIC")],
    )
    assert run(db, "import", str(hazards), "--date-of-information", "2026-03-01").returncode == 0
    return db


def test_check_point_words_and_json(db: str) -> None:
    shown = run(db, "check", "point", "14.025", "45.255")
    assert shown.returncode == 0
    assert "Inside a recorded hazard area" in shown.stdout and "HA-000001" in shown.stdout
    assert "information up to 2026-03-01" in shown.stdout and "not proof of safety" in shown.stdout
    far = json.loads(run(db, "check", "point", "14.1", "45.3", "--within", "50", "--json").stdout)
    assert far["answer"] == "no_record" and far["within_m"] == 50 and far["registry"]["revision"] >= 1
    swapped = run(db, "check", "point", "45.255", "114.025")
    assert swapped.returncode == 1 and "longitude first" in swapped.stderr


def test_check_route_and_area(db: str, tmp_path: Path) -> None:
    route = json.loads(run(db, "check", "route", str(GPX / "Mojstrovka.gpx"), "--json").stdout)
    assert route["answer"] == "no_record" and "corrupt timestamp" in route["warnings"][0]
    field = write_geojson(
        tmp_path / "field.geojson", [make_hazard_feature(shapely.box(14.0301, 45.25, 14.031, 45.251))]
    )
    area = json.loads(run(db, "check", "area", str(field), "--json").stdout)
    assert area["answer"] == "near" and 0 < area["hazards"][0]["distance_m"] < 100
    wrong = run(db, "check", "area", str(GPX / "route.gpx"))
    assert wrong.returncode == 1 and "routes and tracks, not areas" in wrong.stderr


def test_screen_csv_with_summary(db: str, tmp_path: Path) -> None:
    src = tmp_path / "fixes.csv"
    src.write_text("id,lon,lat\n1,14.025,45.255\n2,14.5,45.5\n3,x,45\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    done = run(db, "screen", str(src), "--out", str(out), "--within", "50")
    assert done.returncode == 0, done.stderr
    assert "3 points screened" in done.stdout and "invalid_input" in done.stdout
    with out.open(encoding="utf-8") as fh:
        statuses = [r["status"] for r in csv.DictReader(fh)]
    assert statuses == ["inside", "no_record", "invalid_input"]
    as_json = json.loads(run(db, "screen", str(src), "--out", str(tmp_path / "o.parquet"), "--json").stdout)
    assert as_json["counts"] == {"inside": 1, "near": 0, "no_record": 1, "invalid_input": 1}
    missing = run(db, "screen", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "x.csv"))
    assert missing.returncode == 1 and "file not found" in missing.stderr
    assert not (tmp_path / "x.csv").exists()
