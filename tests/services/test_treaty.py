"""Article 7 Form G end to end on a real registry: clearance reports with devices on a recorded
minefield's CHA, dated in two years, approved (one left submitted, one unapproved), then the forms
of each year from the service, also as xlsx read back with openpyxl. All data is SYNTHETIC."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from clearland.errors import PermissionDenied
from clearland.reports.treaty import FORM_G_COLUMNS
from clearland.services import review, treaty, users
from minefield_data import AP_TYPE, FORM_G, FORM_G_RECORD, FORM_G_REPORTS, Custodian, make_record


@pytest.fixture
def custodian(registry, tmp_path) -> Custodian:
    custodian = Custodian(registry, tmp_path)
    custodian.land(make_record(**FORM_G_RECORD))
    for report, fate in FORM_G_REPORTS:
        if fate == "submitted":
            custodian.submit(report)
            continue
        landed = custodian.land(report)
        assert landed["devices"]
        if fate == "unapproved":
            review.unapprove_report(custodian.base, landed["report"], "SYNTHETIC: entered twice")
    return custodian


def form_g_sheet(path: Path) -> list[tuple[Any, ...]]:
    """The rows of the Form G sheet, each without the empty cells openpyxl pads it with."""
    rows = []
    for row in load_workbook(path)["Form G"].iter_rows(values_only=True):
        cells = list(row)
        while cells and cells[-1] is None:
            cells.pop()
        rows.append(tuple(cells))
    return rows


def test_form_g_counts_ap_mines_of_approved_reports_by_year_and_type(custodian: Custodian) -> None:
    for year, expected in FORM_G.items():
        assert treaty.article7(custodian.registry, year)["form_g"] == expected, year


def test_form_g_in_the_workbook(custodian: Custodian, tmp_path: Path) -> None:
    out = tmp_path / "article7-2025.xlsx"
    result = treaty.article7(custodian.registry, 2025, xlsx=out)
    assert result["xlsx"] == str(out)
    rows = form_g_sheet(out)
    assert rows[0] == ("Article 7 Form G — anti-personnel mines destroyed in 2025",)
    assert rows[1] == FORM_G_COLUMNS
    body = [(r["mine_type"], r["destroyed"], r["removed"], r["rendered_safe"]) for r in FORM_G[2025]["rows"]]
    assert rows[2:-1] == body
    assert rows[-1] == ("total destroyed", 6)


def test_form_c_is_as_of_the_years_end(custodian: Custodian) -> None:
    # the CHA was open at the end of 2024; the clearance of 2025 set it worked_on
    for year, status in ((2024, "open"), (2025, "worked_on")):
        (row,) = treaty.article7(custodian.registry, year)["form_c"]["rows"]
        assert (row["hazard_area"], row["status"], row["mine_type"]) == ("HA-000001", status, AP_TYPE)


def test_the_forms_are_for_records_custodians(custodian: Custodian) -> None:
    users.add_user(custodian.base, "rev", ["reviewer"])
    with pytest.raises(PermissionDenied, match="records_custodian"):
        treaty.article7(custodian.base.acting_as("rev", source="cli"), 2025)
