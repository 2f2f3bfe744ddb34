"""Reports, users and registry metadata: the rows behind the review workflow.

A mixin of ``repository.Tx``: it needs ``self.conn`` and ``self.dialect`` and nothing else.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, case, func, insert, select, update

from clearland.domain.vocab import RecordKind, ReportStatus
from clearland.errors import UnknownRecord
from clearland.storage import schema as t
from clearland.storage.dialects import SpatialDialect


def change_geom() -> Any:
    """``report_changes.geom`` as the change has it: read through to its record's current row
    when it points at that (``geom_in_current``)."""
    rc = t.report_changes
    current = case({kind: current_geom(kind) for kind in t.CURRENT_TABLES}, value=rc.c.kind)
    return case((rc.c.geom_in_current.is_(True), current), else_=rc.c.geom).label("geom")


def current_geom(kind: str) -> Any:
    """The geometry of the current row (in the table of ``kind``) of a change's record."""
    table = t.CURRENT_TABLES[kind]
    return select(table.c.geom).where(table.c.record_id == t.report_changes.c.record_id).scalar_subquery()


def _split(text: str | None) -> list[str]:
    return [part for part in (text or "").split(";") if part]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class ReportRows:
    conn: Connection
    dialect: SpatialDialect

    # -- meta -------------------------------------------------------------------------------
    def get_meta(self, key: str, default: str | None = None) -> str | None:
        value = self.conn.scalar(select(t.meta.c.value).where(t.meta.c.key == key))
        return default if value is None else str(value)

    def set_meta(self, key: str, value: str) -> None:
        if self.conn.execute(update(t.meta).where(t.meta.c.key == key).values(value=value)).rowcount == 0:
            self.conn.execute(insert(t.meta).values(key=key, value=value))

    def revision(self) -> int:
        return int(self.get_meta("revision", "0") or 0)

    def latest_information(self) -> dt.date | None:
        """The latest date of information among approved reports."""
        latest: dt.date | None = self.conn.scalar(
            select(func.max(t.reports.c.date_of_information)).where(
                t.reports.c.status == ReportStatus.APPROVED.value
            )
        )
        return latest

    def next_approval_seq(self) -> int:
        current = self.conn.scalar(select(func.max(t.reports.c.approval_seq)))
        return int(current or 0) + 1

    def bump_revision(self) -> int:
        revision = self.revision() + 1
        self.set_meta("revision", str(revision))
        return revision

    # -- users ------------------------------------------------------------------------------
    def get_user(self, name: str) -> dict[str, Any]:
        row = self.conn.execute(select(t.users).where(t.users.c.name == name)).mappings().first()
        if row is None:
            raise UnknownRecord(f"no user named {name!r}")
        return {"id": row["id"], "name": row["name"], "roles": _split(row["roles"])}

    def add_user(self, name: str, roles: Iterable[str]) -> int:
        result = self.conn.execute(
            insert(t.users).values(name=name, roles=";".join(sorted(roles)), created_at=_now())
        )
        return int(result.inserted_primary_key[0])  # type: ignore[index]

    def list_users(self) -> list[dict[str, Any]]:
        rows = self.conn.execute(select(t.users).order_by(t.users.c.name)).mappings()
        return [{"id": r["id"], "name": r["name"], "roles": _split(r["roles"])} for r in rows]

    # -- reports ----------------------------------------------------------------------------
    def insert_report(
        self,
        *,
        type: str,
        status: ReportStatus,
        date_of_information: dt.date,
        created_by: int,
        source_name: str | None = None,
        source_sha256: str | None = None,
        summary: Mapping[str, Any] | None = None,
    ) -> int:
        result = self.conn.execute(
            insert(t.reports).values(
                type=type,
                status=status.value,
                date_of_information=date_of_information,
                created_by=created_by,
                created_at=_now(),
                source_name=source_name,
                source_sha256=source_sha256,
                summary=dict(summary or {}),
            )
        )
        return int(result.inserted_primary_key[0])  # type: ignore[index]

    def insert_changes(
        self,
        report_id: int,
        kind: RecordKind,
        changes: Sequence[tuple[str, Mapping[str, Any], bytes | None]],
        record_ids: Mapping[str, int] | None = None,
        *,
        geom_in_current: Collection[str] = (),
    ) -> list[dict[str, Any]]:
        """(ref, values, geometry WKB or None) per record the report touches; returns the rows
        as ``report_changes`` would (so an approval in the same transaction need not re-read).
        ``record_ids`` links the changes to existing records at once (no later rewrite of the
        rows and their geometry). ``geom_in_current``: refs of records this change creates,
        in this transaction, with this geometry: it is written once, in the current row, and
        the change points at it (``Tx.unshare_geometry`` copies it here before that row changes)."""
        ids = record_ids or {}
        refs = [ref for ref, _values, _wkb in changes]
        values = [dict(v) for _ref, v, _wkb in changes]
        wkbs = [wkb for _ref, _values, wkb in changes]
        linked = [ids.get(ref) for ref in refs]
        shared = set(geom_in_current)
        # written by column (no tuple per row); a change whose geometry is its record's own
        # points at the current row instead of holding a copy
        in_current = (
            [
                ref in shared and wkb is not None and rid is not None
                for ref, wkb, rid in zip(refs, wkbs, linked, strict=True)
            ]
            if shared
            else [False] * len(refs)
        )
        self.dialect.insert_columns(
            self.conn,
            t.report_changes,
            {
                "report_id": [report_id] * len(refs),
                "kind": [kind.value] * len(refs),
                "ref": refs,
                "record_id": linked,
                "values": values,
                "geom": [None if flag else wkb for wkb, flag in zip(wkbs, in_current, strict=True)],
                "geom_in_current": in_current,
            },
        )
        return [
            {
                "report_id": report_id,
                "kind": kind.value,
                "ref": ref,
                "record_id": rid,
                "values": v,
                "geom": wkb,
            }
            for ref, rid, v, wkb in zip(refs, linked, values, wkbs, strict=True)
        ]

    def get_report(self, report_id: int) -> dict[str, Any]:
        row = self.conn.execute(select(t.reports).where(t.reports.c.id == report_id)).mappings().first()
        if row is None:
            raise UnknownRecord(f"no report {report_id}")
        return dict(row)

    def list_reports(
        self, *, status: str | None = None, type: str | None = None, report_id: int | None = None
    ) -> list[dict[str, Any]]:
        """Reports newest first, with who made and decided them and how many records each touches."""
        r, rc = t.reports, t.report_changes
        maker, decider = t.users.alias("maker"), t.users.alias("decider")
        changes = select(rc.c.report_id, func.count().label("records")).group_by(rc.c.report_id).subquery()
        query = (
            select(
                r.c.id,
                r.c.type,
                r.c.status,
                r.c.date_of_information,
                r.c.created_at,
                r.c.decided_at,
                r.c.reason,
                r.c.source_name,
                maker.c.name.label("created_by"),
                decider.c.name.label("decided_by"),
                func.coalesce(changes.c.records, 0).label("records"),
            )
            .join(maker, maker.c.id == r.c.created_by)
            .outerjoin(decider, decider.c.id == r.c.decided_by)
            .outerjoin(changes, changes.c.report_id == r.c.id)
            .order_by(r.c.id.desc())
        )
        if status is not None:
            query = query.where(r.c.status == status)
        if type is not None:
            query = query.where(r.c.type == type)
        if report_id is not None:
            query = query.where(r.c.id == report_id)
        return [dict(row) for row in self.conn.execute(query).mappings()]

    def report_changes(self, report_id: int) -> list[dict[str, Any]]:
        rc = t.report_changes
        columns = [
            change_geom() if c.name == "geom" else c for c in rc.columns if c.name != "geom_in_current"
        ]
        rows = self.conn.execute(
            select(*columns).where(rc.c.report_id == report_id).order_by(rc.c.id)
        ).mappings()
        return [dict(r) for r in rows]

    def set_report_status(
        self,
        report_id: int,
        status: ReportStatus,
        *,
        decided_by: int | None = None,
        approval_seq: int | None = None,
        reason: str | None = None,
    ) -> None:
        values: dict[str, Any] = {"status": status.value}
        if decided_by is not None:
            values.update(decided_by=decided_by, decided_at=_now())
        if approval_seq is not None:
            values["approval_seq"] = approval_seq
        if reason is not None:
            values["reason"] = reason
        self.conn.execute(update(t.reports).where(t.reports.c.id == report_id).values(**values))

    def link_changes(self, report_id: int, kind: RecordKind) -> None:
        """Point the report's changes of ``kind`` at their records (matched by ref)."""
        rc, r = t.report_changes, t.records
        record_id = select(r.c.id).where(r.c.kind == rc.c.kind, r.c.ref == rc.c.ref).scalar_subquery()
        self.conn.execute(
            update(rc).where(rc.c.report_id == report_id, rc.c.kind == kind.value).values(record_id=record_id)
        )

    def history(self, kind: RecordKind, ref: str) -> list[dict[str, Any]]:
        """Every report that changed the record, approved or not, oldest information first."""
        rc = t.report_changes
        return self._report_history(
            (rc.c.kind == kind.value) & (rc.c.ref == ref), rc.c["values"], change_geom()
        )

    def outcome_history(self, hazard_ref: str) -> list[dict[str, Any]]:
        """Every report that recorded outcomes in this hazard area (one row per outcome part)."""
        rc = t.report_changes
        return self._report_history(
            (rc.c.kind == RecordKind.OUTCOME.value)
            & (rc.c["values"]["hazard_ref"].as_string() == hazard_ref),
            rc.c.ref.label("outcome_ref"),
            rc.c["values"],
        )

    def _report_history(self, condition: Any, *change_columns: Any) -> list[dict[str, Any]]:
        """The reports of the changes meeting ``condition``, with who made them, oldest first."""
        rc, r, u = t.report_changes, t.reports, t.users
        rows = self.conn.execute(
            select(
                r.c.id,
                r.c.type,
                r.c.status,
                r.c.date_of_information,
                r.c.approval_seq,
                r.c.source_name,
                u.c.name.label("created_by"),
                *change_columns,
            )
            .join(r, r.c.id == rc.c.report_id)
            .join(u, u.c.id == r.c.created_by)
            .where(condition)
            .order_by(r.c.date_of_information, r.c.approval_seq, r.c.id)
        ).mappings()
        return [dict(row) for row in rows]
