"""Statistics and data-quality use cases over the registry (as of now or a date)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from clearland.domain.vocab import RecordKind
from clearland.errors import ConfigError
from clearland.reports import quality, stats
from clearland.services.queries import records, registry_status
from clearland.services.registry import Registry

GROUPINGS = ("status", "category", "admin-area")


def statistics(registry: Registry, *, by: str | None = None, as_of: dt.date | None = None) -> dict[str, Any]:
    """Counts and areas: ``area_m2_sum`` adds each area, ``area_m2_net`` counts overlaps once."""
    hazards = records(registry, RecordKind.HAZARD_AREA, as_of=as_of)
    geoms = [h["geometry"] for h in hazards]
    result: dict[str, Any] = {
        **registry_status(registry),
        "as_of": as_of.isoformat() if as_of else None,
    }
    result.update(stats.totals(geoms))
    # land release: what remains of areas not closed (overlaps once), and what was released
    remaining = [
        h["remaining_geometry"] if h.get("remaining_geometry") is not None else h["geometry"]
        for h in hazards
        if h.get("status") != "closed"
    ]
    result["remaining_m2_net"] = stats.totals(remaining)["area_m2_net"]
    outcomes = records(registry, RecordKind.OUTCOME, as_of=as_of)
    result["released_m2"] = {
        kind: stats.totals([o["geometry"] for o in outcomes if o["kind"] == kind])["area_m2_net"]
        for kind in ("cancelled", "reduced", "cleared")
    }
    if by is None:
        return result
    if by in ("status", "category"):
        groups = stats.totals_by([(h.get(by), h["geometry"]) for h in hazards])
    elif by == "admin-area":
        admin = records(registry, RecordKind.ADMIN_AREA, as_of=as_of)
        if not admin:
            raise ConfigError(
                "no admin areas in the registry: import them with `clearland import FILE --as admin-areas`"
            )
        groups = stats.totals_by_admin_area(geoms, [(a["name"], a["geometry"]) for a in admin])
    else:
        raise ConfigError(f"--by {by}: choose one of {', '.join(GROUPINGS)}")
    result["by"] = by
    result["groups"] = groups
    return result


def validate(registry: Registry, *, as_of: dt.date | None = None) -> dict[str, Any]:
    """Overlaps, near-duplicates, slivers and broken rules among the stored hazard areas."""
    hazards = records(registry, RecordKind.HAZARD_AREA, as_of=as_of)
    result = quality.validate(hazards, sliver_min_m2=registry.settings.sliver_min_m2)
    return {**registry_status(registry), "checked": len(hazards), **result}
