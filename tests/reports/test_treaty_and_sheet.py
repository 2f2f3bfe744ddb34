"""Article 7 tables and the record sheet (text read back with pypdf, page 1 rasterised with pdfium),
from SYNTHETIC state dicts (no database)."""

from __future__ import annotations

import io
import itertools

import numpy as np
import pypdf
import pypdfium2
import shapely

from clearland.reports.minefield_sheet import SheetData, render_sheet, sheet_view
from clearland.reports.pdf_map import FENCE_COLOUR, MAP_FRAME
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


SHEET_RECORD = {
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
SIGN = {"ref": "MK-2", "type": "sign", "condition": "good", "lon": 18.1005, "lat": 44.6998}
#: a fence along the south and east sides, 20-25 m outside the perimeter (SYNTHETIC)
FENCE_LINE = [(18.0998, 44.6998), (18.1012, 44.6998), (18.1012, 44.7012)]
FENCE = {"ref": "MK-1", "type": "fence", "condition": "damaged", "coordinates": [list(c) for c in FENCE_LINE]}
RENDER_SCALE = 2  # pdfium renders 72 dpi × scale
PX_PER_MM = 72 / 25.4 * RENDER_SCALE


def sheet(markers: list[dict[str, object]]) -> SheetData:
    return SheetData("Synthetic Authority", SHEET_RECORD, None, markers, [])


def pdf_text(pdf: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return " ".join(" ".join(p.extract_text() for p in reader.pages).split())  # cells may wrap


def legend_words(pdf: bytes) -> list[str]:
    """The words printed in the legend band under the map on page 1 (found by their position)."""
    top = MAP_FRAME[1] + MAP_FRAME[3]
    found: list[str] = []

    def visit(text: str, _cm: object, tm: list[float], _font: object, _size: object) -> None:
        y_mm = 297.0 - tm[5] * 25.4 / 72  # PDF y runs upwards from the bottom of the A4 page
        if top < y_mm < top + 7 and text.strip():
            found.extend(text.split())

    pypdf.PdfReader(io.BytesIO(pdf)).pages[0].extract_text(visitor_text=visit)
    return found


def page1_pixels(pdf: bytes) -> np.ndarray:
    document = pypdfium2.PdfDocument(pdf)
    try:
        return np.asarray(document[0].render(scale=RENDER_SCALE).to_pil().convert("RGB")).astype(int)
    finally:
        document.close()


def fence_pixels(image: np.ndarray, box_mm: tuple[float, float, float, float] = MAP_FRAME) -> int:
    """Pixels of the fence colour inside ``box_mm`` (x, y, width, height; default the map frame)."""
    x, y, w, h = (round(v * PX_PER_MM) for v in box_mm)
    part = image[y : y + h, x : x + w]
    return int((np.abs(part - np.array(FENCE_COLOUR)).max(axis=2) <= 3).sum())


def test_sheet_lists_measured_bearings_and_fence_lines() -> None:
    pdf = render_sheet(sheet([FENCE, SIGN]))
    text = pdf_text(pdf)
    assert "20.00° (m)" in text and "102.00" in text
    assert "line of 3 points from 18.0998000, 44.6998000" in text
    assert "No inspection is recorded." in text
    assert render_sheet(sheet([FENCE, SIGN])) == pdf  # deterministic


def test_sheet_map_draws_fences_dashed_and_names_them_in_the_legend() -> None:
    with_fence = render_sheet(sheet([FENCE, SIGN]))
    without = render_sheet(sheet([SIGN]))
    assert "fence" in legend_words(with_fence) and "fence" not in legend_words(without)
    assert "cleared" not in legend_words(with_fence)  # a record has no land release outcomes
    assert "Dashed violet lines: fences." in pdf_text(with_fence)
    image = page1_pixels(with_fence)
    assert fence_pixels(page1_pixels(without)) == 0
    assert fence_pixels(image) > 300
    view = sheet_view(sheet([FENCE, SIGN]))
    for (lon0, lat0), (lon1, lat1) in itertools.pairwise(FENCE_LINE):
        for share in np.linspace(0.05, 0.95, 10):
            x, y = view.to_page(lon0 + (lon1 - lon0) * share, lat0 + (lat1 - lat0) * share)
            # a window longer than one dash and gap (2.4 mm) always holds a piece of dash
            assert fence_pixels(image, (x - 1.3, y - 1.3, 2.6, 2.6)) > 0, (share, x, y)
    # dashed, not solid: along the east side some points are gaps
    (lon0, lat0), (lon1, lat1) = FENCE_LINE[1:]
    on_line = []
    for share in np.linspace(0.05, 0.95, 60):
        x, y = view.to_page(lon0 + (lon1 - lon0) * share, lat0 + (lat1 - lat0) * share)
        on_line.append(fence_pixels(image, (x - 0.05, y - 0.05, 0.1, 0.1)) > 0)
    assert 0.4 < sum(on_line) / len(on_line) < 0.9


def test_a_fence_far_off_is_listed_but_not_drawn() -> None:
    far = {**FENCE, "coordinates": [[18.1, 44.6998], [18.6, 44.6998]]}  # ~40 km east: a wrong CRS?
    pdf = render_sheet(sheet([far, SIGN]))
    assert fence_pixels(page1_pixels(pdf)) == 0 and "fence" not in legend_words(pdf)
    assert "1 position(s) or fence(s) far from the perimeter are listed below" in pdf_text(pdf)
    assert sheet_view(sheet([far, SIGN])) == sheet_view(sheet([SIGN]))  # the map is not shrunk
