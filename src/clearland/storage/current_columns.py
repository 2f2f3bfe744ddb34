"""The current rows of a tile layer read column by column: what the tile path drawn in Python
(``services.tiles``: SQLite, or a tile PostGIS failed to draw) builds its layer from, with no
dict and no feature per row.

One ``SELECT`` per source of the layer (``vector_tiles.TileSource``: which rows of which
current table, which of their columns or of their JSON items as attributes, the rows ordered by
ref as ``Tx.current`` orders them), read straight from the driver's cursor: the geometry (WKB)
decoded by shapely in one call, each attribute dictionary-encoded (per row an integer code into
the column's distinct values). Only the distinct values go through what ``Tx.current`` does to a
value, SQLAlchemy's conversion of the column's type and then ``state_value`` (which ``Tx.current``
applies to every value), so each is what the state of a record read one by one holds: on 100k
hazard areas, a few distinct values per column but for the refs, names and areas. The items of
a JSON column (the markers an activity placed) are few, and read row by row.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from sqlalchemy import Connection, Table, select
from sqlalchemy.sql.elements import ColumnElement

from clearland.domain.records import RECORD_TYPES
from clearland.storage import schema as t
from clearland.storage.report_rows import _split
from clearland.storage.vector_tiles import Column, ItemId, ItemKey, TileSource

#: columns holding a ";"-joined list, read as a list
LIST_FIELDS = {
    spec.name for rt in RECORD_TYPES.values() for spec in rt.fields if spec.kind in ("vocab_list", "str_list")
}


def state_value(column: str, value: Any) -> Any:
    """A current row's value (as SQLAlchemy gives it) as the record's state holds it: the date
    of information as ISO text, a ";"-joined list as a list (None when empty)."""
    if column == "date_of_information":
        return value.isoformat() if value is not None else None
    if column in LIST_FIELDS:
        return _split(value) or None
    return value


@dataclass(frozen=True)
class CodedColumn:
    """One attribute of every row: a code per row into ``values``."""

    codes: NDArray[np.int32]
    values: list[Any]  # distinct, in the order they first appear; None among them where absent


@dataclass(frozen=True)
class SourceColumns:
    """The rows of one source: geometry (shapely, EPSG:4326) and attributes by name."""

    geometries: NDArray[np.object_]
    attributes: dict[str, CodedColumn]

    def __len__(self) -> int:
        return len(self.geometries)


def read_columns(conn: Connection, source: TileSource) -> SourceColumns:
    """The current rows of ``source``, by ref (one point per item of each row with ``items``)."""
    table = t.CURRENT_TABLES[source.kind]
    if source.items is not None:
        return _read_items(conn, table, source)
    columns = _columns_of(source)
    rows, coltypes = _fetch(conn, table, source, [*columns, "geom"])
    read = list(zip(*rows, strict=True)) if rows else [()] * (len(columns) + 1)
    coded = {
        name: _converted(conn, table.c[name], coltypes[k], _coded(read[k])) for k, name in enumerate(columns)
    }
    geometries = shapely.from_wkb(np.array(read[-1], dtype=object)) if rows else np.empty(0, dtype=object)
    attributes = {}
    for name, value in source.attributes.items():
        if not isinstance(value, Column):
            raise ValueError(f"{source.kind}: {name} reads an item, and the source has no items")
        attributes[name] = coded[value.name]
    return SourceColumns(geometries, attributes)


def _read_items(conn: Connection, table: Table, source: TileSource) -> SourceColumns:
    """One point per item of each row: few rows (activities), read one by one."""
    assert source.items is not None
    columns = [*_columns_of(source), source.items]
    rows, coltypes = _fetch(conn, table, source, columns)
    convert = [_processor(conn, table.c[n], coltype) for n, coltype in zip(columns, coltypes, strict=True)]
    values: dict[str, list[Any]] = {name: [] for name in source.attributes}
    lons: list[float] = []
    lats: list[float] = []
    for row in rows:
        state = {
            name: state_value(name, raw if process is None else process(raw))
            for name, raw, process in zip(columns, row, convert, strict=True)
        }
        items = state[source.items]
        for number, item in enumerate(items if isinstance(items, list) else [], start=1):
            lons.append(float(item["lon"]))
            lats.append(float(item["lat"]))
            for name, value in source.attributes.items():
                if isinstance(value, ItemKey):
                    values[name].append(item.get(value.key))
                elif isinstance(value, ItemId):
                    values[name].append(f"{state[value.column]}{value.infix}{number}")
                else:
                    values[name].append(state[value.name])
    geometries = shapely.points(np.array(lons, dtype=float), np.array(lats, dtype=float))
    return SourceColumns(
        np.asarray(geometries, dtype=object).reshape(-1), {n: _coded(v) for n, v in values.items()}
    )


def _columns_of(source: TileSource) -> list[str]:
    """The table's columns a source reads, each once."""
    out: list[str] = []
    for value in source.attributes.values():
        if isinstance(value, Column | ItemId):
            name = value.name if isinstance(value, Column) else value.column
            if name not in out:
                out.append(name)
    return out


def _fetch(
    conn: Connection, table: Table, source: TileSource, names: Sequence[str]
) -> tuple[list[Any], list[Any]]:
    """The rows of these columns, by ref, as the driver gives them, and the driver's type of
    each column (for SQLAlchemy's conversion of it)."""
    only: list[ColumnElement[bool]] = [table.c[n].in_(list(allowed)) for n, allowed in source.only.items()]
    statement = select(*(table.c[name] for name in names)).where(*only).order_by(table.c.ref)
    # SQLAlchemy's rows would convert every value of 100k rows; only the distinct ones need it
    cursor = conn.execute(statement).cursor
    coltypes = [d[1] for d in cursor.description]
    return list(cursor.fetchall()), coltypes


def _processor(conn: Connection, column: Any, coltype: Any) -> Any:
    """SQLAlchemy's conversion of the column's values from the driver's (None: none)."""
    return column.type.dialect_impl(conn.dialect).result_processor(conn.dialect, coltype)


def _converted(conn: Connection, column: Any, coltype: Any, coded: CodedColumn) -> CodedColumn:
    process = _processor(conn, column, coltype)
    if process is None and column.name != "date_of_information" and column.name not in LIST_FIELDS:
        return coded  # as the driver gives them (most columns: refs, names, areas)
    values = [state_value(column.name, v if process is None else process(v)) for v in coded.values]
    return CodedColumn(coded.codes, values)


def _coded(values: Sequence[Any]) -> CodedColumn:
    try:
        # dict.fromkeys keeps the first of equal values, in the order they come
        distinct = list(dict.fromkeys(values))
        if len(distinct) == len(values):  # refs, names, areas: each row its own value
            return CodedColumn(np.arange(len(values), dtype=np.int32), distinct)
        index = {v: k for k, v in enumerate(distinct)}
        return CodedColumn(np.fromiter(map(index.__getitem__, values), np.int32, len(values)), distinct)
    except TypeError:  # a list or an object in a JSON item: told apart by its text
        pass
    table: dict[Any, int] = {}
    distinct = []
    codes = []
    for v in values:
        key = v if isinstance(v, Hashable) else (type(v).__name__, repr(v))
        if key not in table:
            table[key] = len(distinct)
            distinct.append(v)
        codes.append(table[key])
    return CodedColumn(np.array(codes, dtype=np.int32), distinct)
