"""What the check and screening routes take in: a query read by hand (every parameter known,
none twice) and a file sent as the request body or as the ``file`` part of a form, written to
disk under a name with the suffix its format needs."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request
from starlette.datastructures import UploadFile

from clearland.domain.records import RECORD_TYPES
from clearland.errors import ClearlandError, InputError

#: file formats by name: the suffix the readers know them by, and the media types that mean them
CHECK_FORMATS = {
    "gpx": (".gpx", ("application/gpx+xml", "application/gpx")),
    "geojson": (".geojson", ("application/geo+json", "application/vnd.geo+json", "application/json")),
    "kml": (".kml", ("application/vnd.google-earth.kml+xml",)),
    "kmz": (".kmz", ("application/vnd.google-earth.kmz",)),
}
SCREEN_FORMATS = {
    "csv": (".csv", ("text/csv", "application/csv")),
    "gpx": CHECK_FORMATS["gpx"],
    "geojson": CHECK_FORMATS["geojson"],
    "fgb": (".fgb", ("application/flatgeobuf", "application/vnd.flatgeobuf")),
    "parquet": (".parquet", ("application/vnd.apache.parquet", "application/x-parquet")),
}
#: fields no record type shows the public (``minefield_record_ref``, …)
RESTRICTED_FIELDS = frozenset(
    {s.name for t in RECORD_TYPES.values() for s in t.fields}
    - {s.name for t in RECORD_TYPES.values() for s in t.fields if s.public}
)
_SUFFIXES = {".json": "geojson", ".geoparquet": "parquet"}
_CHUNK = 1024 * 1024


def query(request: Request, allowed: Mapping[str, str]) -> dict[str, str]:
    """The query parameters, each at most once; ``InputError`` naming every unknown or repeated
    one. ``allowed``: name → what it is (for the message)."""
    values: dict[str, str] = {}
    problems: list[dict[str, Any]] = []
    choices = f"allowed: {', '.join(allowed) or 'none'}"
    for name, value in request.query_params.multi_items():
        if name not in allowed and name in RESTRICTED_FIELDS:
            # never echo the name of a field the public may not see, even back to its sender
            problems.append({"parameter": None, "message": f"an unknown parameter ({choices})"})
        elif name not in allowed:
            problems.append({"parameter": name, "message": f"unknown parameter ({choices})"})
        elif name in values:
            problems.append({"parameter": name, "message": "given more than once"})
        else:
            values[name] = value
    raise_problems(problems)
    return values


def raise_problems(problems: list[dict[str, Any]]) -> None:
    if not problems:
        return
    first = problems[0]
    summary = f"{first['parameter']}: {first['message']}" if first["parameter"] else str(first["message"])
    if len(problems) > 1:
        named = ", ".join(str(p["parameter"]) for p in problems if p["parameter"])
        summary = f"{len(problems)} parameters are wrong" + (f": {named}" if named else "")
    raise InputError(summary, detail=problems)


def number(
    values: Mapping[str, str],
    name: str,
    problems: list[dict[str, Any]],
    *,
    default: float | None = None,
    low: float = -math.inf,
    high: float = math.inf,
) -> float:
    """A finite number within ``low``…``high`` (a problem added, and NaN returned, if not)."""
    raw = values.get(name)
    if raw is None:
        if default is None:
            problems.append({"parameter": name, "message": "required"})
            return math.nan
        return default
    try:
        value = float(raw)
    except ValueError:
        problems.append({"parameter": name, "message": f"{raw!r} is not a number"})
        return math.nan
    if not math.isfinite(value) or not low <= value <= high:
        problems.append({"parameter": name, "message": f"give a number from {low:g} to {high:g}"})
        return math.nan
    return value


@dataclass(frozen=True)
class Upload:
    path: Path
    name: str  # as the sender named it (its suffix the format's), for answers and messages
    bytes: int


async def receive_file(
    request: Request,
    folder: Path,
    formats: Mapping[str, tuple[str, tuple[str, ...]]],
    *,
    format_name: str | None,
    filename: str | None,
    default_stem: str,
) -> Upload:
    """Write the request's file into ``folder``: the body as it is, or the ``file`` part of a
    ``multipart/form-data`` body. Its format: the ``format`` parameter, else the media type,
    else the suffix of its name."""
    media_type = _media_type(request.headers.get("content-type"))
    if media_type == "multipart/form-data":
        form = await request.form(max_files=1, max_fields=10)
        try:
            part = form.get("file")
            if not isinstance(part, UploadFile):
                raise InputError(
                    "the form has no file: send it as the part named 'file'",
                    detail=[{"parameter": "file", "message": "required"}],
                )
            name = filename or part.filename
            chosen = _choose(formats, format_name, _media_type(part.content_type), name)
            target = folder / _safe_name(name, default_stem, formats[chosen][0])
            size = 0
            with target.open("wb") as out:
                while chunk := await part.read(_CHUNK):
                    out.write(chunk)
                    size += len(chunk)
        finally:
            await form.close()
    else:
        chosen = _choose(formats, format_name, media_type, filename)
        target = folder / _safe_name(filename, default_stem, formats[chosen][0])
        size = 0
        with target.open("wb") as out:
            async for chunk in request.stream():
                out.write(chunk)
                size += len(chunk)
    if size == 0:
        raise InputError(
            "the file is empty", detail=[{"parameter": "body", "message": "send the file as the body"}]
        )
    return Upload(target, target.name, size)


@contextmanager
def server_paths_hidden(folder: Path) -> Iterator[None]:
    """Errors raised inside name the files of ``folder`` by their names alone: a reader's
    message may carry the full path, which is the server's business."""
    try:
        yield
    except ClearlandError as error:
        prefixes = {f"{folder}{os.sep}", f"{folder.resolve()}{os.sep}"}
        error.message = _without(error.message, prefixes)
        error.detail = [{k: _without(v, prefixes) for k, v in entry.items()} for entry in error.detail]
        error.args = (error.message,)
        raise


def _without(value: Any, prefixes: set[str]) -> Any:
    if isinstance(value, str):
        for prefix in prefixes:
            value = value.replace(prefix, "")
    return value


def _media_type(header: str | None) -> str:
    return (header or "").split(";")[0].strip().lower()


def _choose(
    formats: Mapping[str, tuple[str, tuple[str, ...]]],
    format_name: str | None,
    media_type: str,
    filename: str | None,
) -> str:
    names = ", ".join(formats)
    if format_name is not None:
        chosen = format_name.strip().lower()
        if chosen not in formats:
            message = f"{format_name!r} is not a format here ({names})"
            raise InputError(f"format: {message}", detail=[{"parameter": "format", "message": message}])
        return chosen
    for name, (_suffix, media_types) in formats.items():
        if media_type in media_types:
            return name
    if filename:
        suffix = Path(filename).suffix.lower()
        for name, (known, _media) in formats.items():
            if suffix == known or _SUFFIXES.get(suffix) == name:
                return name
    message = f"say which format the file is in: format={'|'.join(formats)}, or its media type"
    raise InputError(message, detail=[{"parameter": "format", "message": message}])


def _safe_name(filename: str | None, default_stem: str, suffix: str) -> str:
    """The sender's file name, reduced to a plain name in this folder, with ``suffix``."""
    stem = Path((filename or "").replace("\\", "/")).name
    stem = stem[: -len(Path(stem).suffix)] if Path(stem).suffix else stem
    stem = re.sub(r"[^\w.-]+", "_", stem).strip("._")[:100] or default_stem
    return stem + suffix
