"""Safety checks over HTTP: the same answers as ``clearland check point|route|area --json``.

A route or area file comes as the request body (or the ``file`` part of a form), is written to a
temporary folder under the sender's file name (so the answer and any error name the file as the
sender knows it, never a server path) and checked by ``services.safety.check_file``."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from clearland.api import inputs
from clearland.api.openapi import file_body, json_content, problems, query_parameter
from clearland.services import safety
from clearland.services.registry import Registry

WITHIN_M_MAX = 100_000.0
#: up to this distance a point is checked on the event loop when the index is in memory
INLINE_WITHIN_M = 1_000.0
WITHIN_PARAMETER = query_parameter(
    "within_m",
    "Distance in metres that counts as near (default 100).",
    {"type": "number", "minimum": 0, "maximum": WITHIN_M_MAX, "default": safety.DEFAULT_WITHIN_M},
)
FORMAT_PARAMETER = query_parameter(
    "format",
    "The file's format, when its media type does not say: gpx, geojson, kml or kmz.",
    {"type": "string", "enum": list(inputs.CHECK_FORMATS)},
)
FILENAME_PARAMETER = query_parameter(
    "filename",
    "The file's name, for the answer (`query.file`, feature names) and its messages.",
    {"type": "string"},
)
LAYER_PARAMETER = query_parameter("layer", "The layer to read, in a file with several.", {"type": "string"})
FILE_ALLOWED = {
    "within_m": "metres",
    "format": "gpx, geojson, kml or kmz",
    "filename": "the file's name",
    "layer": "layer to read",
}
ANSWER_RESPONSE = {
    "description": (
        "`inside`, `near` or `no_record`, each hazard involved, the registry's revision and "
        "date; no record is not proof of safety."
    ),
    **json_content("SafetyAnswer"),
}


def router(registry: Registry) -> APIRouter:
    routes = APIRouter(tags=["Safety checks"])

    @routes.get(
        "/check/point",
        summary="Check a position",
        description="Is this position inside or near a recorded hazard area?",
        operation_id="checkPoint",
        responses={200: _json_only(ANSWER_RESPONSE), **problems(400, 429, 503)},
        openapi_extra={
            "parameters": [
                query_parameter(
                    "lon",
                    "Longitude, WGS84 degrees.",
                    {"type": "number", "minimum": -180, "maximum": 180},
                    required=True,
                ),
                query_parameter(
                    "lat",
                    "Latitude, WGS84 degrees.",
                    {"type": "number", "minimum": -90, "maximum": 90},
                    required=True,
                ),
                WITHIN_PARAMETER,
            ]
        },
    )
    async def check_point(request: Request) -> Response:
        values = inputs.query(request, {"lon": "degrees", "lat": "degrees", "within_m": "metres"})
        problems_found: list[dict[str, Any]] = []
        lon = inputs.number(values, "lon", problems_found, low=-180, high=180)
        lat = inputs.number(values, "lat", problems_found, low=-90, high=90)
        within_m = _within(values, problems_found)
        inputs.raise_problems(problems_found)
        # a check of a few hundred metres against the index in memory takes about a millisecond:
        # answered here, without the hop to a worker thread (which costs as much again under
        # load); reading the registry (a new revision: seconds) or a wide search, in a thread
        answer = (
            safety.check_point_if_known(registry, lon, lat, within_m) if within_m <= INLINE_WITHIN_M else None
        )
        if answer is None:
            answer = await run_in_threadpool(safety.check_point, registry, lon, lat, within_m)
        return JSONResponse(answer)

    for what, title, accepts in (
        ("route", "a route or track", "GPX tracks and routes, or GeoJSON/KML lines"),
        ("area", "a field or plot", "GeoJSON or KML polygons"),
    ):
        _file_route(routes, registry, what, title, accepts)
    return routes


def _file_route(routes: APIRouter, registry: Registry, what: str, title: str, accepts: str) -> None:
    @routes.post(
        f"/check/{what}",
        summary=f"Check {title}",
        description=(
            f"Does {title} cross, overlap or come near a recorded hazard area? The file is the "
            f"body ({accepts}); its format from `format`, else the media type, else `filename`. "
            "Corrupt GPS timestamps are listed in `warnings`, not refused."
        ),
        operation_id=f"check{what.title()}",
        responses={200: _json_only(ANSWER_RESPONSE), **problems(400, 413, 429, 503)},
        openapi_extra={
            "parameters": [WITHIN_PARAMETER, FORMAT_PARAMETER, FILENAME_PARAMETER, LAYER_PARAMETER],
            "requestBody": file_body(
                f"The {what} file: {accepts}.",
                [media for _suffix, types in inputs.CHECK_FORMATS.values() for media in types],
            ),
        },
    )
    async def check_file(request: Request) -> Response:
        values = inputs.query(request, FILE_ALLOWED)
        problems_found: list[dict[str, Any]] = []
        within_m = _within(values, problems_found)
        inputs.raise_problems(problems_found)
        with tempfile.TemporaryDirectory(prefix="clearland-check-") as folder:
            upload = await inputs.receive_file(
                request,
                Path(folder),
                inputs.CHECK_FORMATS,
                format_name=values.get("format"),
                filename=values.get("filename"),
                default_stem=what,
            )
            with inputs.server_paths_hidden(Path(folder)):
                answer = await run_in_threadpool(
                    safety.check_file, registry, upload.path, what, within_m, layer=values.get("layer")
                )
        answer["query"]["file"] = upload.name  # the sender's name for it, not where it was kept
        return JSONResponse(answer)


def _within(values: dict[str, str], problems_found: list[dict[str, Any]]) -> float:
    return inputs.number(
        values, "within_m", problems_found, default=safety.DEFAULT_WITHIN_M, low=0, high=WITHIN_M_MAX
    )


def _json_only(response: dict[str, Any]) -> dict[str, Any]:
    return {**response, "content": {"application/json": response["content"]["application/json"]}}
