"""Item logs: CSV files listing mines found, lifted or recorded in a minefield, one per row.

Columns ``id, lon, lat, category, time`` (header required, any order, extra columns ignored);
lon/lat in EPSG:4326; category ``AP`` or ``AT`` (or a common spelling); time optional (ISO 8601).
Every bad row is reported with its line number; a file with any bad row is refused whole.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from pathlib import Path
from typing import Any

from clearland.domain.vocab import MineCategory
from clearland.errors import InputFileError
from clearland.io.safety import check_input_file
from clearland.io.types import ReadLimits

REQUIRED = ("id", "lon", "lat", "category")


def read_item_log(path: Path, limits: ReadLimits = ReadLimits()) -> list[dict[str, Any]]:
    check_input_file(path, limits)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputFileError(f"cannot read {path}: not UTF-8 text") from None
    reader = csv.DictReader(io.StringIO(text))
    columns = [c.strip().lower() for c in reader.fieldnames or []]
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise InputFileError(
            f"{path.name}: the item log needs the columns {', '.join(REQUIRED)} (and optionally time); "
            f"missing: {', '.join(missing)}",
            detail=[{"file": path.name, "field": c, "message": "missing column"} for c in missing],
        )
    problems: list[dict[str, Any]] = []
    items: list[dict[str, Any]] = []
    seen: set[str] = set()
    for line, raw in enumerate(reader, start=2):
        row = {str(k).strip().lower(): (v or "").strip() for k, v in raw.items() if k is not None}

        def problem(field: str, message: str, line: int = line) -> None:
            problems.append({"file": path.name, "line": line, "field": field, "message": message})

        item: dict[str, Any] = {"id": row["id"]}
        if not row["id"]:
            problem("id", "empty id")
        elif row["id"] in seen:
            problem("id", f"item {row['id']!r} is listed twice")
        seen.add(row["id"])
        for name, limit in (("lon", 180.0), ("lat", 90.0)):
            try:
                value = float(row[name])
            except ValueError:
                problem(name, f"{row[name]!r} is not a number")
                continue
            if not math.isfinite(value) or abs(value) > limit:
                problem(name, f"{value:g} is outside ±{limit:g} (EPSG:4326 degrees)")
            item[name] = value
        try:
            item["category"] = MineCategory.parse(row["category"]).value
        except ValueError as exc:
            problem("category", str(exc))
        when = row.get("time") or ""
        if when:
            try:
                item["time"] = dt.datetime.fromisoformat(when).isoformat()
            except ValueError:
                problem("time", f"{when!r} is not an ISO 8601 date or date-time")
        else:
            item["time"] = None
        items.append(item)
    if problems:
        raise InputFileError(
            f"{path.name}: {len(problems)} problem(s) in the item log; nothing was checked", detail=problems
        )
    return items
