"""Checks that run before GDAL or pyarrow see an untrusted file.

GDAL picks a driver from a file's *content*, not its extension: a file named ``areas.csv`` that
holds an ``<OGRVRTDataSource>`` would be opened by the VRT driver, which reads other files on the
server. So every input is checked here first: size, magic bytes for the binary formats, a
defusedxml scan for XML (no DTD, no entities, no external references), and our own bounded zip
extraction (GDAL never decompresses an untrusted zip).
"""

from __future__ import annotations

import stat
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Any
from xml.etree.ElementTree import ParseError

import defusedxml
from defusedxml.ElementTree import iterparse

from clearland.errors import InputFileError

from .types import ReadLimits

# A member smaller than this is never refused for its compression ratio alone: tiny files of
# blanks (a .cpg, a short .prj, an empty DBF) compress far beyond 200x and are harmless. The
# total-size cap still applies to them.
RATIO_GRACE_BYTES = 1024 * 1024
_CHUNK_BYTES = 1024 * 1024

# first bytes of each binary format (the shapefile main file starts with the big-endian 9994)
MAGIC = {
    "GPKG": (b"SQLite format 3\x00",),
    "FlatGeobuf": (b"fgb\x03",),
    "ESRI Shapefile": (b"\x00\x00\x27\x0a",),
    "Parquet": (b"PAR1",),
    "zip": (b"PK\x03\x04", b"PK\x05\x06"),
}


def file_error(message: str, path: str | Path, **detail: Any) -> InputFileError:
    """An InputFileError whose message is one line and whose detail names the file."""
    one_line = " ".join(message.split())
    return InputFileError(one_line, detail=[{"file": str(path), **detail}])


def listing(names: list[str], limit: int = 20) -> str:
    """Names for a one-line message: the first ``limit``, then how many more."""
    if not names:
        return "none"
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else f"{shown} and {len(names) - limit} more"


def check_input_file(path: Path, limits: ReadLimits) -> None:
    """Refuse a missing path, a directory, an empty file or one over the size limit."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise file_error(f"file not found: {path}", path) from None
    except OSError as exc:
        raise file_error(f"cannot open {path}: {exc.strerror}", path) from None
    if stat.S_ISDIR(info.st_mode):
        raise file_error(f"{path} is a directory, not a file", path)
    if not stat.S_ISREG(info.st_mode):
        raise file_error(f"{path} is not a regular file", path)
    if info.st_size == 0:
        raise file_error(f"{path} is empty (0 bytes)", path)
    if info.st_size > limits.max_file_bytes:
        raise file_error(
            f"{path} is {info.st_size:,} bytes, over the limit of {limits.max_file_bytes:,} bytes",
            path,
            size_bytes=info.st_size,
            limit_bytes=limits.max_file_bytes,
        )


def check_magic(path: Path, kind: str, label: str, display: str | Path) -> None:
    """Refuse a file whose first bytes are not those of ``kind`` (a key of MAGIC)."""
    with path.open("rb") as fh:
        head = fh.read(16)
    if not head.startswith(MAGIC[kind]):
        raise file_error(
            f"cannot read {display}: truncated or corrupt {label}",
            display,
            problem=f"the file does not start with the {label} signature",
        )


def scan_xml(path: Path, *, root: str, label: str, display: str | Path) -> None:
    """Parse the whole document with defusedxml before GDAL opens it.

    Refuses any DTD (so no entity, internal or external, can expand), checks that the document is
    well formed and that its root element is ``root`` (namespace ignored). Streams: elements are
    cleared as they end, so memory stays flat whatever the size.
    """
    seen_root = False
    try:
        events = iterparse(str(path), events=("start", "end"), forbid_dtd=True)
        for event, elem in events:
            if event == "start" and not seen_root:
                seen_root = True
                local = elem.tag.rsplit("}", 1)[-1]
                if local != root:
                    raise file_error(
                        f"cannot read {display}: not {label} (the root element is <{local}>)",
                        display,
                        problem=f"expected <{root}> as the root element",
                    )
            elif event == "end":
                elem.clear()
    except (
        defusedxml.DTDForbidden,
        defusedxml.EntitiesForbidden,
        defusedxml.ExternalReferenceForbidden,
    ):
        raise file_error(
            f"refused {display}: {label} declares an XML entity/DTD (external entities are not allowed)",
            display,
            problem="DOCTYPE/ENTITY declaration",
        ) from None
    except ParseError as exc:
        raise file_error(
            f"cannot read {display}: truncated or corrupt {label} (malformed XML)",
            display,
            xml=str(exc),
        ) from None


# ----------------------------------------------------------------------------- zip archives


def _member_path(name: str) -> PurePosixPath | None:
    """The member's relative path, or None when it is absolute or climbs with '..'."""
    cleaned = name.replace("\\", "/")
    member = PurePosixPath(cleaned)
    if cleaned.startswith("/") or member.is_absolute() or ".." in member.parts:
        return None
    if member.parts and ":" in member.parts[0]:  # a Windows drive letter, "C:"
        return None
    return member


def _refuse(display: str | Path, message: str, **detail: Any) -> InputFileError:
    return file_error(f"refused {display}: {message}", display, **detail)


def open_zip(path: Path, limits: ReadLimits, display: str | Path) -> zipfile.ZipFile:
    """Open an archive and check every member's declared name, size and ratio.

    The whole archive is refused when any member is unsafe, even one we would not extract.
    """
    with path.open("rb") as fh:
        head = fh.read(4)
    if head not in MAGIC["zip"]:
        raise file_error(
            f"cannot read {display}: truncated or corrupt zip archive",
            display,
            problem="the file does not start with the zip signature",
        )
    try:
        archive = zipfile.ZipFile(path)
        infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as exc:
        raise file_error(
            f"cannot read {display}: truncated or corrupt zip archive", display, zip=str(exc)
        ) from None
    try:
        _check_members(infos, limits, display)
    except InputFileError:
        archive.close()
        raise
    return archive


def _check_members(infos: list[zipfile.ZipInfo], limits: ReadLimits, display: str | Path) -> None:
    if len(infos) > limits.max_zip_members:
        raise _refuse(
            display,
            f"the archive has {len(infos):,} members, over the limit of {limits.max_zip_members:,}",
            members=len(infos),
        )
    declared_total = 0
    for info in infos:
        if _member_path(info.filename) is None:
            raise _refuse(
                display,
                f"zip member {info.filename} has an unsafe path (absolute or '..')",
                member=info.filename,
            )
        if info.flag_bits & 0x1:
            raise _refuse(display, f"zip member {info.filename} is encrypted", member=info.filename)
        if _ratio_exceeded(info.file_size, info.compress_size, limits):
            raise _bomb(display, info.filename, limits)
        declared_total += info.file_size
    if declared_total > limits.max_uncompressed_bytes:
        raise _refuse(
            display,
            f"the archive expands to {declared_total:,} bytes, over the limit of "
            f"{limits.max_uncompressed_bytes:,} bytes",
            uncompressed_bytes=declared_total,
        )


def _ratio_exceeded(size: int, compressed: int, limits: ReadLimits) -> bool:
    return size > RATIO_GRACE_BYTES and size > limits.max_compression_ratio * max(compressed, 1)


def _bomb(display: str | Path, member: str, limits: ReadLimits) -> InputFileError:
    return _refuse(
        display,
        f"zip member {member} expands beyond the {limits.max_compression_ratio:g}x "
        "compression limit (possible zip bomb)",
        member=member,
        limit_ratio=limits.max_compression_ratio,
    )


def member_names(archive: zipfile.ZipFile) -> list[str]:
    """File members, without directories and macOS resource-fork clutter."""
    names = []
    for info in archive.infolist():
        if info.is_dir():
            continue
        parts = PurePosixPath(info.filename.replace("\\", "/")).parts
        if not parts or parts[0] == "__MACOSX" or parts[-1].startswith("._"):
            continue
        names.append(info.filename)
    return names


def extract_members(
    archive: zipfile.ZipFile,
    names: Iterable[str],
    dest: Path,
    limits: ReadLimits,
    display: str | Path,
) -> dict[str, Path]:
    """Stream the named members into ``dest``, counting the bytes actually produced.

    The declared sizes were checked by open_zip; this counts again while decompressing, because a
    crafted header may lie. Returns member name -> extracted path.
    """
    extracted: dict[str, Path] = {}
    total = 0
    for name in names:
        info = archive.getinfo(name)
        relative = _member_path(name)
        if relative is None:  # open_zip refuses these already; never write outside dest
            raise _refuse(display, f"zip member {name} has an unsafe path", member=name)
        target = dest.joinpath(*relative.parts)
        written = 0
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as src, target.open("xb") as out:
                while chunk := src.read(_CHUNK_BYTES):
                    written += len(chunk)
                    total += len(chunk)
                    if _ratio_exceeded(written, info.compress_size, limits):
                        raise _bomb(display, name, limits)
                    if total > limits.max_uncompressed_bytes:
                        raise _refuse(
                            display,
                            f"the archive expands beyond the limit of "
                            f"{limits.max_uncompressed_bytes:,} bytes",
                            member=name,
                        )
                    out.write(chunk)
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError) as exc:
            raise file_error(
                f"cannot read {display}: truncated or corrupt zip archive",
                display,
                member=name,
                zip=str(exc),
            ) from None
        extracted[name] = target
    return extracted
