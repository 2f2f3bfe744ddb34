"""The web UI, built from ``web/`` (``make web``) into ``clearland/web/static/``: its
``index.html`` at ``/`` for browsers, its hashed assets under ``/ui/``, and the settings it
needs (``/ui/config.json``: the optional basemap).

``/`` is shared with the OGC API landing page. A GET of ``/`` whose ``Accept`` prefers HTML and
which has no ``f`` parameter (a browser opening the site) gets the UI; ``/?f=html`` is the API's
HTML landing page and JSON clients (GDAL, QGIS, curl) get the JSON landing page as before. The
UI's pages are hash routes (``/#/map``, ``/#/check``, ``/#/records/HA-000123``), so no UI path can
clash with an API path. None of these routes is in the OpenAPI document: they are not the API.

When the UI is not built, a browser at ``/`` gets a 503 problem saying to run ``make web``."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.routing import APIRoute
from starlette.responses import Response
from starlette.routing import Match
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from clearland.api.middleware import SECURITY_HEADERS
from clearland.api.ogc import wants_html
from clearland.api.problems import problem
from clearland.settings import ApiSettings

#: where ``make web`` (vite build) puts the UI
STATIC = Path(__file__).resolve().parents[1] / "web" / "static"
ASSETS_PATH = "/ui"
NOT_BUILT = (
    "the web UI is not built in this installation: run `make web` (npm ci and vite build in web/), "
    "then restart the server; the API itself works (/?f=html, /collections, /docs)"
)


def install(app: FastAPI, settings: ApiSettings, folder: Path = STATIC) -> None:
    """Add the UI's routes to ``app``. The browsers' ``/`` goes first, ahead of the API's
    landing page, whatever order the other routers were included in."""
    routes = APIRouter(route_class=_ForBrowsers)
    index = folder / "index.html"
    page_headers = {"cache-control": "no-cache"}
    csp = content_security_policy(settings.basemap_url)
    if csp is not None:
        page_headers["content-security-policy"] = csp

    @routes.get("/", include_in_schema=False)
    def ui(_request: Request) -> Response:
        if not index.is_file():
            return problem(503, NOT_BUILT, code="config", headers={"retry-after": "3600"})
        return FileResponse(index, media_type="text/html; charset=utf-8", headers=page_headers)

    app.include_router(routes)
    ui_route = app.router.routes.pop()
    app.router.routes.insert(0, ui_route)

    config = APIRouter()

    @config.get(f"{ASSETS_PATH}/config.json", include_in_schema=False)
    def ui_config() -> Response:
        return JSONResponse(ui_settings(settings), headers={"cache-control": "no-cache"})

    app.include_router(config)
    app.mount(ASSETS_PATH, _Assets(directory=folder / "ui", check_dir=False), name="ui-assets")


def ui_settings(settings: ApiSettings) -> dict[str, Any]:
    return {"basemap_url": settings.basemap_url, "basemap_attribution": settings.basemap_attribution}


def content_security_policy(basemap_url: str | None) -> str | None:
    """The UI's policy when it differs from the one every answer carries: with a basemap on
    another server, its images may come from there too. ``None``: the common one fits."""
    if not basemap_url:
        return None
    parts = urlsplit(basemap_url)
    if not (parts.scheme and parts.netloc):
        return None  # a path on this server: 'self' covers it
    origin = f"{parts.scheme}://{parts.netloc}".replace("{", "").replace("}", "")
    common = SECURITY_HEADERS["content-security-policy"]
    return common.replace("img-src 'self' data:", f"img-src 'self' data: {origin}")


def is_for_the_ui(scope: Scope) -> bool:
    """A browser opening the site: GET or HEAD of /, HTML preferred, no ``f`` parameter."""
    if scope.get("method") not in ("GET", "HEAD"):
        return False
    request = Request(scope)
    return "f" not in request.query_params and wants_html(request)


class _ForBrowsers(APIRoute):
    """A route that only matches requests for the UI; anything else goes on to the API's
    own route for the same path."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is Match.NONE or not is_for_the_ui(scope):
            return Match.NONE, {}
        return match, child


class _Assets(StaticFiles):
    """The built files: their names carry a hash of their content, so they never change."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code == 200:
            response.headers["cache-control"] = "public, max-age=31536000, immutable"
        return response
