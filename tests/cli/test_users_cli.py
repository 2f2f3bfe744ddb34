"""``clearland users …`` and ``clearland audit`` end to end on a real registry, as an admin
would run them: in this process (Typer's runner; one subprocess check of what stdout holds)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from test_broken_inputs import CLI
from typer.testing import CliRunner, Result

from clearland.cli.main import app
from clearland.services import users
from clearland.services.registry import open_registry
from clearland.settings import Settings
from dbs import database, execute

PASSWORD = "a long enough password"


def run_with_input(db: str, stdin: str, *args: str) -> Result:
    return CliRunner().invoke(app, ["--db", str(db), *args], input=stdin)


def run(db: str, *args: str) -> Result:
    return run_with_input(db, "", *args)


def ok(result: Result) -> str:
    assert result.exit_code == 0, result.stderr
    return result.stdout


def one_line_error(result: Result) -> str:
    assert result.exit_code == 1, result.stdout
    first = result.stderr.splitlines()[0]
    assert first.startswith("error: ")
    return first


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = database(tmp_path / "registry.db")
    ok(run(path, "init"))
    return path


def test_add_grant_revoke_list(db):
    added = json.loads(ok(run(db, "users", "add", "ana", "--role", "surveyor", "--json")))
    assert added == {"id": 2, "name": "ana", "roles": ["surveyor"], "password": False}
    assert "Granted ana: reviewer, victim_data" in ok(
        run(db, "users", "grant", "ana", "reviewer", "victim_data")
    )
    revoked = json.loads(ok(run(db, "users", "revoke", "ana", "surveyor", "--json")))
    assert revoked == {"name": "ana", "roles": ["reviewer", "victim_data"], "removed": ["surveyor"]}
    listed = json.loads(ok(run(db, "users", "list", "--json")))
    assert [(u["name"], u["roles"], u["password"], u["tokens"]) for u in listed] == [
        ("admin", ["admin", "reviewer", "surveyor"], False, []),
        ("ana", ["reviewer", "victim_data"], False, []),
    ]
    table = ok(run(db, "users", "list"))
    assert "ana" in table and "reviewer, victim_data" in table


def test_errors_are_one_line(db):
    ok(run(db, "users", "add", "ana", "--role", "surveyor"))
    assert one_line_error(run(db, "users", "grant", "bob", "reviewer")) == "error: no user named 'bob'"
    assert one_line_error(run(db, "users", "add", "eve", "--role", "boss")) == (
        "error: unknown role 'boss': choose from surveyor, reviewer, records_custodian, victim_data, admin"
    )
    assert one_line_error(run(db, "users", "revoke", "admin", "admin")) == (
        "error: 'admin' is the last admin: grant admin to another user first"
    )
    assert one_line_error(run(db, "--as", "ana", "users", "add", "eve", "--role", "admin")) == (
        "error: user 'ana' needs the admin role for this"
    )
    assert (
        one_line_error(run(db, "--as", "ana", "audit")) == "error: user 'ana' needs the admin role for this"
    )
    refused = run(db, "users", "token", "ana", "--revoke", "abc", "--label", "x")
    assert one_line_error(refused) == "error: --revoke takes no --label or --expires-days"
    as_json = run(db, "users", "grant", "bob", "reviewer", "--json")
    assert as_json.exit_code == 1 and json.loads(as_json.stdout)["error"] == "not-found"
    names = [u["name"] for u in json.loads(ok(run(db, "users", "list", "--json")))]
    assert names == ["admin", "ana"]


def test_passwords_from_stdin_are_hashed_and_verify(db):
    ok(run_with_input(db, PASSWORD + "\n", "users", "add", "rev", "--role", "reviewer", "--password-stdin"))
    ok(run_with_input(db, "", "users", "add", "ana", "--role", "surveyor"))
    registry = open_registry(Settings(), db=db)
    try:
        assert users.verify_password(registry, "rev", PASSWORD)
        assert not users.verify_password(registry, "ana", PASSWORD)
        ok(run_with_input(db, "another password 2\r\n", "users", "passwd", "ana", "--password-stdin"))
        assert users.verify_password(registry, "ana", "another password 2")
    finally:
        registry.close()
    assert one_line_error(run_with_input(db, "\n", "users", "passwd", "ana", "--password-stdin")) == (
        "error: --password-stdin: standard input holds no password"
    )
    assert "at least 8 characters" in one_line_error(
        run_with_input(db, "short\n", "users", "passwd", "ana", "--password-stdin")
    )
    # asked for only on a terminal, where it is not echoed
    assert one_line_error(run_with_input(db, "third one 33\nthird one 33\n", "users", "passwd", "ana")) == (
        "error: no terminal to ask for the password on: give it with --password-stdin"
    )
    listed = json.loads(ok(run(db, "users", "list", "--json")))
    assert {u["name"]: u["password"] for u in listed} == {"admin": False, "ana": True, "rev": True}
    hashes = [r[0] for r in execute(db, "SELECT password_hash FROM credentials")]
    assert all(h.startswith("$argon2id$") for h in hashes) and len(hashes) == 2
    assert all(h not in json.dumps(listed) for h in hashes)


def test_a_token_is_printed_once_listed_by_id_and_revoked(db):
    ok(run(db, "users", "add", "ana", "--role", "surveyor"))
    made = subprocess.run(
        [*CLI, "--db", str(db), "users", "token", "ana", "--label", "qgis laptop", "--expires-days", "30"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("cl_") and made.stdout == token + "\n"  # alone on stdout: TOKEN=$(…)
    assert "not stored and cannot be shown again" in made.stderr and token not in made.stderr
    (listed,) = [u for u in json.loads(ok(run(db, "users", "list", "--json"))) if u["name"] == "ana"]
    (entry,) = listed["tokens"]
    assert entry["label"] == "qgis laptop" and entry["expires_at"] is not None
    registry = open_registry(Settings(), db=db)
    try:
        assert users.token_user(registry, token)["name"] == "ana"
        ok(run(db, "users", "token", "ana", "--revoke", entry["id"]))
        assert users.token_user(registry, token) is None
    finally:
        registry.close()
    assert json.loads(ok(run(db, "users", "list", "--json")))[1]["tokens"] == []
    assert one_line_error(run(db, "users", "token", "ana", "--revoke", entry["id"])) == (
        f"error: user 'ana' has no active token '{entry['id']}'"
    )
    as_json = json.loads(ok(run(db, "users", "token", "ana", "--json")))
    assert as_json["token"].startswith("cl_") and as_json["expires_at"] is None
    # the log names tokens by id, never by their text
    log = ok(run(db, "audit", "--json"))
    assert token not in log and as_json["token"] not in log and entry["id"] in log


def test_audit_lists_filters_and_refuses_a_bad_date(db, tmp_path):
    ok(run(db, "users", "add", "ana", "--role", "surveyor"))
    report = tmp_path / "r.json"
    report.write_text(
        json.dumps(
            {
                "type": "hazard_report",
                "date_of_information": "2026-03-01",
                "hazard_areas": [
                    {
                        "set": {"category": "SHA"},
                        "geometry": {"type": "Point", "coordinates": [17.8, 43.85]},
                    }
                ],
            }
        ),
        encoding="utf-8",
    )
    assert one_line_error(run(db, "--as", "ana", "report", "submit", str(report))).startswith("error: r.json")
    report.write_text(report.read_text().replace('"SHA"', '"indication"'), encoding="utf-8")
    ok(run(db, "--as", "ana", "report", "submit", str(report)))
    ok(run(db, "report", "approve", "1"))

    entries = json.loads(ok(run(db, "audit", "--json")))
    assert [(e["user"], e["action"], e["target"], e["source"]) for e in entries] == [
        ("admin", "user.add", "user admin", "cli"),
        ("admin", "user.add", "user ana", "cli"),
        ("ana", "report.submit", "report 1", "cli"),  # the refused submission left nothing
        ("admin", "report.approve", "report 1", "cli"),
    ]
    assert [e["action"] for e in json.loads(ok(run(db, "audit", "--user", "ana", "--json")))] == [
        "report.submit"
    ]
    assert json.loads(ok(run(db, "audit", "--since", "2999-01-01", "--json"))) == []
    assert len(json.loads(ok(run(db, "audit", "--since", "2000-01-01T00:00Z", "--json")))) == 4
    assert [e["action"] for e in json.loads(ok(run(db, "audit", "--limit", "1", "--json")))] == [
        "report.approve"
    ]
    assert "report.approve" in ok(run(db, "audit"))
    assert one_line_error(run(db, "audit", "--since", "last week")).startswith("error: --since 'last week'")
    assert one_line_error(run(db, "audit", "--user", "bob")) == "error: no user named 'bob'"
