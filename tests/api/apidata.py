"""A small real registry for the API tests, built once per test session through the services
(hazard reports and activity reports, submitted and approved), and what is secret in it.

    2026-01-10  hazard report: 12 areas in a row near Doboj (HA-000001…HA-000012), every one
                with a minefield record ref, an evidence description and an organisation,
                none of which the public may see
    2026-02-15  hazard report: 3 areas near Sarajevo (HA-000013…HA-000015)
    2026-03-01  TS on HA-000001: reduces its west strip (OUT, released), places 2 markers
    2026-03-05  TS on HA-000002: confirms a block (a CHA split off, HA-000016; the confirmed
                outcome is not released land) and reduces the rest
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import shapely
import shapely.geometry

from clearland.domain.vocab import RecordKind
from clearland.services import review
from clearland.services.imports import ImportOptions, import_file
from clearland.services.registry import init_registry, open_registry
from clearland.services.submissions import submit_report_file
from clearland.settings import Settings
from dbs import copy, database

# values the public must never see, in any answer
SECRET_MINEFIELD_REF = "MFR-SECRET-7731"
SECRET_EVIDENCE = "SECRET-EVIDENCE-4471"
SECRET_ORGANISATION = "Hidden Survey Org 9"
SECRETS = ("minefield_record_ref", SECRET_MINEFIELD_REF, SECRET_EVIDENCE, SECRET_ORGANISATION)

DOBOJ = [shapely.box(18.100 + i * 0.01, 44.700, 18.106 + i * 0.01, 44.704) for i in range(12)]
SARAJEVO = [shapely.box(18.400 + i * 0.01, 43.850, 18.405 + i * 0.01, 43.853) for i in range(3)]
REDUCED_1 = shapely.box(18.100, 44.700, 18.101, 44.704)  # west strip of HA-000001
CONFIRMED_2 = shapely.box(18.112, 44.701, 18.114, 44.703)  # inside HA-000002
MARKERS = [(18.100, 44.700, "sign", "warning sign, SW corner"), (18.106, 44.704, "permanent_marker", "post")]
CATEGORIES = ["SHA", "SHA", "CHA", "indication"]
HAZARD_TYPES = [["ap_mine"], ["at_mine", "uxo"], ["uxo"]]

_built: dict[Path, str] = {}


def built_registry(factory: pytest.TempPathFactory) -> str:
    """The registry (``--db``: a SQLite file, or a PostGIS URL with ``--postgis``), built on first
    use in this session."""
    base = factory.getbasetemp()
    if base not in _built:
        _built[base] = _build(factory.mktemp("api-registry"))
    return _built[base]


def settings_for(db: str | Path, **api: Any) -> Settings:
    settings = Settings(database_url=str(db))
    if api:
        settings = settings.model_copy(update={"api": settings.api.model_copy(update=api)})
    return settings


def _build(folder: Path) -> str:
    db = database(folder / "registry.db")
    registry = open_registry(Settings(), db=db)
    init_registry(registry)
    count = 0

    def land(report: dict[str, Any]) -> dict[str, Any]:
        nonlocal count
        count += 1
        path = folder / f"report-{count}.json"
        path.write_text(json.dumps(report), encoding="utf-8")
        submitted = submit_report_file(registry, path)
        return {**submitted, **review.approve_report(registry, submitted["report"])}

    land(
        {
            "type": "hazard_report",
            "date_of_information": "2026-01-10",
            "description": "village survey",
            "hazard_areas": [
                {
                    "set": {
                        "category": CATEGORIES[i % 4],
                        "name": f"Doboj field {i + 1}",
                        "hazard_types": HAZARD_TYPES[i % 3],
                        "marking": "signs" if i % 2 else "none",
                        "minefield_record_ref": SECRET_MINEFIELD_REF,
                        "evidence_type": "direct",
                        "evidence_description": SECRET_EVIDENCE,
                        "organisation": SECRET_ORGANISATION,
                    },
                    "geometry": gj(geom),
                }
                for i, geom in enumerate(DOBOJ)
            ],
        }
    )
    land(
        {
            "type": "hazard_report",
            "date_of_information": "2026-02-15",
            "description": "reports from the municipality",
            "hazard_areas": [
                {
                    "set": {"category": "SHA", "name": f"Sarajevo slope {i + 1}", "hazard_types": ["uxo"]},
                    "geometry": gj(g),
                }
                for i, g in enumerate(SARAJEVO)
            ],
        }
    )
    land(
        {
            "type": "activity_report",
            "activity_type": "ts",
            "date_of_information": "2026-03-01",
            "organisation": "Example Demining Operator",
            "hazard_areas": ["HA-000001"],
            "outcomes": [{"kind": "reduced", "geometry": gj(REDUCED_1)}],
            "markers": [
                {"type": kind, "position": {"type": "Point", "coordinates": [lon, lat]}, "description": text}
                for lon, lat, kind, text in MARKERS
            ],
        }
    )
    ts = land(
        {
            "type": "activity_report",
            "activity_type": "ts",
            "date_of_information": "2026-03-05",
            "organisation": "Example Demining Operator",
            "hazard_areas": ["HA-000002"],
            "outcomes": [
                {"kind": "confirmed", "geometry": gj(CONFIRMED_2)},
                {"kind": "reduced", "geometry": gj(DOBOJ[1] - CONFIRMED_2)},
            ],
        }
    )
    assert ts["transitions"][0]["split_off"] == "HA-000016", ts
    registry.close()
    return db


#: SYNTHETIC admin areas for the registry of ``with_admin_areas``: one holding the Doboj row of
#: hazard areas, one the Sarajevo row (name, code, box)
ADMIN_AREAS = [
    ("Example District North (synthetic)", "EX-N", shapely.box(18.09, 44.69, 18.23, 44.71)),
    ("Example District South (synthetic)", "EX-S", shapely.box(18.39, 43.84, 18.44, 43.86)),
]


def with_admin_areas(folder: Path, source: str) -> str:
    """A copy of ``source`` with ``ADMIN_AREAS`` imported (``clearland import --as admin-areas``)."""
    db = copy(source, folder / "registry-with-admin-areas.db")
    path = folder / "admin_areas.geojson"
    features = [
        {"type": "Feature", "properties": {"name": name, "code": code, "level": 2}, "geometry": gj(box)}
        for name, code, box in ADMIN_AREAS
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    registry = open_registry(Settings(), db=db)
    try:
        options = ImportOptions(kind=RecordKind.ADMIN_AREA, date_of_information=dt.date(2026, 1, 1))
        import_file(registry, path, options)
    finally:
        registry.close()
    return db


def gj(geom: shapely.Geometry) -> dict[str, Any]:
    return shapely.geometry.mapping(geom)
