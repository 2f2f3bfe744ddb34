"""Activity reports through the CLI: submit, show (with what approval would do), approve, the
hazard area's life in `hazards show`, and the completion report / handover certificate PDFs."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pypdf
import pytest
import shapely
import shapely.geometry
from test_broken_inputs import fingerprint, run

from conftest import make_hazard_feature, write_geojson
from dbs import database

SHA = shapely.box(17.800, 43.850, 17.804, 43.853)
CONFIRMED = shapely.box(17.801, 43.851, 17.803, 43.852)


def write(path: Path, report: dict[str, Any]) -> Path:
    path.write_text(json.dumps(report), encoding="utf-8")
    return path


def activity(activity_type: str, day: str, **fields: Any) -> dict[str, Any]:
    return {
        "type": "activity_report",
        "activity_type": activity_type,
        "date_of_information": day,
        "organisation": "Example Demining Operator",
        "hazard_areas": ["HA-000001"],
        **fields,
    }


def land(db: str, path: Path) -> dict[str, Any]:
    submitted = run(db, "report", "submit", str(path), "--json")
    assert submitted.returncode == 0, submitted.stderr
    report = json.loads(submitted.stdout)["report"]
    approved = run(db, "report", "approve", str(report), "--json")
    assert approved.returncode == 0, approved.stderr
    return {"report": report, **json.loads(approved.stdout)}


def pdf_text(path: Path) -> str:
    reader = pypdf.PdfReader(io.BytesIO(path.read_bytes()))
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())  # labels may wrap


@pytest.fixture
def db(tmp_path: Path) -> str:
    db = database(tmp_path / "registry.db")
    assert run(db, "init").returncode == 0
    hazards = write_geojson(
        tmp_path / "sha.geojson",
        [make_hazard_feature(SHA, id="s1", name="Polje kod škole", hazard_types="ap_mine")],
    )
    assert run(db, "import", str(hazards), "--date-of-information", "2026-01-01").returncode == 0
    return db


def test_survey_clearance_qc_handover_and_documents(db: str, tmp_path: Path) -> None:
    # a TS that confirms a block and reduces the rest: shown before approval, then approved
    ts = write(
        tmp_path / "ts.json",
        activity(
            "ts", "2026-03-01",
            outcomes=[
                {"kind": "confirmed", "geometry": shapely.geometry.mapping(CONFIRMED)},
                {"kind": "reduced", "geometry": shapely.geometry.mapping(SHA - CONFIRMED)},
            ],
        ),
    )  # fmt: skip
    submitted = run(db, "report", "submit", str(ts))
    assert submitted.returncode == 0 and "Report 2 (activity_report)" in submitted.stdout
    assert "activity ACT-000001, 2 outcome part(s)" in submitted.stdout
    shown = run(db, "report", "show", "2")
    assert "If approved now:" in shown.stdout and "splits off (new CHA)" in shown.stdout
    approved = run(db, "report", "approve", "2")
    assert (
        approved.returncode == 0
        and "HA-000001: SHA open → SHA closed; splits off HA-000002" in approved.stdout
    )

    clearance = activity(
        "clearance", "2026-04-01", hazard_areas=["HA-000002"], depth_cm=13, start_date="2026-03-20",
        end_date="2026-03-31", assets=["manual"],
        outcomes=[{"kind": "cleared", "geometry": shapely.geometry.mapping(CONFIRMED)}],
        devices=[
            {"category": "ap_mine", "model": "PMA-2", "quantity": 3, "disposal": "destroyed_in_situ",
             "position": {"type": "Point", "coordinates": [17.8015, 43.8515]}, "depth_cm": 5},
        ],
    )  # fmt: skip
    cleared = land(db, write(tmp_path / "clearance.json", clearance))
    land(
        db,
        write(tmp_path / "qc.json", activity("qc", "2026-04-10", hazard_areas=["HA-000002"], qc_passed=True)),
    )
    marker = {"type": "permanent_marker", "position": {"type": "Point", "coordinates": [17.801, 43.851]}}
    handover = land(
        db,
        write(
            tmp_path / "handover.json",
            activity(
                "handover", "2026-04-20", hazard_areas=["HA-000002"], end_date="2026-04-20", markers=[marker]
            ),
        ),
    )
    cha = json.loads(run(db, "hazards", "show", "HA-000002", "--json").stdout)
    assert (
        cha["status"] == "closed"
        and cha["handed_over_on"] == "2026-04-20"
        and cha["parent_ref"] == "HA-000001"
    )
    assert [d["model"] for d in cha["devices"]] == ["PMA-2"]

    # the completion report of the clearance and the handover certificate
    completion = tmp_path / "completion.pdf"
    made = run(db, "report", "pdf", str(cleared["report"]), "--out", str(completion), "--json")
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["document"] == "completion_report"
    text = pdf_text(completion)
    assert "Completion report" in text and "HA-000002" in text and "PMA-2" in text
    assert "Operator (team leader)" in text and "17.801000" in text
    certificate = tmp_path / "certificate.pdf"
    assert run(db, "report", "pdf", str(handover["report"]), "--out", str(certificate)).returncode == 0
    text = pdf_text(certificate)
    assert "Handover certificate" in text and "Received by (land user / local authority)" in text
    assert "permanent" in text.lower() and "must not touch" in text


def test_refused_and_broken_activity_reports_change_nothing(db: str, tmp_path: Path) -> None:
    before = fingerprint(db)
    bad = write(
        tmp_path / "bad.json",
        activity("clearance", "2026-03-10", start_date="2026-03-05", end_date="2026-03-01"),
    )
    failed = run(db, "report", "submit", str(bad))
    assert failed.returncode == 1 and "bad.json: 1 problem(s); nothing was submitted" in failed.stderr
    assert "end_date" in failed.stderr and "before start date" in failed.stderr
    assert fingerprint(db) == before

    # a well-formed clearance of an SHA: stored for review, but the rules refuse its approval
    sha_clearance = write(tmp_path / "sha.json", activity("clearance", "2026-03-01"))
    assert run(db, "report", "submit", str(sha_clearance)).returncode == 0
    refused = run(db, "report", "approve", "2")
    assert refused.returncode == 1
    assert "an SHA cannot be cleared before a technical survey" in refused.stderr
    listed = json.loads(run(db, "report", "list", "--status", "submitted", "--json").stdout)
    assert [r["id"] for r in listed] == [2]
    no_pdf = run(db, "report", "pdf", "2", "--out", str(tmp_path / "x.pdf"))
    assert no_pdf.returncode == 0  # a report under review gives a draft
    assert "DRAFT" in pdf_text(tmp_path / "x.pdf")
    assert run(db, "report", "reject", "2", "--reason", "survey first").returncode == 0
    gone = run(db, "report", "pdf", "2", "--out", str(tmp_path / "y.pdf"))
    assert gone.returncode == 1 and "is rejected: it has no document" in gone.stderr
    assert not (tmp_path / "y.pdf").exists()
