"""Opening a registry and knowing who acts on it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from clearland.domain.vocab import Role
from clearland.errors import PermissionDenied, UnknownRecord
from clearland.io.types import ReadLimits
from clearland.settings import Settings, database_url
from clearland.storage.repository import Store, Tx

LOCAL_ADMIN = "admin"


@dataclass
class Registry:
    """A store plus the settings and the user that actions are attributed to."""

    store: Store
    settings: Settings
    user_name: str
    #: False for the views ``acting_as`` makes: closing one leaves the shared store open
    owns_store: bool = True

    def acting_as(self, name: str, *, source: str = "http", remote: str | None = None) -> Registry:
        """This registry (the same store) acting as user ``name``, its writes audited as
        coming from ``source`` and ``remote`` (the client address). Cheap: one per request."""
        return dataclasses.replace(self.via(source, remote), user_name=name)

    def via(self, source: str, remote: str | None = None) -> Registry:
        """This registry (the same store), its writes audited as coming from ``source`` and
        ``remote``: for what is done before anyone is authenticated (a login)."""
        return dataclasses.replace(self, store=self.store.with_origin(source, remote), owns_store=False)

    def close(self) -> None:
        if self.owns_store:
            self.store.dispose()


def open_registry(settings: Settings, *, db: str | None = None, user: str | None = None) -> Registry:
    store = Store(database_url(db or settings.database_url))
    return Registry(store=store, settings=settings, user_name=user or settings.user)


def init_registry(registry: Registry) -> dict[str, Any]:
    """Create (or upgrade) the schema and the local admin user. Safe to run twice."""
    store = registry.store
    existed = store.exists()
    store.upgrade()
    with store.write() as tx:
        try:
            tx.get_user(LOCAL_ADMIN)
            created_admin = False
        except UnknownRecord:
            roles = [Role.ADMIN.value, Role.REVIEWER.value, Role.SURVEYOR.value]
            admin_id = tx.add_user(LOCAL_ADMIN, roles)
            tx.audit(admin_id, "user.add", f"user {LOCAL_ADMIN}", {"roles": roles, "by": "init"})
            created_admin = True
        revision = tx.revision()
    return {
        "database": store.where,
        "created": not existed,
        "created_admin": created_admin,
        "revision": revision,
    }


def acting_user(tx: Tx, name: str) -> dict[str, Any]:
    try:
        return tx.get_user(name)
    except UnknownRecord:
        raise UnknownRecord(
            f"no user named {name!r} in this registry (CLI actions run as {LOCAL_ADMIN!r} unless --as)"
        ) from None


def can_approve(user: dict[str, Any]) -> bool:
    roles = set(user["roles"])
    return bool(roles & {Role.REVIEWER.value, Role.ADMIN.value})


def require_role(user: dict[str, Any], *roles: Role) -> None:
    if not set(user["roles"]) & {r.value for r in roles}:
        wanted = " or ".join(r.value for r in roles)
        raise PermissionDenied(f"user {user['name']!r} needs the {wanted} role for this")


def add_user(registry: Registry, name: str, roles: list[str]) -> dict[str, Any]:
    """Kept for callers from before ``services.users``, where users are managed now."""
    from clearland.services import users

    return users.add_user(registry, name, roles)


def list_users(registry: Registry) -> list[dict[str, Any]]:
    """Kept for callers from before ``services.users``, where users are managed now."""
    from clearland.services import users

    return users.list_users(registry)


def read_limits(registry: Registry) -> ReadLimits:
    """The limits on files read for this registry (size, decompression, feature count)."""
    s = registry.settings.imports
    return ReadLimits(
        max_file_bytes=s.max_file_bytes,
        max_uncompressed_bytes=s.max_uncompressed_bytes,
        max_compression_ratio=s.max_compression_ratio,
        max_features=s.max_features,
    )
