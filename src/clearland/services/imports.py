"""Import a GIS file as one import report: read, map fields, check every feature, then land
the whole batch in one transaction (or nothing, with every problem named)."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import shapely

from clearland.domain.geometry import check_geometry, find_swapped_outliers, in_threads, repair
from clearland.domain.reconcile import changed_values
from clearland.domain.records import RECORD_TYPES, FieldSpec, RecordType, allowed_geometry_types
from clearland.domain.vocab import OnInvalid, RecordKind, ReportStatus, ReportType
from clearland.errors import ConfigError, InputFileError, ValidationFailed
from clearland.io import read_layer
from clearland.io.types import RawFeature, ReadLimits, SourceLayer
from clearland.services.approval import approve
from clearland.services.registry import Registry, acting_user, can_approve, init_registry

#: column names recognised without --map (case-insensitive), per field
ALIASES: dict[str, tuple[str, ...]] = {
    "ref": ("ref", "hazard_ref", "ha_ref"),
    "name": ("name", "hazard_name", "shapename", "adm_name", "nam", "label"),
    "category": ("category", "hazard_category", "cat"),
    "status": ("status", "hazard_status"),
    "hazard_types": ("hazard_types", "hazard_type", "contamination"),
    "code": ("code", "shapeiso", "pcode", "iso_code"),
    "level": ("level", "adm_level", "admin_level"),
    "source_id": ("source_id", "id", "shapeid", "objectid", "globalid"),
}

Progress = Callable[[str, int, int], None]


@dataclass
class ImportOptions:
    kind: RecordKind = RecordKind.HAZARD_AREA
    layer: str | None = None
    mapping: dict[str, str] = field(default_factory=dict)  # field -> source column
    constants: dict[str, str] = field(default_factory=dict)  # field -> value for every feature
    crs: str | None = None
    on_invalid: OnInvalid = OnInvalid.REJECT
    date_of_information: dt.date | None = None
    csv_geometry: tuple[str, ...] | None = None


@dataclass
class Prepared:
    """The result of reading and checking, before anything touches the database."""

    source: SourceLayer
    rows: list[tuple[int, dict[str, Any], shapely.Geometry]]  # (feature number, values, geometry)
    problems: list[dict[str, Any]]
    skipped: list[int]
    repaired: list[int]
    notes: list[str]


def import_file(
    registry: Registry, path: str | Path, options: ImportOptions, progress: Progress | None = None
) -> dict[str, Any]:
    """Import ``path``; returns the import summary. Raises ``InputFileError`` for an unreadable
    file and ``ValidationFailed`` (nothing written) when problems remain under the policy."""
    path = Path(path)
    limits = read_limits(registry)
    progress = progress or (lambda _stage, _done, _total: None)
    progress("read", 0, 1)
    source = read_layer(path, layer=options.layer, limits=limits, csv_geometry=options.csv_geometry)
    progress("read", 1, 1)
    prepared = prepare(source, options, progress)
    feature_count = len(source.features)
    # the raw features (file CRS, every property) are no longer needed: free them before writing
    source.features.clear()
    fatal = [p for p in prepared.problems if p.get("action") == "rejected"]
    if fatal:
        raise ValidationFailed(
            f"{path.name}: {len({p['feature'] for p in fatal})} of {feature_count} "
            f"features have problems; nothing was imported (use --on-invalid repair|skip)",
            detail=prepared.problems,
        )
    if not registry.store.exists():
        init_registry(registry)
    registry.store.check_ready()
    doi = options.date_of_information or dt.date.today()
    sha256 = file_sha256(path)
    record_type = RECORD_TYPES[options.kind]
    with registry.store.write() as tx:
        user = acting_user(tx, registry.user_name)
        progress("match", 0, len(prepared.rows))
        matched = _match_existing(tx, record_type, prepared.rows)
        new_rows = [i for i, m in enumerate(matched) if m is None]
        refs = iter(
            tx.allocate_refs(
                options.kind,
                record_type.ref_prefix,
                sum(1 for i in new_rows if "ref" not in prepared.rows[i][1]),
            )
        )
        changes: list[tuple[str, Mapping[str, Any], bytes | None]] = []
        unchanged = 0
        wkbs = shapely.to_wkb(np.array([g for _n, _v, g in prepared.rows], dtype=object), output_dimension=2)
        for (_number, values, _geom), current, wkb in zip(prepared.rows, matched, wkbs, strict=True):
            incoming = dict(values)
            if current is None:
                ref = incoming.pop("ref", None) or next(refs)
                changes.append((ref, incoming, wkb))
                continue
            ref = current["ref"]
            incoming.pop("ref", None)
            current_wkb = shapely.to_wkb(current["geometry"], output_dimension=2)
            diff = changed_values(current, incoming)
            geom_changed = current_wkb != wkb
            if not diff and not geom_changed:
                unchanged += 1
                continue
            # the report keeps all the file says of the record, not only the difference: that
            # is its evidence, and an older report must still give a whole state "as of" its date
            changes.append((ref, incoming, wkb))
        created = sum(1 for i in new_rows)
        summary = {
            "file": str(path),
            "layer": source.layer,
            "driver": source.driver,
            "crs": prepared.source.crs,
            "features": feature_count,
            "created": created,
            "updated": len(changes) - created,
            "unchanged": unchanged,
            "skipped": len(prepared.skipped),
            "repaired": len(prepared.repaired),
            "notes": prepared.notes,
        }
        result: dict[str, Any] = {**summary, "problems": prepared.problems, "report": None}
        if not changes:
            result["status"] = "nothing to change"
            return result
        progress("write", 0, len(changes))
        count = len(changes)
        result.update(
            land_file_report(
                tx,
                user,
                ReportType.IMPORT_BATCH,
                options.kind,
                changes,
                date_of_information=doi,
                path=path,
                sha256=sha256,
                summary=summary,
            )
        )
        progress("write", count, count)
    return result


def land_file_report(
    tx: Any,
    user: dict[str, Any],
    report_type: ReportType,
    kind: RecordKind,
    changes: list[tuple[str, Mapping[str, Any], bytes | None]],
    *,
    date_of_information: dt.date,
    path: Path,
    sha256: str,
    summary: dict[str, Any],
    sliver_min_m2: float = 1.0,
) -> dict[str, Any]:
    """Store a report made from a file and, when ``user`` may approve, approve it at once
    (in the caller's transaction). Returns ``report``, ``status`` and maybe ``revision``."""
    report_id = tx.insert_report(
        type=report_type.value,
        status=ReportStatus.SUBMITTED,
        date_of_information=date_of_information,
        created_by=user["id"],
        source_name=path.name,
        source_sha256=sha256,
        summary=summary,
    )
    approving = can_approve(user)
    # records are created up front when the report is approved now, so each change row is
    # written once, already linked to its record
    record_ids = tx.ensure_records(kind, [ref for ref, _v, _w in changes])[0] if approving else None
    written = tx.insert_changes(report_id, kind, changes, record_ids)
    changes.clear()  # the written rows hold the same values; do not keep two lists alive
    if not approving:
        return {"report": report_id, "status": "submitted"}
    outcome = approve(tx, report_id, user, written, sliver_min_m2=sliver_min_m2)
    return {"report": report_id, "status": "approved", "revision": outcome["revision"]}


def prepare(source: SourceLayer, options: ImportOptions, progress: Progress) -> Prepared:
    """Map fields and check every feature. No database access."""
    record_type = RECORD_TYPES[options.kind]
    notes = list(source.notes)
    name = source.path.name
    columns = _resolve_columns(record_type, source, options)
    constants = _parse_constants(record_type, options.constants)
    to_wgs84, crs_note = _transformer(source, options.crs)
    if crs_note:
        notes.append(crs_note)

    geoms = np.array([f.geometry for f in source.features], dtype=object)
    if to_wgs84 is not None and len(geoms):
        present = np.array([g is not None for g in geoms])
        geoms[present] = shapely.transform(
            geoms[present].astype(object),
            lambda xy: np.column_stack(to_wgs84.transform(xy[:, 0], xy[:, 1])),
        )
    if len(geoms):
        present = np.array([g is not None for g in geoms])
        # one canonical form (ring order and orientation) so the same shape compares equal
        geoms[present] = in_threads(shapely.normalize, shapely.force_2d(geoms[present].astype(object)))

    parsers = {name: _cached_parser(record_type.field(name)) for name in columns}
    # one vectorised pass finds the features that need no closer look (most of them)
    plainly_good = _plainly_good_polygons(geoms)
    problems: list[dict[str, Any]] = []
    per_feature: dict[int, list[dict[str, Any]]] = {}
    rows: list[tuple[int, dict[str, Any], Any]] = []
    seen_keys: dict[str, int] = {}
    key_field = "ref" if "ref" in columns else "source_id"
    total = len(source.features)
    for index, feature in enumerate(source.features):
        if index % 5000 == 0:
            progress("check", index, total)
        issues: list[dict[str, Any]] = []

        def problem(
            field_name: str, message: str, value: Any = None, code: str = "value", **extra: Any
        ) -> None:
            # called only within this iteration, so the loop variables are the right ones
            issues.append(_issue(name, feature, field_name, message, value, code, **extra))  # noqa: B023

        values: dict[str, Any] = dict(constants)
        for field_name, column in columns.items():
            raw = feature.properties.get(column)
            parsed = parsers[field_name](raw)
            if isinstance(parsed, _Invalid):
                problem(field_name, f"{column}: {parsed.reason}", raw)
            else:
                values[field_name] = parsed
        if "source_id" not in values or values["source_id"] is None:
            values["source_id"] = f"{source.path.stem}:{feature.fid or feature.number}"
        for spec in record_type.fields:
            if (
                spec.required
                and values.get(spec.name) is None
                and not any(i["field"] == spec.name for i in issues)
            ):
                where = (
                    f" (column {columns[spec.name]!r} is empty)"
                    if spec.name in columns
                    else (f" (no column; map one with --map {spec.name}=COLUMN or --set {spec.name}=VALUE)")
                )
                problem(spec.name, f"required field {spec.name} is missing{where}", code="required")
        key = values.get(key_field)
        if key is not None:
            if key in seen_keys:
                problem(
                    key_field,
                    f"duplicate {key_field} {key!r} (also feature {seen_keys[key]})",
                    key,
                    code="duplicate",
                )
            else:
                seen_keys[key] = feature.number
        geom = geoms[index]
        if feature.geometry_error:
            problem("geometry", feature.geometry_error, code="unreadable")
        elif not plainly_good[index]:
            geo_problem = check_geometry(geom, allowed_geometry_types(record_type, values))
            if geo_problem is not None:
                problem(
                    "geometry",
                    geo_problem.message,
                    code=geo_problem.code,
                    repairable=geo_problem.repairable,
                )
        per_feature[index] = issues
        rows.append((feature.number, values, geom))
    progress("check", total, total)

    # lat/lon written as lon/lat but still inside the world: far from the rest, at home swapped
    clean = [i for i in range(len(rows)) if not per_feature[i] and rows[i][2] is not None]
    if clean:
        centres = shapely.get_coordinates(
            shapely.centroid(np.array([rows[i][2] for i in clean], dtype=object))
        )
        for j in find_swapped_outliers([tuple(c) for c in centres]):
            i = clean[j]
            per_feature[i].append(
                {
                    "file": name,
                    "feature": rows[i][0],
                    "fid": source.features[i].fid,
                    "field": "geometry",
                    "code": "swapped_axes",
                    "message": "far from the other features but among them with x and y swapped: "
                    "likely lat/lon given as lon/lat",
                }
            )

    kept: list[tuple[int, dict[str, Any], Any]] = []
    skipped: list[int] = []
    repaired: list[int] = []
    for index, (number, values, geom) in enumerate(rows):
        issues = per_feature[index]
        if not issues:
            kept.append((number, values, geom))
            continue
        if options.on_invalid is OnInvalid.REJECT:
            action = "rejected"
        elif options.on_invalid is OnInvalid.REPAIR and all(i.get("repairable") for i in issues):
            fixed = repair(geom)
            if fixed is not None and fixed.geom_type in allowed_geometry_types(record_type, values):
                action = "repaired"
                kept.append((number, values, shapely.normalize(fixed)))
                repaired.append(number)
            else:
                action = "skipped"
                skipped.append(number)
        else:
            action = "skipped"
            skipped.append(number)
        for issue in issues:
            issue.pop("repairable", None)
            issue["action"] = action
            problems.append(issue)
    return Prepared(
        source=source, rows=kept, problems=problems, skipped=skipped, repaired=repaired, notes=notes
    )


@dataclass(frozen=True)
class _Invalid:
    reason: str


def _cached_parser(spec: FieldSpec) -> Callable[[Any], Any]:
    """``spec.parse`` remembering each distinct raw value: a column of 100k rows holds a
    handful of categories. Returns the value or an ``_Invalid`` with the reason."""
    cache: dict[Any, Any] = {}

    def parse(raw: Any) -> Any:
        try:
            return cache[raw]
        except KeyError:
            pass
        except TypeError:  # unhashable (a list from a JSON property)
            return _parse_or_invalid(spec, raw)
        result = cache[raw] = _parse_or_invalid(spec, raw)
        if len(cache) > 10_000:  # a column of unique names: stop remembering
            cache.clear()
        return result

    return parse


def _parse_or_invalid(spec: FieldSpec, raw: Any) -> Any:
    try:
        return spec.parse(raw)
    except ValueError as exc:
        return _Invalid(str(exc))


def _plainly_good_polygons(geoms: np.ndarray) -> np.ndarray:
    """Valid, non-empty polygons inside the world: ``check_geometry`` would find nothing."""
    if len(geoms) == 0:
        return np.zeros(0, dtype=bool)
    present = np.array([g is not None for g in geoms])
    good = present.copy()
    if present.any():
        sub = geoms[present].astype(object)
        bounds = shapely.bounds(sub)
        in_world = (
            np.isfinite(bounds).all(axis=1)
            & (bounds[:, 0] >= -180)
            & (bounds[:, 2] <= 180)
            & (bounds[:, 1] >= -90)
            & (bounds[:, 3] <= 90)
        )
        polygonal = np.isin(shapely.get_type_id(sub), (3, 6))
        good[present] = ~shapely.is_empty(sub) & in_world & polygonal & in_threads(shapely.is_valid, sub)
    return good


def _issue(
    file_name: str, feature: RawFeature, field_name: str, message: str, value: Any, code: str, **extra: Any
) -> dict[str, Any]:
    """One problem, naming file, feature and field."""
    entry: dict[str, Any] = {
        "file": file_name,
        "feature": feature.number,
        "fid": feature.fid,
        "field": field_name,
        "code": code,
        "message": message,
    }
    if value is not None:
        entry["value"] = value if isinstance(value, int | float) else str(value)[:200]
    entry.update(extra)
    return entry


def _resolve_columns(record_type: RecordType, source: SourceLayer, options: ImportOptions) -> dict[str, str]:
    """Domain field -> source column, from --map first, then known column names."""
    by_lower = {f.lower(): f for f in source.fields}
    columns: dict[str, str] = {}
    for field_name, column in options.mapping.items():
        if field_name not in record_type.field_names:
            raise ConfigError(
                f"--map {field_name}=…: {record_type.kind.value} has no field {field_name!r} "
                f"(fields: {', '.join(record_type.field_names)})"
            )
        actual = column if column in source.fields else by_lower.get(column.lower())
        if actual is None:
            raise ConfigError(
                f"--map {field_name}={column}: {source.path.name} has no column {column!r} "
                f"(columns: {', '.join(source.fields) or 'none'})"
            )
        columns[field_name] = actual
    used = set(columns.values())
    for spec in record_type.fields:
        if spec.name in columns or spec.name in options.constants:
            continue
        for alias in (spec.name, *ALIASES.get(spec.name, ())):
            actual = by_lower.get(alias)
            if actual is not None and actual not in used:
                columns[spec.name] = actual
                used.add(actual)
                break
    return columns


def _parse_constants(record_type: RecordType, constants: Mapping[str, str]) -> dict[str, Any]:
    parsed = {}
    for field_name, raw in constants.items():
        if field_name not in record_type.field_names:
            raise ConfigError(f"--set {field_name}=…: {record_type.kind.value} has no field {field_name!r}")
        try:
            parsed[field_name] = record_type.field(field_name).parse(raw)
        except ValueError as exc:
            raise ConfigError(f"--set {field_name}={raw}: {exc}") from None
    return parsed


def _transformer(source: SourceLayer, crs_option: str | None) -> tuple[pyproj.Transformer | None, str | None]:
    """A transformer to EPSG:4326 (``None`` when the data already is), and a note for the report."""
    declared = source.crs
    given = crs_option
    if declared is None and given is None:
        if source.driver == "CSV":
            return (
                None,
                "the CSV declares no CRS: coordinates read as EPSG:4326 lon/lat (use --crs otherwise)",
            )
        raise InputFileError(
            f"{source.path.name} has no CRS (e.g. a shapefile without its .prj): pass --crs EPSG:N",
            detail=[{"file": str(source.path), "field": "crs", "message": "missing CRS"}],
        )
    try:
        crs = pyproj.CRS.from_user_input(declared or given)
        if declared is not None and given is not None:
            other = pyproj.CRS.from_user_input(given)
            if not crs.equals(other, ignore_axis_order=True):
                raise ConfigError(
                    f"{source.path.name} declares {declared} but --crs says {given}; "
                    "drop --crs or fix the file"
                )
    except pyproj.exceptions.CRSError as exc:
        raise InputFileError(
            f"{source.path.name}: unknown CRS {declared or given!r}",
            detail=[{"file": str(source.path), "field": "crs", "message": str(exc)}],
        ) from None
    if crs.equals(pyproj.CRS.from_epsg(4326), ignore_axis_order=True):
        return None, None
    transformer = pyproj.Transformer.from_crs(crs, 4326, always_xy=True)
    return transformer, f"reprojected from {declared or given} to EPSG:4326"


def _match_existing(
    tx: Any, record_type: RecordType, rows: list[tuple[int, dict[str, Any], Any]]
) -> list[dict[str, Any] | None]:
    """The current state each row updates (by ref, else by source id), or ``None`` if new."""
    kind = record_type.kind
    refs = [v["ref"] for _n, v, _g in rows if v.get("ref")]
    by_ref = {s["ref"]: s for s in tx.current(kind, refs=refs)} if refs else {}
    source_ids = [v["source_id"] for _n, v, _g in rows if not v.get("ref")]
    by_source = {s["source_id"]: s for s in tx.current(kind, source_ids=source_ids)} if source_ids else {}
    out = []
    for _n, values, _g in rows:
        if values.get("ref"):
            out.append(by_ref.get(values["ref"]))
        else:
            out.append(by_source.get(values["source_id"]))
    return out


def read_limits(registry: Registry) -> ReadLimits:
    s = registry.settings.imports
    return ReadLimits(
        max_file_bytes=s.max_file_bytes,
        max_uncompressed_bytes=s.max_uncompressed_bytes,
        max_compression_ratio=s.max_compression_ratio,
        max_features=s.max_features,
    )


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
