"""Mine Ban Treaty Article 7 transparency tables from the registry: Form C (mined areas: location,
type and quantity of anti-personnel mines, when they were laid) and Form G (anti-personnel mines
destroyed). Pure functions over current-state dicts; the xlsx writer uses openpyxl.

Form C lists every hazard area with anti-personnel mines among its hazard types that is not closed
at the end of the year: with the types, quantities and laying dates of its minefield record when
one is linked, else "unknown" (a suspected or confirmed area without a record). Form G counts the
anti-personnel mines recorded as destroyed (disposal ``destroyed_in_situ``) by activity reports
whose date of information falls in the year; removed or rendered-safe items are listed apart.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from clearland.domain.vocab import DeviceCategory, Disposal, HazardStatus, HazardType

FORM_C_COLUMNS = (
    "hazard area",
    "category",
    "status",
    "admin area",
    "longitude",
    "latitude",
    "area m²",
    "remaining m²",
    "minefield record",
    "mine type",
    "quantity",
    "date laid",
)
FORM_G_COLUMNS = ("mine type", "destroyed", "removed", "rendered safe")


def form_c(hazards: list[dict[str, Any]], records: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``hazards``: current hazard areas (as of the year's end); ``records``: minefield records by
    ref. One row per anti-personnel mine type of each area (one "unknown" row without a record)."""
    rows: list[dict[str, Any]] = []
    areas = 0
    recorded = 0
    for hazard in hazards:
        if hazard.get("status") == HazardStatus.CLOSED.value:
            continue
        if HazardType.AP_MINE.value not in (hazard.get("hazard_types") or []):
            continue
        areas += 1
        point = hazard["geometry"].representative_point()
        base = {
            "hazard_area": hazard["ref"],
            "category": hazard.get("category"),
            "status": hazard.get("status"),
            "admin_area": hazard.get("admin_area"),
            "lon": round(point.x, 6),
            "lat": round(point.y, 6),
            "area_m2": round(float(hazard.get("area_m2") or 0.0), 1),
            "remaining_m2": round(float(hazard.get("remaining_area_m2") or 0.0), 1),
        }
        record = records.get(hazard.get("minefield_record_ref") or "")
        ap = [m for m in (record or {}).get("mines") or [] if m["category"] == "AP"]
        if record is None or not ap:
            rows.append(
                {
                    **base,
                    "minefield_record": None,
                    "mine_type": "unknown",
                    "quantity": None,
                    "date_laid": None,
                }
            )
            continue
        laid = f"{record['laid_from'][:10]} – {record['laid_to'][:10]}"
        for mine in ap:
            recorded += int(mine["quantity"])
            rows.append(
                {
                    **base,
                    "minefield_record": record["ref"],
                    "mine_type": mine["type_name"],
                    "quantity": int(mine["quantity"]),
                    "date_laid": laid,
                }
            )
    return {"rows": rows, "mined_areas": areas, "ap_mines_recorded": recorded}


def form_g(devices: list[dict[str, Any]]) -> dict[str, Any]:
    """``devices``: device records of the year. Anti-personnel mines by type (model) and disposal."""
    by_type: dict[str, dict[str, int]] = defaultdict(lambda: {d.value: 0 for d in Disposal})
    for device in devices:
        if device.get("category") != DeviceCategory.AP_MINE.value:
            continue
        by_type[device.get("model") or "unknown"][device["disposal"]] += int(device.get("quantity") or 0)
    rows = [
        {
            "mine_type": model,
            "destroyed": counts[Disposal.DESTROYED_IN_SITU.value],
            "removed": counts[Disposal.REMOVED.value],
            "rendered_safe": counts[Disposal.RENDERED_SAFE.value],
        }
        for model, counts in sorted(by_type.items())
    ]
    return {"rows": rows, "destroyed": sum(r["destroyed"] for r in rows)}


def write_xlsx(result: dict[str, Any], path: Path) -> None:
    """Form C and Form G as two sheets of ``path``."""
    from openpyxl import Workbook  # imported on use: most commands never need it
    from openpyxl.styles import Font

    book = Workbook()
    sheet_c = book.active
    assert sheet_c is not None
    sheet_c.title = "Form C"
    sheet_c.append([f"Article 7 Form C — mined areas, as of {result['as_of']}"])
    sheet_c.append(list(FORM_C_COLUMNS))
    keys = ("hazard_area", "category", "status", "admin_area", "lon", "lat", "area_m2", "remaining_m2",
            "minefield_record", "mine_type", "quantity", "date_laid")  # fmt: skip
    for row in result["form_c"]["rows"]:
        sheet_c.append([row[k] for k in keys])
    sheet_g = book.create_sheet("Form G")
    sheet_g.append([f"Article 7 Form G — anti-personnel mines destroyed in {result['year']}"])
    sheet_g.append(list(FORM_G_COLUMNS))
    for row in result["form_g"]["rows"]:
        sheet_g.append([row["mine_type"], row["destroyed"], row["removed"], row["rendered_safe"]])
    sheet_g.append(["total destroyed", result["form_g"]["destroyed"]])
    for sheet in (sheet_c, sheet_g):
        sheet["A1"].font = Font(bold=True)
        for cell in sheet[2]:
            cell.font = Font(bold=True)
    partial = path.with_name(path.name + ".partial")
    book.save(partial)
    partial.replace(path)
