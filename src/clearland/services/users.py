"""Users, their roles and credentials, and the audit log.

Only an admin manages users. A password is kept as its argon2id hash; an API token or a login
session as the SHA-256 of its random text, so the text is shown once (when it is made) and can
never be read back. Every change here is written to the audit log in the same transaction.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import re
import secrets
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from clearland.domain.vocab import Role
from clearland.errors import Busy, InputError, NotAuthenticated, StateError, UnknownRecord
from clearland.services.registry import Registry, acting_user, require_role
from clearland.storage.auth_rows import utc_now
from clearland.storage.repository import Tx

#: every API token starts with this, so that one pasted where it should not be is recognised
TOKEN_PREFIX = "cl_"
#: random bytes in a token or a session id (before URL-safe base64)
SECRET_BYTES = 32
MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 1024
#: a token's last use is written at most this often (not a write per request)
TOKEN_TOUCH_S = 60
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,127}")
#: one message for an unknown user and a wrong password: a caller cannot tell them apart
BAD_LOGIN = "wrong user name or password"


def grantable_roles() -> list[str]:
    """Every role but ``public``, which everyone has."""
    return [role.value for role in Role if role is not Role.PUBLIC]


def parse_roles(roles: list[str]) -> list[str]:
    allowed = ", ".join(grantable_roles())
    parsed = set()
    for text in roles:
        try:
            role = Role(Role.parse(text))
        except ValueError:
            raise InputError(f"unknown role {text!r}: choose from {allowed}") from None
        if role is Role.PUBLIC:
            raise InputError(f"everyone has the public role; choose from {allowed}")
        parsed.add(role.value)
    if not parsed:
        raise InputError(f"give at least one role: {allowed}")
    return sorted(parsed)


def secret_sha256(secret: str) -> str:
    """How a token or a session id is stored: a fast hash is enough for 256 random bits."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


# -- managing users (admins) ---------------------------------------------------------------------
def add_user(
    registry: Registry, name: str, roles: list[str], *, password: str | None = None
) -> dict[str, Any]:
    if not NAME_PATTERN.fullmatch(name):
        raise InputError(
            f"user name {name!r}: 1–128 letters, digits, '.', '_', '-' or '@', starting with a letter "
            "or digit"
        )
    parsed = parse_roles(roles)
    password_hash = None if password is None else hash_password(password)
    registry.store.check_ready()
    with registry.store.write() as tx:
        actor = _admin(tx, registry)
        try:
            tx.get_user(name)
        except UnknownRecord:
            pass
        else:
            raise StateError(f"user {name!r} already exists")
        user_id = tx.add_user(name, parsed)
        if password_hash is not None:
            tx.set_password_hash(user_id, password_hash)
        tx.audit(actor["id"], "user.add", f"user {name}", {"roles": parsed, "password": password is not None})
    return {"id": user_id, "name": name, "roles": parsed, "password": password is not None}


def grant(registry: Registry, name: str, roles: list[str]) -> dict[str, Any]:
    parsed = parse_roles(roles)
    registry.store.check_ready()
    with registry.store.write() as tx:
        actor = _admin(tx, registry)
        user = _user(tx, name)
        added = sorted(set(parsed) - set(user["roles"]))
        now = sorted(set(user["roles"]) | set(parsed))
        if added:
            tx.set_user_roles(user["id"], now)
            tx.audit(actor["id"], "user.grant", f"user {name}", {"roles": added})
    return {"name": name, "roles": now, "added": added}


def revoke(registry: Registry, name: str, roles: list[str]) -> dict[str, Any]:
    parsed = parse_roles(roles)
    registry.store.check_ready()
    with registry.store.write() as tx:
        actor = _admin(tx, registry)
        user = _user(tx, name)
        removed = sorted(set(parsed) & set(user["roles"]))
        if Role.ADMIN.value in removed and tx.users_with_role(Role.ADMIN.value) == [name]:
            raise StateError(f"{name!r} is the last admin: grant admin to another user first")
        now = sorted(set(user["roles"]) - set(parsed))
        if removed:
            tx.set_user_roles(user["id"], now)
            tx.audit(actor["id"], "user.revoke", f"user {name}", {"roles": removed})
    return {"name": name, "roles": now, "removed": removed}


def set_password(registry: Registry, name: str, password: str) -> dict[str, Any]:
    """Set (or change) a user's password; the user's login sessions end."""
    password_hash = hash_password(password)
    registry.store.check_ready()
    with registry.store.write() as tx:
        actor = _admin(tx, registry)
        user = _user(tx, name)
        tx.set_password_hash(user["id"], password_hash)
        tx.delete_sessions_of(user["id"])
        tx.audit(actor["id"], "user.passwd", f"user {name}")
    return {"name": name, "password": True}


def create_token(
    registry: Registry, name: str, *, label: str | None = None, expires_days: int | None = None
) -> dict[str, Any]:
    """A new API token for ``name``. Its text is in this answer and nowhere else, ever."""
    if expires_days is not None and expires_days < 1:
        raise InputError(f"expires in {expires_days} days: give 1 or more (or no expiry)")
    if label is not None and len(label) > 200:
        raise InputError("a token's label is at most 200 characters")
    token = TOKEN_PREFIX + secrets.token_urlsafe(SECRET_BYTES)
    token_id = secrets.token_hex(6)
    registry.store.check_ready()
    with registry.store.write() as tx:
        actor = _admin(tx, registry)
        user = _user(tx, name)
        expires_at = None if expires_days is None else utc_now() + dt.timedelta(days=expires_days)
        created_at = tx.add_token(
            token_id, user["id"], secret_sha256(token), label=label, expires_at=expires_at
        )
        tx.audit(
            actor["id"],
            "token.create",
            f"user {name}",
            {"token_id": token_id, "label": label, "expires_at": _iso(expires_at)},
        )
    return {
        "id": token_id,
        "user": name,
        "label": label,
        "created_at": _iso(created_at),
        "expires_at": _iso(expires_at),
        "token": token,
    }


def revoke_token(registry: Registry, name: str, token_id: str) -> dict[str, Any]:
    registry.store.check_ready()
    with registry.store.write() as tx:
        actor = _admin(tx, registry)
        user = _user(tx, name)
        if not tx.revoke_token(user["id"], token_id):
            raise UnknownRecord(f"user {name!r} has no active token {token_id!r}")
        tx.audit(actor["id"], "token.revoke", f"user {name}", {"token_id": token_id})
    return {"id": token_id, "user": name, "revoked": True}


def list_users(registry: Registry) -> list[dict[str, Any]]:
    """Users with their roles, whether they have a password, and their active tokens (ids,
    labels and dates; never a hash)."""
    registry.store.check_ready()
    with registry.store.read() as tx:
        _admin(tx, registry)
        with_password = tx.users_with_password()
        tokens: dict[int, list[dict[str, Any]]] = {}
        for token in tx.active_tokens(utc_now()):
            tokens.setdefault(token["user_id"], []).append(
                {
                    "id": token["id"],
                    "label": token["label"],
                    "created_at": _iso(token["created_at"]),
                    "expires_at": _iso(token["expires_at"]),
                    "last_used_at": _iso(token["last_used_at"]),
                }
            )
        return [
            {
                "name": user["name"],
                "roles": user["roles"],
                "password": user["id"] in with_password,
                "tokens": tokens.get(user["id"], []),
            }
            for user in tx.list_users()
        ]


def list_audit(
    registry: Registry,
    *,
    user: str | None = None,
    since: dt.datetime | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """The audit log, oldest first (with ``limit``, its newest entries); ``since`` is UTC."""
    if limit is not None and limit < 1:
        raise InputError(f"limit {limit}: give 1 or more")
    registry.store.check_ready()
    with registry.store.read() as tx:
        _admin(tx, registry)
        user_id = None if user is None else _user(tx, user)["id"]
        entries = tx.audit_entries(user_id=user_id, since=since, limit=limit)
    return [{**entry, "at": _iso(entry["at"])} for entry in entries]


def parse_since(text: str) -> dt.datetime:
    """A date (its first moment) or a date-time, as naive UTC."""
    try:
        when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r}: give a date (YYYY-MM-DD) or a date-time") from None
    if when.tzinfo is not None:
        when = when.astimezone(dt.UTC).replace(tzinfo=None)
    return when


# -- authenticating ------------------------------------------------------------------------------
def login(registry: Registry, name: str, password: str, *, lifetime_s: int) -> dict[str, Any]:
    """Check ``name`` and ``password`` and open a session. Returns ``session`` (the secret
    for the cookie, stored only as its hash), ``user`` and ``expires_at``. Raises
    ``NotAuthenticated``, with one message for an unknown user and a wrong password, after
    the same work (an argon2 verification) for both."""
    registry.store.check_ready()
    with registry.store.read() as tx:
        try:
            user: dict[str, Any] | None = tx.get_user(name)
        except UnknownRecord:
            user = None
        stored = None if user is None else tx.password_hash(user["id"])
    valid = _verify(stored, password)
    session = secrets.token_urlsafe(SECRET_BYTES)
    expires_at = utc_now() + dt.timedelta(seconds=lifetime_s)
    with registry.store.write() as tx:
        if user is None or not valid:
            # a name nobody has is not written down: it may be a password typed in the wrong box
            target = f"user {name}" if user is not None else None
            tx.audit(None, "auth.login_failed", target)
        else:
            if stored is not None and _hasher().check_needs_rehash(stored):
                tx.set_password_hash(user["id"], _hasher().hash(password))
            tx.add_session(user["id"], secret_sha256(session), expires_at=expires_at, remote=tx.origin[1])
            tx.audit(user["id"], "auth.login", f"user {name}")
    if user is None or not valid:
        raise NotAuthenticated(BAD_LOGIN)
    return {"session": session, "user": _public(user), "expires_at": _iso(expires_at)}


def logout(registry: Registry, session: str) -> bool:
    """End the session; False when there was none (expired, or ended already)."""
    registry.store.check_ready()
    digest = secret_sha256(session)
    with registry.store.write() as tx:
        user = tx.session_user(digest, utc_now())
        ended = tx.delete_session(digest)
        if user is not None and ended:
            tx.audit(user["id"], "auth.logout", f"user {user['name']}")
    return user is not None and ended


def session_user(registry: Registry, session: str) -> dict[str, Any] | None:
    """The user whose session this is, while it lasts."""
    registry.store.check_ready()
    with registry.store.read() as tx:
        user = tx.session_user(secret_sha256(session), utc_now())
    return None if user is None else _public(user)


def token_user(registry: Registry, token: str) -> dict[str, Any] | None:
    """The user of an active (not expired, not revoked) API token."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    registry.store.check_ready()
    now = utc_now()
    with registry.store.read() as tx:
        found = tx.token_user(secret_sha256(token), now)
    if found is None:
        return None
    details, user = found
    last = details["last_used_at"]
    if last is None or (now - last).total_seconds() >= TOKEN_TOUCH_S:
        # bookkeeping, not worth a request's wait: while another write (a long import) holds
        # the registry it is left for a later request
        with contextlib.suppress(Busy), registry.store.write(wait=False) as tx:
            tx.touch_token(details["id"], now)
    return _public(user)


def verify_password(registry: Registry, name: str, password: str) -> bool:
    """Whether ``password`` is ``name``'s (False for an unknown user, after the same work)."""
    registry.store.check_ready()
    with registry.store.read() as tx:
        try:
            stored = tx.password_hash(tx.get_user(name)["id"])
        except UnknownRecord:
            stored = None
    return _verify(stored, password)


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_CHARS:
        raise InputError(f"a password needs at least {MIN_PASSWORD_CHARS} characters")
    if len(password) > MAX_PASSWORD_CHARS:
        raise InputError(f"a password has at most {MAX_PASSWORD_CHARS} characters")
    return _hasher().hash(password)


# -- helpers -------------------------------------------------------------------------------------
@functools.cache
def _hasher() -> PasswordHasher:
    return PasswordHasher()  # argon2id with RFC 9106's low-memory parameters


@functools.cache
def _dummy_hash() -> str:
    """Verified against when there is no hash: an unknown user costs what a known one does."""
    return _hasher().hash(secrets.token_urlsafe(16))


def _verify(stored: str | None, password: str) -> bool:
    try:
        return _hasher().verify(stored or _dummy_hash(), password[:MAX_PASSWORD_CHARS]) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def _admin(tx: Tx, registry: Registry) -> dict[str, Any]:
    actor = acting_user(tx, registry.user_name)
    require_role(actor, Role.ADMIN)
    return actor


def _user(tx: Tx, name: str) -> dict[str, Any]:
    try:
        return tx.get_user(name)
    except UnknownRecord:
        raise UnknownRecord(f"no user named {name!r}") from None


def _public(user: dict[str, Any]) -> dict[str, Any]:
    return {"id": user["id"], "name": user["name"], "roles": list(user["roles"])}


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.replace(microsecond=0).isoformat() + "Z"
