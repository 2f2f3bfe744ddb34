"""Authentication over HTTP: API tokens, login sessions with their cookie and CSRF token, roles
(401 and 403 as problems), admin-only routes, the audit of what callers write, and no secret in
any answer. On a copy of the API tests' registry, through the real app."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from apidata import SECRETS, built_registry, settings_for
from fastapi import Depends, FastAPI, Request
from fastapi.testclient import TestClient
from openapi_spec_validator import validate

from clearland.api.app import create_app
from clearland.api.auth import Caller, acting, require
from clearland.domain.vocab import Role
from clearland.services import review, users
from clearland.services.registry import open_registry
from clearland.services.submissions import submit_report_file
from clearland.settings import Settings
from dbs import copy, execute

PROBLEM_KEYS = {"type", "title", "status", "detail", "errors"}
PASSWORDS = {"root": "admin password 1", "ana": "surveyor password 2", "rev": "reviewer password 3"}
BASE = "https://testserver"  # the session cookie is Secure: sent over HTTPS only
REPORT = {
    "type": "hazard_report",
    "date_of_information": "2026-04-01",
    "hazard_areas": [
        {
            "set": {"category": "SHA", "name": "Over the bridge"},
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[18.5, 43.9], [18.51, 43.9], [18.51, 43.91], [18.5, 43.91], [18.5, 43.9]]],
            },
        }
    ],
}


class Setup:
    def __init__(self, db: str, tokens: dict[str, str], token_ids: dict[str, str]) -> None:
        self.db = db
        self.tokens = tokens
        self.token_ids = token_ids

    def bearer(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}

    def secrets(self) -> list[str]:
        """Every password, token, and every hash stored in the registry."""
        hashes = [r[0] for r in execute(self.db, "SELECT password_hash FROM credentials")]
        hashes += [r[0] for r in execute(self.db, "SELECT token_sha256 FROM api_tokens")]
        hashes += [r[0] for r in execute(self.db, "SELECT session_sha256 FROM sessions")]
        # an argon2 hash is also caught by its salt and digest alone
        parts = [p for h in hashes if h.startswith("$argon2") for p in h.split("$")[-2:]]
        return [*PASSWORDS.values(), *self.tokens.values(), *hashes, *parts]


def make_setup(folder: Path, source: str) -> Setup:
    db = copy(source, folder / "registry.db")
    registry = open_registry(Settings(), db=db)
    users.add_user(registry, "root", ["admin"], password=PASSWORDS["root"])
    users.add_user(registry, "ana", ["surveyor"], password=PASSWORDS["ana"])
    users.add_user(registry, "rev", ["reviewer"], password=PASSWORDS["rev"])
    tokens, ids = {}, {}
    for name in ("root", "ana", "rev"):
        made = users.create_token(registry, name, label=f"{name}'s script")
        tokens[name], ids[name] = made["token"], made["id"]
    registry.close()
    return Setup(db, tokens, ids)


@pytest.fixture
def setup(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Setup:
    return make_setup(tmp_path, built_registry(tmp_path_factory))


def with_test_routes(app: FastAPI) -> FastAPI:
    """Routes as the report routes will be: run a service as the caller."""

    @app.post("/test/reports", openapi_extra={"security": [{"bearer": []}, {"cookie": []}]})
    async def submit(request: Request, who: Caller = Depends(require(Role.SURVEYOR))) -> dict[str, Any]:
        folder = Path(request.app.state.settings.api.jobs_dir)
        path = folder / "report.json"
        path.write_bytes(await request.body())
        return submit_report_file(acting(request, who), path)

    @app.post("/test/reports/{report_id}/approve")
    def approve(request: Request, report_id: int, who: Caller = Depends(require(Role.REVIEWER))) -> dict:
        return review.approve_report(acting(request, who), report_id)

    return app


@pytest.fixture
def client(setup: Setup, tmp_path: Path) -> Iterator[TestClient]:
    settings = settings_for(setup.db, jobs_dir=tmp_path / "jobs", login_failures_per_minute=3)
    (tmp_path / "jobs").mkdir()
    with TestClient(with_test_routes(create_app(settings)), base_url=BASE) as client:
        yield client


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert set(body) == PROBLEM_KEYS and body["status"] == status and body["detail"]
    return body


def assert_401(response: Any) -> dict[str, Any]:
    body = assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert body["type"] == "urn:clearland:problem:unauthenticated"
    return body


def login(client: TestClient, name: str, password: str | None = None) -> Any:
    return client.post("/auth/login", json={"name": name, "password": password or PASSWORDS[name]})


def audit_rows(db: str) -> list[tuple]:
    return execute(
        db,
        "SELECT u.name, a.action, a.target, a.source, a.remote FROM audit_log a "
        "LEFT JOIN users u ON u.id = a.user_id ORDER BY a.id",
    )


def test_anonymous_callers_are_public(client):
    assert client.get("/auth/me").json() == {"name": None, "roles": ["public"], "authenticated_by": None}
    assert client.get("/collections/hazard-areas/items").status_code == 200
    assert_401(client.get("/users"))
    assert_401(client.get("/audit"))


def test_a_token_authenticates_and_roles_decide(client, setup):
    me = client.get("/auth/me", headers=setup.bearer("ana")).json()
    assert me == {"name": "ana", "roles": ["public", "surveyor"], "authenticated_by": "token"}
    body = assert_problem(client.get("/users", headers=setup.bearer("ana")), 403)
    assert body["detail"] == "user 'ana' needs the admin role for this"
    assert body["type"] == "urn:clearland:problem:forbidden" and "www-authenticate" not in body
    listed = client.get("/users", headers=setup.bearer("root"))
    assert listed.status_code == 200
    by_name = {u["name"]: u for u in listed.json()}
    assert by_name["ana"]["roles"] == ["surveyor"] and by_name["ana"]["password"] is True
    assert [t["id"] for t in by_name["ana"]["tokens"]] == [setup.token_ids["ana"]]
    assert by_name["ana"]["tokens"][0]["last_used_at"] is not None  # its use just now
    assert all(secret not in listed.text for secret in setup.secrets())


@pytest.mark.parametrize(
    "header",
    ["Bearer cl_not-a-real-token", "Bearer ", "Basic YWRtaW46YWRtaW4=", "Bearer nonsense"],
)
def test_a_wrong_token_is_401_on_a_route_that_asks_who_calls(client, header):
    body = assert_401(client.get("/auth/me", headers={"Authorization": header}))
    assert "token" in body["detail"]
    assert_401(client.get("/users", headers={"Authorization": header}))


def test_revoked_and_expired_tokens_stop_working(client, setup):
    assert client.get("/auth/me", headers=setup.bearer("ana")).json()["name"] == "ana"
    registry = open_registry(Settings(), db=setup.db)
    try:
        users.revoke_token(registry, "ana", setup.token_ids["ana"])
    finally:
        registry.close()
    assert_401(client.get("/auth/me", headers=setup.bearer("ana")))
    execute(
        setup.db,
        "UPDATE api_tokens SET expires_at = :at WHERE id = :id",
        {"at": "2000-01-01 00:00:00.000000", "id": setup.token_ids["rev"]},
    )
    assert_401(client.get("/auth/me", headers=setup.bearer("rev")))
    assert client.get("/auth/me", headers=setup.bearer("root")).json()["name"] == "root"


def test_login_sets_a_hardened_cookie_and_me_and_logout_use_it(client, setup):
    answer = login(client, "rev")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["name"] == "rev" and body["roles"] == ["public", "reviewer"]
    assert body["authenticated_by"] == "session" and re.fullmatch(r"[\w-]{43}", body["csrf_token"])
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("clearland_session=")
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "secure", "samesite=strict", "path=/", "max-age=28800"} <= attributes
    session = cookie.split(";")[0].split("=", 1)[1]
    assert session not in answer.text

    me = client.get("/auth/me").json()
    assert me["name"] == "rev" and me["authenticated_by"] == "session"
    assert me["csrf_token"] == body["csrf_token"]
    assert_problem(client.get("/users"), 403)  # a reviewer

    refused = assert_problem(client.post("/auth/logout"), 403)
    assert "X-CSRF-Token" in refused["detail"]
    assert_problem(client.post("/auth/logout", headers={"X-CSRF-Token": "guess"}), 403)
    assert client.get("/auth/me").json()["name"] == "rev"  # still logged in
    other = TestClient(client.app, base_url=BASE)  # a client of its own: only the header as sent
    assert other.get("/auth/me", headers={"Cookie": f"clearland_session={session}"}).json()["name"] == "rev"
    assert other.get("/auth/me").json()["name"] is None
    out = client.post("/auth/logout", headers={"X-CSRF-Token": body["csrf_token"]})
    assert out.status_code == 204 and out.content == b""
    assert 'clearland_session=""' in out.headers["set-cookie"] or "max-age=0" in out.headers["set-cookie"]
    assert client.get("/auth/me").json()["name"] is None
    assert execute(setup.db, "SELECT count(*) FROM sessions") == [(0,)]
    # the old cookie, sent again, is anonymous: the session is gone on the server
    assert not client.cookies
    assert client.get("/auth/me", headers={"Cookie": f"clearland_session={session}"}).json()["name"] is None
    actions = [(u, a, s, r) for u, a, _t, s, r in audit_rows(setup.db) if a.startswith("auth.")]
    assert actions == [
        ("rev", "auth.login", "http", "testclient"),
        ("rev", "auth.logout", "http", "testclient"),
    ]


def test_login_as_a_form_and_admin_routes_with_the_cookie(client, setup):
    answer = client.post("/auth/login", data={"name": "root", "password": PASSWORDS["root"]})
    assert answer.status_code == 200, answer.text
    assert [u["name"] for u in client.get("/users").json()] == ["admin", "ana", "rev", "root"]
    log = client.get("/audit", params={"user": "root"})
    assert log.status_code == 200
    assert [(e["action"], e["source"], e["remote"]) for e in log.json()] == [
        ("auth.login", "http", "testclient")
    ]
    assert all(secret not in log.text for secret in setup.secrets())


def test_bad_credentials_get_one_answer(client, setup):
    wrong = assert_401(login(client, "rev", "not the password"))
    unknown = assert_401(login(client, "nobody", "not the password"))
    no_password = assert_401(login(client, "admin", "not the password"))  # has no password
    assert wrong == unknown == no_password
    assert wrong["detail"] == "wrong user name or password"
    assert "clearland_session" not in client.cookies


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"json": {"name": "rev"}}, "password"),
        ({"json": {"name": "rev", "password": 7}}, "password"),
        ({"json": ["rev", "x"]}, "body"),
        ({"content": b"name=rev", "headers": {"content-type": "text/plain"}}, "body"),
        ({"content": b"{not json", "headers": {"content-type": "application/json"}}, "body"),
    ],
)
def test_a_malformed_login_is_400_without_echoing_it(client, kwargs, parameter):
    response = client.post("/auth/login", **kwargs)
    body = assert_problem(response, 400)
    assert parameter in [e["parameter"] for e in body["errors"]]
    assert "not json" not in response.text


def test_login_failures_are_rate_limited_per_address(client):
    for _ in range(3):
        assert_401(login(client, "ana", "wrong password"))
    limited = assert_problem(login(client, "ana", "wrong password"), 429)
    assert "failed logins" in limited["detail"]
    retry = login(client, "ana")  # the right password is not even checked now
    assert_problem(retry, 429)
    assert int(retry.headers["retry-after"]) >= 1
    assert "clearland_session" not in client.cookies


def test_services_run_as_the_caller_and_are_audited(client, setup):
    sent = client.post("/test/reports", content=json.dumps(REPORT), headers=setup.bearer("ana"))
    assert sent.status_code == 200, sent.text
    report_id = sent.json()["report"]
    # a surveyor may not approve: 403, and nothing is written
    assert_problem(client.post(f"/test/reports/{report_id}/approve", headers=setup.bearer("ana")), 403)
    assert_401(client.post(f"/test/reports/{report_id}/approve"))
    # a reviewer with a session must send the CSRF token
    csrf = login(client, "rev").json()["csrf_token"]
    before = audit_rows(setup.db)
    assert_problem(client.post(f"/test/reports/{report_id}/approve"), 403)
    assert audit_rows(setup.db) == before
    approved = client.post(f"/test/reports/{report_id}/approve", headers={"X-CSRF-Token": csrf})
    assert approved.status_code == 200, approved.text
    # approving twice is refused (409) and leaves no entry
    after = audit_rows(setup.db)
    assert_problem(client.post(f"/test/reports/{report_id}/approve", headers={"X-CSRF-Token": csrf}), 409)
    assert audit_rows(setup.db) == after
    reports = [r for r in after if r[1].startswith("report.") and r[2] == f"report {report_id}"]
    assert reports == [
        ("ana", "report.submit", f"report {report_id}", "http", "testclient"),
        ("rev", "report.approve", f"report {report_id}", "http", "testclient"),
    ]
    log = client.get("/audit", headers=setup.bearer("root"), params={"since": "2000-01-01", "limit": 2})
    assert [e["action"] for e in log.json()] == ["auth.login", "report.approve"]


@pytest.mark.parametrize(
    ("query", "parameter"),
    [("limit=0", "limit"), ("limit=1.5", "limit"), ("since=yesterday", "since"), ("colour=red", "colour")],
)
def test_audit_parameters_are_checked(client, setup, query, parameter):
    body = assert_problem(client.get(f"/audit?{query}", headers=setup.bearer("root")), 400)
    assert parameter in [e["parameter"] for e in body["errors"]]


def test_the_openapi_document_has_the_routes_and_the_security_schemes(client):
    document = client.get("/openapi.json").json()
    validate(document)
    schemes = document["components"]["securitySchemes"]
    assert (schemes["bearer"]["type"], schemes["bearer"]["scheme"]) == ("http", "bearer")
    assert schemes["cookie"]["in"] == "cookie" and schemes["cookie"]["name"] == "clearland_session"
    paths = document["paths"]
    assert {"post"} == set(paths["/auth/login"]) == set(paths["/auth/logout"])
    for path in ("/users", "/audit"):
        operation = paths[path]["get"]
        assert operation["security"] == [{"bearer": []}, {"cookie": []}]
        assert {"401", "403"} <= set(operation["responses"])
        assert "WWW-Authenticate" in operation["responses"]["401"]["headers"]
    assert "security" not in paths["/collections"]["get"]


def sample_url(template: str) -> str:
    samples = {
        "collectionId": "hazard-areas",
        "collection": "hazard-areas",
        "featureId": "HA-000001",
        "z": "0",
        "x": "0",
        "y": "0",
        "jobId": "no-such-job",
    }
    return re.sub(r"\{(\w+)\}", lambda m: samples.get(m.group(1), "1"), template)


def test_every_route_as_anonymous_restricted_ones_are_401_and_no_secret_leaks(setup, tmp_path):
    """The app as served (no test routes): every operation of /openapi.json, anonymously."""
    settings = settings_for(setup.db, jobs_dir=tmp_path / "jobs-walk")
    with TestClient(create_app(settings), base_url=BASE) as client:
        document = client.get("/openapi.json").json()
        responses = []
        walked = 0
        for template, operations in document["paths"].items():
            url = sample_url(template)
            for method, operation in operations.items():
                response = client.request(method.upper(), url)
                walked += 1
                responses.append(response)
                # restricted: a security requirement with no anonymous ({}) alternative
                if operation.get("security") and {} not in operation["security"]:
                    assert_401(response)
                elif response.status_code >= 400:
                    assert_problem(response, response.status_code)
                else:
                    assert response.status_code < 300, (method, url, response.status_code)
        assert walked >= 20
        restricted = [t for t, ops in document["paths"].items() for op in ops.values() if op.get("security")]
        assert {"/users", "/audit"} <= set(restricted)
        # and signed in, as admin, by token and by session
        responses.append(client.get("/users", headers=setup.bearer("root")))
        responses.append(client.get("/audit", headers=setup.bearer("root")))
        responses.append(login(client, "root"))
        responses.append(client.get("/auth/me"))
        responses.append(client.get("/audit"))
        assert all(r.status_code == 200 for r in responses[-5:])
        secrets = setup.secrets()
        assert len(secrets) > 10
        for response in responses:
            # the session id is in the login's Set-Cookie, as it must be; nowhere else
            headers = {k: v for k, v in response.headers.items() if k != "set-cookie"}
            text = response.text + json.dumps(headers)
            leaked = [s for s in [*secrets, *SECRETS[1:]] if s in text]
            assert leaked == [], response.request.url
