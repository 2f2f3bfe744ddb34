"""GeoParquet 1.0 with pyarrow (the bundled GDAL has no Parquet driver).

Reading: the ``geo`` metadata names the primary geometry column, its encoding (WKB) and its CRS
as PROJJSON; a missing ``crs`` key means OGC:CRS84 by the specification, an explicit null means
unknown. A Parquet file without ``geo`` metadata is read when it has a WKB or WKT column named
geometry/wkt/geom; its CRS is then unknown.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pyproj
import shapely

from clearland.errors import InputFileError

from .cells import find_column, parse_wkb, parse_wkt
from .safety import check_magic, file_error, listing
from .types import OutputFeature, RawFeature, ReadLimits, SourceLayer
from .values import ColumnKind, column_kind, crs_name, is_null, plain_value, text_value

PLAIN_GEOMETRY_NAMES = ("geometry", "wkt", "geom")
_ARROW_TYPES: dict[ColumnKind, pa.DataType] = {
    "bool": pa.bool_(),
    "int32": pa.int64(),
    "int64": pa.int64(),
    "float": pa.float64(),
    "str": pa.string(),
}


def read_parquet(path: Path, display: str | Path, layer: str | None, limits: ReadLimits) -> SourceLayer:
    check_magic(path, "Parquet", "Parquet", display)
    try:
        return _read_parquet(path, display, layer, limits)
    except InputFileError:
        raise
    except Exception as exc:  # pyarrow raises many types on a corrupt file or odd metadata
        raise _corrupt(display, exc) from None


def _read_parquet(path: Path, display: str | Path, layer: str | None, limits: ReadLimits) -> SourceLayer:
    parquet = pq.ParquetFile(path)
    metadata = parquet.metadata
    rows = metadata.num_rows
    expanded = sum(metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups))
    schema = parquet.schema_arrow
    stem = path.stem
    if layer is not None and layer != stem:
        raise file_error(f"{display} has no layer '{layer}'; layers: {stem}", display, layers=[stem])
    if rows > limits.max_features:
        raise file_error(
            f"{display} has {rows:,} features, over the limit of {limits.max_features:,}",
            display,
            features=rows,
        )
    if expanded > limits.max_uncompressed_bytes:
        raise file_error(
            f"refused {display}: its data expands to {expanded:,} bytes, over the limit of "
            f"{limits.max_uncompressed_bytes:,} bytes",
            display,
            uncompressed_bytes=expanded,
        )
    geo = _geo_metadata(schema, display)
    notes: list[str] = []
    if geo is not None:
        column, crs, skip = _from_geo(geo, schema.names, display, notes)
        driver = "GeoParquet"
    else:
        column, crs, skip = _plain_geometry_column(schema.names, display), None, set()
        driver = "Parquet"
        notes.append(f"{display} has no GeoParquet 'geo' metadata: its CRS is unknown")
    kind = schema.field(column).type
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind) or _is_binary(kind)):
        raise file_error(
            f"cannot read {display}: geometry column '{column}' holds {kind}, not WKB or WKT",
            display,
        )
    table = parquet.read()
    cells = table.column(column).to_pylist()
    parsed = parse_wkb(cells, column) if _is_binary(kind) else parse_wkt(cells, column)
    fields = [name for name in schema.names if name != column and name not in skip]
    values = {name: [plain_value(v) for v in table.column(name).to_pylist()] for name in fields}
    features = [
        RawFeature(
            number=i + 1,
            fid=None,
            properties={name: values[name][i] for name in fields},
            geometry=geometry,
            geometry_error=error,
        )
        for i, (geometry, error) in enumerate(parsed)
    ]
    return SourceLayer(
        path=Path(display),
        layer=stem,
        driver=driver,
        crs=crs,
        features=features,
        fields=fields,
        notes=notes,
    )


def _is_binary(kind: pa.DataType) -> bool:
    return bool(
        pa.types.is_binary(kind) or pa.types.is_large_binary(kind) or pa.types.is_fixed_size_binary(kind)
    )


def _corrupt(display: str | Path, exc: Exception) -> InputFileError:
    return file_error(f"cannot read {display}: truncated or corrupt Parquet", display, arrow=str(exc))


def _geo_metadata(schema: pa.Schema, display: str | Path) -> dict[str, Any] | None:
    raw = (schema.metadata or {}).get(b"geo")
    if raw is None:
        return None
    try:
        geo = json.loads(raw)
    except ValueError as exc:
        raise file_error(
            f"cannot read {display}: its GeoParquet 'geo' metadata is not JSON", display, json=str(exc)
        ) from None
    if not isinstance(geo, dict) or not isinstance(geo.get("columns"), dict):
        raise file_error(f"cannot read {display}: its GeoParquet 'geo' metadata has no columns", display)
    return geo


def _from_geo(
    geo: dict[str, Any], names: list[str], display: str | Path, notes: list[str]
) -> tuple[str, str | None, set[str]]:
    columns: dict[str, Any] = geo["columns"]
    primary = geo.get("primary_column") or next(iter(columns), None)
    if primary not in columns or primary not in names:
        raise file_error(f"cannot read {display}: GeoParquet primary column {primary!r} is missing", display)
    spec = columns[primary]
    if not isinstance(spec, dict):
        raise file_error(f"cannot read {display}: GeoParquet column metadata is not an object", display)
    encoding = str(spec.get("encoding", "")).upper()
    if encoding != "WKB":
        raise file_error(
            f"cannot read {display}: GeoParquet geometry encoding {spec.get('encoding')!r} is "
            "not supported (only WKB)",
            display,
        )
    if "crs" not in spec:
        crs: str | None = "EPSG:4326"  # the specification's default, OGC:CRS84
    elif spec["crs"] is None:
        crs = None
        notes.append(f"{display} declares its CRS as unknown (GeoParquet crs: null)")
    else:
        try:
            crs = crs_name(pyproj.CRS.from_user_input(spec["crs"]))
        except pyproj.exceptions.CRSError as exc:
            raise file_error(
                f"cannot read {display}: its GeoParquet CRS cannot be understood",
                display,
                crs=str(exc),
            ) from None
    skip = {name for name in columns if name != primary}
    if skip:
        notes.append(f"secondary geometry columns not read: {', '.join(sorted(skip))}")
    covering = spec.get("covering") or {}
    bbox = covering.get("bbox") if isinstance(covering, dict) else None
    if isinstance(bbox, dict):
        skip |= {v[0] for v in bbox.values() if isinstance(v, list) and v}
    return primary, crs, skip


def _plain_geometry_column(names: list[str], display: str | Path) -> str:
    column = find_column(names, PLAIN_GEOMETRY_NAMES)
    if column is None:
        raise file_error(
            f"{display} has no geometry column (expected one of "
            f"{', '.join(PLAIN_GEOMETRY_NAMES)}); columns found: {listing(names)}",
            display,
            columns=names,
        )
    return column


# ----------------------------------------------------------------------------- writing


def write_parquet(path: Path, features: list[OutputFeature], columns: list[str]) -> None:
    """GeoParquet 1.0: WKB ``geometry`` plus ``geo`` metadata (EPSG:4326 PROJJSON, bbox, types)."""
    arrays: list[pa.Array] = []
    for name in columns:
        values = [f.properties.get(name) for f in features]
        kind = column_kind(values)
        cleaned = [None if is_null(v) else (text_value(v) if kind == "str" else v) for v in values]
        arrays.append(pa.array(cleaned, type=_ARROW_TYPES[kind]))
    geoms = [f.geometry for f in features]
    wkb = shapely.to_wkb(geoms, output_dimension=3)
    arrays.append(pa.array(list(wkb), type=pa.binary()))
    present = [g for g in geoms if g is not None and not g.is_empty]
    types = sorted({g.geom_type + (" Z" if g.has_z else "") for g in present})
    spec: dict[str, Any] = {
        "encoding": "WKB",
        "geometry_types": types,
        "crs": pyproj.CRS.from_epsg(4326).to_json_dict(),
    }
    if present:
        spec["bbox"] = [float(v) for v in shapely.total_bounds(present)]
    geo = {"version": "1.0.0", "primary_column": "geometry", "columns": {"geometry": spec}}
    table = pa.table(arrays, names=[*columns, "geometry"])
    table = table.replace_schema_metadata({b"geo": json.dumps(geo).encode("utf-8")})
    pq.write_table(table, path)
