"""Land-release documents as PDF: the text is read back with pypdf, page 1 is rasterised with
pdfium and the map checked pixel by pixel at positions computed from the module's own map view."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import math
from typing import Any

import numpy as np
import pypdfium2
import pytest
import shapely
from pypdf import PdfReader
from shapely.geometry import MultiPolygon, Point, Polygon, box

from clearland.reports.documents import (
    DEFAULT_RESIDUAL_RISK,
    DocumentData,
    dms,
    format_m2,
    map_view,
    render_pdf,
)
from clearland.reports.pdf_map import MAP_FRAME, OUTCOME_COLOURS, nice_length_m
from conftest import reference_area_m2

LON0, LAT0 = 18.0, 44.0
# metres per degree at 44°N (WGS84, to < 0.1 %: enough to place test shapes, not to measure them)
M_PER_DEG_LAT = 111_132.0
M_PER_DEG_LON = 111_412.8 * math.cos(math.radians(LAT0))
RENDER_SCALE = 2  # pdfium renders 72 dpi × scale
PX_PER_MM = 72 / 25.4 * RENDER_SCALE
CLEARED = OUTCOME_COLOURS["cleared"]


def at(x_m: float, y_m: float) -> tuple[float, float]:
    """lon, lat of a point x_m east and y_m north of (LON0, LAT0)."""
    return LON0 + x_m / M_PER_DEG_LON, LAT0 + y_m / M_PER_DEG_LAT


def rect_m(x0: float, y0: float, x1: float, y1: float) -> Polygon:
    return box(*at(x0, y0), *at(x1, y1))


# a 400 m × 300 m field with a gable on the north side and a 80 m × 60 m hole (a house)
HAZARD_SHELL_M = [(0, 0), (400, 0), (400, 300), (200, 330), (0, 300)]
HOLE_M = (150, 120, 230, 180)
HAZARD = Polygon([at(*p) for p in HAZARD_SHELL_M], [rect_m(*HOLE_M).exterior.coords])
HOLE_CENTRE = at(190, 150)


def make_document(
    kind: str = "completion_report",
    hazard: shapely.Geometry = HAZARD,
    name: str = "Поле біля школи",
    cleared_box_m: tuple[float, float, float, float] = (0, 0, 260, 220),
    devices: list[dict[str, Any]] | None = None,
    **overrides: Any,
) -> DocumentData:
    """A completion report for ``hazard``: cleared part (around the hole), reduced and cancelled
    strips, 3 device rows, 2 markers."""
    outcome_shapes = {
        "cleared": hazard.intersection(rect_m(*cleared_box_m)),
        "reduced": hazard.intersection(rect_m(300, 0, 400, 150)),
        "cancelled": hazard.intersection(rect_m(0, 260, 120, 330)),
    }
    outcome_shapes = {k: g for k, g in outcome_shapes.items() if g.area > 0}  # parts of small hazards
    outcomes = [
        {
            "ref": f"OUT-{i}",
            "kind": kind_,
            "area_m2": reference_area_m2(geom),
            "geometry": geom,
            "activity_ref": "ACT-2",
            "date_of_information": "2024-05-20",
        }
        for i, (kind_, geom) in enumerate(outcome_shapes.items(), start=1)
    ]
    released = {o["kind"]: o["area_m2"] for o in outcomes}
    if devices is None:
        devices = [
            _device("AP mine", "PMA-2", 2, 5, "destroyed in situ", at(40, 60)),
            _device("AP mine", None, 1, 12, "destroyed in situ", at(90, 30)),
            _device("UXO", "M-62 mortar 82 mm", 1, None, "removed for demolition", at(340, 80)),
        ]
    hazard_area = reference_area_m2(hazard)
    values: dict[str, Any] = {
        "kind": kind,
        "report_id": 1207,
        "authority": "National Mine Action Authority",
        "hazard": {
            "ref": "HA-2024-0031",
            "name": name,
            "category": "CHA",
            "status": "worked_on",
            "hazard_types": ["ap_mine", "uxo"],
            "admin_area": "Kharkiv oblast",
            "organisation": "FSD",
            "area_m2": hazard_area,
            "remaining_area_m2": hazard_area - sum(released.values()),
            "geometry": hazard,
        },
        "activities": [
            _activity("ACT-1", "NTS", "2024-03-01", "2024-03-02", None, [], None),
            _activity("ACT-2", "clearance", "2024-04-02", "2024-05-18", 13, ["manual", "MDD"], True),
        ],
        "outcomes": outcomes,
        "devices": devices,
        "markers": [
            {
                "type": "permanent_marker",
                "lon": at(0, 0)[0],
                "lat": at(0, 0)[1],
                "description": "concrete post",
            },
            {"type": "sign", "lon": at(400, 0)[0], "lat": at(400, 0)[1], "description": None},
        ],
        "released_m2": released,
        "date_of_information": "2024-05-20",
        "approved_by": "O. Kovalenko",
        "approved_at": "2024-05-24T09:30:00+00:00",
        "residual_risk": DEFAULT_RESIDUAL_RISK,
    }
    values.update(overrides)
    return DocumentData(**values)


def _device(
    category: str,
    model: str | None,
    quantity: int,
    depth: int | None,
    disposal: str,
    pos: tuple[float, float],
) -> dict[str, Any]:
    return {
        "category": category,
        "model": model,
        "quantity": quantity,
        "depth_cm": depth,
        "disposal": disposal,
        "lon": pos[0],
        "lat": pos[1],
    }


def _activity(
    ref: str, type_: str, start: str, end: str, depth: int | None, assets: list[str], qc: bool | None
) -> dict[str, Any]:
    return {
        "ref": ref,
        "activity_type": type_,
        "organisation": "FSD",
        "start_date": start,
        "end_date": end,
        "status": "completed",
        "depth_cm": depth,
        "assets": assets,
        "qc_passed": qc,
    }


def pages_text(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


def page1_pixels(pdf: bytes) -> np.ndarray:
    document = pypdfium2.PdfDocument(pdf)
    try:
        return np.asarray(document[0].render(scale=RENDER_SCALE).to_pil().convert("RGB")).astype(int)
    finally:
        document.close()


def pixel_at(image: np.ndarray, x_mm: float, y_mm: float) -> tuple[int, int, int]:
    r, g, b = image[round(y_mm * PX_PER_MM), round(x_mm * PX_PER_MM)]
    return int(r), int(g), int(b)


def count_colour_in_frame(image: np.ndarray, colour: tuple[int, int, int], tolerance: int = 3) -> int:
    x, y, w, h = (round(v * PX_PER_MM) for v in MAP_FRAME)
    frame = image[y : y + h, x : x + w]
    return int((np.abs(frame - np.array(colour)).max(axis=2) <= tolerance).sum())


def is_colour(pixel: tuple[int, int, int], colour: tuple[int, int, int], tolerance: int = 3) -> bool:
    return max(abs(a - b) for a, b in zip(pixel, colour, strict=True)) <= tolerance


# --- text ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def completion_text() -> str:
    return "\n".join(pages_text(render_pdf(make_document())))


def test_header_names_the_document_hazard_and_approval(completion_text: str) -> None:
    for expected in (
        "National Mine Action Authority",
        "Completion report",
        "HA-2024-0031",
        "Report no. 1207",
        "Date of information: 2024-05-20",
        "Approved by O. Kovalenko on 2024-05-24T09:30:00+00:00",
    ):
        assert expected in completion_text


def test_cyrillic_name_is_extractable(completion_text: str) -> None:
    assert "Поле біля школи" in completion_text


def test_turning_points_list_exterior_vertices_in_decimal_degrees_and_dms(completion_text: str) -> None:
    for number, (x_m, y_m) in enumerate(HAZARD_SHELL_M, start=1):
        lon, lat = at(x_m, y_m)
        assert f"{number} {lon:.6f} {lat:.6f} " in completion_text
    assert "1 18.000000 44.000000 18°00′00.00″ E 44°00′00.00″ N" in completion_text
    # the closing vertex is not repeated, and the hole's vertices are not turning points
    assert f"6 {LON0:.6f} {LAT0:.6f}" not in completion_text
    hole_lon, hole_lat = at(HOLE_M[0], HOLE_M[1])
    assert f"{hole_lon:.6f} {hole_lat:.6f}" not in completion_text


def test_dms() -> None:
    assert dms(44.5125, "N", "S") == "44°30′45.00″ N"
    assert dms(-0.0001, "E", "W") == "0°00′00.36″ W"
    assert dms(10 + 59.999 / 3600, "N", "S") == "10°01′00.00″ N"  # never 60.00″


def test_areas_are_in_m2_with_thousands_separators(completion_text: str) -> None:
    data = make_document()
    assert format_m2(12_345.64) == "12,345.6 m²"
    assert f"Hazard area (recorded) {format_m2(data.hazard['area_m2'])}" in completion_text
    assert 100_000 < data.hazard["area_m2"] < 130_000  # ~400 m × 300 m + gable − hole
    cleared = data.released_m2["cleared"]
    assert f"Released by clearance {cleared:,.1f} m²" in completion_text
    assert f"Total released {format_m2(sum(data.released_m2.values()))}" in completion_text
    assert f"Remaining hazard area {format_m2(data.hazard['remaining_area_m2'])}" in completion_text


def test_activities_and_devices_with_totals_by_category(completion_text: str) -> None:
    assert "ACT-2 clearance FSD 2024-04-02 2024-05-18 completed 13 manual, MDD passed" in completion_text
    lon, lat = at(40, 60)
    assert f"AP mine PMA-2 2 5 destroyed in situ {lon:.6f} {lat:.6f}" in completion_text
    assert "AP mine unknown 1 12 destroyed in situ" in completion_text
    assert "UXO M-62 mortar 82 mm 1 — removed for demolition" in completion_text
    totals = completion_text[completion_text.index("Devices by category") :]
    assert "AP mine 3" in totals
    assert "UXO 1" in totals
    assert "Total 4" in totals


def test_no_devices_is_said_in_words() -> None:
    text = "\n".join(pages_text(render_pdf(make_document(devices=[]))))
    assert "No devices were found." in text
    assert "Devices by category" not in text


def test_residual_risk_and_signature_blocks(completion_text: str) -> None:
    for words in ("No survey or clearance can guarantee", "must not touch", "national mine action authority"):
        assert words in completion_text
    assert "Operator (team leader)" in completion_text
    assert "Quality control (national authority)" in completion_text
    assert completion_text.count("Signature:") == 2
    assert "Received by" not in completion_text


def test_handover_certificate_has_its_own_title_and_three_signatures() -> None:
    # a label may wrap in its column: compare with whitespace normalised
    text = " ".join(" ".join(pages_text(render_pdf(make_document(kind="handover_certificate")))).split())
    assert "Handover certificate" in text
    assert "Completion report" not in text
    for label in (
        "Handed over by (operator)",
        "Accepted by (national mine action authority)",
        "Received by (land user / local authority)",
    ):
        assert label in text
    assert text.count("Signature:") == 3
    assert "Operator (team leader)" not in text


def test_unapproved_document_says_draft() -> None:
    text = pages_text(render_pdf(make_document(approved_by=None, approved_at=None)))[0]
    assert "DRAFT — not approved" in text


def test_every_page_has_a_footer() -> None:
    pages = pages_text(render_pdf(make_document()))
    for number, text in enumerate(pages, start=1):
        assert f"Page {number} of {len(pages)}" in text
        assert "Generated by clearland" in text


def test_long_turning_point_table_continues_on_the_next_page() -> None:
    ring = [
        at(200 + 180 * math.cos(2 * math.pi * i / 120), 150 + 140 * math.sin(2 * math.pi * i / 120))
        for i in range(120)
    ]
    pages = pages_text(render_pdf(make_document(hazard=Polygon(ring), cleared_box_m=(100, 50, 300, 250))))
    rows = [f"{n} {lon:.6f} {lat:.6f} " for n, (lon, lat) in enumerate(ring, start=1)]
    pages_with_rows = {i for i, text in enumerate(pages) for row in rows if row in text}
    assert len(pages_with_rows) > 1
    assert all(any(row in text for text in pages) for row in rows)
    assert "121 " + f"{ring[0][0]:.6f}" not in "\n".join(pages)
    later = pages[max(pages_with_rows)]
    assert "No. Longitude Latitude" in later  # the headings repeat


def test_multipolygon_hazard_numbers_turning_points_across_parts() -> None:
    parts = [rect_m(0, 0, 100, 100), rect_m(180, 0, 280, 80)]
    hazard = MultiPolygon(parts)
    text = "\n".join(pages_text(render_pdf(make_document(hazard=hazard, cleared_box_m=(0, 0, 60, 60)))))
    assert "No. Part Longitude Latitude" in text
    lon, lat = parts[1].exterior.coords[0]
    assert f"5 2 {lon:.6f} {lat:.6f}" in text  # the second part's first vertex is point 5


def test_far_away_position_is_listed_but_not_drawn() -> None:
    far = _device("UXO", None, 1, None, "removed", (LON0 + 0.5, LAT0))  # ~40 km east: a wrong CRS?
    pdf = render_pdf(make_document(devices=[far]))
    text = "\n".join(pages_text(pdf))
    assert "1 position(s) far outside the hazard area" in text
    assert f"{LON0 + 0.5:.6f}" in text
    view = map_view(make_document(devices=[far]))
    x_mm, _ = view.to_page(*at(400, 0))
    assert x_mm < MAP_FRAME[0] + MAP_FRAME[2]  # the hazard still fills the map


# --- map pixels ----------------------------------------------------------------------------------


def test_cleared_outcome_is_filled_and_the_hole_is_not() -> None:
    data = make_document()
    image = page1_pixels(render_pdf(data))
    view = map_view(data)
    assert count_colour_in_frame(image, CLEARED) > 1000
    assert is_colour(pixel_at(image, *view.to_page(*at(20, 150))), CLEARED)  # inside cleared, no device
    assert pixel_at(image, *view.to_page(*HOLE_CENTRE)) == (255, 255, 255)
    assert is_colour(pixel_at(image, *view.to_page(*at(350, 100))), OUTCOME_COLOURS["reduced"])


def test_larger_cleared_outcome_paints_more_pixels() -> None:
    small = count_colour_in_frame(
        page1_pixels(render_pdf(make_document(cleared_box_m=(0, 0, 100, 100)))), CLEARED
    )
    large = count_colour_in_frame(page1_pixels(render_pdf(make_document())), CLEARED)
    assert 0 < small < large
    # the areas are ~10,000 m² and ~52,000 m² (minus the 4,800 m² hole): pixels follow area
    assert 3.5 < large / small < 6


def test_map_fits_the_hazard_inside_the_frame_preserving_aspect() -> None:
    view = map_view(make_document())
    x0, y0 = view.to_page(*at(0, 0))
    x1, y1 = view.to_page(*at(400, 300))
    fx, fy, fw, fh = MAP_FRAME
    assert fx < x0 < x1 < fx + fw
    assert fy < y1 < y0 < fy + fh  # north is up
    assert (x1 - x0) / (y0 - y1) == pytest.approx(400 / 300, rel=0.01)
    assert 400 / (x1 - x0) == pytest.approx(view.metres_per_mm(), rel=0.01)


def test_nice_scale_bar_lengths() -> None:
    assert nice_length_m(45.0) == 20.0
    assert nice_length_m(99.9) == 50.0
    assert nice_length_m(100.0) == 100.0
    assert nice_length_m(4_300.0) == 2_000.0


# --- errors and determinism ----------------------------------------------------------------------


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown document kind 'survey_report'"):
        render_pdf(make_document(kind="survey_report"))


@pytest.mark.parametrize("geometry", [Point(LON0, LAT0), None, Polygon()])
def test_hazard_without_area_is_refused(geometry: shapely.Geometry | None) -> None:
    data = make_document()
    data = dataclasses.replace(data, hazard={**data.hazard, "geometry": geometry})
    with pytest.raises(ValueError, match="Polygon or MultiPolygon is needed"):
        render_pdf(data)


def test_same_input_gives_the_same_bytes() -> None:
    first = render_pdf(make_document())
    assert render_pdf(make_document()) == first
    created = PdfReader(io.BytesIO(first)).metadata.creation_date
    assert created == dt.datetime(2024, 5, 24, 9, 30, tzinfo=dt.UTC)
