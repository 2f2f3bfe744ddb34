"""Several processes writing one registry at once, on SQLite (WAL, writers queue on BEGIN
IMMEDIATE) and on PostGIS (``--postgis``: writers queue on an advisory lock, readers read one
snapshot): no approval's change is lost, a decision taken on a stale view is refused, and a
reader never sees half of an approval.

Each worker is a separate process with its own connections, started together on a barrier so
that their transactions overlap."""

from __future__ import annotations

import datetime as dt
import multiprocessing as mp
import threading
from pathlib import Path
from typing import Any

import pytest
import shapely
from sqlalchemy import text

from clearland.domain.vocab import RecordKind
from clearland.errors import ConflictError, StateError
from clearland.services import review
from clearland.services.registry import init_registry, open_registry
from clearland.services.submissions import submit_report_document
from clearland.settings import Settings
from conftest import square
from dbs import database

#: one field per worker: each report sets a different field of the same hazard area
FIELDS = {
    "name": "renamed by worker 0",
    "organisation": "set by worker 1",
    "blockage": ["agriculture", "road"],
    "evidence_description": "set by worker 3",
    "marking": "fenced",
    "estimated_area_m2": 1234.5,
}
WORKERS = len(FIELDS)
DATE = "2026-05-01"


def gj(geom: shapely.Geometry) -> dict[str, Any]:
    return shapely.geometry.mapping(geom)  # type: ignore[no-any-return]


def _submit(db: str, document: dict[str, Any]) -> int:
    registry = open_registry(Settings(), db=db)
    try:
        return int(submit_report_document(registry, document, "concurrency test")["report"])
    finally:
        registry.close()


def _new_area(db: str, name: str, geometry: shapely.Geometry) -> str:
    """A hazard area created by an approved report; its ref."""
    report = _submit(
        db,
        {
            "type": "hazard_report",
            "date_of_information": "2026-04-01",
            "hazard_areas": [
                {
                    "set": {"category": "SHA", "name": name, "hazard_types": ["ap_mine"]},
                    "geometry": gj(geometry),
                }
            ],
        },
    )
    registry = open_registry(Settings(), db=db)
    try:
        review.approve_report(registry, report)
        with registry.store.read() as tx:
            return str(tx.current(RecordKind.HAZARD_AREA, where={"name": name})[0]["ref"])
    finally:
        registry.close()


@pytest.fixture
def db(tmp_path: Path) -> str:
    location = database(tmp_path / "registry.db")
    registry = open_registry(Settings(), db=location)
    try:
        init_registry(registry)
    finally:
        registry.close()
    return location


def _approve(db: str, report_id: int, barrier: Any, results: Any, expect: str | None) -> None:
    registry = open_registry(Settings(), db=db)
    try:
        barrier.wait()
        try:
            review.approve_report(registry, report_id, expect_status=expect)
            results.put((report_id, "approved"))
        except ConflictError as exc:
            results.put((report_id, f"conflict: {exc.message}"))
        except StateError as exc:
            results.put((report_id, f"refused: {exc.message}"))
    finally:
        registry.close()


def _run_all(db: str, report_ids: list[int], expect: str | None = None) -> list[tuple[int, str]]:
    context = mp.get_context("spawn")  # nothing of this process's connections is shared
    barrier = context.Barrier(len(report_ids))
    results = context.Queue()
    workers = [
        context.Process(target=_approve, args=(db, rid, barrier, results, expect)) for rid in report_ids
    ]
    for w in workers:
        w.start()
    out = [results.get(timeout=120) for _ in workers]
    for w in workers:
        w.join(timeout=60)
        assert w.exitcode == 0
    return out


def test_approvals_of_the_same_area_at_once_lose_no_update(db: str) -> None:
    ref = _new_area(db, "contested field", square(18.40, 44.20))
    reports = [
        _submit(
            db,
            {
                "type": "hazard_report",
                "date_of_information": DATE,
                "hazard_areas": [{"ref": ref, "set": {field: value}}],
            },
        )
        for field, value in FIELDS.items()
    ]
    outcomes = _run_all(db, reports)
    assert sorted(outcomes) == sorted((rid, "approved") for rid in reports)
    registry = open_registry(Settings(), db=db)
    try:
        with registry.store.read() as tx:
            (state,) = tx.current(RecordKind.HAZARD_AREA, refs=[ref])
            seqs = [tx.get_report(rid)["approval_seq"] for rid in reports]
        # every worker's field is in the current state: none was overwritten by a worker that
        # folded the record's reports without seeing another's approval
        for field, value in FIELDS.items():
            assert state[field] == value, f"{field} lost"
        assert len(set(seqs)) == WORKERS
        history = review.list_reports(registry, status="approved")
        assert {r["id"] for r in history} >= set(reports)
    finally:
        registry.close()


def test_the_same_report_approved_by_several_reviewers_at_once_is_approved_once(db: str) -> None:
    ref = _new_area(db, "one decision", square(18.50, 44.30))
    report = _submit(
        db,
        {
            "type": "hazard_report",
            "date_of_information": DATE,
            "hazard_areas": [{"ref": ref, "set": {"name": "decided"}}],
        },
    )
    outcomes = _run_all(db, [report] * 4, expect="submitted")
    approved = [o for o in outcomes if o[1] == "approved"]
    refused = [o for o in outcomes if o[1] != "approved"]
    assert len(approved) == 1 and len(refused) == 3
    # the others decided on a view that was stale by the time they got to write
    assert all(o[1].startswith("conflict:") for o in refused), refused
    registry = open_registry(Settings(), db=db)
    try:
        with registry.store.read() as tx:
            assert tx.get_report(report)["status"] == "approved"
            (state,) = tx.current(RecordKind.HAZARD_AREA, refs=[ref])
            assert state["name"] == "decided"
            approvals = tx.conn.execute(
                text("SELECT count(*) FROM audit_log WHERE action = 'report.approve'")
            )
            assert approvals.scalar() == 2  # the area's creation and this one: never twice
    finally:
        registry.close()


def _read_snapshots(db: str, refs: list[str], stop: Any, found: Any) -> None:
    """Read the areas one query at a time inside one read transaction, over and over; report
    every snapshot in which they do not all carry the same organisation."""
    registry = open_registry(Settings(), db=db)
    reads = mixed = 0
    try:
        while not stop.is_set() or reads < 5:
            with registry.store.read() as tx:
                seen = {tx.current(RecordKind.HAZARD_AREA, refs=[ref])[0]["organisation"] for ref in refs}
            reads += 1
            mixed += len(seen) > 1
        found.put((reads, mixed))
    finally:
        registry.close()


def test_readers_never_see_half_an_approval(db: str) -> None:
    refs = [_new_area(db, f"plot {i}", square(18.0 + i * 0.02, 44.0)) for i in range(3)]
    # one report that touches many areas, then another; a reader reads between and during
    more = _submit(
        db,
        {
            "type": "hazard_report",
            "date_of_information": "2026-04-01",
            "hazard_areas": [
                {
                    "set": {"category": "SHA", "name": f"row {i}", "hazard_types": ["ap_mine"]},
                    "geometry": gj(square(19.0 + i * 0.02, 44.0)),
                }
                for i in range(60)
            ],
        },
    )
    registry = open_registry(Settings(), db=db)
    try:
        review.approve_report(registry, more)
        with registry.store.read() as tx:
            refs += [
                s["ref"] for s in tx.current(RecordKind.HAZARD_AREA) if str(s["name"]).startswith("row ")
            ]
    finally:
        registry.close()
    context = mp.get_context("spawn")
    stop, found = context.Event(), context.Queue()
    reader = context.Process(target=_read_snapshots, args=(db, refs, stop, found))
    reader.start()
    registry = open_registry(Settings(), db=db)
    try:
        for round_ in range(6):
            report = _submit(
                db,
                {
                    "type": "hazard_report",
                    "date_of_information": (dt.date(2026, 5, 1) + dt.timedelta(days=round_)).isoformat(),
                    "hazard_areas": [{"ref": ref, "set": {"organisation": f"team {round_}"}} for ref in refs],
                },
            )
            review.approve_report(registry, report)
    finally:
        registry.close()
        stop.set()
    reads, mixed = found.get(timeout=120)
    reader.join(timeout=60)
    assert reads >= 5
    assert mixed == 0, f"{mixed} of {reads} reads saw a report half applied"


def test_a_stale_approval_over_http_is_a_409(db: str) -> None:
    """Two reviewers approve the same report through the API at the same moment, each with
    the ETag it read: one gets 200, the other 409."""
    from fastapi.testclient import TestClient

    from clearland.api.app import create_app
    from clearland.services import users

    ref = _new_area(db, "over http", square(18.70, 44.60))
    report = _submit(
        db,
        {
            "type": "hazard_report",
            "date_of_information": DATE,
            "hazard_areas": [{"ref": ref, "set": {"name": "via api"}}],
        },
    )
    registry = open_registry(Settings(), db=db)
    try:
        tokens = {}
        for name in ("rev1", "rev2"):
            users.add_user(registry, name, ["reviewer"])
            tokens[name] = users.create_token(registry, name, label="tests")["token"]
    finally:
        registry.close()
    app = create_app(Settings(database_url=db))
    statuses: dict[str, int] = {}
    with TestClient(app) as client:
        etags = {}
        for name, token in tokens.items():
            got = client.get(f"/reports/{report}", headers={"Authorization": f"Bearer {token}"})
            assert got.status_code == 200
            etags[name] = got.headers["ETag"]
        barrier = threading.Barrier(2)

        def decide(name: str) -> None:
            barrier.wait()
            answer = client.post(
                f"/reports/{report}/approve",
                headers={"Authorization": f"Bearer {tokens[name]}", "If-Match": etags[name]},
            )
            statuses[name] = answer.status_code

        threads = [threading.Thread(target=decide, args=(name,)) for name in tokens]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert sorted(statuses.values()) == [200, 409]
