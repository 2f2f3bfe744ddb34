"""The API documentation at ``/docs``, served whole from this process: Swagger UI's files come
from the ``swagger-ui-bundle`` package, never from a CDN (ARCHITECTURE.md: works offline)."""

from __future__ import annotations

import functools
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.responses import Response

from clearland.api.html import STYLESHEET
from clearland.api.openapi import OPENAPI_JSON, openapi_document
from clearland.errors import UnknownRecord

#: the Swagger UI files a page needs, and their media types (nothing else is served from there)
SWAGGER_FILES = {
    "swagger-ui.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "favicon-32x32.png": "image/png",
    "favicon-16x16.png": "image/png",
}
# a file, not an inline script: the Content-Security-Policy allows scripts from 'self' only;
# validatorUrl null keeps Swagger UI from asking an online validator about the document
INIT_JS = """window.addEventListener("load", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-url"),
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout"
  });
});
"""
CACHE = {"cache-control": "public, max-age=86400"}


@functools.cache
def _swagger_file(name: str) -> bytes:
    import swagger_ui_bundle

    return (Path(swagger_ui_bundle.swagger_ui_path) / name).read_bytes()


def router(app: FastAPI) -> APIRouter:
    routes = APIRouter(include_in_schema=False)

    @routes.get("/openapi.json")
    def openapi(_request: Request) -> Response:
        return JSONResponse(openapi_document(app), media_type=OPENAPI_JSON)

    @routes.get("/docs")
    def docs(request: Request) -> Response:
        root = request.scope.get("root_path", "").rstrip("/")
        assets = f"{root}/docs/assets"
        return HTMLResponse(
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            "<title>clearland API</title>"
            f'<link rel="stylesheet" href="{assets}/swagger-ui.css">'
            f'<link rel="icon" type="image/png" href="{assets}/favicon-32x32.png"></head><body>'
            f'<div id="swagger-ui" data-url="{root}/openapi.json"></div>'
            f'<script src="{assets}/swagger-ui-bundle.js"></script>'
            f'<script src="{assets}/init.js"></script>'
            "</body></html>\n"
        )

    @routes.get("/docs/assets/{name}")
    def docs_asset(name: str) -> Response:
        if name == "init.js":
            return Response(INIT_JS, media_type="text/javascript; charset=utf-8", headers=CACHE)
        if name not in SWAGGER_FILES:
            raise UnknownRecord("no such file")
        return Response(_swagger_file(name), media_type=SWAGGER_FILES[name], headers=CACHE)

    @routes.get("/assets/clearland.css")
    def stylesheet() -> Response:
        return Response(STYLESHEET, media_type="text/css; charset=utf-8", headers=CACHE)

    return routes
