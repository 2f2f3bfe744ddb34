"""Minefield records through the CLI: the schema, submit and approve as a records custodian, `--as`
enforcement, item logs, overdue inspections, sign gaps, the record sheet (read back as text), the
handover package and the Article 7 forms. Every record here is SYNTHETIC."""

from __future__ import annotations

import io
import itertools
import json
import zipfile
from pathlib import Path
from typing import Any

import pyogrio
import pypdf
import pytest
from typer.testing import CliRunner

from clearland.cli.main import app
from dbs import database
from minefield_data import (
    AP_TYPE,
    FORM_G,
    FORM_G_RECORD,
    FORM_G_REPORTS,
    GEOD,
    expected_vertices,
    make_record,
)

RUNNER = CliRunner()


def cli(db: str, *args: str, user: str | None = None) -> Any:
    who = ["--as", user] if user else []
    return RUNNER.invoke(app, ["--db", str(db), *who, *args])


def ok(db: str, *args: str, user: str | None = "cus") -> Any:
    result = cli(db, *args, user=user)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout) if "--json" in args else result.stdout


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = database(tmp_path / "registry.db")
    ok(path, "init", user=None)
    ok(path, "users", "add", "cus", "--role", "records_custodian", "--role", "reviewer", user=None)
    ok(path, "users", "add", "rev", "--role", "reviewer", user=None)
    record = tmp_path / "record.json"
    record.write_text(
        json.dumps(make_record(items=[{"id": "I1", "lon": 18.1015, "lat": 44.70055, "category": "AP"}])),
        encoding="utf-8",
    )
    submitted = ok(path, "report", "submit", str(record), "--json")
    ok(path, "report", "approve", str(submitted["report"]), "--json")
    return path


def test_schema_by_either_name() -> None:
    for name in ("minefield-record", "minefield_record"):
        result = RUNNER.invoke(app, ["report", "schema", name])
        assert result.exit_code == 0, result.output
        schema = json.loads(result.stdout)
        assert {"reference_points", "turning_points", "mines", "perimeter"} <= set(schema["properties"])
        assert schema["examples"][0]["type"] == "minefield_record"


def test_as_enforces_the_records_custodian_role(db: str, tmp_path: Path) -> None:
    log = tmp_path / "log.csv"
    log.write_text("id,lon,lat,category\nI1,18.1015,44.70055,AP\n", encoding="utf-8")
    for args in (
        ("minefields", "show", "MFR-000001"),
        ("minefields", "list"),
        ("minefields", "sheet", "MFR-000001", "--out", str(tmp_path / "s.pdf")),
        ("minefields", "items", "MFR-000001", str(log)),
        ("export", str(tmp_path / "m.geojson"), "--as", "minefield-records"),
    ):
        for user in ("rev", None):  # a reviewer, and the local admin
            result = cli(db, *args, user=user)
            assert result.exit_code == 1 and "records_custodian" in result.output, (args, user, result.output)
    assert not (tmp_path / "s.pdf").exists() and not (tmp_path / "m.geojson").exists()
    shown = ok(db, "minefields", "show", "MFR-000001", "--json")
    assert shown["mines"][0]["type_name"] == AP_TYPE and shown["hazard_ref"] == "HA-000001"
    public = cli(
        db, "export", str(tmp_path / "m.geojson"), "--as", "minefield-records", "--public", user="cus"
    )
    assert public.exit_code == 1 and "never exported publicly" in public.output


def test_item_log_json(db: str, tmp_path: Path) -> None:
    log = tmp_path / "log.csv"
    log.write_text("id,lon,lat,category,time\nI1,18.1015,44.70055,AP,2026-04-01T09:00\nX9,18.2,44.7,AT,\n")
    result = ok(db, "minefields", "items", "MFR-000001", str(log), "--margin", "12", "--json")
    assert result["categories"]["AP"] == {"recorded": 3, "logged": 1, "missing": 2, "extra": 0}
    assert [i["id"] for i in result["outside"]] == ["X9"] and result["unrecorded_ids"] == ["X9"]
    assert result["marking_perimeter"]["margin_m"] == 12 and not result["matches"]
    bad = tmp_path / "bad.csv"
    bad.write_text("id,lon,lat,category\nI1,east,44.7,AP\n")
    refused = cli(db, "minefields", "items", "MFR-000001", str(bad), user="cus")
    assert refused.exit_code == 1 and "lon" in refused.output


def test_marking_overdue_and_sign_gaps(db: str, tmp_path: Path) -> None:
    overdue = ok(db, "minefields", "overdue", "--days", "30", "--json")
    assert [r["ref"] for r in overdue] == ["MFR-000001"] and overdue[0]["last_inspected"] is None
    corners = expected_vertices()
    report = {
        "type": "marking_inspection",
        "minefield_ref": "MFR-000001",
        "date_of_information": "2026-02-10",
        "markers": [{"type": "sign", "position": {"type": "Point", "coordinates": list(c)}} for c in corners],
        "inspection": {"inspected_on": "2026-02-10", "inspector": "Synthetic Inspector", "condition": "good"},
    }
    path = tmp_path / "marking.json"
    path.write_text(json.dumps(report), encoding="utf-8")
    submitted = ok(db, "report", "submit", str(path), "--json", user="rev")
    ok(db, "report", "approve", str(submitted["report"]), "--json", user="rev")
    gaps = ok(db, "minefields", "sign-gaps", "MFR-000001", "--max-gap", "30", "--json")
    # signs only at the corners: one unwarned stretch on each side longer than twice 30 m
    ring = [*corners, corners[0]]
    sides = [GEOD.inv(*a, *b)[2] for a, b in itertools.pairwise(ring)]
    assert gaps["signs"] == 4 and len(gaps["gaps"]) == sum(1 for s in sides if s > 60.0) >= 3
    assert gaps["unwarned_m"] == pytest.approx(sum(s - 60.0 for s in sides if s > 60.0), abs=4.0)
    assert all(g["length_m"] > 0 and len(g["start"]) == 2 for g in gaps["gaps"])
    text = ok(db, "minefields", "sign-gaps", "MFR-000001")
    assert "stretches with no sign within 50 m" in text


def submit_marking(db: str, tmp_path: Path, user: str) -> int:
    """A sign and a fence along the first side, and an inspection (SYNTHETIC), submitted by ``user``."""
    corners = expected_vertices()
    fence = {"type": "LineString", "coordinates": [list(c) for c in corners[:2]]}
    report = {
        "type": "marking_inspection",
        "minefield_ref": "MFR-000001",
        "date_of_information": "2026-02-10",
        "markers": [
            {"type": "sign", "position": {"type": "Point", "coordinates": list(corners[0])}},
            {"type": "fence", "position": fence},
        ],
        "inspection": {
            "inspected_on": "2026-02-10",
            "inspector": "Synthetic Inspector Q",
            "condition": "good",
        },
    }
    path = tmp_path / "marking.json"
    path.write_text(json.dumps(report), encoding="utf-8")
    return int(ok(db, "report", "submit", str(path), "--json", user=user)["report"])


def test_report_show_keeps_record_details_from_others(db: str, tmp_path: Path) -> None:
    refused = cli(db, "report", "show", "1", user="rev")  # the minefield record's own report
    assert refused.exit_code == 1 and "records_custodian" in refused.output
    report = submit_marking(db, tmp_path, "rev")
    for args in (("report", "show", str(report)), ("report", "show", str(report), "--json")):
        shown = " ".join(cli(db, *args, user="rev").output.split())
        assert "HA-000001" in shown and "fence" in shown, shown
        for secret in ("MFR-000001", "minefield_ref", "Synthetic Inspector Q"):
            assert secret not in shown, (args, secret)
        assert "restricted" in shown
        custodian = " ".join(cli(db, *args, user="cus").output.split())
        assert "MFR-000001" in custodian and "Synthetic Inspector Q" in custodian, custodian
    table = ok(db, "report", "show", str(report), user="rev")
    (row,) = [line for line in table.splitlines() if "INS-000001" in line]
    assert "(restricted)" in row


def pdf_text(path: Path) -> str:
    reader = pypdf.PdfReader(io.BytesIO(path.read_bytes()))
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())  # cells may wrap


def test_record_sheet_carries_every_reference_and_turning_point(db: str, tmp_path: Path) -> None:
    out = tmp_path / "sheet.pdf"
    ok(db, "minefields", "sheet", "MFR-000001", "--out", str(out))
    text = pdf_text(out)
    record = ok(db, "minefields", "show", "MFR-000001", "--json")
    points = [*record["reference_points"], *record["turning_points"]]
    assert len(points) == 6
    for point in points:
        assert f"{point['lon']:.7f}" in text and f"{point['lat']:.7f}" in text, point
    for words in ("Minefield record sheet", "RESTRICTED", "SYNTH-AP-1", "Signature", "Records custodian"):
        assert words in text
    for tp in record["turning_points"]:
        assert f"{tp['bearing_deg']:.2f}°" in text and f"{tp['distance_m']:.2f}" in text


def test_record_sheet_draws_the_fence_of_an_approved_marking_report(db: str, tmp_path: Path) -> None:
    ok(db, "report", "approve", str(submit_marking(db, tmp_path, "rev")), "--json", user="rev")
    out = tmp_path / "sheet.pdf"
    ok(db, "minefields", "sheet", "MFR-000001", "--out", str(out))
    text = pdf_text(out)
    start = expected_vertices()[0]
    assert f"line of 2 points from {start[0]:.7f}, {start[1]:.7f}" in text
    assert "Dashed violet lines: fences." in text and "fence 1, 2 … turning points" in text  # the legend


def test_handover_package(db: str, tmp_path: Path) -> None:
    out = tmp_path / "handover.zip"
    ok(db, "minefields", "package", "MFR-000001", "--out", str(out))
    with zipfile.ZipFile(out) as archive:
        assert sorted(archive.namelist()) == ["MFR-000001-record-sheet.pdf", "MFR-000001.gpkg"]
        archive.extractall(tmp_path / "x")
    layers = dict(pyogrio.list_layers(tmp_path / "x" / "MFR-000001.gpkg"))
    assert layers == {
        "perimeter": "Polygon",
        "reference_points": "Point",
        "turning_points": "Point",
        "items": "Point",
    }
    info = pyogrio.read_info(tmp_path / "x" / "MFR-000001.gpkg", layer="turning_points")
    assert info["features"] == 4 and info["crs"] == "EPSG:4326"


def test_treaty_article7(db: str, tmp_path: Path) -> None:
    out = tmp_path / "article7.xlsx"
    result = ok(db, "treaty", "article7", "--year", "2026", "--xlsx", str(out), "--json")
    (row,) = result["form_c"]["rows"]  # the record's AP line; its AT line is not Form C's business
    assert row["hazard_area"] == "HA-000001" and row["minefield_record"] == "MFR-000001"
    assert (
        row["mine_type"] == AP_TYPE and row["quantity"] == 3 and row["date_laid"] == "1995-05-02 – 1995-05-02"
    )
    assert result["form_g"] == {"rows": [], "destroyed": 0}
    from openpyxl import load_workbook

    book = load_workbook(out)
    assert book.sheetnames == ["Form C", "Form G"]
    values = [c.value for c in book["Form C"][3]]
    assert "HA-000001" in values and AP_TYPE in values and 3 in values
    refused = cli(db, "treaty", "article7", "--year", "2026", user="rev")
    assert refused.exit_code == 1 and "records_custodian" in refused.output


def test_treaty_article7_form_g_from_activity_reports(tmp_path: Path) -> None:
    """Clearance reports with devices in 2025 and 2026 go through `report submit` / `approve`
    (one stays submitted, one is unapproved); Form G of each year by `--json` and `--xlsx`."""
    from openpyxl import load_workbook

    db = database(tmp_path / "registry.db")
    ok(db, "init", user=None)
    ok(db, "users", "add", "cus", "--role", "records_custodian", "--role", "reviewer", user=None)
    files = [(make_record(**FORM_G_RECORD), "approved"), *FORM_G_REPORTS]
    for n, (report, fate) in enumerate(files):
        path = tmp_path / f"report-{n}.json"
        path.write_text(json.dumps(report), encoding="utf-8")
        submitted = ok(db, "report", "submit", str(path), "--json")
        if fate == "submitted":
            continue
        ok(db, "report", "approve", str(submitted["report"]), "--json")
        if fate == "unapproved":
            ok(db, "report", "unapprove", str(submitted["report"]), "--reason", "SYNTHETIC: twice", user=None)
    for year, expected in FORM_G.items():
        out = tmp_path / f"article7-{year}.xlsx"
        result = ok(db, "treaty", "article7", "--year", str(year), "--json", "--xlsx", str(out))
        assert result["form_g"] == expected, year
        sheet = load_workbook(out)["Form G"]
        rows = [[c for c in row if c is not None] for row in sheet.iter_rows(min_row=3, values_only=True)]
        body = [[r["mine_type"], r["destroyed"], r["removed"], r["rendered_safe"]] for r in expected["rows"]]
        assert rows == [*body, ["total destroyed", expected["destroyed"]]], year
    text = ok(db, "treaty", "article7", "--year", "2025")
    assert "Form G — AP mines destroyed in 2025: 6" in " ".join(text.split())
