"""The CLI end to end on a real registry (a SQLite file; PostGIS with ``--postgis``), as a user
would run it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_broken_inputs import run

from conftest import BIH_ADM2, make_hazard_feature, square, write_geojson
from dbs import database


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    tmp = tmp_path_factory.mktemp("cli")
    db = database(tmp / "registry.db")
    hazards = write_geojson(
        tmp / "hazards.geojson",
        [
            make_hazard_feature(
                square(17.80, 43.85, 0.02),
                id="h1",
                name="Polje",
                hazard_types="ap_mine",
                minefield_record_ref="MR-9",
            ),
            make_hazard_feature(square(17.81, 43.86, 0.02), id="h2", category="CHA"),
            make_hazard_feature(square(18.40, 44.50), id="h3", status="worked_on"),
        ],
    )
    assert run(db, "init").returncode == 0
    assert run(db, "import", str(BIH_ADM2), "--as", "admin-areas").returncode == 0
    done = run(db, "import", str(hazards), "--date-of-information", "2024-05-01", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["created"] == 3
    return db, tmp


def test_list_show_history_and_as_of(loaded):
    db, _ = loaded
    listed = json.loads(run(db, "hazards", "list", "--json").stdout)
    assert [h["ref"] for h in listed] == ["HA-000001", "HA-000002", "HA-000003"]
    shown = json.loads(run(db, "hazards", "show", "HA-000001", "--history", "--json").stdout)
    assert shown["name"] == "Polje" and shown["history"][0]["type"] == "import_batch"
    assert shown["geometry"]["type"] == "Polygon"
    public = json.loads(run(db, "hazards", "show", "HA-000001", "--public", "--json").stdout)
    assert "minefield_record_ref" not in public and public["category"] == "SHA"
    assert json.loads(run(db, "hazards", "list", "--as-of", "2024-04-30", "--json").stdout) == []
    missing = run(db, "hazards", "show", "HA-999999")
    assert missing.returncode == 1 and missing.stderr.startswith("error: no hazard area 'HA-999999'")


def test_stats_json_has_sum_and_net_per_group(loaded):
    db, _ = loaded
    result = json.loads(run(db, "stats", "--json").stdout)
    assert result["count"] == 3 and result["area_m2_net"] < result["area_m2_sum"]
    by_admin = json.loads(run(db, "stats", "--by", "admin-area", "--json").stdout)
    groups = by_admin["groups"]
    assert all({"count", "area_m2_sum", "area_m2_net"} <= set(g) for g in groups.values())
    assert sum(g["area_m2_sum"] for g in groups.values()) == pytest.approx(result["area_m2_sum"], rel=1e-6)
    by_status = json.loads(run(db, "stats", "--by", "status", "--json").stdout)
    assert set(by_status["groups"]) == {"open", "worked_on"}
    table = run(db, "stats")
    assert table.returncode == 0 and "net area" in table.stdout


def test_validate_reports_the_overlap(loaded):
    db, _ = loaded
    result = json.loads(run(db, "validate", "--json").stdout)
    assert [(o["a"], o["b"]) for o in result["overlaps"]] == [("HA-000001", "HA-000002")]


def test_export_formats_and_osm_tags(loaded):
    db, tmp = loaded
    for fmt in ("gpkg", "geojson", "kml", "shp", "csv", "fgb", "parquet", "osm"):
        out = tmp / f"out-{fmt}.{'zip' if fmt == 'shp' else fmt}"
        done = run(db, "export", str(out), "--format", fmt, "--json")
        assert done.returncode == 0, (fmt, done.stderr)
        assert json.loads(done.stdout)["features"] == 3 and out.exists()
    osm = (tmp / "out-osm.osm").read_text(encoding="utf-8")
    assert 'k="boundary" v="hazard"' in osm and 'k="hazard" v="minefield"' in osm
    assert 'k="start_date" v="2024-05-01"' in osm


def test_surveyor_import_waits_for_review(loaded):
    db, tmp = loaded
    assert run(db, "users", "add", "olena", "--role", "surveyor").returncode == 0
    path = write_geojson(tmp / "new.geojson", [make_hazard_feature(square(18.9, 44.7), id="new-1")])
    done = run(db, "--as", "olena", "import", str(path), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "submitted"
    assert len(json.loads(run(db, "hazards", "list", "--json").stdout)) == 3
    refused = run(db, "--as", "olena", "users", "add", "x", "--role", "admin")
    assert refused.returncode == 1 and "admin role" in refused.stderr
    unknown = run(db, "--as", "nobody", "import", str(path))
    assert unknown.returncode == 1 and "no user named 'nobody'" in unknown.stderr


def test_read_commands_on_a_missing_registry_say_so(tmp_path):
    done = run(tmp_path / "none.db", "hazards", "list")
    assert done.returncode == 1 and "clearland init" in done.stderr
    assert not (tmp_path / "none.db").exists()


def test_demo_is_labelled_synthetic(tmp_path):
    db = tmp_path / "demo.db"
    done = run(db, "demo", "--count", "200", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["synthetic"] is True
    stats = json.loads(run(db, "stats", "--json").stdout)
    assert stats["count"] == 200 and "SYNTHETIC" in stats["synthetic"]
    names = {h["name"] for h in json.loads(run(db, "hazards", "list", "--json").stdout)}
    assert all(n.startswith("SYNTHETIC") for n in names)
    checked = run(db, "validate", "--json")
    assert json.loads(checked.stdout)["rule_violations"] == []  # the demo is consistent with the rules
    again = run(db, "demo", "--count", "10")
    assert again.returncode == 1 and "--force" in again.stderr


def test_help_lists_every_command():
    done = run(Path("unused.db"), "--help")
    for command in ("init", "import", "export", "stats", "validate", "hazards", "demo", "users"):
        assert command in done.stdout


def test_review_workflow_from_the_command_line(tmp_path):
    db = tmp_path / "review.db"
    assert run(db, "init").returncode == 0
    assert run(db, "users", "add", "ana", "--role", "surveyor").returncode == 0
    assert run(db, "users", "add", "rev", "--role", "reviewer").returncode == 0
    path = write_geojson(
        tmp_path / "r.geojson", [make_hazard_feature(square(18.9, 44.7), id="r-1", name="Livada")]
    )
    report = json.loads(run(db, "--as", "ana", "import", str(path), "--json").stdout)["report"]
    listed = json.loads(run(db, "report", "list", "--status", "submitted", "--json").stdout)
    assert [r["id"] for r in listed] == [report]
    shown = run(db, "report", "show", str(report))
    assert shown.returncode == 0 and "Livada" in shown.stdout and "1 to create" in shown.stdout
    refused = run(db, "--as", "ana", "report", "approve", str(report))
    assert refused.returncode == 1 and "reviewer or admin role" in refused.stderr
    assert run(db, "--as", "rev", "report", "approve", str(report)).returncode == 0
    assert [h["name"] for h in json.loads(run(db, "hazards", "list", "--json").stdout)] == ["Livada"]
    withdrawn = run(db, "report", "unapprove", str(report), "--reason", "test", "--json")
    assert json.loads(withdrawn.stdout)["records_withdrawn"] == 1
    assert json.loads(run(db, "hazards", "list", "--json").stdout) == []
    again = run(db, "--as", "rev", "report", "reject", str(report))
    assert again.returncode == 1 and "the report is unapproved; it cannot be rejected" in again.stderr


def test_report_schema_and_submit(tmp_path):
    db = tmp_path / "submit.db"
    assert run(db, "init").returncode == 0
    schema = run(db, "report", "schema", "hazard_report")
    assert schema.returncode == 0
    example = json.loads(schema.stdout)["examples"][0]
    example["hazard_areas"] = example["hazard_areas"][
        :1
    ]  # the second entry updates an area this registry lacks
    path = tmp_path / "example.json"
    path.write_text(json.dumps(example), encoding="utf-8")
    done = run(db, "report", "submit", str(path), "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)["report"]
    assert run(db, "report", "approve", str(report)).returncode == 0
    (area,) = json.loads(run(db, "hazards", "list", "--json").stdout)
    assert area["name"] == "Old checkpoint" and area["category"] == "SHA"
    bad = run(db, "report", "submit", str(tmp_path / "missing.json"))
    assert bad.returncode == 1 and "not found" in bad.stderr


def test_release_import_from_the_command_line(tmp_path):
    db = tmp_path / "release.db"
    hazard = square(17.0, 44.0, 0.02)
    path = write_geojson(tmp_path / "ha.geojson", [make_hazard_feature(hazard, id="h", category="CHA")])
    assert run(db, "import", str(path), "--date-of-information", "2025-01-01").returncode == 0
    cleared = write_geojson(
        tmp_path / "cl.geojson",
        [
            {
                "type": "Feature",
                "properties": {"id": "c"},
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [
                        [[17.0, 44.0], [17.01, 44.0], [17.01, 44.02], [17.0, 44.02], [17.0, 44.0]]
                    ],
                },
            }
        ],
    )
    done = run(
        db,
        "release",
        "import",
        str(cleared),
        "--outcome",
        "cleared",
        "--activity-type",
        "clearance",
        "--date-of-information",
        "2025-06-01",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["parts"] == 1
    stats = json.loads(run(db, "stats", "--json").stdout)
    assert stats["released_m2"]["cleared"] == pytest.approx(stats["area_m2_sum"] / 2, rel=1e-3)
    assert stats["remaining_m2_net"] == pytest.approx(stats["area_m2_sum"] / 2, rel=1e-3)
    shown = json.loads(run(db, "hazards", "show", "HA-000001", "--json").stdout)
    assert shown["remaining_area_m2"] == pytest.approx(shown["area_m2"] / 2, rel=1e-3)
    assert shown["remaining_geometry"]["type"] == "Polygon"
    out = tmp_path / "outcomes.geojson"
    assert run(db, "export", str(out), "--as", "outcomes").returncode == 0
    exported = json.loads(out.read_text(encoding="utf-8"))["features"]
    assert [(f["properties"]["kind"], f["properties"]["hazard_ref"]) for f in exported] == [
        ("cleared", "HA-000001")
    ]
    monthly = json.loads(run(db, "stats", "release", "--by", "month", "--json").stdout)
    assert list(monthly["groups"]) == ["2025-06"]
    assert monthly["groups"]["2025-06"]["cleared"] == pytest.approx(stats["released_m2"]["cleared"])
    table = run(db, "stats", "release")
    assert table.returncode == 0 and "2025-06" in table.stdout
    bad = run(db, "release", "import", str(cleared), "--outcome", "confirmed", "--activity-type", "ts")
    assert bad.returncode == 1 and "not land release" in bad.stderr
