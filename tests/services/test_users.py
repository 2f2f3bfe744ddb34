"""Users, roles, passwords, API tokens, sessions and the audit log, on a real registry (SQLite, or
PostGIS with ``--postgis``)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from clearland.errors import (
    InputError,
    NotAuthenticated,
    PermissionDenied,
    StateError,
    UnknownRecord,
    ValidationFailed,
)
from clearland.services import review, users
from clearland.services.imports import ImportOptions, import_file
from clearland.services.registry import Registry
from clearland.services.submissions import submit_report_file
from conftest import make_hazard_feature, square, write_geojson
from dbs import contents, execute, file_bytes, writer_holding

PASSWORD = "correct horse battery"
POLY = {
    "type": "Polygon",
    "coordinates": [[[17.8, 43.85], [17.81, 43.85], [17.81, 43.86], [17.8, 43.86], [17.8, 43.85]]],
}


def write_report(path: Path, **overrides: object) -> Path:
    report = {
        "type": "hazard_report",
        "date_of_information": "2026-03-01",
        "hazard_areas": [{"set": {"category": "SHA", "name": "Checkpoint"}, "geometry": POLY}],
        **overrides,
    }
    path.write_text(json.dumps(report), encoding="utf-8")
    return path


def rows(registry: Registry, sql: str) -> list[tuple]:
    """Straight from the database, as a person with database access would read it."""
    return execute(registry.store.url, sql)


def audit_actions(registry: Registry) -> list[tuple[str | None, str, str | None]]:
    return [(e["user"], e["action"], e["target"]) for e in users.list_audit(registry)]


@pytest.fixture
def team(registry: Registry) -> Registry:
    users.add_user(registry, "ana", ["surveyor"], password=PASSWORD)
    users.add_user(registry, "rev", ["Reviewer"])
    return registry


def test_add_grant_revoke_and_list(team):
    listed = {u["name"]: u for u in users.list_users(team)}
    assert listed["ana"] == {"name": "ana", "roles": ["surveyor"], "password": True, "tokens": []}
    assert listed["rev"]["roles"] == ["reviewer"] and listed["rev"]["password"] is False
    assert listed["admin"]["roles"] == ["admin", "reviewer", "surveyor"]

    granted = users.grant(team, "ana", ["reviewer", "records custodian"])
    assert granted == {"name": "ana", "roles": ["records_custodian", "reviewer", "surveyor"],
                       "added": ["records_custodian", "reviewer"]}  # fmt: skip
    again = users.grant(team, "ana", ["reviewer"])
    assert again["added"] == []
    revoked = users.revoke(team, "ana", ["surveyor", "admin"])
    assert revoked == {"name": "ana", "roles": ["records_custodian", "reviewer"], "removed": ["surveyor"]}
    assert {u["name"]: u["roles"] for u in users.list_users(team)}["ana"] == ["records_custodian", "reviewer"]
    assert audit_actions(team)[-4:] == [
        ("admin", "user.add", "user ana"),
        ("admin", "user.add", "user rev"),
        ("admin", "user.grant", "user ana"),
        ("admin", "user.revoke", "user ana"),
    ]  # granting nothing new wrote nothing


def test_clear_errors_for_unknown_users_roles_and_names(team):
    with pytest.raises(UnknownRecord, match=r"^no user named 'bob'$"):
        users.grant(team, "bob", ["reviewer"])
    with pytest.raises(InputError) as unknown:
        users.grant(team, "ana", ["boss"])
    assert unknown.value.message == (
        "unknown role 'boss': choose from surveyor, reviewer, records_custodian, victim_data, admin"
    )
    with pytest.raises(InputError, match="everyone has the public role"):
        users.add_user(team, "pub", ["public"])
    with pytest.raises(StateError, match="user 'ana' already exists"):
        users.add_user(team, "ana", ["surveyor"])
    with pytest.raises(InputError, match="user name"):
        users.add_user(team, "two words", ["surveyor"])
    with pytest.raises(InputError, match="at least 8 characters"):
        users.add_user(team, "short", ["surveyor"], password="1234567")
    assert "short" not in [u["name"] for u in users.list_users(team)]


def test_only_an_admin_manages_users_and_reads_the_log(team):
    ana = team.acting_as("ana", source="cli")
    for attempt in (
        lambda: users.add_user(ana, "eve", ["admin"]),
        lambda: users.grant(ana, "ana", ["admin"]),
        lambda: users.revoke(ana, "rev", ["reviewer"]),
        lambda: users.set_password(ana, "rev", PASSWORD),
        lambda: users.create_token(ana, "ana"),
        lambda: users.list_users(ana),
        lambda: users.list_audit(ana),
    ):
        with pytest.raises(PermissionDenied, match="user 'ana' needs the admin role"):
            attempt()
    assert "eve" not in [u["name"] for u in users.list_users(team)]


def test_the_last_admin_cannot_be_revoked(team):
    with pytest.raises(StateError, match=r"^'admin' is the last admin: grant admin to another user first$"):
        users.revoke(team, "admin", ["admin"])
    users.grant(team, "rev", ["admin"])
    assert users.revoke(team, "admin", ["admin"])["removed"] == ["admin"]
    with pytest.raises(PermissionDenied):  # admin is no admin any more
        users.revoke(team, "rev", ["admin"])
    rev = team.acting_as("rev", source="cli")
    with pytest.raises(StateError, match="'rev' is the last admin"):
        users.revoke(rev, "rev", ["admin"])


def test_passwords_are_argon2_hashes_and_verify(team):
    assert users.verify_password(team, "ana", PASSWORD)
    assert not users.verify_password(team, "ana", PASSWORD + "!")
    assert not users.verify_password(team, "rev", PASSWORD)  # has none
    assert not users.verify_password(team, "nobody", PASSWORD)
    (stored,) = rows(team, "SELECT password_hash FROM credentials")
    assert stored[0].startswith("$argon2id$") and PASSWORD not in stored[0]
    users.set_password(team, "rev", "another long one")
    assert users.verify_password(team, "rev", "another long one")
    assert ("admin", "user.passwd", "user rev") in audit_actions(team)


def test_an_unknown_user_costs_an_argon2_verification_too(team, monkeypatch):
    calls: list[str] = []

    class Counting(PasswordHasher):
        def verify(self, hash, password):
            calls.append("verify")
            return super().verify(hash, password)

    counting = Counting()
    monkeypatch.setattr(users, "_hasher", lambda: counting)
    for name in ("ana", "nobody", "rev"):  # a known user, an unknown one, one without a password
        with pytest.raises(NotAuthenticated) as refused:
            users.login(team, name, "wrong password", lifetime_s=60)
        assert refused.value.message == users.BAD_LOGIN
    assert calls == ["verify"] * 3


def test_tokens_are_shown_once_stored_hashed_and_can_expire_or_be_revoked(team):
    made = users.create_token(team, "ana", label="qgis laptop", expires_days=30)
    token = made["token"]
    assert token.startswith("cl_") and len(token) > 40
    assert made["expires_at"] > made["created_at"]
    assert users.token_user(team, token) == {"id": 2, "name": "ana", "roles": ["surveyor"]}
    assert users.token_user(team, token + "x") is None
    assert users.token_user(team, "not-a-token") is None
    (row,) = rows(team, "SELECT id, token_sha256, label, last_used_at FROM api_tokens")
    assert row[0] == made["id"] and row[2] == "qgis laptop" and row[3] is not None  # use recorded
    assert row[1] == users.secret_sha256(token) and token not in row[1]
    listed = {u["name"]: u for u in users.list_users(team)}["ana"]["tokens"]
    assert [(t["id"], t["label"]) for t in listed] == [(made["id"], "qgis laptop")]
    assert token not in json.dumps(users.list_users(team)) and row[1] not in json.dumps(
        users.list_users(team)
    )
    # the database never holds the token's text: no row of any table, nor the SQLite files
    assert token not in repr(contents(team.store.url))
    if file_bytes(team.store.url) is not None:
        folder = team.store.sqlite_path.parent
        files = list(folder.glob("registry.db*"))
        assert files and all(token.encode() not in f.read_bytes() for f in files)

    expiring = users.create_token(team, "rev", expires_days=1)
    assert users.token_user(team, expiring["token"])["name"] == "rev"
    # a day passes
    execute(
        team.store.url, "UPDATE api_tokens SET expires_at = '2000-01-01 00:00:00.000000' WHERE user_id = 3"
    )
    assert users.token_user(team, expiring["token"]) is None
    assert [u["tokens"] for u in users.list_users(team) if u["name"] == "rev"] == [[]]

    assert users.revoke_token(team, "ana", made["id"]) == {"id": made["id"], "user": "ana", "revoked": True}
    assert users.token_user(team, token) is None
    with pytest.raises(UnknownRecord, match=f"user 'ana' has no active token '{made['id']}'"):
        users.revoke_token(team, "ana", made["id"])
    with pytest.raises(UnknownRecord):
        users.revoke_token(team, "rev", expiring["id"] + "0")
    with pytest.raises(InputError, match="give 1 or more"):
        users.create_token(team, "ana", expires_days=0)
    actions = [a for _u, a, _t in audit_actions(team)]
    assert actions.count("token.create") == 2 and actions.count("token.revoke") == 1


def test_sessions_log_in_and_out_and_end_with_a_new_password(team):
    opened = users.login(team.via("http", "10.1.2.3"), "ana", PASSWORD, lifetime_s=3600)
    session = opened["session"]
    assert opened["user"]["name"] == "ana"
    assert users.session_user(team, session)["name"] == "ana"
    assert users.session_user(team, session + "x") is None
    (stored,) = rows(team, "SELECT session_sha256, remote FROM sessions")
    assert stored == (users.secret_sha256(session), "10.1.2.3")
    assert users.logout(team.via("http", "10.1.2.3"), session) is True
    assert users.session_user(team, session) is None
    assert users.logout(team, session) is False

    again = users.login(team, "ana", PASSWORD, lifetime_s=3600)["session"]
    users.set_password(team, "ana", "a brand new password")
    assert users.session_user(team, again) is None
    short = users.login(team, "ana", "a brand new password", lifetime_s=60)["session"]
    execute(
        team.store.url, "UPDATE sessions SET expires_at = '2000-01-01 00:00:00.000000'"
    )  # the minute passes
    assert users.session_user(team, short) is None

    with pytest.raises(NotAuthenticated):
        users.login(team, "ana", PASSWORD, lifetime_s=60)  # the old password
    with pytest.raises(NotAuthenticated):
        users.login(team, "PASSWORD-IN-NAME-BOX", "x", lifetime_s=60)
    entries = users.list_audit(team, since=dt.datetime(2000, 1, 1))
    logins = [(e["user"], e["action"], e["target"], e["source"], e["remote"]) for e in entries]
    assert ("ana", "auth.login", "user ana", "http", "10.1.2.3") in logins
    assert ("ana", "auth.logout", "user ana", "http", "10.1.2.3") in logins
    assert (None, "auth.login_failed", "user ana", "cli", None) in logins
    assert (None, "auth.login_failed", None, "cli", None) in logins  # an unknown name is not written
    assert "PASSWORD-IN-NAME-BOX" not in json.dumps(entries)


def test_writes_through_the_services_are_audited_as_the_acting_user(team, tmp_path):
    ana = team.acting_as("ana", source="http", remote="192.0.2.10")
    rev = team.acting_as("rev", source="http", remote="192.0.2.11")
    submitted = submit_report_file(ana, write_report(tmp_path / "r.json"))
    review.approve_report(rev, submitted["report"])
    second = submit_report_file(ana, write_report(tmp_path / "s.json"))
    review.reject_report(rev, second["report"], "duplicate")
    review.unapprove_report(team, submitted["report"], "wrong area")
    path = write_geojson(tmp_path / "h.geojson", [make_hazard_feature(square(17, 44), id="h1")])
    imported = import_file(team, path, ImportOptions(date_of_information=dt.date(2026, 1, 5)))

    entries = [e for e in users.list_audit(team) if e["action"].startswith("report.")]
    assert [(e["user"], e["action"], e["target"], e["source"], e["remote"]) for e in entries] == [
        ("ana", "report.submit", f"report {submitted['report']}", "http", "192.0.2.10"),
        ("rev", "report.approve", f"report {submitted['report']}", "http", "192.0.2.11"),
        ("ana", "report.submit", f"report {second['report']}", "http", "192.0.2.10"),
        ("rev", "report.reject", f"report {second['report']}", "http", "192.0.2.11"),
        ("admin", "report.unapprove", f"report {submitted['report']}", "cli", None),
        ("admin", "report.import", f"report {imported['report']}", "cli", None),
    ]
    assert entries[0]["detail"] == {"type": "hazard_report", "file": "r.json", "records": 1}
    assert entries[3]["detail"] == {"reason": "duplicate"}
    assert entries[5]["detail"]["approved"] is True
    assert [e["action"] for e in users.list_audit(team, user="rev")] == ["report.approve", "report.reject"]
    assert len(users.list_audit(team, limit=2)) == 2
    assert users.list_audit(team, limit=2)[-1]["action"] == "report.import"
    assert users.list_audit(team, since=dt.datetime(2999, 1, 1)) == []
    with pytest.raises(UnknownRecord):
        users.list_audit(team, user="nobody")


def test_a_write_that_fails_leaves_no_audit_entry(team, tmp_path):
    ana = team.acting_as("ana", source="http", remote="192.0.2.10")
    submitted = submit_report_file(ana, write_report(tmp_path / "r.json"))
    before = rows(team, "SELECT count(*) FROM audit_log")[0][0]
    reports_before = rows(team, "SELECT count(*) FROM reports")[0][0]

    broken = write_report(tmp_path / "bad.json", hazard_areas=[{"set": {"category": "XYZ"}}])
    with pytest.raises(ValidationFailed):
        submit_report_file(ana, broken)
    with pytest.raises(PermissionDenied):
        review.approve_report(ana, submitted["report"])  # a surveyor may not approve
    with pytest.raises(UnknownRecord):
        review.approve_report(team, 999)
    with pytest.raises(StateError):
        review.unapprove_report(team, submitted["report"], "never approved")
    with pytest.raises(StateError):  # the last admin
        users.revoke(team, "admin", ["admin"])
    bad = write_geojson(tmp_path / "bad.geojson", [make_hazard_feature(None, id="nothing")])
    with pytest.raises(ValidationFailed):
        import_file(team, bad, ImportOptions())

    assert rows(team, "SELECT count(*) FROM audit_log")[0][0] == before
    assert rows(team, "SELECT count(*) FROM reports")[0][0] == reports_before


def test_acting_as_shares_the_store_and_leaves_it_open(team):
    view = team.acting_as("ana", source="http", remote="203.0.113.5")
    assert view.store.engine is team.store.engine and view.user_name == "ana"
    assert view.store.origin == ("http", "203.0.113.5") and team.store.origin == ("cli", None)
    view.close()  # a view's close does not close the shared store
    assert [u["name"] for u in users.list_users(team)] == ["admin", "ana", "rev"]


def test_a_token_is_accepted_while_a_long_write_holds_the_registry(team):
    """The token's last-used time is bookkeeping: a request does not wait for it (the default
    wait is 30 s) while another process writes, e.g. a long import; it is recorded later."""
    made = users.create_token(team, "ana")
    with writer_holding(team.store.url):  # another writer, mid-import
        assert users.token_user(team, made["token"])["name"] == "ana"
    ((last_used,),) = rows(team, "SELECT last_used_at FROM api_tokens")
    assert last_used is None  # not written while the registry was held
    assert users.token_user(team, made["token"])["name"] == "ana"
    ((last_used,),) = rows(team, "SELECT last_used_at FROM api_tokens")
    assert last_used is not None
    # an ordinary write after a skipped one still waits and lands (the busy timeout is back)
    users.grant(team, "ana", ["reviewer"])
    assert users.token_user(team, made["token"])["roles"] == ["reviewer", "surveyor"]
