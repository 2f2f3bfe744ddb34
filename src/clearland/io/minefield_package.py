"""Several layers in one GeoPackage (a minefield record's handover package)."""

from __future__ import annotations

from pathlib import Path

from clearland.errors import InputFileError
from clearland.io.types import OutputFeature
from clearland.io.writers import _columns, _write_gdal


def write_gpkg_layers(path: Path, layers: dict[str, list[OutputFeature]]) -> None:
    """Write each layer (EPSG:4326) into the GeoPackage ``path``, which must not exist yet."""
    if path.exists():
        raise InputFileError(f"cannot write {path}: it exists already")
    for name, features in layers.items():
        _write_gdal("gpkg", path, path, features, _columns(features), name)
