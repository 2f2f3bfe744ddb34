"""Vector tiles of the public collections: Mapbox Vector Tiles (MVT 2.1) on the Web Mercator XYZ
grid (EPSG:3857, tile 0/0/0 the whole world, y counted down from the north).

The current state of each collection is read once per registry revision, column by column:
one query per source of the collection as ``services.tile_layers`` describes it (the rows and
public fields ``services.features`` serves), its geometry decoded in one call, each attribute
as codes into its distinct values, each value rendered once (``Tx.current_columns``,
``_Layer.of_columns``). No feature and no dict is made per row: 100k hazard areas are read in
~1.5 s, where reading them as features took ~10 s, which the first tile after every approval
waited for. The boxes of the geometry are projected to Web Mercator and indexed (STRtree); a
geometry itself is projected when a tile draws it as a line or an area. A tile takes the
features meeting its box plus a buffer of ``BUFFER`` tile units, and draws them for its zoom:

- a line or polygon larger than a display pixel (1/256 of the tile) is clipped to the buffered
  tile, simplified with a tolerance of half a pixel, snapped to the 4096-unit grid (kept valid)
  and oriented as MVT asks (exterior rings clockwise on screen);
- a hazard area smaller than a pixel (or one that collapses on the grid) becomes a point where it
  lies: a hazard is never dropped from the map, at any zoom. Released land smaller than a pixel
  is left out (it is not a hazard, and invisible at that zoom);
- points (markers, indications, and the hazards drawn as points) that fall in the same cell of
  ``point_cell_pixels(z)`` display pixels (4 up to zoom 8, then 1) are drawn as one point with
  ``count`` (how many) and the fields they all share.

So a tile holds at most one point per cell and no vertex closer than half a pixel to the line
through its neighbours: a low-zoom tile of 100k hazard areas stays small. Attributes are the
collection's public fields (lists as comma-separated text, dates as ISO text); markers add their
feature ``id``. Rendered tiles are kept in a byte-bounded LRU cache keyed by the registry
revision: an approval changes the revision and the next request draws the tile anew.

A tile may show the registry as it was on a date (``as_of``), as the OGC API items do: the
collection is then read as of that date as features (``services.features``, the same states;
``_Layer.of``, the same layer as from the columns), kept apart from the current one (a few
dates at a time), and its tiles cached under that date.

On PostgreSQL + PostGIS a tile of the current state is drawn by the database instead, one query
per tile (``storage.vector_tiles``, told what each collection holds by ``services.tile_layers``
and where the tile lies by ``tile_frame``): the same rules, the same features, counts and
attributes, and no collection read into Python. So are the extent and fields of the TileJSON
(the tables' boxes). Tiles as of a date stay on the Python path on every database: the states of
a past date are folded from the reports in Python (``queries.records``), so there is no table
for SQL to draw from. SQLite draws every tile in Python (so does PostgreSQL a tile it failed to
draw, from the columns read the same way).

The encoder is written here with numpy (the protobuf messages of the MVT 2.1 specification are
few and small): encoding tens of thousands of features feature by feature in Python would cost
seconds on a dense tile.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import struct
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray

from clearland.errors import InputError
from clearland.services import queries
from clearland.services.features import COLLECTIONS, Feature, collection
from clearland.services.gcpause import collector_paused
from clearland.services.registry import Registry
from clearland.services.tile_layers import SQL_LAYERS
from clearland.storage.current_columns import SourceColumns
from clearland.storage.vector_tiles import TileFrame

EXTENT = 4096  # tile units across a tile
BUFFER = 64  # tile units drawn beyond each edge (4 display pixels), so strokes join across tiles
PIXEL = EXTENT // 256  # one display pixel of a 256-pixel tile, in tile units
SIMPLIFY_PIXELS = 0.5  # simplification tolerance, in display pixels
LOW_ZOOM = 8  # up to here, points are gathered in cells of 4 × 4 pixels
MIN_ZOOM = 0
MAX_ZOOM = 22
EARTH_RADIUS_M = 6378137.0
HALF_WORLD_M = math.pi * EARTH_RADIUS_M  # Web Mercator: the world spans ±this in x and y
MAX_LAT = math.degrees(math.atan(math.sinh(math.pi)))  # 85.0511…: the square world's edge
MEDIA_TYPE = "application/vnd.mapbox-vector-tile"
#: changes whenever tiles are drawn differently, so no cache keeps a tile of an older drawing
RENDERING = "clearland-mvt-1"
#: collections whose features are hazards: never dropped, a point when too small to draw
HAZARD_COLLECTIONS = frozenset({"hazard-areas"})
COUNT_FIELD = "count"
DETAIL_ZOOM = 12
#: below DETAIL_ZOOM a tile carries only what a map needs to draw a feature and name it (the
#: other public fields are one request away: /collections/{id}/items/{ref}); from it on, all
MAP_FIELDS = {
    "hazard-areas": frozenset({"ref", "category", "status", "marking", "hazard_types"}),
    "released-land": frozenset({"ref", "kind", "hazard_ref"}),
    "markers": frozenset({"id", "type"}),
    "admin-areas": frozenset({"ref", "name", "code", "level"}),
}

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]


#: collections read as of a date kept in memory at once (besides the current ones)
AS_OF_LAYERS = 3

#: a tile's key in the cache: collection, date (None: now), z, x, y
TileKey = tuple[str, dt.date | None, int, int, int]


@dataclass(frozen=True)
class Tile:
    collection: str
    z: int
    x: int
    y: int
    revision: int
    data: bytes  # the MVT; empty when no feature meets the tile
    features: int
    etag: str
    as_of: dt.date | None = None

    @property
    def is_empty(self) -> bool:
        return self.features == 0


# -- the grid --------------------------------------------------------------------------------------


def check_tile(z: int, x: int, y: int) -> None:
    """``InputError`` naming each of z, x, y that is off the grid."""
    problems = []
    if not MIN_ZOOM <= z <= MAX_ZOOM:
        problems.append({"parameter": "z", "message": f"zoom {z} is not within {MIN_ZOOM}–{MAX_ZOOM}"})
    else:
        top = 2**z - 1
        for name, value in (("x", x), ("y", y)):
            if not 0 <= value <= top:
                problems.append(
                    {"parameter": name, "message": f"{name} {value} is not within 0–{top} at zoom {z}"}
                )
    if problems:
        first = problems[0]
        raise InputError(f"{first['parameter']}: {first['message']}", detail=problems)


def tile_bounds_lonlat(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """The tile's box in longitude/latitude degrees: west, south, east, north."""
    n = 2**z
    north = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * y / n))))
    south = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * (y + 1) / n))))
    return (x / n * 360.0 - 180.0, south, (x + 1) / n * 360.0 - 180.0, north)


def lonlat_to_tile(lon: float, lat: float, z: int) -> tuple[int, int]:
    """The tile holding a position at zoom ``z``."""
    n = 2**z
    (mx, my) = _to_mercator(np.array([[lon, lat]], dtype=float))[0]
    column = int((mx + HALF_WORLD_M) / (2 * HALF_WORLD_M) * n)
    row = int((HALF_WORLD_M - my) / (2 * HALF_WORLD_M) * n)
    return min(max(column, 0), n - 1), min(max(row, 0), n - 1)


def lonlat_to_pixel(lon: float, lat: float, z: int, x: int, y: int) -> tuple[float, float]:
    """Where a position falls in tile z/x/y, in tile units (0…EXTENT, y down)."""
    span = 2 * HALF_WORLD_M / 2**z
    (mx, my) = _to_mercator(np.array([[lon, lat]], dtype=float))[0]
    return ((mx + HALF_WORLD_M - x * span) / span * EXTENT, (HALF_WORLD_M - y * span - my) / span * EXTENT)


def point_cell_pixels(z: int) -> int:
    return 4 if z <= LOW_ZOOM else 1


def _to_mercator(coords: FloatArray) -> FloatArray:
    # x = radians(lon) · R, y = ln(tan(π/4 + radians(lat) / 2)) · R, each step in place: the
    # millions of vertices of a large registry in one pass, without a temporary per step
    out = np.empty((len(coords), 2), dtype=np.float64)
    lat = np.clip(coords[:, 1], -MAX_LAT, MAX_LAT)
    np.radians(lat, out=lat)
    lat /= 2
    lat += np.pi / 4
    np.tan(lat, out=lat)
    np.log(lat, out=lat)
    lat *= EARTH_RADIUS_M
    out[:, 1] = lat
    lon = np.radians(coords[:, 0])
    lon *= EARTH_RADIUS_M
    out[:, 0] = lon
    return out


# -- one collection, drawable --------------------------------------------------------------------


@dataclass
class _Layer:
    """A collection at one revision: its geometry, the boxes of that geometry in Web Mercator
    and their index, and each attribute as integer codes into a table of values (-1 where a
    feature has none).

    The geometry is kept as read (longitude/latitude) and projected when a tile draws it as a
    line or an area (``mercator``): at the zooms that show many features, most are drawn as
    points, from their boxes. The box of the projected geometry is the projected box, to the
    bit: both axes of the projection only ever grow with the coordinate."""

    revision: int
    lonlat: NDArray[np.object_]  # longitude/latitude degrees
    bounds: FloatArray  # (n, 4) Web Mercator metres: minx, miny, maxx, maxy
    tree: shapely.STRtree  # of the boxes ``bounds``
    point_like: NDArray[np.bool_]
    names: list[str]
    codes: NDArray[np.int32]  # (n, len(names))
    values: list[list[Any]]  # per name, the values its codes point at
    lonlat_bounds: tuple[float, float, float, float] | None

    @classmethod
    def of(cls, features: Sequence[Feature], revision: int, *, with_id: bool) -> _Layer:
        """From features (``services.features``): the path of tiles as of a date."""
        lonlat = np.array([f.geometry for f in features], dtype=object)
        names: list[str] = []
        for feature in features[:1000]:  # every feature of a collection has the same fields
            names.extend(n for n in feature.properties if n not in names)
        if with_id:
            names.append("id")
        codes = np.full((len(features), len(names)), -1, dtype=np.int32)
        values: list[list[Any]] = []
        for k, name in enumerate(names):
            raw = [f.id for f in features] if name == "id" else [f.properties.get(name) for f in features]
            table: dict[Any, int] = {}
            column = [-1 if v is None else table.setdefault(v, len(table)) for v in map(_mvt_value, raw)]
            codes[:, k] = column
            values.append(list(table))
        return cls._drawable(lonlat, names, codes, values, revision)

    @classmethod
    def of_columns(
        cls, sources: Sequence[SourceColumns], names: Sequence[str], revision: int, *, with_id: bool
    ) -> _Layer:
        """From the current rows read column by column (``Tx.current_columns``), one part per
        source of the layer, each attribute's distinct values rendered once: the same layer as
        ``of`` over the same features (the attributes in the order ``names`` gives them)."""
        lonlat = np.concatenate([s.geometries for s in sources]) if sources else np.empty(0, object)
        if not len(lonlat):  # as ``of`` makes it: no attribute but the features' id
            names = ["id"] if with_id else []
        codes = np.full((len(lonlat), len(names)), -1, dtype=np.int32)
        values: list[list[Any]] = []
        for k, name in enumerate(names):
            table: dict[Any, None] = {}  # the rendered values, in the order they first come
            start = 0
            for source in sources:
                column = source.attributes.get(name)
                if column is not None:
                    # each distinct value rendered once; those rendering alike share a code (and
                    # those rendering to nothing have none), as in ``of``
                    rendered = [v if type(v) in _AS_IS else _mvt_value(v) for v in column.values]
                    known = len(table)
                    table.update(dict.fromkeys(rendered))
                    table.pop(None, None)  # no value: no code
                    if len(table) - known == len(rendered):  # each new, none absent: in order
                        lookup = np.arange(known, len(table), dtype=np.int32)
                    else:
                        index = {v: i for i, v in enumerate(table)}
                        lookup = np.array([-1 if v is None else index[v] for v in rendered], dtype=np.int32)
                    codes[start : start + len(source), k] = lookup[column.codes]
                start += len(source)
            values.append(list(table))
        return cls._drawable(lonlat, list(names), codes, values, revision)

    @classmethod
    def _drawable(
        cls,
        lonlat: NDArray[np.object_],
        names: list[str],
        codes: NDArray[np.int32],
        values: list[list[Any]],
        revision: int,
    ) -> _Layer:
        """The layer of these geometries (longitude/latitude) and attributes, indexed by their
        boxes in Web Mercator."""
        lonlat_boxes = shapely.bounds(lonlat).reshape(-1, 4)
        bounds = np.column_stack((_to_mercator(lonlat_boxes[:, :2]), _to_mercator(lonlat_boxes[:, 2:])))
        boxes = shapely.box(bounds[:, 0], bounds[:, 1], bounds[:, 2], bounds[:, 3])
        boxes[np.isnan(bounds).any(axis=1)] = None  # an empty geometry: in no tile
        kinds = shapely.get_type_id(lonlat) if len(lonlat) else np.array([], dtype=int)
        total = shapely.total_bounds(lonlat) if len(lonlat) else None
        return cls(
            revision=revision,
            lonlat=lonlat,
            bounds=bounds,
            tree=shapely.STRtree(boxes),
            point_like=np.isin(kinds, (0, 4)),  # Point, MultiPoint
            names=names,
            codes=codes,
            values=values,
            lonlat_bounds=None
            if total is None
            else (float(total[0]), float(total[1]), float(total[2]), float(total[3])),
        )

    def mercator(self, rows: IntArray) -> NDArray[np.object_]:
        """The geometry of these rows in Web Mercator metres. What lies beyond ±``MAX_LAT``
        (which Web Mercator cannot show) is cut off first, as PostGIS does it
        (``storage.vector_tiles``): a line or an area wholly beyond becomes empty, and is not
        drawn (pressed onto the edge instead, an area would collapse to a line that GEOS
        refuses to clip)."""
        geoms = self.lonlat[rows]
        if not len(rows):
            return geoms
        boxes = shapely.bounds(geoms)
        beyond = (boxes[:, 1] < -MAX_LAT) | (boxes[:, 3] > MAX_LAT)
        if beyond.any():
            geoms = geoms.copy()
            geoms[beyond] = shapely.clip_by_rect(geoms[beyond], -180.0, -MAX_LAT, 180.0, MAX_LAT)
        projected: NDArray[np.object_] = shapely.transform(geoms, _to_mercator)
        return projected


#: the types ``_mvt_value`` leaves as they are
_AS_IS = frozenset({type(None), bool, int, float, str})


def _mvt_value(value: Any) -> str | int | float | bool | None:
    """A value an MVT attribute can hold: lists become comma-separated text, dates ISO text."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value) if value else None
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


# -- drawing one tile ----------------------------------------------------------------------------


@dataclass
class _Drawn:
    """What a tile shows, before encoding: geometries in tile units with the layer row each
    comes from, and the points with the codes of their attributes (-1: none) and their count
    (0: one feature, not a gathering of several)."""

    polygons: NDArray[np.object_]
    polygon_rows: IntArray
    lines: NDArray[np.object_]
    line_rows: IntArray
    points: IntArray  # (m, 2) tile units
    point_codes: NDArray[np.int32]  # (m, names)
    point_counts: IntArray


def render(
    layer: _Layer,
    name: str,
    z: int,
    x: int,
    y: int,
    *,
    keep_small: bool,
    fields: frozenset[str] | None = None,
) -> tuple[bytes, int]:
    """The MVT bytes of one tile of ``layer`` (empty bytes when nothing meets it), and the
    number of features drawn; ``fields``: the attributes to carry (default: all)."""
    drawn = _draw(layer, z, x, y, keep_small=keep_small)
    count = len(drawn.polygons) + len(drawn.lines) + len(drawn.points)
    if count == 0:
        return b"", 0
    return _encode_tile(name, layer, drawn, fields), count


def _grid(z: int, x: int, y: int) -> tuple[float, float, float, float, tuple[float, float, float, float]]:
    """Tile z/x/y in Web Mercator metres: its span, top-left corner (minx, maxy), tile units
    per metre, and its box with the buffer (minx, miny, maxx, maxy)."""
    span = 2 * HALF_WORLD_M / 2**z  # metres across the tile
    minx = -HALF_WORLD_M + x * span
    maxy = HALF_WORLD_M - y * span
    scale = EXTENT / span  # tile units per metre
    pad = BUFFER / scale
    return span, minx, maxy, scale, (minx - pad, maxy - span - pad, minx + span + pad, maxy + pad)


def tile_frame(z: int, x: int, y: int) -> TileFrame:
    """Tile z/x/y as a database drawing it in SQL needs it: the numbers ``_draw`` uses."""
    span, minx, maxy, scale, box = _grid(z, x, y)

    def lon(mx: float) -> float:
        return math.degrees(mx / EARTH_RADIUS_M)

    def lat(my: float) -> float:
        return math.degrees(math.atan(math.sinh(my / EARTH_RADIUS_M)))

    # in degrees, a hair wider (the exact test is made in metres); the top and bottom rows reach
    # the poles, as the Python path presses what lies beyond ±MAX_LAT onto the square's edge
    west, south, east, north = lon(box[0]) - 1e-9, lat(box[1]) - 1e-9, lon(box[2]) + 1e-9, lat(box[3]) + 1e-9
    return TileFrame(
        minx=minx,
        maxy=maxy,
        scale=scale,
        box=box,
        lonlat_box=(west, -90.0 if y == 2**z - 1 else south, east, 90.0 if y == 0 else north),
        pixel_m=span / 256,
        tolerance_m=span / 256 * SIMPLIFY_PIXELS,
        cell=PIXEL * point_cell_pixels(z),
        extent=EXTENT,
        buffer=BUFFER,
        max_lat=MAX_LAT,
        earth_radius_m=EARTH_RADIUS_M,
    )


def _draw(layer: _Layer, z: int, x: int, y: int, *, keep_small: bool) -> _Drawn:
    span, minx, maxy, scale, box = _grid(z, x, y)
    found = np.sort(layer.tree.query(shapely.box(*box))) if len(layer.lonlat) else np.array([], int)
    pixel_m = span / 256
    bounds = layer.bounds[found]
    small = (bounds[:, 2] - bounds[:, 0] < pixel_m) & (bounds[:, 3] - bounds[:, 1] < pixel_m)
    small |= layer.point_like[found]

    def to_tile(coords: FloatArray) -> FloatArray:
        return np.column_stack(((coords[:, 0] - minx) * scale, (maxy - coords[:, 1]) * scale))

    # lines and polygons big enough to draw: clip, simplify, snap to the grid, orient
    large = found[~small]
    clipped = shapely.clip_by_rect(layer.mercator(large), *box)
    # Douglas–Peucker (ten times faster than the topology-preserving kind): the snapping to
    # the grid after it makes every polygon valid again, or empty
    drawn = shapely.simplify(clipped, pixel_m * SIMPLIFY_PIXELS, preserve_topology=False)
    drawn = shapely.set_precision(shapely.transform(drawn, to_tile), 1.0)
    drawn = shapely.orient_polygons(drawn, exterior_cw=False)  # clockwise on screen (y down)
    kinds = shapely.get_type_id(drawn)
    is_polygon = np.isin(kinds, (3, 6)) & ~shapely.is_empty(drawn)  # Polygon, MultiPolygon
    is_line = np.isin(kinds, (1, 5)) & ~shapely.is_empty(drawn)  # LineString, MultiLineString
    extra_rows = np.array([], dtype=np.int64)
    extra_at = np.empty((0, 2))
    if keep_small:
        # a hazard that meets the tile but does not survive the grid: a point where it lies
        lost = ~is_polygon & ~is_line & ~shapely.is_empty(clipped)
        extra_rows = large[lost]
        extra_at = shapely.get_coordinates(shapely.point_on_surface(clipped[lost])).reshape(-1, 2)
    # points, and the hazards too small to draw
    rows = found[small]
    if not keep_small:
        rows = rows[layer.point_like[rows]]
    bounds = layer.bounds[rows]
    at = np.column_stack(((bounds[:, 0] + bounds[:, 2]) / 2, (bounds[:, 1] + bounds[:, 3]) / 2))
    rows = np.concatenate([rows, extra_rows]).astype(np.int64)
    at = to_tile(np.concatenate([at, extra_at])) if len(rows) else np.empty((0, 2))
    points, codes, counts = _gather_points(layer, rows, at, PIXEL * point_cell_pixels(z))
    return _Drawn(drawn[is_polygon], large[is_polygon], drawn[is_line], large[is_line], points, codes, counts)


def _gather_points(
    layer: _Layer, rows: IntArray, at: FloatArray, cell: int
) -> tuple[IntArray, NDArray[np.int32], IntArray]:
    """One point per cell of ``cell`` tile units: where several fall in one, their mean
    position, the codes they all share (-1 elsewhere) and how many they are."""
    inside = (at[:, 0] >= -BUFFER) & (at[:, 0] <= EXTENT + BUFFER)
    inside &= (at[:, 1] >= -BUFFER) & (at[:, 1] <= EXTENT + BUFFER)
    rows, at = rows[inside], at[inside]
    if not len(rows):
        return np.empty((0, 2), np.int64), np.empty((0, len(layer.names)), np.int32), np.empty(0, np.int64)
    side = (EXTENT + 2 * BUFFER) // cell + 2
    cells = ((at[:, 0] + BUFFER) // cell) * side + (at[:, 1] + BUFFER) // cell
    order = np.lexsort((rows, cells))  # by cell, then by feature: the same tile every time
    rows, at, cells = rows[order], at[order], cells[order]
    _, starts, counts = np.unique(cells, return_index=True, return_counts=True)
    centres = np.rint(np.add.reduceat(at, starts, axis=0) / counts[:, None]).astype(np.int64)
    member_codes = layer.codes[rows]
    first = member_codes[starts]
    same = np.logical_and.reduceat(member_codes == np.repeat(first, counts, axis=0), starts, axis=0)
    codes = np.where(same, first, -1).astype(np.int32)
    return centres, codes, np.where(counts > 1, counts, 0).astype(np.int64)


# -- encoding (MVT 2.1: vector_tile.proto) --------------------------------------------------------

_MOVE_TO, _LINE_TO, _CLOSE_PATH = 1, 2, 7
_POINT, _LINESTRING, _POLYGON = 1, 2, 3


def _varint(value: int) -> bytes:
    if value < _SMALL:
        return _SMALL_VARINTS[value]
    return _encode_varint(value)


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


_SMALL = 1 << 14
_SMALL_VARINTS = [_encode_varint(i) for i in range(_SMALL)]


def _key(field: int, wire: int) -> bytes:
    return _varint(field << 3 | wire)


def _delimited(field: int, payload: bytes) -> bytes:
    return _key(field, 2) + _varint(len(payload)) + payload


def _varints(values: NDArray[Any]) -> tuple[bytes, IntArray]:
    """Many unsigned varints at once: their bytes, and the length of each."""
    v = np.asarray(values, dtype=np.uint64)
    if not len(v):
        return b"", np.zeros(0, np.int64)
    lengths = np.ones(len(v), dtype=np.int64)
    for k in range(1, 10):
        lengths += v >= np.uint64(1 << (7 * k))
    width = int(lengths.max())
    table = np.empty((len(v), width), dtype=np.uint8)
    for k in range(width):
        more = np.where(lengths > k + 1, 0x80, 0).astype(np.uint8)
        table[:, k] = ((v >> np.uint64(7 * k)) & np.uint64(0x7F)).astype(np.uint8) | more
    return table[np.arange(width)[None, :] < lengths[:, None]].tobytes(), lengths


def _split(data: bytes, lengths: IntArray, groups: IntArray) -> list[bytes]:
    """``data`` (one varint per entry of ``lengths``) cut into consecutive groups of
    ``groups[i]`` varints each."""
    ends = np.concatenate([[0], np.cumsum(lengths)])  # bytes before the k-th varint
    offsets = ends[np.concatenate([[0], np.cumsum(groups)])].tolist()
    view = memoryview(data)
    return [bytes(view[offsets[i] : offsets[i + 1]]) for i in range(len(groups))]


def _zigzag(values: IntArray) -> IntArray:
    return (values << 1) ^ (values >> 63)


def _command(command: int, count: Any) -> Any:
    """A command integer (or an array of them): the count in the high bits."""
    return (count << 3) | command


def _geometry_streams(geometries: NDArray[np.object_], closed: bool) -> tuple[list[bytes], list[int]]:
    """The packed command streams of lines (``closed`` False) or polygons (True), one per
    geometry, and the features that kept nothing to draw (a ring or line shrunk to a point)."""
    if closed:
        parts, owner = shapely.get_parts(geometries, return_index=True)
        runs, part_of = shapely.get_rings(parts, return_index=True)
        run_feature = owner[part_of]
    else:
        runs, run_feature = shapely.get_parts(geometries, return_index=True)
    coords, run_of = shapely.get_coordinates(runs, return_index=True)
    coords = coords.astype(np.int64)
    keep = np.ones(len(coords), dtype=bool)
    if closed:
        keep[np.r_[run_of[1:] != run_of[:-1], True]] = False  # a ring's closing point is implicit
    same_run = np.r_[False, run_of[1:] == run_of[:-1]]
    keep &= ~(same_run & np.r_[False, (coords[1:] == coords[:-1]).all(axis=1)])  # repeated points
    coords, run_of = coords[keep], run_of[keep]
    n = np.bincount(run_of, minlength=len(runs))
    usable = n >= (3 if closed else 2)
    coords, run_of = coords[usable[run_of]], run_of[usable[run_of]]
    # runs renumbered to the usable ones, in order
    new_index = np.cumsum(usable) - 1
    run_of = new_index[run_of]
    run_feature = run_feature[usable]
    n = n[usable]
    size = 2 * n + 2 + (1 if closed else 0)  # MoveTo x y LineTo (x y)… [ClosePath]
    start = np.concatenate([[0], np.cumsum(size)[:-1]]).astype(np.int64)
    stream = np.zeros(int(size.sum()), dtype=np.int64)
    stream[start] = _command(_MOVE_TO, 1)
    stream[start + 3] = _command(_LINE_TO, n - 1)
    if closed:
        stream[start + size - 1] = _command(_CLOSE_PATH, 1)
    first_of_run = np.concatenate([[0], np.cumsum(n)[:-1]]).astype(np.int64)
    j = np.arange(len(coords)) - first_of_run[run_of]
    position = start[run_of] + np.where(j == 0, 1, 2 + 2 * j)
    # the cursor starts at (0, 0) for each feature and moves on through its runs
    feature_of_coord = run_feature[run_of]
    previous = np.vstack([np.zeros((1, 2), np.int64), coords[:-1]])
    previous[np.r_[True, feature_of_coord[1:] != feature_of_coord[:-1]]] = 0
    delta = _zigzag(coords - previous)
    stream[position] = delta[:, 0]
    stream[position + 1] = delta[:, 1]
    data, lengths = _varints(stream)
    per_feature = np.bincount(run_feature, weights=size, minlength=len(geometries)).astype(np.int64)
    pieces = _split(data, lengths, per_feature)
    return pieces, [i for i, count in enumerate(per_feature) if count == 0]


def _point_streams(points: IntArray) -> list[bytes]:
    stream = np.empty((len(points), 3), dtype=np.int64)
    stream[:, 0] = _command(_MOVE_TO, 1)
    stream[:, 1:] = _zigzag(points)
    data, lengths = _varints(stream.ravel())
    return _split(data, lengths, np.full(len(points), 3, dtype=np.int64))


def _encode_tile(name: str, layer: _Layer, drawn: _Drawn, fields: frozenset[str] | None) -> bytes:
    geometries: list[bytes] = []
    types: list[int] = []
    codes: list[NDArray[np.int32]] = []
    counts: list[IntArray] = []
    shapes_and_rows = (
        (drawn.polygons, drawn.polygon_rows, True, _POLYGON),
        (drawn.lines, drawn.line_rows, False, _LINESTRING),
    )
    for shapes, rows, closed, kind in shapes_and_rows:
        if not len(shapes):
            continue
        pieces, empty = _geometry_streams(shapes, closed)
        keep = np.ones(len(shapes), dtype=bool)
        keep[empty] = False
        geometries.extend(p for p, k in zip(pieces, keep, strict=True) if k)
        types.extend([kind] * int(keep.sum()))
        codes.append(layer.codes[rows[keep]])
        counts.append(np.zeros(int(keep.sum()), dtype=np.int64))
    if len(drawn.points):
        geometries.extend(_point_streams(drawn.points))
        types.extend([_POINT] * len(drawn.points))
        codes.append(drawn.point_codes)
        counts.append(drawn.point_counts)
    all_codes = np.vstack(codes) if codes else np.empty((0, len(layer.names)), np.int32)
    all_counts = np.concatenate(counts) if counts else np.empty(0, np.int64)
    keys, values, tags = _attributes(layer, all_codes, all_counts, fields)
    messages = [
        _delimited(2, _delimited(2, tag) + _key(3, 0) + _varint(kind) + _delimited(4, geometry))
        for tag, kind, geometry in zip(tags, types, geometries, strict=True)
    ]
    body = (
        _key(15, 0)
        + _varint(2)  # version
        + _delimited(1, name.encode())
        + b"".join(messages)
        + b"".join(_delimited(3, k.encode()) for k in keys)
        + b"".join(_delimited(4, _value(v)) for v in values)
        + _key(5, 0)
        + _varint(EXTENT)
    )
    return _delimited(3, body)


def _attributes(
    layer: _Layer, codes: NDArray[np.int32], counts: IntArray, fields: frozenset[str] | None
) -> tuple[list[str], list[Any], list[bytes]]:
    """The layer's keys and values tables, and each feature's packed tags."""
    keys: list[str] = []
    values: list[Any] = []
    value_ids = np.full((len(codes), len(layer.names) + 1), -1, dtype=np.int64)
    key_ids: list[int] = []
    for k, name in enumerate(layer.names):
        column = codes[:, k]
        present = column >= 0
        if not present.any() or (fields is not None and name not in fields):
            key_ids.append(-1)
            continue
        used, inverse = np.unique(column[present], return_inverse=True)
        value_ids[present, k] = len(values) + inverse
        values.extend(layer.values[k][int(c)] for c in used)
        key_ids.append(len(keys))
        keys.append(name)
    gathered = counts > 0
    if gathered.any():
        used_counts, inverse = np.unique(counts[gathered], return_inverse=True)
        value_ids[gathered, -1] = len(values) + inverse
        values.extend(int(c) for c in used_counts)
        key_ids.append(len(keys))
        keys.append(COUNT_FIELD)
    else:
        key_ids.append(-1)
    present = value_ids >= 0
    pairs = np.empty((len(codes), value_ids.shape[1], 2), dtype=np.int64)
    pairs[:, :, 0] = np.array(key_ids, dtype=np.int64)[None, :]
    pairs[:, :, 1] = value_ids
    data, lengths = _varints(pairs[present].ravel())
    return keys, values, _split(data, lengths, 2 * present.sum(axis=1))


def _value(value: Any) -> bytes:
    if isinstance(value, bool):
        return _key(7, 0) + _varint(int(value))
    if isinstance(value, int):
        if value >= 0:
            return _key(5, 0) + _varint(value)
        return _key(6, 0) + _varint((value << 1) ^ (value >> 63))
    if isinstance(value, float):
        return _key(3, 1) + struct.pack("<d", value)
    return _delimited(1, str(value).encode())


# -- the tiles of a registry ---------------------------------------------------------------------


class Tiles:
    """The tiles of one registry's public collections. Safe to share between threads; keeps
    up to ``cache_bytes`` of tiles, and the drawable collections of the current revision where
    the database does not draw tiles itself (SQLite) and of the last few ``as_of`` dates."""

    def __init__(self, registry: Registry, *, cache_bytes: int = 64 * 1024**2) -> None:
        self.registry = registry
        self.cache_bytes = cache_bytes
        self._layers: dict[str, _Layer] = {}  # the current state of each collection
        self._past_layers: OrderedDict[tuple[str, dt.date], _Layer] = OrderedDict()
        self._layer_lock = threading.Lock()
        self._cache: OrderedDict[TileKey, Tile] = OrderedDict()
        self._cached_bytes = 0
        self._cache_lock = threading.Lock()
        # whether the database draws the current state's tiles in SQL (None: not asked yet),
        # and the extent of each collection it gave, with the revision it was measured at
        self._in_sql: bool | None = None
        self._extents: dict[str, tuple[int, tuple[float, float, float, float] | None]] = {}

    def tile(self, collection_id: str, z: int, x: int, y: int, as_of: dt.date | None = None) -> Tile:
        """Tile z/x/y of a collection as it is now, or as it was on ``as_of``."""
        spec = collection(collection_id)  # UnknownRecord for any other id
        check_tile(z, x, y)
        revision = self.revision()
        key: TileKey = (spec.id, as_of, z, x, y)
        with self._cache_lock:
            cached = self._cache.get(key)
            if cached is not None and cached.revision == revision:
                self._cache.move_to_end(key)
                return cached
        fields = None if z >= DETAIL_ZOOM else MAP_FIELDS.get(spec.id)
        drawn = self._draw_in_sql(spec.id, z, x, y, fields) if as_of is None else None
        if drawn is None:
            layer = self._layer(spec.id, revision, as_of)
            # a dense tile makes tens of thousands of short-lived geometries: without the pause,
            # the cyclic collector walks the whole collection again and again (0.6 s on 100k areas)
            with collector_paused():
                data, count = render(
                    layer, spec.id, z, x, y, keep_small=spec.id in HAZARD_COLLECTIONS, fields=fields
                )
            revision = layer.revision
        else:
            data, count, revision = drawn
        digest = hashlib.blake2b(RENDERING.encode() + b"\0" + data, digest_size=12).hexdigest()
        tile = Tile(spec.id, z, x, y, revision, data, count, etag=f'"{digest}"', as_of=as_of)
        self._remember(key, tile)
        return tile

    def bounds(
        self, collection_id: str, as_of: dt.date | None = None
    ) -> tuple[float, float, float, float] | None:
        """The collection's extent in longitude/latitude (None when it is empty)."""
        spec = collection(collection_id)
        revision = self.revision()
        if as_of is None:
            measured = self._extent_in_sql(spec.id, revision)
            if measured is not None:
                return measured[0]
        return self._layer(spec.id, revision, as_of).lonlat_bounds

    def fields(self, collection_id: str, as_of: dt.date | None = None) -> dict[str, str]:
        """The attributes a tile of this collection may carry, each with a word on it."""
        spec = collection(collection_id)
        described = {f.name: f.description or f.name.replace("_", " ") for f in spec.filters}
        revision = self.revision()
        measured = self._extent_in_sql(spec.id, revision) if as_of is None else None
        names = measured[1] if measured is not None else self._layer(spec.id, revision, as_of).names
        out = {name: described.get(name, name.replace("_", " ")) for name in names}
        out[COUNT_FIELD] = "on a point standing for several features: how many"
        return out

    def revision(self) -> int:
        return int(queries.registry_status(self.registry)["revision"])

    def cache_info(self) -> Mapping[str, int]:
        with self._cache_lock:
            return {"tiles": len(self._cache), "bytes": self._cached_bytes}

    def _draw_in_sql(
        self, collection_id: str, z: int, x: int, y: int, fields: frozenset[str] | None
    ) -> tuple[bytes, int, int] | None:
        """Tile z/x/y of the current state drawn by the database in one query (PostGIS), with
        the revision it shows; None where the database does not draw tiles (SQLite)."""
        layer = SQL_LAYERS.get(collection_id)
        if layer is None or self._in_sql is False:
            return None
        with self.registry.store.read() as tx:
            drawer = tx.vector_tiles()
            self._in_sql = drawer is not None
            if drawer is None:
                return None
            drawn = drawer.draw(layer, tile_frame(z, x, y), fields)
            revision = tx.revision()
        if drawn is None:  # the database failed on it (logged): drawn in Python instead
            return None
        data, count = drawn
        return (data if count else b""), count, revision

    def _extent_in_sql(
        self, collection_id: str, revision: int
    ) -> tuple[tuple[float, float, float, float] | None, list[str]] | None:
        """The current extent of a collection measured by the database, and the attributes its
        tiles carry (as ``_Layer.names``: none of a collection without features, but ``id``);
        None where the database does not draw tiles."""
        layer = SQL_LAYERS.get(collection_id)
        if layer is None or self._in_sql is False:
            return None
        with self._layer_lock:
            known = self._extents.get(collection_id)
        if known is None or known[0] != revision:
            with self.registry.store.read() as tx:
                drawer = tx.vector_tiles()
                self._in_sql = drawer is not None
                if drawer is None:
                    return None
                known = (tx.revision(), drawer.extent(layer))
            with self._layer_lock:
                self._extents[collection_id] = known
        bounds = known[1]
        with_id = not any(f.name == "ref" for f in COLLECTIONS[collection_id].filters)
        names = layer.names if bounds is not None else (["id"] if with_id else [])
        return bounds, names

    def _layer(self, collection_id: str, revision: int, as_of: dt.date | None = None) -> _Layer:
        """The collection at this revision, now or as of a date: the current ones are kept,
        and the last ``AS_OF_LAYERS`` read as of a date."""
        with self._layer_lock:
            if as_of is None:
                layer = self._layers.get(collection_id)
            else:
                layer = self._past_layers.get((collection_id, as_of))
                if layer is not None:
                    self._past_layers.move_to_end((collection_id, as_of))
            if layer is None or layer.revision != revision:
                # read under the lock: concurrent first requests share one read
                spec = COLLECTIONS[collection_id]
                with_id = not any(f.name == "ref" for f in spec.filters)
                described = SQL_LAYERS.get(collection_id)
                with collector_paused():  # as for an import: many objects, all kept
                    if as_of is None and described is not None:
                        # the current rows, column by column: no feature, no dict per row
                        with self.registry.store.read() as tx:
                            parts = [tx.current_columns(source) for source in described.sources]
                        layer = _Layer.of_columns(parts, described.names, revision, with_id=with_id)
                    else:
                        layer = _Layer.of(spec.read(self.registry, as_of), revision, with_id=with_id)
                if as_of is None:
                    self._layers[collection_id] = layer
                else:
                    self._past_layers[(collection_id, as_of)] = layer
                    while len(self._past_layers) > AS_OF_LAYERS:
                        self._past_layers.popitem(last=False)
            return layer

    def _remember(self, key: TileKey, tile: Tile) -> None:
        size = len(tile.data) + 200  # the bytes and the bookkeeping
        if size > self.cache_bytes:
            return
        with self._cache_lock:
            old = self._cache.pop(key, None)
            if old is not None:
                self._cached_bytes -= len(old.data) + 200
            self._cache[key] = tile
            self._cached_bytes += size
            while self._cached_bytes > self.cache_bytes:
                _, dropped = self._cache.popitem(last=False)
                self._cached_bytes -= len(dropped.data) + 200


__all__ = [
    "BUFFER",
    "EXTENT",
    "MAX_ZOOM",
    "MEDIA_TYPE",
    "MIN_ZOOM",
    "Tile",
    "Tiles",
    "check_tile",
    "lonlat_to_pixel",
    "lonlat_to_tile",
    "point_cell_pixels",
    "render",
    "tile_bounds_lonlat",
]
