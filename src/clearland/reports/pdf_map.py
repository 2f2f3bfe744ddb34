"""The map of a hazard area in the land-release documents, drawn as PDF vector graphics.

Page units are millimetres on an A4 page, origin top left, y downwards. Geometry is EPSG:4326
(lon, lat); the map uses a local equirectangular projection centred on the fitted bounds (x scaled
by cos(mean latitude)), so north is up and, at the size of a hazard area, distances are true to a
fraction of a per cent in every direction. The scale bar is measured on the WGS84 ellipsoid.

Nothing is fetched: no tiles, no base map. ``MAP_FRAME``, ``fit_view``, ``OUTCOME_COLOURS`` and
``FENCE_COLOUR`` are public so that a reader (or a test) can find where a coordinate lands on page 1
and what is drawn there.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import shapely
from fpdf import FPDF
from pyproj import Geod

#: the map frame on page 1: x, y, width, height in mm
MAP_FRAME = (15.0, 50.0, 180.0, 110.0)
#: blank space inside the frame around the drawing (mm)
MAP_PADDING_MM = 6.0
#: strip on the right of the frame kept for the north arrow, and at the bottom for the scale bar (mm)
NORTH_STRIP_MM = 12.0
SCALE_STRIP_MM = 10.0
#: outcome fills, drawn in this order (the last on top); RGB 0-255
OUTCOME_COLOURS: dict[str, tuple[int, int, int]] = {
    "confirmed": (214, 69, 65),
    "cancelled": (240, 200, 80),
    "reduced": (110, 170, 225),
    "cleared": (60, 170, 90),
}
#: the part of the hazard area not covered by any outcome
HAZARD_FILL = (250, 225, 225)
HAZARD_OUTLINE = (150, 20, 20)
MARKER_COLOUR = (235, 130, 20)
#: fences (a marker recorded as a line): dashed, in a colour no fill or outline uses
FENCE_COLOUR = (110, 40, 150)
FENCE_WIDTH_MM = 0.6
FENCE_DASH_MM = (1.6, 0.8)  # dash, gap
#: points further than this share of the hazard's extent outside its bounds are left off the map
#: (a position recorded in the wrong CRS must not shrink the hazard to a dot)
POINT_MARGIN_SHARE = 0.5

_GEOD = Geod(ellps="WGS84")
_NICE_STEPS = (1.0, 2.0, 5.0)


@dataclass(frozen=True)
class MapView:
    """Where a lon/lat lands on the page: a local equirectangular projection, then a fit."""

    lon0: float
    lat0: float
    cos_lat0: float
    mm_per_deg: float  # along a meridian; along a parallel it is mm_per_deg * cos_lat0
    centre_x: float
    centre_y: float

    def to_page(self, lon: float, lat: float) -> tuple[float, float]:
        x = self.centre_x + (lon - self.lon0) * self.cos_lat0 * self.mm_per_deg
        y = self.centre_y - (lat - self.lat0) * self.mm_per_deg
        return x, y

    def metres_per_mm(self) -> float:
        """Ground distance of one mm east-west through the centre, on the WGS84 ellipsoid."""
        half_deg = 50.0 / (self.cos_lat0 * self.mm_per_deg)  # 100 mm across
        _, _, metres = _GEOD.inv(self.lon0 - half_deg, self.lat0, self.lon0 + half_deg, self.lat0)
        return float(metres) / 100.0


def drawing_area() -> tuple[float, float, float, float]:
    """x, y, width, height (mm) inside the frame where the geometry is fitted."""
    x, y, w, h = MAP_FRAME
    return (
        x + MAP_PADDING_MM,
        y + MAP_PADDING_MM,
        w - 2 * MAP_PADDING_MM - NORTH_STRIP_MM,
        h - 2 * MAP_PADDING_MM - SCALE_STRIP_MM,
    )


def fit_view(bounds: Sequence[float]) -> MapView:
    """The view that fits lon/lat ``bounds`` (minx, miny, maxx, maxy) into the drawing area,
    preserving the aspect ratio and centred."""
    minx, miny, maxx, maxy = bounds
    lat0 = (miny + maxy) / 2
    lon0 = (minx + maxx) / 2
    cos_lat0 = math.cos(math.radians(lat0))
    ax, ay, aw, ah = drawing_area()
    span_x = max((maxx - minx) * cos_lat0, 1e-9)  # a degenerate extent still gives a finite scale
    span_y = max(maxy - miny, 1e-9)
    mm_per_deg = min(aw / span_x, ah / span_y)
    return MapView(lon0, lat0, cos_lat0, mm_per_deg, ax + aw / 2, ay + ah / 2)


def map_extent(
    hazard: shapely.Geometry, outcomes: Iterable[shapely.Geometry], points: Iterable[tuple[float, float]]
) -> tuple[tuple[float, float, float, float], list[bool]]:
    """Bounds to fit, and for each point whether it is on the map (see ``POINT_MARGIN_SHARE``)."""
    minx, miny, maxx, maxy = hazard.bounds
    margin_x = (maxx - minx) * POINT_MARGIN_SHARE
    margin_y = (maxy - miny) * POINT_MARGIN_SHARE
    for geom in outcomes:
        gx0, gy0, gx1, gy1 = geom.bounds
        minx, miny, maxx, maxy = min(minx, gx0), min(miny, gy0), max(maxx, gx1), max(maxy, gy1)
    hx0, hy0, hx1, hy1 = hazard.bounds
    shown = []
    for lon, lat in points:
        on_map = hx0 - margin_x <= lon <= hx1 + margin_x and hy0 - margin_y <= lat <= hy1 + margin_y
        shown.append(on_map)
        if on_map:
            minx, miny, maxx, maxy = min(minx, lon), min(miny, lat), max(maxx, lon), max(maxy, lat)
    return (minx, miny, maxx, maxy), shown


def view_for(
    hazard: shapely.Geometry,
    outcomes: Sequence[tuple[str, shapely.Geometry]],
    points: Sequence[tuple[float, float]],
    fit_also: Sequence[tuple[float, float]] = (),
) -> tuple[MapView, list[bool]]:
    """The view of the map on page 1, and for each point whether it is drawn. ``fit_also``:
    positions the map must show wherever they are (a minefield record's reference points)."""
    bounds, shown = map_extent(hazard, (g for _, g in outcomes), points)
    if fit_also:
        xs, ys = [b for b in (bounds[0], bounds[2])], [b for b in (bounds[1], bounds[3])]
        xs += [p[0] for p in fit_also]
        ys += [p[1] for p in fit_also]
        bounds = (min(xs), min(ys), max(xs), max(ys))
    return fit_view(bounds), shown


def polygons(geom: shapely.Geometry) -> list[shapely.Polygon]:
    """The polygons of a Polygon or MultiPolygon (or of the polygonal parts of a collection)."""
    if geom is None or geom.is_empty:
        return []
    if isinstance(geom, shapely.Polygon):
        return [geom]
    if isinstance(geom, shapely.MultiPolygon | shapely.GeometryCollection):
        return [p for part in geom.geoms for p in polygons(part)]
    return []


def exterior_vertices(geom: shapely.Geometry) -> list[tuple[int, float, float]]:
    """(part number from 1, lon, lat) of each exterior vertex, the closing vertex not repeated."""
    return [
        (part, float(lon), float(lat))
        for part, polygon in enumerate(polygons(geom), start=1)
        for lon, lat in polygon.exterior.coords[:-1]
    ]


def draw_map(
    pdf: FPDF,
    hazard: shapely.Geometry,
    outcomes: Sequence[tuple[str, shapely.Geometry]],
    devices: Sequence[tuple[float, float]],
    markers: Sequence[tuple[float, float]],
    fit_also: Sequence[tuple[float, float]] = (),
    fences: Sequence[Sequence[tuple[float, float]]] = (),
    show_outcomes: bool = True,
) -> tuple[MapView, int]:
    """Draw the frame, hazard, outcomes, fences, devices, markers, turning points, scale bar, north
    arrow and legend on the current page (the legend ends 7 mm below ``MAP_FRAME``). Returns the
    view and how many points and fences were left off the map. ``fit_also``: see ``view_for``;
    ``fences``: lines of (lon, lat), each drawn whole or, when a vertex is far off (see
    ``POINT_MARGIN_SHARE``), not at all; ``show_outcomes``: list the outcome kinds in the legend."""
    fence_points = [p for fence in fences for p in fence]
    view, shown = view_for(hazard, outcomes, [*devices, *markers, *fence_points], fit_also)
    fence_shown = _fence_shown(fences, shown[len(devices) + len(markers) :])
    fx, fy, fw, fh = MAP_FRAME
    pdf.set_line_width(0.3)
    pdf.set_draw_color(0)
    pdf.rect(fx, fy, fw, fh)

    _fill_polygons(pdf, view, polygons(hazard), HAZARD_FILL, None)
    for kind in OUTCOME_COLOURS:  # fixed order, so the drawing does not depend on input order
        parts = [p for k, g in outcomes if k == kind for p in polygons(g)]
        _fill_polygons(pdf, view, parts, OUTCOME_COLOURS[kind], _darker(OUTCOME_COLOURS[kind]))
    _fill_polygons(pdf, view, polygons(hazard), None, HAZARD_OUTLINE, width=0.5)

    for fence, on_map in zip(fences, fence_shown, strict=True):
        if on_map:
            _fence(pdf, [view.to_page(lon, lat) for lon, lat in fence])
    for (lon, lat), on_map in zip(devices, shown[: len(devices)], strict=True):
        if on_map:
            _cross(pdf, *view.to_page(lon, lat))
    markers_shown = shown[len(devices) : len(devices) + len(markers)]
    for (lon, lat), on_map in zip(markers, markers_shown, strict=True):
        if on_map:
            _triangle(pdf, *view.to_page(lon, lat))
    _turning_point_labels(pdf, view, hazard)
    _scale_bar(pdf, view)
    _north_arrow(pdf)
    _legend(pdf, fx, fy + fh + 2, outcomes=show_outcomes, fences=any(fence_shown))
    pdf.set_fill_color(255)
    pdf.set_draw_color(0)
    off_map = shown[: len(devices) + len(markers)].count(False) + fence_shown.count(False)
    return view, off_map


def _fence_shown(fences: Sequence[Sequence[tuple[float, float]]], shown: Sequence[bool]) -> list[bool]:
    """Per fence, whether every vertex is on the map (``shown``: per vertex, fences in order)."""
    out = []
    start = 0
    for fence in fences:
        out.append(all(shown[start : start + len(fence)]))
        start += len(fence)
    return out


def _fill_polygons(
    pdf: FPDF,
    view: MapView,
    parts: Sequence[shapely.Polygon],
    fill: tuple[int, int, int] | None,
    stroke: tuple[int, int, int] | None,
    width: float = 0.2,
) -> None:
    """One path for all parts and rings, filled even-odd: holes stay unpainted."""
    if not parts:
        return
    with pdf.new_path() as path:
        path.style.fill_color = _hex(fill) if fill else None
        path.style.stroke_color = _hex(stroke) if stroke else None
        path.style.stroke_width = width if stroke else None
        path.style.intersection_rule = "evenodd"
        for polygon in parts:
            for ring in (polygon.exterior, *polygon.interiors):
                coords = ring.coords[:-1]
                path.move_to(*view.to_page(*coords[0]))
                for lon, lat in coords[1:]:
                    path.line_to(*view.to_page(lon, lat))
                path.close()


def _turning_point_labels(pdf: FPDF, view: MapView, hazard: shapely.Geometry) -> None:
    """Numbers at the exterior vertices, pushed 2 mm outwards from the part's centre."""
    pdf.set_font(size=5.5)
    pdf.set_text_color(*HAZARD_OUTLINE)
    number = 0
    for polygon in polygons(hazard):
        cx, cy = view.to_page(*polygon.centroid.coords[0])
        for lon, lat in polygon.exterior.coords[:-1]:
            number += 1
            x, y = view.to_page(lon, lat)
            dx, dy = x - cx, y - cy
            norm = math.hypot(dx, dy) or 1.0
            label = str(number)
            lx = x + 2.0 * dx / norm - pdf.get_string_width(label) / 2
            ly = y + 2.0 * dy / norm + 0.8
            pdf.text(lx, ly, label)
    pdf.set_text_color(0)


def _cross(pdf: FPDF, x: float, y: float, size: float = 1.2) -> None:
    pdf.set_draw_color(0)
    pdf.set_line_width(0.35)
    pdf.line(x - size, y - size, x + size, y + size)
    pdf.line(x - size, y + size, x + size, y - size)


def _triangle(pdf: FPDF, x: float, y: float, size: float = 1.5) -> None:
    pdf.set_draw_color(0)
    pdf.set_line_width(0.2)
    pdf.set_fill_color(*MARKER_COLOUR)
    pdf.polygon([(x, y - size), (x + size, y + size * 0.8), (x - size, y + size * 0.8)], style="DF")


def _fence(pdf: FPDF, points: Sequence[tuple[float, float]]) -> None:
    pdf.set_draw_color(*FENCE_COLOUR)
    pdf.set_line_width(FENCE_WIDTH_MM)
    pdf.set_dash_pattern(*FENCE_DASH_MM)
    pdf.polyline(list(points))
    pdf.set_dash_pattern()  # solid again
    pdf.set_draw_color(0)


def nice_length_m(max_m: float) -> float:
    """The largest 1, 2 or 5 × 10ⁿ metres not above ``max_m``."""
    exponent = math.floor(math.log10(max_m))
    best = 10.0**exponent
    for step in _NICE_STEPS:
        if step * 10.0**exponent <= max_m:
            best = step * 10.0**exponent
    return best


def _scale_bar(pdf: FPDF, view: MapView) -> None:
    fx, fy, _, fh = MAP_FRAME
    m_per_mm = view.metres_per_mm()
    length_m = nice_length_m(45.0 * m_per_mm)
    length_mm = length_m / m_per_mm
    x0, y0 = fx + MAP_PADDING_MM, fy + fh - MAP_PADDING_MM - 2.0
    pdf.set_draw_color(0)
    pdf.set_line_width(0.2)
    for i in range(4):  # alternating quarters
        pdf.set_fill_color(0 if i % 2 == 0 else 255)
        pdf.rect(x0 + i * length_mm / 4, y0, length_mm / 4, 1.5, style="DF")
    pdf.set_font(size=6.5)
    pdf.text(x0 - 0.8, y0 - 1.0, "0")
    label = f"{length_m:,.0f} m"
    pdf.text(x0 + length_mm - pdf.get_string_width(label) / 2, y0 - 1.0, label)


def _north_arrow(pdf: FPDF) -> None:
    fx, fy, fw, _ = MAP_FRAME
    cx = fx + fw - MAP_PADDING_MM - NORTH_STRIP_MM / 2
    top = fy + MAP_PADDING_MM + 5.0
    pdf.set_draw_color(0)
    pdf.set_line_width(0.2)
    pdf.set_fill_color(0)
    pdf.polygon([(cx, top), (cx + 2.5, top + 9), (cx, top + 7)], style="DF")
    pdf.set_fill_color(255)
    pdf.polygon([(cx, top), (cx - 2.5, top + 9), (cx, top + 7)], style="DF")
    pdf.set_font(style="B", size=9)
    pdf.text(cx - pdf.get_string_width("N") / 2, top - 1.2, "N")
    pdf.set_font(style="", size=9)


def _legend(pdf: FPDF, x: float, y: float, *, outcomes: bool = True, fences: bool = False) -> None:
    """One line of entries: the outcome kinds only on a map that may have outcomes (not on a
    minefield record sheet), the fence only on a map that has fences."""
    pdf.set_font(size=7)
    pdf.set_line_width(0.2)
    entries: list[tuple[str, tuple[int, int, int]]] = [("hazard area (remaining)", HAZARD_FILL)]
    if outcomes:
        entries += [(kind, colour) for kind, colour in reversed(OUTCOME_COLOURS.items())]
    for label, colour in entries:
        pdf.set_draw_color(*_darker(colour))
        pdf.set_fill_color(*colour)
        pdf.rect(x, y + 0.5, 4, 3, style="DF")
        pdf.text(x + 5, y + 3.2, label)
        x += 7 + pdf.get_string_width(label)
    _cross(pdf, x + 1.2, y + 2)
    pdf.text(x + 4, y + 3.2, "device")
    x += 6 + pdf.get_string_width("device") + 3
    _triangle(pdf, x + 1.5, y + 2)
    pdf.text(x + 4.5, y + 3.2, "marker")
    x += 7 + pdf.get_string_width("marker") + 3
    if fences:
        _fence(pdf, [(x, y + 2), (x + 6, y + 2)])
        pdf.set_line_width(0.2)
        pdf.text(x + 7, y + 3.2, "fence")
        x += 10 + pdf.get_string_width("fence")
    pdf.set_text_color(*HAZARD_OUTLINE)
    pdf.text(x, y + 3.2, "1, 2 … turning points")
    pdf.set_text_color(0)
    pdf.set_draw_color(0)


def _darker(colour: tuple[int, int, int]) -> tuple[int, int, int]:
    r, g, b = colour
    return (int(r * 0.6), int(g * 0.6), int(b * 0.6))


def _hex(colour: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*colour)
