"""The registry's storage: one ``Store`` per database, read and write transactions over it.

Services see plain dicts and domain ``Change``s; only this package knows SQL. Current-state
dicts carry the record's fields, ``geometry`` (shapely), ``record_id``, ``area_m2`` and
``date_of_information``; ``Change.values['geometry']`` is WKB bytes so values compare exactly.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from sqlalchemy import (
    Connection,
    Engine,
    and_,
    create_engine,
    delete,
    func,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from clearland.domain.geometry import wkb_2d
from clearland.domain.reconcile import Change
from clearland.domain.vocab import RecordKind, ReportStatus
from clearland.errors import Busy, StorageError
from clearland.storage import areas
from clearland.storage import schema as t
from clearland.storage.auth_rows import AuthRows, Origin
from clearland.storage.current_columns import LIST_FIELDS, SourceColumns, read_columns, state_value
from clearland.storage.dialects import SpatialDialect, dialect_for
from clearland.storage.report_rows import ReportRows, change_geom, current_geom
from clearland.storage.vector_tiles import PostGISTiles, TileSource

MIGRATIONS = Path(__file__).parent / "migrations"
#: the newest migration; a test checks it against Alembic's own idea of the head
SCHEMA_HEAD = "0007"


#: write transactions committed by this process, by database URL (``Store.writes_seen``)
_WRITES: dict[str, int] = {}


class Store:
    """A database holding one registry."""

    #: where its writes come from, for the audit log (``with_origin`` gives another view)
    origin: Origin = ("cli", None)

    def __init__(self, url: str) -> None:
        self.url = url
        parsed = make_url(url)
        self.sqlite_path = (
            Path(parsed.database) if parsed.get_backend_name() == "sqlite" and parsed.database else None
        )
        self.engine: Engine = create_engine(url)
        self.dialect: SpatialDialect = dialect_for(self.engine)
        self.dialect.configure(self.engine)

    @property
    def where(self) -> str:
        """The database for messages: the SQLite file, or the URL without its password."""
        if self.sqlite_path is not None:
            return str(self.sqlite_path)
        return make_url(self.url).render_as_string(hide_password=True)

    def with_origin(self, source: str, remote: str | None = None) -> Store:
        """This store (the same engine) with writes recorded as coming from ``source``."""
        view = copy.copy(self)
        view.origin = (source, remote)
        return view

    def exists(self) -> bool:
        return self.schema_revision() is not None

    def schema_revision(self) -> str | None:
        """The applied migration, ``None`` for an empty or missing database."""
        if self.sqlite_path is not None and not self.sqlite_path.exists():
            return None
        try:
            conn = self.engine.connect()
        except OperationalError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
            raise StorageError(f"cannot open the database {self.where}: {reason}") from exc
        with conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            version = conn.scalar(text("SELECT version_num FROM alembic_version"))
            return None if version is None else str(version)

    def upgrade(self) -> None:
        """Create the schema or bring an older one up to date, in place."""
        # Alembic is imported here only: it is slow to import and most commands never need it
        from alembic import command
        from alembic.config import Config

        if self.sqlite_path is not None:
            self.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def wipe(self) -> None:
        """Remove the registry: the SQLite file (and its WAL), or every clearland table of a
        server database (the database itself and its extensions stay)."""
        self.dispose()
        if self.sqlite_path is not None:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.sqlite_path}{suffix}").unlink(missing_ok=True)
            return
        with self.engine.execution_options(clearland_write=True).begin() as conn:
            t.metadata.drop_all(conn)
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))

    def is_ready(self) -> bool:
        """The database holds a registry at this code's schema (``check_ready`` would pass)."""
        return self.schema_revision() == SCHEMA_HEAD

    def check_ready(self) -> None:
        """Refuse to work on a database that is missing, or older/newer than this code."""
        current = self.schema_revision()
        if current is None:
            raise StorageError(f"no clearland registry at {self.where}: run `clearland init` first")
        if current != SCHEMA_HEAD:
            raise StorageError(
                f"the registry's schema is at {current}, this clearland expects {SCHEMA_HEAD}: "
                "run `clearland db upgrade` (or `clearland init`) to upgrade it in place"
            )

    @contextmanager
    def read(self) -> Iterator[Tx]:
        with self.engine.connect() as conn, conn.begin():
            yield Tx(conn, self.dialect, self.origin)

    @contextmanager
    def write(self, *, wait: bool = True, bulk: bool = False) -> Iterator[Tx]:
        """One transaction: everything in it lands, or nothing does. ``wait=False``: raise
        ``Busy`` at once when another writer holds the database, instead of waiting for it.
        ``bulk``: the transaction will write a lot (an import of many features): the database
        may write it in the way that costs least I/O (SQLite: see ``dialects._bulk_journal``)."""
        engine = self.engine.execution_options(clearland_write=True, clearland_wait=wait, clearland_bulk=bulk)
        with engine.connect() as conn:
            try:
                try:
                    transaction = conn.begin()
                except OperationalError as exc:
                    if wait:
                        raise
                    raise Busy("another write holds the registry") from exc
                with transaction:
                    tx = Tx(conn, self.dialect, self.origin)
                    yield tx
                    tx.check_boxes_written()
            finally:
                self.dialect.end_write(conn)
            _WRITES[self.url] = _WRITES.get(self.url, 0) + 1

    def writes_seen(self) -> int:
        """How many write transactions this process has committed to this database (by URL):
        what a cache of a server database's state compares, as SQLite's file times are."""
        return _WRITES.get(self.url, 0)

    def dispose(self) -> None:
        self.engine.dispose()


class Tx(ReportRows, AuthRows):
    """Queries and writes inside one transaction: records and their current state here,
    reports, users and registry metadata in ``ReportRows``, credentials and the audit log in
    ``AuthRows``."""

    def __init__(self, conn: Connection, dialect: SpatialDialect, origin: Origin = ("cli", None)) -> None:
        self.conn = conn
        self.dialect = dialect
        self.origin = origin
        # records created in this transaction and not written yet, by kind and ref: an approval
        # right after the import that created them need not look them up again
        self._created: dict[str, dict[str, int]] = {}
        # refs handed out by ``allocate_refs`` in this transaction: no record has them yet
        self._allocated: dict[str, set[str]] = {}
        # spatial index boxes added by ``box_new_current`` whose rows are not written yet: by
        # kind, (record id -> row of the bounds, the bounds: minx, miny, maxx, maxy per row)
        self._boxed: dict[str, list[tuple[dict[int, int], np.ndarray]]] = {}

    # -- refs -------------------------------------------------------------------------------
    def allocate_refs(self, kind: RecordKind, prefix: str, count: int) -> list[str]:
        """``count`` new refs like ``HA-000124``, never handed out before."""
        key = f"next_ref:{kind.value}"
        start = int(self.get_meta(key, "1") or 1)
        taken_max = self._max_numbered_ref(kind, prefix)
        start = max(start, taken_max + 1)
        self.set_meta(key, str(start + count))
        refs = [f"{prefix}{n:06d}" for n in range(start, start + count)]
        self._allocated.setdefault(kind.value, set()).update(refs)
        return refs

    def _max_numbered_ref(self, kind: RecordKind, prefix: str) -> int:
        refs = self.conn.scalars(
            select(t.report_changes.c.ref).where(
                t.report_changes.c.kind == kind.value, t.report_changes.c.ref.like(f"{prefix}%")
            )
        )
        numbers = [int(r[len(prefix) :]) for r in refs if r[len(prefix) :].isdigit()]
        return max(numbers, default=0)

    def delete_current(self, kind: RecordKind, record_ids: Sequence[int]) -> None:
        """Remove current rows of records that no approved report supports any more."""
        table = t.CURRENT_TABLES[kind.value]
        ids = list(record_ids)
        self.unshare_geometry(kind, ids)
        for condition in self.dialect.in_batches(table.c.record_id, ids):
            self.conn.execute(delete(table).where(condition))
        self._bump_row_versions(ids)

    def _bump_row_versions(self, record_ids: Sequence[int]) -> None:
        self._created.clear()  # some may be written now: look them up again
        for condition in self.dialect.in_batches(t.records.c.id, record_ids):
            self.conn.execute(
                update(t.records).where(condition).values(row_version=t.records.c.row_version + 1)
            )

    # -- records ----------------------------------------------------------------------------
    def ensure_records(self, kind: RecordKind, refs: Sequence[str]) -> tuple[dict[str, int], set[str]]:
        """Record ids by ref, creating the missing ones; also the refs with no state yet
        (created now, or created earlier in this transaction and never written)."""
        known = self._created.get(kind.value, {})
        if refs and all(ref in known for ref in refs):
            return {ref: known[ref] for ref in refs}, set(refs)
        allocated = self._allocated.get(kind.value, set())
        found = self._record_versions(kind, [ref for ref in refs if ref not in allocated])
        missing = [ref for ref in refs if ref not in found]
        if missing:
            allocated.difference_update(missing)
            created = self.dialect.insert_keyed(
                self.conn, t.records, "ref", missing, {"kind": kind.value, "row_version": 0}
            )
            found.update({ref: (rid, 0) for ref, rid in created.items()})
            self._created.setdefault(kind.value, {}).update(created)
        blank = {ref for ref, (_id, version) in found.items() if version == 0}
        return {ref: rid for ref, (rid, _v) in found.items()}, blank

    def _record_versions(self, kind: RecordKind, refs: Sequence[str]) -> dict[str, tuple[int, int]]:
        out: dict[str, tuple[int, int]] = {}
        r = t.records
        for condition in self.dialect.in_batches(r.c.ref, list(refs)):
            rows = self.dialect.fetch_plain(
                self.conn, select(r.c.ref, r.c.id, r.c.row_version).where(r.c.kind == kind.value, condition)
            )
            out.update({ref: (rid, version) for ref, rid, version in rows})
        return out

    def approved_changes(
        self, record_ids: Sequence[int], *, as_of: dt.date | None = None
    ) -> dict[int, list[Change]]:
        """Every approved change of these records, as domain ``Change``s."""
        out: dict[int, list[Change]] = defaultdict(list)
        for condition in self.dialect.in_batches(t.report_changes.c.record_id, list(record_ids)):
            self._collect_changes(out, condition, as_of)
        return out

    def approved_changes_of_kind(
        self, kind: RecordKind, *, as_of: dt.date | None = None
    ) -> dict[int, list[Change]]:
        """Every approved change of every record of ``kind`` (for as-of reads)."""
        out: dict[int, list[Change]] = defaultdict(list)
        self._collect_changes(out, t.report_changes.c.kind == kind.value, as_of)
        return out

    def _collect_changes(self, out: dict[int, list[Change]], condition: Any, as_of: dt.date | None) -> None:
        rc, r = t.report_changes, t.reports
        query = (
            select(
                rc.c.record_id,
                rc.c["values"],
                change_geom(),
                r.c.id,
                r.c.approval_seq,
                r.c.date_of_information,
            )
            .join(r, r.c.id == rc.c.report_id)
            .where(condition, r.c.status == ReportStatus.APPROVED.value)
        )
        if as_of is not None:
            query = query.where(r.c.date_of_information <= as_of)
        for rid, values, geom, report_id, seq, doi in self.conn.execute(query):
            out[rid].append(_change(report_id, seq, doi, values, geom))

    def record_refs(self, record_ids: Iterable[int]) -> dict[int, str]:
        out: dict[int, str] = {}
        for condition in self.dialect.in_batches(t.records.c.id, list(record_ids)):
            out.update(
                self.dialect.fetch_plain(self.conn, select(t.records.c.id, t.records.c.ref).where(condition))
            )
        return out

    # -- current state ------------------------------------------------------------------------
    def write_current(
        self, kind: RecordKind, states: Sequence[Mapping[str, Any]], *, new: bool = False
    ) -> None:
        """Replace the current rows of these records (``record_id`` in each state; ``geometry``
        shapely, and ``wkb`` when the caller has it already). ``new``: none has a row yet."""
        table = t.CURRENT_TABLES[kind.value]
        ids = [s["record_id"] for s in states]
        if not new:
            self.unshare_geometry(kind, ids)
            for condition in self.dialect.in_batches(table.c.record_id, ids):
                self.conn.execute(delete(table).where(condition))
        if not states:
            return
        geoms = np.array([s["geometry"] for s in states], dtype=object)
        given = [s.get("wkb") for s in states]
        wkbs: list[bytes] = (
            list(wkb_2d(geoms)) if any(w is None for w in given) else given  # type: ignore[assignment]
        )
        bounds = shapely.bounds(geoms)
        names = [
            c.name
            for c in table.columns
            if c.name not in ("geom", "remaining_geom", "minx", "miny", "maxx", "maxy")
        ]
        # in parts: the database (SQLite's writer thread) takes one while the next is made
        for start in range(0, len(states), _CURRENT_PART):
            end = start + _CURRENT_PART
            part = _to_columns(names, states[start:end], wkbs[start:end], bounds[start:end])
            self.dialect.insert_columns(self.conn, table, part)
        todo = np.ones(len(ids), dtype=bool)
        for rows, boxes in self._boxed.get(kind.value, []):
            # some boxes are in the index already (``box_new_current``): the same ones?
            at = np.array([rows.pop(rid, -1) for rid in ids])
            done = at >= 0
            if not np.array_equal(boxes[at[done]], bounds[done], equal_nan=True):
                raise StorageError(f"{kind.value}: a row's box differs from the one indexed before")
            todo &= ~done
        if not todo.all():
            ids, bounds = [rid for rid, keep in zip(ids, todo.tolist(), strict=True) if keep], bounds[todo]
        self.dialect.index_boxes(self.conn, table, ids, bounds)
        self._bump_row_versions([s["record_id"] for s in states])

    def box_new_current(
        self,
        kind: RecordKind,
        record_ids: Sequence[int],
        geoms: Sequence[shapely.Geometry | None] | np.ndarray,
    ) -> None:
        """Add to the spatial index (SQLite's R*Tree) the boxes of the current rows that
        ``write_current`` will write, later in this transaction, for these records, which have
        none yet, with these geometries: the database then fills its index (on SQLite, on the
        transaction's writer thread) while the rows are still being made. ``write_current``
        checks that each row it writes has the box given here; the transaction cannot commit
        while a box given here has no row."""
        table = t.CURRENT_TABLES[kind.value]
        bounds = shapely.bounds(np.asarray(geoms, dtype=object))
        ids = [int(i) for i in record_ids]
        rows = dict(zip(ids, range(len(ids)), strict=True))
        boxed = self._boxed.setdefault(kind.value, [])
        if len(rows) != len(ids) or any(not rows.keys().isdisjoint(given) for given, _b in boxed):
            raise StorageError(f"{kind.value}: a record given twice to box_new_current")
        self.dialect.index_boxes(self.conn, table, ids, bounds)
        boxed.append((rows, bounds))

    def check_boxes_written(self) -> None:
        """Raise ``StorageError`` if a box added by ``box_new_current`` has no row yet."""
        left = {kind: sum(len(rows) for rows, _b in boxed) for kind, boxed in self._boxed.items()}
        left = {kind: count for kind, count in left.items() if count}
        if left:
            raise StorageError(f"spatial index boxes added for rows never written: {left}")

    def unshare_geometry(self, kind: RecordKind, record_ids: Sequence[int]) -> None:
        """Copy the current geometry of these records into the changes that only point at it
        (``report_changes.geom_in_current``), before their current rows change or go."""
        rc = t.report_changes
        for condition in self.dialect.in_batches(rc.c.record_id, list(record_ids)):
            self.conn.execute(
                update(rc)
                .where(condition, rc.c.geom_in_current.is_(True), rc.c.kind == kind.value)
                .values(geom=current_geom(kind.value), geom_in_current=False)
            )

    def mvt_tile(self, kind: RecordKind, layer: str, columns: Sequence[str], z: int, x: int, y: int) -> bytes:
        """Tile z/x/y of the current rows of ``kind`` drawn in SQL by the database (PostGIS's
        ``ST_AsMVT``; see ``PostGISDialect.mvt_tile``)."""
        draw = getattr(self.dialect, "mvt_tile", None)
        if draw is None:
            raise StorageError(f"vector tiles drawn in SQL need PostGIS; this is {self.dialect.name}")
        return bytes(draw(self.conn, t.CURRENT_TABLES[kind.value], layer, columns, z, x, y))

    def vector_tiles(self) -> PostGISTiles | None:
        """What draws vector tiles of the current state in SQL in this transaction
        (``storage.vector_tiles``: one query per tile, as ``services.tiles`` draws them); None
        where the database does not (SQLite): the caller draws them in Python."""
        return self.dialect.vector_tiles(self.conn)

    def current_columns(self, source: TileSource) -> SourceColumns:
        """The current rows a tile layer's source shows, column by column, for the tile path
        drawn in Python (``storage.current_columns``: one query, no dict per row)."""
        return read_columns(self.conn, source)

    def area_groups(
        self,
        kind: RecordKind,
        *,
        group_by: str | None = None,
        only: Mapping[str, Sequence[str]] | None = None,
        exclude: Mapping[str, Sequence[str]] | None = None,
        remaining: bool = False,
    ) -> dict[str | None, areas.AreaGroup] | None:
        """Counts and geodesic areas of the current rows of ``kind`` measured by the database,
        per value of ``group_by`` (``storage.areas``); None where the database does not measure
        areas (SQLite): the caller reads the rows and measures them itself."""
        if self.dialect.name != "postgresql":
            return None
        table = t.CURRENT_TABLES[kind.value]
        return areas.area_groups(
            self.conn, table, group_by=group_by, only=only, exclude=exclude, remaining=remaining
        )

    def remaining_is_whole(self, kind: RecordKind, *, exclude: Mapping[str, Sequence[str]]) -> bool:
        """On a database that measures areas: whether the rows of ``kind`` left after
        ``exclude``, by their remaining land, are all its rows as they are
        (``storage.areas.remaining_is_whole``)."""
        return areas.remaining_is_whole(self.conn, t.CURRENT_TABLES[kind.value], exclude=exclude)

    def current(
        self,
        kind: RecordKind,
        *,
        refs: Sequence[str] | None = None,
        source_ids: Sequence[str] | None = None,
        hazard_refs: Sequence[str] | None = None,
        parent_refs: Sequence[str] | None = None,
        activity_refs: Sequence[str] | None = None,
        where: Mapping[str, str] | None = None,
        bbox: tuple[float, float, float, float] | None = None,
    ) -> list[dict[str, Any]]:
        table = t.CURRENT_TABLES[kind.value]
        base = select(table).order_by(table.c.ref)
        conditions = []
        for name, value in (where or {}).items():
            conditions.append(table.c[name] == value)
        if bbox is not None:
            conditions.append(self.dialect.bbox_filter(table, bbox))
        if conditions:
            base = base.where(and_(*conditions))
        keyed = [
            (name, keys)
            for name, keys in (
                ("ref", refs),
                ("source_id", source_ids),
                ("hazard_ref", hazard_refs),
                ("parent_ref", parent_refs),
                ("activity_ref", activity_refs),
            )
            if keys is not None
        ]
        if not keyed:
            return [_from_row(dict(r)) for r in self.conn.execute(base).mappings()]
        (name, keys), *others = keyed
        if others:
            raise TypeError("current() takes one list of keys (refs, source_ids, hazard_refs, …)")
        column = table.c[name]
        out: list[dict[str, Any]] = []
        for condition in self.dialect.in_batches(column, list(keys or [])):
            rows = self.conn.execute(base.where(condition)).mappings()
            out.extend(_from_row(dict(r)) for r in rows)
        return out

    def activities_on(self, hazard_ref: str) -> list[dict[str, Any]]:
        """Activities that worked on ``hazard_ref`` (listed in their ``hazard_refs``), by ref."""
        table = t.activities
        rows = self.conn.execute(
            select(table)
            .where(table.c.hazard_refs.contains(hazard_ref, autoescape=True))
            .order_by(table.c.ref)
        ).mappings()
        found = [_from_row(dict(r)) for r in rows]
        return [a for a in found if hazard_ref in (a["hazard_refs"] or [])]

    def set_remaining(self, rows: Sequence[tuple[int, bytes | None, float]]) -> None:
        """(record_id, remaining WKB or None when nothing is released, remaining m²) per hazard."""
        table = t.hazard_areas
        for record_id, wkb, area_m2 in rows:
            self.conn.execute(
                update(table)
                .where(table.c.record_id == record_id)
                .values(remaining_geom=wkb, remaining_area_m2=area_m2)
            )

    def count(self, kind: RecordKind) -> int:
        return int(self.conn.scalar(select(func.count()).select_from(t.CURRENT_TABLES[kind.value])) or 0)

    def table_counts(self) -> dict[str, int]:
        return {
            table.name: int(self.conn.scalar(select(func.count()).select_from(table)) or 0)
            for table in t.metadata.sorted_tables
        }


def _change(
    report_id: int, seq: int | None, doi: dt.date, values: Mapping[str, Any], geom: bytes | None
) -> Change:
    merged = dict(values)
    if geom is not None:
        merged["geometry"] = bytes(geom)
    return Change(report_id=report_id, seq=seq or 0, date_of_information=doi, values=merged)


#: current rows made and handed to the database at a time by ``write_current``
_CURRENT_PART = 20_000


def _to_columns(
    names: Sequence[str], states: Sequence[Mapping[str, Any]], wkbs: Sequence[bytes], bounds: np.ndarray
) -> dict[str, list[Any]]:
    """The columns of a current table's rows: ``names`` from each state (a date given as text
    parsed, a list joined with ";"), then geom and bbox."""
    if not len(wkbs) == len(bounds) == len(states):
        raise ValueError("states, WKB and bounds of different lengths")
    given = set().union(*states)  # a column no state has is all None: no need to look
    columns: dict[str, list[Any]] = {}
    for name in names:
        if name not in given:
            columns[name] = [None] * len(states)
            continue
        column = [state.get(name) for state in states]
        if name == "date_of_information":
            dates = {v: dt.date.fromisoformat(v) for v in {v for v in column if isinstance(v, str)}}
            column = [dates[v] if isinstance(v, str) else v for v in column]
        elif name in LIST_FIELDS:
            column = [";".join(v) if v else None for v in column]
        columns[name] = column
    columns["geom"] = list(wkbs)
    for k, name in enumerate(("minx", "miny", "maxx", "maxy")):
        columns[name] = bounds[:, k].tolist()
    return columns


def _from_row(row: Mapping[str, Any]) -> dict[str, Any]:
    state: dict[str, Any] = {}
    for name, value in row.items():
        if name == "geom":
            state["geometry"] = shapely.from_wkb(value)
        elif name == "remaining_geom":
            state["remaining_geometry"] = None if value is None else shapely.from_wkb(value)
        elif name not in ("minx", "miny", "maxx", "maxy"):
            state[name] = state_value(name, value)
    return state
