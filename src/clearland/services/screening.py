"""Bulk screening (``clearland screen``): which of millions of GPS fixes entered or came near a
recorded hazard area. The input is streamed in batches, each screened on every core, and written
out at once: memory holds the index and a few batches, whatever the size of the input. Reading
the next batch and writing the last one run beside the screening of the current one."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from clearland.io.points import PointBatch, PointSource, ResultWriter, open_points
from clearland.services.registry import Registry, read_limits
from clearland.services.safety import DEFAULT_WITHIN_M, NOT_PROOF, check_within, indexed
from clearland.spatial.index import screen_parallel

#: (points done, points expected or None) after each batch
ScreenProgress = Callable[[int, int | None], None]
INVALID = "invalid_input"
#: status codes of the output: the index's 0 no_record, 1 near, 2 inside; then invalid input
STATUS_NAMES = np.array(["no_record", "near", "inside", INVALID], dtype=object)
_INVALID_CODE = 3


def screen(
    registry: Registry,
    source: str | Path,
    out: str | Path,
    *,
    within_m: float = DEFAULT_WITHIN_M,
    lon_col: str | None = None,
    lat_col: str | None = None,
    id_col: str | None = None,
    time_col: str | None = None,
    workers: int | None = None,
    batch_size: int = 250_000,
    progress: ScreenProgress | None = None,
) -> dict[str, Any]:
    """Screen every point of ``source`` into ``out`` (CSV or GeoParquet), one row per point:
    id, status (inside, near, no_record, invalid_input), nearest hazard ref, distance_m, reason."""
    check_within(within_m)
    started = time.perf_counter()
    limits = read_limits(registry)
    # one thread reads the next batch, the other writes the last one (both mostly in Arrow,
    # without the GIL) while this one screens; the first batch is read while the index is found
    io = ThreadPoolExecutor(max_workers=2, thread_name_prefix="clearland-screen-io")
    writer: ResultWriter | None = None
    writing: Future[None] | None = None
    try:
        opening = io.submit(_open, source, lon_col, lat_col, id_col, time_col, batch_size, limits)
        index, refs, status = indexed(registry)
        points, first = opening.result()
        writer = ResultWriter(out)
        names = pa.array(STATUS_NAMES.tolist(), pa.string())
        ref_names = pa.array(refs, pa.string())
        counts = np.zeros(len(STATUS_NAMES), np.int64)
        reasons: Counter[str] = Counter()
        done = 0
        for batch in _read_ahead(first, iter(points), io):
            code, nearest, distance = _screen_batch(index, batch, within_m, workers)
            reason = pa.nulls(len(batch), pa.string())
            if batch.reason:
                texts = np.full(len(batch), None, dtype=object)
                for row, text in batch.reason.items():
                    texts[row] = text
                    reasons[_reason_kind(text)] += 1
                reason = pa.array(texts, pa.string())
            columns = {
                "id": batch.ids,
                "status": _decode(code, names),
                "nearest_ref": _decode(nearest, ref_names),
                "distance_m": pa.array(distance, pa.float64(), from_pandas=True),
                "reason": reason,
                "lon": batch.lon,
                "lat": batch.lat,
            }
            if writing is not None:
                writing.result()
            writing = io.submit(writer.write, columns)
            counts += np.bincount(code, minlength=len(counts))
            done += len(batch)
            if progress is not None:
                progress(done, points.total)
        if writing is not None:
            writing.result()
            writing = None
        writer.commit()
    except BaseException:
        if writing is not None:
            writing.exception()  # wait: the file is not closed under a running write
        if writer is not None:
            writer.abort()
        raise
    finally:
        io.shutdown(wait=True, cancel_futures=True)
    seconds = time.perf_counter() - started
    return {
        "input": str(source),
        "output": str(out),
        "driver": points.driver,
        "columns": points.columns,
        "points": done,
        "within_m": within_m,
        "counts": {
            name: int(counts[i]) for i, name in ((2, "inside"), (1, "near"), (0, "no_record"), (3, INVALID))
        },
        "invalid_reasons": dict(reasons.most_common()),
        "hazard_areas_indexed": len(index),
        "index_cached": index.loaded,
        "index_build_seconds": 0.0 if index.loaded else round(index.build_seconds, 3),
        "index_load_seconds": round(index.load_seconds, 3),
        "seconds": round(seconds, 3),
        "points_per_second": round(done / seconds) if seconds > 0 else None,
        "registry": {"revision": status["revision"], "latest_information": status["latest_information"]},
        "notice": NOT_PROOF,
    }


def _open(
    source: str | Path,
    lon_col: str | None,
    lat_col: str | None,
    id_col: str | None,
    time_col: str | None,
    batch_size: int,
    limits: Any,
) -> tuple[PointSource, PointBatch | None]:
    """The points of ``source`` and their first batch (None if there is none)."""
    points = open_points(
        source,
        lon_col=lon_col,
        lat_col=lat_col,
        id_col=id_col,
        time_col=time_col,
        batch_size=batch_size,
        limits=limits,
    )
    return points, next(iter(points), None)


def _read_ahead(
    first: PointBatch | None, batches: Iterator[PointBatch], io: ThreadPoolExecutor
) -> Iterator[PointBatch]:
    """``first`` and the batches after it, the next one read on ``io`` while the caller works
    on this one."""
    batch = first
    while batch is not None:
        ahead = io.submit(next, batches, None)
        yield batch
        batch = ahead.result()


def _screen_batch(
    index: Any, batch: PointBatch, within_m: float, workers: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per point: status code (see STATUS_NAMES), nearest hazard (-1 none) and distance_m."""
    n = len(batch)
    valid = np.isfinite(batch.lon) & np.isfinite(batch.lat)
    if valid.all():
        result = screen_parallel(index, batch.lon, batch.lat, within_m, workers=workers)
        return result.status.astype(np.int64), result.nearest, np.round(result.distance_m, 2)
    code = np.full(n, _INVALID_CODE, np.int64)
    nearest = np.full(n, -1, np.int64)
    distance = np.full(n, np.nan)
    if valid.any():
        result = screen_parallel(index, batch.lon[valid], batch.lat[valid], within_m, workers=workers)
        code[valid] = result.status
        nearest[valid] = result.nearest
        distance[valid] = np.round(result.distance_m, 2)
    return code, nearest, distance


def _decode(codes: np.ndarray, values: pa.Array) -> pa.Array:
    """``values[codes]`` as strings, null where the code is negative: done in Arrow."""
    indices = pa.array(codes.astype(np.int32), pa.int32(), mask=codes < 0)
    return pa.DictionaryArray.from_arrays(indices, values).cast(pa.string())


def _reason_kind(text: str) -> str:
    """Group reasons for the summary: 'latitude 95 is outside ±90' → 'latitude outside ±90'."""
    for words in (
        "corrupt timestamp",
        "cannot be read",
        "is not a number",
        "missing longitude",
        "missing latitude",
        "missing geometry",
        "outside ±90",
        "outside ±180",
        "not a point",
    ):
        if words in text:
            return words
    return text
