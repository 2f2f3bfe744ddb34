"""Writing OutputFeature rows (EPSG:4326, lon/lat) to a file, atomically.

Every format is written into a temporary directory beside the target and renamed into place at
the end, so a failure leaves nothing at the target path (an older file there stays untouched).
Property values may be str, int, float, bool, None or lists; lists are written joined with ";".
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import tempfile
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from clearland.errors import InputFileError

from .geoparquet import write_parquet
from .osm import write_osm
from .safety import file_error
from .types import OutputFeature
from .values import column_kind, is_null, text_value

WRITE_FORMATS = ("gpkg", "geojson", "kml", "shp", "csv", "fgb", "parquet", "osm")

#: the dBase limit on field names, in bytes; see shapefile_field_names
SHAPEFILE_FIELD_LIMIT = 10

_SUFFIX_FORMATS = {
    ".gpkg": "gpkg",
    ".geojson": "geojson",
    ".json": "geojson",
    ".kml": "kml",
    ".kmz": "kml",
    ".shp": "shp",
    ".zip": "shp",
    ".csv": "csv",
    ".fgb": "fgb",
    ".parquet": "parquet",
    ".geoparquet": "parquet",
    ".osm": "osm",
}
_GDAL_DRIVERS = {"gpkg": "GPKG", "kml": "LIBKML", "shp": "ESRI Shapefile", "fgb": "FlatGeobuf"}
_LABELS = {
    "gpkg": "GeoPackage",
    "geojson": "GeoJSON",
    "kml": "KML",
    "shp": "a shapefile",
    "csv": "CSV",
    "fgb": "FlatGeobuf",
    "parquet": "GeoParquet",
    "osm": "OSM",
}
_STALE_SHAPEFILE_INDEXES = (".qix", ".sbn", ".sbx")
_SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")
_NUMPY_TYPES = {"bool": np.bool_, "int32": np.int32, "int64": np.int64, "float": np.float64}


def format_from_path(path: str | Path) -> str:
    """The write format for a path's extension (".zip" is a zipped shapefile, ".kmz" zipped KML)."""
    suffix = Path(path).suffix.lower()
    if suffix not in _SUFFIX_FORMATS:
        shown = suffix or "(no extension)"
        raise file_error(
            f"unsupported format '{shown}' ({path}); supported: {', '.join(_SUFFIX_FORMATS)}",
            path,
            supported=list(_SUFFIX_FORMATS),
        )
    return _SUFFIX_FORMATS[suffix]


def shapefile_field_names(names: list[str]) -> dict[str, str]:
    """Property name -> dBase field name, as write_layer(format="shp") names the fields.

    Each name is cut to SHAPEFILE_FIELD_LIMIT bytes of UTF-8 (never inside a character). When a
    cut name equals an earlier one, ignoring case, it becomes the name cut shorter plus "_1",
    "_2" ... in order of appearance. The same names in the same order always give the same fields.
    """
    out: dict[str, str] = {}
    used: set[str] = set()
    for name in names:
        candidate = _cut_utf8(name, SHAPEFILE_FIELD_LIMIT)
        counter = 0
        while candidate.lower() in used:
            counter += 1
            suffix = f"_{counter}"
            candidate = _cut_utf8(name, SHAPEFILE_FIELD_LIMIT - len(suffix)) + suffix
        used.add(candidate.lower())
        out[name] = candidate
    return out


def _cut_utf8(text: str, limit: int) -> str:
    return text.encode("utf-8")[:limit].decode("utf-8", errors="ignore")


def write_layer(
    path: str | Path,
    features: list[OutputFeature],
    *,
    format: str,
    layer: str = "hazard_areas",
) -> None:
    """Write ``features`` (geometry in EPSG:4326) as ``format``, replacing any file at ``path``.

    Format notes:
      * gpkg, fgb, shp: a layer mixing single and multi parts is written as multi parts; shp and
        fgb hold one geometry family per file, so points mixed with polygons are refused.
      * fgb is written with its spatial index, which orders the features along a Hilbert curve;
        a layer with a feature without geometry is written without the index, in order.
      * shp: field names follow shapefile_field_names; text is UTF-8 (.cpg) and dBase keeps at
        most 254 bytes of text and 15 significant digits of a number. A ".zip" path gets a zip
        holding the .shp and its sidecars.
      * kml: LIBKML, properties as ExtendedData; a property "name"/"description" becomes the
        placemark's name/description. A ".kmz" path gets a zip holding one doc.kml.
      * geojson: RFC 7946 (no crs member, exterior rings counter-clockwise, full precision).
      * csv: UTF-8, a "wkt" column then the properties.
      * parquet: GeoParquet 1.0. osm: see clearland.io.osm.
    """
    fmt = format.lower()
    target = Path(path)
    if fmt not in WRITE_FORMATS:
        raise file_error(
            f"cannot write {target}: unknown format '{format}'; formats: {', '.join(WRITE_FORMATS)}",
            target,
        )
    if not target.parent.is_dir():
        raise file_error(f"cannot write {target}: directory {target.parent} does not exist", target)
    if target.is_dir():
        raise file_error(f"cannot write {target}: it is a directory", target)
    if fmt == "shp" and target.suffix.lower() not in (".shp", ".zip"):
        raise file_error(f"cannot write {target}: a shapefile path ends in .shp or .zip", target)
    columns = _columns(features)
    _check_reserved(fmt, columns, target)
    with _atomic(target) as tmp:
        try:
            _write(fmt, tmp, target, features, columns, layer)
        except InputFileError:
            raise
        except Exception as exc:  # pyogrio/GDAL/arrow/OS errors of many types
            raise file_error(
                f"cannot write {target} as {_LABELS[fmt]}: {' '.join(str(exc).split())[:200]}",
                target,
                error=str(exc),
            ) from None


def _columns(features: list[OutputFeature]) -> list[str]:
    seen: dict[str, None] = {}
    for feature in features:
        for key in feature.properties:
            seen.setdefault(str(key), None)
    return list(seen)


def _check_reserved(fmt: str, columns: list[str], target: Path) -> None:
    reserved = {"csv": "wkt", "parquet": "geometry"}.get(fmt)
    clash = [c for c in columns if reserved and c.lower() == reserved]
    if clash:
        raise file_error(
            f"cannot write {target}: property '{clash[0]}' clashes with the geometry column",
            target,
        )


@contextlib.contextmanager
def _atomic(target: Path) -> Iterator[Path]:
    """A path in a fresh directory beside ``target``; renamed onto it when the block succeeds."""
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        tmp = tmp_dir / target.name
        yield tmp
        if target.suffix.lower() == ".shp":
            # the sidecars first, the .shp last: a reader never sees a new .shp with old sidecars
            for part in sorted(tmp_dir.iterdir(), key=lambda p: p.suffix.lower() == ".shp"):
                os.replace(part, target.with_suffix(part.suffix))
            for stale in _STALE_SHAPEFILE_INDEXES:
                target.with_suffix(stale).unlink(missing_ok=True)
        else:
            os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)


def _write(
    fmt: str,
    tmp: Path,
    target: Path,
    features: list[OutputFeature],
    columns: list[str],
    layer: str,
) -> None:
    if fmt == "geojson":
        _write_geojson(tmp, features, columns, layer)
    elif fmt == "csv":
        _write_csv(tmp, features, columns)
    elif fmt == "parquet":
        write_parquet(tmp, features, columns)
    elif fmt == "osm":
        write_osm(tmp, features, target)
    elif fmt == "shp" and target.suffix.lower() == ".zip":
        shp = tmp.with_name("parts") / tmp.with_suffix(".shp").name
        shp.parent.mkdir()
        _write_gdal("shp", shp, target, features, columns, shp.stem)
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for part in sorted(shp.parent.iterdir()):
                archive.write(part, part.name)
        shutil.rmtree(shp.parent)
    elif fmt == "kml" and target.suffix.lower() == ".kmz":
        # one doc.kml in the zip: LIBKML's own KMZ puts each layer behind a NetworkLink
        kml = tmp.with_name("doc.kml")
        _write_gdal("kml", kml, target, features, columns, layer)
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.write(kml, "doc.kml")
        kml.unlink()
    else:
        _write_gdal(fmt, tmp, target, features, columns, layer)


# ----------------------------------------------------------------------------- GDAL formats


def _geometry_type(fmt: str, geoms: list[Any], target: Path) -> tuple[str, bool]:
    """(pyogrio geometry_type, promote_to_multi) for the geometries of one layer."""
    kinds = {g.geom_type for g in geoms if g is not None and not g.is_empty}
    families = {k.removeprefix("Multi") for k in kinds}
    if len(families) > 1:
        if fmt in ("shp", "fgb"):
            raise file_error(
                f"cannot write {target} as {_LABELS[fmt]}: the format holds one geometry type "
                f"per file and these features mix {', '.join(sorted(kinds))}",
                target,
                geometry_types=sorted(kinds),
            )
        return "Unknown", False
    if not families:
        return ("Unknown" if fmt in ("gpkg", "kml") else "Polygon"), False
    (family,) = families
    if family == "GeometryCollection" or fmt == "kml":
        return "Unknown", False
    if len(kinds) > 1:
        return f"Multi{family}", True
    return kinds.pop(), False


def _write_gdal(
    fmt: str,
    tmp: Path,
    target: Path,
    features: list[OutputFeature],
    columns: list[str],
    layer: str,
) -> None:
    geoms = [f.geometry for f in features]
    geometry_type, promote = _geometry_type(fmt, geoms, target)
    names = shapefile_field_names(columns) if fmt == "shp" else {c: c for c in columns}
    field_data, field_masks = [], []
    for column in columns:
        values = [f.properties.get(column) for f in features]
        array, mask = _field_array(values)
        field_data.append(array)
        field_masks.append(mask)
    options: dict[str, Any] = {}
    if fmt == "shp":
        options["encoding"] = "UTF-8"
    if fmt == "fgb" and any(g is None for g in geoms):
        options["layer_options"] = {"SPATIAL_INDEX": "NO"}  # the index cannot hold null geometry
    with warnings.catch_warnings():
        # GDAL reports e.g. text cut to dBase's 254 bytes as a warning; that is documented
        warnings.simplefilter("ignore", RuntimeWarning)
        import pyogrio.raw  # imported on use: it is slow to import

        pyogrio.raw.write(
            str(tmp),
            geometry=shapely.to_wkb(np.array(geoms, dtype=object)),
            field_data=field_data,
            fields=[names[c] for c in columns],
            field_mask=field_masks,
            layer=layer,
            driver=_GDAL_DRIVERS[fmt],
            geometry_type=geometry_type,
            crs="EPSG:4326",
            promote_to_multi=promote,
            **options,
        )


def _field_array(values: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    kind = column_kind(values)
    mask = np.array([is_null(v) for v in values], dtype=bool)
    if kind == "str":
        texts = [None if is_null(v) else text_value(v) for v in values]
        return np.array(texts, dtype=object), mask
    filler = False if kind == "bool" else 0
    cleaned = [filler if is_null(v) else v for v in values]
    return np.array(cleaned, dtype=_NUMPY_TYPES[kind]), mask


# ----------------------------------------------------------------------------- text formats


def _json_value(value: Any) -> Any:
    if is_null(value):
        return None
    if isinstance(value, bool | int | float | str):
        return value
    return text_value(value)


def _write_geojson(tmp: Path, features: list[OutputFeature], columns: list[str], layer: str) -> None:
    # RFC 7946: EPSG:4326 implied (no crs member), exterior rings counter-clockwise; written
    # by hand because GDAL's RFC 7946 mode rounds coordinates to 7 decimals
    geoms = shapely.orient_polygons(np.array([f.geometry for f in features], dtype=object))
    texts = shapely.to_geojson(geoms)
    with tmp.open("w", encoding="utf-8") as out:
        out.write('{"type": "FeatureCollection", "name": ')
        out.write(json.dumps(layer, ensure_ascii=False))
        out.write(', "features": [')
        for i, (feature, geometry) in enumerate(zip(features, texts, strict=True)):
            properties = {str(k): _json_value(v) for k, v in feature.properties.items()}
            out.write(",\n" if i else "\n")
            out.write('{"type": "Feature", "properties": ')
            out.write(json.dumps(properties, ensure_ascii=False, allow_nan=False))
            out.write(', "geometry": ')
            out.write(geometry if geometry is not None else "null")
            out.write("}")
        out.write("\n]}\n")


def _write_csv(tmp: Path, features: list[OutputFeature], columns: list[str]) -> None:
    geoms = np.array([f.geometry for f in features], dtype=object)
    # rounding_precision=-1: every significant digit GEOS keeps (sub-nanodegree round trip)
    wkts = shapely.to_wkt(geoms, rounding_precision=-1)
    with tmp.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["wkt", *columns])
        for feature, wkt in zip(features, wkts, strict=True):
            row = [wkt or ""]
            for column in columns:
                value = feature.properties.get(column)
                row.append("" if is_null(value) else text_value(value))
            writer.writerow(row)
