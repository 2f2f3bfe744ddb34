"""The public face of clearland's file formats: read, list, write.

The work is split by concern: ``readers`` (GDAL formats, CSV), ``geoparquet`` (pyarrow),
``osm`` (OpenStreetMap XML), ``writers`` (atomic writes), ``safety`` (checks on untrusted files:
size, signatures, zip bombs, XML entities), ``cells`` (geometry in table cells).
"""

from __future__ import annotations

from .readers import SUPPORTED_READ, list_layers, read_layer
from .writers import (
    SHAPEFILE_FIELD_LIMIT,
    WRITE_FORMATS,
    format_from_path,
    shapefile_field_names,
    write_layer,
)

__all__ = [
    "SHAPEFILE_FIELD_LIMIT",
    "SUPPORTED_READ",
    "WRITE_FORMATS",
    "format_from_path",
    "list_layers",
    "read_layer",
    "shapefile_field_names",
    "write_layer",
]
