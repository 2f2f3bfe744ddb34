"""The HTTP application, built by ``create_app(settings)``; nothing is built at import."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from clearland.api import auth, checks, docs, jobs, minefields, ogc, problems, records, reports, tiles, web
from clearland.api.middleware import BodyLimit, Hardening
from clearland.api.ratelimit import RateLimit, TokenBuckets
from clearland.services import statistics
from clearland.services.features import Catalogue
from clearland.services.jobs import Jobs, default_folder
from clearland.services.registry import open_registry
from clearland.services.tiles import Tiles
from clearland.settings import Settings

#: paths whose anonymous callers are rate-limited: safety checks and screening jobs
RATE_LIMITED = ("/check/", "/screen")

DESCRIPTION = (
    "The public layers of a mine action hazard registry as OGC API – Features: recorded hazard "
    "areas, released land and markers, in GeoJSON (CRS84 longitude/latitude) or HTML, and as "
    "vector tiles; safety checks of a point, a route or an area, and bulk screening jobs. "
    "The absence of a recorded hazard area is not proof that land is safe. "
    "Errors are `application/problem+json` (RFC 9457)."
)


def create_app(settings: Settings) -> FastAPI:
    api = settings.api
    registry = open_registry(settings)
    catalogue = Catalogue(registry)
    vector_tiles = Tiles(registry, cache_bytes=api.tile_cache_bytes)
    screening_jobs = Jobs(
        registry, api.jobs_dir or default_folder(registry), ttl_s=api.job_ttl_s, max_active=api.max_jobs
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        screening_jobs.close()
        registry.close()

    app = FastAPI(
        title="clearland",
        version=_version(),
        description=DESCRIPTION,
        docs_url=None,  # served from local files by docs.router, not from a CDN
        redoc_url=None,
        openapi_url=None,  # served as OpenAPI 3.0 by docs.router
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.catalogue = catalogue
    app.state.tiles = vector_tiles
    app.state.statistics = statistics.Remembered(registry)  # once per revision (GET /stats…)
    app.state.jobs = screening_jobs
    problems.install(app)
    app.include_router(minefields.router())  # restricted; ahead of the public /collections/{id}
    app.include_router(ogc.router(catalogue, api))
    app.include_router(tiles.router(vector_tiles, api))
    app.include_router(checks.router(registry))
    app.include_router(jobs.router(screening_jobs, api))
    app.include_router(reports.router())  # submit, review; /records/{ref} and /stats below
    app.include_router(records.router())
    auth.install(app, registry, api)  # /auth/…, /users, /audit; `auth.require` for other routes
    app.include_router(docs.router(app))
    web.install(app, api)  # the browser UI: / for browsers (ahead of the landing page), /ui/…
    # added innermost first: Hardening wraps everything, CORS (when configured) answers
    # preflights before the body limit or the routes see them; a client past its rate is
    # answered before its body is read
    if api.check_rate_per_minute:
        app.add_middleware(RateLimit, buckets=TokenBuckets(api.check_rate_per_minute), prefixes=RATE_LIMITED)
    app.add_middleware(
        BodyLimit, max_bytes=api.max_body_bytes, per_path={"/screen": api.screen_max_body_bytes}
    )
    if api.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=api.cors_origins,
            allow_methods=["GET", "HEAD", "OPTIONS"],
            allow_headers=["Accept", "Accept-Language", "Content-Language", "Content-Type"],
            max_age=600,
        )
    app.add_middleware(Hardening)
    return app


def app_from_environment() -> FastAPI:
    """The app for ``uvicorn --factory`` (and each worker of ``clearland serve``)."""
    return create_app(Settings())


def _version() -> str:
    try:
        return version("clearland")
    except PackageNotFoundError:
        return "0+unknown"
