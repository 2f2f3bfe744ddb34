"""The two-level grid of the bulk screen: split cells (every busy coarse cell, or every one) give
the same answers as ``check`` and never miss a point the reference puts within the threshold,
including points and edges laid exactly on coarse centres and fine cell boundaries. And a saved
index maps back with the same answers; a damaged one is refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from spatial_reference import offset, star, tolerance_m, truth

from clearland.spatial import HazardIndex, IndexedHazard, decision_m, grid
from clearland.spatial.index import IndexFileError

PLACES = [(18.0, 44.2), (24.0, 48.5), (104.9, 12.5), (25.0, 79.8), (-70.0, -78.0), (179.97, -17.0)]


def make_index(geoms: list[shapely.Geometry]) -> HazardIndex:
    return HazardIndex([IndexedHazard(f"H{i}", "SHA", "open", None, g) for i, g in enumerate(geoms)])


def dense_scene(seed: int, place: tuple[float, float]) -> list[shapely.Geometry]:
    """Overlapping many-vertex hazards a few hundred metres across, a hole, a multipolygon, an
    indication point: most coarse cells near them are busy."""
    rng = np.random.default_rng(seed)
    lon0, lat0 = place
    geoms: list[shapely.Geometry] = []
    for k in range(5):
        centre = offset(lon0, lat0, float(rng.uniform(0, 360)), float(rng.uniform(0, 400)))
        geoms.append(star(*centre, float(rng.uniform(40, 400)), int(rng.integers(20, 200)), seed + k))
    outer = star(lon0, lat0, 350, 120, seed + 20)
    hole = star(lon0, lat0, 120, 60, seed + 21)
    if outer.contains(hole):
        geoms.append(shapely.Polygon(outer.exterior.coords, [hole.exterior.coords]))
    geoms.append(
        shapely.MultiPolygon(
            [
                star(*offset(lon0, lat0, 90, 600), 150, 80, seed + 22),
                star(*offset(lon0, lat0, 270, 500), 90, 50, seed + 23),
            ]
        )
    )
    geoms.append(shapely.MultiPoint([offset(lon0, lat0, 10, 250), offset(lon0, lat0, 200, 30)]))
    return geoms


def around(geoms: list[shapely.Geometry], seed: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    coords = shapely.get_coordinates(shapely.GeometryCollection(geoms))
    pick = coords[rng.integers(0, len(coords), count)]
    az = rng.uniform(0, 360, count)
    metres = rng.choice([0.0, 0.5, 3.0, 30.0, 80.0, 300.0], count) * rng.random(count)
    lon, lat = np.empty(count), np.empty(count)
    for i in range(count):
        lon[i], lat[i] = offset(pick[i, 0], pick[i, 1], az[i], metres[i])
    return lon, lat


def assert_screen_matches_check(
    index: HazardIndex, lon: np.ndarray, lat: np.ndarray, within_m: float
) -> None:
    result = index.screen(lon, lat, within_m)
    for i in range(len(lon)):
        hits = index.check(shapely.Point(lon[i], lat[i]), within_m)
        expected = 0 if not hits else (2 if hits[0].inside else 1)
        if expected == 1 and abs(hits[0].distance_m - decision_m(within_m)) < 1e-3:
            continue  # within a millimetre of the decision distance: either side
        assert result.status[i] == expected, (i, lon[i], lat[i], hits, result.status[i], result.distance_m[i])
        if expected == 2:
            assert shapely.intersects_xy(index.hazards[result.nearest[i]].geometry, lon[i], lat[i])
        if expected == 1:
            assert abs(result.distance_m[i] - hits[0].distance_m) <= 1e-3 + 1e-6 * hits[0].distance_m


@pytest.fixture(params=[0, grid.SPLIT_MIN, 10**9], ids=["split-all", "split-busy", "split-none"])
def split_min(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(grid, "SPLIT_MIN", request.param)
    return int(request.param)


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    seed=st.integers(0, 10_000),
    place=st.sampled_from(PLACES),
    within_m=st.sampled_from([0.0, 5.0, 50.0, 100.0, 250.0, 1000.0]) | st.floats(0, 2000),
)
def test_split_cells_answer_as_check(
    split_min: int, seed: int, place: tuple[float, float], within_m: float
) -> None:
    geoms = dense_scene(seed, place)
    index = make_index(geoms)
    base = index._grids[index._cell_deg]
    if split_min == 0:
        assert base.nblocks > 0
    if split_min == 10**9:
        assert base.nblocks == 0
    lon, lat = around(geoms, seed + 1, 250)
    assert_screen_matches_check(index, lon, lat, within_m)


@pytest.mark.parametrize("place", PLACES[:4])
def test_split_cells_never_miss_against_reference(split_min: int, place: tuple[float, float]) -> None:
    geoms = dense_scene(11, place)
    index = make_index(geoms)
    lon, lat = around(geoms, 12, 300)
    within = 50.0
    result = index.screen(lon, lat, within)
    for i in range(len(lon)):
        truths = [truth(lon[i], lat[i], g) for g in geoms]
        inside = any(t.intersects for t in truths)
        nearest = min(t.distance_m for t in truths)
        assert (result.status[i] == 2) == inside, (i, lon[i], lat[i])
        if not inside and nearest <= within:
            assert result.status[i] == 1
            assert abs(result.distance_m[i] - nearest) <= tolerance_m(nearest)
        if not inside and nearest > decision_m(within) + tolerance_m(nearest):
            assert result.status[i] == 0


def test_edges_and_points_on_centres_and_cell_boundaries(split_min: int) -> None:
    """Hazard vertices and edges exactly on coarse centres (the reference of the crossing test)
    and on fine cell boundaries, and points exactly there too."""
    lon0, lat0 = 30.0, 48.0
    frame = [
        shapely.Polygon([(lon0, lat0), (lon0 + 1e-4, lat0), (lon0, lat0 + 1e-4)]),
        shapely.Polygon(
            [(lon0 + 0.02, lat0 + 0.02), (lon0 + 0.0199, lat0 + 0.02), (lon0 + 0.02, lat0 + 0.0199)]
        ),
    ]
    cells = make_index(frame)._grids[grid.CELL_DEG].cells

    def cx(col: float) -> float:  # as the grid computes centres (col + 0.5) and corners
        return cells.x0 + (col + 0.5) * cells.cw

    def cy(row: float) -> float:
        return cells.y0 + (row + 0.5) * cells.ch

    def fx(fcol: int) -> float:  # a fine cell boundary
        return cells.x0 + fcol * cells.fcw

    def fy(frow: int) -> float:
        return cells.y0 + frow * cells.fch

    c0, r0 = 6, 6
    hazards = [
        # a box along centre lines and fine boundaries, with a vertex on a coarse centre
        shapely.Polygon(
            [(cx(c0), cy(r0)), (cx(c0 + 4), cy(r0)), (cx(c0 + 4), fy(2 * r0 + 9)), (cx(c0), fy(2 * r0 + 9))]
        ),
        # many-vertex wedge with its apex on a coarse centre, edges through other centres
        shapely.Polygon(
            [(cx(c0 + 6), cy(r0 + 2))]
            + [
                (cx(c0 + 6) + 0.004 * np.cos(a), cy(r0 + 2) + 0.003 * np.sin(a))
                for a in np.linspace(0.1, 1.4, 40)
            ]
        ),
        # a diagonal band through a run of coarse centres, with a hole cornered on a centre
        shapely.Polygon(
            [(cx(2), cy(2)), (cx(14), cy(14)), (cx(14) + 0.0005, cy(14)), (cx(2) + 0.0005, cy(2))],
        ),
        shapely.Polygon(
            [
                (fx(2 * c0), fy(2 * (r0 + 6))),
                (fx(2 * c0 + 8), fy(2 * (r0 + 6))),
                (fx(2 * c0 + 8), fy(2 * (r0 + 6) + 8)),
                (fx(2 * c0), fy(2 * (r0 + 6) + 8)),
            ],
            [
                [
                    (cx(c0 + 1), cy(r0 + 6)),
                    (cx(c0 + 2), cy(r0 + 6)),
                    (cx(c0 + 2), cy(r0 + 7)),
                    (cx(c0 + 1), cy(r0 + 7)),
                ]
            ],
        ),
        shapely.Point(cx(c0 + 9), cy(r0 + 9)),
    ]
    index = make_index(frame + hazards)
    built = index._grids[grid.CELL_DEG].cells
    assert (built.x0, built.y0, built.cw, built.ch) == (cells.x0, cells.y0, cells.cw, cells.ch)
    cols, rows = np.meshgrid(np.arange(0, 20) + 0.0, np.arange(0, 20) + 0.0)
    lon = np.concatenate([cx(cols.ravel()), fx(2 * cols.ravel().astype(int) + 1), cx(cols.ravel())])
    lat = np.concatenate(
        [cy(rows.ravel()), fy(2 * rows.ravel().astype(int) + 1), fy(2 * rows.ravel().astype(int))]
    )
    coords = shapely.get_coordinates(shapely.GeometryCollection(hazards))
    mids = (coords[:-1] + coords[1:]) / 2
    lon = np.concatenate([lon, coords[:, 0], mids[:, 0]])
    lat = np.concatenate([lat, coords[:, 1], mids[:, 1]])
    for within in (0.0, 10.0, 50.0):
        assert_screen_matches_check(index, lon, lat, within)


def test_saved_index_maps_back_with_the_same_answers(tmp_path: Path) -> None:
    geoms = [*dense_scene(3, (24.0, 48.5)), shapely.box(24.05, 48.55, 24.06, 48.56)]
    hazards = [
        IndexedHazard(f"HA-{i:06d}", ("SHA", "CHA")[i % 2], "open", None if i % 3 else "fenced", g)
        for i, g in enumerate(geoms)
    ]
    index = HazardIndex(hazards)
    index.save(tmp_path / "idx", meta={"revision": 7, "fingerprint": "x"})
    loaded = HazardIndex.load(tmp_path / "idx")
    assert loaded.loaded and not index.loaded and loaded.meta == {"revision": 7, "fingerprint": "x"}
    assert loaded.load_seconds > 0 and len(loaded) == len(index)
    assert loaded.refs.tolist() == [h.ref for h in hazards]
    for mine, theirs in zip(loaded.hazards, hazards, strict=True):
        assert (mine.ref, mine.category, mine.status, mine.marking) == (
            theirs.ref,
            theirs.category,
            theirs.status,
            theirs.marking,
        )
        assert shapely.equals_exact(mine.geometry, theirs.geometry, tolerance=0)
    lon, lat = around(geoms, 5, 400)
    for within in (0.0, 50.0, 100.0, 3000.0):
        a, b = index.screen(lon, lat, within), loaded.screen(lon, lat, within)
        assert np.array_equal(a.status, b.status) and np.array_equal(a.nearest, b.nearest)
        assert np.array_equal(a.distance_m, b.distance_m, equal_nan=True)
    for i in range(0, len(lon), 40):
        point = shapely.Point(lon[i], lat[i])
        assert index.check(point, 200) == loaded.check(point, 200)
    again = tmp_path / "again"
    loaded.save(again, meta={"revision": 8})
    assert (
        HazardIndex.load(again).screen(lon, lat, 50).status.tolist()
        == index.screen(lon, lat, 50).status.tolist()
    )


def test_empty_index_saves_and_loads(tmp_path: Path) -> None:
    HazardIndex([]).save(tmp_path / "empty")
    loaded = HazardIndex.load(tmp_path / "empty")
    assert len(loaded) == 0 and loaded.check(shapely.Point(30, 48), 100) == []
    assert loaded.screen(np.array([30.0]), np.array([48.0]), 100).status.tolist() == [0]


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x40
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-8])


def _edit_manifest(path: Path, change: dict[str, object]) -> None:
    manifest = path.parent / "manifest.json"
    data = json.loads(manifest.read_text())
    data.update(change)
    manifest.write_text(json.dumps(data))


@pytest.mark.parametrize(
    "damage",
    [
        "flip a byte of the registrations",
        "flip a byte of the geometries",
        "truncate the coordinates",
        "remove the cell codes",
        "remove the manifest",
        "manifest of another version",
        "manifest cut short",
        "refs of another registry",
        "an object array",
    ],
)
def test_damaged_saves_are_refused(tmp_path: Path, damage: str) -> None:
    index = make_index(dense_scene(4, (18.0, 44.2)))
    path = tmp_path / "idx"
    index.save(path)
    if damage == "flip a byte of the registrations":
        _flip_byte(path / "regs.npy")
    elif damage == "flip a byte of the geometries":
        _flip_byte(path / "wkb.npy")
    elif damage == "truncate the coordinates":
        _truncate(path / "xy.npy")
    elif damage == "remove the cell codes":
        (path / "code.npy").unlink()
    elif damage == "remove the manifest":
        (path / "manifest.json").unlink()
    elif damage == "manifest of another version":
        _edit_manifest(path / "regs.npy", {"version": 999})
    elif damage == "manifest cut short":
        text = (path / "manifest.json").read_text()
        (path / "manifest.json").write_text(text[: len(text) // 2])
    elif damage == "refs of another registry":
        other = HazardIndex(
            [IndexedHazard(f"X{i}", "SHA", "open", None, h.geometry) for i, h in enumerate(index.hazards)]
        )
        other.save(tmp_path / "other")
        shutil.copy(tmp_path / "other" / "refs.npy", path / "refs.npy")
        _edit_manifest(
            path / "refs.npy",
            {"arrays": json.loads((tmp_path / "other" / "manifest.json").read_text())["arrays"]},
        )
    elif damage == "an object array":
        np.save(path / "refs.npy", np.array(["a", None], dtype=object), allow_pickle=True)
        entry = {"dtype": "|O", "shape": [2], "bytes": (path / "refs.npy").stat().st_size, "crc32": 0}
        manifest = json.loads((path / "manifest.json").read_text())
        manifest["arrays"]["refs"] = entry
        (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexFileError):
        HazardIndex.load(path)


def test_saved_index_answers_the_exact_path_the_same(tmp_path: Path) -> None:
    """Points beyond 80° of latitude or reaching across the antimeridian go to ``check``, which
    decodes the geometries of a loaded index: plain polygons from their vertices, others from WKB."""
    geoms = [
        star(179.998, -17.0, 300, 40, 1),
        shapely.MultiPolygon([star(15.0, 84.0, 500, 30, 2), star(15.2, 84.01, 200, 12, 3)]),
        shapely.Polygon(
            star(-60.0, -81.0, 900, 50, 4).exterior.coords, [star(-60.0, -81.0, 200, 9, 5).exterior.coords]
        ),
        shapely.Point(-179.999, -17.001),
    ]
    index = make_index(geoms)
    index.save(tmp_path / "idx")
    loaded = HazardIndex.load(tmp_path / "idx")
    lon, lat = around(geoms, 9, 300)
    lon = (lon + 180) % 360 - 180
    for within in (0.0, 50.0, 800.0):
        a, b = index.screen(lon, lat, within), loaded.screen(lon, lat, within)
        assert np.array_equal(a.status, b.status) and np.array_equal(a.nearest, b.nearest)
        assert np.array_equal(a.distance_m, b.distance_m, equal_nan=True)
        assert (a.status > 0).any()
    for mine, theirs in zip(loaded.hazards, geoms, strict=True):
        assert shapely.equals_exact(mine.geometry, theirs, tolerance=0)
