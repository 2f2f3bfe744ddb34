"""The HTTP application, built by ``create_app(settings)``; nothing is built at import."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from clearland.api import docs, ogc, problems
from clearland.api.middleware import BodyLimit, Hardening
from clearland.services.features import Catalogue
from clearland.services.registry import open_registry
from clearland.settings import Settings

DESCRIPTION = (
    "The public layers of a mine action hazard registry as OGC API – Features: recorded hazard "
    "areas, released land and markers, in GeoJSON (CRS84 longitude/latitude) or HTML. "
    "The absence of a recorded hazard area is not proof that land is safe. "
    "Errors are `application/problem+json` (RFC 9457)."
)


def create_app(settings: Settings) -> FastAPI:
    registry = open_registry(settings)
    catalogue = Catalogue(registry)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
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
    problems.install(app)
    app.include_router(ogc.router(catalogue, settings.api))
    app.include_router(docs.router(app))
    # added innermost first: Hardening wraps everything, CORS (when configured) answers
    # preflights before the body limit or the routes see them
    app.add_middleware(BodyLimit, max_bytes=settings.api.max_body_bytes)
    if settings.api.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.api.cors_origins,
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
