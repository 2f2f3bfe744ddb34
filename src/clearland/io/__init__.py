"""File formats in and out: see ``clearland.io.formats`` for the public functions."""

from .formats import (
    SHAPEFILE_FIELD_LIMIT,
    SUPPORTED_READ,
    WRITE_FORMATS,
    format_from_path,
    list_layers,
    read_layer,
    shapefile_field_names,
    write_layer,
)
from .types import OutputFeature, RawFeature, ReadLimits, SourceLayer

__all__ = [
    "SHAPEFILE_FIELD_LIMIT",
    "SUPPORTED_READ",
    "WRITE_FORMATS",
    "OutputFeature",
    "RawFeature",
    "ReadLimits",
    "SourceLayer",
    "format_from_path",
    "list_layers",
    "read_layer",
    "shapefile_field_names",
    "write_layer",
]
