"""Article 7 tables and the record sheet, from SYNTHETIC state dicts (no database)."""

from __future__ import annotations

import io

import pypdf
import shapely

from clearland.reports.minefield_sheet import SheetData, render_sheet
from clearland.reports.treaty import form_c, form_g

SQUARE = shapely.box(18.1, 44.7, 18.101, 44.701)


def hazard(ref: str, **fields: object) -> dict[str, object]:
    return {"ref": ref, "category": "CHA", "status": "open", "hazard_types": ["ap_mine"], "geometry": SQUARE,
            "area_m2": 8800.0, "remaining_area_m2": 8800.0, **fields}  # fmt: skip


RECORD = {
    "ref": "MFR-000009",
    "laid_from": "1994-03-01T08:00:00",
    "laid_to": "1994-03-02T17:00:00",
    "mines": [
        {"type_name": "SYNTH-AP (synthetic)", "category": "AP", "quantity": 12},
        {"type_name": "SYNTH-AT (synthetic)", "category": "AT", "quantity": 4},
    ],
}


def test_form_c_rows_with_and_without_a_record() -> None:
    result = form_c(
        [
            hazard("HA-1", minefield_record_ref="MFR-000009"),
            hazard("HA-2"),  # suspected, no record
            hazard("HA-3", status="closed"),  # released: not a mined area any more
            hazard("HA-4", hazard_types=["uxo"]),  # no AP mines
        ],
        {"MFR-000009": RECORD},
    )
    assert [(r["hazard_area"], r["mine_type"], r["quantity"]) for r in result["rows"]] == [
        ("HA-1", "SYNTH-AP (synthetic)", 12),
        ("HA-2", "unknown", None),
    ]
    assert result["mined_areas"] == 2 and result["ap_mines_recorded"] == 12
    assert result["rows"][0]["date_laid"] == "1994-03-01 – 1994-03-02"


def test_form_g_counts_destroyed_ap_mines_by_type() -> None:
    devices = [
        {"category": "ap_mine", "model": "SYNTH-AP", "quantity": 3, "disposal": "destroyed_in_situ"},
        {"category": "ap_mine", "model": "SYNTH-AP", "quantity": 2, "disposal": "removed"},
        {"category": "ap_mine", "model": None, "quantity": 1, "disposal": "destroyed_in_situ"},
        {"category": "uxo", "model": "SYNTH-SHELL", "quantity": 9, "disposal": "destroyed_in_situ"},
    ]
    result = form_g(devices)
    assert result["rows"] == [
        {"mine_type": "SYNTH-AP", "destroyed": 3, "removed": 2, "rendered_safe": 0},
        {"mine_type": "unknown", "destroyed": 1, "removed": 0, "rendered_safe": 0},
    ]
    assert result["destroyed"] == 4


def test_sheet_lists_measured_bearings_and_fence_lines() -> None:
    record = {
        **RECORD,
        "name": "SYNTHETIC sheet test",
        "recording_unit": "Synthetic unit",
        "emplacing_method": "hand",
        "date_of_information": "2026-01-01",
        "area_m2": 8800.0,
        "reference_points": [
            {"id": "A", "lon": 18.0995, "lat": 44.6995, "description": "synthetic"},
            {"id": "B", "lon": 18.1015, "lat": 44.6995, "description": "synthetic"},
        ],
        "turning_points": [
            {
                "id": f"P{i}",
                "lon": x,
                "lat": y,
                "from": "A",
                "bearing_deg": 10.0 * i,
                "distance_m": 100.0 + i,
                "measured": True,
            }
            for i, (x, y) in enumerate(SQUARE.exterior.coords[:-1], start=1)
        ],
        "geometry": SQUARE,
    }
    markers = [
        {
            "ref": "MK-1",
            "type": "fence",
            "condition": "damaged",
            "coordinates": [[18.1, 44.7], [18.101, 44.7]],
        },
        {"ref": "MK-2", "type": "sign", "condition": "good", "lon": 18.1005, "lat": 44.7},
    ]
    pdf = render_sheet(SheetData("Synthetic Authority", record, None, markers, []))
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    text = " ".join(" ".join(p.extract_text() for p in reader.pages).split())
    assert "20.00° (m)" in text and "102.00" in text
    assert "line of 2 points from 18.1000000, 44.7000000" in text
    assert "No inspection is recorded." in text
    assert render_sheet(SheetData("Synthetic Authority", record, None, markers, [])) == pdf  # deterministic
