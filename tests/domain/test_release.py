"""Land release in the domain: outcomes matched to hazard areas, remaining land, the accounting
check and the state transitions. Every area is checked against an independent reference: shapely
overlay and ``pyproj.Geod`` ring by ring, not the project's area helpers."""

from __future__ import annotations

import itertools
import json
import math

import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod

from clearland.domain.release import (
    RULES,
    Transition,
    TransitionRefused,
    check_accounting,
    match_outcomes,
    next_state,
    remaining_geometry,
    split_confirmed,
)
from clearland.domain.vocab import ActivityType, HazardCategory, HazardStatus, OutcomeKind

A, K = ActivityType, OutcomeKind
BOSNIA = (17.0, 44.0)  # lon, lat
CAMBODIA = (104.0, 12.0)
ORIGINS = [pytest.param(BOSNIA, id="44N17E"), pytest.param(CAMBODIA, id="12N104E")]
GEOD = Geod(ellps="WGS84")


def ref_area(geom: shapely.Geometry) -> float:
    """Reference area in m²: pyproj.Geod per ring, exterior minus holes, polygons only. Edges are
    first cut to 2 m so that they are read as straight in lon/lat, as shapely's overlay reads them
    (an undivided 2 km edge measured as a geodesic encloses tens of m² more or less)."""
    total = 0.0
    for part in shapely.get_parts(shapely.segmentize(geom, 2e-5)):
        if part.geom_type in ("MultiPolygon", "GeometryCollection"):
            total += ref_area(part)
        elif part.geom_type == "Polygon" and not part.is_empty:
            total += abs(GEOD.polygon_area_perimeter(*part.exterior.xy)[0])
            total -= sum(abs(GEOD.polygon_area_perimeter(*hole.xy)[0]) for hole in part.interiors)
    return total


def rect(origin: tuple[float, float], x0: float, y0: float, x1: float, y1: float) -> shapely.Polygon:
    """A lon/lat rectangle given in metres east and north of ``origin`` (local scale; the exact
    area always comes from ``ref_area``)."""
    lon, lat = origin
    m_per_deg_lat = 111_132.954 - 559.822 * math.cos(2 * math.radians(lat))
    m_per_deg_lon = 111_412.84 * math.cos(math.radians(lat))
    return shapely.box(
        lon + x0 / m_per_deg_lon, lat + y0 / m_per_deg_lat, lon + x1 / m_per_deg_lon, lat + y1 / m_per_deg_lat
    )


def close(value: float, expected: float, rel: float = 1e-6) -> bool:
    """Within ``rel``, or 0.001 m² for small pieces: the code cuts edges to 11 m, the reference to
    2 m, and a cut 11 m edge still differs from its straight line by ~2e-5 m²."""
    return value == pytest.approx(expected, rel=rel, abs=1e-3)


# -- matching ------------------------------------------------------------------------------------


@pytest.mark.parametrize("origin", ORIGINS)
def test_an_outcome_over_two_hazard_areas_is_split_between_them(origin: tuple[float, float]) -> None:
    west, east = rect(origin, 0, 0, 500, 400), rect(origin, 500, 0, 1000, 400)
    outcome = rect(origin, 300, 100, 700, 600)  # 200 m of it north of both areas
    result = match_outcomes([("OUT-1", outcome)], [("HA-W", west), ("HA-E", east)])

    assert sorted(p.hazard_ref for p in result.parts) == ["HA-E", "HA-W"]
    for part, hazard in ((result.parts_for("HA-W")[0], west), (result.parts_for("HA-E")[0], east)):
        assert close(part.area_m2, ref_area(outcome & hazard))
        assert close(ref_area(part.geometry), ref_area(outcome & hazard))
    in_hazard_m2 = ref_area(outcome & (west | east))
    assert in_hazard_m2 == pytest.approx(400 * 300, rel=0.005)  # the builder is right
    assert close(sum(p.area_m2 for p in result.parts), in_hazard_m2)

    (outside,) = result.unmatched
    assert outside.outcome_id == "OUT-1"
    assert close(outside.area_m2, ref_area(outcome - (west | east)))
    assert close(sum(p.area_m2 for p in result.parts) + outside.area_m2, ref_area(outcome))
    assert not result.is_fully_matched and result.slivers == ()
    json.dumps(result.to_dict())


@pytest.mark.parametrize("origin", ORIGINS)
def test_an_outcome_over_no_hazard_area_is_wholly_unmatched(origin: tuple[float, float]) -> None:
    hazard = rect(origin, 0, 0, 500, 400)
    far, tiny = rect(origin, 2000, 2000, 2150, 2100), rect(origin, 900, 900, 900.5, 900.5)
    result = match_outcomes([("FAR", far), ("TINY", tiny)], [("HA-1", hazard)])
    assert result.parts == ()
    assert [u.outcome_id for u in result.unmatched] == ["FAR", "TINY"]  # tiny, but has no area to join
    assert close(result.unmatched[0].area_m2, ref_area(far))
    assert shapely.equals(result.unmatched[0].geometry, far)


@pytest.mark.parametrize("origin", ORIGINS)
def test_slivers_below_the_minimum_are_dropped_and_listed(origin: tuple[float, float]) -> None:
    hazard = rect(origin, 0, 0, 500, 400)
    grazing = rect(origin, -50, 100, 0.5, 101)  # 0.5 m² inside, 50 m² outside
    overhanging = rect(origin, 100, 100, 200, 400.005)  # 0.5 m² outside the hazard's north edge
    result = match_outcomes([("GRAZE", grazing), ("OVER", overhanging)], [("HA-1", hazard)])

    assert [p.outcome_id for p in result.parts] == ["OVER"]
    assert close(result.parts[0].area_m2, ref_area(overhanging & hazard))
    assert [(u.outcome_id, round(u.area_m2)) for u in result.unmatched] == [("GRAZE", 50)]
    slivers = {(s.outcome_id, s.hazard_ref): s.area_m2 for s in result.slivers}
    assert slivers.keys() == {("GRAZE", "HA-1"), ("OVER", None)}
    assert close(slivers["GRAZE", "HA-1"], ref_area(grazing & hazard), rel=1e-4)
    assert close(slivers["OVER", None], ref_area(overhanging - hazard), rel=1e-4)
    assert all(0.4 < area < 0.6 for area in slivers.values())


def test_bad_outcome_geometry_is_refused_by_id() -> None:
    bowtie = shapely.Polygon([(17, 44), (17.01, 44.01), (17.01, 44), (17, 44.01)])
    with pytest.raises(ValueError, match="outcome OUT-9: invalid"):
        match_outcomes([("OUT-9", bowtie)], [("HA-1", rect(BOSNIA, 0, 0, 10, 10))])
    swapped = shapely.box(12.0, 104.0, 12.01, 104.01)  # Cambodia written lat, lon
    with pytest.raises(ValueError, match=r"outcome OUT-8: .*swapped axes"):
        match_outcomes([("OUT-8", swapped)], [])


# -- accounting ----------------------------------------------------------------------------------


@pytest.mark.parametrize("origin", ORIGINS)
def test_accounting_absorbs_slivers_and_reports_gaps_and_overlaps(origin: tuple[float, float]) -> None:
    hazard = rect(origin, 0, 0, 400, 300)
    released = [rect(origin, 0, 0, 200, 300)]
    remaining = remaining_geometry(hazard, released)
    exact = check_accounting(hazard, released, remaining)
    assert exact.ok and exact.problems == () and exact.patches == ()
    assert close(exact.hazard_m2, ref_area(hazard))
    assert close(exact.released_m2, ref_area(released[0]))
    assert close(exact.remaining_m2, ref_area(hazard - released[0]))

    pinhole = rect(origin, 300, 100, 300.7, 100.7)  # 0.49 m²
    absorbed = check_accounting(hazard, released, remaining - pinhole)
    assert absorbed.ok, absorbed.problems
    assert absorbed.absorbed_count == 1
    assert close(absorbed.absorbed_m2, ref_area(pinhole), rel=1e-4)

    hole = rect(origin, 300, 100, 310, 105)  # 50 m²: only 0.04 % of the area, but a real gap
    gap = check_accounting(hazard, released, remaining - hole)
    assert not gap.ok
    (patch,) = gap.patches
    assert patch.kind == "gap" and close(patch.area_m2, ref_area(hole), rel=1e-5)
    assert hole.contains(shapely.Point(patch.lon, patch.lat))
    (problem,) = gap.problems
    assert "gap of 50.0 m²" in problem and "\n" not in problem

    overlap = check_accounting(hazard, released, hazard)
    assert not overlap.ok
    assert [p.kind for p in overlap.patches] == ["overlap"]
    assert close(overlap.patches[0].area_m2, ref_area(released[0]))
    assert any("differ from the hazard area" in p for p in overlap.problems)
    json.dumps(overlap.to_dict())


def test_remaining_land_outside_the_hazard_is_reported() -> None:
    hazard = rect(BOSNIA, 0, 0, 100, 100)
    check = check_accounting(hazard, [], rect(BOSNIA, 0, 0, 110, 100))
    assert not check.ok and [p.kind for p in check.patches] == ["outside"]
    assert close(check.patches[0].area_m2, ref_area(rect(BOSNIA, 100, 0, 110, 100)), rel=1e-5)


def _hazard_with_a_hole(origin: tuple[float, float]) -> shapely.Geometry:
    outline = shapely.Polygon([rect(origin, x, y, x, y).exterior.coords[0] for x, y in
                               [(0, 0), (1000, 100), (900, 800), (300, 900), (-100, 500)]])  # fmt: skip
    return outline - rect(origin, 400, 300, 550, 450)


rectangles = st.lists(
    st.tuples(st.floats(-150, 1050), st.floats(-50, 950), st.floats(0.5, 700), st.floats(0.5, 500)),
    min_size=0,
    max_size=8,
)


@settings(max_examples=60, deadline=None, database=None)
@given(boxes=rectangles, in_cambodia=st.booleans())
def test_released_plus_remaining_is_the_hazard(
    boxes: list[tuple[float, float, float, float]], in_cambodia: bool
) -> None:
    origin = CAMBODIA if in_cambodia else BOSNIA
    hazard = _hazard_with_a_hole(origin)
    released = [rect(origin, x, y, x + w, y + h) for x, y, w, h in boxes]
    remaining = remaining_geometry(hazard, released)
    check = check_accounting(hazard, released, remaining)
    assert check.ok, check.problems

    released_ref = ref_area(shapely.union_all([*released, shapely.Polygon()]) & hazard)
    remaining_ref = ref_area(remaining)
    assert released_ref + remaining_ref == pytest.approx(ref_area(hazard), rel=1e-3)
    assert close(check.released_m2, released_ref, rel=1e-6)
    assert close(check.remaining_m2, remaining_ref, rel=1e-6)
    assert close(check.remaining_m2, ref_area(hazard - shapely.union_all([*released, shapely.Polygon()])))

    # the same boxes as outcomes: every m² of each lands in a part, the unmatched rest or a sliver
    result = match_outcomes([(f"O{i}", g) for i, g in enumerate(released)], [("HA-1", hazard)])
    for i, geom in enumerate(released):
        pieces = [p.area_m2 for p in result.parts if p.outcome_id == f"O{i}"]
        pieces += [u.area_m2 for u in result.unmatched if u.outcome_id == f"O{i}"]
        pieces += [s.area_m2 for s in result.slivers if s.outcome_id == f"O{i}"]
        assert close(sum(pieces), ref_area(geom))


# -- state transitions ---------------------------------------------------------------------------


def step(
    category: str, status: str, activity: ActivityType, kinds: set[OutcomeKind], **kw: object
) -> Transition:
    arguments: dict[str, object] = {"remaining_m2": 0.0, "qc_passed": False, "new_evidence": False, **kw}
    return next_state(category, status, activity, kinds, **arguments)  # type: ignore[arg-type]


def test_full_life_cycle_with_areas_checked_at_every_step() -> None:
    o = BOSNIA
    hazard = rect(o, 0, 0, 1000, 800)  # an indication with an outline, HA-000001
    hazards = [("HA-000001", hazard), ("HA-000002", rect(o, 3000, 0, 3500, 500))]
    released: list[shapely.Geometry] = []

    def account(remaining: shapely.Geometry) -> None:
        check = check_accounting(hazard, released, remaining)
        assert check.ok, check.problems
        released_union = shapely.union_all(released) & hazard
        assert close(check.hazard_m2, ref_area(hazard))
        assert close(check.released_m2, ref_area(released_union))
        assert close(check.remaining_m2, ref_area(hazard - released_union))

    # 1. NTS cancels the western strip; its outline overshoots the area by 20 m and is reported
    cancelled = rect(o, -20, -10, 300, 810)
    match = match_outcomes([("NTS-1/c1", cancelled)], hazards)
    assert close(match.unmatched[0].area_m2, ref_area(cancelled - hazard))
    released += [p.geometry for p in match.parts_for("HA-000001")]
    remaining = remaining_geometry(hazard, released)
    assert close(ref_area(remaining), ref_area(rect(o, 300, 0, 1000, 800)))
    account(remaining)
    state = step("indication", "open", A.NTS, {K.CANCELLED}, remaining_m2=ref_area(remaining))
    assert (state.category, state.status) == (HazardCategory.SHA, HazardStatus.OPEN)

    # 2. TS confirms a block in the middle and reduces all the rest
    confirmed = rect(o, 500, 200, 700, 500)
    reduced = [rect(o, 300, 0, 500, 800), rect(o, 700, 0, 1000, 800), rect(o, 500, 0, 700, 200),
               rect(o, 500, 500, 700, 800)]  # fmt: skip
    outcomes = [("TS-1/confirmed", confirmed)] + [(f"TS-1/r{i}", g) for i, g in enumerate(reduced)]
    match = match_outcomes(outcomes, hazards)
    assert match.is_fully_matched and len(match.parts) == 5
    released += [p.geometry for p in match.parts if p.outcome_id != "TS-1/confirmed"]
    cha, rest = split_confirmed(hazard, [match.parts[0].geometry], released)
    assert rest.is_empty and close(ref_area(cha), ref_area(confirmed))
    state = step("SHA", "open", A.TS, {K.CONFIRMED, K.REDUCED}, remaining_m2=ref_area(rest))
    # the confirmed block is split off as a CHA; nothing is left of the SHA, which closes
    assert (state.category, state.status, state.split_off) == (
        HazardCategory.SHA,
        HazardStatus.CLOSED,
        HazardCategory.CHA,
    )
    # a TS that only confirms all land left makes the area itself a CHA
    state = step("SHA", "open", A.TS, {K.CONFIRMED}, remaining_m2=0.0)
    assert (state.category, state.status, state.split_off) == (HazardCategory.CHA, HazardStatus.OPEN, None)
    remaining = remaining_geometry(hazard, released)
    assert close(ref_area(remaining), ref_area(cha))
    account(remaining)
    assert check_accounting(hazard, released, cha | rest).ok

    # 3. clearance, first report: the western half of the CHA
    released.append(rect(o, 500, 200, 600, 500))
    remaining = remaining_geometry(hazard, released)
    assert close(ref_area(remaining), ref_area(rect(o, 600, 200, 700, 500)))
    account(remaining)
    state = step("CHA", "open", A.CLEARANCE, {K.CLEARED}, remaining_m2=ref_area(remaining))
    assert (state.category, state.status) == (HazardCategory.CHA, HazardStatus.WORKED_ON)

    # 4. clearance, second report: the rest, with a 5 m margin over land already released
    released.append(rect(o, 595, 195, 705, 505))
    remaining = remaining_geometry(hazard, released)
    assert remaining.is_empty
    account(remaining)
    state = step("CHA", "worked_on", A.CLEARANCE, {K.CLEARED}, remaining_m2=ref_area(remaining))
    assert state.status is HazardStatus.WORKED_ON and "quality control" in state.reason
    with pytest.raises(TransitionRefused, match="cannot be handed over before it is closed"):
        step("CHA", "worked_on", A.HANDOVER, set())

    # 5. QC passes: closed; 6. handed over
    state = step("CHA", "worked_on", A.QC, set(), qc_passed=True)
    assert (state.category, state.status) == (HazardCategory.CHA, HazardStatus.CLOSED)
    state = step("CHA", "closed", A.HANDOVER, set())
    assert state.status is HazardStatus.CLOSED and state.reason.startswith("handed over")
    with pytest.raises(TransitionRefused, match="the area is closed: clearance on it needs new evidence"):
        step("CHA", "closed", A.CLEARANCE, {K.CLEARED})

    # 7. a device found later: new evidence reopens the area
    state = step("CHA", "closed", A.EOD_SPOT_TASK, set(), new_evidence=True)
    assert (state.category, state.status) == (HazardCategory.CHA, HazardStatus.OPEN)
    assert state.reason.startswith("reopened")
    assert state.to_dict() == {"category": "CHA", "status": "open", "reason": state.reason, "split_off": None}


def test_a_confirmed_part_of_an_sha_is_split_off_as_a_cha() -> None:
    hazard = rect(CAMBODIA, 0, 0, 600, 400)
    confirmed, reduced = rect(CAMBODIA, 100, 100, 300, 300), rect(CAMBODIA, 400, 0, 600, 400)
    cha, rest = split_confirmed(hazard, [confirmed], [reduced])
    assert close(ref_area(cha), ref_area(confirmed))
    assert close(ref_area(rest), ref_area(hazard) - ref_area(confirmed) - ref_area(reduced))
    assert check_accounting(hazard, [reduced], cha | rest).ok
    state = step("SHA", "open", A.TS, {K.CONFIRMED, K.REDUCED}, remaining_m2=ref_area(rest))
    assert (state.category, state.status, state.split_off) == (
        HazardCategory.SHA,
        HazardStatus.WORKED_ON,
        HazardCategory.CHA,
    )


@pytest.mark.parametrize(
    ("category", "status", "activity", "kinds", "extra", "words"),
    [
        ("indication", "open", A.CLEARANCE, {K.CLEARED}, {}, "an indication cannot be cleared"),
        ("indication", "worked_on", A.BAC, set(), {}, "an indication cannot be cleared"),
        ("indication", "open", A.TS, set(), {}, "must first be surveyed non-technically"),
        ("SHA", "open", A.CLEARANCE, {K.CLEARED}, {}, "before a technical survey confirms"),
        ("CHA", "open", A.NTS, {K.CANCELLED}, {}, "a non-technical survey cannot cancel it"),
        ("CHA", "closed", A.CLEARANCE, {K.CLEARED}, {}, "the area is closed"),
        ("indication", "closed", A.NTS, set(), {}, "needs new evidence"),
        ("CHA", "worked_on", A.HANDOVER, set(), {"remaining_m2": 250.0}, "250.0 m² remaining"),
        ("SHA", "open", A.HANDOVER, set(), {}, "cannot be handed over before it is closed"),
        ("SHA", "open", A.QA, set(), {}, "none has been recorded"),
        ("CHA", "open", A.QC, set(), {"qc_passed": True}, "none has been recorded"),
        ("SHA", "open", A.NTS, {K.REDUCED}, {}, "cannot report reduced outcomes; it may report: cancelled"),
        ("CHA", "worked_on", A.QC, {K.CLEARED}, {}, "it may report: none"),
        ("CHA", "closed", A.HANDOVER, set(), {"new_evidence": True}, "cannot be handed over"),
        ("CHA", "closed", A.NTS, {K.CANCELLED}, {"new_evidence": True}, "cannot also release"),
        ("CHA", "closed", A.QC, set(), {}, "quality control failed on a closed area"),
    ],
)
def test_refused_transitions_say_why(
    category: str, status: str, activity: ActivityType, kinds: set[OutcomeKind], extra: dict[str, object],
    words: str,
) -> None:  # fmt: skip
    with pytest.raises(TransitionRefused) as refused:
        step(category, status, activity, kinds, **extra)
    assert isinstance(refused.value, ValueError)
    assert words in refused.value.reason and str(refused.value) == refused.value.reason
    assert "\n" not in refused.value.reason and "{" not in refused.value.reason


def test_every_situation_gets_a_transition_or_a_reason() -> None:
    """The table is total, and its answers keep the invariants of DOMAIN.md."""
    kind_sets = [set(c) for n in range(3) for c in itertools.combinations(list(OutcomeKind), n)]
    for category, status, activity, kinds, remaining, qc, evidence in itertools.product(
        HazardCategory, HazardStatus, ActivityType, kind_sets, (0.0, 500.0), (False, True), (False, True)
    ):
        try:
            state = step(category, status, activity, kinds, remaining_m2=remaining, qc_passed=qc,
                         new_evidence=evidence)  # fmt: skip
        except TransitionRefused as refused:
            assert refused.reason and "{" not in refused.reason
            continue
        assert state.reason and "{" not in state.reason
        was_closed = status is HazardStatus.CLOSED
        if state.status is HazardStatus.CLOSED and not was_closed:
            assert remaining < 1.0, (category, status, activity, kinds)  # land left never closes
            # closing needs QC, unless all was cancelled by NTS or an SHA's land went to a CHA split off it
            assert qc or kinds == {K.CANCELLED} or state.split_off is HazardCategory.CHA
        if was_closed:
            assert state.status is (HazardStatus.OPEN if evidence else HazardStatus.CLOSED)
        if activity is A.HANDOVER:
            assert was_closed and (state.category, state.status) == (category, status)
        if activity in (A.CLEARANCE, A.BAC):
            assert category is HazardCategory.CHA or was_closed
        if category is HazardCategory.INDICATION and state.category is not HazardCategory.INDICATION:
            assert activity is A.NTS and state.category is HazardCategory.SHA


def test_tolerant_spellings() -> None:
    state = next_state(
        "Suspected hazardous area", "active", ActivityType.parse("Technical Survey"),
        {OutcomeKind.parse("reduction")}, remaining_m2=10.0, qc_passed=False, new_evidence=False,
    )  # fmt: skip
    assert (state.category, state.status) == (HazardCategory.SHA, HazardStatus.WORKED_ON)
    assert ActivityType.parse("EOD spot task") is A.EOD_SPOT_TASK
    assert ActivityType.parse("NTS") is A.NTS and ActivityType.parse("non-technical survey") is A.NTS
    assert len(RULES) > 20
    with pytest.raises(ValueError, match="remaining_m2"):
        step("SHA", "open", A.TS, set(), remaining_m2=float("nan"))
