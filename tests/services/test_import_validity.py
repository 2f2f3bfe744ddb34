"""Validity begun while a file is read (``imports._Validity``) is used only for the very geometry
read; anything else is checked anew. And an import finds an invalid polygon either way: in the
file's own CRS (checked while reading) and reprojected (checked again after)."""

from __future__ import annotations

import geopandas
import numpy as np
import pyogrio
import pytest
import shapely

from clearland.errors import ValidationFailed
from clearland.services.imports import ImportOptions, _Validity, import_file

BOWTIE = shapely.Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])


def _geoms(count: int) -> np.ndarray:
    geoms = np.array([shapely.box(i, 0, i + 0.5, 0.5) for i in range(count)], dtype=object)
    geoms[3] = BOWTIE
    geoms[7] = None
    return geoms


def test_batches_read_are_used_for_the_same_geometry_and_redone_for_another() -> None:
    geoms = _geoms(25)
    present = np.flatnonzero([g is not None for g in geoms])
    expected = np.array([g is not None and g.is_valid for g in geoms])

    same = _Validity()
    try:
        for offset in range(0, 25, 10):
            same.read_batch(offset, geoms[offset : offset + 10])
        same.check(geoms.copy(), present, as_read=True)  # a new array of the same objects
        assert same._read  # the batches were taken
        assert np.array_equal(same.result(25), expected)
    finally:
        same.close()

    # other objects (as after a change of CRS), or the same ones said not to be as read
    for other, as_read in ((shapely.transform(geoms, lambda xy: xy * 2), True), (geoms, False)):
        redone = _Validity()
        try:
            redone.read_batch(0, np.array([shapely.box(0, 0, 1, 1)] * 25, dtype=object))
            redone.check(other, present, as_read=as_read)
            assert not redone._read
            assert np.array_equal(redone.result(25), expected)
        finally:
            redone.close()


@pytest.mark.parametrize("crs", ["EPSG:4326", "EPSG:3857"])
def test_an_import_finds_the_invalid_polygon_read_in_any_crs(registry, tmp_path, crs) -> None:
    # 12,000 features: more than one batch read, the bowtie in the second
    rng = np.random.default_rng(3)
    polygons = [shapely.Point(17 + rng.random(), 44 + rng.random()).buffer(0.002, 4) for _ in range(12_000)]
    polygons[10_500] = shapely.Polygon([(17, 44), (17.01, 44.01), (17.01, 44), (17, 44.01)])
    if crs == "EPSG:3857":
        from pyproj import Transformer

        to_metres = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
        polygons = [
            shapely.transform(p, lambda xy: np.column_stack(to_metres.transform(*xy.T))) for p in polygons
        ]
    path = tmp_path / "areas.gpkg"
    frame = geopandas.GeoDataFrame(
        {"source_id": [f"v{i}" for i in range(len(polygons))], "category": "SHA"}, geometry=polygons, crs=crs
    )
    pyogrio.write_dataframe(frame, path, layer="hazard_areas", driver="GPKG")
    with pytest.raises(ValidationFailed) as failed:
        import_file(registry, path, ImportOptions())
    problems = failed.value.detail
    assert [(p["feature"], p["code"]) for p in problems] == [(10_501, "invalid")]
