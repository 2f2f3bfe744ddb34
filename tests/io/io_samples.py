"""Named geometries, sample features and small file builders shared by the io tests."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

import shapely
from shapely import MultiPolygon, Point, Polygon

from clearland.io import OutputFeature

# the same convention as tests/conftest.py: ../shared/data/real beside the repository
REAL = Path(
    os.environ.get("CLEARLAND_REAL_DATA", Path(__file__).resolve().parents[3] / "shared" / "data" / "real")
)
BIH_GEOJSON = REAL / "bih-geoboundaries-adm2" / "geoBoundaries-BIH-ADM2.geojson"
CAMBODIA_GEOJSON = REAL / "cambodia-cmvis-casualties-2005" / "cmvis_casualties_2005_jan_feb.geojson"
COLOMBIA_CSV = REAL / "colombia-reland-antioquia" / "test_labeled.csv"

# coordinates with all 17 significant digits, so any rounding on the way shows
FIELD_POLYGON = Polygon([(30.123456789012345, 50.12345678901234), (30.2, 50.1), (30.21, 50.3), (30.1, 50.29)])
HOLED_POLYGON = Polygon(
    [(104.9, 11.5), (105.1, 11.5), (105.1, 11.7), (104.9, 11.7)],
    [[(104.95, 11.55), (105.0, 11.55), (105.0, 11.6), (104.95, 11.55)]],
)
TWO_PART_MULTIPOLYGON = MultiPolygon(
    [
        Polygon([(18.1, 44.1), (18.2, 44.1), (18.2, 44.2), (18.1, 44.1)]),
        Polygon([(18.3, 44.3), (18.4, 44.3), (18.4, 44.4000000001), (18.3, 44.3)]),
    ]
)
MARKER_POINT = Point(-75.29504510227181, 5.360585338444555)

UKRAINIAN = "Мінне поле біля села Кам'янка, Харківська область"
KHMER = "តំបន់គ្រាប់មីន ភូមិអូរតាវ៉ៅ"


def sample_features() -> list[OutputFeature]:
    """Three hazard areas: a polygon, one with a hole, a multipolygon; every value type."""
    return [
        OutputFeature(
            {
                "ref": "HA-0001",
                "name": UKRAINIAN,
                "devices": 3,
                "area_m2": 12345.678901234567,
                "verified": True,
                "note": None,
                "hazards": ["AP", "AV"],
            },
            FIELD_POLYGON,
        ),
        OutputFeature(
            {
                "ref": "HA-0002",
                "name": KHMER,
                "devices": None,
                "area_m2": None,
                "verified": False,
                "note": "marked 2024",
                "hazards": None,
            },
            HOLED_POLYGON,
        ),
        OutputFeature(
            {
                "ref": "HA-0003",
                "name": None,
                "devices": 2_000_000_000,
                "area_m2": 0.1,
                "verified": None,
                "note": None,
                "hazards": ["ERW"],
            },
            TWO_PART_MULTIPOLYGON,
        ),
    ]


def same_geometry(read: Any, written: Any) -> bool:
    """Equal within 1e-9 degrees after normalising, allowing single -> multi promotion."""
    if read.geom_type.startswith("Multi") and not written.geom_type.startswith("Multi"):
        written = getattr(shapely, read.geom_type)([written])
    return bool(shapely.equals_exact(shapely.normalize(read), shapely.normalize(written), tolerance=1e-9))


def write_zip(path: Path, members: dict[str, bytes | str]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return path


def kml_document(placemark_name: str, *, doctype: str = "") -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"{doctype}"
        '<kml xmlns="http://www.opengis.net/kml/2.2"><Document>'
        f"<Placemark><name>{placemark_name}</name>"
        "<Point><coordinates>105.0,11.6</coordinates></Point></Placemark>"
        "</Document></kml>\n"
    )
