"""Plain data passed between the file readers/writers and the services.

Readers turn a file into a ``SourceLayer`` (geometry still in the file's CRS); writers take
``OutputFeature`` rows already in EPSG:4326. No database, no domain rules here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import shapely


@dataclass(frozen=True)
class ReadLimits:
    """Untrusted-file limits. Defaults suit a national registry on one machine."""

    max_file_bytes: int = 2 * 1024**3  # the file as given (zip, kmz, gpkg ...)
    max_uncompressed_bytes: int = 2 * 1024**3  # total extracted from a zip/kmz
    max_compression_ratio: float = 200.0  # per zip member; zip bombs go far beyond
    max_zip_members: int = 1000
    max_features: int = 5_000_000


@dataclass
class RawFeature:
    """One feature as read. ``number`` is 1-based, the way a person counts rows/features."""

    number: int
    fid: str | None
    properties: dict[str, Any]
    geometry: shapely.Geometry | None
    # set when the geometry itself could not be parsed (e.g. bad WKT in a CSV cell)
    geometry_error: str | None = None


@dataclass
class FeatureColumns:
    """The features of a layer column by column: what ``RawFeature`` holds per feature, as
    lists of the same length. An import of 100k features works on columns; a ``RawFeature``
    and a properties dict per feature cost more than the checks themselves."""

    numbers: Sequence[int]  # 1-based, as ``RawFeature.number``
    fids: list[str | None]
    geometries: Sequence[shapely.Geometry | None]  # a list or a numpy object array
    geometry_errors: list[str | None] | None  # ``None`` when no geometry failed to parse
    properties: dict[str, list[Any]]  # field -> one value per feature

    def __len__(self) -> int:
        return len(self.fids)


@dataclass
class SourceLayer:
    path: Path
    layer: str | None
    driver: str  # e.g. "GPKG", "GeoJSON", "ESRI Shapefile", "KML", "CSV", "FlatGeobuf", "GeoParquet"
    crs: str | None  # "EPSG:32648" when identifiable, else WKT/PROJJSON text, None when missing
    features: list[RawFeature]
    fields: list[str]
    notes: list[str] = field(default_factory=list)  # e.g. "CSV has no CRS: assumed EPSG:4326"
    #: the features by column, when read with ``columnar=True`` (``features`` is then empty)
    columns: FeatureColumns | None = None

    @property
    def feature_count(self) -> int:
        return len(self.columns) if self.columns is not None else len(self.features)

    def feature_columns(self) -> FeatureColumns:
        """The features by column (made from ``features`` when read per feature)."""
        if self.columns is not None:
            return self.columns
        features = self.features
        errors = [f.geometry_error for f in features]
        return FeatureColumns(
            numbers=[f.number for f in features],
            fids=[f.fid for f in features],
            geometries=[f.geometry for f in features],
            geometry_errors=errors if any(e is not None for e in errors) else None,
            properties={name: [f.properties.get(name) for f in features] for name in self.fields},
        )


@dataclass
class OutputFeature:
    properties: dict[str, Any]
    geometry: shapely.Geometry | None  # EPSG:4326, lon/lat
