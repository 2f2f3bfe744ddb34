"""Hardening around every request: security headers, a problem for any error nothing else
caught, and a limit on the size of request bodies."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from clearland.api.problems import problem, server_error

log = logging.getLogger("clearland.api")

# No page loads anything from elsewhere (ARCHITECTURE.md: works offline); Swagger UI sets
# inline styles and uses data: images for its icons.
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "permissions-policy": "geolocation=(), camera=(), microphone=()",
}


class Hardening:
    """Outermost layer: every answer carries the security headers, and an unexpected error
    becomes a logged 500 problem instead of a stack trace or a dropped connection."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            log.exception("unexpected error answering %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise
            await server_error()(scope, receive, send_with_headers)


class BodyLimit:
    """Refuse a request body larger than ``max_bytes`` (or, for a path in ``per_path``, its
    own limit) with 413: at once when its Content-Length says so, else as soon as the bytes
    received pass the limit (whatever the route then answers is replaced by the 413)."""

    def __init__(self, app: ASGIApp, max_bytes: int, per_path: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.default_max_bytes = max_bytes
        self.per_path = dict(per_path or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await _LimitedRequest(self.app, self.per_path.get(scope["path"], self.default_max_bytes))(
            scope, receive, send
        )


class _LimitedRequest:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        declared = Headers(scope=scope).get("content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                await problem(400, "the Content-Length header is not a number", code="input")(
                    scope, receive, send
                )
                return
            if int(declared) > self.max_bytes:
                await self._too_large(scope, receive, send)
                return
        received = 0
        over = False  # the body passed the limit
        answered = False  # a response has started (the route's, or the 413)

        async def counted_receive() -> Message:
            nonlocal received, over
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    over = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal answered
            if over and not answered:
                if message["type"] == "http.response.start":
                    answered = True
                    await self._too_large(scope, receive, send)
                return
            if over:
                return  # the rest of the route's answer, replaced by the 413
            answered = answered or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            # a route that reads the body sees the client go away once the limit is passed
            # (Starlette's ClientDisconnect, or whatever the route makes of it): that is the 413
            if not over:
                raise
        if over and not answered:
            await self._too_large(scope, receive, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem(
            413,
            f"the request body is larger than this server accepts ({self.max_bytes:,} bytes)",
            errors=[{"parameter": "body", "message": f"at most {self.max_bytes} bytes"}],
        )
        await response(scope, receive, send)
