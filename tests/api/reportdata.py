"""Users with API tokens on a copy of the API tests' registry, and report documents, for the
tests of the report and review routes (test_reports_api.py, test_workflow.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import shapely
from apidata import gj

from clearland.services import users
from clearland.services.registry import open_registry
from clearland.settings import Settings
from dbs import copy, execute

#: name → roles: a surveyor, two reviewers, an admin, a records custodian, and a user with
#: no staff role (victim data only)
PEOPLE = {
    "ana": ["surveyor"],
    "rev": ["reviewer"],
    "rev2": ["reviewer"],
    "root": ["admin"],
    "cus": ["records_custodian"],
    "vic": ["victim_data"],
}
#: a field near Tuzla, far from every hazard area of the API tests' registry
TUZLA = shapely.box(18.650, 44.530, 18.656, 44.534)
#: tables a refused report must leave as they were
COUNTED = ("reports", "report_changes", "records", "hazard_areas", "audit_log")


@dataclass
class People:
    db: str
    tokens: dict[str, str]

    def bearer(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}


def make_people(folder: Path, source: str) -> People:
    """A copy of ``source`` with the users of ``PEOPLE``, each with an API token."""
    db = copy(source, folder / "registry.db")
    registry = open_registry(Settings(), db=db)
    tokens = {}
    try:
        for name, roles in PEOPLE.items():
            users.add_user(registry, name, roles)
            tokens[name] = users.create_token(registry, name, label="tests")["token"]
    finally:
        registry.close()
    return People(db, tokens)


def hazard_report(
    name: str = "Tuzla orchard", geometry: shapely.Geometry = TUZLA, date: str = "2026-04-01"
) -> dict[str, Any]:
    return {
        "type": "hazard_report",
        "date_of_information": date,
        "description": "a farmer found a mine in the orchard",
        "hazard_areas": [
            {
                "set": {
                    "category": "SHA",
                    "name": name,
                    "hazard_types": ["ap_mine"],
                    "evidence_type": "direct",
                    "evidence_description": "PMA-2 seen by the farmer",
                },
                "geometry": gj(geometry),
            }
        ],
    }


def row_counts(db: str) -> dict[str, int]:
    return {table: int(execute(db, f"SELECT count(*) FROM {table}")[0][0]) for table in COUNTED}


def audit_rows(db: str, since_id: int = 0) -> list[tuple[Any, ...]]:
    """(user, action, target, source) of each audit entry after ``since_id``."""
    return execute(
        db,
        "SELECT u.name, a.action, a.target, a.source FROM audit_log a "
        "LEFT JOIN users u ON u.id = a.user_id WHERE a.id > :since ORDER BY a.id",
        {"since": since_id},
    )


def last_audit_id(db: str) -> int:
    return int(execute(db, "SELECT coalesce(max(id), 0) FROM audit_log")[0][0])
