"""One error tree for clearland.

Every error carries a one-line ``message`` for people and an optional ``detail`` (a list of
problems, each a dict naming file, feature and field where they apply) for ``--json`` output,
logs and, later, ``application/problem+json`` bodies.

    ClearlandError
    ├── ConfigError              settings or options that cannot work together
    ├── InputError               something given to us is wrong
    │   ├── InputFileError       a file cannot be read: missing, truncated, unsupported, unsafe
    │   ├── ValidationFailed     features read but breaking rules (one problem per feature/field)
    │   └── UnknownRecord        a ref, report or user that does not exist
    ├── PermissionDenied         the acting user's roles do not allow it
    │   └── NotAuthenticated     nobody signed in, or the credentials are wrong (HTTP 401)
    ├── StateError               the action is not allowed in the current state
    │   └── ConflictError        two reports disagree, or a write was made against a stale version
    └── StorageError             the database is missing, too new, or unreachable
        └── Busy                 another writer holds the database (a write asked not to wait)
"""

from __future__ import annotations

from typing import Any


class ClearlandError(Exception):
    """Base of every error clearland raises on purpose."""

    #: short machine-readable code, also the problem+json ``type`` suffix
    code = "error"

    def __init__(self, message: str, detail: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail: list[dict[str, Any]] = list(detail or [])

    def to_dict(self) -> dict[str, Any]:
        return {"error": self.code, "message": self.message, "detail": self.detail}


class ConfigError(ClearlandError):
    code = "config"


class InputError(ClearlandError):
    code = "input"


class InputFileError(InputError):
    code = "input-file"


class ValidationFailed(InputError):
    code = "validation"


class UnknownRecord(InputError):
    code = "not-found"


class PermissionDenied(ClearlandError):
    code = "forbidden"


class NotAuthenticated(PermissionDenied):
    """The caller is anonymous where a user is needed, or its credentials are not valid."""

    code = "unauthenticated"


class StateError(ClearlandError):
    code = "state"


class ConflictError(StateError):
    code = "conflict"


class StorageError(ClearlandError):
    code = "storage"


class Busy(StorageError):
    """A write that was not to wait found the registry held by another writer."""

    code = "busy"
