"""Export the registry (or its public part, or its state on a date) to a GIS file."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from clearland.domain.records import DERIVED_FIELDS, RECORD_TYPES
from clearland.domain.vocab import MINE_TYPES, RecordKind
from clearland.io import format_from_path, write_layer
from clearland.io.types import OutputFeature
from clearland.services.minefields import check_export_access
from clearland.services.queries import records
from clearland.services.registry import Registry


def export(
    registry: Registry,
    path: str | Path,
    *,
    format: str | None = None,
    kind: RecordKind = RecordKind.HAZARD_AREA,
    public: bool = False,
    as_of: dt.date | None = None,
) -> dict[str, Any]:
    path = Path(path)
    fmt = format or format_from_path(path)
    check_export_access(registry, kind, public=public)
    states = records(registry, kind, as_of=as_of, public=public)
    record_type = RECORD_TYPES[kind]
    names = [n for n in record_type.field_names if not public or n in record_type.public_fields]
    extra = [*DERIVED_FIELDS, "remaining_area_m2"] if kind is RecordKind.HAZARD_AREA else list(DERIVED_FIELDS)
    if fmt == "osm":
        features = [OutputFeature(osm_tags(s), s["geometry"]) for s in states]
    else:
        as_text = {spec.name for spec in record_type.fields if spec.kind == "json"}  # nested: as JSON text
        features = [
            OutputFeature(
                {n: json.dumps(s.get(n)) if n in as_text else s.get(n) for n in [*names, *extra]},
                s["geometry"],
            )
            for s in states
        ]
    layer = kind.value + "s"
    write_layer(path, features, format=fmt, layer=layer)
    return {
        "file": str(path),
        "format": fmt,
        "features": len(features),
        "public": public,
        "as_of": as_of.isoformat() if as_of else None,
    }


def osm_tags(state: dict[str, Any]) -> dict[str, Any]:
    """OpenStreetMap tags for a hazard area (``boundary=hazard``, wiki: Tag:hazard=minefield)."""
    types = set(state.get("hazard_types") or [])
    tags: dict[str, Any] = {
        "boundary": "hazard",
        "hazard": "minefield" if types & {t.value for t in MINE_TYPES} else "unexploded_ordnance",
        "ref": state.get("ref"),
        "name": state.get("name"),
        "source": "clearland",
        "start_date": state.get("date_of_information"),
        "hazard:category": state.get("category"),
    }
    return {k: v for k, v in tags.items() if v is not None}
