"""Rate limiting for anonymous callers: an in-process token bucket per client address.

Each address may ask for ``rate_per_minute`` requests a minute, in bursts of as many; past that
it is answered 429 with ``Retry-After`` (seconds until the next request is allowed), before the
route reads any body. Behind a reverse proxy the address is the one the proxy reports, as far
as uvicorn trusts it (``--forwarded-allow-ips``). Each worker process keeps its own buckets."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

from clearland.api.problems import problem

#: addresses kept at most; beyond that the full (idle) buckets are forgotten
MAX_CLIENTS = 10_000


class TokenBuckets:
    """``rate_per_minute`` tokens a minute per key, at most that many saved up."""

    def __init__(self, rate_per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(rate_per_minute)
        self.per_second = rate_per_minute / 60.0
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key → (tokens, when counted)
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """Take a token for ``key``: 0 when allowed, else the seconds until one is there."""
        now = self.clock()
        with self._lock:
            tokens, then = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - then) * self.per_second)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                if len(self._buckets) > MAX_CLIENTS:
                    self._forget_idle(now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.per_second

    def _forget_idle(self, now: float) -> None:
        full = [
            key
            for key, (tokens, then) in self._buckets.items()
            if tokens + (now - then) * self.per_second >= self.capacity
        ]
        for key in full:
            del self._buckets[key]


class RateLimit:
    """Answers 429 to a client past its rate on the paths that start with ``prefixes``
    (only for ``methods``)."""

    def __init__(
        self,
        app: ASGIApp,
        buckets: TokenBuckets,
        prefixes: Sequence[str],
        methods: Sequence[str] = ("GET", "POST"),
    ) -> None:
        self.app = app
        self.buckets = buckets
        self.prefixes = tuple(prefixes)
        self.methods = frozenset(methods)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] in self.methods
            and str(scope["path"]).startswith(self.prefixes)
        ):
            client = scope.get("client")
            wait = self.buckets.take(client[0] if client else "unknown")
            if wait > 0:
                seconds = max(1, math.ceil(wait))
                minute = int(self.buckets.capacity)
                response = problem(
                    429,
                    f"too many requests from this address: at most {minute} a minute; "
                    f"try again in {seconds} s",
                    headers={"retry-after": str(seconds)},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
