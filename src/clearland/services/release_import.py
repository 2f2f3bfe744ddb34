"""Bulk outcome import (``clearland release import``): polygons of land cancelled, reduced or
cleared, each matched to the hazard areas it overlaps and clipped to them, as one report."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from clearland.domain.release import match_outcomes
from clearland.domain.vocab import (
    ActivityType,
    OnInvalid,
    OnUnmatched,
    OutcomeKind,
    RecordKind,
    ReportType,
)
from clearland.errors import ValidationFailed
from clearland.io import read_layer
from clearland.services.imports import (
    ImportOptions,
    Progress,
    file_sha256,
    land_file_report,
    prepare,
)
from clearland.services.registry import Registry, acting_user, read_limits


@dataclass
class ReleaseOptions:
    outcome: OutcomeKind
    activity_type: ActivityType
    organisation: str | None = None
    date_of_information: dt.date | None = None
    on_invalid: OnInvalid = OnInvalid.REJECT
    on_unmatched: OnUnmatched = OnUnmatched.REJECT
    layer: str | None = None
    crs: str | None = None


def import_outcomes(
    registry: Registry, path: str | Path, options: ReleaseOptions, progress: Progress | None = None
) -> dict[str, Any]:
    path = Path(path)
    progress = progress or (lambda _stage, _done, _total: None)
    source = read_layer(path, layer=options.layer, limits=read_limits(registry))
    constants = {"kind": options.outcome.value, "activity_type": options.activity_type.value}
    if options.organisation:
        constants["organisation"] = options.organisation
    prepared = prepare(
        source,
        ImportOptions(
            kind=RecordKind.OUTCOME, crs=options.crs, on_invalid=options.on_invalid, constants=constants
        ),
        progress,
    )
    feature_count = len(source.features)
    fatal = [p for p in prepared.problems if p.get("action") == "rejected"]
    if fatal:
        raise ValidationFailed(
            f"{path.name}: {len({p['feature'] for p in fatal})} of {feature_count} features have problems; "
            "nothing was imported (use --on-invalid repair|skip)",
            detail=prepared.problems,
        )
    registry.store.check_ready()
    sliver_min_m2 = registry.settings.sliver_min_m2
    doi = options.date_of_information or dt.date.today()
    by_number = {str(number): (values, geom) for number, values, geom in prepared.rows}
    with registry.store.write() as tx:
        user = acting_user(tx, registry.user_name)
        geoms = [geom for _v, geom in by_number.values()]
        hazards = []
        if geoms:
            bbox = tuple(float(v) for v in shapely.total_bounds(np.array(geoms, dtype=object)))
            hazards = [
                (h["ref"], h["geometry"])
                for h in tx.current(RecordKind.HAZARD_AREA, bbox=bbox)  # type: ignore[arg-type]
                if h["geometry"].geom_type in ("Polygon", "MultiPolygon")
            ]
        matched = match_outcomes(
            [(n, g) for n, (_v, g) in by_number.items()], hazards, sliver_min_m2=sliver_min_m2
        )
        problems = list(prepared.problems)
        action = "rejected" if options.on_unmatched is OnUnmatched.REJECT else "skipped"
        for lost in matched.unmatched:
            problems.append(
                {
                    "file": path.name,
                    "feature": int(lost.outcome_id),
                    "field": "geometry",
                    "code": "unmatched",
                    "message": f"{lost.area_m2:,.1f} m² lie outside every hazard area",
                    "area_m2": lost.area_m2,
                    "action": action,
                }
            )
        if matched.unmatched and options.on_unmatched is OnUnmatched.REJECT:
            raise ValidationFailed(
                f"{path.name}: {len(matched.unmatched)} outcome(s) reach outside every hazard area; "
                "nothing was imported (use --on-unmatched skip to drop those parts)",
                detail=problems,
            )
        incoming = []
        for part in matched.parts:
            values, _geom = by_number[part.outcome_id]
            part_values = {
                **values,
                "hazard_ref": part.hazard_ref,
                "source_id": f"{values['source_id']}@{part.hazard_ref}",
            }
            incoming.append((part_values, shapely.normalize(part.geometry)))
        existing = (
            {
                o["source_id"]: o
                for o in tx.current(RecordKind.OUTCOME, source_ids=[v["source_id"] for v, _g in incoming])
            }
            if incoming
            else {}
        )
        changes: list[tuple[str, Mapping[str, Any], bytes | None]] = []
        unchanged = 0
        new_count = sum(1 for v, _g in incoming if v["source_id"] not in existing)
        refs = iter(tx.allocate_refs(RecordKind.OUTCOME, "OUT-", new_count))
        for values, geom in incoming:
            wkb = bytes(shapely.to_wkb(geom, output_dimension=2))
            current = existing.get(values["source_id"])
            if current is not None:
                same = all(current.get(k) == v for k, v in values.items())
                if same and bytes(shapely.to_wkb(current["geometry"], output_dimension=2)) == wkb:
                    unchanged += 1
                    continue
            changes.append((current["ref"] if current else next(refs), values, wkb))
        summary = {
            "file": str(path),
            "features": feature_count,
            "outcome": options.outcome.value,
            "activity_type": options.activity_type.value,
            "parts": len(matched.parts),
            "created": new_count,
            "updated": len(changes) - new_count,
            "unchanged": unchanged,
            "unmatched": len(matched.unmatched),
            "slivers_absorbed": len(matched.slivers),
            "hazard_areas": sorted({v["hazard_ref"] for v, _g in incoming}),
        }
        result: dict[str, Any] = {**summary, "problems": problems, "report": None}
        if not changes:
            result["status"] = "nothing to change"
            return result
        result.update(
            land_file_report(
                tx,
                user,
                ReportType.RELEASE_IMPORT,
                RecordKind.OUTCOME,
                changes,
                date_of_information=doi,
                path=path,
                sha256=file_sha256(path),
                summary=summary,
                sliver_min_m2=sliver_min_m2,
            )
        )
    return result
