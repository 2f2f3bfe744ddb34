"""The two land-release documents, a completion report and a handover certificate, as PDF.

Pure Python (fpdf2), no network: the map is drawn as vector graphics (``reports.pdf_map``), the
text is set in the vendored DejaVu Sans so that names in any European script print. The output is
a function of the input alone: the PDF creation date is taken from the data, so the same
``DocumentData`` gives the same bytes (for the same fpdf2 version).

Geometry is EPSG:4326 (lon, lat); areas are m², as computed by the caller (``domain.release``);
this module only lays them out.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import shapely
from fpdf import FPDF
from fpdf.fonts import FontFace

from clearland.reports.pdf_map import (
    MAP_FRAME,
    OUTCOME_COLOURS,
    MapView,
    draw_map,
    exterior_vertices,
    polygons,
    view_for,
)

__all__ = [
    "DEFAULT_RESIDUAL_RISK",
    "KINDS",
    "DocumentData",
    "dms",
    "format_m2",
    "map_view",
    "render_pdf",
]

FONT_DIR = Path(__file__).parent / "fonts"
FONT = "DejaVuSans"

#: document kind → title, certifying statement, signature blocks
KINDS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "completion_report": (
        "Completion report",
        "The operator certifies that the activities listed above were carried out to the standards "
        "stated and that the land described was released as recorded in this report.",
        ("Operator (team leader)", "Quality control (national authority)"),
    ),
    "handover_certificate": (
        "Handover certificate",
        "The land described in this certificate is handed over by the operator, accepted by the "
        "national mine action authority and received by the land user, subject to the "
        "residual-risk statement above.",
        (
            "Handed over by (operator)",
            "Accepted by (national mine action authority)",
            "Received by (land user / local authority)",
        ),
    ),
}

DEFAULT_RESIDUAL_RISK = (
    "The land described in this document was released after non-technical survey, technical survey "
    "and/or clearance carried out to the national mine action standards and the standard operating "
    "procedures stated, and quality managed by the national authority. Where land was cleared, it "
    "was cleared of all explosive ordnance to the depth recorded for each activity. No survey or "
    "clearance can guarantee that land is free of all explosive ordnance: items may remain below the "
    "recorded depth, may have been missed, or may be brought in later by people, water or soil "
    "movement. Anyone who finds an item that may be explosive ordnance must not touch or move it, "
    "must keep others away, mark the place if it is safe to do so, and report it at once to the "
    "national mine action authority or the police. The national mine action authority keeps the "
    "record of this land, of its release and of any later finds (IMAS 07.11, IMAS 09.10)."
)

_RELEASE_ROWS = (
    ("cancelled", "Released by cancellation (non-technical survey)"),
    ("reduced", "Released by reduction (technical survey)"),
    ("cleared", "Released by clearance"),
)
_MARGIN_MM = 15.0
_HEADINGS = FontFace(emphasis="BOLD", fill_color=(230, 230, 230))


@dataclass(frozen=True)
class DocumentData:
    kind: str  # "completion_report" or "handover_certificate"
    report_id: int
    authority: str  # header line, e.g. "National Mine Action Authority"
    hazard: dict[str, Any]  # ref, name, category, status, hazard_types, admin_area, organisation,
    #                         area_m2, remaining_area_m2, geometry (polygonal, EPSG:4326)
    activities: list[dict[str, Any]]  # ref, activity_type, organisation, start_date, end_date,
    #                                   status, depth_cm, assets, qc_passed
    outcomes: list[dict[str, Any]]  # ref, kind, area_m2, geometry, activity_ref, date_of_information
    devices: list[dict[str, Any]]  # category, model, quantity, depth_cm, disposal, lon, lat
    markers: list[dict[str, Any]]  # type, lon, lat, description
    released_m2: dict[str, float]  # by outcome kind: cancelled, reduced, cleared
    date_of_information: str  # ISO date of the report
    approved_by: str | None
    approved_at: str | None
    residual_risk: str = DEFAULT_RESIDUAL_RISK


class _Document(FPDF):
    def __init__(self, footer_text: str) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self._footer_text = footer_text

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FONT, size=7)
        self.set_text_color(90)
        self.cell(0, 5, self._footer_text, align="L")
        self.set_x(self.l_margin)
        self.cell(0, 5, f"Page {self.page_no()} of {{nb}}", align="R")
        self.set_text_color(0)


def render_pdf(data: DocumentData) -> bytes:
    """The document as PDF bytes; ``ValueError`` for an unknown kind or unusable geometry."""
    if data.kind not in KINDS:
        raise ValueError(f"unknown document kind {data.kind!r}; expected one of: {', '.join(KINDS)}")
    hazard_geom = data.hazard.get("geometry")
    if not polygons(hazard_geom):
        found = (
            "no"
            if hazard_geom is None
            else f"{'an empty' if hazard_geom.is_empty else 'a'} {hazard_geom.geom_type}"
        )
        raise ValueError(
            f"hazard {data.hazard.get('ref')!r} has {found} geometry; a Polygon or MultiPolygon is needed"
        )
    outcomes = _outcome_geometries(data.outcomes)
    title, statement, signers = KINDS[data.kind]
    ref = str(data.hazard.get("ref", ""))

    pdf = _Document(f"Generated by clearland · {title} · {ref} · report {data.report_id}")
    pdf.add_font(FONT, "", FONT_DIR / "DejaVuSans.ttf")
    pdf.add_font(FONT, "B", FONT_DIR / "DejaVuSans-Bold.ttf")
    pdf.set_margins(_MARGIN_MM, _MARGIN_MM, _MARGIN_MM)
    pdf.set_auto_page_break(True, margin=18)
    pdf.set_creation_date(_creation_date(data))
    pdf.set_title(f"{title} — {ref}")
    pdf.set_author(data.authority)
    pdf.set_subject(f"{title} for hazard area {ref}, report {data.report_id}")
    pdf.set_creator("clearland")
    pdf.set_lang("en")
    pdf.add_page()
    pdf.set_font(FONT, size=9)

    _header(pdf, data, title, ref)
    _, off_map = draw_map(pdf, hazard_geom, outcomes, *_positions(data))
    pdf.set_y(MAP_FRAME[1] + MAP_FRAME[3] + 7)
    pdf.set_font(FONT, size=7)
    if off_map:
        pdf.multi_cell(
            0,
            3.5,
            f"{off_map} position(s) far outside the hazard area are "
            "not drawn on the map; they are listed in the tables below.",
        )
    pdf.ln(2)

    _hazard_details(pdf, data.hazard)
    _turning_points(pdf, hazard_geom)
    _areas(pdf, data)
    _activities(pdf, data.activities)
    _devices(pdf, data.devices)
    if data.markers:
        _markers(pdf, data.markers)
    _heading(pdf, "Residual risk")
    pdf.set_font(FONT, size=9)
    pdf.multi_cell(0, 4.5, data.residual_risk, align="L")
    pdf.ln(2)
    pdf.multi_cell(0, 4.5, statement, align="L")
    _signatures(pdf, signers)
    return bytes(pdf.output())


def map_view(data: DocumentData) -> MapView:
    """Where ``render_pdf`` puts a lon/lat on page 1 (mm from the top left); see ``pdf_map``."""
    devices, markers = _positions(data)
    return view_for(data.hazard["geometry"], _outcome_geometries(data.outcomes), [*devices, *markers])[0]


def _positions(data: DocumentData) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """Devices' and markers' (lon, lat)."""
    devices = [(float(d["lon"]), float(d["lat"])) for d in data.devices]
    markers = [(float(m["lon"]), float(m["lat"])) for m in data.markers]
    return devices, markers


def _outcome_geometries(outcomes: Sequence[dict[str, Any]]) -> list[tuple[str, shapely.Geometry]]:
    """(kind, geometry) of the outcomes to draw; an outcome without geometry is listed, not drawn."""
    drawn = []
    for outcome in outcomes:
        kind, geom = outcome.get("kind"), outcome.get("geometry")
        if kind not in OUTCOME_COLOURS:
            raise ValueError(
                f"outcome {outcome.get('ref')!r} has unknown kind {kind!r}; "
                f"expected one of: {', '.join(OUTCOME_COLOURS)}"
            )
        if geom is None:
            continue
        if not polygons(geom):
            raise ValueError(f"outcome {outcome.get('ref')!r} has a {geom.geom_type}, not an area")
        drawn.append((str(kind), geom))
    return drawn


def _creation_date(data: DocumentData) -> dt.datetime:
    """Approval time if known, else the date of information: never the clock (determinism)."""
    text = data.approved_at or data.date_of_information
    try:
        when = dt.datetime.fromisoformat(text)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"report {data.report_id}: {text!r} is not an ISO date or date-time") from exc
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _header(pdf: FPDF, data: DocumentData, title: str, ref: str) -> None:
    """Fixed height, so the map frame is always at ``MAP_FRAME``: long names are shortened here
    (the full name is in the hazard details)."""
    width = pdf.epw
    pdf.set_xy(_MARGIN_MM, _MARGIN_MM)
    pdf.set_font(FONT, size=9)
    pdf.set_text_color(70)
    pdf.cell(width, 5, _fit(pdf, data.authority, width), new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0)
    pdf.set_font(FONT, "B", 16)
    pdf.cell(width, 8, title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, "B", 11)
    name = str(data.hazard.get("name") or "")
    heading = f"Hazard area {ref}" + (f" — {name}" if name else "")
    pdf.cell(width, 6, _fit(pdf, heading, width), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, size=9)
    pdf.cell(
        width,
        5,
        f"Report no. {data.report_id}    Date of information: {data.date_of_information}",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    if data.approved_by:
        approval = f"Approved by {data.approved_by}" + (f" on {data.approved_at}" if data.approved_at else "")
    else:
        approval = "DRAFT — not approved"
    pdf.cell(width, 5, _fit(pdf, approval, width), new_x="LMARGIN", new_y="NEXT")
    pdf.set_draw_color(0)
    pdf.set_line_width(0.3)
    pdf.line(_MARGIN_MM, MAP_FRAME[1] - 3, _MARGIN_MM + width, MAP_FRAME[1] - 3)


def _fit(pdf: FPDF, text: str, width: float) -> str:
    if pdf.get_string_width(text) <= width - 2:
        return text
    while text and pdf.get_string_width(text + "…") > width - 2:
        text = text[:-1]
    return text + "…"


def _heading(pdf: FPDF, text: str, keep_mm: float = 25.0) -> None:
    """A section heading, moved to the next page if less than ``keep_mm`` would follow it."""
    if pdf.will_page_break(keep_mm + 8):
        pdf.add_page()
    pdf.ln(3)
    pdf.set_font(FONT, "B", 11)
    pdf.cell(0, 6, text, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, size=8)


def _table(
    pdf: FPDF, headings: Sequence[str], rows: Sequence[Sequence[str]], widths: Sequence[float]
) -> None:
    pdf.set_font(FONT, size=8)
    pdf.set_fill_color(255)  # the map leaves its last fill colour; table cells must be white
    with pdf.table(
        col_widths=tuple(widths),
        text_align="LEFT",
        line_height=4.2,
        headings_style=_HEADINGS,
        padding=(0.6, 1.0),
    ) as table:
        table.row(list(headings))
        for values in rows:
            table.row([str(v) for v in values])
    pdf.ln(1)


def _hazard_details(pdf: FPDF, hazard: dict[str, Any]) -> None:
    _heading(pdf, "Hazard area")
    types = hazard.get("hazard_types") or []
    rows = [
        ("Reference", hazard.get("ref")),
        ("Name", hazard.get("name")),
        ("Category", hazard.get("category")),
        ("Status", hazard.get("status")),
        ("Hazard types", ", ".join(str(t) for t in types)),
        ("Administrative area", hazard.get("admin_area")),
        ("Organisation", hazard.get("organisation")),
    ]
    _table(pdf, ("Field", "Value"), [(k, _text(v)) for k, v in rows], (1, 3))


def _turning_points(pdf: FPDF, geom: shapely.Geometry) -> None:
    _heading(pdf, "Turning points")
    pdf.set_font(FONT, size=7)
    pdf.multi_cell(
        0,
        3.5,
        "Vertices of the outer boundary of the hazard area, WGS84 (EPSG:4326), "
        "numbered as on the map. The first point is not repeated at the end.",
    )
    vertices = exterior_vertices(geom)
    many_parts = vertices[-1][0] > 1
    headings = [
        "No.",
        *(["Part"] if many_parts else []),
        "Longitude",
        "Latitude",
        "Longitude (DMS)",
        "Latitude (DMS)",
    ]
    rows = [
        [
            str(number),
            *([str(part)] if many_parts else []),
            f"{lon:.6f}",
            f"{lat:.6f}",
            dms(lon, "E", "W"),
            dms(lat, "N", "S"),
        ]
        for number, (part, lon, lat) in enumerate(vertices, start=1)
    ]
    widths = (1, *((1,) if many_parts else ()), 2, 2, 2.5, 2.5)
    _table(pdf, headings, rows, widths)


def dms(value: float, positive: str, negative: str) -> str:
    """Degrees, minutes and seconds to 0.01″ (≈ 0.3 m), e.g. ``44°00′12.35″ N``."""
    hemisphere = positive if value >= 0 else negative
    total = round(abs(value) * 3600, 2)  # rounded before splitting, so never 60.00″
    degrees, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{int(degrees)}°{int(minutes):02d}′{seconds:05.2f}″ {hemisphere}"


def format_m2(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f} m²"


def _areas(pdf: FPDF, data: DocumentData) -> None:
    _heading(pdf, "Areas")
    released = [data.released_m2.get(kind, 0.0) for kind, _ in _RELEASE_ROWS]
    rows = [("Hazard area (recorded)", format_m2(data.hazard.get("area_m2")))]
    rows += [(label, format_m2(value)) for (_, label), value in zip(_RELEASE_ROWS, released, strict=True)]
    rows += [
        ("Total released", format_m2(sum(released))),
        ("Remaining hazard area", format_m2(data.hazard.get("remaining_area_m2"))),
    ]
    _table(pdf, ("Area", "m² (WGS84 ellipsoid)"), rows, (3, 2))


def _activities(pdf: FPDF, activities: Sequence[dict[str, Any]]) -> None:
    _heading(pdf, "Activities")
    if not activities:
        pdf.cell(0, 5, "No activities were recorded.", new_x="LMARGIN", new_y="NEXT")
        return
    rows = [
        (
            _text(a.get("ref")),
            _text(a.get("activity_type")),
            _text(a.get("organisation")),
            _text(a.get("start_date")),
            _text(a.get("end_date")),
            _text(a.get("status")),
            _text(a.get("depth_cm")),
            ", ".join(a.get("assets") or []) or "—",
            {True: "passed", False: "failed", None: "—"}[a.get("qc_passed")],
        )
        for a in activities
    ]
    headings = ("Ref", "Type", "Organisation", "Start", "End", "Status", "Depth (cm)", "Assets", "QA/QC")
    _table(pdf, headings, rows, (2, 2.2, 2.6, 1.9, 1.9, 1.7, 1.4, 2.8, 1.3))


def _devices(pdf: FPDF, devices: Sequence[dict[str, Any]]) -> None:
    _heading(pdf, "Explosive ordnance found")
    if not devices:
        pdf.cell(0, 5, "No devices were found.", new_x="LMARGIN", new_y="NEXT")
        return
    rows = [
        (
            _text(d.get("category")),
            d.get("model") or "unknown",
            str(int(d.get("quantity") or 0)),
            _text(d.get("depth_cm")),
            _text(d.get("disposal")),
            f"{float(d['lon']):.6f}",
            f"{float(d['lat']):.6f}",
        )
        for d in devices
    ]
    headings = ("Category", "Model", "Quantity", "Depth (cm)", "Disposal", "Longitude", "Latitude")
    _table(pdf, headings, rows, (2.4, 2.4, 1.3, 1.3, 2.2, 1.8, 1.8))
    totals: Counter[str] = Counter()
    for d in devices:
        totals[_text(d.get("category"))] += int(d.get("quantity") or 0)
    total_rows = [(category, str(n)) for category, n in sorted(totals.items())]
    total_rows.append(("Total", str(sum(totals.values()))))
    _heading(pdf, "Devices by category", keep_mm=10.0 + 4.5 * len(total_rows))
    _table(pdf, ("Category", "Quantity"), total_rows, (3, 1))


def _markers(pdf: FPDF, markers: Sequence[dict[str, Any]]) -> None:
    _heading(pdf, "Marking")
    rows = [
        (
            _text(m.get("type")),
            _text(m.get("description")),
            f"{float(m['lon']):.6f}",
            f"{float(m['lat']):.6f}",
        )
        for m in markers
    ]
    _table(pdf, ("Type", "Description", "Longitude", "Latitude"), rows, (2, 4, 1.6, 1.6))


def _signatures(pdf: FPDF, signers: Sequence[str]) -> None:
    """Side by side, kept together on one page."""
    block_h = 37.0  # a label of up to two lines, then three lines 9 mm apart
    if pdf.will_page_break(block_h + 4):
        pdf.add_page()
    pdf.ln(4)
    gap = 6.0
    width = (pdf.epw - gap * (len(signers) - 1)) / len(signers)
    top = pdf.get_y()
    for i, signer in enumerate(signers):
        x = pdf.l_margin + i * (width + gap)
        pdf.set_xy(x, top)
        pdf.set_font(FONT, "B", 9)
        pdf.multi_cell(width, 4.5, signer, align="L")
        y = top + 17
        pdf.set_font(FONT, size=8)
        for label in ("Name", "Signature", "Date"):
            pdf.text(x + pdf.c_margin, y, f"{label}:")
            pdf.set_line_width(0.2)
            pdf.line(x + 19, y + 0.5, x + width, y + 0.5)
            y += 9
    pdf.set_xy(pdf.l_margin, top + block_h)


def _text(value: object) -> str:
    return "—" if value is None or value == "" else str(value)
