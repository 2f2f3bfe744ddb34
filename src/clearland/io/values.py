"""Property values and CRS names as they cross the file boundary, both ways."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import math
from collections.abc import Iterable
from typing import Any, Literal

import pyproj
from pyproj.exceptions import CRSError

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1

ColumnKind = Literal["bool", "int32", "int64", "float", "str"]


def plain_value(value: Any) -> Any:
    """A value read from a file as plain Python: int, float, str, bool, None or a list of them.

    NaN becomes None; dates and times become ISO 8601 strings; binary becomes base64 text;
    a struct/map becomes its JSON text.
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, dt.date | dt.time):  # datetime is a date
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, list | tuple):
        return [plain_value(v) for v in value]
    if isinstance(value, dict):
        return json.dumps({str(k): plain_value(v) for k, v in value.items()}, ensure_ascii=False)
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        return plain_value(item())
    return str(value)


def is_null(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def text_value(value: Any, *, true: str = "true", false: str = "false") -> str:
    """A property value as text for formats without types (CSV, OSM tags, shapefile strings).

    Lists are joined with ";" (the OSM convention for several values). Floats keep every digit.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return true if value else false
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list | tuple):
        return ";".join(text_value(v, true=true, false=false) for v in value if not is_null(v))
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def column_kind(values: Iterable[Any]) -> ColumnKind:
    """One type for a column written to a typed format; mixed columns become text."""
    kinds = set()
    low, high = 0, 0
    for value in values:
        if is_null(value):
            continue
        if isinstance(value, bool):
            kinds.add("bool")
        elif isinstance(value, int):
            kinds.add("int")
            low, high = min(low, value), max(high, value)
        elif isinstance(value, float):
            kinds.add("float")
        else:
            kinds.add("str")
    if kinds == {"bool"}:
        return "bool"
    if kinds == {"int"}:
        return "int32" if low >= INT32_MIN and high <= INT32_MAX else "int64"
    if kinds and kinds <= {"int", "float"}:
        return "float"
    return "str"


def crs_name(crs: Any) -> str | None:
    """ "EPSG:N" when pyproj can identify an EPSG code (OGC:CRS84 counts as EPSG:4326, since
    clearland always handles coordinates longitude first), else WKT; None when there is no CRS.
    """
    if crs is None or crs == "":
        return None
    try:
        parsed = pyproj.CRS.from_user_input(crs)
    except CRSError:
        return str(crs)
    authority = parsed.to_authority()
    if authority is not None and authority[0] == "OGC" and authority[1] in ("CRS84", "CRS:84"):
        return "EPSG:4326"
    epsg = parsed.to_epsg()
    if epsg is not None:
        return f"EPSG:{epsg}"
    return str(parsed.to_wkt())
