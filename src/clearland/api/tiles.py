"""Vector tiles of the public collections (``/tiles/{collection}/{z}/{x}/{y}.mvt``) and a
TileJSON document per collection for map clients, of the registry as it is or, with
``?as_of=YYYY-MM-DD``, as it was on that date. Thin: drawn and cached by ``services.tiles``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.responses import Response

from clearland.api.ogc import Links, tile_template
from clearland.api.openapi import AS_OF_PARAMETER, json_content, path_parameter, problems
from clearland.errors import InputError
from clearland.services import features, tiles
from clearland.services.features import NOT_PROOF_OF_SAFETY
from clearland.services.tiles import Tiles
from clearland.settings import ApiSettings

COLLECTION_PARAMETER = path_parameter(
    "collectionId",
    "A public collection.",
    {"type": "string", "enum": list(features.COLLECTIONS)},
)


def router(source: Tiles, settings: ApiSettings) -> APIRouter:
    routes = APIRouter(tags=["Vector tiles"])
    cache_control = f"public, max-age={settings.tile_max_age_s}"

    @routes.get(
        "/tiles/{collectionId}/{z}/{x}/{y}.mvt",
        summary="A vector tile",
        description=(
            "A Mapbox Vector Tile (2.1) of the collection on the Web Mercator XYZ grid "
            "(EPSG:3857, 4096 units, y down from the north), one layer named after the "
            "collection, public fields only. 204 when no feature meets the tile. Hazard areas "
            "smaller than a pixel are points; points in one pixel (4 pixels up to zoom 8) are "
            "one point with `count`. With `as_of`, the registry as it was on that date. "
            + NOT_PROOF_OF_SAFETY
        ),
        operation_id="getTile",
        responses={
            200: {
                "description": "The tile.",
                "headers": {
                    "ETag": {"description": "changes when the tile does", "schema": {"type": "string"}},
                    "Cache-Control": {"schema": {"type": "string"}},
                },
                "content": {tiles.MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
            },
            204: {"description": "No feature meets this tile."},
            304: {"description": "The tile is the one the client has (`If-None-Match`)."},
            **problems(400, 404, 503, described_as={404: "No such collection."}),
        },
        openapi_extra={
            "parameters": [
                COLLECTION_PARAMETER,
                path_parameter("z", "Zoom level, 0–22.", {"type": "integer", "minimum": 0, "maximum": 22}),
                path_parameter("x", "Column, 0 (west) to 2^z − 1.", {"type": "integer", "minimum": 0}),
                path_parameter("y", "Row, 0 (north) to 2^z − 1.", {"type": "integer", "minimum": 0}),
                AS_OF_PARAMETER,
            ]
        },
    )
    def tile(request: Request) -> Response:
        as_of = features.parse_common(request.query_params.multi_items())
        path = request.path_params
        z, x, y = (_whole(name, path[name]) for name in ("z", "x", "y"))
        drawn = source.tile(path["collectionId"], z, x, y, as_of)
        headers = {"etag": drawn.etag, "cache-control": cache_control}
        if _matches(request.headers.get("if-none-match"), drawn.etag):
            return Response(status_code=304, headers=headers)
        if drawn.is_empty:
            return Response(status_code=204, headers=headers)
        return Response(drawn.data, media_type=tiles.MEDIA_TYPE, headers=headers)

    @routes.get(
        "/tiles/{collectionId}.json",
        summary="TileJSON of a collection's vector tiles",
        description=(
            "TileJSON 3.0.0: the tiles' URL template, zoom range, bounds and fields; with `as_of`, "
            "of the registry as it was on that date (the template keeps it)."
        ),
        operation_id="getTileJSON",
        responses={
            200: {"description": "The TileJSON document.", **_only_json(json_content("TileJSON"))},
            **problems(400, 404, 503, described_as={404: "No such collection."}),
        },
        openapi_extra={"parameters": [COLLECTION_PARAMETER, AS_OF_PARAMETER]},
    )
    def tilejson(request: Request) -> Response:
        as_of = features.parse_common(request.query_params.multi_items())
        spec = features.collection(request.path_params["collectionId"])
        doc = tilejson_doc(
            spec,
            tile_template(Links(request, settings, as_of), spec.id),
            source.bounds(spec.id, as_of),
            source.fields(spec.id, as_of),
        )
        return JSONResponse(doc, headers={"cache-control": cache_control})

    return routes


def tilejson_doc(
    spec: features.Collection,
    url_template: str,
    bounds: tuple[float, float, float, float] | None,
    fields: dict[str, str],
) -> dict[str, Any]:
    west, south, east, north = bounds or (-180.0, -tiles.MAX_LAT, 180.0, tiles.MAX_LAT)
    south, north = max(south, -tiles.MAX_LAT), min(north, tiles.MAX_LAT)
    return {
        "tilejson": "3.0.0",
        "name": spec.title,
        "description": spec.description,
        "scheme": "xyz",
        "tiles": [url_template],
        "minzoom": tiles.MIN_ZOOM,
        "maxzoom": tiles.MAX_ZOOM,
        "bounds": [west, south, east, north],
        "center": [(west + east) / 2, (south + north) / 2, 8 if bounds else 0],
        "attribution": NOT_PROOF_OF_SAFETY,
        "vector_layers": [
            {
                "id": spec.id,
                "description": spec.title,
                "minzoom": tiles.MIN_ZOOM,
                "maxzoom": tiles.MAX_ZOOM,
                "fields": fields,
            }
        ],
    }


def _only_json(content: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": content["content"]["application/json"]}}


def _whole(name: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        message = f"{text!r} is not a whole number"
        raise InputError(f"{name}: {message}", detail=[{"parameter": name, "message": message}]) from None


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
    return "*" in tags or etag in tags
