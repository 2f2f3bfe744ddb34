"""Who is calling: API tokens, login sessions, roles, CSRF, and the routes that go with them.

A caller authenticates with ``Authorization: Bearer cl_…`` (a token from ``clearland users
token``) or with the session cookie ``POST /auth/login`` sets; without either it is anonymous
and has the ``public`` role only. Routes take the caller as a dependency:

    @routes.post("/reports", openapi_extra={"security": SECURED}, responses=problems(401, 403))
    def submit(request: Request, who: Caller = Depends(require(Role.SURVEYOR))) -> Response:
        result = submissions.submit_report_file(acting(request, who), path)

``require`` answers 401 (with ``WWW-Authenticate: Bearer``) to an anonymous caller and 403 to
one whose roles do not allow it; ``acting`` gives the registry acting as the caller, so that
what the services write is attributed to it and audited as coming over HTTP from its address.

A request authenticated by the cookie that would change something (POST, PUT, PATCH, DELETE;
not the login itself) must carry ``X-CSRF-Token``: a value derived from the session, given by
login and ``/auth/me``, that another site cannot read. The cookie is ``HttpOnly``, ``Secure``,
``SameSite=Strict``. No answer and no log line holds a password, a token or a hash of one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from clearland.api import inputs
from clearland.api.openapi import SECURED, problems
from clearland.api.problems import problem
from clearland.api.ratelimit import MAX_CLIENTS, TokenBuckets
from clearland.domain.vocab import Role
from clearland.errors import InputError, NotAuthenticated, PermissionDenied
from clearland.services import users
from clearland.services.registry import Registry
from clearland.settings import ApiSettings

SESSION_COOKIE = "clearland_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOGIN_PATH = "/auth/login"
AUDIT_LIMIT = 1000


@dataclass(frozen=True)
class Caller:
    """Who is calling: a user's name and roles, or nobody (``name`` None, role ``public``)."""

    name: str | None
    roles: frozenset[str]
    #: how it proved it: "token", "session", or None (anonymous)
    via: str | None = None

    @property
    def is_anonymous(self) -> bool:
        return self.name is None

    def has(self, *roles: Role | str) -> bool:
        return bool(self.roles & {str(r) for r in roles})


ANONYMOUS = Caller(None, frozenset({Role.PUBLIC.value}))


class LoginFailures:
    """Failed logins per client address, counted in token buckets: ``per_minute`` failures a
    minute, in bursts of as many. An address past that must wait (``wait_s``) before any
    password of its is checked again."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self.buckets = TokenBuckets(per_minute, clock) if per_minute else None
        self._blocked: dict[str, float] = {}  # address → when it may try again
        self._lock = threading.Lock()

    def wait_s(self, address: str) -> float:
        with self._lock:
            until = self._blocked.get(address)
            if until is None:
                return 0.0
            left = until - self.clock()
            if left <= 0:
                del self._blocked[address]
                return 0.0
            return left

    def failed(self, address: str) -> float:
        """Count a failure; the seconds the address must now wait (0: it may try again)."""
        if self.buckets is None:
            return 0.0
        wait = self.buckets.take(address)
        if wait > 0:
            now = self.clock()
            with self._lock:
                self._blocked[address] = now + wait
                if len(self._blocked) > MAX_CLIENTS:
                    for key in [k for k, until in self._blocked.items() if until <= now]:
                        del self._blocked[key]
        return wait


class Auth:
    """What the routes and dependencies of this module share, kept in ``app.state.auth``."""

    def __init__(self, registry: Registry, settings: ApiSettings) -> None:
        self.registry = registry
        self.settings = settings
        self.failures = LoginFailures(settings.login_failures_per_minute)

    def identify(self, request: Request) -> Caller:
        header = request.headers.get("authorization")
        if header is not None:
            scheme, _sep, token = header.strip().partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise NotAuthenticated("send the API token as 'Authorization: Bearer <token>'")
            user = users.token_user(self.registry, token.strip())
            if user is None:
                raise NotAuthenticated("the API token is not valid: unknown, expired or revoked")
            return _caller(user, "token")
        session = request.cookies.get(SESSION_COOKIE)
        if not session:
            return ANONYMOUS
        user = users.session_user(self.registry, session)
        if user is None:
            return ANONYMOUS  # expired or ended: as if there were no cookie
        if request.method not in SAFE_METHODS and request.url.path != LOGIN_PATH:
            sent = request.headers.get(CSRF_HEADER, "")
            if not hmac.compare_digest(sent.encode("utf-8"), csrf_token(session).encode("utf-8")):
                raise PermissionDenied(
                    "a request authenticated by the session cookie must send the X-CSRF-Token header "
                    "that /auth/login and /auth/me give"
                )
        return _caller(user, "session")


def caller(request: Request) -> Caller:
    """The FastAPI dependency: who is calling (anonymous when nobody authenticated)."""
    found = getattr(request.state, "caller", None)
    if found is None:
        auth: Auth = request.app.state.auth
        found = auth.identify(request)
        request.state.caller = found
    assert isinstance(found, Caller)
    return found


def require(*roles: Role | str) -> Callable[..., Caller]:
    """A dependency letting through a caller with any of ``roles``: 401 to an anonymous
    caller, 403 to a user without them."""
    wanted = frozenset(str(r) for r in roles)

    def dependency(who: Caller = Depends(caller)) -> Caller:
        if who.roles & wanted:
            return who
        if who.is_anonymous:
            raise NotAuthenticated(
                "sign in for this: send 'Authorization: Bearer <token>', or log in at /auth/login"
            )
        raise PermissionDenied(f"user {who.name!r} needs the {' or '.join(sorted(wanted))} role for this")

    return dependency


def acting(request: Request, who: Caller) -> Registry:
    """The registry acting as ``who``: its writes are attributed to it and audited as coming
    over HTTP from the client's address."""
    if who.name is None:
        raise NotAuthenticated("sign in for this")
    auth: Auth = request.app.state.auth
    return auth.registry.acting_as(who.name, source="http", remote=client_address(request))


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def csrf_token(session: str) -> str:
    """The session's CSRF token: derived from the session id (which only the cookie holds), so
    it needs no storage, and not the hash the session is stored under."""
    digest = hashlib.sha256(b"clearland csrf\x00" + session.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def install(app: FastAPI, registry: Registry, settings: ApiSettings) -> None:
    """Keep the authentication state in the app and add its routes."""
    app.state.auth = Auth(registry, settings)
    app.include_router(router(app.state.auth))


def _caller(user: dict[str, Any], via: str) -> Caller:
    return Caller(user["name"], frozenset({*user["roles"], Role.PUBLIC.value}), via)


# -- routes ---------------------------------------------------------------------------------------
_ME = {
    "type": "object",
    "required": ["name", "roles", "authenticated_by"],
    "properties": {
        "name": {"type": "string", "nullable": True, "description": "null: anonymous"},
        "roles": {"type": "array", "items": {"type": "string"}},
        "authenticated_by": {"type": "string", "nullable": True, "enum": ["token", "session", None]},
        "csrf_token": {
            "type": "string",
            "description": "with a session: send it as `X-CSRF-Token` on POST, PUT, PATCH and DELETE",
        },
        "expires_at": {"type": "string", "format": "date-time", "description": "when the session ends"},
    },
}
_LOGIN_BODY = {
    "type": "object",
    "required": ["name", "password"],
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "password": {"type": "string", "format": "password", "minLength": 1},
    },
}
_USER = {
    "type": "object",
    "required": ["name", "roles", "password", "tokens"],
    "properties": {
        "name": {"type": "string"},
        "roles": {"type": "array", "items": {"type": "string"}},
        "password": {"type": "boolean", "description": "whether the user has a password"},
        "tokens": {
            "type": "array",
            "description": "active API tokens (never their text or hash)",
            "items": {
                "type": "object",
                "required": ["id"],
                "properties": {
                    "id": {"type": "string"},
                    "label": {"type": "string", "nullable": True},
                    "created_at": {"type": "string", "format": "date-time"},
                    "expires_at": {"type": "string", "format": "date-time", "nullable": True},
                    "last_used_at": {"type": "string", "format": "date-time", "nullable": True},
                },
            },
        },
    },
}
_AUDIT_ENTRY = {
    "type": "object",
    "required": ["id", "at", "user", "action", "target", "detail", "source", "remote"],
    "properties": {
        "id": {"type": "integer"},
        "at": {"type": "string", "format": "date-time"},
        "user": {"type": "string", "nullable": True, "description": "null: nobody authenticated"},
        "action": {"type": "string", "description": "report.approve, user.grant, auth.login, …"},
        "target": {"type": "string", "nullable": True},
        "detail": {"type": "object", "nullable": True},
        "source": {"type": "string", "enum": ["cli", "http"]},
        "remote": {"type": "string", "nullable": True, "description": "the client's address (http)"},
    },
}
AUDIT_ALLOWED = {"user": "a user's name", "since": "a date or UTC date-time", "limit": "how many"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def router(auth: Auth) -> APIRouter:
    routes = APIRouter(tags=["Authentication and users"])
    lifetime_s = auth.settings.session_lifetime_s

    @routes.post(
        LOGIN_PATH,
        summary="Log in",
        description=(
            "Checks a user's name and password and sets the session cookie (HttpOnly, Secure, "
            "SameSite=Strict). The answer holds `csrf_token`: send it as `X-CSRF-Token` with every "
            "POST, PUT, PATCH and DELETE that relies on the cookie. An address that fails too often "
            "must wait (429)."
        ),
        operation_id="login",
        responses={
            200: {
                **_json(_ME, "Logged in: who, and the CSRF token."),
                "headers": {
                    "Set-Cookie": {"description": "the session cookie", "schema": {"type": "string"}}
                },
            },
            **problems(400, 401, 413, 429, 503, described_as={401: "Wrong user name or password."}),
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": _LOGIN_BODY},
                    "application/x-www-form-urlencoded": {"schema": _LOGIN_BODY},
                },
            }
        },
    )
    async def login(request: Request) -> Response:
        inputs.query(request, {})
        address = client_address(request)
        wait = auth.failures.wait_s(address)
        if wait > 0:
            return _too_many(wait, auth.failures.per_minute)
        name, password = await _credentials(request)
        via = auth.registry.via("http", address)
        try:
            session = await run_in_threadpool(users.login, via, name, password, lifetime_s=lifetime_s)
        except NotAuthenticated:
            wait = auth.failures.failed(address)
            if wait > 0:
                return _too_many(wait, auth.failures.per_minute)
            raise
        user = session["user"]
        response = JSONResponse(
            {
                "name": user["name"],
                "roles": sorted({*user["roles"], Role.PUBLIC.value}),
                "authenticated_by": "session",
                "csrf_token": csrf_token(session["session"]),
                "expires_at": session["expires_at"],
            }
        )
        response.set_cookie(
            SESSION_COOKIE,
            session["session"],
            max_age=lifetime_s,
            path="/",
            secure=True,
            httponly=True,
            samesite="strict",
        )
        return response

    @routes.post(
        "/auth/logout",
        summary="Log out",
        description=(
            "Ends the session and clears its cookie (with the cookie, send `X-CSRF-Token`). "
            "Nothing to end is no error. An API token stays valid: revoke it with "
            "`clearland users token NAME --revoke ID`."
        ),
        operation_id="logout",
        status_code=204,
        responses={
            204: {"description": "Logged out."},
            **problems(401, 403, 503),
        },
        openapi_extra={
            "parameters": [
                {
                    "name": "X-CSRF-Token",
                    "in": "header",
                    "required": False,
                    "description": "The session's CSRF token, when the session cookie is sent.",
                    "schema": {"type": "string"},
                }
            ]
        },
    )
    def logout(request: Request, who: Caller = Depends(caller)) -> Response:
        session = request.cookies.get(SESSION_COOKIE)
        if who.via == "session" and session:
            users.logout(auth.registry.via("http", client_address(request)), session)
        response = Response(status_code=204)
        response.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="strict")
        return response

    @routes.get(
        "/auth/me",
        summary="Who am I",
        description=(
            "The caller's name and roles (anonymous: no name, the `public` role), how it "
            "authenticated, and with a session its CSRF token."
        ),
        operation_id="whoAmI",
        responses={200: _json(_ME, "The caller."), **problems(401, 503)},
    )
    def me(request: Request, who: Caller = Depends(caller)) -> Response:
        body: dict[str, Any] = {"name": who.name, "roles": sorted(who.roles), "authenticated_by": who.via}
        session = request.cookies.get(SESSION_COOKIE)
        if who.via == "session" and session:
            body["csrf_token"] = csrf_token(session)
        return JSONResponse(body)

    @routes.get(
        "/users",
        summary="List users",
        description=(
            "Every user: roles, whether a password is set, active API tokens (ids and labels). Admins only."
        ),
        operation_id="listUsers",
        responses={
            200: _json({"type": "array", "items": _USER}, "The users."),
            **problems(400, 401, 403, 503),
        },
        openapi_extra={"security": SECURED},
    )
    def list_users(request: Request, who: Caller = Depends(require(Role.ADMIN))) -> Response:
        inputs.query(request, {})
        return JSONResponse(users.list_users(acting(request, who)))

    @routes.get(
        "/audit",
        summary="The audit log",
        description=(
            "Who wrote what, when and from where (cli or http, and the address), oldest first: "
            "user management, logins, and every report submitted, imported, approved, rejected "
            f"or unapproved. At most `limit` (default {AUDIT_LIMIT}) of the newest entries. "
            "Admins only."
        ),
        operation_id="auditLog",
        responses={
            200: _json({"type": "array", "items": _AUDIT_ENTRY}, "The entries."),
            **problems(400, 401, 403, 404, 503, described_as={404: "No such user."}),
        },
        openapi_extra={
            "security": SECURED,
            "parameters": [
                {
                    "name": "user",
                    "in": "query",
                    "required": False,
                    "description": "Only what this user did.",
                    "schema": {"type": "string"},
                },
                {
                    "name": "since",
                    "in": "query",
                    "required": False,
                    "description": "Only entries from this date (YYYY-MM-DD) or UTC date-time on.",
                    "schema": {"type": "string"},
                },
                {
                    "name": "limit",
                    "in": "query",
                    "required": False,
                    "description": "At most this many entries, the newest.",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 100000, "default": AUDIT_LIMIT},
                },
            ],
        },
    )
    def audit(request: Request, who: Caller = Depends(require(Role.ADMIN))) -> Response:
        values = inputs.query(request, AUDIT_ALLOWED)
        found: list[dict[str, Any]] = []
        limit = inputs.number(values, "limit", found, default=AUDIT_LIMIT, low=1, high=100_000)
        since = None
        if "since" in values:
            try:
                since = users.parse_since(values["since"])
            except ValueError as exc:
                found.append({"parameter": "since", "message": str(exc)})
        if not math.isnan(limit) and not float(limit).is_integer():
            found.append({"parameter": "limit", "message": "give a whole number"})
        inputs.raise_problems(found)
        entries = users.list_audit(
            acting(request, who), user=values.get("user"), since=since, limit=int(limit)
        )
        return JSONResponse(entries)

    return routes


async def _credentials(request: Request) -> tuple[str, str]:
    """The name and password of a login, from a JSON object or a form; never echoed back."""
    media_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    data: Any
    if media_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.form(max_files=0, max_fields=10)
        data = {key: value for key, value in form.items() if isinstance(value, str)}
    elif media_type in ("application/json", ""):
        try:
            data = json.loads(await request.body() or b"null")
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise InputError(
                'send {"name": …, "password": …} as JSON, or a form with name and password',
                detail=[{"parameter": "body", "message": "a JSON object with name and password"}],
            )
    else:
        raise InputError(
            f"login takes JSON or a form, not {media_type}",
            detail=[{"parameter": "body", "message": "application/json or a form"}],
        )
    found = [
        {"parameter": key, "message": "required, as text"}
        for key in ("name", "password")
        if not isinstance(data.get(key), str) or not data[key]
    ]
    inputs.raise_problems(found)
    return str(data["name"]), str(data["password"])


def _too_many(wait: float, per_minute: int) -> Response:
    seconds = max(1, int(wait + 0.999))
    return problem(
        429,
        f"too many failed logins from this address (at most {per_minute} a minute); try again in {seconds} s",
        headers={"retry-after": str(seconds)},
    )
