"""One error shape on every route: ``application/problem+json`` (RFC 9457), with the status
taken from one table of the error tree in ``clearland.errors``.

A server-side problem (5xx) is logged with its message and answered without it: the message
may name a file path or a database URL."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from clearland.errors import (
    ClearlandError,
    ConfigError,
    ConflictError,
    InputError,
    NotAuthenticated,
    PermissionDenied,
    StateError,
    StorageError,
    UnknownRecord,
)

log = logging.getLogger("clearland.api")

PROBLEM_JSON = "application/problem+json"

#: the error tree → HTTP status; the most specific class an error is an instance of wins
STATUS: dict[type[ClearlandError], int] = {
    ClearlandError: 500,
    ConfigError: 500,
    InputError: 400,
    UnknownRecord: 404,
    PermissionDenied: 403,
    StateError: 409,
    ConflictError: 409,
    StorageError: 503,
}

#: errors the caller puts right by authenticating: 401 with this ``WWW-Authenticate``
#: challenge (RFC 9110) instead of the 403 of their parent class
CHALLENGES: dict[type[ClearlandError], str] = {NotAuthenticated: 'Bearer realm="clearland"'}

TITLES = {
    "error": "Internal error",
    "config": "Server not configured for this",
    "input": "Bad request",
    "input-file": "Unreadable input file",
    "validation": "Invalid input",
    "not-found": "Not found",
    "forbidden": "Forbidden",
    "unauthenticated": "Not authenticated",
    "state": "Not allowed in this state",
    "conflict": "Conflict",
    "storage": "Registry unavailable",
    "busy": "Registry busy",
}

#: what a caller is told instead of a server-side message
SERVER_DETAIL = {
    500: "something went wrong on the server; it has been logged",
    503: "the registry is not available right now; try again later",
}


def status_of(error: ClearlandError) -> int:
    if _challenge(error) is not None:
        return 401
    for cls in type(error).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def _challenge(error: ClearlandError) -> str | None:
    return next((CHALLENGES[cls] for cls in type(error).__mro__ if cls in CHALLENGES), None)


class ProblemResponse(Response):
    media_type = PROBLEM_JSON

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def problem(
    status: int,
    detail: str,
    *,
    code: str | None = None,
    errors: Sequence[Mapping[str, Any]] = (),
    headers: Mapping[str, str] | None = None,
) -> ProblemResponse:
    body = {
        "type": f"urn:clearland:problem:{code}" if code else "about:blank",
        "title": TITLES.get(code or "", HTTPStatus(status).phrase),
        "status": status,
        "detail": detail,
        "errors": [dict(e) for e in errors],
    }
    return ProblemResponse(body, status_code=status, headers=dict(headers or {}))


def from_error(error: ClearlandError) -> ProblemResponse:
    status = status_of(error)
    if status >= 500:
        log.error("%s (%s): %s %s", status, error.code, error.message, error.detail)
        return problem(status, SERVER_DETAIL.get(status, SERVER_DETAIL[500]), code=error.code)
    challenge = _challenge(error)
    headers = {"www-authenticate": challenge} if challenge else None
    return problem(status, error.message, code=error.code, errors=error.detail, headers=headers)


def server_error() -> ProblemResponse:
    return problem(500, SERVER_DETAIL[500], code="error")


def install(app: FastAPI) -> None:
    """Answer clearland's errors, FastAPI's validation errors and Starlette's HTTP errors (404
    for an unknown path, 405, …) as problems."""

    async def clearland_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ClearlandError)
        return from_error(exc)

    async def validation_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        # the parts of FastAPI's list that say where and what; never the input echoed back
        errors = [
            {"parameter": ".".join(str(p) for p in e.get("loc", ())), "message": e.get("msg", "")}
            for e in exc.errors()
        ]
        return problem(400, "the request is not valid", code="input", errors=errors)

    async def http_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        phrase = HTTPStatus(exc.status_code).phrase
        detail = str(exc.detail) if exc.detail and exc.detail != phrase else phrase
        if exc.status_code == 404:
            detail = "there is nothing at this address; the API starts at /"
        return problem(exc.status_code, detail, headers=exc.headers)

    app.add_exception_handler(ClearlandError, clearland_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
