"""Reconciliation: approved reports become versions of records.

A record's state on a date is the fold of the changes of its approved reports whose date of
information is on or before that date, in order of (date of information, approval sequence).
So a report dated before the record's latest information stays in the history but does not
overwrite newer values, and an as-of query is the same fold cut at a date. Two reports that set
the same field of the same record to different values with the same date are a conflict a
reviewer must resolve.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from clearland.domain.vocab import ReportStatus


@dataclass(frozen=True)
class Change:
    """What one report says about one record. ``values`` may include ``geometry`` (WKB bytes)."""

    report_id: int
    seq: int  # approval order, the tie-breaker between equal dates
    date_of_information: dt.date
    values: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Conflict:
    field: str
    report_id: int
    existing_value: Any
    new_value: Any


def fold(changes: Iterable[Change], as_of: dt.date | None = None) -> dict[str, Any] | None:
    """The record's state (``None`` if no change applies on ``as_of``)."""
    ordered = sorted(
        (c for c in changes if as_of is None or c.date_of_information <= as_of),
        key=lambda c: (c.date_of_information, c.seq),
    )
    if not ordered:
        return None
    state: dict[str, Any] = {}
    for change in ordered:
        state.update(change.values)
    state["date_of_information"] = ordered[-1].date_of_information.isoformat()
    return state


def conflicts(existing: Iterable[Change], new: Change) -> list[Conflict]:
    """Fields ``new`` sets differently from another report with the same date of information."""
    found = []
    for other in existing:
        if other.report_id == new.report_id or other.date_of_information != new.date_of_information:
            continue
        for name, value in new.values.items():
            if name in other.values and other.values[name] != value:
                found.append(Conflict(name, other.report_id, other.values[name], value))
    return found


def changed_values(current: Mapping[str, Any] | None, incoming: Mapping[str, Any]) -> dict[str, Any]:
    """The part of ``incoming`` that differs from ``current`` (everything for a new record)."""
    if current is None:
        return dict(incoming)
    return {k: v for k, v in incoming.items() if current.get(k) != v}


# Report lifecycle: (from, action) -> to. ``approve`` from draft is how an importer that may
# approve its own batch lands it in one step.
_TRANSITIONS: dict[tuple[ReportStatus, str], ReportStatus] = {
    (ReportStatus.DRAFT, "submit"): ReportStatus.SUBMITTED,
    (ReportStatus.SUBMITTED, "approve"): ReportStatus.APPROVED,
    (ReportStatus.SUBMITTED, "reject"): ReportStatus.REJECTED,
    (ReportStatus.APPROVED, "unapprove"): ReportStatus.UNAPPROVED,
}


def next_status(status: ReportStatus, action: str) -> ReportStatus:
    try:
        return _TRANSITIONS[(status, action)]
    except KeyError:
        done = {"submit": "submitted"}.get(action, f"{action.rstrip('e')}ed")
        raise ValueError(f"the report is {status.value}; it cannot be {done}") from None
