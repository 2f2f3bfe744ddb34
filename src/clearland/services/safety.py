"""Safety checks: does this point, route or field touch a recorded hazard, or come near one?

Answers follow DOMAIN.md ("Safety check answers"): ``inside`` / ``near`` / ``no_record``, every
hazard involved, the registry revision and the date of its latest approved information, and the
words that no record is not proof of safety. The index holds the land not yet released (the
remaining geometry) of hazard areas that are not closed; it is rebuilt when the revision changes.

The index is kept in memory per database and revision, and on disk next to a SQLite file
(``<db>.index/rev<revision>-fmt<format>/``; other databases under
``$XDG_CACHE_HOME/clearland/``), so that a command started afresh maps it back in a fraction of
a second instead of reading every hazard and building it again. A cached index is used only if
its manifest names this revision and this registry's fingerprint (the time and number of its
approval decisions) and every array matches its recorded size and CRC-32; anything else is
rebuilt from the registry, never trusted. It is written to a temporary folder and renamed into
place, and older revisions are removed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import shutil
import stat
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from clearland.domain.geometry import check_geometry
from clearland.domain.vocab import HazardStatus, RecordKind
from clearland.errors import InputError, InputFileError
from clearland.io.points import GPS_EPOCH, open_points
from clearland.services.queries import registry_status
from clearland.services.registry import Registry, read_limits
from clearland.spatial.index import FORMAT_VERSION, HazardIndex, Hit, IndexedHazard, IndexFileError
from clearland.storage import schema as t
from clearland.storage.repository import SCHEMA_HEAD, Store, Tx

log = logging.getLogger("clearland.safety")

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
#: a temporary folder of the disk cache older than this is a leftover: removed
_STALE_TMP_S = 3600.0

#: how long the registry state last read (revision, latest information, index) is relied on
#: without asking the database again, seconds. A SQLite registry is also asked again at once
#: whenever its files change (size, time or inode of the database and its WAL), so a change
#: made by any process shows at the next check; a server database is asked again after this.
STATE_MAX_AGE_S = 1.0


@dataclass(frozen=True)
class _Known:
    """What was read of one database: its revision and fingerprint, the index built for them,
    its status, and when (and at which state of its files) that was read."""

    revision: int
    fingerprint: str | None
    index: HazardIndex
    status: dict[str, Any]
    files: tuple[Any, ...] | None  # see _files_state; None: never taken as unchanged
    read_at: float  # time.monotonic()


# per database URL
_cache: dict[str, _Known] = {}
_cache_lock = threading.Lock()


def hazard_index(registry: Registry) -> tuple[HazardIndex, dict[str, Any]]:
    """The index of the registry as it is now, and its status (revision, latest information);
    built once per revision and database, kept in memory and on disk."""
    index, _refs, status = indexed(registry)
    return index, status


def indexed(registry: Registry) -> tuple[HazardIndex, np.ndarray, dict[str, Any]]:
    """``hazard_index`` and the refs of the indexed hazards, in the index's order.

    Each request of a server would otherwise read the revision, the fingerprint and the status
    afresh (half a dozen queries, most of a check's time): they are taken as they were last read
    for up to ``STATE_MAX_AGE_S``, and for a SQLite file only while its files are unchanged."""
    store = registry.store
    key = str(store.url)
    known = _known(store)
    if known is not None:
        return known.index, known.index.refs, dict(known.status)
    # taken before reading: a change made meanwhile makes the next call read again
    files = _files_state(store)
    read_at = time.monotonic()
    status = registry_status(registry)
    with _cache_lock:
        built = False
        with store.read() as tx:
            revision = tx.revision()
            fingerprint = _fingerprint(tx)
            cached = _cache.get(key)
            if cached is not None and (cached.revision, cached.fingerprint) == (revision, fingerprint):
                status = {**status, "revision": revision}
                _cache[key] = _Known(revision, fingerprint, cached.index, status, files, read_at)
                return cached.index, cached.index.refs, dict(status)
            # with no fingerprint nothing on disk can be told apart from another registry's
            root = index_cache_dir(store) if fingerprint is not None else None
            index = (
                None if root is None else _load_cached(root / _cache_name(revision), revision, fingerprint)
            )
            if index is None:
                index = _build(tx)  # the rows of this transaction: the revision read above
                built = True
        if built and root is not None:
            try:
                _save_cached(root, revision, fingerprint, index)
            except OSError as exc:  # a read-only folder, a full disk: work on, rebuild next time
                log.warning("cannot keep the hazard index in %s: %s", root, exc)
        status = {**status, "revision": revision}
        _cache[key] = _Known(revision, fingerprint, index, status, files, read_at)
        return index, index.refs, dict(status)


def _known(store: Store) -> _Known | None:
    """What was last read of this database, while it may still be relied on."""
    known = _cache.get(str(store.url))
    if known is None or known.files is None or time.monotonic() - known.read_at >= STATE_MAX_AGE_S:
        return None
    return known if _files_state(store) == known.files else None


def _files_state(store: Store) -> tuple[Any, ...] | None:
    """What changes whenever a SQLite registry is written: inode, size and modification time
    of the database file and of its WAL (absent: None). For a server database the writes this
    process made to it (another process's writes count after ``STATE_MAX_AGE_S``); None for a
    SQLite database with no file (in memory, or missing), which is always read again."""
    if store.sqlite_path is None:
        return (store.writes_seen(),) if make_url(store.url).get_backend_name() != "sqlite" else None
    name = str(store.sqlite_path)
    if name in ("", ":memory:") or name.startswith("file:"):
        return None
    state: list[Any] = []
    for path in (name, name + "-wal"):
        try:
            info = os.stat(path)
        except FileNotFoundError:
            if path == name:
                return None
            state.append(None)
            continue
        except OSError:
            return None
        state.append((info.st_ino, info.st_size, info.st_mtime_ns))
    return tuple(state)


def index_cache_dir(store: Store) -> Path | None:
    """Where the index of this database is kept on disk: ``<db>.index`` next to a SQLite file,
    ``$XDG_CACHE_HOME/clearland/index-<hash of the URL>`` for a server database; None for an
    in-memory database."""
    if store.sqlite_path is not None:
        name = str(store.sqlite_path)
        if name in ("", ":memory:") or name.startswith("file:"):
            return None
        return store.sqlite_path.with_name(store.sqlite_path.name + ".index")
    url = make_url(store.url)
    if url.get_backend_name() == "sqlite":
        return None
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "clearland"
    digest = hashlib.sha256(url.render_as_string(hide_password=True).encode()).hexdigest()[:16]
    return base / f"index-{digest}"


def _fingerprint(tx: Tx) -> str | None:
    """What tells this registry's state apart from another's at the same revision (a database
    replaced by another one, say): the number and the latest time of its approval decisions.
    None if it cannot be read: then nothing is taken from the disk cache."""
    r = t.reports
    try:
        count, latest, last_seq = tx.conn.execute(
            select(func.count(), func.max(r.c.decided_at), func.max(r.c.approval_seq)).where(
                r.c.approval_seq.is_not(None)
            )
        ).one()
    except SQLAlchemyError:
        return None
    return f"{SCHEMA_HEAD}:{count}:{latest}:{last_seq}"


def _cache_name(revision: int) -> str:
    return f"rev{revision}-fmt{FORMAT_VERSION}"


def _build(tx: Tx) -> HazardIndex:
    hazards = [
        IndexedHazard(
            ref=h["ref"],
            category=h["category"],
            status=h["status"],
            marking=h.get("marking"),
            geometry=h["geometry"] if h.get("remaining_geometry") is None else h["remaining_geometry"],
        )
        for h in tx.current(RecordKind.HAZARD_AREA)
        if h["status"] != HazardStatus.CLOSED.value
    ]
    return HazardIndex([h for h in hazards if not h.geometry.is_empty])


def _load_cached(path: Path, revision: int, fingerprint: str | None) -> HazardIndex | None:
    if not path.is_dir():
        return None
    try:
        index = HazardIndex.load(path)
    except IndexFileError as exc:
        log.warning("hazard index cache %s cannot be used, rebuilding: %s", path, exc)
        return None
    if index.meta.get("revision") != revision or index.meta.get("fingerprint") != fingerprint:
        log.info("hazard index cache %s is of another registry state, rebuilding", path)
        return None
    return index


def _save_cached(root: Path, revision: int, fingerprint: str | None, index: HazardIndex) -> None:
    """Write to a temporary folder, then rename it into place (replacing a bad one); remove
    older revisions and leftovers."""
    root.mkdir(parents=True, exist_ok=True)
    final = root / _cache_name(revision)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{final.name}-", dir=root))
    try:
        os.chmod(tmp, stat.S_IMODE(root.stat().st_mode))  # readable by whoever may read the cache folder
        index.save(tmp, meta={"revision": revision, "fingerprint": fingerprint})
        if final.exists():
            old = Path(tempfile.mkdtemp(prefix=f".old-{final.name}-", dir=root))
            os.replace(final, old / final.name)
            shutil.rmtree(old, ignore_errors=True)
        os.rename(tmp, final)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not final.is_dir():  # else another process put one there meanwhile: it is checked on use
            raise
    _prune(root, revision)


def _prune(root: Path, revision: int) -> None:
    """Remove the folders of older revisions and formats, and leftovers older than an hour
    (a younger one may be another process at work)."""
    now = time.time()
    try:
        entries = list(root.iterdir())
    except OSError:
        return
    for entry in entries:
        name = entry.name
        if name.startswith((".tmp-", ".old-")):
            try:
                stale = now - entry.stat().st_mtime > _STALE_TMP_S
            except OSError:
                continue
        elif name.startswith("rev") and "-fmt" in name:
            rev, _, fmt = name[3:].partition("-fmt")
            stale = fmt != str(FORMAT_VERSION) or (rev.isdigit() and int(rev) < revision)
        else:
            continue
        if stale:
            shutil.rmtree(entry, ignore_errors=True)


def check_point(
    registry: Registry, lon: float, lat: float, within_m: float = DEFAULT_WITHIN_M
) -> dict[str, Any]:
    _check_position(lon, lat, within_m)
    index, status = hazard_index(registry)
    return _point_answer(index, status, lon, lat, within_m)


def check_point_if_known(
    registry: Registry, lon: float, lat: float, within_m: float = DEFAULT_WITHIN_M
) -> dict[str, Any] | None:
    """``check_point`` from what is in memory already, never waiting on the database; None when
    the registry must be read first (its files changed, or ``STATE_MAX_AGE_S`` passed): then
    ``check_point`` answers, where waiting is allowed (not on a server's event loop)."""
    _check_position(lon, lat, within_m)
    known = _known(registry.store)
    if known is None:
        return None
    return _point_answer(known.index, dict(known.status), lon, lat, within_m)


def _check_position(lon: float, lat: float, within_m: float) -> None:
    check_within(within_m)
    if not (np.isfinite(lon) and np.isfinite(lat)) or abs(lat) > 90 or abs(lon) > 180:
        hint = " (longitude first: LON LAT)" if abs(lat) > 90 and abs(lon) <= 90 else ""
        raise InputError(
            f"({lon}, {lat}) is not a position: longitude within ±180, latitude within ±90{hint}"
        )


def _point_answer(
    index: HazardIndex, status: dict[str, Any], lon: float, lat: float, within_m: float
) -> dict[str, Any]:
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
    # imported here: the file readers (GDAL) are needed by route and area checks only, not by
    # point checks or screening, which start faster without them
    from clearland.io import read_layer
    from clearland.services.imports import transformer_for

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
        category, status, marking = index.describe(hit.ref)
        hazards.append(
            {
                "ref": hit.ref,
                "category": category,
                "status": status,
                "marking": marking,
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
    "check_point_if_known",
    "check_within",
    "hazard_index",
    "indexed",
]
