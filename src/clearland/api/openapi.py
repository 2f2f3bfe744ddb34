"""The OpenAPI 3.0 document (OGC API – Features, conformance class "OpenAPI 3.0"): parameters
and schemas written out here, routes taken from the app. Every route reads its query by hand
(the service validates it), so FastAPI adds no 3.1-only constructs of its own."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from clearland.api.problems import PROBLEM_JSON
from clearland.domain.records import FieldSpec
from clearland.services.features import CRS84, DEFAULT_LIMIT, MAX_LIMIT, Collection

OPENAPI_VERSION = "3.0.3"
OPENAPI_JSON = "application/vnd.oai.openapi+json;version=3.0"
GEOJSON = "application/geo+json"

F_PARAMETER = {
    "name": "f",
    "in": "query",
    "required": False,
    "description": "Format of the answer: json or html (default: by the Accept header, else json).",
    "schema": {"type": "string", "enum": ["json", "html"]},
}
AS_OF_PARAMETER = {
    "name": "as_of",
    "in": "query",
    "required": False,
    "description": "Serve the registry as it was on this date (YYYY-MM-DD).",
    "schema": {"type": "string", "format": "date"},
}
COMMON_PARAMETERS = [F_PARAMETER, AS_OF_PARAMETER]
CRS_PARAMETER = {
    "name": "crs",
    "in": "query",
    "required": False,
    "description": "CRS of the coordinates returned: only CRS84 (longitude, latitude) is served.",
    "schema": {"type": "string", "enum": [CRS84], "default": CRS84},
}
BBOX_CRS_PARAMETER = {
    "name": "bbox-crs",
    "in": "query",
    "required": False,
    "description": "CRS of `bbox`: only CRS84 (longitude, latitude).",
    "schema": {"type": "string", "enum": [CRS84], "default": CRS84},
}


def items_parameters(collection: Collection) -> list[dict[str, Any]]:
    return [
        {
            "name": "bbox",
            "in": "query",
            "required": False,
            "description": (
                "Only features whose geometry meets this box: min lon, min lat, max lon, max lat "
                "(CRS84, degrees); a min lon above the max lon crosses the antimeridian."
            ),
            "style": "form",
            "explode": False,
            "schema": {
                "type": "array",
                "minItems": 4,
                "maxItems": 6,
                "items": {"type": "number"},
            },
        },
        {
            "name": "datetime",
            "in": "query",
            "required": False,
            "description": (
                "Only features whose date of information is this date (2026-03-01), or lies in this "
                "interval (2026-01-01/2026-03-31; '..' for an open end). Both ends inclusive."
            ),
            "schema": {"type": "string"},
        },
        {
            "name": "limit",
            "in": "query",
            "required": False,
            "description": f"Most features in one answer; more than {MAX_LIMIT} is taken as {MAX_LIMIT}.",
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
        },
        {
            "name": "offset",
            "in": "query",
            "required": False,
            "description": "Skip this many matching features (follow the `next` link rather than counting).",
            "schema": {"type": "integer", "minimum": 0, "default": 0},
        },
        BBOX_CRS_PARAMETER,
        *(_filter_parameter(spec) for spec in collection.filters),
        CRS_PARAMETER,
        *COMMON_PARAMETERS,
    ]


def _filter_parameter(spec: FieldSpec) -> dict[str, Any]:
    what = f" ({spec.description})" if spec.description else ""
    if spec.vocab is not None:
        what += f"; one of: {', '.join(v.value for v in spec.vocab)}"
    how = "include" if spec.kind.endswith("_list") else "equal"
    return {
        "name": spec.name,
        "in": "query",
        "required": False,
        "description": f"Only features whose `{spec.name}` {how}s this value{what}.",
        # an empty value is refused, not taken as "no filter"
        "schema": {"type": "string", "minLength": 1, "pattern": r"\S"},
    }


def fid_parameter() -> dict[str, Any]:
    return {
        "name": "featureId",
        "in": "path",
        "required": True,
        "description": "The feature's id: the record's ref (HA-000001, OUT-000001) or a marker's id.",
        "schema": {"type": "string"},
    }


def json_content(schema: str, media_type: str = "application/json") -> dict[str, Any]:
    return {
        "content": {
            media_type: {"schema": {"$ref": f"#/components/schemas/{schema}"}},
            "text/html": {"schema": {"type": "string"}},
        }
    }


def problems(
    *statuses: int, described_as: Mapping[int, str] | None = None
) -> dict[int | str, dict[str, Any]]:
    """Problem answers for ``statuses``; ``described_as`` ({404: "No such job."}) replaces the
    usual words for a status."""
    described = {
        400: "A parameter is wrong or unknown.",
        401: (
            "Not authenticated: send `Authorization: Bearer <token>`, or log in (`POST /auth/login`) "
            "and send the session cookie."
        ),
        403: (
            "The caller's roles do not allow this, or a request authenticated by the session "
            "cookie lacks its `X-CSRF-Token` header."
        ),
        404: "No such collection or feature.",
        409: "Not possible in this state.",
        413: "The request body is larger than the server accepts.",
        429: "Too many requests from this address: wait the seconds `Retry-After` says.",
        500: "Something went wrong on the server.",
        503: "The registry is not available.",
    }
    described.update(described_as or {})
    answers: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        answers[status] = {
            "description": described[status],
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        if status in (429, 503):
            answers[status]["headers"] = {"Retry-After": RETRY_AFTER}
        if status == 401:
            answers[status]["headers"] = {"WWW-Authenticate": WWW_AUTHENTICATE}
    return answers


RETRY_AFTER = {"description": "Seconds to wait before asking again.", "schema": {"type": "integer"}}
WWW_AUTHENTICATE = {"description": "How to authenticate: `Bearer`.", "schema": {"type": "string"}}

#: how a caller proves who it is (``clearland.api.auth``); an operation restricted to some
#: roles lists both as alternatives (``SECURED``)
SECURITY_SCHEMES: dict[str, Any] = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "An API token (`cl_…`) from `clearland users token NAME`.",
    },
    "cookie": {
        "type": "apiKey",
        "in": "cookie",
        "name": "clearland_session",
        "description": (
            "The session cookie `POST /auth/login` sets. POST, PUT, PATCH and DELETE requests "
            "that rely on it must also send the `X-CSRF-Token` header that login and `/auth/me` give."
        ),
    },
}
SECURED: list[dict[str, list[str]]] = [{"bearer": []}, {"cookie": []}]


def query_parameter(
    name: str, description: str, schema: dict[str, Any], *, required: bool = False
) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "description": description, "schema": schema}


def path_parameter(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": schema}


def file_body(description: str, media_types: list[str]) -> dict[str, Any]:
    """A request body that is a file: as it is, or the ``file`` part of a form."""
    binary = {"schema": {"type": "string", "format": "binary"}}
    content: dict[str, Any] = {media_type: binary for media_type in media_types}
    content["application/octet-stream"] = binary
    content["multipart/form-data"] = {
        "schema": {
            "type": "object",
            "required": ["file"],
            "properties": {"file": {"type": "string", "format": "binary"}},
        }
    }
    return {"required": True, "description": description, "content": content}


_LINK = {
    "type": "object",
    "required": ["href", "rel"],
    "properties": {
        "href": {"type": "string"},
        "rel": {"type": "string"},
        "type": {"type": "string"},
        "title": {"type": "string"},
        "templated": {"type": "boolean", "description": "the href holds {z}/{x}/{y} to fill in"},
    },
}
_LINKS = {"type": "array", "items": {"$ref": "#/components/schemas/Link"}}
_GEOMETRY = {
    "type": "object",
    "nullable": True,
    "required": ["type"],
    "properties": {
        "type": {
            "type": "string",
            "enum": [
                "Point",
                "MultiPoint",
                "LineString",
                "MultiLineString",
                "Polygon",
                "MultiPolygon",
                "GeometryCollection",
            ],
        },
        "coordinates": {"type": "array", "items": {}},
        "geometries": {"type": "array", "items": {"type": "object"}},
    },
}
_FEATURE = {
    "type": "object",
    "required": ["type", "id", "geometry", "properties"],
    "properties": {
        "type": {"type": "string", "enum": ["Feature"]},
        "id": {"type": "string"},
        "geometry": {"$ref": "#/components/schemas/Geometry"},
        "properties": {"type": "object", "nullable": True},
        "links": _LINKS,
    },
}
_FEATURE_COLLECTION = {
    "type": "object",
    "required": ["type", "features"],
    "properties": {
        "type": {"type": "string", "enum": ["FeatureCollection"]},
        "features": {"type": "array", "items": {"$ref": "#/components/schemas/Feature"}},
        "links": _LINKS,
        "timeStamp": {"type": "string", "format": "date-time"},
        "numberMatched": {"type": "integer", "minimum": 0},
        "numberReturned": {"type": "integer", "minimum": 0},
    },
}
_COLLECTION = {
    "type": "object",
    "required": ["id", "links"],
    "properties": {
        "id": {"type": "string"},
        "title": {"type": "string"},
        "description": {"type": "string"},
        "links": _LINKS,
        "itemType": {"type": "string"},
        "crs": {"type": "array", "items": {"type": "string"}},
        "storageCrs": {"type": "string"},
        "extent": {
            "type": "object",
            "properties": {
                "spatial": {
                    "type": "object",
                    "properties": {
                        "bbox": {
                            "type": "array",
                            "items": {
                                "type": "array",
                                "minItems": 4,
                                "maxItems": 6,
                                "items": {"type": "number"},
                            },
                        },
                        "crs": {"type": "string"},
                    },
                },
                "temporal": {
                    "type": "object",
                    "properties": {
                        "interval": {
                            "type": "array",
                            "items": {
                                "type": "array",
                                "minItems": 2,
                                "maxItems": 2,
                                "items": {"type": "string", "format": "date-time", "nullable": True},
                            },
                        },
                        "trs": {"type": "string"},
                    },
                },
            },
        },
    },
}
_REGISTRY_STATE = {
    "type": "object",
    "required": ["revision", "latest_information"],
    "properties": {
        "revision": {"type": "integer"},
        "latest_information": {"type": "string", "format": "date", "nullable": True},
        "synthetic": {"type": "string"},
    },
}
_HAZARD_HIT = {
    "type": "object",
    "required": ["ref", "category", "status", "marking", "inside", "distance_m", "bearing_deg"],
    "properties": {
        "ref": {"type": "string"},
        "category": {"type": "string"},
        "status": {"type": "string"},
        "marking": {"type": "string", "nullable": True},
        "inside": {"type": "boolean"},
        "distance_m": {"type": "number", "description": "shortest distance, metres (0 inside)"},
        "bearing_deg": {
            "type": "number",
            "nullable": True,
            "description": "degrees true from the query's nearest point to the hazard (none inside)",
        },
    },
}
_ANSWER = {"type": "string", "enum": ["inside", "near", "no_record"]}
_SAFETY_ANSWER = {
    "type": "object",
    "description": "The same answer as `clearland check … --json`.",
    "required": ["answer", "hazards", "within_m", "query", "registry", "checked_at", "notice"],
    "properties": {
        "answer": _ANSWER,
        "hazards": {"type": "array", "items": _HAZARD_HIT},
        "within_m": {"type": "number"},
        "query": {
            "type": "object",
            "required": ["type"],
            "properties": {
                "type": {"type": "string", "enum": ["point", "route", "area"]},
                "lon": {"type": "number"},
                "lat": {"type": "number"},
                "file": {"type": "string", "description": "the file's name as sent"},
            },
        },
        "registry": _REGISTRY_STATE,
        "checked_at": {"type": "string", "format": "date-time"},
        "notice": {"type": "string", "description": "no record is not proof of safety"},
        "features": {
            "type": "array",
            "description": "route and area: an answer per track, route or polygon",
            "items": {
                "type": "object",
                "required": ["feature", "answer", "hazards"],
                "properties": {
                    "feature": {"type": "string"},
                    "answer": _ANSWER,
                    "hazards": {"type": "array", "items": _HAZARD_HIT},
                },
            },
        },
        "warnings": {"type": "array", "items": {"type": "string"}},
    },
}
_JOB = {
    "type": "object",
    "required": ["id", "state", "points_done", "points_total", "created_at", "updated_at", "links"],
    "properties": {
        "id": {"type": "string"},
        "state": {"type": "string", "enum": ["queued", "running", "done", "failed"]},
        "input_name": {"type": "string"},
        "out_format": {"type": "string", "enum": ["csv", "parquet"]},
        "options": {"type": "object"},
        "points_done": {"type": "integer", "minimum": 0},
        "points_total": {"type": "integer", "nullable": True, "description": "when known in advance"},
        "progress": {"type": "number", "nullable": True, "minimum": 0, "maximum": 1},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
        "expires_at": {"type": "string", "format": "date-time"},
        "error": {
            "type": "object",
            "nullable": True,
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "errors": {"type": "array", "items": {"type": "object"}},
            },
        },
        "summary": {
            "type": "object",
            "nullable": True,
            "description": "a finished job's counts per status, invalid rows by reason, speed, registry",
        },
        "links": _LINKS,
    },
}
_TILEJSON = {
    "type": "object",
    "description": "TileJSON 3.0.0",
    "required": ["tilejson", "tiles", "vector_layers"],
    "properties": {
        "tilejson": {"type": "string"},
        "name": {"type": "string"},
        "description": {"type": "string"},
        "scheme": {"type": "string"},
        "tiles": {"type": "array", "items": {"type": "string"}},
        "minzoom": {"type": "integer"},
        "maxzoom": {"type": "integer"},
        "bounds": {"type": "array", "minItems": 4, "maxItems": 4, "items": {"type": "number"}},
        "center": {"type": "array", "minItems": 3, "maxItems": 3, "items": {"type": "number"}},
        "attribution": {"type": "string"},
        "vector_layers": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "fields"],
                "properties": {
                    "id": {"type": "string"},
                    "description": {"type": "string"},
                    "minzoom": {"type": "integer"},
                    "maxzoom": {"type": "integer"},
                    "fields": {"type": "object", "additionalProperties": {"type": "string"}},
                },
            },
        },
    },
}
SCHEMAS: dict[str, Any] = {
    "SafetyAnswer": _SAFETY_ANSWER,
    "Job": _JOB,
    "TileJSON": _TILEJSON,
    "Link": _LINK,
    "Geometry": _GEOMETRY,
    "Feature": _FEATURE,
    "FeatureCollection": _FEATURE_COLLECTION,
    "Collection": _COLLECTION,
    "Collections": {
        "type": "object",
        "required": ["links", "collections"],
        "properties": {
            "links": _LINKS,
            "collections": {"type": "array", "items": {"$ref": "#/components/schemas/Collection"}},
        },
    },
    "LandingPage": {
        "type": "object",
        "required": ["links"],
        "properties": {
            "title": {"type": "string"},
            "description": {"type": "string"},
            "links": _LINKS,
            "registry": {
                "type": "object",
                "properties": {
                    "revision": {"type": "integer"},
                    "latest_information": {"type": "string", "format": "date", "nullable": True},
                    "notice": {"type": "string"},
                },
            },
        },
    },
    "Conformance": {
        "type": "object",
        "required": ["conformsTo"],
        "properties": {"conformsTo": {"type": "array", "items": {"type": "string"}}},
    },
    "Problem": {
        "type": "object",
        "description": "RFC 9457 problem details",
        "required": ["type", "title", "status", "detail", "errors"],
        "properties": {
            "type": {"type": "string", "description": "urn:clearland:problem:CODE, or about:blank"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "errors": {
                "type": "array",
                "description": "each problem, naming the parameter (or file, feature, field) it is about",
                "items": {"type": "object"},
            },
        },
    },
}


def openapi_document(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI 3.0 document, built once."""
    if app.openapi_schema is None:
        document = get_openapi(
            title=app.title,
            version=app.version,
            openapi_version=OPENAPI_VERSION,
            description=app.description,
            routes=app.routes,
            license_info={"name": "AGPL-3.0-or-later", "url": "https://www.gnu.org/licenses/agpl-3.0.html"},
        )
        document.setdefault("components", {}).setdefault("schemas", {}).update(SCHEMAS)
        document["components"].setdefault("securitySchemes", {}).update(SECURITY_SCHEMES)
        app.openapi_schema = document
    return app.openapi_schema
