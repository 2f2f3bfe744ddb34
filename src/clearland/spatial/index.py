"""The hazard index: which recorded hazards a point, route or field touches or comes near.

Two paths give the same answers. ``check`` answers one geometry exactly: candidates whose lon/lat
envelopes lie within a rigorous degree bound of the distance, containment by GEOS in lon/lat,
distance in an azimuthal equidistant projection centred on the query and measured again with
``pyproj.Geod`` (see ``exact``). ``screen`` answers millions of points with a two-level grid
(see ``grid`` and ``screen``), and hands the few points it cannot take (beyond 80° of latitude,
or whose reach wraps the antimeridian) to ``check``.

The threshold is ``decision_m(within_m)``: ``within_m`` plus the promised tolerance (0.5 % or
0.5 m, whichever is larger), so a hazard that is in fact within ``within_m`` is never reported as
``no_record``; one a little beyond it may be reported ``near`` with its true distance.

An index is plain arrays: ``save`` writes them to a directory (one ``.npy`` each, no pickles,
and a ``manifest.json`` with every array's dtype, shape, size and CRC-32), ``load`` maps them
back into memory after checking all of that, and refuses (``IndexFileError``) anything that does
not match. A geometry is decoded only when a check needs it: a polygon without holes from its
vertices, anything else from WKB.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import multiprocessing
import os
import threading
import time
import zlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import shapely

from .exact import expand, nearest_pair
from .geodesy import FRAME_LAT_LIMIT, decision_m
from .grid import CELL_DEG, SUB, Cells, Edges, Grid, build_grid, decompose
from .screen import STATUS_INSIDE, STATUS_NEAR, Plan, ScreenResult, screen_grid

__all__ = ["HazardIndex", "Hit", "IndexFileError", "IndexedHazard", "ScreenResult", "screen_parallel"]

#: what ``save`` writes; ``load`` takes only this format and version
FORMAT = "clearland-hazard-index"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
_MANIFEST_MAX_BYTES = 1 << 20


class IndexFileError(Exception):
    """A saved index that is missing, partial, corrupt or of another format."""


@dataclass(frozen=True)
class IndexedHazard:
    ref: str
    category: str
    status: str
    marking: str | None
    geometry: shapely.Geometry  # EPSG:4326 lon/lat; Polygon/MultiPolygon, Point/MultiPoint for an indication


@dataclass(frozen=True)
class Hit:
    ref: str
    inside: bool  # the query geometry intersects the hazard (boundary included)
    distance_m: float  # 0.0 when inside; else the geodesic distance on WGS84, metres
    bearing_deg: float | None  # from the query's nearest point to the hazard's, degrees true; None inside


class HazardIndex:
    """Built once from the hazards to check against (the caller leaves out released land and
    closed hazards); read-only afterwards, so threads and forked processes may share it.
    Geometries must be valid (as the registry stores them): containment follows the crossing
    rule, which is GEOS's for valid polygons. ``cell_deg`` is the coarse grid's cell height in
    degrees of latitude (made larger where the extent would need more than 2^24 cells); busy
    coarse cells are split in ``SUB`` × ``SUB`` fine cells."""

    def __init__(self, hazards: Sequence[IndexedHazard], *, cell_deg: float = CELL_DEG) -> None:
        started = time.perf_counter()
        n = len(hazards)
        self._refs = _strings([h.ref for h in hazards])
        self._category = _strings([h.category for h in hazards])
        self._status = _strings([h.status for h in hazards])
        self._marking = _strings([h.marking or "" for h in hazards])
        self._marking_set = np.array([h.marking is not None for h in hazards], bool)
        self._geoms = np.empty(n, dtype=object)
        self._geoms[:] = [h.geometry for h in hazards]
        self._wkb: tuple[np.ndarray, np.ndarray] | None = None
        self._bounds = shapely.bounds(self._geoms).reshape(n, 4)
        self._piece_hazard, self._edges, n_plain = decompose(self._geoms)
        # a plain polygon's geometry is its vertices: saved as such, other geometries as WKB
        ends = np.flatnonzero(~self._edges.ok)[:n_plain] + 1
        self._plain_span = np.full((n, 2), -1, np.int64)
        self._plain_span[self._piece_hazard[:n_plain], 0] = np.r_[0, ends[:-1]][:n_plain]
        self._plain_span[self._piece_hazard[:n_plain], 1] = ends
        self._cell_deg = cell_deg
        self._grids: dict[float, Grid] = {}
        if self._edges.count:
            self._grids[cell_deg] = build_grid(self._edges, cell_deg, sub=SUB)
        self._setup()
        self.build_seconds = time.perf_counter() - started
        self.load_seconds = 0.0
        self.loaded = False  # built here, not mapped back from a saved one
        self.meta: dict[str, Any] = {}

    def _setup(self) -> None:
        self._plans: dict[float, Plan] = {}
        self._lock = threading.Lock()
        self._position: dict[str, int] | None = None
        self._envelopes: shapely.STRtree | None = None

    def __len__(self) -> int:
        return len(self._refs)

    @property
    def refs(self) -> np.ndarray:
        """The hazards' refs, in the order ``screen`` numbers them."""
        return self._refs

    def hazard(self, ref: str) -> IndexedHazard:
        return self._hazard_at(self._positions()[ref])

    def describe(self, ref: str) -> tuple[str, str, str | None]:
        """A hazard's category, status and marking (its geometry left as it is)."""
        i = self._positions()[ref]
        marking = str(self._marking[i]) if self._marking_set[i] else None
        return str(self._category[i]), str(self._status[i]), marking

    @property
    def hazards(self) -> list[IndexedHazard]:
        self._geometries(np.arange(len(self)))
        return [self._hazard_at(i) for i in range(len(self))]

    def _hazard_at(self, i: int) -> IndexedHazard:
        return IndexedHazard(
            ref=str(self._refs[i]),
            category=str(self._category[i]),
            status=str(self._status[i]),
            marking=str(self._marking[i]) if self._marking_set[i] else None,
            geometry=self._geometries(np.array([i]))[0],
        )

    def _positions(self) -> dict[str, int]:
        if self._position is None:
            self._position = {str(ref): i for i, ref in enumerate(self._refs.tolist())}
        return self._position

    def _geometries(self, idx: np.ndarray) -> np.ndarray:
        """The geometries of hazards ``idx``, decoded from WKB on first use."""
        idx = np.asarray(idx, dtype=np.int64)
        if self._wkb is not None:
            missing = np.unique(idx[[g is None for g in self._geoms[idx]]])
            span = self._plain_span[missing]
            plain = span[:, 0] >= 0
            if plain.any():
                start, end = span[plain, 0], span[plain, 1]
                counts = end - start
                at = np.arange(int(counts.sum())) + np.repeat(start - (np.cumsum(counts) - counts), counts)
                rings = shapely.linearrings(
                    np.take(self._edges.xy, at, axis=0), indices=np.repeat(np.arange(len(counts)), counts)
                )
                self._geoms[missing[plain]] = shapely.polygons(rings)
            if (~plain).any():
                blob, offsets = self._wkb
                self._geoms[missing[~plain]] = shapely.from_wkb(
                    [bytes(blob[offsets[i] : offsets[i + 1]]) for i in missing[~plain]]
                )
        geoms: np.ndarray = self._geoms[idx]
        return geoms

    def check(self, geom: shapely.Geometry, within_m: float) -> list[Hit]:
        """Every hazard that ``geom`` intersects or comes within ``within_m`` of: inside first,
        then by distance."""
        if not len(self) or geom.is_empty:
            return []
        cutoff = decision_m(within_m)
        hits: dict[int, Hit] = {}
        candidates = self._candidates(geom, cutoff)
        geoms = self._geometries(np.array([i for i, _ in candidates], dtype=np.int64))
        for (i, shift), hazard in zip(candidates, geoms, strict=True):
            if shift == 0 and shapely.intersects(hazard, geom):
                hits[i] = Hit(str(self._refs[i]), True, 0.0, None)
                continue
            if i in hits and hits[i].inside:
                continue
            moved = (
                hazard
                if shift == 0
                else shapely.transform(hazard, lambda xy, s=shift: xy + np.array([s, 0.0]))
            )
            found = nearest_pair(geom, moved, cutoff)
            if found is None or found[0] > cutoff:
                continue
            if i not in hits or found[0] < hits[i].distance_m:
                hits[i] = Hit(str(self._refs[i]), False, found[0], found[1])
        return sorted(hits.values(), key=lambda h: (not h.inside, h.distance_m, h.ref))

    def _candidates(self, geom: shapely.Geometry, cutoff_m: float) -> list[tuple[int, float]]:
        """(hazard index, longitude shift) of every hazard whose envelope is within reach; the
        shift (±360) carries a hazard across the antimeridian to the query's side."""
        x0, y0, x1, y1 = expand(geom.bounds, cutoff_m)
        boxes = [(x0, x1, 0.0)]
        if x1 > 180:
            boxes.append((x0 - 360, x1 - 360, 360.0))
        if x0 < -180:
            boxes.append((x0 + 360, x1 + 360, -360.0))
        tree = self._envelope_tree()
        found: list[tuple[int, float]] = []
        for bx0, bx1, shift in boxes:
            lo, hi = max(bx0, -180.0), min(bx1, 180.0)
            # the tree narrows the search to envelopes meeting the box (a hair larger, so no
            # rounding of its own can drop one); the test on the bounds themselves decides
            near = np.sort(self._envelope_query(tree, lo, y0, hi, y1))
            b = self._bounds[near]
            hit = (b[:, 0] <= hi) & (b[:, 2] >= lo) & (b[:, 1] <= y1) & (b[:, 3] >= y0)
            found.extend((int(i), shift) for i in near[hit])
        return found

    def _envelope_tree(self) -> shapely.STRtree:
        """An R-tree of the hazards' envelopes, made on first use (a check scans a few of
        them instead of every hazard's bounds)."""
        tree = self._envelopes
        if tree is None:
            with self._lock:
                if self._envelopes is None:
                    b = np.asarray(self._bounds, dtype=np.float64)
                    self._envelopes = shapely.STRtree(shapely.box(b[:, 0], b[:, 1], b[:, 2], b[:, 3]))
                tree = self._envelopes
        return tree

    @staticmethod
    def _envelope_query(tree: shapely.STRtree, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
        pad = 1e-9 * max(1.0, abs(x0), abs(x1))
        box = shapely.box(x0 - pad, y0 - pad, x1 + pad, y1 + pad)
        return np.asarray(tree.query(box), dtype=np.int64)

    def screen(self, lon: np.ndarray, lat: np.ndarray, within_m: float) -> ScreenResult:
        """Per point: status (0 no_record, 1 near, 2 inside), the index of the nearest hazard hit
        (for inside, one that holds the point) and the distance in metres (0 inside, NaN none).
        Coordinates must be finite lon/lat degrees."""
        lon = np.asarray(lon, dtype=np.float64)
        lat = np.asarray(lat, dtype=np.float64)
        if not self._grids:
            return ScreenResult.empty(len(lon))
        plan = self.plan(within_m)
        result, exact = screen_grid(
            plan, self._edges, self._piece_hazard, lon, lat, FRAME_LAT_LIMIT, self._hazard_holds
        )
        positions = self._positions() if len(exact) else {}
        for i in exact:
            hits = self.check(shapely.Point(lon[i], lat[i]), within_m)
            if hits:
                first = hits[0]
                result.status[i] = STATUS_INSIDE if first.inside else STATUS_NEAR
                result.nearest[i] = positions[first.ref]
                result.distance_m[i] = first.distance_m
        return result

    def _hazard_holds(self, piece: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """GEOS containment of (x, y) by the hazard of each piece: a point a piece's arithmetic
        leaves in doubt is inside if its hazard holds it (by that piece or another)."""
        geoms = self._geometries(self._piece_hazard[piece])
        return np.asarray(shapely.intersects_xy(geoms, x, y), bool)

    def plan(self, within_m: float) -> Plan:
        """The grid and neighbourhood for ``within_m``, made once per threshold. A threshold much
        larger than the base cells gets a coarser grid, so a neighbourhood stays a few cells."""
        with self._lock:
            if within_m in self._plans:
                return self._plans[within_m]
            cell_deg = self._cell_deg
            plan = Plan.make(self._grids[cell_deg], within_m, FRAME_LAT_LIMIT)
            while plan.ky > 2:
                cell_deg *= 2 ** max(1, int(np.floor(np.log2(plan.ky / 2))))
                if cell_deg not in self._grids:
                    self._grids[cell_deg] = build_grid(self._edges, cell_deg)
                plan = Plan.make(self._grids[cell_deg], within_m, FRAME_LAT_LIMIT)
            self._plans[within_m] = plan
            return plan

    # -- saving and loading ---------------------------------------------------------------------

    def _arrays(self) -> dict[str, np.ndarray]:
        if self._wkb is None:
            other = np.flatnonzero(self._plain_span[:, 0] < 0)
            wkb = shapely.to_wkb(self._geoms[other])
            sizes = np.zeros(len(self), np.int64)
            sizes[other] = [len(w) for w in wkb]
            offsets = np.zeros(len(self) + 1, np.int64)
            np.cumsum(sizes, out=offsets[1:])
            self._wkb = (np.frombuffer(b"".join(wkb), np.uint8), offsets)
        arrays = {
            "refs": self._refs,
            "category": self._category,
            "status": self._status,
            "marking": self._marking,
            "marking_set": self._marking_set,
            "bounds": self._bounds,
            "plain_span": self._plain_span,
            "wkb": self._wkb[0],
            "wkb_offsets": self._wkb[1],
            "piece_hazard": self._piece_hazard,
            "xy": self._edges.xy,
            "vertex_piece": self._edges.piece,
            "edge_ok": self._edges.ok,
        }
        grid = self._grids.get(self._cell_deg)
        if grid is not None:
            arrays |= {
                "offsets": grid.offsets,
                "code": grid.code,
                "fine_offsets": grid.fine_offsets,
                "fine_interior": grid.fine_interior,
                "regs": grid.regs,
            }
        return arrays

    def save(self, path: str | Path, meta: dict[str, Any] | None = None) -> None:
        """Write the index to the directory ``path`` (created; it must not exist or be empty):
        the arrays first, ``manifest.json`` last. ``meta`` (JSON) is stored in the manifest and
        given back by ``load`` as ``index.meta``."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        entries = {}
        for name, array in self._arrays().items():
            array = np.ascontiguousarray(array)
            with (path / f"{name}.npy").open("wb") as fh:
                np.save(fh, array, allow_pickle=False)
            entries[name] = {
                "dtype": array.dtype.str,
                "shape": list(array.shape),
                "bytes": (path / f"{name}.npy").stat().st_size,
                "crc32": _crc32(array),
            }
        grid = self._grids.get(self._cell_deg)
        manifest = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "hazards": len(self),
            "refs_sha256": hashlib.sha256(np.ascontiguousarray(self._refs).tobytes()).hexdigest(),
            "cell_deg": self._cell_deg,
            "n_areal": self._edges.n_areal,
            "cells": None if grid is None else vars(grid.cells),
            "build_seconds": self.build_seconds,
            "arrays": entries,
            "meta": meta or {},
        }
        text = json.dumps(manifest, indent=1)
        with (path / MANIFEST).open("w", encoding="utf-8") as fh:
            fh.write(text)
        self.meta = dict(meta or {})

    @classmethod
    def load(cls, path: str | Path) -> HazardIndex:
        """The index saved in ``path``, its arrays memory-mapped read-only. Every array is
        checked against the manifest (dtype, shape, file size, CRC-32) and the grid for
        consistency; anything amiss raises ``IndexFileError``."""
        started = time.perf_counter()
        path = Path(path)
        manifest = _read_manifest(path)
        arrays: dict[str, np.ndarray] = {}
        try:
            entries = list(manifest["arrays"].items())
            # two at a time: reading and checking a large array leaves the GIL
            with ThreadPoolExecutor(max_workers=2) as pool:
                loaded = list(pool.map(lambda item: _load_array(path, *item), entries))
            arrays = {name: array for (name, _), array in zip(entries, loaded, strict=True)}
            self = cls.__new__(cls)
            n = int(manifest["hazards"])
            self._refs = arrays["refs"]
            self._category = arrays["category"]
            self._status = arrays["status"]
            self._marking = arrays["marking"]
            self._marking_set = arrays["marking_set"]
            self._bounds = arrays["bounds"]
            self._wkb = (arrays["wkb"], arrays["wkb_offsets"])
            self._plain_span = arrays["plain_span"]
            self._geoms = np.full(n, None, dtype=object)
            self._piece_hazard = arrays["piece_hazard"]
            self._edges = Edges(
                arrays["xy"], arrays["vertex_piece"], arrays["edge_ok"], int(manifest["n_areal"])
            )
            self._cell_deg = float(manifest["cell_deg"])
            self._grids = {}
            if manifest["cells"] is not None:
                self._grids[self._cell_deg] = Grid(
                    Cells(**manifest["cells"]),
                    arrays["offsets"],
                    arrays["code"],
                    arrays["fine_offsets"],
                    arrays["fine_interior"],
                    arrays["regs"],
                )
            digest = hashlib.sha256(np.ascontiguousarray(self._refs).tobytes()).hexdigest()
            if digest != manifest["refs_sha256"]:
                raise IndexFileError(f"{path}: the hazard refs do not match the manifest")
            _check_consistent(self, n)
        except (KeyError, TypeError, ValueError) as exc:
            raise IndexFileError(f"{path}: not a usable hazard index ({exc})") from exc
        self._setup()
        self.build_seconds = float(manifest.get("build_seconds", 0.0))
        self.meta = dict(manifest["meta"])
        self.loaded = True
        self.load_seconds = time.perf_counter() - started
        return self


def _strings(values: list[str]) -> np.ndarray:
    """A fixed-width unicode array (saved without pickling)."""
    return np.array(values, dtype=str) if values else np.zeros(0, dtype="<U1")


def _crc32(array: np.ndarray) -> int:
    data = np.ascontiguousarray(array).reshape(-1).view(np.uint8)
    crc = 0
    step = 1 << 26
    for lo in range(0, len(data), step):
        crc = zlib.crc32(data[lo : lo + step].data, crc)
    return crc


def _read_manifest(path: Path) -> dict[str, Any]:
    file = path / MANIFEST
    try:
        if file.stat().st_size > _MANIFEST_MAX_BYTES:
            raise IndexFileError(f"{file}: too large for a manifest")
        manifest = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IndexFileError(f"{file}: cannot be read ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise IndexFileError(f"{file}: not a {FORMAT} manifest")
    if manifest.get("version") != FORMAT_VERSION:
        raise IndexFileError(
            f"{file}: version {manifest.get('version')!r}, this clearland reads {FORMAT_VERSION}"
        )
    if not isinstance(manifest.get("arrays"), dict) or not isinstance(manifest.get("meta"), dict):
        raise IndexFileError(f"{file}: incomplete manifest")
    return manifest


def _load_array(path: Path, name: str, entry: dict[str, Any]) -> np.ndarray:
    file = path / f"{name}.npy"
    try:
        size = file.stat().st_size
    except OSError as exc:
        raise IndexFileError(f"{file}: missing ({exc})") from exc
    if size != entry["bytes"]:
        raise IndexFileError(f"{file}: {size} bytes, the manifest says {entry['bytes']}")
    dtype = np.dtype(entry["dtype"])
    if dtype.hasobject:
        raise IndexFileError(f"{file}: object arrays are not allowed")
    shape = tuple(int(s) for s in entry["shape"])
    array: np.ndarray
    try:
        if int(np.prod(shape)) == 0:
            array = np.load(file, allow_pickle=False)
        else:
            array = np.load(file, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise IndexFileError(f"{file}: cannot be read ({exc})") from exc
    if array.dtype != dtype or array.shape != shape:
        raise IndexFileError(f"{file}: {array.dtype} {array.shape}, the manifest says {dtype} {shape}")
    if _crc32(array) != entry["crc32"]:
        raise IndexFileError(f"{file}: contents do not match the manifest (CRC-32)")
    # a plain array over the same mapped memory: np.memmap wraps every slice and element it
    # gives in a memmap of its own, which costs more than the lookup in a safety check
    return array.view(np.ndarray) if isinstance(array, np.memmap) else array


def _check_consistent(index: HazardIndex, n: int) -> None:
    """Lengths and ranges that the arrays must agree on (their contents are what ``save``
    wrote, by the CRC: this guards against a manifest from elsewhere)."""
    e = index._edges
    ok = (
        all(len(a) == n for a in (index._refs, index._category, index._status, index._marking))
        and len(index._marking_set) == n
        and index._bounds.shape == (n, 4)
        and len(index._wkb[1] if index._wkb else []) == n + 1
        and index._plain_span.shape == (n, 2)
        and (not n or int(index._plain_span.max()) <= len(index._edges.xy))
        and e.xy.ndim == 2
        and e.xy.shape[1] == 2
        and len(e.xy) == len(e.piece) == len(e.ok)
        and 0 <= e.n_areal <= len(e.xy)
        and (not len(e.ok) or not e.ok[-1])
        and (not len(index._piece_hazard) or int(index._piece_hazard.max()) < n)
        and (not len(e.piece) or int(e.piece.max()) < len(index._piece_hazard))
    )
    for grid in index._grids.values():
        c = grid.cells
        ncells = c.ncol * c.nrow
        ok = ok and (
            len(grid.offsets) == ncells + 1
            and len(grid.code) == ncells
            and int(grid.offsets[-1]) <= len(grid.regs)
            and len(grid.fine_interior) % (c.sub * c.sub) == 0
            and len(grid.fine_offsets) in (1, len(grid.fine_interior) + 1)
            and int(grid.fine_offsets[-1]) <= len(grid.regs)
        )
    if not ok:
        raise IndexFileError("the saved arrays do not agree with each other")


# the index a forked worker screens with: set before the pool forks, inherited by the children
_FORKED: HazardIndex | None = None


def _screen_forked(lon: np.ndarray, lat: np.ndarray, within_m: float) -> ScreenResult:
    assert _FORKED is not None
    return _FORKED.screen(lon, lat, within_m)


def screen_parallel(
    index: HazardIndex,
    lon: np.ndarray,
    lat: np.ndarray,
    within_m: float,
    workers: int | None = None,
    *,
    method: Literal["threads", "fork"] = "threads",
) -> ScreenResult:
    """``index.screen`` over all cores for one large chunk: the same answers.

    ``threads`` shares the index in memory (GEOS and the large numpy operations release the
    GIL); ``fork`` starts a process pool that inherits the index copy-on-write and returns each
    part's arrays. On the two-core development machine threads are the faster (see the bench)."""
    workers = workers or os.cpu_count() or 1
    lon = np.asarray(lon, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    if workers <= 1 or len(lon) < 20_000:
        return index.screen(lon, lat, within_m)
    index.plan(within_m)  # made once, before the workers share it
    bounds = np.linspace(0, len(lon), 4 * workers + 1).astype(int)
    parts = [(lon[a:b], lat[a:b]) for a, b in itertools.pairwise(bounds)]
    if method == "fork":
        global _FORKED
        _FORKED = index
        try:
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                results = pool.starmap(_screen_forked, [(x, y, within_m) for x, y in parts])
        finally:
            _FORKED = None
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(lambda p: index.screen(p[0], p[1], within_m), parts))
    return ScreenResult.concat(results)
