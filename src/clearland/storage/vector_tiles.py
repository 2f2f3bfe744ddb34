"""Vector tiles drawn by the database (PostGIS): one SQL query per tile, ending in ``ST_AsMVT``.

``services.tiles`` draws a tile in Python from a collection read whole; on PostgreSQL it asks
this module instead, describing the collection (``TileLayer``: which rows of which current
tables, which of their columns as attributes) and the tile (``TileFrame``: the tile's corner,
scale and buffered box in Web Mercator metres, the pixel, the simplification tolerance and the
cell of gathered points, all computed there). The query draws what the Python path draws:

1. the rows whose geometry meets the buffered tile (GiST on ``geom_pg``, then the test of their
   box in Web Mercator that the Python path's STRtree makes: the stored box in degrees,
   projected by the same formula, so that a point or a small area never needs its geometry);
2. points, and geometries smaller than a display pixel both ways, become a point at the centre
   of their box; for a layer of hazards (``keep_small``) every such geometry does, otherwise
   only points do (the others are left out);
3. the other geometries are clipped to the buffered tile (``ST_ClipByBox2D``: GEOS's clip by
   rectangle, as ``shapely.clip_by_rect``) and simplified by Douglas–Peucker as GEOS does it
   for ``shapely.simplify`` (``ST_Simplify``, PostGIS's own; where shapely's GEOS also drops a
   ring's start point lying within the tolerance of its neighbours' segment, so does the
   query; an area left invalid is mended by a buffer of 0), moved to tile units, snapped to the
   grid keeping them valid (``ST_ReducePrecision``: GEOS's ``setPrecision``, as
   ``shapely.set_precision``) and oriented as MVT asks; a hazard that the grid collapses
   becomes a point on its clipped surface (``ST_PointOnSurface``);
4. the points are gathered with one ``GROUP BY`` on their cell: each cell's point at the mean
   position (rounded to the grid), with ``count`` when it stands for more than one feature and
   each attribute only where all its features share the value;
5. ``ST_AsMVT`` encodes the layer; the query also returns the number of features drawn.

Attributes are rendered as the Python path renders them: ";"-joined lists as comma-separated
text (none when empty), dates as ``YYYY-MM-DD``; an absent value (NULL) is no attribute.
Geometry beyond ±85.0511° (which Web Mercator cannot show) is clipped to that latitude before
it is projected, as the Python path clips the lines and areas it draws (its points and boxes are
pressed onto that latitude): points and boxes land in the same place, and a line or an area
lying wholly beyond is not drawn.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import shapely
from sqlalchemy import Connection, Date, Table, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError
from sqlalchemy.types import String

from clearland.domain.records import RECORD_TYPES
from clearland.storage import schema as t

log = logging.getLogger("clearland.tiles")

#: columns holding a ";"-joined list (as ``repository.LIST_FIELDS``)
_LIST_COLUMNS = frozenset(
    spec.name for rt in RECORD_TYPES.values() for spec in rt.fields if spec.kind in ("vocab_list", "str_list")
)


# -- what a layer holds ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """An attribute read from a column of the row."""

    name: str


@dataclass(frozen=True)
class ItemKey:
    """An attribute read from a key of the JSON item (``TileSource.items``)."""

    key: str


@dataclass(frozen=True)
class ItemId:
    """An item's id: the row's ``column``, then ``infix``, then the item's number (from 1)."""

    column: str
    infix: str


Value = Column | ItemKey | ItemId


@dataclass(frozen=True)
class TileSource:
    """Features from the current rows of one record kind: with ``items`` (a JSON column holding
    a list of ``{"lon": …, "lat": …, …}``), one point per item of each row instead of the row's
    own geometry."""

    kind: str
    #: attribute name → where its value comes from
    attributes: Mapping[str, Value]
    #: rows kept: column → the values it may hold
    only: Mapping[str, Sequence[str]] = field(default_factory=dict)
    items: str | None = None


@dataclass(frozen=True)
class TileLayer:
    name: str
    sources: tuple[TileSource, ...]
    #: hazards: a geometry too small to draw, or collapsed by the grid, becomes a point
    keep_small: bool

    @property
    def names(self) -> list[str]:
        """Every attribute of the layer, in the order the sources give them."""
        out: list[str] = []
        for source in self.sources:
            out.extend(n for n in source.attributes if n not in out)
        return out


@dataclass(frozen=True)
class TileFrame:
    """Where and how finely one tile is drawn. Lengths in Web Mercator metres (EPSG:3857);
    tile units run right and down from the tile's top-left corner (``minx``, ``maxy``)."""

    minx: float
    maxy: float
    scale: float  # tile units per metre
    box: tuple[float, float, float, float]  # the tile and its buffer: minx, miny, maxx, maxy
    lonlat_box: tuple[float, float, float, float]  # the same in degrees (widened at the poles)
    pixel_m: float  # a display pixel
    tolerance_m: float  # of the simplification
    cell: int  # tile units across a cell of gathered points
    extent: int  # tile units across the tile
    buffer: int  # tile units drawn beyond each edge
    max_lat: float  # the latitude of Web Mercator's square edge
    earth_radius_m: float  # of Web Mercator's sphere


# -- drawing ----------------------------------------------------------------------------------------


def _drops_ring_start() -> bool:
    """Whether shapely's Douglas–Peucker (GEOS 3.12 on) also drops a ring's start point lying
    within the tolerance of the segment joining its neighbours (PostGIS's ``ST_Simplify`` never
    does): a thin triangle collapses there, and a hazard becomes a point."""
    probe = shapely.Polygon([(0, 0.1), (10, 0), (10, 10), (-10, 10), (-10, 0)])
    simplified = shapely.simplify(probe, 1.0, preserve_topology=False)
    return len(simplified.exterior.coords) == 5


DROPS_RING_START = _drops_ring_start()


class PostGISTiles:
    """Tiles of the current state drawn by PostGIS, in the caller's transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def draw(
        self, layer: TileLayer, frame: TileFrame, fields: frozenset[str] | None = None
    ) -> tuple[bytes, int] | None:
        """The MVT bytes of one tile (empty when nothing meets it) and how many features it
        holds; ``fields``: the attributes to carry (default: all). None when the database
        failed to draw it (logged)."""
        names = [n for n in layer.names if fields is None or n in fields]
        params: dict[str, Any] = {}
        sources = [self._source(s, names, params, k) for k, s in enumerate(layer.sources)]
        # the geometries to draw as lines and areas, fetched (by record id) only for the rows
        # larger than a pixel and clipped to the buffered tile: in Web Mercator, what lies
        # beyond ±maxlat cut off first (PROJ refuses the poles)
        clipped = [
            f"""SELECT {"".join(f"near.a{i}, " for i in range(len(names)))}ST_ClipByBox2D(ST_Transform(
                       CASE WHEN near.lat0 >= -:maxlat AND near.lat1 <= :maxlat THEN r.geom_pg
                            ELSE ST_ClipByBox2D(r.geom_pg, ST_MakeBox2D(ST_Point(-360, -:maxlat),
                                                                       ST_Point(360, :maxlat)))
                       END, 3857), ST_MakeBox2D(ST_Point(:bx0, :by0), ST_Point(:bx1, :by1))) AS c
                FROM near JOIN {t.CURRENT_TABLES[source.kind].name} AS r ON r.record_id = near.rid
                WHERE near.k = {k} AND NOT near.small"""
            for k, source in enumerate(layer.sources)
            if source.items is None
        ] or [
            f"SELECT {''.join(f'NULL AS a{i}, ' for i in range(len(names)))}NULL::geometry AS c WHERE false"
        ]
        attrs = [f"a{i}" for i in range(len(names))]
        carry = "".join(f"{a}, " for a in attrs)
        shared = "".join(
            f"CASE WHEN count({a}) = count(*) AND min({a}) = max({a}) THEN min({a}) END AS {a}, "
            for a in attrs
        )
        renamed = "".join(f'{a} AS "{n}", ' for a, n in zip(attrs, names, strict=True))
        drawn = _SIMPLIFIED_DROPPING_RING_START if DROPS_RING_START else "s.simplified"
        minx, maxy = frame.minx, frame.maxy
        bx0, by0, bx1, by1 = frame.box
        w, s, e, n = frame.lonlat_box
        params.update(
            w=w, s=s, e=e, n=n, bx0=bx0, by0=by0, bx1=bx1, by1=by1, minx=minx, maxy=maxy,
            scale=frame.scale, pixel=frame.pixel_m, tol=frame.tolerance_m, cell=frame.cell,
            low=-frame.buffer, high=frame.extent + frame.buffer, maxlat=frame.max_lat,
            radius=frame.earth_radius_m,
            keep_small=layer.keep_small, layer=layer.name, extent=frame.extent,
        )  # fmt: skip
        # each stage that later ones read more than once is MATERIALIZED (or an OFFSET 0
        # subquery): PostgreSQL would otherwise inline it and compute a geometry once per use
        statement = f"""
        WITH src AS ({" UNION ALL ".join(sources)}),
        near AS MATERIALIZED (
            SELECT b.*, b.point_like OR (b.x1 - b.x0 < :pixel AND b.y1 - b.y0 < :pixel) AS small
            FROM (
                SELECT src.*, {_mercator_x("src.lon0")} AS x0, {_mercator_y("src.lat0")} AS y0,
                       {_mercator_x("src.lon1")} AS x1, {_mercator_y("src.lat1")} AS y1
                FROM src
            ) AS b
            WHERE b.x1 >= :bx0 AND b.x0 <= :bx1 AND b.y1 >= :by0 AND b.y0 <= :by1
        ),
        clipped AS MATERIALIZED ({" UNION ALL ".join(clipped)}),
        simplified AS MATERIALIZED (
            SELECT clipped.*, ST_Simplify(clipped.c, :tol) AS simplified FROM clipped
        ),
        rough AS MATERIALIZED (
            SELECT {carry}s.c, {drawn} AS r FROM simplified AS s
        ),
        shapes AS MATERIALIZED (
            SELECT t.*, COALESCE(GeometryType(t.d) IN ('POLYGON', 'MULTIPOLYGON', 'LINESTRING',
                                                       'MULTILINESTRING') AND NOT ST_IsEmpty(t.d),
                                 false) AS shown
            FROM (
                -- an area the simplification left invalid is mended by a buffer of 0, as GEOS's
                -- Douglas–Peucker does; then moved to tile units and snapped to the grid
                SELECT {carry}rough.c, ST_ForcePolygonCCW(ST_ReducePrecision(ST_Scale(ST_Translate(
                           CASE WHEN GeometryType(rough.r) IN ('POLYGON', 'MULTIPOLYGON')
                                     AND NOT (ST_IsValidDetail(rough.r)).valid
                                THEN ST_Buffer(rough.r, 0) ELSE rough.r END,
                           -:minx, -:maxy), :scale, -:scale), 1)) AS d
                FROM rough OFFSET 0
            ) AS t
        ),
        lost AS MATERIALIZED (
            SELECT {carry}ST_PointOnSurface(shapes.c) AS p
            FROM shapes WHERE :keep_small AND NOT shapes.shown AND NOT ST_IsEmpty(shapes.c)
        ),
        points AS (
            SELECT {carry}((near.x0 + near.x1) / 2 - :minx) * :scale AS tx,
                   (:maxy - (near.y0 + near.y1) / 2) * :scale AS ty
            FROM near WHERE near.point_like OR (:keep_small AND near.small)
            UNION ALL
            SELECT {carry}(ST_X(lost.p) - :minx) * :scale, (:maxy - ST_Y(lost.p)) * :scale FROM lost
        ),
        gathered AS (
            SELECT {shared}count(*) AS n, round(avg(tx)) AS px, round(avg(ty)) AS py
            FROM points
            WHERE tx BETWEEN :low AND :high AND ty BETWEEN :low AND :high
            GROUP BY floor((tx - :low) / :cell), floor((ty - :low) / :cell)
        ),
        features AS MATERIALIZED (
            SELECT {carry}shapes.d AS geom, NULL::bigint AS n FROM shapes WHERE shapes.shown
            UNION ALL
            SELECT {carry}ST_MakePoint(gathered.px, gathered.py), CASE WHEN gathered.n > 1 THEN gathered.n END
            FROM gathered
        )
        SELECT ST_AsMVT(q, :layer, :extent, 'geom'), (SELECT count(*) FROM features)
        FROM (SELECT {renamed}features.n AS "count", features.geom FROM features) AS q
        """
        # the planner's guesses for ST_Dump and the like are large enough to start the JIT
        # compiler, which takes seconds over a query that needs milliseconds
        self.conn.execute(text("SET LOCAL jit = off"))
        try:
            with self.conn.begin_nested():  # a savepoint: a failure leaves the transaction usable
                data, count = self.conn.execute(_bound(statement, params)).one()
        except DBAPIError as exc:
            # GEOS refusing a geometry, say: the caller draws this tile in Python instead
            log.warning("PostGIS could not draw a tile of %s: %s", layer.name, exc.orig)
            return None
        return bytes(data or b""), int(count or 0)

    def extent(self, layer: TileLayer) -> tuple[float, float, float, float] | None:
        """The layer's extent in longitude/latitude (the rows' stored boxes), None when it
        holds nothing."""
        params: dict[str, Any] = {}
        parts = []
        for k, source in enumerate(layer.sources):
            rows, conditions = _rows(source, params, k)
            where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
            if source.items is None:
                box = "min(r.minx), min(r.miny), max(r.maxx), max(r.maxy)"
            else:
                box = f"min({_ITEM_LON}), min({_ITEM_LAT}), max({_ITEM_LON}), max({_ITEM_LAT})"
            parts.append(f"SELECT {box} FROM {rows}{where}")
        statement = (
            "SELECT min(x0), min(y0), max(x1), max(y1) "
            f"FROM ({' UNION ALL '.join(parts)}) AS e(x0, y0, x1, y1)"
        )
        row = self.conn.execute(_bound(statement, params)).one()
        if row[0] is None:
            return None
        return (float(row[0]), float(row[1]), float(row[2]), float(row[3]))

    def _source(self, source: TileSource, names: Sequence[str], params: dict[str, Any], k: int) -> str:
        """One ``SELECT`` of ``src``: the attributes a0…, the source's number ``k`` and the row's
        record id ``rid`` (to fetch its geometry if it is drawn as a line or an area), its stored
        box (``lon0``, ``lat0``, ``lon1``, ``lat1``) and whether it is a point or points
        (``point_like``), of the rows whose geometry meets the tile's box."""
        table = t.CURRENT_TABLES[source.kind]
        values = [_value(table, source.attributes[n]) if n in source.attributes else "NULL" for n in names]
        selected = "".join(f"{v} AS a{i}, " for i, v in enumerate(values))
        rows, conditions = _rows(source, params, k)
        if source.items is None:
            # GeometryType reads only the geometry's header, not the whole (perhaps TOASTed) value
            shape = f"{k} AS k, r.record_id AS rid, r.minx AS lon0, r.miny AS lat0, r.maxx AS lon1, "
            shape += "r.maxy AS lat1, GeometryType(r.geom_pg) IN ('POINT', 'MULTIPOINT') AS point_like"
            conditions.append("r.geom_pg && ST_MakeEnvelope(:w, :s, :e, :n, 4326)")
        else:
            shape = f"{k} AS k, NULL::integer AS rid, {_ITEM_LON} AS lon0, {_ITEM_LAT} AS lat0, "
            shape += f"{_ITEM_LON} AS lon1, {_ITEM_LAT} AS lat1, true AS point_like"
            conditions.append(f"{_ITEM_LON} BETWEEN :w AND :e AND {_ITEM_LAT} BETWEEN :s AND :n")
        return f"SELECT {selected}{shape} FROM {rows} WHERE {' AND '.join(conditions)}"


def _mercator_x(lon: str) -> str:
    """Web Mercator x of a longitude, as ``services.tiles`` computes it (in numpy)."""
    return f"(radians({lon}) * :radius)"


def _mercator_y(lat: str) -> str:
    """Web Mercator y of a latitude, pressed onto ±``maxlat`` as ``services.tiles`` does."""
    return f"(ln(tan(pi() / 4 + radians(LEAST(GREATEST({lat}, -:maxlat), :maxlat)) / 2)) * :radius)"


_ITEM_LON = "(i.item->>'lon')::float8"
_ITEM_LAT = "(i.item->>'lat')::float8"


def _rows(source: TileSource, params: dict[str, Any], k: int) -> tuple[str, list[str]]:
    """The rows of a source (``r``, and with ``items`` each item ``i.item`` with its number
    ``i.number`` from 1; none where the column holds no list), and the conditions on them."""
    table = t.CURRENT_TABLES[source.kind]
    rows = f"{table.name} AS r"
    if source.items is not None:
        column = f'r."{source.items}"'
        rows += (
            f" CROSS JOIN LATERAL json_array_elements(CASE WHEN json_typeof({column}) = 'array' "
            f"THEN {column} END) WITH ORDINALITY AS i(item, number)"
        )
    conditions = []
    for j, (name, allowed) in enumerate(source.only.items()):
        params[f"only_{k}_{j}"] = list(allowed)
        conditions.append(f'r."{name}" = ANY(:only_{k}_{j})')
    return rows, conditions


def _bound(statement: str, params: dict[str, Any]) -> Any:
    """The statement with its parameters; lists (of ``only``) as text arrays."""
    return text(statement).bindparams(
        *(bindparam(k, v, type_=ARRAY(String)) for k, v in params.items() if isinstance(v, list)),
        **{k: v for k, v in params.items() if not isinstance(v, list)},
    )


def _value(table: Table, value: Value) -> str:
    """The SQL of one attribute, rendered as the Python path renders it."""
    if isinstance(value, ItemKey):
        return f"(i.item->>'{_quoted(value.key)}')"
    if isinstance(value, ItemId):
        return f"(r.\"{value.column}\" || '{_quoted(value.infix)}' || i.number)"
    column = f'r."{value.name}"'
    if value.name in _LIST_COLUMNS:
        return f"NULLIF(array_to_string(array_remove(string_to_array({column}, ';'), ''), ','), '')"
    if isinstance(table.c[value.name].type, Date):
        return f"to_char({column}, 'YYYY-MM-DD')"
    return column


def _quoted(literal: str) -> str:
    return literal.replace("'", "''")


#: the simplified geometry with, in each ring of a polygon, the start point dropped where it lies
#: within the tolerance of the segment joining its neighbours (as GEOS's Douglas–Peucker does
#: from 3.12); a ring left with fewer than 4 points is dropped, and a polygon without its shell
#: (NULL where nothing is left). A polygon of one ring (most) is done without taking it apart.
_RING_START_DROPPED = """
    CASE WHEN e.n >= 4 AND ST_Distance(ST_StartPoint(e.ring),
                                       ST_MakeLine(ST_PointN(e.ring, 2), ST_PointN(e.ring, e.n - 1))) <= :tol
         THEN ST_AddPoint(ST_RemovePoint(ST_RemovePoint(e.ring, e.n - 1), 0), ST_PointN(e.ring, 2))
         ELSE e.ring END"""
_SIMPLIFIED_DROPPING_RING_START = f"""
    CASE WHEN GeometryType(s.simplified) = 'POLYGON' AND ST_NRings(s.simplified) = 1 THEN (
        SELECT CASE WHEN ST_NPoints(fixed.ring) >= 4 THEN ST_MakePolygon(fixed.ring) END FROM (
            SELECT {_RING_START_DROPPED} AS ring
            FROM (SELECT x.ring, ST_NPoints(x.ring) AS n
                  FROM (SELECT ST_ExteriorRing(s.simplified) AS ring OFFSET 0) AS x OFFSET 0) AS e
        ) AS fixed)
    WHEN GeometryType(s.simplified) IN ('POLYGON', 'MULTIPOLYGON') THEN (
        SELECT ST_CollectionHomogenize(ST_Collect(polygon ORDER BY part)) FROM (
            SELECT part, ST_MakePolygon(rings[1], rings[2:]) AS polygon FROM (
                SELECT part, array_agg(ring ORDER BY k) AS rings, bool_or(k = 0) AS has_shell FROM (
                    SELECT d.path[1] AS part, r.path[1] AS k, {_RING_START_DROPPED} AS ring
                    FROM ST_Dump(s.simplified) AS d
                    CROSS JOIN LATERAL ST_DumpRings(d.geom) AS r
                    CROSS JOIN LATERAL (SELECT ST_ExteriorRing(r.geom) AS ring) AS x
                    CROSS JOIN LATERAL (SELECT x.ring, ST_NPoints(x.ring) AS n) AS e
                ) AS fixed WHERE ST_NPoints(fixed.ring) >= 4 GROUP BY part
            ) AS grouped WHERE has_shell
        ) AS polygons)
    ELSE s.simplified END"""
