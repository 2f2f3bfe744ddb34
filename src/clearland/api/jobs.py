"""Bulk screening over HTTP: ``POST /screen`` starts a job on a points file, ``GET /jobs/{id}``
follows it, ``GET /jobs/{id}/result`` downloads its result. Thin: the jobs are kept and run
by ``services.jobs``."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse
from starlette.responses import Response

from clearland.api import inputs
from clearland.api.checks import WITHIN_M_MAX
from clearland.api.ogc import Links, link
from clearland.api.openapi import file_body, json_content, path_parameter, problems, query_parameter
from clearland.api.problems import problem
from clearland.services import safety
from clearland.services.jobs import DONE, OUT_FORMATS, Job, Jobs
from clearland.settings import ApiSettings

RESULT_MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "parquet": "application/vnd.apache.parquet"}
SCREEN_ALLOWED = {
    "within_m": "metres",
    "lon_col": "longitude column",
    "lat_col": "latitude column",
    "id_col": "id column",
    "time_col": "timestamp column",
    "out_format": "csv or parquet",
    "format": ", ".join(inputs.SCREEN_FORMATS),
    "filename": "the file's name",
}
JOB_ID = path_parameter("jobId", "The job's id, as `POST /screen` gave it.", {"type": "string"})
NO_JOB = {404: "No such job (or it was deleted: jobs are kept for a few hours after they end)."}
BUSY_RETRY_S = 60


def router(jobs: Jobs, settings: ApiSettings) -> APIRouter:
    routes = APIRouter(tags=["Screening jobs"])

    @routes.post(
        "/screen",
        summary="Screen a points file (a job)",
        description=(
            "Starts a job screening every point of the file (CSV, GPX, GeoJSON, FlatGeobuf or "
            "GeoParquet) against the recorded hazard areas, as `clearland screen` does; answers "
            "202 with the job and its address in `Location`. The result has one row per point: "
            "id, status (inside, near, no_record, invalid_input), nearest_ref, distance_m, "
            "reason, lon, lat."
        ),
        operation_id="startScreening",
        status_code=202,
        responses={
            202: {
                "description": "The job, queued.",
                "headers": {"Location": {"description": "the job's address", "schema": {"type": "string"}}},
                **_json_only(json_content("Job")),
            },
            **problems(400, 413, 429, described_as={}),
            **problems(503, described_as={503: "Too many jobs are running: try again later."}),
        },
        openapi_extra={
            "parameters": [
                query_parameter(
                    "within_m",
                    "Distance in metres that counts as near (default 100).",
                    {
                        "type": "number",
                        "minimum": 0,
                        "maximum": WITHIN_M_MAX,
                        "default": safety.DEFAULT_WITHIN_M,
                    },
                ),
                query_parameter(
                    "lon_col", "Longitude column (default: lon, longitude, x …).", {"type": "string"}
                ),
                query_parameter(
                    "lat_col", "Latitude column (default: lat, latitude, y …).", {"type": "string"}
                ),
                query_parameter(
                    "id_col", "Id column (default: id, else the row number).", {"type": "string"}
                ),
                query_parameter(
                    "time_col", "Timestamp column checked for corrupt clocks.", {"type": "string"}
                ),
                query_parameter(
                    "out_format",
                    "The result's format (default csv).",
                    {"type": "string", "enum": list(OUT_FORMATS), "default": "csv"},
                ),
                query_parameter(
                    "format",
                    "The file's format, when its media type does not say.",
                    {"type": "string", "enum": list(inputs.SCREEN_FORMATS)},
                ),
                query_parameter("filename", "The file's name, for messages about it.", {"type": "string"}),
            ],
            "requestBody": file_body(
                "The points: CSV, GPX, GeoJSON, FlatGeobuf or GeoParquet.",
                [media for _suffix, types in inputs.SCREEN_FORMATS.values() for media in types],
            ),
        },
    )
    async def start(request: Request) -> Response:
        values = inputs.query(request, SCREEN_ALLOWED)
        found: list[dict[str, Any]] = []
        within_m = inputs.number(
            values, "within_m", found, default=safety.DEFAULT_WITHIN_M, low=0, high=WITHIN_M_MAX
        )
        out_format = values.get("out_format", "csv").strip().lower()
        if out_format not in OUT_FORMATS:
            found.append({"parameter": "out_format", "message": f"{out_format!r}: csv or parquet"})
        inputs.raise_problems(found)
        if not jobs.has_room():
            return problem(
                503,
                f"{jobs.max_active} screening jobs are already queued or running here; try again later",
                headers={"retry-after": str(BUSY_RETRY_S)},
            )
        job = jobs.prepare(
            within_m=within_m,
            lon_col=values.get("lon_col"),
            lat_col=values.get("lat_col"),
            id_col=values.get("id_col"),
            time_col=values.get("time_col"),
            out_format=out_format,
        )
        try:
            upload = await inputs.receive_file(
                request,
                job.folder,
                inputs.SCREEN_FORMATS,
                format_name=values.get("format"),
                filename=values.get("filename"),
                default_stem="points",
            )
        except BaseException:
            jobs.delete(job.id)
            raise
        jobs.start(job.id, upload.name)
        links = Links(request, settings, None)
        return JSONResponse(
            job_doc(job, links, jobs.ttl_s),
            status_code=202,
            headers={"location": links.url(f"/jobs/{job.id}", keep=False)},
        )

    @routes.get(
        "/jobs/{jobId}",
        summary="A screening job",
        description=(
            "Its state (queued, running, done, failed), points done of the total, and when done "
            "its summary and the link to its result."
        ),
        operation_id="getJob",
        responses={
            200: _json_only({"description": "The job.", **json_content("Job")}),
            **problems(404, described_as=NO_JOB),
        },
        openapi_extra={"parameters": [JOB_ID]},
    )
    def get(request: Request) -> Response:
        inputs.query(request, {})
        job = jobs.get(request.path_params["jobId"])
        return JSONResponse(
            job_doc(job, Links(request, settings, None), jobs.ttl_s), headers={"cache-control": "no-store"}
        )

    @routes.get(
        "/jobs/{jobId}/result",
        summary="A screening job's result",
        description="The result file (CSV or GeoParquet, as asked) once the job is done; 409 before.",
        operation_id="getJobResult",
        responses={
            200: {
                "description": "One row per point screened.",
                "content": {
                    media: {"schema": {"type": "string", "format": "binary"}}
                    for media in RESULT_MEDIA_TYPES.values()
                },
            },
            **problems(404, 409, described_as={**NO_JOB, 409: "The job is not done (yet), or failed."}),
        },
        openapi_extra={"parameters": [JOB_ID]},
    )
    def result(request: Request) -> Response:
        inputs.query(request, {})
        job, path = jobs.result(request.path_params["jobId"])
        stem = job.input_name.rsplit(".", 1)[0] or "points"
        return FileResponse(
            path,
            media_type=RESULT_MEDIA_TYPES[job.out_format],
            filename=f"{stem}-screened{OUT_FORMATS[job.out_format]}",
            headers={"cache-control": "no-store"},
        )

    @routes.delete(
        "/jobs/{jobId}",
        summary="Delete a screening job",
        description="Stops the job if it is still running and deletes it with its files.",
        operation_id="deleteJob",
        status_code=204,
        responses={204: {"description": "Deleted."}, **problems(404, described_as=NO_JOB)},
        openapi_extra={"parameters": [JOB_ID]},
    )
    def delete(request: Request) -> Response:
        inputs.query(request, {})
        jobs.delete(request.path_params["jobId"])
        return Response(status_code=204)

    return routes


def job_doc(job: Job, links: Links, ttl_s: float) -> dict[str, Any]:
    doc = job.view()
    total = job.points_total
    doc["progress"] = (
        1.0 if job.state == DONE else (min(1.0, round(job.points_done / total, 4)) if total else None)
    )
    doc["expires_at"] = _iso(job.updated_at + ttl_s)
    doc_links = [link(links.url(f"/jobs/{job.id}", keep=False), "self", "application/json", "This job")]
    if job.state == DONE:
        doc_links.append(
            link(
                links.url(f"/jobs/{job.id}/result", keep=False),
                "enclosure",
                RESULT_MEDIA_TYPES[job.out_format].split(";")[0],
                "The result",
            )
        )
    doc["links"] = doc_links
    return doc


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def _json_only(response: dict[str, Any]) -> dict[str, Any]:
    return {**response, "content": {"application/json": response["content"]["application/json"]}}
