"""The record sheet of a minefield record (PDF) and the package handed to a clearance organisation:
a GeoPackage (perimeter, reference points, turning points, recorded items, markers) and the sheet,
in a directory or a zip. Records custodians only: both hold the record's details."""

from __future__ import annotations

import json
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import shapely

from clearland.errors import InputError
from clearland.io.minefield_package import write_gpkg_layers
from clearland.io.types import OutputFeature
from clearland.reports.minefield_sheet import SheetData, render_sheet
from clearland.services.minefields import show_record
from clearland.services.registry import Registry


def _sheet_data(registry: Registry, ref: str) -> tuple[dict[str, Any], SheetData]:
    record = show_record(registry, ref)  # checks the records custodian role
    data = SheetData(
        authority=registry.settings.authority,
        record=record,
        hazard=record.get("hazard_area"),
        markers=record["markers"],
        inspections=record["inspections"],
    )
    return record, data


def _write_atomic(out: Path, content: bytes) -> None:
    partial = out.with_name(out.name + ".partial")
    partial.write_bytes(content)
    partial.replace(out)  # never a half-written file under the real name


def record_sheet(registry: Registry, ref: str, out: str | Path) -> dict[str, Any]:
    out = Path(out)
    if not out.parent.is_dir():
        raise InputError(f"cannot write {out}: directory {out.parent} does not exist")
    _record, data = _sheet_data(registry, ref)
    pdf = render_sheet(data)
    _write_atomic(out, pdf)
    return {"minefield_record": ref, "file": str(out), "bytes": len(pdf)}


def package_layers(record: dict[str, Any]) -> dict[str, list[OutputFeature]]:
    """The GeoPackage's layers (EPSG:4326)."""
    mines = json.dumps(record["mines"], ensure_ascii=False)
    layers: dict[str, list[OutputFeature]] = {
        "perimeter": [
            OutputFeature(
                {
                    "ref": record["ref"],
                    "name": record.get("name"),
                    "hazard_ref": record.get("hazard_ref"),
                    "recording_unit": record.get("recording_unit"),
                    "laid_from": record.get("laid_from"),
                    "laid_to": record.get("laid_to"),
                    "emplacing_method": record.get("emplacing_method"),
                    "mines": mines,
                    "area_m2": record.get("area_m2"),
                    "date_of_information": record.get("date_of_information"),
                },
                record["geometry"],
            )
        ],
        "reference_points": [
            OutputFeature({"id": p["id"], "description": p["description"]}, shapely.Point(p["lon"], p["lat"]))
            for p in record["reference_points"]
        ],
        "turning_points": [
            OutputFeature(
                {
                    "number": n,
                    "id": t["id"],
                    "from_point": t.get("from"),
                    "bearing_deg": t.get("bearing_deg"),
                    "distance_m": t.get("distance_m"),
                    "measured": bool(t.get("measured")),
                },
                shapely.Point(t["lon"], t["lat"]),
            )
            for n, t in enumerate(record["turning_points"], start=1)
        ],
    }
    if record.get("items"):
        layers["items"] = [
            OutputFeature(
                {"id": i["id"], "category": i["category"], "row": i.get("row")},
                shapely.Point(i["lon"], i["lat"]),
            )
            for i in record["items"]
        ]
    if record["markers"]:
        layers["markers"] = [
            OutputFeature(
                {
                    k: m.get(k)
                    for k in ("ref", "type", "condition", "installed_on", "last_inspected", "description")
                },
                shapely.Point(m["lon"], m["lat"]) if "lon" in m else shapely.LineString(m["coordinates"]),
            )
            for m in record["markers"]
        ]
    return layers


def handover_package(registry: Registry, ref: str, out: str | Path) -> dict[str, Any]:
    """``out`` ending in ``.zip``: one zip; otherwise a directory (created if missing)."""
    out = Path(out)
    if not out.parent.is_dir():
        raise InputError(f"cannot write {out}: directory {out.parent} does not exist")
    record, data = _sheet_data(registry, ref)
    names = {"gpkg": f"{ref}.gpkg", "pdf": f"{ref}-record-sheet.pdf"}
    with tempfile.TemporaryDirectory(prefix=".clearland-package-", dir=out.parent) as tmp:
        work = Path(tmp)
        write_gpkg_layers(work / names["gpkg"], package_layers(record))
        (work / names["pdf"]).write_bytes(render_sheet(data))
        if out.suffix.lower() == ".zip":
            partial = work / "package.zip"
            with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                for name in names.values():
                    archive.write(work / name, name)
            partial.replace(out)
        else:
            if out.exists() and not out.is_dir():
                raise InputError(
                    f"cannot write the package to {out}: it is a file (give a directory or a .zip)"
                )
            out.mkdir(exist_ok=True)
            for name in names.values():
                shutil.move(str(work / name), out / name)
    return {"minefield_record": ref, "path": str(out), "files": list(names.values())}
