"""OpenStreetMap XML 0.6 for hand-over to mappers (JOSM opens it as new, unsaved data).

Every object gets a negative id, OSM's mark for "new, not yet uploaded". A point is a tagged
node; a line a tagged way; a polygon without holes a closed tagged way (one way per ring); a
polygon with holes or a multipolygon a ``type=multipolygon`` relation carrying the tags, whose
member ways (outer/inner) are untagged. Nodes with the same coordinates are shared, so adjacent
areas stay topologically joined. Coordinates are written with OSM's precision of 7 decimals
(about 1 cm), as the OSM database would store them anyway. The caller's properties are written
verbatim as tags: values None are left out, lists are joined with ";" and booleans become yes/no
(OSM conventions). OSM limits a tag value to 255 characters; longer values are written as given
and the editor will flag them.
"""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry

from clearland.errors import InputFileError

from .types import OutputFeature
from .values import is_null, text_value


class _OsmBuilder:
    def __init__(self) -> None:
        self._ids = itertools.count(-1, -1)
        self._node_ids: dict[tuple[str, str], int] = {}
        self.nodes: list[ET.Element] = []
        self.ways: list[ET.Element] = []
        self.relations: list[ET.Element] = []

    def _node(self, x: float, y: float, tags: dict[str, str] | None = None) -> int:
        key = (_degrees(x), _degrees(y))
        if tags is None and key in self._node_ids:
            return self._node_ids[key]
        node_id = next(self._ids)
        node = ET.Element("node", id=str(node_id), lat=key[1], lon=key[0], visible="true")
        _add_tags(node, tags)
        self.nodes.append(node)
        if tags is None:
            self._node_ids[key] = node_id
        return node_id

    def _way(self, coords: Any, tags: dict[str, str] | None, closed: bool) -> int:
        refs: list[int] = []
        for c in coords:
            ref = self._node(float(c[0]), float(c[1]))
            if not refs or refs[-1] != ref:  # vertices closer than the 7-decimal grid merge
                refs.append(ref)
        if closed and refs[0] != refs[-1]:
            refs.append(refs[0])
        way_id = next(self._ids)
        way = ET.Element("way", id=str(way_id), visible="true")
        for ref in refs:
            ET.SubElement(way, "nd", ref=str(ref))
        _add_tags(way, tags)
        self.ways.append(way)
        return way_id

    def add(self, geometry: BaseGeometry, tags: dict[str, str]) -> None:
        kind = geometry.geom_type
        if kind == "Point":
            self._node(geometry.x, geometry.y, tags)
        elif kind == "LineString":
            self._way(geometry.coords, tags, closed=False)
        elif kind == "Polygon" and not geometry.interiors:
            self._way(geometry.exterior.coords[:-1], tags, closed=True)
        elif kind in ("Polygon", "MultiPolygon"):
            self._multipolygon(shapely.get_parts(geometry), tags)
        elif kind in ("MultiPoint", "MultiLineString"):
            for part in shapely.get_parts(geometry):
                self.add(part, tags)
        else:
            raise ValueError(f"{kind} has no OpenStreetMap equivalent")

    def _multipolygon(self, polygons: Any, tags: dict[str, str]) -> None:
        members: list[tuple[int, str]] = []
        for polygon in polygons:
            members.append((self._way(polygon.exterior.coords[:-1], None, closed=True), "outer"))
            for ring in polygon.interiors:
                members.append((self._way(ring.coords[:-1], None, closed=True), "inner"))
        relation = ET.Element("relation", id=str(next(self._ids)), visible="true")
        for way_id, role in members:
            ET.SubElement(relation, "member", type="way", ref=str(way_id), role=role)
        _add_tags(relation, {"type": "multipolygon", **tags})
        self.relations.append(relation)


def _degrees(value: float) -> str:
    """OSM's own precision: 7 decimals (about 1 cm), plain decimal notation, no trailing zeros."""
    text = f"{value:.7f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _add_tags(element: ET.Element, tags: dict[str, str] | None) -> None:
    for key, value in (tags or {}).items():
        ET.SubElement(element, "tag", k=key, v=value)


def write_osm(path: Path, features: list[OutputFeature], display: str | Path) -> None:
    builder = _OsmBuilder()
    for number, feature in enumerate(features, start=1):
        tags = {
            str(k): text_value(v, true="yes", false="no")
            for k, v in feature.properties.items()
            if not is_null(v)
        }
        geometry = feature.geometry
        if geometry is None or geometry.is_empty:
            raise InputFileError(
                f"cannot write {display} as OSM: feature {number} has no geometry",
                detail=[{"file": str(display), "feature": number}],
            )
        try:
            builder.add(geometry, tags)
        except ValueError as exc:
            raise InputFileError(
                f"cannot write {display} as OSM: feature {number}: {exc}",
                detail=[{"file": str(display), "feature": number}],
            ) from None
    root = ET.Element("osm", version="0.6", generator="clearland")
    root.extend(builder.nodes + builder.ways + builder.relations)
    ET.indent(root)
    ET.ElementTree(root).write(path, encoding="UTF-8", xml_declaration=True)
