"""Property-based run over the whole OpenAPI document (schemathesis): every operation, fed
requests generated from its parameters and bodies, answers without a server error, with a
status, media type, headers and body its responses document, and every error as
``application/problem+json``.

Deterministic (derandomized) and bounded (``EXAMPLES`` an operation: requests that fit the
document, and fewer that break it), so it runs in the ordinary suite; what the answers say is
checked by the other API tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from apidata import built_registry, settings_for
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from clearland.api.app import create_app
from clearland.api.problems import PROBLEM_JSON
from clearland.services.features import COLLECTIONS

#: examples per operation: requests that fit the document, and requests that break it (wrong
#: types, values out of range, missing parameters, …), which must be refused as problems
EXAMPLES = {GenerationMode.POSITIVE: 25, GenerationMode.NEGATIVE: 10}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    jobs: Path = tmp_path_factory.mktemp("schemathesis-jobs")
    # no rate limit: the run asks for far more checks a minute than a person would; room for
    # every screening job it queues (how many are still running depends on the machine's speed)
    application = create_app(
        settings_for(built_registry(tmp_path_factory), check_rate_per_minute=0, jobs_dir=jobs, max_jobs=1000)
    )
    with TestClient(application):  # runs the lifespan: the registry and the jobs are closed after
        yield application


@pytest.fixture(scope="module")
def api_schema(app: FastAPI) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def problem_json_on_errors(_ctx: Any, response: Any, case: Any) -> bool | None:
    """Every 4xx and 5xx answer is a problem (RFC 9457) with its status in it."""
    if response.status_code < 400:
        return None
    media_type = response.headers.get("content-type", [""])
    media_type = media_type[0] if isinstance(media_type, list) else media_type
    assert media_type.split(";")[0].strip() == PROBLEM_JSON, (
        f"{case.method} {case.formatted_path}: {response.status_code} answered as {media_type!r}"
    )
    body = response.json()
    assert body["status"] == response.status_code and body["type"] and body["title"], body
    assert isinstance(body["errors"], list), body
    return True


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    problem_json_on_errors,
]


def test_every_operation_answers_as_documented(api_schema: Any) -> None:
    """Each operation in turn (one test rather than one per operation: schemathesis's pytest
    parametrization of a schema made by a fixture does not run under this pytest); every
    failing operation is reported, not only the first."""
    failures: list[str] = []
    labels = []
    for result in api_schema.get_all_operations():
        operation = result.ok()
        labels.append(operation.label)
        for mode, examples in EXAMPLES.items():

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=examples,
                derandomize=True,
                deadline=None,
                database=None,
                phases=[Phase.explicit, Phase.generate],  # no shrinking: reported as found
                suppress_health_check=list(HealthCheck),
            )
            def run(case: Any) -> None:
                case.call_and_validate(checks=CHECKS)

            try:
                run()
            except Unsatisfiable:
                # nothing in the request can break the document (a path id that may be any
                # text, no parameters at all): no negative case to send
                assert mode is GenerationMode.NEGATIVE, operation.label
            except (Exception, FailureGroup) as failure:  # every operation's, then one assertion
                failures.append(f"{operation.label} ({mode.value}): {failure}")
    assert len(labels) >= 20 and "GET /check/point" in labels, labels
    assert not failures, "\n\n".join(failures)


def test_filters_are_documented_as_refusing_an_empty_value(app: FastAPI) -> None:
    """An empty filter value is refused (400), not read as "no filter": the document says so,
    so a request made from it is not refused (schemathesis found ``?admin_area=`` refused)."""
    with TestClient(app) as client:
        document = client.get("/openapi.json").json()
        for collection in COLLECTIONS.values():
            path = f"/collections/{collection.id}/items"
            parameters = {p["name"]: p for p in document["paths"][path]["get"]["parameters"]}
            for spec in collection.filters:
                assert parameters[spec.name]["schema"] == {"type": "string", "minLength": 1, "pattern": r"\S"}
                for empty in ("", "  "):
                    refused = client.get(path, params={spec.name: empty})
                    assert (
                        refused.status_code == 400 and refused.json()["errors"][0]["parameter"] == spec.name
                    )
