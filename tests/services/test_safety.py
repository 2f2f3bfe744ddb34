"""Safety checks and screening on a real registry with real GPS tracks (gpxpy test data, Croatia
and Slovenia) and a SYNTHETIC hazard area made to cross one of them."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import numpy as np
import pyogrio
import pytest
import shapely
from pyproj import Geod

from clearland.services import safety, screening
from clearland.services.imports import ImportOptions, import_file
from conftest import REAL, make_hazard_feature, write_geojson
from dbs import database, postgis

GPX = REAL / "gpx-gpxpy-tracks"
GEOD = Geod(ellps="WGS84")


def track_points(name: str) -> np.ndarray:
    frame = pyogrio.read_dataframe(GPX / name, layer="track_points")
    return np.column_stack([frame.geometry.x, frame.geometry.y])


KORITA = track_points("korita-zbevnica.gpx")
CROSSED = KORITA[400]
# SYNTHETIC: a ~160 m × 220 m box around one point of the korita-zbevnica track, not a real hazard
SYNTHETIC = shapely.box(CROSSED[0] - 0.001, CROSSED[1] - 0.001, CROSSED[0] + 0.001, CROSSED[1] + 0.001)


def distance_to_box_m(lon: float, lat: float, box: shapely.Polygon) -> float:
    """Independent: the nearest point of the box in lon/lat (fine at this scale), then Geod."""
    if box.covers(shapely.Point(lon, lat)):
        return 0.0
    nearest = shapely.ops.nearest_points(box.boundary, shapely.Point(lon, lat))[0]
    return GEOD.inv(lon, lat, nearest.x, nearest.y)[2]


@pytest.fixture(autouse=True)
def own_cache_home(monkeypatch, tmp_path: Path) -> Path:
    """A server database's index is kept under $XDG_CACHE_HOME: this test's own folder."""
    home = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    return home


@pytest.fixture
def loaded(registry, tmp_path):
    path = write_geojson(
        tmp_path / "synthetic.geojson",
        [
            make_hazard_feature(
                SYNTHETIC, id="syn-1", category="CHA", name="SYNTHETIC crossing korita-zbevnica"
            ),
            make_hazard_feature(shapely.box(16.0, 45.0, 16.01, 45.01), id="syn-closed", status="closed"),
        ],
    )
    import_file(registry, path, ImportOptions(date_of_information=dt.date(2026, 1, 15)))
    return registry


def test_point_answers_inside_near_and_no_record(loaded) -> None:
    inside = safety.check_point(loaded, float(CROSSED[0]), float(CROSSED[1]))
    assert inside["answer"] == "inside" and inside["hazards"][0]["ref"] == "HA-000001"
    assert (
        inside["hazards"][0]["distance_m"] == 0 and inside["registry"]["latest_information"] == "2026-01-15"
    )
    assert "not proof of safety" in inside["notice"]
    # 60 m due east of the box's east edge
    lon, lat, _ = GEOD.fwd(CROSSED[0] + 0.001, CROSSED[1], 90, 60)
    near = safety.check_point(loaded, lon, lat, within_m=100)
    (hit,) = near["hazards"]
    assert near["answer"] == "near" and hit["distance_m"] == pytest.approx(60, abs=0.5)
    assert hit["bearing_deg"] == pytest.approx(270, abs=0.5)
    assert safety.check_point(loaded, lon, lat, within_m=50)["answer"] == "no_record"
    # a closed area is not reported
    assert safety.check_point(loaded, 16.005, 45.005)["answer"] == "no_record"


def test_real_tracks_route_check(loaded) -> None:
    crossing = safety.check_file(loaded, GPX / "korita-zbevnica.gpx", "route")
    assert crossing["answer"] == "inside" and [h["ref"] for h in crossing["hazards"]] == ["HA-000001"]
    assert {f["answer"] for f in crossing["features"]} >= {"inside"}
    for other in ("cerknicko-jezero.gpx", "around-visnjan-with-car.gpx", "route.gpx"):
        answer = safety.check_file(loaded, GPX / other, "route")
        assert answer["answer"] == "no_record", other
    corrupt = safety.check_file(loaded, GPX / "Mojstrovka.gpx", "route")
    assert corrupt["answer"] == "no_record"
    (warning,) = corrupt["warnings"]
    assert warning.startswith("184 of 184 GPS points: corrupt timestamp 1901-12-13T20:45:52Z")


def test_screening_a_real_track_matches_an_independent_count(loaded, tmp_path: Path) -> None:
    out = tmp_path / "korita.csv"
    result = screening.screen(loaded, GPX / "korita-zbevnica.gpx", out, within_m=100)
    assert result["points"] == 871 + 2
    with out.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == result["points"]
    expected = {}
    for row in rows:
        d = distance_to_box_m(float(row["lon"]), float(row["lat"]), SYNTHETIC)
        expected[row["id"]] = "inside" if d == 0 else ("near" if d <= 100 else "no_record")
        if row["status"] == "near":
            assert float(row["distance_m"]) == pytest.approx(d, rel=0.005, abs=0.5)
    got = {row["id"]: row["status"] for row in rows}
    # borderline points (within the 0.5 % tolerance of 100 m) may err to near, never to no_record
    differ = {k for k in got if got[k] != expected[k]}
    for key in differ:
        assert got[key] == "near" and expected[key] == "no_record"
    assert result["counts"]["inside"] == sum(v == "inside" for v in expected.values()) > 0
    assert result["counts"]["near"] >= sum(v == "near" for v in expected.values()) > 0


def test_screening_flags_corrupt_timestamps_without_stopping(loaded, tmp_path: Path) -> None:
    out = tmp_path / "mojstrovka.parquet"
    result = screening.screen(loaded, GPX / "Mojstrovka.gpx", out)
    assert result["points"] == 184 and result["counts"]["invalid_input"] == 184
    assert result["invalid_reasons"] == {"corrupt timestamp": 184}
    assert out.exists() and not out.with_name(out.name + ".partial").exists()


def test_csv_screening_with_bad_rows(loaded, tmp_path: Path) -> None:
    src = tmp_path / "fixes.csv"
    lines = ["fix,X,Y", f"a,{CROSSED[0]},{CROSSED[1]}", "b,abc,44", "c,15,91", "d,15.0,45.0"]
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    result = screening.screen(loaded, src, out, lon_col="X", lat_col="Y", id_col="fix")
    assert result["counts"] == {"inside": 1, "near": 0, "no_record": 1, "invalid_input": 2}
    with out.open(encoding="utf-8") as fh:
        rows = {r["id"]: r for r in csv.DictReader(fh)}
    assert rows["a"]["nearest_ref"] == "HA-000001" and rows["a"]["distance_m"] == "0"
    assert rows["b"]["reason"] == "longitude 'abc' is not a number"
    assert rows["c"]["reason"] == "latitude 91 is outside ±90" and rows["d"]["status"] == "no_record"


def test_index_follows_the_registry_revision(loaded, tmp_path: Path) -> None:
    first, status = safety.hazard_index(loaded)
    assert len(first) == 1  # the closed area is not indexed
    again, _ = safety.hazard_index(loaded)
    assert again is first
    extra = write_geojson(
        tmp_path / "more.geojson", [make_hazard_feature(shapely.box(15, 45, 15.01, 45.01), id="x")]
    )
    import_file(loaded, extra, ImportOptions(date_of_information=dt.date(2026, 2, 1)))
    rebuilt, new_status = safety.hazard_index(loaded)
    assert rebuilt is not first and len(rebuilt) == 2 and new_status["revision"] > status["revision"]
    assert safety.check_point(loaded, 15.005, 45.005)["answer"] == "inside"


def test_empty_registry_and_bad_input(registry, tmp_path: Path) -> None:
    from clearland.errors import InputError, InputFileError

    answer = safety.check_point(registry, 18.0, 44.0)
    assert answer["answer"] == "no_record" and answer["hazards"] == []
    with pytest.raises(InputError, match="longitude first"):
        safety.check_point(registry, 44.0, 118.0)
    with pytest.raises(InputError, match="--within"):
        safety.check_point(registry, 18.0, 44.0, within_m=-5)
    points = tmp_path / "points.geojson"
    points.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {},
                        "geometry": {"type": "Point", "coordinates": [18, 44]},
                    }
                ],
            }
        ),
        encoding="utf-8",
    )
    with pytest.raises(InputFileError, match="`check route` needs lines") as failed:
        safety.check_file(registry, points, "route")
    assert failed.value.detail[0]["field"] == "geometry"


def test_released_land_is_not_a_hazard(loaded, tmp_path: Path) -> None:
    from clearland.domain.vocab import ActivityType, OutcomeKind
    from clearland.services.release_import import ReleaseOptions, import_outcomes

    west, south, east, north = SYNTHETIC.bounds
    cleared = shapely.box(west, south, (west + east) / 2, north)
    path = write_geojson(tmp_path / "cleared.geojson", [make_hazard_feature(cleared, id="c1")])
    import_outcomes(
        loaded,
        path,
        ReleaseOptions(
            outcome=OutcomeKind.CLEARED,
            activity_type=ActivityType.CLEARANCE,
            date_of_information=dt.date(2026, 2, 1),
        ),
    )
    # 40 m inside the cleared west half, ~40 m from the land still hazardous
    lon, lat, _ = GEOD.fwd(west, CROSSED[1], 90, 40)
    assert safety.check_point(loaded, lon, lat, within_m=10)["answer"] == "no_record"
    near = safety.check_point(loaded, lon, lat, within_m=100)
    assert near["answer"] == "near" and near["hazards"][0]["distance_m"] == pytest.approx(
        GEOD.inv(lon, lat, (west + east) / 2, CROSSED[1])[2], rel=0.005
    )


# -- the index kept on disk ------------------------------------------------------------------


def _forget_in_memory() -> None:
    safety._cache.clear()


def _expected_cache_root(registry) -> Path:
    """Next to a SQLite file; for PostGIS the one folder under $XDG_CACHE_HOME/clearland."""
    import os

    if not postgis():
        return registry.store.sqlite_path.with_name("registry.db.index")
    assert registry.store.sqlite_path is None
    folders = list((Path(os.environ["XDG_CACHE_HOME"]) / "clearland").iterdir())
    assert [p.name.startswith("index-") for p in folders] == [True], folders
    return folders[0]


def _cache_dirs(registry) -> list[Path]:
    root = safety.index_cache_dir(registry.store)
    assert root is not None and root == _expected_cache_root(registry)
    return sorted(p for p in root.iterdir() if p.is_dir())


def test_index_is_kept_next_to_the_database_and_mapped_back(loaded, monkeypatch) -> None:
    first, status = safety.hazard_index(loaded)
    (saved,) = _cache_dirs(loaded)
    assert saved.name == f"rev{status['revision']}-fmt1" and (saved / "manifest.json").exists()
    assert not first.loaded
    _forget_in_memory()  # as a new process would start

    def no_rows(*_args, **_kwargs):
        raise AssertionError("the hazard rows were read although a valid index is on disk")

    monkeypatch.setattr(safety, "_build", no_rows)
    again, again_status = safety.hazard_index(loaded)
    assert again.loaded and again_status == status and again.refs.tolist() == first.refs.tolist()
    assert safety.check_point(loaded, float(CROSSED[0]), float(CROSSED[1]))["answer"] == "inside"
    hazard = again.hazard("HA-000001")
    assert hazard.category == "CHA" and hazard.geometry.equals(SYNTHETIC)


@pytest.mark.parametrize("damage", ["flip a byte", "truncate", "no manifest", "other revision in manifest"])
def test_a_damaged_cache_is_rebuilt_not_trusted(loaded, monkeypatch, damage: str) -> None:
    safety.hazard_index(loaded)
    (saved,) = _cache_dirs(loaded)
    regs = saved / "regs.npy"
    if damage == "flip a byte":
        data = bytearray(regs.read_bytes())
        data[-1] ^= 0x01
        regs.write_bytes(bytes(data))
    elif damage == "truncate":
        regs.write_bytes(regs.read_bytes()[:-4])
    elif damage == "no manifest":
        (saved / "manifest.json").unlink()
    else:
        manifest = json.loads((saved / "manifest.json").read_text())
        manifest["meta"]["revision"] += 1
        (saved / "manifest.json").write_text(json.dumps(manifest))
    _forget_in_memory()
    builds = []
    real_build = safety._build
    monkeypatch.setattr(safety, "_build", lambda tx: builds.append(1) or real_build(tx))
    index, _ = safety.hazard_index(loaded)
    assert builds == [1] and not index.loaded
    assert safety.check_point(loaded, float(CROSSED[0]), float(CROSSED[1]))["answer"] == "inside"
    _forget_in_memory()  # the rebuilt one replaced the damaged one on disk
    assert safety.hazard_index(loaded)[0].loaded and builds == [1]


def test_a_new_revision_replaces_the_cached_index(loaded, tmp_path: Path) -> None:
    _, status = safety.hazard_index(loaded)
    extra = write_geojson(
        tmp_path / "more.geojson", [make_hazard_feature(shapely.box(15, 45, 15.01, 45.01), id="x")]
    )
    import_file(loaded, extra, ImportOptions(date_of_information=dt.date(2026, 2, 1)))
    _forget_in_memory()
    index, new_status = safety.hazard_index(loaded)
    assert not index.loaded and len(index) == 2
    assert [p.name for p in _cache_dirs(loaded)] == [f"rev{new_status['revision']}-fmt1"]
    assert new_status["revision"] > status["revision"]


def test_another_registry_at_the_same_revision_is_not_mistaken_for_this_one(tmp_path: Path) -> None:
    from clearland.services.registry import init_registry, open_registry
    from clearland.settings import Settings

    db = database(tmp_path / "swap.db")

    def fresh(box: shapely.Polygon) -> None:
        registry = open_registry(Settings(), db=db)
        registry.store.wipe()  # the SQLite file, or every table of the PostGIS database
        assert not registry.store.exists()
        init_registry(registry)
        path = write_geojson(tmp_path / "h.geojson", [make_hazard_feature(box, id="h")])
        import_file(registry, path, ImportOptions(date_of_information=dt.date(2026, 1, 15)))
        registry.close()

    fresh(shapely.box(16.0, 45.0, 16.01, 45.01))
    registry = open_registry(Settings(), db=db)
    assert safety.check_point(registry, 16.005, 45.005)["answer"] == "inside"
    registry.close()
    fresh(shapely.box(17.0, 45.0, 17.01, 45.01))  # same revision, other hazards
    _forget_in_memory()
    registry = open_registry(Settings(), db=db)
    assert safety.check_point(registry, 16.005, 45.005)["answer"] == "no_record"
    assert safety.check_point(registry, 17.005, 45.005)["answer"] == "inside"
    registry.close()


def test_cache_places_and_an_unwritable_one(loaded, monkeypatch, tmp_path: Path) -> None:
    from types import SimpleNamespace

    from clearland.storage.repository import Store

    assert safety.index_cache_dir(Store("sqlite://")) is None
    assert safety.index_cache_dir(Store("sqlite:///:memory:")) is None
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    server = SimpleNamespace(
        sqlite_path=None, url="postgresql+psycopg://clearland:secret@db.example/registry"
    )
    place = safety.index_cache_dir(server)  # type: ignore[arg-type]
    assert place is not None and place.parent == tmp_path / "xdg" / "clearland" and "secret" not in str(place)
    # where the cache cannot be written the checks go on, rebuilding each time
    blocker = safety.index_cache_dir(loaded.store)
    assert blocker is not None
    if postgis():
        assert blocker.parent == tmp_path / "xdg" / "clearland" and blocker.name.startswith("index-")
    else:
        assert blocker == loaded.store.sqlite_path.with_name("registry.db.index")
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("not a folder")
    index, _ = safety.hazard_index(loaded)
    assert not index.loaded and blocker.is_file()
    assert safety.check_point(loaded, float(CROSSED[0]), float(CROSSED[1]))["answer"] == "inside"
