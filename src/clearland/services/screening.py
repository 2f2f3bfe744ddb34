"""Bulk screening (``clearland screen``): which of millions of GPS fixes entered or came near a
recorded hazard area. The input is streamed in batches, each screened on every core, and written
out at once: memory holds the index and a few batches, whatever the size of the input."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from clearland.io.points import ResultWriter, open_points
from clearland.services.imports import read_limits
from clearland.services.registry import Registry
from clearland.services.safety import DEFAULT_WITHIN_M, NOT_PROOF, check_within, indexed
from clearland.spatial.index import screen_parallel

#: (points done, points expected or None) after each batch
ScreenProgress = Callable[[int, int | None], None]
STATUS_NAMES = np.array(["no_record", "near", "inside"], dtype=object)
INVALID = "invalid_input"


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
    batch_size: int = 200_000,
    progress: ScreenProgress | None = None,
) -> dict[str, Any]:
    """Screen every point of ``source`` into ``out`` (CSV or GeoParquet), one row per point:
    id, status (inside, near, no_record, invalid_input), nearest hazard ref, distance_m, reason."""
    check_within(within_m)
    started = time.perf_counter()
    index, refs, status = indexed(registry)
    points = open_points(
        source,
        lon_col=lon_col,
        lat_col=lat_col,
        id_col=id_col,
        time_col=time_col,
        batch_size=batch_size,
        limits=read_limits(registry),
    )
    writer = ResultWriter(out)
    counts: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    done = 0
    try:
        for batch in points:
            valid = np.isfinite(batch.lon) & np.isfinite(batch.lat)
            n = len(batch)
            names = np.full(n, INVALID, dtype=object)
            nearest_ref = np.full(n, None, dtype=object)
            distance = np.full(n, np.nan)
            if valid.any():
                result = screen_parallel(index, batch.lon[valid], batch.lat[valid], within_m, workers=workers)
                names[valid] = STATUS_NAMES[result.status]
                hit = result.nearest >= 0
                nearest = np.full(int(valid.sum()), None, dtype=object)
                nearest[hit] = refs[result.nearest[hit]]
                nearest_ref[valid] = nearest
                distance[valid] = np.round(result.distance_m, 2)
            reason = np.full(n, None, dtype=object)
            for row, text in batch.reason.items():
                reason[row] = text
                reasons[_reason_kind(text)] += 1
            writer.write(
                {
                    "id": batch.ids,
                    "status": pa.array(names, pa.string()),
                    "nearest_ref": pa.array(nearest_ref, pa.string()),
                    "distance_m": pa.array(distance, pa.float64(), from_pandas=True),
                    "reason": pa.array(reason, pa.string()),
                    "lon": batch.lon,
                    "lat": batch.lat,
                }
            )
            values, freq = np.unique(names.astype(str), return_counts=True)
            counts.update(dict(zip(values.tolist(), freq.tolist(), strict=True)))
            done += n
            if progress is not None:
                progress(done, points.total)
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    seconds = time.perf_counter() - started
    return {
        "input": str(source),
        "output": str(out),
        "driver": points.driver,
        "columns": points.columns,
        "points": done,
        "within_m": within_m,
        "counts": {name: counts.get(name, 0) for name in ("inside", "near", "no_record", INVALID)},
        "invalid_reasons": dict(reasons.most_common()),
        "hazard_areas_indexed": len(index),
        "index_build_seconds": round(index.build_seconds, 3),
        "seconds": round(seconds, 3),
        "points_per_second": round(done / seconds) if seconds > 0 else None,
        "registry": {"revision": status["revision"], "latest_information": status["latest_information"]},
        "notice": NOT_PROOF,
    }


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
