import datetime as dt

import pytest

from clearland.domain.reconcile import Change, changed_values, conflicts, fold, next_status
from clearland.domain.vocab import ReportStatus

D1, D2, D3 = dt.date(2024, 1, 1), dt.date(2024, 6, 1), dt.date(2025, 1, 1)


def test_fold_orders_by_date_of_information_not_by_arrival():
    newer = Change(1, seq=1, date_of_information=D3, values={"status": "worked_on"})
    late_older = Change(2, seq=2, date_of_information=D2, values={"status": "open", "marking": "signs"})
    state = fold([newer, late_older])
    # the older report stays in history but does not overwrite the newer status
    assert state == {"status": "worked_on", "marking": "signs", "date_of_information": "2025-01-01"}


def test_fold_as_of_cuts_at_the_date():
    changes = [
        Change(1, 1, D1, {"status": "open", "name": "A"}),
        Change(2, 2, D3, {"status": "closed"}),
    ]
    assert fold(changes, as_of=D2) == {"status": "open", "name": "A", "date_of_information": "2024-01-01"}
    assert fold(changes, as_of=dt.date(2023, 1, 1)) is None


def test_equal_date_different_values_conflict_same_values_do_not():
    existing = [Change(1, 1, D2, {"status": "open", "name": "A"})]
    clash = conflicts(existing, Change(2, 2, D2, {"status": "closed", "name": "A"}))
    assert [(c.field, c.report_id, c.existing_value, c.new_value) for c in clash] == [
        ("status", 1, "open", "closed")
    ]
    assert conflicts(existing, Change(2, 2, D3, {"status": "closed"})) == []
    assert conflicts(existing, Change(2, 2, D2, {"status": "open"})) == []


def test_changed_values():
    assert changed_values(None, {"a": 1}) == {"a": 1}
    assert changed_values({"a": 1, "b": 2}, {"a": 1, "b": 3}) == {"b": 3}


def test_report_lifecycle():
    assert next_status(ReportStatus.DRAFT, "submit") is ReportStatus.SUBMITTED
    assert next_status(ReportStatus.SUBMITTED, "approve") is ReportStatus.APPROVED
    assert next_status(ReportStatus.APPROVED, "unapprove") is ReportStatus.UNAPPROVED
    with pytest.raises(ValueError, match="the report is rejected; it cannot be approved"):
        next_status(ReportStatus.REJECTED, "approve")
