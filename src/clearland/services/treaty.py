"""Treaty reports (``clearland treaty article7``): Mine Ban Treaty Article 7 Forms C and G for a
year, from the registry as it was at the year's end. Form C carries the types and quantities of
mines from minefield records, so it is made for records custodians only."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from clearland.domain.vocab import RecordKind
from clearland.errors import InputError
from clearland.reports.treaty import form_c, form_g, write_xlsx
from clearland.services import queries
from clearland.services.minefields import check_custodian
from clearland.services.registry import Registry


def article7(registry: Registry, year: int, *, xlsx: str | Path | None = None) -> dict[str, Any]:
    if not 1900 <= year <= 9999:
        raise InputError(f"--year {year}: give a four-digit year")
    check_custodian(registry)
    end = dt.date(year, 12, 31)
    as_of = None if end >= dt.date.today() else end  # a year not over yet: the current state
    hazards = queries.records(registry, RecordKind.HAZARD_AREA, as_of=as_of)
    records = {r["ref"]: r for r in queries.records(registry, RecordKind.MINEFIELD_RECORD, as_of=as_of)}
    devices = [
        d
        for d in queries.records(registry, RecordKind.DEVICE)
        if str(d.get("date_of_information") or "").startswith(f"{year}-")
    ]
    status = queries.registry_status(registry)
    result = {
        "year": year,
        "as_of": (as_of or dt.date.today()).isoformat(),
        "revision": status["revision"],
        "latest_information": status["latest_information"],
        "form_c": form_c(hazards, records),
        "form_g": form_g(devices),
    }
    if xlsx is not None:
        path = Path(xlsx)
        if not path.parent.is_dir():
            raise InputError(f"cannot write {path}: directory {path.parent} does not exist")
        write_xlsx(result, path)
        result["xlsx"] = str(path)
    return result
