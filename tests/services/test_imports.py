"""Import use cases on a real SQLite file, with the real data in ../shared/data/real/."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest
import shapely

from clearland.domain.vocab import OnInvalid, RecordKind
from clearland.errors import ConflictError, InputFileError, ValidationFailed
from clearland.services import exports, queries, statistics
from clearland.services.imports import ImportOptions, import_file
from clearland.services.registry import init_registry, open_registry
from clearland.settings import Settings
from conftest import BIH_ADM2, CAMBODIA, make_hazard_feature, reference_area_m2, square, write_geojson
from dbs import contents, database, postgis

D1, D2 = dt.date(2024, 3, 1), dt.date(2024, 9, 1)


def test_real_bih_admin_units_import_with_their_area(registry):
    result = import_file(registry, BIH_ADM2, ImportOptions(kind=RecordKind.ADMIN_AREA))
    assert result["created"] == 12 and result["status"] == "approved"
    admin = queries.records(registry, RecordKind.ADMIN_AREA)
    assert len(admin) == 12
    assert {a["name"] for a in admin} >= {"Brčko", "Republika Srpska"} or len(
        {a["name"] for a in admin}
    ) == 12
    total_km2 = sum(a["area_m2"] for a in admin) / 1e6
    assert total_km2 == pytest.approx(51_447.1, rel=0.005)


def test_cambodia_points_need_their_crs_member_and_a_category(registry):
    # points are only allowed for an indication; without a category nothing is imported
    with pytest.raises(ValidationFailed) as failed:
        import_file(registry, CAMBODIA, ImportOptions())
    assert {p["field"] for p in failed.value.detail} >= {"category"}
    assert all(p["file"] == CAMBODIA.name for p in failed.value.detail)
    result = import_file(
        registry,
        CAMBODIA,
        ImportOptions(constants={"category": "indication"}, mapping={"source_id": "IncidentID"}),
    )
    assert result["created"] == 124
    assert any("EPSG:32648" in note for note in result["notes"])
    items = queries.records(registry)
    point = next(i for i in items if i["source_id"] == "64458")
    assert point["geometry"].x == pytest.approx(107.443813, abs=1e-5)
    assert point["geometry"].y == pytest.approx(12.565782, abs=1e-5)
    minx, miny, maxx, maxy = shapely.total_bounds([i["geometry"] for i in items])
    assert (minx, miny, maxx, maxy) == pytest.approx((102.3604, 10.5008, 107.4438, 14.3906), abs=1e-4)


def test_same_file_twice_creates_no_duplicates(registry, tmp_path):
    path = write_geojson(
        tmp_path / "ha.geojson",
        [
            make_hazard_feature(square(17.0, 44.0), id="a-1", name="North field"),
            make_hazard_feature(square(17.1, 44.0), id="a-2", name="South field"),
        ],
    )
    first = import_file(registry, path, ImportOptions(date_of_information=D1))
    again = import_file(registry, path, ImportOptions(date_of_information=D1))
    assert first["created"] == 2
    assert again["created"] == 0 and again["unchanged"] == 2 and again["report"] is None
    assert len(queries.records(registry)) == 2


def test_export_then_import_gives_the_same_records(registry, tmp_path):
    path = write_geojson(
        tmp_path / "ha.geojson",
        [
            make_hazard_feature(
                square(17.0, 44.0), id="x1", hazard_types="AP mine; AT mine", marking="signs"
            ),
            make_hazard_feature(
                shapely.Polygon(
                    square(17.2, 44.0, 0.02).exterior.coords, [square(17.205, 44.005).exterior.coords]
                ),
                id="x2",
                category="CHA",
                name="Поле біля школи",
            ),
        ],
    )
    import_file(registry, path, ImportOptions(date_of_information=D1))
    before = queries.records(registry)
    for fmt in ("geojson", "gpkg", "fgb", "parquet", "csv", "kml", "shp"):
        out = tmp_path / f"export.{'zip' if fmt == 'shp' else fmt}"
        exports.export(registry, out, format=fmt)
        result = import_file(registry, out, ImportOptions(date_of_information=D1))
        assert result["created"] == 0 and result["updated"] == 0, (fmt, result)
    after = queries.records(registry)
    assert [a["ref"] for a in after] == [b["ref"] for b in before]


def test_newer_information_wins_and_as_of_shows_the_past(registry, tmp_path):
    v1 = write_geojson(tmp_path / "v1.geojson", [make_hazard_feature(square(17, 44), id="k", status="open")])
    v2 = write_geojson(
        tmp_path / "v2.geojson", [make_hazard_feature(square(17, 44), id="k", status="worked_on")]
    )
    import_file(registry, v2, ImportOptions(date_of_information=D2))
    late = import_file(registry, v1, ImportOptions(date_of_information=D1))
    assert late["updated"] == 1  # kept in history ...
    (current,) = queries.records(registry)
    assert current["status"] == "worked_on"  # ... but older information does not overwrite newer
    (past,) = queries.records(registry, as_of=D1)
    assert past["status"] == "open"
    assert queries.records(registry, as_of=dt.date(2020, 1, 1)) == []
    shown = queries.record(registry, current["ref"], history=True)
    assert [h["date_of_information"] for h in shown["history"]] == ["2024-03-01", "2024-09-01"]


def test_equal_date_disagreement_is_a_conflict_and_writes_nothing(registry, tmp_path):
    v1 = write_geojson(tmp_path / "v1.geojson", [make_hazard_feature(square(17, 44), id="k", status="open")])
    v2 = write_geojson(
        tmp_path / "v2.geojson", [make_hazard_feature(square(17, 44), id="k", status="closed")]
    )
    import_file(registry, v1, ImportOptions(date_of_information=D1))
    with registry.store.read() as tx:
        counts = tx.table_counts()
    with pytest.raises(ConflictError) as conflict:
        import_file(registry, v2, ImportOptions(date_of_information=D1))
    assert conflict.value.detail[0]["field"] == "status"
    with registry.store.read() as tx:
        assert tx.table_counts() == counts
    assert queries.records(registry)[0]["status"] == "open"


def test_policies_reject_repair_skip(registry, tmp_path):
    bowtie = shapely.Polygon([(17, 44), (17.01, 44.01), (17.01, 44), (17, 44.01)])
    path = write_geojson(
        tmp_path / "mixed.geojson",
        [
            make_hazard_feature(square(17.1, 44.1), id="good"),
            make_hazard_feature(bowtie, id="bowtie"),
            make_hazard_feature(None, id="null"),
            make_hazard_feature(square(17.2, 44.1), id="badcat", category="dangerous-ish"),
        ],
    )
    with pytest.raises(ValidationFailed) as failed:
        import_file(registry, path, ImportOptions())
    detail = {(p["feature"], p["field"], p["code"]) for p in failed.value.detail}
    assert detail == {(2, "geometry", "invalid"), (3, "geometry", "null"), (4, "category", "value")}
    assert "Self-intersection" in next(p["message"] for p in failed.value.detail if p["feature"] == 2)
    assert queries.records(registry) == []

    repaired = import_file(registry, path, ImportOptions(on_invalid=OnInvalid.REPAIR))
    assert repaired["created"] == 2 and repaired["repaired"] == 1 and repaired["skipped"] == 2
    fixed = next(r for r in queries.records(registry) if r["source_id"] == "bowtie")
    assert fixed["geometry"].is_valid and fixed["geometry"].geom_type == "MultiPolygon"

    skipped = import_file(registry, path, ImportOptions(on_invalid=OnInvalid.SKIP))
    assert skipped["created"] == 0 and skipped["skipped"] == 3


def test_duplicate_source_ids_and_swapped_axes_are_named(registry, tmp_path):
    features = [make_hazard_feature(square(17 + i * 0.02, 44), id=f"f{i}") for i in range(6)]
    features.append(make_hazard_feature(square(17.0, 44.0), id="f1"))
    features.append(make_hazard_feature(square(44.03, 17.03), id="swapped"))
    path = write_geojson(tmp_path / "dups.geojson", features)
    with pytest.raises(ValidationFailed) as failed:
        import_file(registry, path, ImportOptions())
    codes = {(p["feature"], p["code"]) for p in failed.value.detail}
    assert codes == {(7, "duplicate"), (8, "swapped_axes")}


def test_overlap_aware_totals_against_an_independent_computation(registry, tmp_path):
    shapes = [square(17.0, 44.0, 0.02), square(17.01, 44.01, 0.02), square(17.0, 44.0, 0.02), square(18, 44)]
    path = write_geojson(
        tmp_path / "ov.geojson",
        [
            make_hazard_feature(g, id=f"o{i}", category="CHA" if i % 2 else "SHA")
            for i, g in enumerate(shapes)
        ],
    )
    import_file(registry, path, ImportOptions())
    result = statistics.statistics(registry, by="category")
    expected_sum = sum(reference_area_m2(g) for g in shapes)
    expected_net = reference_area_m2(shapely.union_all(shapes))
    assert result["count"] == 4
    assert result["area_m2_sum"] == pytest.approx(expected_sum, rel=1e-9)
    assert result["area_m2_net"] == pytest.approx(expected_net, rel=1e-6)
    assert result["area_m2_net"] < result["area_m2_sum"]
    sha = [shapes[0], shapes[2]]
    assert result["groups"]["SHA"]["area_m2_net"] == pytest.approx(
        reference_area_m2(shapely.union_all(sha)), rel=1e-6
    )


def test_stats_by_admin_area_uses_intersection(registry, tmp_path):
    import_file(registry, BIH_ADM2, ImportOptions(kind=RecordKind.ADMIN_AREA))
    admin = queries.records(registry, RecordKind.ADMIN_AREA)
    inside = admin[0]["geometry"].representative_point()
    hazard = shapely.box(inside.x - 0.005, inside.y - 0.005, inside.x + 0.005, inside.y + 0.005)
    path = write_geojson(tmp_path / "one.geojson", [make_hazard_feature(hazard, id="h")])
    import_file(registry, path, ImportOptions())
    result = statistics.statistics(registry, by="admin-area")
    total = sum(g["area_m2_sum"] for g in result["groups"].values())
    assert total == pytest.approx(reference_area_m2(hazard), rel=1e-6)


def test_missing_crs_is_refused(registry, tmp_path):
    path = write_geojson(
        tmp_path / "utm.geojson",
        [make_hazard_feature(square(500000, 1400000, 100))],
        crs="urn:ogc:def:crs:EPSG::32648",
    )
    result = import_file(registry, path, ImportOptions())
    (item,) = queries.records(registry)
    assert 104 < item["geometry"].centroid.x < 106 and 12 < item["geometry"].centroid.y < 13.5
    with pytest.raises(InputFileError):
        import_file(registry, tmp_path / "nope.geojson", ImportOptions())
    assert result["created"] == 1


def test_export_public_drops_restricted_fields(registry, tmp_path):
    path = write_geojson(
        tmp_path / "r.geojson",
        [
            make_hazard_feature(
                square(17, 44), id="r", minefield_record_ref="MR-1", evidence_description="informant X"
            )
        ],
    )
    import_file(registry, path, ImportOptions())
    out = tmp_path / "public.geojson"
    exports.export(registry, out, public=True)
    text = out.read_text(encoding="utf-8")
    assert "MR-1" not in text and "informant X" not in text and "minefield_record_ref" not in text
    props = json.loads(text)["features"][0]["properties"]
    assert props["category"] == "SHA" and props["status"] == "open"


def test_real_colombia_csv_cells_import_as_indications(registry):
    from conftest import REAL

    path = REAL / "colombia-reland-antioquia" / "test_labeled.csv"
    with pytest.raises(ValidationFailed) as failed:
        import_file(registry, path, ImportOptions(constants={"category": "SHA"}))
    assert {p["code"] for p in failed.value.detail} == {"wrong_type"}  # points are not areas
    result = import_file(registry, path, ImportOptions(constants={"category": "indication"}))
    assert result["created"] == 1305
    assert any("no CRS" in note for note in result["notes"])
    minx, miny, maxx, maxy = shapely.total_bounds([i["geometry"] for i in queries.records(registry)])
    assert (minx, miny, maxx, maxy) == pytest.approx((-75.2950, 5.2708, -74.7656, 5.7285), abs=1e-3)


def test_an_invalid_polygon_found_beside_the_writing_rolls_it_all_back(registry, tmp_path):
    # only validity (and the swapped axes it guards) is left to check once the quick rules pass:
    # the rows are written meanwhile, and the problem undoes them
    bowtie = shapely.Polygon([(17, 44), (17.01, 44.01), (17.01, 44), (17, 44.01)])
    seed = write_geojson(
        tmp_path / "seed.geojson", [make_hazard_feature(square(17, 44), id="k", status="open")]
    )
    import_file(registry, seed, ImportOptions(date_of_information=D1))
    with registry.store.read() as tx:
        counts = tx.table_counts()
    features = [make_hazard_feature(square(17 + i / 100, 44.2), id=f"g{i}") for i in range(20)]
    bad = write_geojson(tmp_path / "bad.geojson", [*features, make_hazard_feature(bowtie, id="bowtie")])
    with pytest.raises(ValidationFailed) as failed:
        import_file(registry, bad, ImportOptions(date_of_information=D1))
    assert [(p["feature"], p["code"]) for p in failed.value.detail] == [(21, "invalid")]
    swapped = write_geojson(
        tmp_path / "swapped.geojson", [*features, make_hazard_feature(square(44.03, 17.03), id="swapped")]
    )
    with pytest.raises(ValidationFailed) as failed:
        import_file(registry, swapped, ImportOptions(date_of_information=D1))
    assert [(p["feature"], p["code"]) for p in failed.value.detail] == [(21, "swapped_axes")]
    # a conflict met while writing yields to the file's own problem, as if checked first
    conflicting = write_geojson(
        tmp_path / "conflict.geojson",
        [make_hazard_feature(square(17, 44), id="k", status="closed"), make_hazard_feature(bowtie, id="b")],
    )
    with pytest.raises(ValidationFailed):
        import_file(registry, conflicting, ImportOptions(date_of_information=D1))
    with registry.store.read() as tx:
        assert tx.table_counts() == counts
    good = write_geojson(tmp_path / "good.geojson", features)
    assert import_file(registry, good, ImportOptions(date_of_information=D1))["created"] == 20


def _timeless(tables):
    """``contents`` without the times rows were written at."""
    return {
        name: sorted(
            tuple("<time>" if v.startswith("datetime.datetime(") else v for v in row) for row in rows
        )
        for name, rows in tables.items()
    }


def test_new_polygons_land_the_same_by_the_fast_path_and_the_plain_one(tmp_path):
    # Under --on-invalid reject, an import of new polygons starts its transaction before the
    # geometry is canonical, fills the spatial index first and hands the bulk inserts to a writer
    # thread; under skip it takes the plain path. Every row stored (geometry WKB, change rows,
    # R*Tree boxes, areas) must be the same. More than 2,000 features: the bulk area path.
    rng = np.random.default_rng(7)
    features = []
    for i in range(2500):
        x, y = 17 + rng.random(), 44 + rng.random()
        kind = i % 5
        if kind == 0:  # a ring starting anywhere
            geom = shapely.Point(x, y).buffer(0.002, quad_segs=int(rng.integers(2, 12)))
        elif kind == 1:  # a hole
            geom = square(x, y).difference(square(x + 0.002, y + 0.002, 0.002))
        elif kind == 2:
            geom = shapely.MultiPolygon([square(x, y), square(x + 0.02, y)])
        elif kind == 3:  # a Z to drop
            geom = shapely.Polygon([(x, y, 1.0), (x + 0.01, y, 2.0), (x, y + 0.01, 3.0)])
        else:  # clockwise, from another corner
            geom = shapely.Polygon([(x + 0.01, y), (x, y), (x, y + 0.01)])
        types = "ap_mine;uxo" if i % 3 else None
        features.append(make_hazard_feature(geom, id=f"p{i}", name=f"area {i}", hazard_types=types))
    path = write_geojson(tmp_path / "new.geojson", features)
    stored = []
    for policy in (OnInvalid.REJECT, OnInvalid.SKIP):
        db = database(tmp_path / f"{policy.value}.db")
        registry = open_registry(Settings(), db=db)
        init_registry(registry)
        try:
            result = import_file(registry, path, ImportOptions(on_invalid=policy, date_of_information=D1))
        finally:
            registry.close()
        assert (result["created"], result["problems"]) == (2500, [])
        stored.append(_timeless(contents(db)))
    fast, plain = stored
    assert len(fast.get("hazard_areas_rtree", [])) == (0 if postgis() else 2500)
    assert fast == plain
