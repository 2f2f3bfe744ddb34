"""Area totals measured by the database (PostGIS), for ``services.statistics``.

The statistics give, per group of current rows, the number of rows, the sum of their geodesic
areas and the net area (overlaps counted once; ``reports.stats``). On PostgreSQL the database
does the bulk of it, on the GiST index of ``geom_pg`` (migration 0007):

1. one self-join finds the rows whose geometry meets another row's *of the same group*;
2. one aggregate counts each group's rows and sums ``ST_Area(geom::geography)`` (geodesic, on
   the WGS84 spheroid, GeographicLib as in ``pyproj.Geod``) over the valid rows that meet no
   other: their net area is their own area;
3. only the rows of step 1 (and any invalid one) are read back, for ``reports.stats`` to
   union and measure in Python, as it does on SQLite.

So on a registry of mostly separate areas almost nothing leaves the database; the answer is the
same as the Python path's (``tests/reports/test_sql_areas.py`` compares them on both kinds of
cluster, groups, remaining land and invalid rows).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import shapely
from sqlalchemy import Connection, Table, text

#: the group key of every row when no grouping is asked for
ALL = ""


@dataclass
class AreaGroup:
    """One group's rows: how many; the geodesic area (m²) of the valid rows that meet no other
    row of the group (each is its own net area); and the geometries of the others, to be
    measured and unioned by the caller."""

    count: int = 0
    separate_m2: float = 0.0
    shared: list[shapely.Geometry] = field(default_factory=list)


def area_groups(
    conn: Connection,
    table: Table,
    *,
    group_by: str | None = None,
    only: Mapping[str, Sequence[str]] | None = None,
    exclude: Mapping[str, Sequence[str]] | None = None,
    remaining: bool = False,
) -> dict[str | None, AreaGroup]:
    """``AreaGroup`` per value of ``group_by`` (or one group, key ``ALL``) of the current rows of
    ``table`` whose columns hold one of the ``only`` values and none of the ``exclude`` ones.
    ``remaining``: measure ``remaining_geom`` where it is set (the land not yet released)."""
    name = table.name
    key = f'x."{group_by}"' if group_by else "''"
    shape = "COALESCE(ST_GeomFromWKB(x.remaining_geom, 4326), x.geom_pg)" if remaining else "x.geom_pg"
    params: dict[str, Any] = {}
    conditions = ["TRUE"]
    for i, (column, values) in enumerate((only or {}).items()):
        conditions.append(f'x."{column}" = ANY(:only{i})')
        params[f"only{i}"] = list(values)
    for i, (column, values) in enumerate((exclude or {}).items()):
        conditions.append(f'NOT (x."{column}" = ANY(:exclude{i}))')
        params[f"exclude{i}"] = list(values)

    def on(alias: str, sql: str) -> str:
        return sql.replace("x.", f"{alias}.")

    where = " AND ".join(conditions)
    # 1. rows meeting another row of their group; the bounding boxes of the stored geometry
    # hold the remaining land too, so the index narrows the pairs either way
    shared_ids = {
        row[0]
        for row in conn.execute(
            text(
                f"""
                SELECT DISTINCT a.record_id
                FROM {name} AS a JOIN {name} AS b
                  ON a.geom_pg && b.geom_pg AND a.record_id <> b.record_id
                WHERE {on("a", where)} AND {on("b", where)}
                  AND {on("a", key)} IS NOT DISTINCT FROM {on("b", key)}
                  AND ST_Intersects({on("a", shape)}, {on("b", shape)})
                """
            ),
            params,
        )
    }
    # 2. per group: rows, and the areas of the valid rows that meet no other
    groups: dict[str | None, AreaGroup] = {}
    to_read: list[int] = []
    rows = conn.execute(
        text(
            f"""
            SELECT {key} AS key, x.record_id, ST_IsValid({shape}) AS valid,
                   ST_Area(({shape})::geography) AS area_m2
            FROM {name} AS x WHERE {where}
            """
        ),
        params,
    )
    for group, record_id, valid, area_m2 in rows:
        entry = groups.setdefault(group, AreaGroup())
        entry.count += 1
        if valid and record_id not in shared_ids:
            entry.separate_m2 += float(area_m2 or 0.0)
        else:
            to_read.append(record_id)
    # 3. the geometries the caller unions
    if to_read:
        wanted = {**params, "ids": to_read}
        for group, wkb in conn.execute(
            text(
                f"""
                SELECT {key} AS key, ST_AsBinary({shape})
                FROM {name} AS x WHERE {where} AND x.record_id = ANY(:ids)
                ORDER BY x.record_id
                """
            ),
            wanted,
        ):
            groups[group].shared.append(shapely.from_wkb(bytes(wkb)))
    return groups


def remaining_is_whole(conn: Connection, table: Table, *, exclude: Mapping[str, Sequence[str]]) -> bool:
    """Whether ``area_groups(exclude=exclude, remaining=True)`` would measure exactly what
    ``area_groups()`` measures: no current row is excluded and none has remaining land set
    (nothing closed, nothing released yet), so the caller can skip measuring it again."""
    conditions = ["x.remaining_geom IS NOT NULL"]
    params: dict[str, Any] = {}
    for i, (column, values) in enumerate(exclude.items()):
        conditions.append(f'x."{column}" = ANY(:exclude{i})')
        params[f"exclude{i}"] = list(values)
    differs = conn.execute(
        text(f"SELECT EXISTS (SELECT 1 FROM {table.name} AS x WHERE {' OR '.join(conditions)})"), params
    ).scalar()
    return not differs


__all__ = ["ALL", "AreaGroup", "area_groups", "remaining_is_whole"]
