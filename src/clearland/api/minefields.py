"""The restricted collection ``minefield-records``: minefield records with their details, as OGC
API – Features items, for callers with the ``records_custodian`` role only (401 anonymous, 403
others, as ``application/problem+json``). It is not listed among the public collections; the
public sees each record's CHA in ``hazard-areas``. Included ahead of the public OGC routes, whose
``/collections/{id}`` answers 404 for an unknown collection."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from clearland.api import inputs
from clearland.api.auth import Caller, acting, require
from clearland.api.openapi import SECURED, problems
from clearland.domain.vocab import Role
from clearland.services import minefields

COLLECTION = "minefield-records"
GEOJSON = "application/geo+json"
_FEATURE = {"type": "object", "description": "A GeoJSON Feature: the record's perimeter and all its details."}


def _feature(state: dict[str, Any]) -> dict[str, Any]:
    properties = {k: v for k, v in state.items() if k not in ("geometry", "record_id", "history")}
    return {
        "type": "Feature",
        "id": state["ref"],
        "geometry": state["geometry"].__geo_interface__,
        "properties": json.loads(json.dumps(properties, default=str)),
    }


def router() -> APIRouter:
    routes = APIRouter(tags=["Minefield records (restricted)"])
    custodian = require(Role.RECORDS_CUSTODIAN)

    @routes.get(
        f"/collections/{COLLECTION}",
        summary="The restricted collection of minefield records",
        operation_id="describeMinefieldRecords",
        responses={200: {"description": "The collection."}, **problems(400, 401, 403, 503)},
        openapi_extra={"security": SECURED},
    )
    def describe(request: Request, who: Caller = Depends(custodian)) -> Response:
        inputs.query(request, {})
        base = str(request.base_url).rstrip("/")
        return JSONResponse(
            {
                "id": COLLECTION,
                "title": "Minefield records (restricted)",
                "description": "Minefield records (Amended Protocol II) with their details: "
                "records custodians only.",
                "itemType": "feature",
                "links": [
                    {"href": f"{base}/collections/{COLLECTION}/items", "rel": "items", "type": GEOJSON},
                ],
            }
        )

    @routes.get(
        f"/collections/{COLLECTION}/items",
        summary="Minefield records (restricted)",
        operation_id="getMinefieldRecords",
        responses={
            200: {"description": "The records.", "content": {GEOJSON: {"schema": {"type": "object"}}}},
            **problems(400, 401, 403, 503),
        },
        openapi_extra={"security": SECURED},
    )
    async def items(request: Request, who: Caller = Depends(custodian)) -> Response:
        inputs.query(request, {})
        registry = acting(request, who)
        states = await run_in_threadpool(minefields.list_records, registry)
        body = {"type": "FeatureCollection", "features": [_feature(s) for s in states]}
        return JSONResponse(body, media_type=GEOJSON)

    @routes.get(
        f"/collections/{COLLECTION}/items/{{featureId}}",
        summary="One minefield record (restricted)",
        operation_id="getMinefieldRecord",
        responses={
            200: {"description": "The record.", "content": {GEOJSON: {"schema": _FEATURE}}},
            **problems(400, 401, 403, 404, 503, described_as={404: "No such minefield record."}),
        },
        openapi_extra={"security": SECURED},
    )
    async def item(request: Request, featureId: str, who: Caller = Depends(custodian)) -> Response:
        inputs.query(request, {})
        registry = acting(request, who)
        state = await run_in_threadpool(minefields.show_record, registry, featureId)
        return JSONResponse(_feature(state), media_type=GEOJSON)

    return routes
