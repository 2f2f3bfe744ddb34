"""Land release: outcomes matched to hazard areas, remaining land, the accounting check, and the
state transitions of a hazard area (DOMAIN.md, "Hazard area states", "Land release accounting").

Pure functions over shapely geometries in EPSG:4326 (longitude, latitude). Topology is computed in
lon/lat, which is exact for overlay; every area is measured on the WGS84 ellipsoid, in m². Inputs
are expected valid (``geometry.check_geometry`` / ``geometry.repair`` run before); an invalid or
misplaced outcome is refused with a ``ValueError`` naming it.

Areas are measured on geometry densified to ``MAX_SEGMENT_DEG``: overlay cuts edges that are straight
in lon/lat, and the geodesic between two far vertices is another line. Without it the areas would
not add up: a vertex put in the middle of the 2 km northern edge of a square at 44°N changes its
geodesic area by 77 m², so a cut there would leave a phantom 77 m² "gap". Densified, the pieces of
an overlay add up within 0.03 m² for such a square.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import shapely

from clearland.domain.geometry import check_geometry, geodesic_areas_m2
from clearland.domain.vocab import ActivityType, HazardCategory, HazardStatus, OutcomeKind

Geometry: TypeAlias = shapely.Geometry  # shapely ships no types: this is Any to mypy

#: longest edge (degrees, about 11 m) measured as a geodesic; longer edges are split first
MAX_SEGMENT_DEG = 1e-4

_POLYGONAL = frozenset({"Polygon", "MultiPolygon"})
_HAZARD_TYPES = _POLYGONAL | {"Point", "MultiPoint"}  # an indication may be a point: it has no area


def _areas_m2(geoms: Sequence[Geometry] | np.ndarray) -> np.ndarray:
    return geodesic_areas_m2(shapely.segmentize(np.asarray(geoms, dtype=object), MAX_SEGMENT_DEG))


def measured_areas_m2(geoms: Sequence[Geometry] | np.ndarray) -> np.ndarray:
    """Geodesic areas of overlay results, densified first (see the module docstring)."""
    return _areas_m2(geoms)


class _JsonFields:
    """``to_dict()``: the dataclass's fields, JSON-friendly (geometry as GeoJSON, nested results
    as dicts, enums as values, tuples as lists, m² to six decimals)."""

    def to_dict(self) -> dict[str, Any]:
        fields = dataclasses.fields(self)  # type: ignore[arg-type]  # only dataclasses inherit this
        return {f.name: _jsonable(f.name, getattr(self, f.name)) for f in fields}


def _jsonable(name: str, value: Any) -> Any:
    if isinstance(value, shapely.Geometry):
        return json.loads(shapely.to_geojson(value))
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, _JsonFields):
        return value.to_dict()
    if isinstance(value, tuple):
        return [_jsonable(name, item) for item in value]
    if isinstance(value, float) and name.endswith("_m2"):
        return round(value, 6)
    return value


# ---------------------------------------------------------------------------------------------
# Matching outcomes to hazard areas


@dataclass(frozen=True)
class OutcomePart(_JsonFields):
    """The part of an outcome polygon inside one hazard area."""

    outcome_id: str
    hazard_ref: str
    geometry: Geometry
    area_m2: float


@dataclass(frozen=True)
class Unmatched(_JsonFields):
    """The part of an outcome outside every hazard area (the whole outcome if it touches none)."""

    outcome_id: str
    geometry: Geometry
    area_m2: float


@dataclass(frozen=True)
class Sliver(_JsonFields):
    """A piece below the sliver minimum, dropped. ``hazard_ref`` is ``None`` for a piece outside
    every hazard area."""

    outcome_id: str
    hazard_ref: str | None
    area_m2: float


@dataclass(frozen=True)
class MatchResult(_JsonFields):
    parts: tuple[OutcomePart, ...]
    unmatched: tuple[Unmatched, ...]
    slivers: tuple[Sliver, ...]

    @property
    def is_fully_matched(self) -> bool:
        return not self.unmatched

    def parts_for(self, hazard_ref: str) -> tuple[OutcomePart, ...]:
        return tuple(part for part in self.parts if part.hazard_ref == hazard_ref)


def match_outcomes(
    outcomes: Sequence[tuple[str, Geometry]],
    hazards: Sequence[tuple[str, Geometry]],
    *,
    sliver_min_m2: float = 1.0,
) -> MatchResult:
    """Clip each outcome polygon to every hazard area it overlaps.

    An outcome over two hazard areas gives one part in each. Pieces below ``sliver_min_m2`` are
    dropped and listed as slivers. The part of an outcome outside every hazard area is reported as
    unmatched when it reaches ``sliver_min_m2``; an outcome that overlaps no hazard area at all is
    reported whole, however small (there is nothing to absorb it into). Where hazard areas overlap
    each other, the piece of an outcome in the overlap belongs to each of them: every hazard area's
    own accounting needs it, and totals must come from a union, never from a sum of parts.
    """
    _require_valid(outcomes, _POLYGONAL, "outcome")
    _require_valid(hazards, _HAZARD_TYPES, "hazard area")
    out_geoms = np.array([geom for _, geom in outcomes], dtype=object)
    haz_geoms = np.array([polygonal(geom) for _, geom in hazards], dtype=object)
    if len(out_geoms) == 0:
        return MatchResult((), (), ())

    out_idx, haz_idx = shapely.STRtree(haz_geoms).query(out_geoms, predicate="intersects")
    order = np.lexsort((haz_idx, out_idx))  # by outcome, then hazard: stable output, and slices below
    out_idx, haz_idx = out_idx[order], haz_idx[order]
    pieces = [polygonal(p) for p in shapely.intersection(out_geoms[out_idx], haz_geoms[haz_idx])]
    piece_m2 = _areas_m2(pieces)

    parts: list[OutcomePart] = []
    slivers: list[Sliver] = []
    for o, h, piece, area in zip(out_idx, haz_idx, pieces, piece_m2, strict=True):
        outcome_id, hazard_ref = outcomes[o][0], hazards[h][0]
        if area >= sliver_min_m2:
            parts.append(OutcomePart(outcome_id, hazard_ref, piece, float(area)))
        elif area > 0:  # a hazard that only touches the outcome's edge gives no piece at all
            slivers.append(Sliver(outcome_id, hazard_ref, float(area)))

    bounds = np.searchsorted(out_idx, np.arange(len(out_geoms) + 1))  # outcome o: [bounds[o], bounds[o+1])
    outside = [
        polygonal(geom if a == b else geom - shapely.union_all(haz_geoms[haz_idx[a:b]]))
        for geom, a, b in zip(out_geoms, bounds[:-1], bounds[1:], strict=True)
    ]
    unmatched: list[Unmatched] = []
    for (outcome_id, _), geom, area, a, b in zip(
        outcomes, outside, _areas_m2(outside), bounds[:-1], bounds[1:], strict=True
    ):
        if area >= sliver_min_m2 or (a == b and area > 0):  # touching no hazard: reported whole
            unmatched.append(Unmatched(outcome_id, geom, float(area)))
        elif area > 0:
            slivers.append(Sliver(outcome_id, None, float(area)))
    return MatchResult(tuple(parts), tuple(unmatched), tuple(slivers))


def _require_valid(items: Sequence[tuple[str, Geometry]], allowed: frozenset[str], what: str) -> None:
    for ident, geom in items:
        problem = check_geometry(geom, allowed)
        if problem is not None:
            raise ValueError(f"{what} {ident}: {problem.message}")


# ---------------------------------------------------------------------------------------------
# Remaining land, the accounting check, and the confirmed split


def polygonal(geom: Geometry | None) -> Geometry:
    """The polygonal parts of ``geom`` (overlay results may carry lines and points), as one
    Polygon or MultiPolygon; an empty Polygon if there are none."""
    if geom is None or geom.is_empty:
        return shapely.Polygon()
    if geom.geom_type in _POLYGONAL:
        return geom
    polygons = [
        poly
        for part in shapely.get_parts(geom)
        for poly in (shapely.get_parts(polygonal(part)) if part.geom_type == "GeometryCollection" else [part])
        if poly.geom_type in _POLYGONAL and not poly.is_empty
    ]
    if not polygons:
        return shapely.Polygon()
    # union, not MultiPolygon(...): pieces of one overlay may share an edge
    return polygonal(shapely.union_all(polygons)) if len(polygons) > 1 else polygons[0]


def _union(geoms: Sequence[Geometry]) -> Geometry:
    areal = [polygonal(g) for g in geoms]
    return polygonal(shapely.union_all([g for g in areal if not g.is_empty]))


def remaining_geometry(hazard: Geometry, released: Sequence[Geometry]) -> Geometry:
    """The hazard area minus the union of its released outcome parts (cancelled, reduced,
    cleared); an empty Polygon when nothing remains."""
    return polygonal(polygonal(hazard) - _union(released))


def split_confirmed(
    hazard: Geometry, confirmed: Sequence[Geometry], released: Sequence[Geometry]
) -> tuple[Geometry, Geometry]:
    """A survey on an SHA: ``(confirmed_part, sha_rest)``.

    ``confirmed_part`` is the union of the confirmed outcomes clipped to the hazard area: it becomes
    a CHA. ``sha_rest`` is what stays of the SHA: the hazard area minus the confirmed part minus the
    released outcomes. Either may be an empty Polygon. Land both confirmed and released is a
    contradiction this function does not settle: it counts as confirmed here, and
    ``check_accounting(hazard, released, confirmed_part | sha_rest)`` reports it as an overlap.

    Lineage is the caller's business: when ``sha_rest`` is not empty the service records the CHA
    as a new hazard area whose parent is the SHA, and lists it among the SHA's children; the SHA
    keeps its ref and its geometry, its remaining geometry being ``sha_rest``. When ``sha_rest`` is
    empty, the area itself becomes the CHA (see ``next_state``).
    """
    area = polygonal(hazard)
    confirmed_part = polygonal(_union(confirmed) & area)
    sha_rest = polygonal(area - confirmed_part - _union(released))
    return confirmed_part, sha_rest


@dataclass(frozen=True)
class Patch(_JsonFields):
    """A piece of land the accounting cannot place. ``kind``: ``gap`` (in the hazard area, neither
    released nor remaining), ``overlap`` (both) or ``outside`` (remaining, but outside the area)."""

    kind: str
    area_m2: float
    lon: float
    lat: float


@dataclass(frozen=True)
class AccountingCheck(_JsonFields):
    ok: bool
    hazard_m2: float
    released_m2: float  # union of released outcomes, clipped to the hazard area
    remaining_m2: float
    absorbed_m2: float  # total of the patches below the sliver minimum
    absorbed_count: int
    patches: tuple[Patch, ...]  # those at or above the sliver minimum
    problems: tuple[str, ...]


def check_accounting(
    hazard: Geometry,
    released: Sequence[Geometry],
    remaining: Geometry,
    *,
    tolerance: float = 0.001,
    sliver_min_m2: float = 1.0,
) -> AccountingCheck:
    """Released + remaining must equal the hazard's area within ``tolerance`` (relative).

    Beyond the totals the check is topological: any gap (hazard land neither released nor
    remaining), overlap (land both released and remaining) or overhang (remaining land outside the
    hazard area) is a problem when one piece reaches ``sliver_min_m2``; smaller pieces are
    absorbed, counted and summed, and also widen the totals' tolerance by their area (a 100 m²
    area may hold a 0.5 m² sliver, more than its 0.1 %).
    """
    area = polygonal(hazard)
    rel = polygonal(_union(released) & area)
    rem = polygonal(remaining)
    hazard_m2, released_m2, remaining_m2 = (float(a) for a in _areas_m2([area, rel, rem]))

    pieces: list[tuple[str, Geometry]] = []
    for kind, geom in (("gap", area - rel - rem), ("overlap", rel & rem), ("outside", rem - area)):
        pieces += [(kind, part) for part in shapely.get_parts(polygonal(geom))]
    piece_m2 = _areas_m2([geom for _, geom in pieces])
    patches: list[Patch] = []
    absorbed_m2, absorbed_count = 0.0, 0
    for (kind, geom), piece_area in zip(pieces, piece_m2, strict=True):
        if piece_area <= 0:  # get_parts of an empty result
            continue
        if piece_area < sliver_min_m2:
            absorbed_m2 += float(piece_area)
            absorbed_count += 1
        else:
            point = shapely.point_on_surface(geom)
            patches.append(Patch(kind, float(piece_area), round(point.x, 7), round(point.y, 7)))

    problems = [_PATCH_WORDS[p.kind].format(area=p.area_m2, lon=p.lon, lat=p.lat) for p in patches]
    difference_m2 = released_m2 + remaining_m2 - hazard_m2
    if abs(difference_m2) > tolerance * hazard_m2 + absorbed_m2:
        problems.append(
            f"released {released_m2:.1f} m² + remaining {remaining_m2:.1f} m² differ from the hazard "
            f"area's {hazard_m2:.1f} m² by {difference_m2:+.1f} m² (more than {tolerance:.2%})"
        )
    return AccountingCheck(
        ok=not problems,
        hazard_m2=hazard_m2,
        released_m2=released_m2,
        remaining_m2=remaining_m2,
        absorbed_m2=absorbed_m2,
        absorbed_count=absorbed_count,
        patches=tuple(patches),
        problems=tuple(problems),
    )


_PATCH_WORDS = {
    "gap": "gap of {area:.1f} m² near ({lon}, {lat}) is neither released nor remaining",
    "overlap": "{area:.1f} m² near ({lon}, {lat}) is counted both as released and as remaining",
    "outside": "{area:.1f} m² of remaining land near ({lon}, {lat}) lies outside the hazard area",
}


# ---------------------------------------------------------------------------------------------
# State transitions


class TransitionRefused(ValueError):
    """The rules do not allow this activity on this hazard area; ``reason`` says why in words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Transition(_JsonFields):
    """The hazard area's state after an activity. ``split_off`` is the category of a new area cut
    from it (a CHA from the confirmed part of an SHA), else ``None``."""

    category: HazardCategory
    status: HazardStatus
    reason: str
    split_off: HazardCategory | None = None


@dataclass(frozen=True)
class Situation:
    """What a rule looks at."""

    category: HazardCategory
    status: HazardStatus
    activity: ActivityType
    kinds: frozenset[OutcomeKind]
    remaining_m2: float
    qc_passed: bool
    new_evidence: bool
    sliver_min_m2: float

    @property
    def closed(self) -> bool:
        return self.status is HazardStatus.CLOSED

    @property
    def no_land_left(self) -> bool:
        return self.remaining_m2 < self.sliver_min_m2

    def is_(self, *activities: ActivityType) -> bool:
        return self.activity in activities

    def words(self) -> dict[str, str]:
        allowed = sorted(_OUTCOMES_ALLOWED.get(self.activity, ()))
        return {
            "category": self.category.value,
            "status": self.status.value,
            "activity": _ACTIVITY_WORDS[self.activity],
            "kinds": ", ".join(sorted(self.kinds)),
            "allowed": ", ".join(allowed) if allowed else "none",
            "remaining": f"{self.remaining_m2:.1f} m²",
        }


A = ActivityType
Cat = HazardCategory
St = HazardStatus
K = OutcomeKind

_ACTIVITY_WORDS = {
    A.NTS: "a non-technical survey",
    A.TS: "a technical survey",
    A.CLEARANCE: "clearance",
    A.BAC: "battle area clearance",
    A.EOD_SPOT_TASK: "an EOD spot task",
    A.QA: "quality assurance",
    A.QC: "quality control",
    A.HANDOVER: "a handover",
}

#: outcome kinds each activity may report (IMAS 07.11: NTS cancels, TS reduces, clearance clears)
_OUTCOMES_ALLOWED: dict[ActivityType, frozenset[OutcomeKind]] = {
    A.NTS: frozenset({K.CANCELLED, K.CONFIRMED}),
    A.TS: frozenset({K.REDUCED, K.CONFIRMED}),
    A.CLEARANCE: frozenset({K.CLEARED}),
    A.BAC: frozenset({K.CLEARED}),
}  # and none for an EOD spot task, QA, QC or a handover


def outcomes_allowed(activity: ActivityType) -> frozenset[OutcomeKind]:
    """The outcome kinds ``activity`` may report (none for an EOD spot task, QA, QC or handover)."""
    return _OUTCOMES_ALLOWED.get(activity, frozenset())


#: the new (category, status) of a rule; ``None`` keeps the current value
_Then = tuple[HazardCategory | None, HazardStatus | None]


@dataclass(frozen=True)
class Rule:
    """If ``when`` holds: refuse with ``reason`` when ``then`` is ``None``, else move to ``then``.
    ``reason`` is formatted with ``Situation.words()``."""

    when: Callable[[Situation], bool]
    then: _Then | None
    reason: str
    split_off: HazardCategory | None = None


def _refuse(when: Callable[[Situation], bool], reason: str) -> Rule:
    return Rule(when, None, reason)


SURVEY = (A.NTS, A.TS)
CLEARING = (A.CLEARANCE, A.BAC)

# First match wins. Read top to bottom: activity/outcome checks, closed areas, handover and
# quality checks, then each category's survey and clearance rules, then a catch-all refusal.
# fmt: off
RULES: tuple[Rule, ...] = (
    _refuse(lambda s: not s.kinds <= _OUTCOMES_ALLOWED.get(s.activity, frozenset()),
            "{activity} cannot report {kinds} outcomes; it may report: {allowed}"),
    # a closed area
    _refuse(lambda s: s.closed and s.new_evidence and s.is_(A.HANDOVER),
            "new evidence of explosive ordnance was reported: the area cannot be handed over; "
            "report the evidence so the area is reopened and surveyed again"),
    _refuse(lambda s: s.closed and s.new_evidence and bool(s.kinds),
            "the report reopens a closed area and cannot also release or confirm land in it; "
            "report the survey or clearance of the reopened area separately"),
    Rule(lambda s: s.closed and s.new_evidence, (None, St.OPEN),
         "reopened: new evidence of explosive ordnance in a closed area"),
    Rule(lambda s: s.closed and s.is_(A.HANDOVER), (None, None),
         "handed over: all land in the area is released and has passed quality control"),
    Rule(lambda s: s.closed and (s.is_(A.QA) or (s.is_(A.QC) and s.qc_passed)), (None, None),
         "{activity} of released land recorded; the area stays closed"),
    _refuse(lambda s: s.closed and s.is_(A.QC),
            "quality control failed on a closed area: report it as new evidence, which reopens the area"),
    _refuse(lambda s: s.closed,
            "the area is closed: {activity} on it needs new evidence, which reopens it first"),
    # handover and quality checks on an area that is not closed
    _refuse(lambda s: s.is_(A.HANDOVER),
            "the area cannot be handed over before it is closed (all land released and quality control "
            "passed); it is a {category} with status {status} and {remaining} remaining"),
    _refuse(lambda s: s.is_(A.QA, A.QC) and s.status is St.OPEN,
            "{activity} checks work done on the area, and none has been recorded (status open)"),
    Rule(lambda s: s.is_(A.QA), (None, None), "quality assurance recorded; no change of state"),
    Rule(lambda s: s.is_(A.QC) and s.qc_passed and s.no_land_left, (None, St.CLOSED),
         "closed: all land in the area is released and quality control passed"),
    Rule(lambda s: s.is_(A.QC) and s.qc_passed, (None, St.WORKED_ON),
         "quality control passed; {remaining} remain, so the area stays worked on"),
    Rule(lambda s: s.is_(A.QC), (None, St.WORKED_ON),
         "quality control failed: the area cannot close until a quality control passes"),
    Rule(lambda s: s.is_(A.EOD_SPOT_TASK), (None, St.WORKED_ON),
         "EOD spot task recorded; it releases no land"),
    # an indication
    _refuse(lambda s: s.category is Cat.INDICATION and s.is_(*CLEARING),
            "an indication cannot be cleared: it has no defined hazardous area yet; "
            "a non-technical survey must first define it as an SHA"),
    _refuse(lambda s: s.category is Cat.INDICATION and s.is_(A.TS),
            "an indication must first be surveyed non-technically (NTS) to define an SHA"),
    Rule(lambda s: s.category is Cat.INDICATION and s.no_land_left and s.kinds == {K.CANCELLED},
         (None, St.CLOSED),
         "cancelled (closed): the non-technical survey found no evidence of explosive ordnance"),
    Rule(lambda s: s.category is Cat.INDICATION and K.CONFIRMED in s.kinds, (Cat.SHA, St.OPEN),
         "the non-technical survey found evidence: the area becomes an SHA"),
    Rule(lambda s: s.category is Cat.INDICATION, (Cat.SHA, St.OPEN),
         "the non-technical survey did not cancel the whole indication: what remains is an SHA"),
    # an SHA
    _refuse(lambda s: s.category is Cat.SHA and s.is_(*CLEARING),
            "an SHA cannot be cleared before a technical survey confirms its hazardous part as a CHA"),
    Rule(lambda s: s.category is Cat.SHA and s.kinds == {K.CONFIRMED} and s.no_land_left, (Cat.CHA, St.OPEN),
         "all land left in the SHA is confirmed hazardous: the area becomes a CHA"),
    Rule(lambda s: s.category is Cat.SHA and K.CONFIRMED in s.kinds and s.no_land_left, (None, St.CLOSED),
         "the confirmed part becomes a new CHA (a child of this area) and the rest is released: "
         "no land is left in the SHA, which closes", split_off=Cat.CHA),
    Rule(lambda s: s.category is Cat.SHA and K.CONFIRMED in s.kinds, (None, St.WORKED_ON),
         "the confirmed part becomes a new CHA (a child of this area); {remaining} stay an SHA",
         split_off=Cat.CHA),
    # a CHA
    _refuse(lambda s: s.category is Cat.CHA and s.is_(A.NTS),
            "a CHA is confirmed by direct evidence: a non-technical survey cannot cancel it; "
            "release it by technical survey (reduced) or clearance (cleared)"),
    # survey or clearance that leaves no land (SHA or CHA)
    Rule(lambda s: s.no_land_left and s.kinds == {K.CANCELLED}, (None, St.CLOSED),
         "cancelled (closed): all land left in the area is cancelled by non-technical survey"),
    Rule(lambda s: s.no_land_left and s.qc_passed, (None, St.CLOSED),
         "closed: all land in the area is released and quality control passed"),
    Rule(lambda s: s.no_land_left, (None, St.WORKED_ON),
         "all land in the area is released; it closes when a quality control passes"),
    Rule(lambda s: s.is_(*SURVEY, *CLEARING), (None, St.WORKED_ON),
         "{activity} recorded; {remaining} remain"),
    _refuse(lambda s: True, "no rule allows {activity} on a {category} with status {status}"),
)
# fmt: on


def next_state(
    category: str,
    status: str,
    activity: ActivityType,
    outcome_kinds: AbstractSet[OutcomeKind],
    *,
    remaining_m2: float,
    qc_passed: bool,
    new_evidence: bool,
    sliver_min_m2: float = 1.0,
) -> Transition:
    """The hazard area's state after an approved activity report, or ``TransitionRefused``.

    ``remaining_m2`` is the area's land after the activity: neither released nor split off as a
    confirmed CHA part (``sha_rest`` of ``split_confirmed`` for a survey that confirms part of an
    SHA); below ``sliver_min_m2`` it counts as none. ``qc_passed``: a quality control of the
    released land passed (carried by a QC report, or by a completion report that includes one).
    ``new_evidence``: the report brings new evidence of explosive ordnance.
    """
    if not remaining_m2 >= 0:  # also refuses NaN
        raise ValueError(f"remaining_m2 must be a number ≥ 0, not {remaining_m2!r}")
    situation = Situation(
        category=HazardCategory(HazardCategory.parse(category)),
        status=HazardStatus(HazardStatus.parse(status)),
        activity=ActivityType(ActivityType.parse(activity)),
        kinds=frozenset(OutcomeKind(OutcomeKind.parse(kind)) for kind in outcome_kinds),
        remaining_m2=remaining_m2,
        qc_passed=qc_passed,
        new_evidence=new_evidence,
        sliver_min_m2=sliver_min_m2,
    )
    for rule in RULES:
        if rule.when(situation):
            reason = rule.reason.format(**situation.words())
            if rule.then is None:
                raise TransitionRefused(reason)
            new_category, new_status = rule.then
            return Transition(
                category=new_category or situation.category,
                status=new_status or situation.status,
                reason=reason,
                split_off=rule.split_off,
            )
    raise AssertionError("unreachable: the last rule matches everything")  # pragma: no cover
