"""Opening a registry and knowing who acts on it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from clearland.domain.vocab import Role
from clearland.errors import PermissionDenied, UnknownRecord
from clearland.settings import Settings, database_url
from clearland.storage.repository import Store, Tx

LOCAL_ADMIN = "admin"


@dataclass
class Registry:
    """A store plus the settings and the user that actions are attributed to."""

    store: Store
    settings: Settings
    user_name: str

    def close(self) -> None:
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
            tx.add_user(LOCAL_ADMIN, [Role.ADMIN.value, Role.REVIEWER.value, Role.SURVEYOR.value])
            created_admin = True
        revision = tx.revision()
    return {
        "database": str(store.sqlite_path or store.url),
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
    parsed = sorted({Role.parse(r).value for r in roles})
    with registry.store.write() as tx:
        require_role(acting_user(tx, registry.user_name), Role.ADMIN)
        try:
            tx.get_user(name)
        except UnknownRecord:
            pass
        else:
            from clearland.errors import StateError

            raise StateError(f"user {name!r} already exists")
        user_id = tx.add_user(name, parsed)
    return {"id": user_id, "name": name, "roles": parsed}


def list_users(registry: Registry) -> list[dict[str, Any]]:
    registry.store.check_ready()
    with registry.store.read() as tx:
        return tx.list_users()
