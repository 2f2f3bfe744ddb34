"""Geometry held in table cells (CSV, plain Parquet): finding the columns and parsing each cell.

A bad cell spoils one feature, never the file: each parse returns (geometry, error) per row.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely
from shapely.errors import GEOSException

# candidates in order of preference, compared case-insensitively
WKT_NAMES = ("wkt", "geometry", "geom", "the_geom", "wkt_geom")
LON_NAMES = ("lon", "lng", "long", "longitude", "x", "longitud_x")
LAT_NAMES = ("lat", "latitude", "y", "latitud_y")

Parsed = tuple[shapely.Geometry | None, str | None]


def find_column(columns: Sequence[str], candidates: Sequence[str]) -> str | None:
    """The first column (in candidate order) whose name matches, ignoring case and blanks."""
    by_name: dict[str, str] = {}
    for column in columns:
        by_name.setdefault(column.strip().lower(), column)
    for candidate in candidates:
        if candidate in by_name:
            return by_name[candidate]
    return None


def match_column(columns: Sequence[str], wanted: str) -> str | None:
    """``wanted`` as the caller spelled it, else the one column equal to it ignoring case."""
    if wanted in columns:
        return wanted
    folded = [c for c in columns if c.strip().lower() == wanted.strip().lower()]
    return folded[0] if len(folded) == 1 else None


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def parse_wkt(values: Sequence[Any], column: str) -> list[Parsed]:
    # vectorised first; only the cells that failed are parsed again one by one for the reason
    texts = np.array([None if _blank(v) else str(v) for v in values], dtype=object)
    geoms = shapely.from_wkt(texts, on_invalid="ignore")
    out: list[Parsed] = []
    for text, geom in zip(texts, geoms, strict=True):
        if text is None:
            out.append((None, f"no geometry: column '{column}' is empty"))
        elif geom is None:
            out.append((None, f"invalid WKT: {_reason(shapely.from_wkt, text)}"))
        else:
            out.append((geom, None))
    return out


def parse_wkb(values: Sequence[Any], column: str) -> list[Parsed]:
    blobs = np.array([None if v is None or len(v) == 0 else bytes(v) for v in values], dtype=object)
    geoms = shapely.from_wkb(blobs, on_invalid="ignore")
    out: list[Parsed] = []
    for blob, geom in zip(blobs, geoms, strict=True):
        if blob is None:
            out.append((None, None))  # a null geometry, as in any GIS format
        elif geom is None:
            out.append((None, f"invalid WKB: {_reason(shapely.from_wkb, blob)}"))
        else:
            out.append((geom, None))
    return out


def _reason(parse: Any, value: Any) -> str:
    try:
        parse(value)
    except (GEOSException, ValueError, TypeError) as exc:
        return " ".join(str(exc).split())
    return "not a geometry"


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    else:
        try:
            number = float(str(value).strip())
        except ValueError:
            return None
    return number if math.isfinite(number) else None


def parse_lonlat(lons: Sequence[Any], lats: Sequence[Any], lon_column: str, lat_column: str) -> list[Parsed]:
    out: list[Parsed] = []
    for lon_cell, lat_cell in zip(lons, lats, strict=True):
        problems = []
        for cell, name in ((lon_cell, lon_column), (lat_cell, lat_column)):
            if _blank(cell):
                problems.append(f"column '{name}' is empty")
            elif _number(cell) is None:
                problems.append(f"column '{name}' is not a number: {str(cell)[:40]!r}")
        if problems:
            out.append((None, "no geometry: " + "; ".join(problems)))
            continue
        lon, lat = _number(lon_cell), _number(lat_cell)
        out.append((shapely.Point(lon, lat), None))
    return out
