"""Minefield records end to end on a real SQLite registry: the perimeter placed by the geodesic
forward problem, the CHA a record creates and keeps up to date, refusals that leave the database
as it was, restricted access, item logs, marking and inspections. All data is SYNTHETIC."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
import shapely

from clearland.errors import PermissionDenied, ValidationFailed
from clearland.services import exports, minefields, queries, review, users
from minefield_data import (
    AP_FUZE,
    AP_TYPE,
    AT_FUZE,
    AT_TYPE,
    GEOD,
    Custodian,
    counts,
    expected_vertices,
    fwd,
    make_record,
)


@pytest.fixture
def custodian(registry, tmp_path) -> Custodian:
    return Custodian(registry, tmp_path)


def metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    return float(GEOD.inv(a[0], a[1], b[0], b[1])[2])


def test_bearings_and_distances_place_vertices_by_geod_fwd(custodian: Custodian) -> None:
    landed = custodian.land(make_record())
    assert landed["minefield_record"] == "MFR-000001" and landed["hazard_area"] == "HA-000001"
    record = minefields.show_record(custodian.registry, "MFR-000001")
    expected = expected_vertices()
    placed = [(t["lon"], t["lat"]) for t in record["turning_points"]]
    assert [metres(p, e) for p, e in zip(placed, expected, strict=True)] == pytest.approx([0] * 4, abs=0.01)
    stored = record["geometry"].exterior.coords[:-1]
    assert len(stored) == 4
    for vertex in stored:  # the stored polygon has exactly these corners (in its own order)
        assert min(metres(vertex, e) for e in expected) < 0.01
    cha = queries.record(custodian.base, "HA-000001")
    ring_lon, ring_lat = zip(*expected, strict=True)
    geodesic_m2 = abs(GEOD.polygon_area_perimeter(ring_lon, ring_lat)[0])
    assert cha["area_m2"] == pytest.approx(geodesic_m2, rel=1e-3)
    assert cha["category"] == "CHA" and cha["status"] == "open"
    assert cha["hazard_types"] == ["ap_mine", "at_mine"] and cha["minefield_record_ref"] == "MFR-000001"


def test_the_public_sees_only_the_cha(custodian: Custodian) -> None:
    custodian.land(make_record())
    public = queries.record(custodian.base, "HA-000001", public=True, history=True)
    text = json.dumps({k: v for k, v in public.items() if k != "geometry"}, default=str)
    for secret in (AP_TYPE, AT_TYPE, AP_FUZE, AT_FUZE, "MFR-000001", "quantity", "Synthetic Engineer Unit"):
        assert secret not in text


def test_a_polygon_given_as_well_is_cross_checked(custodian: Custodian) -> None:
    ring = [*expected_vertices(), expected_vertices()[0]]
    agree = make_record(perimeter={"type": "Polygon", "coordinates": [[list(p) for p in ring]]})
    assert custodian.submit(agree)["perimeter_source"] == "bearings+polygon"
    before = counts(custodian.base)
    moved = [list(p) for p in ring]
    moved[2] = list(fwd("RP2", 340.0, 95.0))  # TP3 five metres further out
    disagree = make_record(perimeter={"type": "Polygon", "coordinates": [moved]})
    with pytest.raises(ValidationFailed) as caught:
        custodian.submit(disagree)
    (problem,) = caught.value.detail
    assert problem["field"] == "perimeter" and "(tolerance 1 m)" in problem["message"]
    # the moved corner is 5 m from where it was, and a little less from the other outline's edges
    found_m = float(problem["message"].split("disagree by up to ")[1].split(" m")[0])
    assert 3.5 < found_m <= 5.0
    assert counts(custodian.base) == before


def test_coordinates_or_a_polygon_alone_are_a_perimeter(custodian: Custodian) -> None:
    corners = expected_vertices()
    by_coords = make_record(
        turning_points=[{"id": f"C{i}", "lon": x, "lat": y} for i, (x, y) in enumerate(corners)]
    )
    assert custodian.submit(by_coords)["perimeter_source"] == "coordinates"
    ring = [[x, y] for x, y in [*corners, corners[0]]]
    by_polygon = make_record(turning_points=[], perimeter={"type": "Polygon", "coordinates": [ring]})
    landed = custodian.land(by_polygon)
    assert landed["perimeter_source"] == "polygon"
    record = minefields.show_record(custodian.registry, landed["minefield_record"])
    # each corner is given its bearing and distance from the nearest reference point
    tp1 = record["turning_points"][0]
    assert tp1["from"] == "RP1" and tp1["bearing_deg"] == pytest.approx(20.0, abs=1e-3)
    assert tp1["distance_m"] == pytest.approx(60.0, abs=1e-3)


BROKEN = {
    "one reference point": (
        {"reference_points": [{"id": "RP1", "lon": 18.1, "lat": 44.7, "description": "synthetic"}]},
        "reference_points",
        "at least two reference points",
    ),
    "unknown reference point": (
        {"turning_points": [{"id": "TP1", "from": "RP9", "bearing_deg": 20, "distance_m": 60}]},
        "turning_points[0].from",
        "no reference point 'RP9'",
    ),
    "distance zero": (
        {"turning_points": [{"id": "TP1", "from": "RP1", "bearing_deg": 20, "distance_m": 0}]},
        "turning_points[0].distance_m",
        "more than 0 m",
    ),
    "quantity zero": (
        {"mines": [{"type_name": AP_TYPE, "category": "AP", "quantity": 0}]},
        "mines[0].quantity",
        "more than 0",
    ),
    "self-intersecting": (
        {
            "turning_points": [
                {"id": "TP1", "from": "RP1", "bearing_deg": 20.0, "distance_m": 60.0},
                {"id": "TP3", "from": "RP2", "bearing_deg": 340.0, "distance_m": 90.0},
                {"id": "TP2", "from": "RP1", "bearing_deg": 60.0, "distance_m": 180.0},
                {"id": "TP4", "from": "RP2", "bearing_deg": 300.0, "distance_m": 40.0},
            ]
        },
        "turning_points",
        "self-intersects: edge TP1→TP3 crosses edge TP2→TP4",
    ),
    "not closing (polygon)": (
        {
            "turning_points": [],
            "perimeter": {
                "type": "Polygon",
                "coordinates": [[[18.1, 44.7], [18.101, 44.7], [18.101, 44.701]]],
            },
        },
        "perimeter.coordinates",
        "does not close",
    ),
    "not closing (turning points)": (
        {
            "turning_points": [
                *[
                    {"id": i, "from": r, "bearing_deg": b, "distance_m": d}
                    for i, r, b, d in [
                        ("TP1", "RP1", 20.0, 60.0),
                        ("TP2", "RP1", 60.0, 180.0),
                        ("TP3", "RP2", 340.0, 90.0),
                    ]
                ],
                {"id": "TP1", "from": "RP1", "bearing_deg": 20.0, "distance_m": 75.0},
            ]
        },
        "turning_points",
        "does not close: 'TP1' is placed 15.00 m apart",
    ),
    "remotely delivered without periods": (
        {"emplacing_method": "remotely_delivered"},
        "mines[0].self_destruct_days",
        "self-destruct",
    ),
    "item outside the perimeter": (
        {"items": [{"id": "I1", "lon": 18.2, "lat": 44.7, "category": "AP"}]},
        "items[0]",
        "lies outside the perimeter",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_records_are_refused_with_the_database_unchanged(custodian: Custodian, case: str) -> None:
    custodian.land(make_record())  # something already stored, which must stay as it is
    before = counts(custodian.base)
    overrides, field, words = BROKEN[case]
    with pytest.raises(ValidationFailed) as caught:
        custodian.submit(make_record(**overrides))
    assert any(p["field"] == field and words in p["message"] for p in caught.value.detail), (
        caught.value.detail
    )
    assert counts(custodian.base) == before


def test_a_later_version_updates_the_same_cha_and_keeps_history(custodian: Custodian) -> None:
    custodian.land(make_record())
    later = make_record(
        ref="MFR-000001",
        date_of_information="2026-06-01",
        mines=[{"type_name": AT_TYPE, "category": "AT", "quantity": 4}],
        turning_points=[
            {"id": "TP1", "from": "RP1", "bearing_deg": 20.0, "distance_m": 80.0},
            {"id": "TP2", "from": "RP1", "bearing_deg": 60.0, "distance_m": 180.0},
            {"id": "TP3", "from": "RP2", "bearing_deg": 340.0, "distance_m": 90.0},
            {"id": "TP4", "from": "RP2", "bearing_deg": 300.0, "distance_m": 40.0},
        ],
    )
    landed = custodian.land(later)
    assert landed["hazard_area"] == "HA-000001"
    cha = queries.record(custodian.base, "HA-000001", history=True)
    assert cha["hazard_types"] == ["at_mine"] and len(cha["history"]) == 2
    moved_tp1 = fwd("RP1", 20.0, 80.0)
    assert min(metres(moved_tp1, v) for v in cha["geometry"].exterior.coords) < 0.01
    old = minefields.show_record(custodian.registry, "MFR-000001", as_of=dt.date(2026, 3, 1))
    assert [m["category"] for m in old["mines"]] == ["AP", "AT"]
    now = minefields.show_record(custodian.registry, "MFR-000001", history=True)
    assert [m["quantity"] for m in now["mines"]] == [4] and len(now["history"]) == 2


def test_record_details_are_for_records_custodians_only(custodian: Custodian, tmp_path: Path) -> None:
    submitted = custodian.submit(make_record())
    users.add_user(custodian.base, "rev", ["reviewer", "surveyor"])
    reviewer = custodian.base.acting_as("rev", source="cli")
    for attempt in (
        lambda: review.show_report(reviewer, submitted["report"]),
        lambda: review.approve_report(reviewer, submitted["report"]),
        lambda: review.approve_report(custodian.base, submitted["report"]),  # the local admin
        lambda: custodian.submit(make_record(), registry=reviewer),
    ):
        with pytest.raises(PermissionDenied, match="records_custodian"):
            attempt()
    review.approve_report(custodian.registry, submitted["report"])
    for attempt in (
        lambda: minefields.show_record(reviewer, "MFR-000001"),
        lambda: minefields.list_records(custodian.base),
        lambda: minefields.overdue(reviewer, 30),
        lambda: minefields.gaps(reviewer, "MFR-000001"),
        lambda: exports.export(reviewer, tmp_path / "m.geojson", kind=minefields.RecordKind.MINEFIELD_RECORD),
        lambda: exports.export(
            custodian.registry,
            tmp_path / "m.geojson",
            kind=minefields.RecordKind.MINEFIELD_RECORD,
            public=True,
        ),
    ):
        with pytest.raises(PermissionDenied):
            attempt()
    assert not (tmp_path / "m.geojson").exists()
    exports.export(custodian.registry, tmp_path / "m.geojson", kind=minefields.RecordKind.MINEFIELD_RECORD)
    assert AP_TYPE in (tmp_path / "m.geojson").read_text(encoding="utf-8")


def test_a_public_export_has_no_mine_type_fuze_or_quantity(custodian: Custodian, tmp_path: Path) -> None:
    custodian.land(
        make_record(mines=[{"type_name": AP_TYPE, "category": "AP", "quantity": 7913, "fuze": AP_FUZE}])
    )
    for public in (True, False):  # even the full hazard-area export carries none of the details
        out = tmp_path / f"hazards-{public}.geojson"
        exports.export(custodian.base, out, public=public)
        data = json.loads(out.read_text(encoding="utf-8"))
        (feature,) = data["features"]
        text = json.dumps(feature["properties"])
        assert feature["properties"]["category"] == "CHA"
        for secret in (AP_TYPE, AP_FUZE, "7913", "quantity", "fuze", "mines", "type_name"):
            assert secret not in text
        assert ("MFR-000001" in text) is (not public)


def write_log(path: Path, rows: list[tuple[str, float, float, str]]) -> Path:
    lines = ["id,lon,lat,category,time"] + [f"{i},{x},{y},{c},2026-04-01T10:00" for i, x, y, c in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def inside_points(n: int) -> list[tuple[float, float]]:
    polygon = shapely.Polygon(expected_vertices())
    c = polygon.centroid
    return [(c.x + 0.00005 * k, c.y + 0.00002 * k) for k in range(n)]


def test_item_logs_matching_missing_extra_and_outside(custodian: Custodian, tmp_path: Path) -> None:
    custodian.land(make_record())  # 3 AP, 2 AT
    pts = inside_points(6)
    matching = write_log(
        tmp_path / "ok.csv", [(f"I{k}", *pts[k], c) for k, c in enumerate(["AP", "AP", "AP", "AT", "AT"])]
    )
    result = minefields.items(custodian.registry, "MFR-000001", matching)
    assert result["matches"] and result["outside"] == [] and result["marking_perimeter"] is None
    assert result["categories"]["AP"] == {"recorded": 3, "logged": 3, "missing": 0, "extra": 0}

    short = write_log(tmp_path / "short.csv", [("I0", *pts[0], "AP"), ("I1", *pts[1], "anti-tank")])
    result = minefields.items(custodian.registry, "MFR-000001", short)
    assert not result["matches"]
    assert result["categories"]["AP"]["missing"] == 2 and result["categories"]["AT"]["missing"] == 1

    far = fwd("RP2", 90.0, 40.0)  # 40 m east of RP2: outside the perimeter
    extra = write_log(
        tmp_path / "extra.csv",
        [(f"I{k}", *pts[k], c) for k, c in enumerate(["AP", "AP", "AP", "AT", "AT", "AP"])]
        + [("X1", *far, "AT")],
    )
    result = minefields.items(custodian.registry, "MFR-000001", extra, margin_m=15.0)
    assert result["categories"]["AP"]["extra"] == 1 and result["categories"]["AT"]["extra"] == 1
    (outside,) = result["outside"]
    assert outside["id"] == "X1" and outside["distance_m"] > 30
    marking = shapely.geometry.shape(result["marking_perimeter"]["geometry"])
    record = minefields.show_record(custodian.registry, "MFR-000001")
    # every item and every corner lies at least the margin inside the marking perimeter (geodesic)
    boundary = shapely.segmentize(marking.exterior, 1e-6)
    bx, by = np.asarray(boundary.coords).T
    for x, y in [far, *record["geometry"].exterior.coords[:-1]]:
        assert marking.contains(shapely.Point(x, y))
        _, _, dist = GEOD.inv(bx, by, np.full(len(bx), x), np.full(len(by), y))
        assert dist.min() >= 15.0 * 0.999


def test_marking_inspections_overdue_and_sign_gaps(custodian: Custodian) -> None:
    custodian.land(make_record())
    corners = expected_vertices()
    signs = [{"type": "sign", "position": {"type": "Point", "coordinates": list(c)}} for c in corners]
    landed = custodian.land(
        {
            "type": "marking_inspection",
            "minefield_ref": "MFR-000001",
            "date_of_information": "2026-02-10",
            "markers": signs,
        }
    )
    assert landed["markers"] == ["MK-000001", "MK-000002", "MK-000003", "MK-000004"]
    assert minefields.overdue(custodian.registry, 30, today=dt.date(2026, 3, 1))[0]["last_inspected"] is None
    gaps = minefields.gaps(custodian.registry, "MFR-000001", max_gap_m=50)
    assert gaps["signs"] == 4 and gaps["gaps"]  # corners alone leave the long sides unwarned
    custodian.land(
        {
            "type": "marking_inspection",
            "minefield_ref": "MFR-000001",
            "date_of_information": "2026-02-20",
            "inspection": {
                "inspected_on": "2026-02-20",
                "inspector": "Synthetic Inspector",
                "condition": "damaged",
                "missing_markers": ["MK-000001"],
            },
        }
    )
    record = minefields.show_record(custodian.registry, "MFR-000001")
    assert record["last_inspected"] == "2026-02-20"
    assert {m["ref"]: m["condition"] for m in record["markers"]}["MK-000001"] == "missing"
    assert minefields.overdue(custodian.registry, 30, today=dt.date(2026, 3, 1)) == []
    (late,) = minefields.overdue(custodian.registry, 30, today=dt.date(2026, 4, 1))
    assert late["days_since"] == 40
    after = minefields.gaps(custodian.registry, "MFR-000001", max_gap_m=50)
    assert after["signs"] == 3 and after["signs_missing"] == 1  # a missing sign warns no one
    assert after["unwarned_m"] > gaps["unwarned_m"]


def test_the_documented_examples_are_accepted(custodian: Custodian) -> None:
    """docs/minefields.md: the full record (turning points given both ways, and a polygon) and the
    marking report's schema example (SYNTHETIC)."""
    import re

    from clearland.io.report_files import report_schema

    text = (Path(__file__).resolve().parents[2] / "docs" / "minefields.md").read_text(encoding="utf-8")
    blocks = [json.loads(b) for b in re.findall(r"```json\n(.*?)```", text, flags=re.S)]
    record = next(b for b in blocks if b["type"] == "minefield_record")
    landed = custodian.land(record)
    assert landed["perimeter_source"] == "bearings+polygon" and landed["disagreement_m"] < 0.05
    assert (
        custodian.land(report_schema("minefield-record")["examples"][0])["minefield_record"] == "MFR-000002"
    )
    marking = report_schema("marking_inspection")["examples"][0]
    marking["inspection"]["damaged_markers"] = []  # the example names a marker of a fuller registry
    assert custodian.land(marking)["inspection"] == "INS-000001"


def test_a_marking_report_shows_no_record_details_to_others(custodian: Custodian) -> None:
    """`report show` (and GET /reports/{id}, the same service): a reviewer sees the markers and the
    CHA they mark, never the record's ref nor the inspection's details."""
    custodian.land(make_record())
    users.add_user(custodian.base, "rev", ["reviewer"])
    reviewer = custodian.base.acting_as("rev", source="cli")
    corners = [list(c) for c in expected_vertices()]
    marking = {
        "type": "marking_inspection",
        "minefield_ref": "MFR-000001",
        "date_of_information": "2026-02-10",
        "markers": [
            {"type": "sign", "position": {"type": "Point", "coordinates": corners[0]}},
            {"type": "fence", "position": {"type": "LineString", "coordinates": corners[:2]}},
        ],
        "inspection": {
            "inspected_on": "2026-02-10",
            "inspector": "Synthetic Inspector Q",
            "condition": "good",
            "notes": "synthetic note",
        },
    }
    submitted = custodian.submit(marking, registry=reviewer)
    for state in ("submitted", "approved"):  # once approved, it is shown against its own result
        seen = review.show_report(reviewer, submitted["report"])
        text = json.dumps(seen)
        for secret in ("MFR-000001", "minefield_ref", "Synthetic Inspector Q", "synthetic note"):
            assert secret not in text, (state, secret)
        by_ref = {c["ref"]: c for c in seen["changes"]}
        action = "create" if state == "submitted" else "update"
        assert by_ref["INS-000001"] == {"kind": "inspection", "ref": "INS-000001", "action": action,
                                        "fields": {}, "restricted": True}  # fmt: skip
        full = review.show_report(custodian.registry, submitted["report"])
        assert seen["summary"] == full["summary"]  # counted before redaction
        if state == "submitted":
            fence = by_ref["MK-000002"]["fields"]
            assert fence["type"]["after"] == "fence" and fence["hazard_ref"]["after"] == "HA-000001"
            assert "restricted" not in by_ref["MK-000002"] and seen["summary"]["create"] == 3
            shown = {c["ref"]: c for c in full["changes"]}
            assert shown["MK-000002"]["fields"]["minefield_ref"]["after"] == "MFR-000001"
            assert shown["INS-000001"]["fields"]["inspector"]["after"] == "Synthetic Inspector Q"
            review.approve_report(reviewer, submitted["report"])  # reviewers approve marking reports


def test_item_logs_match_the_recorded_positions_by_id(custodian: Custodian, tmp_path: Path) -> None:
    """Must show (issue 7): with item positions in the record, a log matches only when the same ids
    are logged; counts that agree do not hide an item missing by id and an extra one."""
    pts = inside_points(5)
    categories = ["AP", "AP", "AP", "AT", "AT"]  # the record's 3 AP and 2 AT
    items = [
        {"id": f"I{k}", "lon": x, "lat": y, "category": c}
        for k, ((x, y), c) in enumerate(zip(pts, categories, strict=True))
    ]
    custodian.land(make_record(items=items))
    same = write_log(tmp_path / "same.csv", [(i["id"], i["lon"], i["lat"], i["category"]) for i in items])
    result = minefields.items(custodian.registry, "MFR-000001", same)
    assert result["matches"] and result["unlogged_ids"] == [] and result["unrecorded_ids"] == []
    swapped = [(i["id"], i["lon"], i["lat"], i["category"]) for i in items if i["id"] != "I2"]
    swapped.append(("X7", *pts[2], "AP"))  # an AP item logged under an id the record does not know
    result = minefields.items(custodian.registry, "MFR-000001", write_log(tmp_path / "swapped.csv", swapped))
    assert all(c["missing"] == 0 and c["extra"] == 0 for c in result["categories"].values())
    assert result["unlogged_ids"] == ["I2"] and result["unrecorded_ids"] == ["X7"]
    assert not result["matches"] and result["outside"] == []
