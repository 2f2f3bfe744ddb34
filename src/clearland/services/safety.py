"""Safety checks: does this point, route or field touch a recorded hazard, or come near one?

Answers follow DOMAIN.md ("Safety check answers"): ``inside`` / ``near`` / ``no_record``, every
hazard involved, the registry revision and the date of its latest approved information, and the
words that no record is not proof of safety. The index holds the land not yet released (the
remaining geometry) of hazard areas that are not closed; it is rebuilt when the revision changes.
"""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from clearland.domain.geometry import check_geometry
from clearland.domain.vocab import HazardStatus, RecordKind
from clearland.errors import InputError, InputFileError
from clearland.io import read_layer
from clearland.io.points import GPS_EPOCH, open_points
from clearland.services.imports import _transformer as transformer_for
from clearland.services.imports import read_limits
from clearland.services.queries import registry_status
from clearland.services.registry import Registry
from clearland.spatial.index import HazardIndex, Hit, IndexedHazard

DEFAULT_WITHIN_M = 100.0
NOT_PROOF = (
    "No record is not proof of safety: explosive ordnance can be anywhere, recorded or not. "
    "Stay on paths known to be safe, do not touch any suspicious item, and report it."
)
ANSWER_WORDS = {
    "inside": "INSIDE a recorded hazard area",
    "near": "NEAR a recorded hazard area",
    "no_record": "no recorded hazard area",
}
_LINEAL = frozenset({"LineString", "MultiLineString"})
_AREAL = frozenset({"Polygon", "MultiPolygon"})
_ANY_TYPE = frozenset(
    {"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon", "GeometryCollection"}
)

_cache: dict[str, tuple[int, HazardIndex, np.ndarray]] = {}
_cache_lock = threading.Lock()


def hazard_index(registry: Registry) -> tuple[HazardIndex, dict[str, Any]]:
    """The index of the registry as it is now, and its status (revision, latest information);
    built once per revision and database."""
    index, _refs, status = indexed(registry)
    return index, status


def indexed(registry: Registry) -> tuple[HazardIndex, np.ndarray, dict[str, Any]]:
    """``hazard_index`` and the refs of the indexed hazards, in the index's order."""
    status = registry_status(registry)
    key = str(registry.store.url)
    with _cache_lock:
        cached = _cache.get(key)
        if cached is not None and cached[0] == status["revision"]:
            return cached[1], cached[2], status
        with registry.store.read() as tx:
            revision = tx.revision()
            hazards = [
                IndexedHazard(
                    ref=h["ref"],
                    category=h["category"],
                    status=h["status"],
                    marking=h.get("marking"),
                    geometry=h["geometry"]
                    if h.get("remaining_geometry") is None
                    else h["remaining_geometry"],
                )
                for h in tx.current(RecordKind.HAZARD_AREA)
                if h["status"] != HazardStatus.CLOSED.value
            ]
        hazards = [h for h in hazards if not h.geometry.is_empty]
        index = HazardIndex(hazards)
        refs = np.array([h.ref for h in hazards], dtype=object)
        _cache[key] = (revision, index, refs)
        return index, refs, {**status, "revision": revision}


def check_point(
    registry: Registry, lon: float, lat: float, within_m: float = DEFAULT_WITHIN_M
) -> dict[str, Any]:
    check_within(within_m)
    if not (np.isfinite(lon) and np.isfinite(lat)) or abs(lat) > 90 or abs(lon) > 180:
        hint = " (longitude first: LON LAT)" if abs(lat) > 90 and abs(lon) <= 90 else ""
        raise InputError(
            f"({lon}, {lat}) is not a position: longitude within ±180, latitude within ±90{hint}"
        )
    index, status = hazard_index(registry)
    hits = index.check(shapely.Point(lon, lat), within_m)
    return _answer(index, hits, within_m, status, {"type": "point", "lon": lon, "lat": lat})


def check_file(
    registry: Registry,
    path: str | Path,
    what: str,
    within_m: float = DEFAULT_WITHIN_M,
    *,
    layer: str | None = None,
) -> dict[str, Any]:
    """``what``: ``route`` (GPX tracks and routes, GeoJSON/KML lines) or ``area`` (polygons).
    One answer for the file, and one per feature; corrupt GPS timestamps are flagged, not fatal."""
    check_within(within_m)
    path = Path(path)
    allowed = _LINEAL if what == "route" else _AREAL
    skipped: list[str] = []
    features = _read_features(registry, path, what, layer, allowed, skipped)
    index, status = hazard_index(registry)
    results = []
    for name, geom in features:
        hits = index.check(geom, within_m)
        results.append({"feature": name, **_summary(index, hits)})
    everything = shapely.union_all([geom for _, geom in features])
    answer = _answer(
        index, index.check(everything, within_m), within_m, status, {"type": what, "file": str(path)}
    )
    answer["features"] = results
    warnings = skipped + (_timestamp_warnings(path, registry) if path.suffix.lower() == ".gpx" else [])
    if warnings:
        answer["warnings"] = warnings
    return answer


def _read_features(
    registry: Registry, path: Path, what: str, layer: str | None, allowed: frozenset[str], skipped: list[str]
) -> list[tuple[str, Any]]:
    limits = read_limits(registry)
    if path.suffix.lower() == ".gpx" and layer is None:
        layers = ["tracks", "routes"] if what == "route" else []
        if not layers:
            raise InputFileError(
                f"{path.name}: a GPX file holds routes and tracks, not areas (use `check route`)"
            )
        sources = [read_layer(path, layer=name, limits=limits) for name in layers]
    else:
        sources = [read_layer(path, layer=layer, limits=limits)]
    features: list[tuple[str, Any]] = []
    problems = []
    for source in sources:
        to_wgs84, _note = transformer_for(source, None)
        for feature in source.features:
            name = f"{source.layer or path.stem}:{feature.number}"
            label = feature.properties.get("name") or name
            geom = feature.geometry
            if feature.geometry_error is None and (geom is None or geom.is_empty):
                skipped.append(f"{name} has no geometry: skipped")  # e.g. a GPX track without points
                continue
            if geom is not None and to_wgs84 is not None:
                geom = _reproject(geom, to_wgs84)
            if geom is not None:
                geom = shapely.force_2d(geom)
            found = check_geometry(geom, _ANY_TYPE)  # the type is judged below, in words for this command
            if feature.geometry_error or found is not None or geom is None:
                message = feature.geometry_error or (found.message if found else "geometry is null")
                problems.append({"file": path.name, "feature": name, "field": "geometry", "message": message})
                continue
            if geom.geom_type not in allowed:
                kind = "lines (a route)" if what == "route" else "polygons (an area)"
                problems.append(
                    {
                        "file": path.name,
                        "feature": name,
                        "field": "geometry",
                        "message": f"a {geom.geom_type}: `check {what}` needs {kind}",
                    }
                )
                continue
            features.append((str(label), geom))
    if problems:
        raise InputFileError(
            f"{path.name}: {len(problems)} feature(s) cannot be checked: {problems[0]['message']}",
            detail=problems,
        )
    if not features:
        raise InputFileError(f"{path.name}: no {'lines' if what == 'route' else 'polygons'} to check")
    return features


def _reproject(geom: Any, transformer: Any) -> Any:
    return shapely.transform(geom, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1])))


def _timestamp_warnings(path: Path, registry: Registry) -> list[str]:
    """Corrupt timestamps in a GPX file's points: flagged, never a reason to stop."""
    counts: dict[str, int] = {}
    total = 0
    for batch in open_points(path, limits=read_limits(registry)):
        total += len(batch)
        for reason in batch.reason.values():
            if "timestamp" in reason:
                counts[reason] = counts.get(reason, 0) + 1
    return [
        f"{count} of {total} GPS points: {reason} (the positions are checked all the same)"
        for reason, count in counts.items()
    ]


def _summary(index: HazardIndex, hits: list[Hit]) -> dict[str, Any]:
    answer = "inside" if any(h.inside for h in hits) else ("near" if hits else "no_record")
    hazards = []
    for hit in hits:
        hazard = index.hazard(hit.ref)
        hazards.append(
            {
                "ref": hit.ref,
                "category": hazard.category,
                "status": hazard.status,
                "marking": hazard.marking,
                "inside": hit.inside,
                "distance_m": round(hit.distance_m, 1),
                "bearing_deg": None if hit.bearing_deg is None else round(hit.bearing_deg, 1),
            }
        )
    return {"answer": answer, "hazards": hazards}


def _answer(
    index: HazardIndex, hits: list[Hit], within_m: float, status: dict[str, Any], query: dict[str, Any]
) -> dict[str, Any]:
    return {
        **_summary(index, hits),
        "within_m": within_m,
        "query": query,
        "registry": {
            "revision": status["revision"],
            "latest_information": status["latest_information"],
            **({"synthetic": status["synthetic"]} if "synthetic" in status else {}),
        },
        "checked_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "notice": NOT_PROOF,
    }


def check_within(within_m: float) -> None:
    if not np.isfinite(within_m) or within_m < 0 or within_m > 100_000:
        raise InputError(f"--within {within_m}: give a distance in metres from 0 to 100000")


__all__ = [
    "DEFAULT_WITHIN_M",
    "GPS_EPOCH",
    "NOT_PROOF",
    "check_file",
    "check_point",
    "check_within",
    "hazard_index",
    "indexed",
]
