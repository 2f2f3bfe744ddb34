"""Import a GIS file as one import report: read, map fields, check every feature, then land
the whole batch in one transaction (or nothing, with every problem named)."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pyproj
import shapely

from clearland.domain.geometry import (
    check_geometry,
    find_swapped_outliers,
    geodesic_areas_m2,
    in_threads,
    repair,
    wkb_2d,
)
from clearland.domain.reconcile import changed_values
from clearland.domain.records import RECORD_TYPES, FieldSpec, RecordType, allowed_geometry_types
from clearland.domain.vocab import OnInvalid, RecordKind, ReportStatus, ReportType
from clearland.errors import ConfigError, InputFileError, ValidationFailed
from clearland.io import read_layer
from clearland.io.types import FeatureColumns, RawFeature, SourceLayer
from clearland.services.approval import approve
from clearland.services.gcpause import collector_paused
from clearland.services.registry import Registry, acting_user, can_approve, init_registry, read_limits

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
    with collector_paused():
        return _import_file(registry, Path(path), options, progress)


def _import_file(
    registry: Registry, path: Path, options: ImportOptions, progress: Progress | None
) -> dict[str, Any]:
    limits = read_limits(registry)
    progress = progress or (lambda _stage, _done, _total: None)
    stop = threading.Event()
    validity = _Validity()
    with ThreadPoolExecutor(max_workers=1) as beside:
        # the file is hashed while it is read and checked (hashlib lets go of the GIL), until
        # the report needs it; a file the reader or the checks refuse stops the hashing
        hashing = beside.submit(file_sha256, path, stop)
        try:
            progress("read", 0, 1)
            source = read_layer(
                path,
                layer=options.layer,
                limits=limits,
                csv_geometry=options.csv_geometry,
                columnar=True,
                on_geometries=validity.read_batch,
            )
            progress("read", 1, 1)
            return _checked_import(registry, path, options, progress, source, hashing.result, validity)
        finally:
            stop.set()  # (done by then, unless something was refused)
            validity.close()


#: from this many features on, an import is written as a bulk write (``Store.write(bulk=True)``)
_BULK_FEATURES = 10_000


def _checked_import(
    registry: Registry,
    path: Path,
    options: ImportOptions,
    progress: Progress,
    source: SourceLayer,
    sha256: Callable[[], str],
    validity: _Validity | None = None,
) -> dict[str, Any]:
    """Check the features read and land them (``_import_file``); ``sha256`` gives the file's
    hash (waiting for it) when the report needs it; ``validity``: begun while reading."""
    feature_count = source.feature_count
    rejecting = options.on_invalid is OnInvalid.REJECT
    with _Checking(
        source, options, progress, deferred=rejecting, measure=rejecting, validity=validity
    ) as checking:
        # the raw features (file CRS, every property) are no longer needed: free them
        source.features.clear()
        source.columns = None
        if not (checking.polygons_clean and registry.store.is_ready()):
            checking.canonicalise()
        if rejecting and checking.clean_so_far and registry.store.is_ready():
            # Nothing found so far, and under this policy nothing will be left out: the rows
            # are written while validity is checked beside (GEOS and SQLite each on a core),
            # and if it finds a problem the transaction rolls back: nothing was imported.
            # Its problems come first, as if it had been checked before. (The geometry may
            # not be canonical yet: ``_write_import`` has it made when it needs it.)
            freeing: threading.Thread | None = None
            try:
                with registry.store.write(bulk=feature_count >= _BULK_FEATURES) as tx:
                    try:
                        result = _write_import(
                            tx, registry, path, options, None, feature_count, sha256, progress, checking
                        )
                    except Exception:
                        _reject_problems(path, checking.result(), feature_count)
                        raise
                    _reject_problems(path, checking.result(), feature_count)
                    # what the checking made (100k geometries, their WKB and values take a while
                    # to free) is freed beside while the commit writes the rows out: sqlite3
                    # lets go of the GIL meanwhile
                    freeing = threading.Thread(target=checking.release().clear, name="clearland-free")
                    freeing.start()
            finally:
                if freeing is not None:
                    freeing.join()
            return result
        prepared = checking.result()
    _reject_problems(path, prepared, feature_count)
    if not registry.store.exists():
        init_registry(registry)
    registry.store.check_ready()
    with registry.store.write(bulk=feature_count >= _BULK_FEATURES) as tx:
        return _write_import(tx, registry, path, options, prepared, feature_count, sha256, progress)


def _reject_problems(path: Path, prepared: Prepared, feature_count: int) -> None:
    """Raise ``ValidationFailed`` when problems remain under the policy."""
    fatal = [p for p in prepared.problems if p.get("action") == "rejected"]
    if fatal:
        raise ValidationFailed(
            f"{path.name}: {len({p['feature'] for p in fatal})} of {feature_count} "
            f"features have problems; nothing was imported (use --on-invalid repair|skip)",
            detail=prepared.problems,
        )


def _write_import(
    tx: Any,
    registry: Registry,
    path: Path,
    options: ImportOptions,
    prepared: Prepared | None,
    feature_count: int,
    sha256: Callable[[], str],
    progress: Progress,
    checking: _Checking | None = None,
) -> dict[str, Any]:
    """Land the checked rows as one import report, in ``tx``; returns the import summary.
    ``sha256`` gives the file's hash, when the report is written.
    ``prepared``: the checked rows. Or ``checking`` (``prepared`` None): the rows checked so
    far, none left out, their geometry maybe not canonical yet: it is made canonical here when
    needed; for rows that all create new records, once the records are being created (the
    database works on them meanwhile), and their areas come from ``checking`` too."""
    if prepared is None:
        if checking is None:
            raise TypeError("_write_import needs prepared rows or a _Checking")
        prepared = Prepared(
            source=checking.source,
            rows=checking.rows,
            problems=[],
            skipped=[],
            repaired=[],
            notes=checking.notes,
        )
    source = prepared.source
    doi = options.date_of_information or dt.date.today()
    record_type = RECORD_TYPES[options.kind]
    user = acting_user(tx, registry.user_name)
    progress("match", 0, len(prepared.rows))
    # matched by ref or source id: the values only, the geometry may not be canonical yet
    matched = _match_existing(tx, record_type, prepared.rows)
    new_rows = [i for i, m in enumerate(matched) if m is None]
    later = checking is not None and len(new_rows) == len(matched) and can_approve(user)
    wkbs: Sequence[bytes | None] | np.ndarray
    if checking is not None and not later:
        checking.canonicalise()
        prepared.rows = checking.rows
    if checking is not None and checking.wkbs is not None:
        wkbs = checking.wkbs
    elif later:
        wkbs = [None] * len(prepared.rows)  # made by ``complete`` below
    else:
        wkbs = in_threads(_wkb_2d, np.array([g for _n, _v, g in prepared.rows], dtype=object))
    refs = iter(
        tx.allocate_refs(
            options.kind,
            record_type.ref_prefix,
            sum(1 for i in new_rows if "ref" not in prepared.rows[i][1]),
        )
    )
    changes: list[tuple[str, Mapping[str, Any], bytes | None]] = []
    shapes: list[shapely.Geometry | None] = []
    unchanged = 0
    for (_number, values, geom), current, wkb in zip(prepared.rows, matched, wkbs, strict=True):
        if current is None:
            # (the values as they are when they hold no ref: ``insert_changes`` copies them)
            incoming = dict(values) if "ref" in values else values
            ref = incoming.pop("ref", None) or next(refs)
            changes.append((ref, incoming, wkb))
            shapes.append(geom)
            continue
        ref = current["ref"]
        incoming = dict(values)
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
        shapes.append(geom)
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
    complete = None
    if later and checking is not None:
        pending = checking

        def complete() -> None:
            # every row is a new record's change, in order: its canonical geometry and WKB
            pending.canonicalise()
            made = pending.wkbs if pending.wkbs is not None else _wkb_2d(np.array(shapes, dtype=object))
            for i, ((ref, values, _none), (_n, _v, geom), wkb) in enumerate(
                zip(changes, pending.rows, made, strict=True)
            ):
                changes[i] = (ref, values, wkb)
                shapes[i] = geom

    measured = checking is not None and checking.measures_areas() and count == len(prepared.rows)
    result.update(
        land_file_report(
            tx,
            user,
            ReportType.IMPORT_BATCH,
            options.kind,
            changes,
            date_of_information=doi,
            path=path,
            sha256=sha256(),
            summary=summary,
            shapes=shapes,
            areas=checking.areas if measured and checking is not None else None,
            complete=complete,
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
    shapes: Sequence[shapely.Geometry | None] | None = None,
    areas: Callable[[], np.ndarray] | None = None,
    complete: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Store a report made from a file and, when ``user`` may approve, approve it at once
    (in the caller's transaction). Returns ``report``, ``status`` and maybe ``revision``.
    ``shapes``: the changes' geometries, parsed (the approval then need not parse their WKB
    again, and their areas are measured beside the database work); ``areas``: gives
    ``geodesic_areas_m2(shapes)`` when it is being measured already. ``complete``: called once
    the records exist, before the change rows are written; it puts the final WKB in
    ``changes`` and the final geometries in ``shapes`` (their coordinates, so their boxes, as
    before: an import makes them canonical then, while the database creates the records)."""
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
    tx.audit(
        user["id"],
        "report.import",
        f"report {report_id}",
        {"type": report_type.value, "file": path.name, "records": len(changes), "approved": approving},
    )
    if not approving:
        if complete is not None:
            complete()
        tx.insert_changes(report_id, kind, changes)
        return {"report": report_id, "status": "submitted"}
    # read before the bulk inserts below: the approval of new records then reads nothing until
    # it writes their current rows, and the database goes on with the inserts meanwhile
    report = tx.get_report(report_id)
    with ThreadPoolExecutor(max_workers=1) as beside:
        # the approval needs the geodesic areas: measured (numpy, without the GIL) while the
        # database takes the records and the report's changes
        measured: Callable[[], np.ndarray] | None = None
        if shapes and areas is None:
            measured = beside.submit(geodesic_areas_m2, np.asarray(shapes, dtype=object)).result
        elif shapes:
            measured = areas
        # records are created up front, so each change row is written once, already linked to
        # its record; the geometry of a record it creates is written once too, in the record's
        # current row, and the change points at it
        record_ids, blank = tx.ensure_records(kind, [ref for ref, _v, _w in changes])
        if shapes is not None and len(blank) == len(changes) and all(s is not None for s in shapes):
            # every change creates its record with this geometry, and the approval below writes
            # their current rows: their boxes go into the spatial index first (SQLite's R*Tree,
            # its slowest part, filled while the change rows and the states are being made)
            tx.box_new_current(kind, [record_ids[ref] for ref, _v, _w in changes], shapes)
        if complete is not None:
            complete()
        written = tx.insert_changes(report_id, kind, changes, record_ids, geom_in_current=blank)
        changes.clear()  # the written rows hold the same values; do not keep two lists alive
        if shapes is not None and measured is not None:
            for row, shape, area in zip(written, shapes, measured().tolist(), strict=True):
                row["shape"] = shape
                row["area_m2"] = area
    outcome = approve(tx, report_id, user, written, sliver_min_m2=sliver_min_m2, report=report)
    return {"report": report_id, "status": "approved", "revision": outcome["revision"]}


def _wkb_2d(geoms: np.ndarray) -> np.ndarray:
    return wkb_2d(geoms)


def prepare(source: SourceLayer, options: ImportOptions, progress: Progress) -> Prepared:
    """Map fields and check every feature. No database access."""
    with _Checking(source, options, progress) as checking:
        return checking.result()


class _FeatureId(NamedTuple):
    number: int
    fid: str | None


class _Checking:
    """Checking every feature, in steps. On creation: the fields are read and the quick
    geometry rules applied (null, empty, inside the world, type), and (unless ``deferred``)
    the geometry made canonical (``canonicalise``). Then the slow rule, validity (GEOS), runs
    in threads until ``result``, which gives what ``prepare`` gives. Meanwhile the caller may
    use ``rows`` if ``clean_so_far``: they are what ``result`` keeps when validity finds
    nothing (under any policy).

    ``deferred``: the caller calls ``canonicalise`` when it needs the canonical geometry (an
    import of new polygons starts its transaction first, if ``polygons_clean``, and makes the
    geometry canonical while the database creates the records). Until then ``rows`` hold the
    geometry as read, and ``clean_so_far`` is not known. ``measure``: the rows' areas are
    measured beside, for ``areas`` (under ``--on-invalid reject``: what an import lands in
    one go)."""

    def __init__(
        self,
        source: SourceLayer,
        options: ImportOptions,
        progress: Progress,
        *,
        deferred: bool = False,
        measure: bool = False,
        validity: _Validity | None = None,
    ) -> None:
        record_type = RECORD_TYPES[options.kind]
        self.record_type = record_type
        self.options = options
        self.progress = progress
        self.source = source
        self.notes = list(source.notes)
        self.name = source.path.name
        columns = _resolve_columns(record_type, source, options)
        constants = _parse_constants(record_type, options.constants)
        to_wgs84, crs_note = transformer_for(source, options.crs)
        if crs_note:
            self.notes.append(crs_note)

        table = source.feature_columns()
        self.ids = [_FeatureId(n, fid) for n, fid in zip(table.numbers, table.fids, strict=True)]
        geoms = np.empty(len(table), dtype=object)
        geoms[:] = table.geometries
        if to_wgs84 is not None and len(geoms):
            present = np.array([g is not None for g in geoms])
            geoms[present] = shapely.transform(
                geoms[present].astype(object),
                lambda xy: np.column_stack(to_wgs84.transform(xy[:, 0], xy[:, 1])),
            )
        present = np.flatnonzero(np.array([g is not None for g in geoms], dtype=bool))
        self._geoms, self._present = geoms, present
        self._encode = options.on_invalid is OnInvalid.REJECT
        self._measures = measure and self._encode
        #: the rows' WKB, when made by ``canonicalise`` (``None`` for a row without geometry)
        self.wkbs: np.ndarray | None = None
        self._validity = validity if validity is not None else _Validity()
        # the canonical form (GEOS, without the GIL), then the geodesic areas (see ``areas``)
        # and the centres, made beside from the start: an import needs them early
        self._beside = ThreadPoolExecutor(max_workers=1)
        self._measuring: Future[np.ndarray] | None = None
        self._canonical = False
        self._result: Prepared | None = None
        try:
            # The slow rule first: validity, in threads (GEOS lets go of the GIL) while this
            # thread does the rest, which holds the GIL (new Python objects) and then, in an
            # import, the database work. It is checked on the geometry as read: ring order and
            # orientation, all the canonical form changes, do not change it.
            # (begun while the file was read, when the geometry is still the one read then)
            self._validity.check(geoms, present, as_read=to_wgs84 is None)
            self._normalising = self._beside.submit(_normal_form, geoms[present].astype(object))
            # the quick rules on the geometry as read: the canonical form changes neither
            # emptiness, nor type, nor bounds
            quick_good = np.zeros(len(geoms), dtype=bool)
            quick_good[present] = _quick_good(geoms[present].astype(object))
            self._quick_good = quick_good
            checked, per_feature = _check_values(record_type, source, table, columns, constants, progress)
            self._checked = checked
            self._errors = table.geometry_errors or [None] * len(table)
            self.per_feature = per_feature
            #: nothing found so far, every feature has a geometry that passes the quick rules
            #: as a polygon: known before ``canonicalise``, and then ``clean_so_far`` is true
            self.polygons_clean = (
                not any(per_feature) and bool(quick_good.all()) and not any(self._errors) and len(geoms) > 0
            )
            self.rows = [(n, values, geom) for (n, values), geom in zip(checked, geoms, strict=True)]
            self.clean_so_far = self.polygons_clean
            if self.polygons_clean:
                self._measure()
            if not deferred:
                self.canonicalise()
        except BaseException:
            self.close()
            raise

    def _measure(self) -> None:
        """Measure the canonical geometry's areas beside (once, when ``measures_areas``)."""
        if self._measuring is None and self.measures_areas():
            normalising = self._normalising
            self._measuring = self._beside.submit(lambda: geodesic_areas_m2(normalising.result()))

    def canonicalise(self) -> None:
        """Take the canonical geometry (``_normal_form``, made beside since the start), make its
        WKB under ``--on-invalid reject``, start measuring its areas and centres beside, and
        say what the quick rules found (their messages name the canonical geometry). Then
        ``rows`` hold the canonical geometry and ``clean_so_far`` is known. Once; later calls
        do nothing."""
        if self._canonical:
            return
        self._canonical = True
        geoms, present = self._geoms, self._present
        canonical = self._normalising.result()
        self._measure()
        geoms[present] = canonical
        if self._encode:
            self.wkbs = np.full(len(geoms), None, dtype=object)
            self.wkbs[present] = _wkb_2d(canonical)
        quick_good, checked, errors = self._quick_good, self._checked, self._errors
        per_feature = self.per_feature
        # the centres for the swapped-axes rule, of the canonical polygons
        self._candidates = np.flatnonzero(quick_good)
        self._centring = self._beside.submit(_centres, geoms[self._candidates].astype(object))
        for index in np.flatnonzero(~quick_good).tolist():
            if not errors[index]:
                self._check_geometry(index, checked[index][1], geoms[index], per_feature)
        for index, error in enumerate(errors):
            if error:
                issue = _issue(self.name, self.ids[index], "geometry", error, None, "unreadable")
                per_feature[index].append(issue)
        self.rows = [(n, values, geom) for (n, values), geom in zip(checked, geoms, strict=True)]
        self.clean_so_far = not any(per_feature)

    def __enter__(self) -> _Checking:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._validity.close()
        self._beside.shutdown(wait=True, cancel_futures=True)

    def release(self) -> list[Any]:
        """Forget the rows, geometry, WKB and problems made so far (after their last use) and
        hand them over, for the caller to free when it suits it."""
        garbage = [self.rows, self._checked, self._geoms, self.wkbs, self.per_feature, self.ids, self._result]
        self.rows, self._checked, self.per_feature, self.ids = [], [], [], []
        self._geoms = np.empty(0, dtype=object)
        self.wkbs = None
        self._result = None
        return garbage

    def measures_areas(self) -> bool:
        """Whether ``areas`` will give the rows' areas (known before ``canonicalise``): when
        asked to ``measure`` under ``--on-invalid reject``, and every row has a geometry."""
        return self._measures and len(self._present) == len(self._geoms)

    def areas(self) -> np.ndarray:
        """The geodesic areas of ``rows``' canonical geometries, in their order, as
        ``geodesic_areas_m2`` gives them for those geometries (the same numbers: each is
        measured on its own), measured beside since ``canonicalise`` (``measures_areas``):
        what an approval of every row needs."""
        self.canonicalise()
        if self._measuring is None:
            raise RuntimeError("the areas are not being measured")
        return self._measuring.result()

    def _check_geometry(
        self, index: int, values: dict[str, Any], geom: Any, per_feature: list[list[dict[str, Any]]]
    ) -> None:
        problem = check_geometry(geom, allowed_geometry_types(self.record_type, values))
        if problem is not None:
            issue = _issue(
                self.name,
                self.ids[index],
                "geometry",
                problem.message,
                None,
                problem.code,
                repairable=problem.repairable,
            )
            per_feature[index].append(issue)

    def result(self) -> Prepared:
        if self._result is None:
            self._result = self._finish()
        return self._result

    def _finish(self) -> Prepared:
        self.canonicalise()
        rows, per_feature, options, record_type = self.rows, self.per_feature, self.options, self.record_type
        valid = self._validity.result(len(rows))
        quick_good = self._quick_good
        centres = np.full((len(rows), 2), np.nan)
        centres[self._candidates] = self._centring.result()
        # polygons that pass the quick rules but not validity: ``check_geometry`` says why
        for index in np.flatnonzero(quick_good & ~valid).tolist():
            self._check_geometry(index, rows[index][1], rows[index][2], per_feature)
        self.progress("check", len(rows), len(rows))

        # lat/lon written as lon/lat but still inside the world: far from the rest, at home swapped
        clean = [i for i in range(len(rows)) if not per_feature[i] and rows[i][2] is not None]
        if clean:
            unmeasured = [i for i in clean if not quick_good[i]]
            if unmeasured:
                centres[unmeasured] = _centres(np.array([rows[i][2] for i in unmeasured], dtype=object))
            for j in find_swapped_outliers([tuple(c) for c in centres[clean].tolist()]):
                i = clean[j]
                per_feature[i].append(
                    {
                        "file": self.name,
                        "feature": rows[i][0],
                        "fid": self.ids[i].fid,
                        "field": "geometry",
                        "code": "swapped_axes",
                        "message": "far from the other features but among them with x and y swapped: "
                        "likely lat/lon given as lon/lat",
                    }
                )

        kept: list[tuple[int, dict[str, Any], Any]] = []
        skipped: list[int] = []
        repaired: list[int] = []
        problems: list[dict[str, Any]] = []
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
            source=self.source,
            rows=kept,
            problems=problems,
            skipped=skipped,
            repaired=repaired,
            notes=self.notes,
        )


def _check_values(
    record_type: RecordType,
    source: SourceLayer,
    table: FeatureColumns,
    columns: Mapping[str, str],
    constants: Mapping[str, Any],
    progress: Progress,
) -> tuple[list[tuple[int, dict[str, Any]]], list[list[dict[str, Any]]]]:
    """(feature number, values) per feature, and its problems so far in this order: values
    that do not parse (by column), required fields left empty, keys given twice. Worked
    column by column: a column usually holds a handful of distinct values."""
    name = source.path.name
    total = len(table)
    numbers, fids = table.numbers, table.fids
    progress("check", 0, total)
    names = list(columns)
    empty: list[Any] = [None] * total
    raw_columns = [table.properties.get(columns[field_name], empty) for field_name in names]
    parsed_columns = [
        _parse_column(record_type.field(field_name), raws)
        for field_name, raws in zip(names, raw_columns, strict=True)
    ]
    progress("check", total // 2, total)
    if parsed_columns:
        rows = [dict(zip(names, parsed, strict=True)) for parsed in zip(*parsed_columns, strict=True)]
    else:
        rows = [{} for _ in range(total)]
    if constants:
        rows = [{**constants, **values} for values in rows]
    per_feature: list[list[dict[str, Any]]] = [[] for _ in range(total)]
    unparsed: dict[str, set[int]] = {}
    for field_name, parsed, raws in zip(names, parsed_columns, raw_columns, strict=True):
        column = columns[field_name]
        bad = [i for i, value in enumerate(parsed) if type(value) is _Invalid]
        unparsed[field_name] = set(bad)
        for i in bad:
            if field_name in constants:
                rows[i][field_name] = constants[field_name]
            else:
                del rows[i][field_name]
            message = f"{column}: {parsed[i].reason}"
            feature = _FeatureId(numbers[i], fids[i])
            per_feature[i].append(_issue(name, feature, field_name, message, raws[i], "value"))
    stem = source.path.stem
    for values, number, fid in zip(rows, numbers, fids, strict=True):
        if values.get("source_id") is None:
            values["source_id"] = f"{stem}:{fid or number}"
    for spec in record_type.fields:
        if not spec.required:
            continue
        where = (
            f" (column {columns[spec.name]!r} is empty)"
            if spec.name in columns
            else f" (no column; map one with --map {spec.name}=COLUMN or --set {spec.name}=VALUE)"
        )
        message = f"required field {spec.name} is missing{where}"
        reported = unparsed.get(spec.name, set())
        for i, values in enumerate(rows):
            if values.get(spec.name) is None and i not in reported:
                feature = _FeatureId(numbers[i], fids[i])
                per_feature[i].append(_issue(name, feature, spec.name, message, None, "required"))
    key_field = "ref" if "ref" in columns else "source_id"
    seen_keys: dict[str, int] = {}
    for i, (values, issues) in enumerate(zip(rows, per_feature, strict=True)):
        key = values.get(key_field)
        if key is None:
            continue
        if key in seen_keys:
            message = f"duplicate {key_field} {key!r} (also feature {seen_keys[key]})"
            issues.append(_issue(name, _FeatureId(numbers[i], fids[i]), key_field, message, key, "duplicate"))
        else:
            seen_keys[key] = numbers[i]
    return list(zip(numbers, rows, strict=True)), per_feature


def _parse_column(spec: FieldSpec, raws: list[Any]) -> list[Any]:
    """``spec.parse`` of each raw value, once per distinct value; an ``_Invalid`` with the
    reason where it fails."""
    if spec.kind == "str":
        # the common case of text read as text, as ``FieldSpec.parse`` has it: stripped, or None
        return [(raw.strip() or None) if type(raw) is str else _parse_or_invalid(spec, raw) for raw in raws]
    try:
        distinct: dict[Any, Any] = dict.fromkeys(raws)
    except TypeError:  # unhashable (a list from a JSON property)
        return [_parse_or_invalid(spec, raw) for raw in raws]
    for raw in distinct:
        distinct[raw] = _parse_or_invalid(spec, raw)
    return [distinct[raw] for raw in raws]


class _Validity:
    """Validity (GEOS), the slowest rule, in threads of its own (one per core; GEOS lets go of
    the GIL). It is needed only at the end (before an import commits): its threads yield to the
    work the import waits on (``_yielding_thread``) and take what is left. It can begin while
    the file is still read (``read_batch``, the reader's ``on_geometries``): the core GDAL
    leaves idle then does a third of it. ``check`` then uses what was begun if the geometry to
    check is the very one read (same objects, no change of CRS), else checks it anew."""

    def __init__(self) -> None:
        self._workers = os.cpu_count() or 1
        self._pool = ThreadPoolExecutor(max_workers=self._workers, initializer=_yielding_thread)
        self._read: list[tuple[int, np.ndarray, Future[np.ndarray]]] = []
        self._parts: list[tuple[np.ndarray | slice, Future[np.ndarray]]] = []

    def read_batch(self, offset: int, geoms: np.ndarray) -> None:
        """Begin on rows ``offset``… as the reader gives them (``None`` where none)."""
        self._read.append((offset, geoms, self._pool.submit(shapely.is_valid, geoms)))

    def check(self, geoms: np.ndarray, present: np.ndarray, *, as_read: bool) -> None:
        """Check ``geoms`` (the rows' geometry; ``present``: where there is one)."""
        if as_read and self._read and self._same(geoms):
            self._parts = [(slice(offset, offset + len(batch)), done) for offset, batch, done in self._read]
            return
        for _offset, _batch, done in self._read:
            done.cancel()
        parts = np.array_split(present, self._workers) if len(present) >= 10_000 else [present]
        self._parts = [
            (part, self._pool.submit(shapely.is_valid, geoms[part].astype(object))) for part in parts
        ]
        self._read = []

    def _same(self, geoms: np.ndarray) -> bool:
        """Whether the batches begun while reading hold exactly these objects, in this order."""
        if sum(len(batch) for _o, batch, _d in self._read) != len(geoms):
            return False
        return all(
            list(map(id, batch)) == list(map(id, geoms[offset : offset + len(batch)]))
            for offset, batch, _done in self._read
        )

    def result(self, count: int) -> np.ndarray:
        """Whether each of the ``count`` rows is valid (False where it has no geometry)."""
        valid = np.zeros(count, dtype=bool)
        for where, done in self._parts:
            valid[where] = done.result()
        return valid

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


#: how much lower the validity threads' priority is (Linux nice steps)
_VALIDITY_NICENESS = 10


def _yielding_thread() -> None:
    """Lower this thread's CPU priority (Linux, where each thread has its own nice value): the
    cores then go first to the work an import waits on (this thread's caller, the database
    writer, the canonical form and the areas), and validity, which has until the commit, gets
    what they leave. Measured: ~1 s less for 100k polygons on 2 cores. Elsewhere, or if
    refused, nothing changes."""
    if sys.platform != "linux":
        return
    try:
        me = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, me, os.getpriority(os.PRIO_PROCESS, me) + _VALIDITY_NICENESS)
    except OSError:
        pass


def _normal_form(geoms: np.ndarray) -> np.ndarray:
    """The geometries in one canonical form (2D, ring order and orientation), so that the same
    shape compares equal."""
    flat = np.asarray(shapely.has_z(geoms) | shapely.has_m(geoms))
    if flat.any():
        geoms = geoms.copy()
        geoms[flat] = shapely.force_2d(geoms[flat])
    normal: np.ndarray = shapely.normalize(geoms)
    return normal


def _quick_good(geoms: np.ndarray) -> np.ndarray:
    """Which geometries pass the quick rules as polygons: non-empty, polygonal, inside the
    world (those that also are valid are plainly good: ``check_geometry`` would find nothing).
    The same before and after ``_normal_form``, which changes none of these."""
    bounds = shapely.bounds(geoms)
    in_world = (
        np.isfinite(bounds).all(axis=1)
        & (bounds[:, 0] >= -180)
        & (bounds[:, 2] <= 180)
        & (bounds[:, 1] >= -90)
        & (bounds[:, 3] <= 90)
    )
    quick: np.ndarray = ~shapely.is_empty(geoms) & in_world & np.isin(shapely.get_type_id(geoms), (3, 6))
    return quick


def _centres(geoms: np.ndarray) -> np.ndarray:
    """Where each geometry is, for the swapped-axes rule: the centre (x, y) of its bounding box.
    (The rule's distances are of a degree and more; a hazard area's box is far smaller. Its
    centroid said the same at 20 times the cost: 0.3-0.7 s of CPU for 100k polygons.)"""
    bounds = shapely.bounds(geoms)
    return np.column_stack([(bounds[:, 0] + bounds[:, 2]) / 2, (bounds[:, 1] + bounds[:, 3]) / 2])


@dataclass(frozen=True)
class _Invalid:
    reason: str


def _parse_or_invalid(spec: FieldSpec, raw: Any) -> Any:
    try:
        return spec.parse(raw)
    except ValueError as exc:
        return _Invalid(str(exc))


def _issue(
    file_name: str,
    feature: RawFeature | _FeatureId,
    field_name: str,
    message: str,
    value: Any,
    code: str,
    **extra: Any,
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


def transformer_for(
    source: SourceLayer, crs_option: str | None
) -> tuple[pyproj.Transformer | None, str | None]:
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
    if not by_ref and not by_source:  # all new (the first import of a file, say)
        return [None] * len(rows)
    out = []
    for _n, values, _g in rows:
        if values.get("ref"):
            out.append(by_ref.get(values["ref"]))
        else:
            out.append(by_source.get(values["source_id"]))
    return out


def file_sha256(path: Path, stop: threading.Event | None = None) -> str:
    """The file's SHA-256 (hex); ``""`` when ``stop`` is set before the end. Read into one
    buffer: a new 1 MiB block per read costs the kernel a fresh mapping each time."""
    digest = hashlib.sha256()
    buffer = bytearray(1 << 20)
    view = memoryview(buffer)
    with path.open("rb", buffering=0) as handle:
        while size := handle.readinto(buffer):
            if stop is not None and stop.is_set():
                return ""
            digest.update(view[:size])
    return digest.hexdigest()
