"""Credentials, API tokens, sessions and the audit log: the rows behind authentication.

A mixin of ``repository.Tx``: it needs ``self.conn`` and ``self.origin`` and nothing else.
Secrets are never stored: a password as its argon2 hash (made by the services), a token or a
session id as the SHA-256 of its random text. Times are naive UTC, as everywhere in storage.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Connection,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    delete,
    insert,
    select,
    update,
)

from clearland.storage import schema as t
from clearland.storage.report_rows import _split

#: where a write came from, recorded with it in the audit log: ("cli" or "http", remote address)
Origin = tuple[str, str | None]

credentials = Table(
    "credentials",
    t.metadata,
    Column("user_id", ForeignKey("users.id"), primary_key=True),
    Column("password_hash", Text, nullable=False),  # argon2id, PHC string
    Column("updated_at", DateTime, nullable=False),
)

api_tokens = Table(
    "api_tokens",
    t.metadata,
    Column("id", String(32), primary_key=True),  # public: shown in lists, used to revoke
    Column("user_id", ForeignKey("users.id"), nullable=False),
    Column("label", Text),
    Column("token_sha256", String(64), nullable=False, unique=True),
    Column("created_at", DateTime, nullable=False),
    Column("expires_at", DateTime),  # NULL: never
    Column("last_used_at", DateTime),
    Column("revoked_at", DateTime),
    Index("ix_api_tokens_user", "user_id"),
)

sessions = Table(
    "sessions",
    t.metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", ForeignKey("users.id"), nullable=False),
    Column("session_sha256", String(64), nullable=False, unique=True),
    Column("created_at", DateTime, nullable=False),
    Column("expires_at", DateTime, nullable=False),
    Column("remote", String(64)),
    Index("ix_sessions_user", "user_id"),
)

audit_log = Table(
    "audit_log",
    t.metadata,
    Column("id", Integer, primary_key=True),
    Column("at", DateTime, nullable=False),
    Column("user_id", ForeignKey("users.id")),  # NULL: nobody authenticated (a failed login)
    Column("action", String(64), nullable=False),  # "report.approve", "user.grant", …
    Column("target", Text),  # what it was done to: "report 7", "user ana"
    Column("detail", JSON),
    Column("source", String(16), nullable=False),  # "cli" or "http"
    Column("remote", String(64)),  # the client address, over HTTP
    Index("ix_audit_log_at", "at"),
    Index("ix_audit_log_user", "user_id"),
)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _user(row: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "name": row["name"], "roles": _split(row["roles"])}


class AuthRows:
    conn: Connection
    origin: Origin

    # -- users and roles ----------------------------------------------------------------------
    def set_user_roles(self, user_id: int, roles: Iterable[str]) -> None:
        self.conn.execute(
            update(t.users).where(t.users.c.id == user_id).values(roles=";".join(sorted(roles)))
        )

    def users_with_role(self, role: str) -> list[str]:
        rows = self.conn.execute(select(t.users.c.name, t.users.c.roles).order_by(t.users.c.name))
        return [name for name, roles in rows if role in _split(roles)]

    # -- passwords --------------------------------------------------------------------------
    def password_hash(self, user_id: int) -> str | None:
        value = self.conn.scalar(select(credentials.c.password_hash).where(credentials.c.user_id == user_id))
        return None if value is None else str(value)

    def set_password_hash(self, user_id: int, password_hash: str) -> None:
        values = {"password_hash": password_hash, "updated_at": utc_now()}
        changed = self.conn.execute(
            update(credentials).where(credentials.c.user_id == user_id).values(**values)
        ).rowcount
        if changed == 0:
            self.conn.execute(insert(credentials).values(user_id=user_id, **values))

    def users_with_password(self) -> set[int]:
        return set(self.conn.scalars(select(credentials.c.user_id)))

    # -- API tokens ---------------------------------------------------------------------------
    def add_token(
        self,
        token_id: str,
        user_id: int,
        token_sha256: str,
        *,
        label: str | None,
        expires_at: dt.datetime | None,
    ) -> dt.datetime:
        created_at = utc_now()
        self.conn.execute(
            insert(api_tokens).values(
                id=token_id,
                user_id=user_id,
                label=label,
                token_sha256=token_sha256,
                created_at=created_at,
                expires_at=expires_at,
            )
        )
        return created_at

    def token_user(self, token_sha256: str, now: dt.datetime) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """(token, user) of the active token with this hash, or None."""
        k, u = api_tokens, t.users
        row = (
            self.conn.execute(
                select(k.c.id, k.c.last_used_at, u.c.id.label("uid"), u.c.name, u.c.roles)
                .join(u, u.c.id == k.c.user_id)
                .where(
                    k.c.token_sha256 == token_sha256,
                    k.c.revoked_at.is_(None),
                    (k.c.expires_at.is_(None)) | (k.c.expires_at > now),
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            return None
        token = {"id": row["id"], "last_used_at": row["last_used_at"]}
        return token, _user({"id": row["uid"], "name": row["name"], "roles": row["roles"]})

    def touch_token(self, token_id: str, now: dt.datetime) -> None:
        self.conn.execute(update(api_tokens).where(api_tokens.c.id == token_id).values(last_used_at=now))

    def revoke_token(self, user_id: int, token_id: str) -> bool:
        """Revoke the user's token ``token_id``; False when there is no such active token."""
        k = api_tokens
        return (
            self.conn.execute(
                update(k)
                .where(k.c.id == token_id, k.c.user_id == user_id, k.c.revoked_at.is_(None))
                .values(revoked_at=utc_now())
            ).rowcount
            == 1
        )

    def active_tokens(self, now: dt.datetime) -> list[dict[str, Any]]:
        """Every token neither revoked nor expired: its id, owner and dates; never its hash."""
        k = api_tokens
        rows = self.conn.execute(
            select(k.c.id, k.c.user_id, k.c.label, k.c.created_at, k.c.expires_at, k.c.last_used_at)
            .where(k.c.revoked_at.is_(None), (k.c.expires_at.is_(None)) | (k.c.expires_at > now))
            .order_by(k.c.created_at, k.c.id)
        ).mappings()
        return [dict(r) for r in rows]

    # -- sessions -----------------------------------------------------------------------------
    def add_session(
        self, user_id: int, session_sha256: str, *, expires_at: dt.datetime, remote: str | None
    ) -> None:
        now = utc_now()
        # a login is a good moment to forget the sessions that ran out
        self.conn.execute(delete(sessions).where(sessions.c.expires_at <= now))
        self.conn.execute(
            insert(sessions).values(
                user_id=user_id,
                session_sha256=session_sha256,
                created_at=now,
                expires_at=expires_at,
                remote=remote,
            )
        )

    def session_user(self, session_sha256: str, now: dt.datetime) -> dict[str, Any] | None:
        s, u = sessions, t.users
        row = (
            self.conn.execute(
                select(u.c.id, u.c.name, u.c.roles)
                .join(s, s.c.user_id == u.c.id)
                .where(s.c.session_sha256 == session_sha256, s.c.expires_at > now)
            )
            .mappings()
            .first()
        )
        return None if row is None else _user(dict(row))

    def delete_session(self, session_sha256: str) -> bool:
        s = sessions
        return self.conn.execute(delete(s).where(s.c.session_sha256 == session_sha256)).rowcount == 1

    def delete_sessions_of(self, user_id: int) -> None:
        self.conn.execute(delete(sessions).where(sessions.c.user_id == user_id))

    # -- audit log ----------------------------------------------------------------------------
    def audit(
        self,
        user_id: int | None,
        action: str,
        target: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        """Record a write, in its own transaction: it lands with the write or not at all."""
        source, remote = self.origin
        self.conn.execute(
            insert(audit_log).values(
                at=utc_now(),
                user_id=user_id,
                action=action,
                target=target,
                detail=dict(detail or {}),
                source=source,
                remote=remote,
            )
        )

    def audit_entries(
        self, *, user_id: int | None = None, since: dt.datetime | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Entries oldest first; with ``limit``, the newest ``limit`` of them."""
        a, u = audit_log, t.users
        query = (
            select(
                a.c.id,
                a.c.at,
                u.c.name.label("user"),
                a.c.action,
                a.c.target,
                a.c.detail,
                a.c.source,
                a.c.remote,
            )
            .outerjoin(u, u.c.id == a.c.user_id)
            .order_by(a.c.id.desc())
        )
        if user_id is not None:
            query = query.where(a.c.user_id == user_id)
        if since is not None:
            query = query.where(a.c.at >= since)
        if limit is not None:
            query = query.limit(limit)
        rows = [dict(r) for r in self.conn.execute(query).mappings()]
        rows.reverse()
        return rows
