"""Statistics and data-quality use cases over the registry (as of now or a date)."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from clearland.domain.reconcile import Change
from clearland.domain.records import HAZARD_AREA
from clearland.domain.vocab import HazardStatus, RecordKind
from clearland.errors import ConfigError
from clearland.reports import quality, stats
from clearland.services.queries import records, registry_status
from clearland.services.registry import Registry
from clearland.storage.areas import ALL, AreaGroup

GROUPINGS = ("status", "category", "admin-area")


def statistics(registry: Registry, *, by: str | None = None, as_of: dt.date | None = None) -> dict[str, Any]:
    """Counts and areas: ``area_m2_sum`` adds each area, ``area_m2_net`` counts overlaps once."""
    if by not in (None, *GROUPINGS):
        raise ConfigError(f"--by {by}: choose one of {', '.join(GROUPINGS)}")
    if as_of is None and by != "admin-area":
        measured = _measured_by_the_database(registry, by)
        if measured is not None:
            return measured
    hazards = records(registry, RecordKind.HAZARD_AREA, as_of=as_of)
    geoms = [h["geometry"] for h in hazards]
    result: dict[str, Any] = {
        **registry_status(registry),
        "as_of": as_of.isoformat() if as_of else None,
    }
    # clusters of overlapping areas that the later totals meet unchanged are unioned once
    memo: dict[bytes, Any] = {}
    result.update(stats.totals(geoms, memo))
    # land release: what remains of areas not closed (overlaps once), and what was released
    remaining = [
        h["remaining_geometry"] if h.get("remaining_geometry") is not None else h["geometry"]
        for h in hazards
        if h.get("status") != "closed"
    ]
    result["remaining_m2_net"] = stats.totals(remaining, memo)["area_m2_net"]
    outcomes = records(registry, RecordKind.OUTCOME, as_of=as_of)
    result["released_m2"] = {
        kind: stats.totals([o["geometry"] for o in outcomes if o["kind"] == kind])["area_m2_net"]
        for kind in ("cancelled", "reduced", "cleared")
    }
    if by is None:
        return result
    if by in ("status", "category"):
        groups = stats.totals_by([(h.get(by), h["geometry"]) for h in hazards], memo)
    elif by == "admin-area":
        admin = records(registry, RecordKind.ADMIN_AREA, as_of=as_of)
        if not admin:
            raise ConfigError(
                "no admin areas in the registry: import them with `clearland import FILE --as admin-areas`"
            )
        named = [(a["name"], a["geometry"]) for a in admin]
        groups = stats.totals_by_admin_area(geoms, named)
        # what remains in each admin area of the areas not closed (overlaps once), as nationally
        left = stats.totals_by_admin_area(remaining, named)
        for name, group in groups.items():
            group["remaining_m2_net"] = left.get(name, {}).get("area_m2_net", 0.0)
    else:
        raise ConfigError(f"--by {by}: choose one of {', '.join(GROUPINGS)}")
    result["by"] = by
    result["groups"] = groups
    return result


RELEASE_GROUPINGS = ("month", "admin-area")
RELEASED_KINDS = ("cancelled", "reduced", "cleared")


def _measured_by_the_database(registry: Registry, by: str | None) -> dict[str, Any] | None:
    """``statistics`` of the current registry with the areas measured in SQL where the database
    can (PostGIS; ``storage.areas``): the same figures, without reading every geometry into
    Python. None on a database that does not measure areas (SQLite)."""
    registry.store.check_ready()
    with registry.store.read() as tx:
        everything = tx.area_groups(RecordKind.HAZARD_AREA)
        if everything is None:
            return None
        closed = {"status": [HazardStatus.CLOSED.value]}
        # nothing closed and nothing released yet: what remains is everything, measured once
        whole = tx.remaining_is_whole(RecordKind.HAZARD_AREA, exclude=closed)
        left = None if whole else tx.area_groups(RecordKind.HAZARD_AREA, exclude=closed, remaining=True) or {}
        released = (
            tx.area_groups(RecordKind.OUTCOME, group_by="kind", only={"kind": list(RELEASED_KINDS)}) or {}
        )
        grouped = tx.area_groups(RecordKind.HAZARD_AREA, group_by=by) if by else None

    memo: dict[bytes, Any] = {}  # as in ``statistics``

    def measure(groups: Mapping[str | None, AreaGroup], key: str | None) -> dict[str, Any]:
        group = groups.get(key, AreaGroup())
        return stats.totals_measured(group.count, group.separate_m2, group.shared, memo)

    result: dict[str, Any] = {**registry_status(registry), "as_of": None}
    result.update(measure(everything, ALL))
    result["remaining_m2_net"] = result["area_m2_net"] if left is None else measure(left, ALL)["area_m2_net"]
    result["released_m2"] = {kind: measure(released, kind)["area_m2_net"] for kind in RELEASED_KINDS}
    if by is None or grouped is None:
        return result
    named = {stats.NO_KEY if key is None else key: key for key in grouped}
    result["by"] = by
    result["groups"] = {name: measure(grouped, named[name]) for name in sorted(named)}
    return result


def release_statistics(
    registry: Registry, *, by: str = "month", as_of: dt.date | None = None
) -> dict[str, Any]:
    """Land released (m², union: overlaps once) per outcome kind, per month of the date of
    information or per admin area (by intersection)."""
    if by not in RELEASE_GROUPINGS:
        raise ConfigError(f"--by {by}: choose one of {', '.join(RELEASE_GROUPINGS)}")
    outcomes = [o for o in records(registry, RecordKind.OUTCOME, as_of=as_of) if o["kind"] in RELEASED_KINDS]
    result: dict[str, Any] = {
        **registry_status(registry),
        "as_of": as_of.isoformat() if as_of else None,
        "by": by,
    }
    result["released_m2"] = _by_kind(outcomes)
    groups: dict[str, dict[str, float]] = {}
    admin: list[dict[str, Any]] = []
    if by == "month":
        months = sorted({o["date_of_information"][:7] for o in outcomes})
        for month in months:
            groups[month] = _by_kind([o for o in outcomes if o["date_of_information"][:7] == month])
    else:
        admin = records(registry, RecordKind.ADMIN_AREA, as_of=as_of)
        if not admin:
            raise ConfigError(
                "no admin areas in the registry: import them with `clearland import FILE --as admin-areas`"
            )
        named = [(a["name"], a["geometry"]) for a in admin]
        per_kind = {
            kind: stats.totals_by_admin_area([o["geometry"] for o in outcomes if o["kind"] == kind], named)
            for kind in RELEASED_KINDS
        }
        total = stats.totals_by_admin_area([o["geometry"] for o in outcomes], named)
        for name, whole in total.items():
            groups[name] = {
                kind: per_kind[kind].get(name, {}).get("area_m2_net", 0.0) for kind in RELEASED_KINDS
            }
            groups[name]["total"] = whole["area_m2_net"]
    result["groups"] = groups
    result["devices_destroyed"] = _devices_destroyed(registry, by, as_of, admin if by != "month" else [])
    if by == "month":
        result["hazard_areas"] = opened_and_closed(registry, as_of=as_of)
    return result


def opened_and_closed(registry: Registry, *, as_of: dt.date | None = None) -> dict[str, Any]:
    """Hazard areas opened and closed per month, exact from the registry's history: an area is
    *opened* in the month of its first approved version, and *closed* in the month of each
    approved version that made its status ``closed`` (from any other status). Months are those of
    the reports' date of information (YYYY-MM); only approved reports count (an unapproved one
    is no longer part of any record's history). ``as_of``: the history up to that date."""
    registry.store.check_ready()
    with registry.store.read() as tx:
        changes = tx.approved_changes_of_kind(RecordKind.HAZARD_AREA, as_of=as_of)
    return hazard_area_events(changes.values())


_DEFAULT_STATUS = next(s.default for s in HAZARD_AREA.fields if s.name == "status")


def hazard_area_events(histories: Iterable[Sequence[Change]]) -> dict[str, Any]:
    """``{"total": {"opened", "closed"}, "groups": {month: {"opened", "closed"}}}`` of the
    approved changes of each hazard area (one sequence per record), folded in the order the
    registry folds them (date of information, then approval)."""
    groups: dict[str, Counter[str]] = defaultdict(Counter)
    closed = HazardStatus.CLOSED.value
    for history in histories:
        ordered = sorted(history, key=lambda c: (c.date_of_information, c.seq))
        if not ordered:
            continue
        groups[ordered[0].date_of_information.isoformat()[:7]]["opened"] += 1
        status: Any = None
        for change in ordered:
            after = change.values.get("status", status if status is not None else _DEFAULT_STATUS)
            if after == closed and status != closed:
                groups[change.date_of_information.isoformat()[:7]]["closed"] += 1
            status = after
    total: Counter[str] = Counter()
    for counts in groups.values():
        total.update(counts)
    return {
        "total": {"opened": total["opened"], "closed": total["closed"]},
        "groups": {m: {"opened": c["opened"], "closed": c["closed"]} for m, c in sorted(groups.items())},
    }


def _devices_destroyed(
    registry: Registry, by: str, as_of: dt.date | None, admin: list[dict[str, Any]]
) -> dict[str, Any]:
    """Devices destroyed in situ, by category: in all and per month (date of information of the
    report) or per admin area (the one holding the device's position)."""
    devices = [
        d for d in records(registry, RecordKind.DEVICE, as_of=as_of) if d["disposal"] == "destroyed_in_situ"
    ]
    groups: dict[str, Counter[str]] = defaultdict(Counter)
    for device in devices:
        if by == "month":
            key = device["date_of_information"][:7]
        else:
            key = next(
                (a["name"] for a in admin if a["geometry"].covers(device["geometry"])),
                stats.OUTSIDE_ADMIN_AREAS,
            )
        groups[key][device["category"]] += device["quantity"]
    total: Counter[str] = Counter()
    for counts in groups.values():
        total.update(counts)
    return {
        "total": dict(sorted(total.items())),
        "groups": {k: dict(sorted(v.items())) for k, v in sorted(groups.items())},
    }


def _by_kind(outcomes: list[dict[str, Any]]) -> dict[str, float]:
    out = {
        kind: stats.totals([o["geometry"] for o in outcomes if o["kind"] == kind])["area_m2_net"]
        for kind in RELEASED_KINDS
    }
    out["total"] = stats.totals([o["geometry"] for o in outcomes])["area_m2_net"]
    return out


def validate(registry: Registry, *, as_of: dt.date | None = None) -> dict[str, Any]:
    """Overlaps, near-duplicates, slivers and broken rules among the stored hazard areas."""
    hazards = records(registry, RecordKind.HAZARD_AREA, as_of=as_of)
    result = quality.validate(hazards, sliver_min_m2=registry.settings.sliver_min_m2)
    return {**registry_status(registry), "checked": len(hazards), **result}


class Remembered:
    """The statistics a server answers, each computed once per registry revision: ``statistics``
    and ``release_statistics`` read and measure the whole registry (on 100k overlapping areas,
    minutes), so a dashboard opened again, or by many at once, waits for one computation, and
    nobody can make the server measure the registry over and over. Concurrent first requests
    for the same figures share one computation. Figures of an older revision are dropped when
    asked for at a newer one; at most ``keep`` sets of figures are kept."""

    def __init__(self, registry: Registry, *, keep: int = 32) -> None:
        self.registry = registry
        self.keep = keep
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[Any, ...], _Figures] = OrderedDict()

    def statistics(self, *, by: str | None = None, as_of: dt.date | None = None) -> dict[str, Any]:
        return self._get(statistics, by=by, as_of=as_of)

    def release_statistics(self, *, by: str = "month", as_of: dt.date | None = None) -> dict[str, Any]:
        return self._get(release_statistics, by=by, as_of=as_of)

    def _get(self, call: Any, **kwargs: Any) -> dict[str, Any]:
        revision = int(registry_status(self.registry)["revision"])
        key = (call.__name__, revision, *sorted(kwargs.items()))
        with self._lock:
            for old in [k for k in self._entries if k[1] < revision]:
                del self._entries[old]
            figures = self._entries.get(key)
            if figures is None:
                figures = self._entries[key] = _Figures()
                while len(self._entries) > self.keep:
                    self._entries.popitem(last=False)
            else:
                self._entries.move_to_end(key)
        with figures.lock:  # the first caller computes; the others wait for its answer
            if figures.result is None:  # (an error is not kept: the next caller tries again)
                figures.result = call(self.registry, **kwargs)
            return figures.result


class _Figures:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.result: dict[str, Any] | None = None
