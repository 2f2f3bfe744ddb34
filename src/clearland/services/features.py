"""The public layers as feature collections (OGC API – Features): which collections there are,
their items filtered by bbox, date and public properties, paged, and one item by its id.

Geometry is CRS84 (longitude, latitude on WGS84), as stored. Only public fields ever leave
here: hazard areas, outcomes and admin areas go through ``public_view``
(``queries.records(public=True)``); markers are built from the public ``markers`` field of
activities and from the marker records (``MK-…``) of minefield marking reports, by their public
fields only (never the minefield record they mark, ``minefield_ref``).

A collection is read whole once per registry revision (and ``as_of`` date) and kept in a small
cache, so paging through it costs one read, not one per page.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray

from clearland.domain.records import ADMIN_AREA, HAZARD_AREA, OUTCOME, RECORD_TYPES, FieldSpec, parse_date
from clearland.domain.vocab import ActivityType, MarkerCondition, MarkerType, OutcomeKind, RecordKind
from clearland.errors import InputError, UnknownRecord
from clearland.services import queries
from clearland.services.registry import Registry

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
DEFAULT_LIMIT = 10
MAX_LIMIT = 10_000
#: parameters every items request may carry besides the property filters; ``crs`` and
#: ``bbox-crs`` (OGC API – Features Part 2, which clients such as GDAL send) only as CRS84
ITEMS_PARAMETERS = ("bbox", "datetime", "limit", "offset", "as_of", "crs", "bbox-crs")
RELEASED = frozenset({OutcomeKind.CANCELLED.value, OutcomeKind.REDUCED.value, OutcomeKind.CLEARED.value})
NOT_PROOF_OF_SAFETY = (
    "The absence of a recorded hazard area is not proof that land is safe: "
    "the registry holds only what has been reported and approved."
)

BBox = tuple[float, float, float, float]
Interval = tuple[dt.date | None, dt.date | None]


@dataclass(frozen=True)
class Feature:
    id: str
    properties: dict[str, Any]
    geometry: shapely.Geometry


@dataclass(frozen=True)
class Collection:
    id: str
    title: str
    description: str
    #: the public properties a request may filter on (``?status=open``), in the order documented
    filters: tuple[FieldSpec, ...]
    read: Callable[[Registry, dt.date | None], list[Feature]]


@dataclass(frozen=True)
class ItemsQuery:
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    bbox: BBox | None = None
    interval: Interval | None = None
    where: Mapping[str, Any] = field(default_factory=dict)
    as_of: dt.date | None = None


@dataclass(frozen=True)
class Page:
    features: list[Feature]
    number_matched: int
    query: ItemsQuery
    time_stamp: str

    @property
    def number_returned(self) -> int:
        return len(self.features)

    @property
    def has_next(self) -> bool:
        return self.query.offset + len(self.features) < self.number_matched

    @property
    def has_prev(self) -> bool:
        return self.query.offset > 0


@dataclass(frozen=True)
class Extent:
    bbox: BBox | None
    interval: Interval | None


# -- the collections -------------------------------------------------------------------------


def _public_records(kind: RecordKind) -> Callable[[Registry, dt.date | None], list[Feature]]:
    def read(registry: Registry, as_of: dt.date | None) -> list[Feature]:
        states = queries.records(registry, kind, as_of=as_of, public=True)
        if kind is RecordKind.OUTCOME:
            states = [s for s in states if s.get("kind") in RELEASED]
        return [_feature(s) for s in states]

    return read


def _feature(state: Mapping[str, Any]) -> Feature:
    properties = {k: v for k, v in state.items() if k != "geometry"}
    return Feature(id=str(state["ref"]), properties=properties, geometry=state["geometry"])


#: the properties of every marker, whichever kind of report placed it
MARKER_PROPERTIES = (
    "type",
    "description",
    "condition",
    "hazard_ref",
    "installed_on",
    "last_inspected",
    "activity_ref",
    "activity_type",
    "organisation",
    "date_of_information",
)


def _markers(registry: Registry, as_of: dt.date | None) -> list[Feature]:
    """One feature per marker: those placed by an approved activity (a point each,
    ``ACT-000003-M1`` and so on), then the marker records of minefield marking reports
    (``MK-000001``: a point, or a line for a fence) by their public fields."""
    features = []
    for activity in queries.records(registry, RecordKind.ACTIVITY, as_of=as_of, public=True):
        for number, marker in enumerate(activity.get("markers") or [], start=1):
            values = {
                "type": marker.get("type"),
                "description": marker.get("description"),
                "activity_ref": activity["ref"],
                "activity_type": activity.get("activity_type"),
                "organisation": activity.get("organisation"),
                "date_of_information": activity.get("date_of_information"),
            }
            features.append(
                Feature(
                    id=f"{activity['ref']}-M{number}",
                    properties={name: values.get(name) for name in MARKER_PROPERTIES},
                    geometry=shapely.Point(float(marker["lon"]), float(marker["lat"])),
                )
            )
    # public=True keeps the marker record's public fields only: its link to the minefield
    # record (``minefield_ref``) never leaves here, nor anything of the record itself
    for marker in queries.records(registry, RecordKind.MARKER, as_of=as_of, public=True):
        features.append(
            Feature(
                id=str(marker["ref"]),
                properties={name: marker.get(name) for name in MARKER_PROPERTIES},
                geometry=marker["geometry"],
            )
        )
    return features


MARKER_FILTERS = (
    FieldSpec("type", "vocab", MarkerType, public=True, description="sign · fence · permanent_marker"),
    FieldSpec("activity_ref", "str", public=True, description="the activity that placed it"),
    FieldSpec("activity_type", "vocab", ActivityType, public=True),
    FieldSpec("organisation", "str", public=True),
    FieldSpec("condition", "vocab", MarkerCondition, public=True, description="good · damaged · missing"),
    FieldSpec("hazard_ref", "str", public=True, description="the hazard area it marks"),
)

COLLECTIONS: dict[str, Collection] = {
    c.id: c
    for c in (
        Collection(
            id="hazard-areas",
            title="Hazard areas",
            description=(
                "Recorded hazard areas (indications, SHAs, CHAs) with their category, status, "
                "hazard types and marking. " + NOT_PROOF_OF_SAFETY
            ),
            filters=tuple(s for s in HAZARD_AREA.fields if s.public),
            read=_public_records(RecordKind.HAZARD_AREA),
        ),
        Collection(
            id="released-land",
            title="Released land",
            description=(
                "Parts of hazard areas released by survey or clearance: cancelled, reduced or "
                "cleared, each with the hazard area and the activity it belongs to."
            ),
            filters=tuple(s for s in OUTCOME.fields if s.public),
            read=_public_records(RecordKind.OUTCOME),
        ),
        Collection(
            id="markers",
            title="Markers",
            description=(
                "Signs, fences and permanent markers placed on the ground: those placed by approved "
                "activities and those of approved marking reports (MK-…, with their condition)."
            ),
            filters=MARKER_FILTERS,
            read=_markers,
        ),
        Collection(
            id="admin-areas",
            title="Admin areas",
            description=(
                "The administrative areas the registry reports by (name, code, level), as imported "
                "with `clearland import FILE --as admin-areas`."
            ),
            filters=tuple(s for s in ADMIN_AREA.fields if s.public),
            read=_public_records(RecordKind.ADMIN_AREA),
        ),
    )
}


def collection(collection_id: str) -> Collection:
    try:
        return COLLECTIONS[collection_id]
    except KeyError:
        raise UnknownRecord(
            f"no collection {collection_id!r} (collections: {', '.join(COLLECTIONS)})"
        ) from None


# -- parsing request parameters --------------------------------------------------------------


def parse_items_query(collection_id: str, params: Iterable[tuple[str, str]]) -> ItemsQuery:
    """The query in ``params`` (name, value pairs as given); ``InputError`` naming every
    parameter that is wrong, unknown or given twice."""
    spec = collection(collection_id)
    filters = {f.name: f for f in spec.filters}
    values, problems = _single_values(params, set(ITEMS_PARAMETERS) | set(filters))
    query: dict[str, Any] = {}
    where: dict[str, Any] = {}
    parsers: dict[str, Callable[[str], Any]] = {
        "bbox": parse_bbox,
        "datetime": parse_interval,
        "limit": parse_limit,
        "offset": parse_offset,
        "as_of": parse_as_of,
    }
    for name, raw in values.items():
        try:
            if name in ("crs", "bbox-crs"):
                parse_crs(raw)
            elif name in parsers:
                query["interval" if name == "datetime" else name] = parsers[name](raw)
            else:
                where[name] = _filter_value(filters[name], raw)
        except ValueError as exc:
            problems.append({"parameter": name, "message": str(exc)})
    if problems:
        raise InputError(_summary(problems), detail=problems)
    return ItemsQuery(where=where, **query)


def parse_common(params: Iterable[tuple[str, str]], *, crs: bool = False) -> dt.date | None:
    """``as_of`` (or nothing) for the pages that take no other parameter (and ``crs``, as
    CRS84, where ``crs`` says so: one feature)."""
    values, problems = _single_values(params, {"as_of", "crs"} if crs else {"as_of"})
    as_of = None
    for name, raw in values.items():
        try:
            if name == "as_of":
                as_of = parse_as_of(raw)
            else:
                parse_crs(raw)
        except ValueError as exc:
            problems.append({"parameter": name, "message": str(exc)})
    if problems:
        raise InputError(_summary(problems), detail=problems)
    return as_of


def _single_values(
    params: Iterable[tuple[str, str]], allowed: set[str]
) -> tuple[dict[str, str], list[dict[str, Any]]]:
    values: dict[str, str] = {}
    problems: list[dict[str, Any]] = []
    unknown = 0
    choices = f"allowed: {', '.join(sorted(allowed))}"
    for name, value in params:
        if name not in allowed:
            if _is_restricted(name):
                # never echo the name of a field the public may not see, even back to its sender
                unknown += 1
            else:
                problems.append({"parameter": name, "message": f"unknown parameter ({choices})"})
        elif name in values:
            problems.append({"parameter": name, "message": "given more than once"})
        else:
            values[name] = value
    if unknown:
        problems.append({"parameter": None, "message": f"{unknown} unknown parameter(s) ({choices})"})
    return values, problems


def _is_restricted(name: str) -> bool:
    return name in _RESTRICTED


#: fields no record type shows the public (``minefield_record_ref``, ``evidence_description``, …)
_RESTRICTED = frozenset(
    {s.name for t in RECORD_TYPES.values() for s in t.fields}
    - {s.name for t in RECORD_TYPES.values() for s in t.fields if s.public}
)


def _summary(problems: list[dict[str, Any]]) -> str:
    named = [p for p in problems if p["parameter"]]
    if len(problems) == 1:
        only = problems[0]
        return f"{only['parameter']}: {only['message']}" if only["parameter"] else str(only["message"])
    names = ", ".join(str(p["parameter"]) for p in named)
    return f"{len(problems)} parameters are wrong" + (f": {names}" if names else "")


def parse_bbox(text: str) -> BBox:
    """``minx,miny,maxx,maxy`` (or six numbers with heights, which are ignored), lon/lat
    degrees; minx > maxx crosses the antimeridian."""
    parts = text.split(",")
    if len(parts) not in (4, 6):
        raise ValueError("give 4 numbers: min lon, min lat, max lon, max lat")
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        raise ValueError("give 4 numbers: min lon, min lat, max lon, max lat") from None
    if not all(math.isfinite(n) for n in numbers):
        raise ValueError("every number must be finite")
    minx, miny, maxx, maxy = numbers if len(numbers) == 4 else [numbers[i] for i in (0, 1, 3, 4)]
    if not all(-180 <= x <= 180 for x in (minx, maxx)):
        raise ValueError("longitudes must lie within -180…180")
    if not all(-90 <= y <= 90 for y in (miny, maxy)):
        raise ValueError("latitudes must lie within -90…90")
    if miny > maxy:
        raise ValueError("the minimum latitude is above the maximum")
    return (minx, miny, maxx, maxy)


def parse_interval(text: str) -> Interval:
    """An instant (``2026-03-01``, or an RFC 3339 date-time, taken by its UTC date) or an
    interval ``start/end`` with ``..`` (or nothing) for an open end; both ends inclusive."""
    parts = text.split("/")
    if len(parts) == 1:
        day = _instant(parts[0])
        return (day, day)
    if len(parts) != 2:
        raise ValueError("give an instant or an interval start/end ('..' for an open end)")
    start, end = (None if p.strip() in ("", "..") else _instant(p) for p in parts)
    if start is not None and end is not None and start > end:
        raise ValueError(f"the interval starts ({start}) after it ends ({end})")
    return (start, end)


def _instant(text: str) -> dt.date:
    text = text.strip()
    try:
        if len(text) == 10:
            return dt.date.fromisoformat(text)
        moment = dt.datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD) or an RFC 3339 date-time") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC)
    return moment.date()


def parse_limit(text: str) -> int:
    """1 or more; more than the maximum is taken as the maximum (OGC API – Features)."""
    number = _whole(text)
    if number < 1:
        raise ValueError("must be at least 1")
    return min(number, MAX_LIMIT)


def parse_offset(text: str) -> int:
    number = _whole(text)
    if number < 0:
        raise ValueError("must be 0 or more")
    return number


def parse_crs(text: str) -> str:
    """Only CRS84 (longitude, latitude on WGS84) is served."""
    if text.strip().strip("[]") != CRS84:
        raise ValueError(f"only {CRS84} is served")
    return CRS84


def parse_as_of(text: str) -> dt.date:
    return parse_date(text)


def _whole(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a whole number") from None


def _filter_value(spec: FieldSpec, raw: str) -> Any:
    """The value a property must have (or, for a list property, hold) to match."""
    if not raw.strip():
        raise ValueError("give a value")
    if spec.kind == "vocab_list":
        assert spec.vocab is not None
        return spec.vocab.parse(raw).value
    if spec.kind == "str_list":
        return raw.strip()
    return spec.parse(raw)


# -- reading ---------------------------------------------------------------------------------


@dataclass
class _Layer:
    """One collection as read at one revision: features by id, and arrays to filter them."""

    features: list[Feature]
    geometries: NDArray[np.object_]
    dates: list[dt.date | None]
    index: dict[str, int]

    @classmethod
    def of(cls, features: list[Feature]) -> _Layer:
        dates = [_date(f.properties.get("date_of_information")) for f in features]
        geometries = np.array([f.geometry for f in features], dtype=object)
        return cls(features, geometries, dates, {f.id: i for i, f in enumerate(features)})

    def extent(self) -> Extent:
        if not self.features:
            return Extent(None, None)
        minx, miny, maxx, maxy = (float(v) for v in shapely.total_bounds(self.geometries))
        known = [d for d in self.dates if d is not None]
        interval = (min(known), max(known)) if known else None
        return Extent((minx, miny, maxx, maxy), interval)


def _date(value: Any) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


class Catalogue:
    """The public collections of one registry. Safe to share between threads; keeps the last
    few collections read (per revision and ``as_of``) in memory."""

    def __init__(self, registry: Registry, *, cache_size: int = 6) -> None:
        self.registry = registry
        self._cache: OrderedDict[tuple[str, dt.date | None, int], _Layer] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def status(self) -> dict[str, Any]:
        """The registry's revision and the date of its latest approved information."""
        return queries.registry_status(self.registry)

    def extent(self, collection_id: str, as_of: dt.date | None = None) -> Extent:
        return self._layer(collection_id, as_of).extent()

    def items(self, collection_id: str, query: ItemsQuery) -> Page:
        layer = self._layer(collection_id, query.as_of)
        mask = np.ones(len(layer.features), dtype=bool)
        if query.bbox is not None and len(layer.features):
            mask &= shapely.intersects(layer.geometries, _box(query.bbox))
        if query.interval is not None:
            start, end = query.interval
            mask &= np.array(
                [
                    d is not None and (start is None or d >= start) and (end is None or d <= end)
                    for d in layer.dates
                ],
                dtype=bool,
            )
        for name, value in query.where.items():
            mask &= np.array([_matches(f.properties.get(name), value) for f in layer.features], dtype=bool)
        matched = np.flatnonzero(mask)
        chosen = matched[query.offset : query.offset + query.limit]
        return Page(
            features=[layer.features[int(i)] for i in chosen],
            number_matched=len(matched),
            query=query,
            time_stamp=_now(),
        )

    def item(self, collection_id: str, feature_id: str, as_of: dt.date | None = None) -> Feature:
        layer = self._layer(collection_id, as_of)
        position = layer.index.get(feature_id)
        if position is None:
            when = f" on {as_of}" if as_of else ""
            raise UnknownRecord(f"no feature {feature_id!r} in {collection_id}{when}")
        return layer.features[position]

    def _layer(self, collection_id: str, as_of: dt.date | None) -> _Layer:
        spec = collection(collection_id)
        key = (spec.id, as_of, int(self.status()["revision"]))
        with self._lock:
            layer = self._cache.get(key)
            if layer is not None:
                self._cache.move_to_end(key)
                return layer
            # read under the lock: concurrent first requests share one read, not one each
            layer = _Layer.of(spec.read(self.registry, as_of))
            self._cache[key] = layer
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
            return layer


def _box(bbox: BBox) -> shapely.Geometry:
    minx, miny, maxx, maxy = bbox
    if minx <= maxx:
        return shapely.box(minx, miny, maxx, maxy)
    # across the antimeridian: the part east of minx and the part west of maxx
    return shapely.union(shapely.box(minx, miny, 180, maxy), shapely.box(-180, miny, maxx, maxy))


def _matches(value: Any, wanted: Any) -> bool:
    if isinstance(value, list | tuple):
        return wanted in value
    return bool(value == wanted)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
