"""GPS points in and screening results out, streamed in batches (``clearland screen``).

Input: CSV (longitude/latitude columns), GPX (track points, route points, waypoints), GeoJSON,
FlatGeobuf (point features) and GeoParquet (a WKB point column, or longitude/latitude columns).
A row that cannot be used is not an error: it gets a reason (missing or non-numeric coordinates,
latitude outside ±90, a corrupt timestamp) and its coordinates become NaN; the batch goes on.
Output: CSV or GeoParquet, one row per input point, written under a temporary name and renamed
when complete, so a failed run never leaves a half-written file under the name asked for.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import shapely

from clearland.io.safety import check_input_file, file_error
from clearland.io.types import ReadLimits

#: GPS time begins on 1980-01-06; a fix stamped earlier (e.g. 1901-12-13, the 32-bit minimum)
#: or more than a day in the future has a corrupt clock
GPS_EPOCH = dt.datetime(1980, 1, 6, tzinfo=dt.UTC)
POINT_FORMATS = {
    ".csv": "CSV",
    ".gpx": "GPX",
    ".geojson": "GeoJSON",
    ".json": "GeoJSON",
    ".fgb": "FlatGeobuf",
}
PARQUET_SUFFIXES = (".parquet", ".geoparquet")
OUTPUT_FORMATS = {".csv": "CSV", ".parquet": "GeoParquet", ".geoparquet": "GeoParquet"}
GPX_LAYERS = ("track_points", "route_points", "waypoints")

_LON_NAMES = ("lon", "longitude", "lng", "long", "x")
_LAT_NAMES = ("lat", "latitude", "y")
_TIME_NAMES = ("time", "timestamp", "datetime", "date_time", "fix_time")
_NUMBER = r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$"


@dataclass
class PointBatch:
    ids: pa.Array  # strings: the id column, or the row number (1-based) where there is none
    lon: np.ndarray  # float64, NaN where the row is invalid
    lat: np.ndarray
    reason: dict[int, str]  # row (in this batch) → why it cannot be screened

    def __len__(self) -> int:
        return len(self.lon)


@dataclass
class PointSource:
    path: Path
    driver: str
    total: int | None  # rows expected (for progress), when known
    columns: dict[str, str | None] = field(default_factory=dict)  # role → column used
    batches: Iterator[PointBatch] = field(default_factory=lambda: iter(()))

    def __iter__(self) -> Iterator[PointBatch]:
        return self.batches


def open_points(
    path: str | Path,
    *,
    lon_col: str | None = None,
    lat_col: str | None = None,
    id_col: str | None = None,
    time_col: str | None = None,
    batch_size: int = 100_000,
    limits: ReadLimits = ReadLimits(),
) -> PointSource:
    """A streaming reader of the points in ``path``; ``InputFileError`` if the file as a whole
    cannot be read (missing, too big, unknown format, no coordinate columns)."""
    path = Path(path)
    check_input_file(path, limits)
    suffix = path.suffix.lower()
    if suffix in PARQUET_SUFFIXES:
        return _parquet(path, lon_col, lat_col, id_col, time_col, batch_size)
    driver = POINT_FORMATS.get(suffix)
    if driver == "CSV":
        return _csv(path, lon_col, lat_col, id_col, time_col, batch_size)
    if driver is not None:
        return _ogr(path, driver, id_col, time_col, batch_size)
    known = ", ".join(sorted({*POINT_FORMATS, *PARQUET_SUFFIXES}))
    raise file_error(f"{path.name}: cannot screen this kind of file (use one of {known})", path)


# -- CSV ------------------------------------------------------------------------------------


#: bytes Arrow parses at a time; it keeps at most 32 such blocks read ahead
_CSV_BLOCK = 1 << 20


def _csv(
    path: Path, lon_col: str | None, lat_col: str | None, id_col: str | None, time_col: str | None, size: int
) -> PointSource:
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as fh:
        header = next(csv.reader(fh), [])
    lon = _column(header, lon_col, _LON_NAMES, "longitude", "--lon-col", path)
    lat = _column(header, lat_col, _LAT_NAMES, "latitude", "--lat-col", path)
    ident = _column(header, id_col, ("id",), "id", "--id-col", path, required=False)
    when = _column(header, time_col, _TIME_NAMES, "time", "--time-col", path, required=False)
    used = [c for c in dict.fromkeys([lon, lat, ident, when]) if c]
    reader = pacsv.open_csv(
        path,
        # Arrow reads up to 32 blocks ahead in the background: 1 MiB blocks bound that to 32 MiB
        # whatever the file's size (4 MiB blocks held 128 MiB, all of a 1M-point file)
        read_options=pacsv.ReadOptions(block_size=_CSV_BLOCK, encoding="utf8"),
        convert_options=pacsv.ConvertOptions(
            include_columns=used, column_types={c: pa.string() for c in used}, strings_can_be_null=True
        ),
    )

    def batches() -> Iterator[PointBatch]:
        start = 0
        pending: list[pa.RecordBatch] = []
        rows = 0
        try:
            for record_batch in reader:
                pending.append(record_batch)
                rows += record_batch.num_rows
                if rows >= size:
                    table = pa.Table.from_batches(pending)
                    yield _from_columns(table, lon, lat, ident, when, start)
                    start += table.num_rows
                    pending, rows = [], 0
        except pa.ArrowInvalid as exc:
            raise file_error(
                f"{path.name}: cannot read CSV after row {start + rows:,}: {exc}", path
            ) from None
        if pending:
            yield _from_columns(pa.Table.from_batches(pending), lon, lat, ident, when, start)

    return PointSource(
        path,
        "CSV",
        _count_lines(path) - 1,
        {"lon": lon, "lat": lat, "id": ident, "time": when},
        batches(),
    )


def _column(
    header: list[str],
    given: str | None,
    candidates: tuple[str, ...],
    role: str,
    option: str,
    path: Path,
    *,
    required: bool = True,
) -> str | None:
    if given is not None:
        if given not in header:
            raise file_error(
                f"{path.name}: no column {given!r} for the {role} ({option}); columns: {', '.join(header)}",
                path,
            )
        return given
    lowered = {name.strip().lower(): name for name in header}
    for candidate in candidates:
        if candidate in lowered:
            return lowered[candidate]
    if required:
        raise file_error(
            f"{path.name}: no {role} column found (looked for {', '.join(candidates)}); "
            f"name it with {option}",
            path,
        )
    return None


def _from_columns(
    table: pa.Table, lon: str | None, lat: str | None, ident: str | None, when: str | None, start: int
) -> PointBatch:
    n = table.num_rows
    reasons: dict[int, str] = {}
    lon_values = _numbers(table.column(lon), "longitude", reasons) if lon else np.full(n, np.nan)
    lat_values = _numbers(table.column(lat), "latitude", reasons) if lat else np.full(n, np.nan)
    _check_ranges(lon_values, lat_values, reasons)
    if when:
        _check_times(table.column(when), reasons)
    ids = _ids(table.column(ident) if ident else None, start, n)
    return _finish(ids, lon_values, lat_values, reasons)


def _numbers(column: pa.ChunkedArray, role: str, reasons: dict[int, str]) -> np.ndarray:
    text = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_floating(text.type) or pa.types.is_integer(text.type):
        values: np.ndarray = np.asarray(text.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=float)
        for i in np.flatnonzero(np.isnan(values)).tolist():
            reasons.setdefault(i, f"missing {role}")
        return values
    valid = pc.fill_null(pc.match_substring_regex(text, _NUMBER), False)
    numbers = pc.cast(
        pc.if_else(valid, pc.utf8_trim_whitespace(text), pa.scalar(None, pa.string())), pa.float64()
    )
    values = np.asarray(numbers.to_numpy(zero_copy_only=False), dtype=float)
    bad = np.flatnonzero(~valid.to_numpy(zero_copy_only=False))
    raw = text.take(pa.array(bad, pa.int64())).to_pylist() if len(bad) else []
    for i, value in zip(bad.tolist(), raw, strict=True):
        missing = value is None or not value.strip()
        reasons.setdefault(i, f"missing {role}" if missing else f"{role} {value!r} is not a number")
    return values


def _check_ranges(lon: np.ndarray, lat: np.ndarray, reasons: dict[int, str]) -> None:
    with np.errstate(invalid="ignore"):
        bad_lat = np.flatnonzero(np.abs(lat) > 90)
        bad_lon = np.flatnonzero(np.abs(lon) > 180)
    for i in bad_lat.tolist():
        reasons.setdefault(i, f"latitude {lat[i]:g} is outside ±90")
    for i in bad_lon.tolist():
        reasons.setdefault(i, f"longitude {lon[i]:g} is outside ±180")


def _check_times(column: pa.ChunkedArray | pa.Array, reasons: dict[int, str]) -> None:
    """Flag corrupt timestamps: unreadable, before the GPS epoch, or over a day in the future."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    late = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    if pa.types.is_timestamp(array.type):
        stamps = array.cast(pa.timestamp("us", tz="UTC")) if array.type.tz else array.cast(pa.timestamp("us"))
        micros = stamps.cast(pa.int64()).to_numpy(zero_copy_only=False).astype("float64")
        low, high = _micros(GPS_EPOCH), _micros(late)
        with np.errstate(invalid="ignore"):
            bad = np.flatnonzero((micros < low) | (micros > high))
        for i in bad.tolist():
            stamp = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=int(micros[i]))
            reasons.setdefault(i, _corrupt(stamp))
        return
    try:  # the common case: every stamp ISO 8601, read in one go
        parsed = pc.cast(
            pc.utf8_replace_slice(array, 10, 11, "T") if len(array) else array, pa.timestamp("us", "UTC")
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        parsed = None
    if parsed is not None:
        _check_times(parsed, reasons)
        return
    for i, value in enumerate(array.to_pylist()):
        if value is None or i in reasons or not str(value).strip():
            continue  # a fix without a time is still a position
        try:
            stamp = dt.datetime.fromisoformat(str(value).strip().replace(" ", "T", 1))
        except ValueError:
            reasons[i] = f"timestamp {value!r} cannot be read"
            continue
        stamp = stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)
        if not GPS_EPOCH <= stamp <= late:
            reasons[i] = _corrupt(stamp)


def _micros(moment: dt.datetime) -> float:
    return (moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) / dt.timedelta(microseconds=1)


def _corrupt(stamp: dt.datetime) -> str:
    when = stamp.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    side = "before the GPS epoch 1980-01-06" if stamp < GPS_EPOCH else "in the future"
    return f"corrupt timestamp {when} ({side})"


def _ids(column: pa.ChunkedArray | pa.Array | None, start: int, n: int) -> pa.Array:
    numbers = pa.array(np.arange(start + 1, start + n + 1)).cast(pa.string())
    if column is None:
        return numbers
    values = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    return pc.coalesce(values.cast(pa.string()), numbers)


def _finish(ids: pa.Array, lon: np.ndarray, lat: np.ndarray, reasons: dict[int, str]) -> PointBatch:
    invalid = np.fromiter(reasons, dtype=np.int64, count=len(reasons))
    lon, lat = lon.copy(), lat.copy()
    lon[invalid] = np.nan
    lat[invalid] = np.nan
    return PointBatch(ids, lon, lat, reasons)


def _count_lines(path: Path) -> int:
    count = 0
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 22):
            count += chunk.count(b"\n")
    return max(count, 1)


# -- OGR formats: GPX, GeoJSON, FlatGeobuf ----------------------------------------------------


def _ogr(path: Path, driver: str, id_col: str | None, time_col: str | None, size: int) -> PointSource:
    import pyogrio  # here: CSV and GeoParquet, the bulk formats, start faster without GDAL

    try:
        layers = [str(name) for name, _kind in pyogrio.list_layers(path)]
    except Exception as exc:  # pyogrio raises its own DataSourceError and friends
        raise file_error(f"{path.name}: cannot read as {driver}: {exc}", path) from None
    wanted = [name for name in GPX_LAYERS if name in layers] if driver == "GPX" else layers[:1]
    counts = {}
    for name in wanted:
        try:
            counts[name] = int(pyogrio.read_info(path, layer=name, force_feature_count=True)["features"])
        except Exception as exc:
            raise file_error(f"{path.name}: cannot read layer {name}: {exc}", path) from None
    wanted = [name for name in wanted if counts[name] > 0] or wanted[:1]

    def batches() -> Iterator[PointBatch]:
        for name in wanted:
            prefix = f"{name}:" if driver == "GPX" else ""
            start = 0
            try:
                with pyogrio.open_arrow(path, layer=name, batch_size=size, use_pyarrow=True) as (
                    meta,
                    reader,
                ):
                    geometry = meta["geometry_name"] or "wkb_geometry"
                    for batch in reader:
                        table = pa.Table.from_batches([batch])
                        yield _from_features(table, geometry, id_col, time_col, prefix, start)
                        start += table.num_rows
            except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, OSError) as exc:
                raise file_error(
                    f"{path.name}: cannot read {name} after {start:,} points: {exc}", path
                ) from None

    return PointSource(path, driver, sum(counts.values()), {"layers": ", ".join(wanted)}, batches())


def _from_features(
    table: pa.Table, geometry: str, id_col: str | None, time_col: str | None, prefix: str, start: int
) -> PointBatch:
    n = table.num_rows
    reasons: dict[int, str] = {}
    wkb = (
        table.column(geometry).to_numpy(zero_copy_only=False)
        if geometry in table.column_names
        else [None] * n
    )
    geoms = shapely.from_wkb(np.asarray(wkb, dtype=object), on_invalid="ignore")
    lon, lat = np.full(n, np.nan), np.full(n, np.nan)
    is_point = shapely.get_type_id(geoms) == 0
    ok = is_point & ~shapely.is_empty(geoms)
    lon[ok], lat[ok] = shapely.get_x(geoms[ok]), shapely.get_y(geoms[ok])
    for i in np.flatnonzero(~ok).tolist():
        geom = geoms[i]
        if geom is None or shapely.is_empty(geom):
            reasons[i] = "missing geometry"
        else:
            reasons[i] = f"geometry is a {geom.geom_type}, not a point"
    _check_ranges(lon, lat, reasons)
    when = time_col or next((c for c in table.column_names if c.lower() in _TIME_NAMES), None)
    if when and when in table.column_names:
        _check_times(table.column(when), reasons)
    column = table.column(id_col) if id_col and id_col in table.column_names else None
    ids = _ids(column, start, n)
    if prefix:
        ids = pc.binary_join_element_wise(pa.scalar(prefix), ids, "")
    return _finish(ids, lon, lat, reasons)


# -- GeoParquet --------------------------------------------------------------------------------


def _parquet(
    path: Path, lon_col: str | None, lat_col: str | None, id_col: str | None, time_col: str | None, size: int
) -> PointSource:
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise file_error(f"{path.name}: not a readable Parquet file: {exc}", path) from None
    names = parquet.schema_arrow.names
    geo = json.loads((parquet.schema_arrow.metadata or {}).get(b"geo", b"null") or "null")
    geometry = geo.get("primary_column") if isinstance(geo, dict) else None
    if lon_col or lat_col or not geometry:
        lon = _column(names, lon_col, _LON_NAMES, "longitude", "--lon-col", path)
        lat = _column(names, lat_col, _LAT_NAMES, "latitude", "--lat-col", path)
        geometry = None
    else:
        lon = lat = None
    ident = _column(names, id_col, ("id",), "id", "--id-col", path, required=False)
    when = _column(names, time_col, _TIME_NAMES, "time", "--time-col", path, required=False)
    used = [c for c in dict.fromkeys([geometry, lon, lat, ident, when]) if c]

    def batches() -> Iterator[PointBatch]:
        start = 0
        for batch in parquet.iter_batches(batch_size=size, columns=used):
            table = pa.Table.from_batches([batch])
            if geometry:
                yield _from_features(table, geometry, ident, when, "", start)
            else:
                yield _from_columns(table, lon, lat, ident, when, start)
            start += table.num_rows

    roles = {"geometry": geometry, "lon": lon, "lat": lat, "id": ident, "time": when}
    return PointSource(path, "GeoParquet", parquet.metadata.num_rows, roles, batches())


# -- output ------------------------------------------------------------------------------------

RESULT_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("status", pa.string()),
        ("nearest_ref", pa.string()),
        ("distance_m", pa.float64()),
        ("reason", pa.string()),
        ("lon", pa.float64()),
        ("lat", pa.float64()),
    ]
)


class ResultWriter:
    """One row per screened point, to CSV or GeoParquet (with a WKB point ``geometry`` column
    and GeoParquet 1.0 metadata). Written to ``NAME.partial`` and renamed by ``commit()``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        kind = OUTPUT_FORMATS.get(self.path.suffix.lower())
        if kind is None:
            raise file_error(f"{self.path.name}: write results as .csv or .parquet", self.path)
        self.kind = kind
        self.partial = self.path.with_name(self.path.name + ".partial")
        self._writer: Any = None
        self.rows = 0

    def write(self, columns: dict[str, Any]) -> None:
        table = pa.Table.from_pydict(columns, schema=RESULT_SCHEMA)
        if self.kind == "GeoParquet":
            lon = table.column("lon").to_numpy(zero_copy_only=False)
            lat = table.column("lat").to_numpy(zero_copy_only=False)
            points = shapely.points(lon, lat)
            points[np.isnan(lon) | np.isnan(lat)] = None
            table = table.append_column("geometry", pa.array(shapely.to_wkb(points), pa.binary()))
        if self._writer is None:
            self._writer = self._open(table.schema)
        self._writer.write_table(table)
        self.rows += table.num_rows

    def _open(self, schema: pa.Schema) -> Any:
        if self.kind == "CSV":
            return pacsv.CSVWriter(self.partial, schema)
        geo = {
            "version": "1.0.0",
            "primary_column": "geometry",
            "columns": {"geometry": {"encoding": "WKB", "geometry_types": ["Point"], "crs": None}},
        }  # crs null means OGC:CRS84 (lon/lat WGS84) in GeoParquet 1.0
        return pq.ParquetWriter(self.partial, schema.with_metadata({b"geo": json.dumps(geo).encode()}))

    def commit(self) -> None:
        if self._writer is None:  # no rows: still a valid, empty file
            self._writer = self._open(
                RESULT_SCHEMA.append(pa.field("geometry", pa.binary()))
                if self.kind == "GeoParquet"
                else RESULT_SCHEMA
            )
        self._writer.close()
        self.partial.replace(self.path)

    def abort(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(OSError, pa.ArrowException):
                self._writer.close()
        self.partial.unlink(missing_ok=True)
