"""Shared builders. Tests use real databases (SQLite files; with ``--postgis`` a throwaway
PostgreSQL + PostGIS cluster, see ``dbs.py``) and the real data in ../shared/data/real/."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import shapely

from clearland.services.registry import Registry, init_registry, open_registry
from clearland.settings import Settings
from dbs import database, use_cluster

REAL = Path(
    os.environ.get("CLEARLAND_REAL_DATA", Path(__file__).resolve().parents[2] / "shared" / "data" / "real")
)
BIH_ADM2 = REAL / "bih-geoboundaries-adm2" / "geoBoundaries-BIH-ADM2.geojson"
CAMBODIA = REAL / "cambodia-cmvis-casualties-2005" / "cmvis_casualties_2005_jan_feb.geojson"


_CLUSTER_CONTEXT: Any = None


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--postgis",
        action="store_true",
        help="keep every registry on a throwaway PostgreSQL + PostGIS cluster instead of SQLite "
        "files (scripts/ensure_postgis.sh installs it); a skipped test fails this run",
    )


def pytest_configure(config: pytest.Config) -> None:
    global _CLUSTER_CONTEXT
    if config.getoption("--postgis") and _CLUSTER_CONTEXT is None:
        from pgcluster import temporary_cluster

        _CLUSTER_CONTEXT = temporary_cluster()
        use_cluster(_CLUSTER_CONTEXT.__enter__())


def pytest_unconfigure(config: pytest.Config) -> None:
    global _CLUSTER_CONTEXT
    if _CLUSTER_CONTEXT is not None:
        use_cluster(None)
        _CLUSTER_CONTEXT.__exit__(None, None, None)
        _CLUSTER_CONTEXT = None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """On the PostGIS run every test must run: a skip is reported as a failure."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if _CLUSTER_CONTEXT is not None and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped on the PostGIS run, where no test may be skipped: {report.longrepr}"


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    reg = open_registry(Settings(), db=database(tmp_path / "registry.db"))
    init_registry(reg)
    yield reg
    reg.close()


def reference_area_m2(geom: shapely.Geometry) -> float:
    """Independent geodesic area for tests: pyproj.Geod ring by ring (exterior minus holes)."""
    from pyproj import Geod

    geod = Geod(ellps="WGS84")
    total = 0.0
    for poly in shapely.get_parts(geom):
        total += abs(geod.polygon_area_perimeter(*poly.exterior.xy)[0])
        total -= sum(abs(geod.polygon_area_perimeter(*h.xy)[0]) for h in poly.interiors)
    return total


def square(lon: float, lat: float, size_deg: float = 0.01) -> shapely.Polygon:
    return shapely.box(lon, lat, lon + size_deg, lat + size_deg)


def make_hazard_feature(geometry: shapely.Geometry | None, **properties: Any) -> dict[str, Any]:
    props = {"category": "SHA", "status": "open", **properties}
    return {
        "type": "Feature",
        "properties": props,
        "geometry": None if geometry is None else shapely.geometry.mapping(geometry),
    }


def write_geojson(path: Path, features: list[dict[str, Any]], crs: str | None = None) -> Path:
    collection: dict[str, Any] = {"type": "FeatureCollection", "features": features}
    if crs:
        collection["crs"] = {"type": "name", "properties": {"name": crs}}
    path.write_text(json.dumps(collection), encoding="utf-8")
    return path
