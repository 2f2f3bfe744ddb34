"""OGC API – Features, Part 1 (Core, GeoJSON, HTML, OpenAPI 3.0): the landing page,
conformance, the public collections and their items. Thin: parameters are parsed and the
collections read by ``services.features``; here they become JSON, GeoJSON or HTML."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import shapely.geometry
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.responses import Response

from clearland.api import html
from clearland.api.openapi import (
    COMMON_PARAMETERS,
    CRS_PARAMETER,
    GEOJSON,
    OPENAPI_JSON,
    fid_parameter,
    items_parameters,
    json_content,
    problems,
)
from clearland.errors import InputError, UnknownRecord
from clearland.services import features
from clearland.services.features import CRS84, NOT_PROOF_OF_SAFETY, Catalogue, Collection
from clearland.settings import ApiSettings

CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
]
OGC_REL = "http://www.opengis.net/def/rel/ogc/1.0/"
GREGORIAN = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"
JSON = "application/json"
HTML = "text/html"
MVT = "application/vnd.mapbox-vector-tile"


class GeoJSONResponse(JSONResponse):
    media_type = GEOJSON

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


# -- requests: format, parameters, links -------------------------------------------------------


def wants_html(request: Request) -> bool:
    """``?f=html|json`` decides; without it the Accept header (HTML only when preferred)."""
    given = request.query_params.getlist("f")
    if len(given) > 1:
        raise InputError(
            "f: given more than once", detail=[{"parameter": "f", "message": "given more than once"}]
        )
    if given:
        value = given[0].strip().lower()
        if value == "html":
            return True
        if value in ("json", "geojson"):
            return False
        message = f"{given[0]!r} is not a format here (json, html)"
        raise InputError(f"f: {message}", detail=[{"parameter": "f", "message": message}])
    return _prefers_html(request.headers.get("accept", ""))


def _prefers_html(accept: str) -> bool:
    html_q = json_q = 0.0
    for part in accept.split(","):
        media, *options = (p.strip() for p in part.split(";"))
        q = 1.0
        for option in options:
            name, _, value = option.partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        media = media.lower()
        if media in ("text/html", "application/xhtml+xml"):
            html_q = max(html_q, q)
        elif "json" in media or media in ("*/*", "application/*"):
            json_q = max(json_q, q)
    return html_q > json_q


def query_pairs(request: Request) -> list[tuple[str, str]]:
    """The query as given, less ``f`` (the format is the API's business, not the service's)."""
    return [(k, v) for k, v in request.query_params.multi_items() if k != "f"]


class Links:
    """Absolute links, from the configured public URL or the URL the request came to."""

    def __init__(self, request: Request, settings: ApiSettings, as_of: dt.date | None) -> None:
        self.base = (settings.public_url or str(request.base_url)).rstrip("/")
        self.keep = {"as_of": as_of.isoformat()} if as_of else {}

    def url(self, path: str, params: Mapping[str, Any] | None = None, *, keep: bool = True) -> str:
        query = {**(self.keep if keep else {}), **(params or {})}
        return self.base + path + (f"?{urlencode(query)}" if query else "")

    def pair(self, path: str, title: str, media_type: str = JSON, **params: Any) -> list[dict[str, str]]:
        """``self`` (JSON) and ``alternate`` (HTML) for a page."""
        return [
            link(self.url(path, {**params, "f": "json"}), "self", media_type, title),
            link(self.url(path, {**params, "f": "html"}), "alternate", HTML, f"{title} as HTML"),
        ]


def tile_template(links: Links, collection_id: str) -> str:
    """The URL template of a collection's vector tiles, ``{z}/{x}/{y}`` to fill in (after the
    path, so the braces stay as they are), keeping ``as_of``."""
    query = f"?{urlencode(links.keep)}" if links.keep else ""
    return links.url(f"/tiles/{collection_id}", keep=False) + "/{z}/{x}/{y}.mvt" + query


def link(href: str, rel: str, media_type: str, title: str) -> dict[str, str]:
    return {"href": href, "rel": rel, "type": media_type, "title": title}


def answer(request: Request, doc: dict[str, Any], page: Any, media_type: str = JSON) -> Response:
    if wants_html(request):
        return HTMLResponse(page())
    if media_type == GEOJSON:
        # OGC API – Features Part 2 asks for the CRS of returned coordinates in a header
        return GeoJSONResponse(doc, headers={"content-crs": f"<{CRS84}>"})
    return JSONResponse(doc, media_type=media_type)


# -- documents --------------------------------------------------------------------------------


def landing_doc(links: Links, status: Mapping[str, Any], as_of: dt.date | None) -> dict[str, Any]:
    registry = {**status, "notice": NOT_PROOF_OF_SAFETY}
    if as_of:
        registry["as_of"] = as_of.isoformat()
    return {
        "title": "clearland hazard registry",
        "description": (
            "Public layers of the mine action hazard registry: recorded hazard areas, released "
            "land, markers and admin areas, as OGC API – Features (GeoJSON, CRS84 longitude/latitude)."
        ),
        "links": [
            *links.pair("/", "This document"),
            link(links.url("/openapi.json", keep=False), "service-desc", OPENAPI_JSON, "The API definition"),
            link(links.url("/docs", keep=False), "service-doc", HTML, "The API documentation"),
            link(links.url("/conformance"), "conformance", JSON, "Conformance classes"),
            link(links.url("/conformance"), OGC_REL + "conformance", JSON, "Conformance classes"),
            link(links.url("/collections"), "data", JSON, "The collections"),
            link(links.url("/collections"), OGC_REL + "data", JSON, "The collections"),
        ],
        "registry": registry,
    }


def collection_doc(links: Links, spec: Collection, extent: features.Extent) -> dict[str, Any]:
    path = f"/collections/{spec.id}"
    doc: dict[str, Any] = {
        "id": spec.id,
        "title": spec.title,
        "description": spec.description,
        "itemType": "feature",
        "crs": [CRS84],
        "storageCrs": CRS84,
        "links": [
            *links.pair(path, spec.title),
            link(links.url(f"{path}/items", {"f": "json"}), "items", GEOJSON, f"{spec.title} (GeoJSON)"),
            link(links.url(f"{path}/items", {"f": "html"}), "items", HTML, f"{spec.title} (HTML)"),
            # vector tiles of the same state of the registry (they keep as_of)
            link(links.url(f"/tiles/{spec.id}.json"), "tiles", JSON, "Vector tiles (TileJSON)"),
            {
                **link(
                    tile_template(links, spec.id),
                    "tiles",
                    MVT,
                    "Vector tiles (Web Mercator XYZ)",
                ),
                "templated": True,
            },
        ],
    }
    extent_doc: dict[str, Any] = {}
    if extent.bbox is not None:
        extent_doc["spatial"] = {"bbox": [list(extent.bbox)], "crs": CRS84}
    if extent.interval is not None:
        start, end = extent.interval
        extent_doc["temporal"] = {
            "interval": [[_instant(start), _instant(end)]],
            "trs": GREGORIAN,
        }
    if extent_doc:
        doc["extent"] = extent_doc
    return doc


def _instant(day: dt.date | None) -> str | None:
    return f"{day.isoformat()}T00:00:00Z" if day else None


def feature_doc(feature: features.Feature) -> dict[str, Any]:
    return {
        "type": "Feature",
        "id": feature.id,
        "geometry": shapely.geometry.mapping(feature.geometry),
        "properties": {k: _plain(v) for k, v in feature.properties.items()},
    }


def _plain(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


# -- routes -----------------------------------------------------------------------------------


def router(catalogue: Catalogue, settings: ApiSettings) -> APIRouter:
    """Every OGC API route over ``catalogue``; one set of item routes per collection, so the
    OpenAPI document lists each collection's own filters."""
    routes = APIRouter(tags=["OGC API – Features"])

    @routes.get(
        "/",
        summary="Landing page",
        operation_id="getLandingPage",
        responses={
            200: {
                "description": "Links to the API, its conformance and its collections.",
                **json_content("LandingPage"),
            },
            **problems(400, 503),
        },
        openapi_extra={"parameters": COMMON_PARAMETERS},
    )
    def landing(request: Request) -> Response:
        as_of = features.parse_common(query_pairs(request))
        links = Links(request, settings, as_of)
        doc = landing_doc(links, catalogue.status(), as_of)
        return answer(request, doc, lambda: html.landing(doc, base_url=links.base))

    @routes.get(
        "/conformance",
        summary="Conformance classes",
        operation_id="getConformance",
        responses={
            200: {
                "description": "The conformance classes this API implements.",
                **json_content("Conformance"),
            },
            **problems(400),
        },
        openapi_extra={"parameters": COMMON_PARAMETERS},
    )
    def conformance(request: Request) -> Response:
        links = Links(request, settings, features.parse_common(query_pairs(request)))
        doc = {"conformsTo": CONFORMANCE, "links": links.pair("/conformance", "Conformance classes")}
        return answer(request, doc, lambda: html.conformance(doc, base_url=links.base))

    @routes.get(
        "/collections",
        summary="The collections",
        operation_id="getCollections",
        responses={
            200: {"description": "The public collections.", **json_content("Collections")},
            **problems(400, 503),
        },
        openapi_extra={"parameters": COMMON_PARAMETERS},
    )
    def collections(request: Request) -> Response:
        as_of = features.parse_common(query_pairs(request))
        links = Links(request, settings, as_of)
        doc = {
            "links": links.pair("/collections", "The collections"),
            "collections": [
                collection_doc(links, spec, catalogue.extent(spec.id, as_of))
                for spec in features.COLLECTIONS.values()
            ],
        }
        return answer(request, doc, lambda: html.collections(doc, base_url=links.base))

    for spec in features.COLLECTIONS.values():
        _collection_routes(routes, catalogue, settings, spec)

    # any other collection id: a 404 problem (not in the OpenAPI document)
    @routes.get("/collections/{collection_id}", include_in_schema=False)
    @routes.get("/collections/{collection_id}/items", include_in_schema=False)
    @routes.get("/collections/{collection_id}/items/{feature_id}", include_in_schema=False)
    def unknown_collection(request: Request) -> Response:
        features.collection(request.path_params["collection_id"])  # raises UnknownRecord
        raise UnknownRecord("no such collection")

    return routes


def _collection_routes(
    routes: APIRouter, catalogue: Catalogue, settings: ApiSettings, spec: Collection
) -> None:
    path = f"/collections/{spec.id}"
    name = "".join(part.title() for part in spec.id.split("-"))

    @routes.get(
        path,
        summary=f"{spec.title}: the collection",
        description=spec.description,
        operation_id=f"describe{name}",
        responses={
            200: {"description": "The collection's metadata.", **json_content("Collection")},
            **problems(400, 503),
        },
        openapi_extra={"parameters": COMMON_PARAMETERS},
    )
    def describe(request: Request) -> Response:
        as_of = features.parse_common(query_pairs(request))
        links = Links(request, settings, as_of)
        doc = collection_doc(links, spec, catalogue.extent(spec.id, as_of))
        return answer(request, doc, lambda: html.collection(doc, base_url=links.base))

    @routes.get(
        f"{path}/items",
        summary=f"{spec.title}: the features",
        description=spec.description,
        operation_id=f"get{name}Features",
        response_class=GeoJSONResponse,
        responses={
            200: {
                "description": "A page of features, with a `next` link while more match.",
                **json_content("FeatureCollection", GEOJSON),
            },
            **problems(400, 503),
        },
        openapi_extra={"parameters": items_parameters(spec)},
    )
    def items(request: Request) -> Response:
        query = features.parse_items_query(spec.id, query_pairs(request))
        links = Links(request, settings, query.as_of)
        page = catalogue.items(spec.id, query)
        doc = items_doc(links, spec, page, dict(query_pairs(request)))
        return answer(
            request,
            doc,
            lambda: html.items(
                doc,
                title=spec.title,
                offset=query.offset,
                base_url=links.base,
                item_url=lambda fid: links.url(f"{path}/items/{fid}", {"f": "html"}),
            ),
            GEOJSON,
        )

    @routes.get(
        f"{path}/items/{{featureId}}",
        summary=f"{spec.title}: one feature",
        operation_id=f"get{name}Feature",
        response_class=GeoJSONResponse,
        responses={
            200: {"description": "The feature.", **json_content("Feature", GEOJSON)},
            **problems(400, 404, 503),
        },
        openapi_extra={"parameters": [fid_parameter(), CRS_PARAMETER, *COMMON_PARAMETERS]},
    )
    def item(request: Request) -> Response:
        as_of = features.parse_common(query_pairs(request), crs=True)
        links = Links(request, settings, as_of)
        feature = catalogue.item(spec.id, request.path_params["featureId"], as_of)
        item_path = f"{path}/items/{feature.id}"
        doc = {
            **feature_doc(feature),
            "links": [
                *links.pair(item_path, feature.id, GEOJSON),
                link(links.url(path), "collection", JSON, spec.title),
            ],
        }
        return answer(request, doc, lambda: html.item(doc, base_url=links.base), GEOJSON)


def items_doc(
    links: Links, spec: Collection, page: features.Page, params: Mapping[str, str]
) -> dict[str, Any]:
    path = f"/collections/{spec.id}/items"
    query = page.query
    # the request's own parameters, minus paging, go on every link: the filters stay applied
    kept = {k: v for k, v in params.items() if k not in ("offset", "limit")}
    paging = {"limit": query.limit}

    def at(offset: int, media_type: str) -> str:
        f = "html" if media_type == HTML else "json"
        return links.url(path, {**kept, **paging, "offset": offset, "f": f}, keep=False)

    doc_links = [
        link(at(query.offset, GEOJSON), "self", GEOJSON, "This page"),
        link(at(query.offset, HTML), "alternate", HTML, "This page as HTML"),
    ]
    if page.has_next:
        for media_type in (GEOJSON, HTML):
            doc_links.append(
                link(at(query.offset + query.limit, media_type), "next", media_type, "Next page")
            )
    if page.has_prev:
        for media_type in (GEOJSON, HTML):
            previous = max(query.offset - query.limit, 0)
            doc_links.append(link(at(previous, media_type), "prev", media_type, "Previous page"))
    doc_links.append(link(links.url(f"/collections/{spec.id}"), "collection", JSON, spec.title))
    return {
        "type": "FeatureCollection",
        "features": [feature_doc(feature) for feature in page.features],
        "numberMatched": page.number_matched,
        "numberReturned": page.number_returned,
        "timeStamp": page.time_stamp,
        "links": doc_links,
    }
