"""Reading untrusted GIS files into a SourceLayer (geometry still in the file's CRS).

GDAL formats go through ``pyogrio.raw.read_arrow`` (nullable integers stay integers, no
geopandas); GeoParquet through pyarrow. Every file passes the checks in ``safety`` first, and
no pyogrio/GDAL/arrow exception leaves this module: each becomes an InputFileError naming the file.
"""

from __future__ import annotations

import re
import tempfile
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import shapely

from clearland.errors import ConfigError, InputFileError

from .cells import LAT_NAMES, LON_NAMES, WKT_NAMES, find_column, match_column, parse_lonlat
from .cells import parse_wkt as parse_wkt_cells
from .geoparquet import read_parquet
from .safety import (
    check_input_file,
    check_magic,
    extract_members,
    file_error,
    listing,
    member_names,
    open_zip,
    scan_xml,
)
from .types import FeatureColumns, RawFeature, ReadLimits, SourceLayer
from .values import crs_name, plain_value

#: file extension -> the ``driver`` reported in SourceLayer. ``.zip`` holds one shapefile (with
#: its sidecars); ``.kmz`` is zipped KML. Both are unpacked by clearland, never by GDAL.
SUPPORTED_READ: dict[str, str] = {
    ".geojson": "GeoJSON",
    ".json": "GeoJSON",
    ".gpkg": "GPKG",
    ".shp": "ESRI Shapefile",
    ".zip": "ESRI Shapefile",
    ".kml": "KML",
    ".kmz": "KML",
    ".csv": "CSV",
    ".fgb": "FlatGeobuf",
    ".parquet": "GeoParquet",
    ".geoparquet": "GeoParquet",
    ".gpx": "GPX",
}

LABELS = {
    "GeoJSON": "GeoJSON",
    "GPKG": "GeoPackage",
    "ESRI Shapefile": "shapefile",
    "KML": "KML",
    "CSV": "CSV",
    "FlatGeobuf": "FlatGeobuf",
    "GeoParquet": "GeoParquet",
    "GPX": "GPX",
}

# Fields GDAL's LIBKML driver adds to every KML layer; dropped when they carry nothing
# (all null or the driver's default), so a KML reads back with the properties it was given.
_KML_NOISE: dict[str, tuple[Any, ...]] = {
    "Name": (),
    "description": (),
    "timestamp": (),
    "begin": (),
    "end": (),
    "altitudeMode": (),
    "tessellate": (-1,),
    "extrude": (0,),
    "visibility": (-1,),
    "drawOrder": (),
    "icon": (),
    "snippet": (),
}
_SHAPEFILE_SIDECARS = (".shp", ".shx", ".dbf", ".prj", ".cpg")
_MAX_NOTES = 20
_MULTI_LAYER = ("GPKG", "KML", "GPX")


def read_layer(
    path: str | Path,
    *,
    layer: str | None = None,
    limits: ReadLimits = ReadLimits(),
    csv_geometry: tuple[str, ...] | None = None,
    columnar: bool = False,
    on_geometries: Callable[[int, np.ndarray], None] | None = None,
) -> SourceLayer:
    """Read one layer of an untrusted file, everything into memory.

    ``layer`` names a GeoPackage/KML/GPX layer, or the shapefile to read inside a zip; it may be
    left out when the file has one layer. ``csv_geometry`` is ``(wkt_column,)`` or
    ``(lon_column, lat_column)`` and overrides the detection of geometry columns in a CSV.
    ``columnar``: a GDAL format's features come in ``SourceLayer.columns`` (``features`` left
    empty), without a ``RawFeature`` and a dict per feature: what an import of many wants.
    ``on_geometries(offset, geometries)``: called with each batch of geometries as it is parsed
    (rows ``offset``…, ``None`` where a row has none), from the formats GDAL reads in batches;
    the geometries the layer ends with may still differ (KML's are tidied, a CSV's parsed later).
    """
    source = Path(path)
    driver = _check(source, limits)
    if csv_geometry is not None and len(csv_geometry) not in (1, 2):
        raise ConfigError(
            f"csv_geometry must be (wkt_column,) or (lon_column, lat_column), not {csv_geometry!r}"
        )
    suffix = source.suffix.lower()
    if suffix in (".zip", ".kmz"):
        with tempfile.TemporaryDirectory(prefix="clearland-read-") as tmp:
            inner, inner_layer = _unpack(source, Path(tmp), layer, limits)
            result = _read_file(
                inner, driver, source, inner_layer, limits, csv_geometry, columnar, on_geometries
            )
    else:
        result = _read_file(source, driver, source, layer, limits, csv_geometry, columnar, on_geometries)
    result.path = source
    return result


def list_layers(path: str | Path, *, limits: ReadLimits = ReadLimits()) -> list[str]:
    """The layer names ``read_layer`` accepts for this file."""
    source = Path(path)
    driver = _check(source, limits)
    suffix = source.suffix.lower()
    if suffix == ".zip":
        with open_zip(source, limits, source) as archive:
            return [PurePosixPath(n).stem for n in _shapefiles_in(archive)]
    if suffix == ".kmz":
        with tempfile.TemporaryDirectory(prefix="clearland-read-") as tmp:
            inner, _ = _unpack(source, Path(tmp), None, limits)
            return _gdal_layers(_gdal_path(inner, driver, source), driver, source)
    if driver == "GeoParquet" or driver == "CSV":
        return [source.stem]
    return _gdal_layers(_gdal_path(source, driver, source), driver, source)


# ----------------------------------------------------------------------------- checks, zips


def _check(source: Path, limits: ReadLimits) -> str:
    check_input_file(source, limits)
    suffix = source.suffix.lower()
    if suffix not in SUPPORTED_READ:
        shown = suffix or "(no extension)"
        raise file_error(
            f"unsupported format '{shown}' ({source}); supported: {', '.join(SUPPORTED_READ)}",
            source,
            supported=list(SUPPORTED_READ),
        )
    return SUPPORTED_READ[suffix]


def _shapefiles_in(archive: Any) -> list[str]:
    return [n for n in member_names(archive) if n.lower().endswith(".shp")]


def _unpack(source: Path, tmp: Path, layer: str | None, limits: ReadLimits) -> tuple[Path, str | None]:
    """Extract what GDAL needs from a zip/kmz into ``tmp``; returns the file and layer to read."""
    with open_zip(source, limits, source) as archive:
        names = member_names(archive)
        if source.suffix.lower() == ".kmz":
            kmls = [n for n in names if n.lower().endswith(".kml")]
            if not kmls:
                raise file_error(f"{source} contains no .kml document", source, members=names[:50])
            # the KMZ convention: doc.kml at the root, else the first .kml at the root
            top = [n for n in kmls if "/" not in n.replace("\\", "/")]
            main = next((n for n in top if n.lower() == "doc.kml"), (top or kmls)[0])
            return extract_members(archive, [main], tmp, limits, source)[main], layer
        shapefiles = _shapefiles_in(archive)
        stems = [PurePosixPath(n.replace("\\", "/")).stem for n in shapefiles]
        if not shapefiles:
            raise file_error(
                f"{source} contains no shapefile (.shp); members: {listing(names)}",
                source,
                members=names[:50],
            )
        if layer is not None:
            if layer not in stems:
                raise file_error(
                    f"{source} has no shapefile '{layer}'; shapefiles: {listing(stems)}",
                    source,
                    layers=stems,
                )
            chosen = shapefiles[stems.index(layer)]
        elif len(shapefiles) > 1:
            raise file_error(
                f"{source} contains {len(shapefiles)} shapefiles; name the one to read: {listing(stems)}",
                source,
                layers=stems,
            )
        else:
            chosen = shapefiles[0]
        base = chosen[:-4]
        wanted = [n for n in names if n.startswith(base) and n[len(base) :].lower() in _SHAPEFILE_SIDECARS]
        extracted = extract_members(archive, wanted, tmp, limits, source)
        return extracted[chosen], None


# ----------------------------------------------------------------------------- GDAL formats


def _read_file(
    file: Path,
    driver: str,
    display: Path,
    layer: str | None,
    limits: ReadLimits,
    csv_geometry: tuple[str, ...] | None,
    columnar: bool = False,
    on_geometries: Callable[[int, np.ndarray], None] | None = None,
) -> SourceLayer:
    if driver == "GeoParquet":
        return read_parquet(file, display, layer, limits)
    gdal_path = _gdal_path(file, driver, display)
    name = _choose_layer(_gdal_layers(gdal_path, driver, display), layer, display)
    options: dict[str, Any] = {}
    if driver == "CSV":
        # every column as text, headers always on the first line, empty cells as null
        options = {"HEADERS": "YES", "EMPTY_STRING_AS_NULL": "YES", "AUTODETECT_TYPE": "NO"}
    read = _gdal_read(
        gdal_path,
        name,
        driver,
        display,
        limits,
        read_geometry=driver != "CSV",
        on_geometries=on_geometries,
        **options,
    )
    meta, notes, fids, columns = read.meta, read.notes, read.fids, read.columns
    fields = list(columns)
    parsed: Sequence[tuple[shapely.Geometry | None, str | None]] | None = None
    geometries: Sequence[shapely.Geometry | None] = []
    if driver == "CSV":
        parsed, used = _csv_geometry(fields, columns, csv_geometry, display)
        fields = [f for f in fields if f not in used]
        crs = None
        notes.insert(0, "CSV has no CRS: coordinates are read as written; the importer decides")
    else:
        # a table without geometry (e.g. a GeoPackage attribute table): None for each row
        geometries = read.geometries if read.geometries is not None else [None] * len(fids)
        crs = crs_name(meta.get("crs"))
        if crs is None:
            hint = " (no .prj beside the shapefile)" if driver == "ESRI Shapefile" else ""
            notes.insert(0, f"{display} has no CRS{hint}: the importer decides")
    del read
    if driver == "KML":
        if parsed is None:
            parsed = [(g, None) for g in geometries]
        fields, parsed = _tidy_kml(fields, columns, parsed, name)
    fid_texts = [None if fid is None else str(fid) for fid in fids]
    errors: list[str | None] | None = None
    if parsed is not None:
        geometries = [g for g, _e in parsed]
        found = [e for _g, e in parsed]
        errors = found if any(e is not None for e in found) else None
    layer_out = SourceLayer(
        path=display, layer=name, driver=driver, crs=crs, features=[], fields=fields, notes=notes
    )
    if columnar:
        layer_out.columns = FeatureColumns(
            numbers=range(1, len(fid_texts) + 1),
            fids=fid_texts,
            geometries=geometries,
            geometry_errors=errors,
            properties={f: columns[f] for f in fields},
        )
        return layer_out
    layer_out.features = [
        RawFeature(
            number=i + 1,
            fid=fid,
            properties={f: columns[f][i] for f in fields},
            geometry=geometry,
            geometry_error=None if errors is None else errors[i],
        )
        for i, (fid, geometry) in enumerate(zip(fid_texts, geometries, strict=True))
    ]
    return layer_out


def _plain_column(column: Any) -> list[Any]:
    """An Arrow column as plain Python values (``plain_value`` of each): text, integers and
    booleans come out of Arrow plain already; only other types go value by value."""
    import pyarrow as pa  # already imported by pyogrio

    kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_integer(kind):
        return list(column.to_pylist())
    if pa.types.is_boolean(kind) or pa.types.is_null(kind):
        return list(column.to_pylist())
    return [plain_value(v) for v in column.to_pylist()]


def _unique(fields: list[str], notes: list[str]) -> list[str]:
    """Field names made unique (a CSV may repeat a header): the second "a" becomes "a_2"."""
    seen: set[str] = set(fields)
    out: list[str] = []
    for field in fields:
        name, counter = field, 1
        # skip a name already taken or one a later column really has
        while name in out or (name != field and name in seen):
            counter += 1
            name = f"{field}_{counter}"
        if name != field:
            notes.append(f"repeated column name '{field}' read as '{name}'")
        out.append(name)
    return out


def _gdal_path(file: Path, driver: str, display: Path) -> str:
    """The path handed to GDAL, after the content checks that pin its driver.

    GeoJSON and CSV get GDAL's driver prefix so no other driver can claim the file; the binary
    formats must start with their signature; XML formats must pass the defusedxml scan.
    """
    absolute = str(file.resolve())
    label = LABELS[driver]
    if driver in ("GeoJSON", "CSV"):
        return f"{driver}:{absolute}"
    if driver in ("GPKG", "FlatGeobuf", "ESRI Shapefile"):
        check_magic(file, driver, label, display)
    if driver == "ESRI Shapefile":
        for needed in (".dbf", ".shx"):
            if _sibling(file, needed) is None:
                raise file_error(
                    f"shapefile {display} has no {needed} beside it (a shapefile needs .shp, .shx and .dbf)",
                    display,
                    missing=needed,
                )
    if driver in ("KML", "GPX"):
        scan_xml(file, root=driver.lower(), label=label, display=display)
    return absolute


def _sibling(shp: Path, suffix: str) -> Path | None:
    for candidate in (shp.with_suffix(suffix), shp.with_suffix(suffix.upper())):
        if candidate.is_file():
            return candidate
    return None


def _gdal_error(display: Path, driver: str, exc: Exception) -> InputFileError:
    return file_error(
        f"cannot read {display}: truncated or corrupt {LABELS[driver]}",
        display,
        gdal=" ".join(str(exc).split()),
    )


def _gdal_layers(gdal_path: str, driver: str, display: Path) -> list[str]:
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RuntimeWarning)
            import pyogrio  # imported on use: it is slow to import

            names = [str(row[0]) for row in pyogrio.list_layers(gdal_path)]
    except Exception as exc:  # pyogrio/GDAL raise several unrelated types
        raise _gdal_error(display, driver, exc) from None
    if not names and driver not in _MULTI_LAYER:
        # a format that always holds one layer, opened with none: GDAL gave up on its content
        gdal = "; ".join(str(w.message) for w in caught) or "no layer found"
        raise _gdal_error(display, driver, Exception(gdal))
    return names


def _choose_layer(names: list[str], layer: str | None, display: Path) -> str:
    if layer is not None:
        if layer not in names:
            raise file_error(
                f"{display} has no layer '{layer}'; layers: {listing(names)}",
                display,
                layers=names,
            )
        return layer
    if len(names) == 1:
        return names[0]
    if not names:
        raise file_error(f"{display} has no layers", display, layers=[])
    raise file_error(
        f"{display} has {len(names)} layers; name the one to read: {listing(names)}",
        display,
        layers=names,
    )


#: features per Arrow batch read from GDAL: each batch becomes Python values and geometries
#: before the next is read, so neither the whole Arrow table nor a copy of every WKB is kept
_BATCH_FEATURES = 10_000


@dataclass
class _GdalRead:
    """A layer read through GDAL's Arrow stream: fids, the fields' plain values (``_unique``
    names, in order) and the parsed geometries (``None`` when the layer has none)."""

    meta: dict[str, Any]
    notes: list[str]
    fids: list[Any]
    columns: dict[str, list[Any]]
    geometries: Any  # a numpy object array of shapely geometries, or None: no geometry column


def _gdal_read(
    gdal_path: str,
    layer: str,
    driver: str,
    display: Path,
    limits: ReadLimits,
    read_geometry: bool,
    on_geometries: Callable[[int, np.ndarray], None] | None = None,
    **options: str,
) -> _GdalRead:
    """GDAL's Arrow stream (``pyogrio.raw.open_arrow``) batch by batch, each made into plain
    values and shapely geometries at once: what ``read_arrow`` then converting the whole table
    gives, without holding the table and a copy of its WKB (``read_arrow`` with
    ``max_features`` also copies the whole table once more to combine its batches): half the
    page faults, and the GeoPackage driver prepares the next batch meanwhile. Reading stops
    past ``limits.max_features``. GDAL's warnings are kept as notes instead of escaping as
    RuntimeWarnings."""
    notes: list[str] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            import pyogrio.raw  # imported on use: it is slow to import

            with pyogrio.raw.open_arrow(
                gdal_path,
                layer=layer,
                read_geometry=read_geometry,
                return_fids=True,
                datetime_as_string=True,
                batch_size=_BATCH_FEATURES,
                use_pyarrow=True,
                **options,
            ) as (meta, reader):
                fields = _unique([str(f) for f in meta["fields"]], notes)
                width = len(reader.schema)
                if width not in (len(fields) + 1, len(fields) + 2):
                    raise _gdal_error(display, driver, Exception("unexpected columns from GDAL"))
                # the fid column comes first and the geometry last; the fields lie between (by
                # position, so an attribute that happens to be called "OGC_FID" cannot confuse it)
                fids: list[Any] = []
                columns: dict[str, list[Any]] = {field: [] for field in fields}
                parts: list[np.ndarray] = []
                for batch in reader:
                    fids.extend(batch.column(0).to_pylist())
                    for i, field in enumerate(fields):
                        columns[field].extend(_plain_column(batch.column(i + 1)))
                    if width == len(fields) + 2:
                        wkb = batch.column(width - 1).to_numpy(zero_copy_only=False)
                        parsed = shapely.from_wkb(wkb, on_invalid="ignore")
                        del wkb
                        if on_geometries is not None:
                            on_geometries(len(fids) - len(parsed), parsed)
                        parts.append(parsed)
                    if len(fids) > limits.max_features:
                        break
    except InputFileError:
        raise
    except UnicodeDecodeError as exc:
        raise file_error(
            f"cannot read {display}: its text is not UTF-8 (save the {LABELS[driver]} as UTF-8)",
            display,
            encoding=str(exc),
        ) from None
    except Exception as exc:  # pyogrio/GDAL raise several unrelated types
        raise _gdal_error(display, driver, exc) from None
    notes[:0] = _gdal_notes(caught)
    if len(fids) > limits.max_features:
        raise file_error(
            f"{display} has more than {limits.max_features:,} features (the limit)",
            display,
            limit_features=limits.max_features,
        )
    geometries = None
    if width == len(fields) + 2:
        geometries = np.concatenate(parts) if parts else np.empty(0, dtype=object)
    return _GdalRead(meta=meta, notes=notes, fids=fids, columns=columns, geometries=geometries)


def _gdal_notes(caught: Sequence[warnings.WarningMessage]) -> list[str]:
    """GDAL's warnings as notes (other warnings go on as warnings)."""
    notes: list[str] = []
    for warning in caught:
        if issubclass(warning.category, RuntimeWarning | UserWarning):
            text = " ".join(str(warning.message).split())
            if text not in notes and len(notes) < _MAX_NOTES:
                notes.append(f"GDAL: {text}")
        else:
            warnings.warn(warning.message, warning.category, stacklevel=3)
    return notes


# ----------------------------------------------------------------------------- CSV, KML


def _csv_geometry(
    fields: list[str],
    columns: dict[str, list[Any]],
    override: tuple[str, ...] | None,
    display: Path,
) -> tuple[Sequence[tuple[shapely.Geometry | None, str | None]], set[str]]:
    """Parse each row's geometry; returns the per-row results and the columns used."""
    if override is not None:
        found = [match_column(fields, name) for name in override]
        missing = [name for name, col in zip(override, found, strict=True) if col is None]
        if missing:
            raise file_error(
                f"{display} has no column {', '.join(repr(m) for m in missing)}; "
                f"columns found: {listing(fields)}",
                display,
                columns=fields,
            )
        chosen = [c for c in found if c is not None]
    else:
        wkt = find_column(fields, WKT_NAMES)
        lon, lat = find_column(fields, LON_NAMES), find_column(fields, LAT_NAMES)
        if wkt is not None:
            chosen = [wkt]
        elif lon is not None and lat is not None:
            chosen = [lon, lat]
        else:
            raise file_error(
                f"{display} has no geometry column: expected a WKT column "
                f"({', '.join(WKT_NAMES)}) or longitude/latitude columns "
                f"({', '.join(LON_NAMES)} / {', '.join(LAT_NAMES)}); "
                f"columns found: {listing(fields)}",
                display,
                columns=fields,
            )
    if len(chosen) == 1:
        return parse_wkt_cells(columns[chosen[0]], chosen[0]), set(chosen)
    lon, lat = chosen
    return parse_lonlat(columns[lon], columns[lat], lon, lat), set(chosen)


def _tidy_kml(
    fields: list[str],
    columns: dict[str, list[Any]],
    parsed: Sequence[tuple[shapely.Geometry | None, str | None]],
    layer: str,
) -> tuple[list[str], list[tuple[shapely.Geometry | None, str | None]]]:
    """Drop LIBKML's empty standard fields, call the placemark name ``name`` and drop a Z of 0.

    KML coordinates always carry an altitude; 0 everywhere means none was given.
    """
    auto_id = re.compile(rf"{re.escape(layer)}\.\d+")
    keep = []
    for field in fields:
        values = columns[field]
        if field in _KML_NOISE and all(v is None or v in _KML_NOISE[field] for v in values):
            continue
        if field == "id" and all(v is None or auto_id.fullmatch(str(v)) for v in values):
            continue
        keep.append(field)
    if "Name" in keep and "name" not in keep:
        columns["name"] = columns.pop("Name")
        keep[keep.index("Name")] = "name"
    geoms = np.array([g for g, _ in parsed], dtype=object)
    present = geoms[~shapely.is_missing(geoms)]
    if len(present) and shapely.has_z(present).any():
        z = shapely.get_coordinates(present, include_z=True)[:, 2]
        if not np.any(z[~np.isnan(z)]):
            geoms = shapely.force_2d(geoms)
    return keep, [(g, e) for g, (_, e) in zip(geoms, parsed, strict=True)]
