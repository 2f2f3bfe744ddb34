"""The broken-input suite: each bad file gives one line on stderr, every detail with --json,
exit status 1, and leaves the database as it was: every row of every table, and on SQLite the
file byte for byte."""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest
import shapely

from conftest import make_hazard_feature, square, write_geojson
from dbs import contents, database, file_bytes

CLI = [sys.executable, "-m", "clearland.cli.main"]
#: the commands' cache folder (a server database's hazard index is kept under it), not the user's
CACHE_HOME = tempfile.mkdtemp(prefix="clearland-cli-tests-cache-")
atexit.register(shutil.rmtree, CACHE_HOME, True)


def cli_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "XDG_CACHE_HOME": CACHE_HOME, **extra}


def run(db: str | Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``clearland --db DB …``: DB is what ``dbs.database`` gave (a SQLite file or a PostGIS URL)."""
    return subprocess.run(
        [*CLI, "--db", str(db), *args], capture_output=True, text=True, timeout=120, env=cli_env()
    )


def fingerprint(db: str | Path) -> tuple[str | None, dict[str, list[tuple[object, ...]]]]:
    """The SQLite file's digest (None on PostGIS) and every row of every table."""
    raw = file_bytes(db)
    digest = None if raw is None else hashlib.sha256(raw).hexdigest()
    return digest, contents(db)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A registry holding one import already, so 'as before' is not trivially empty."""
    tmp = tmp_path_factory.mktemp("registry")
    path = database(tmp / "registry.db")
    seed = write_geojson(tmp / "seed.geojson", [make_hazard_feature(square(17, 44), id="seed")])
    assert run(path, "init").returncode == 0
    assert run(path, "import", str(seed)).returncode == 0
    return path


def _truncated(tmp: Path) -> Path:
    good = write_geojson(
        tmp / "full.geojson", [make_hazard_feature(square(17 + i / 10, 44), id=str(i)) for i in range(5)]
    )
    text = good.read_text()
    bad = tmp / "truncated.geojson"
    bad.write_text(text[: len(text) // 2])
    return bad


def _self_intersecting(tmp: Path) -> Path:
    bowtie = shapely.Polygon([(17, 44), (17.01, 44.01), (17.01, 44), (17, 44.01)])
    return write_geojson(
        tmp / "bowtie.geojson",
        [make_hazard_feature(square(17.5, 44), id="ok"), make_hazard_feature(bowtie, id="bowtie")],
    )


def _null_geometry(tmp: Path) -> Path:
    return write_geojson(tmp / "null.geojson", [make_hazard_feature(None, id="nothing")])


def _swapped(tmp: Path) -> Path:
    # Cambodia written lat/lon: latitude 104 cannot be
    return write_geojson(tmp / "swapped.geojson", [make_hazard_feature(square(12.5, 104.5), id="sw")])


def _shp_without_dbf(tmp: Path) -> Path:
    from clearland.io import OutputFeature, write_layer

    folder = tmp / "shp"
    folder.mkdir()
    path = folder / "areas.shp"
    write_layer(path, [OutputFeature({"category": "SHA"}, square(17, 44))], format="shp")
    (folder / "areas.dbf").unlink()
    return path


def _bad_wkt_csv(tmp: Path) -> Path:
    path = tmp / "bad.csv"
    path.write_text(
        'id,category,wkt\n1,SHA,"POLYGON ((17 44, 17.01 44, 17.01 44.01, 17 44))"\n'
        '2,SHA,"POLYGON ((17 44, 17.01"\n',
        encoding="utf-8",
    )
    return path


def _kmz_bomb(tmp: Path) -> Path:
    path = tmp / "bomb.kmz"
    block = b" " * (1 << 20)
    with (
        zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf,
        zf.open("doc.kml", "w") as member,
    ):
        member.write(b'<?xml version="1.0"?><kml xmlns="http://www.opengis.net/kml/2.2"><Document>')
        for _ in range(300):
            member.write(block)
        member.write(b"</Document></kml>")
    return path


def _kml_xxe(tmp: Path) -> Path:
    path = tmp / "xxe.kml"
    path.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE kml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
        '<kml xmlns="http://www.opengis.net/kml/2.2"><Document><Placemark><name>&xxe;</name>'
        "<Polygon><outerBoundaryIs><LinearRing><coordinates>17,44 17.01,44 17.01,44.01 17,44"
        "</coordinates></LinearRing></outerBoundaryIs></Polygon></Placemark></Document></kml>",
        encoding="utf-8",
    )
    return path


def _missing(tmp: Path) -> Path:
    return tmp / "does-not-exist.geojson"


def _unknown_format(tmp: Path) -> Path:
    path = tmp / "areas.xyz"
    path.write_text("hello")
    return path


CASES = {
    "truncated GeoJSON": (_truncated, "truncated"),
    "self-intersecting polygon": (_self_intersecting, "Self-intersection"),
    "null geometry": (_null_geometry, "null"),
    "swapped lat/lon": (_swapped, "swapped"),
    "shapefile without .dbf": (_shp_without_dbf, ".dbf"),
    "CSV with bad WKT": (_bad_wkt_csv, "WKT"),
    "KMZ zip bomb": (_kmz_bomb, "zip bomb"),
    "KML external entity": (_kml_xxe, "entit"),
    "missing file": (_missing, "not found"),
    "unknown format": (_unknown_format, "unsupported format"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_broken_input_is_refused_cleanly(case: str, db: str, tmp_path: Path) -> None:
    make, words = CASES[case]
    bad = make(tmp_path)
    before = fingerprint(db)
    assert before[1]["hazard_areas"] and (before[0] is None) == ("://" in db)

    plain = run(db, "import", str(bad))
    assert plain.returncode == 1, plain.stderr
    first, *_detail = plain.stderr.strip().splitlines()
    assert first.startswith("error: ") and bad.name in first, first
    assert "Traceback" not in plain.stderr

    as_json = run(db, "import", str(bad), "--json")
    assert as_json.returncode == 1
    payload = json.loads(as_json.stdout)
    everything = payload["message"] + json.dumps(payload["detail"], ensure_ascii=False)
    assert words.lower() in everything.lower(), everything
    assert "root:" not in everything  # /etc/passwd never leaks
    if payload["error"] == "validation":
        assert all({"file", "feature", "field", "message"} <= set(p) for p in payload["detail"])

    assert fingerprint(db) == before


def test_file_over_the_size_limit_is_refused(db: str, tmp_path: Path) -> None:
    path = write_geojson(tmp_path / "big.geojson", [make_hazard_feature(square(17, 44), id="b")])
    before = fingerprint(db)
    env = cli_env(CLEARLAND_IMPORT_MAX_FILE_BYTES="100")
    done = subprocess.run([*CLI, "--db", db, "import", str(path)], capture_output=True, text=True, env=env)
    assert done.returncode == 1 and "over the limit of 100 bytes" in done.stderr
    assert fingerprint(db) == before


def test_shapefile_without_prj_needs_crs(db: str, tmp_path: Path) -> None:
    from clearland.io import OutputFeature, write_layer

    path = tmp_path / "noprj.shp"
    write_layer(
        path, [OutputFeature({"category": "SHA", "source_id": "np1"}, square(17.3, 44.3))], format="shp"
    )
    (tmp_path / "noprj.prj").unlink()
    before = fingerprint(db)
    refused = run(db, "import", str(path))
    assert refused.returncode == 1 and "no CRS" in refused.stderr and "--crs" in refused.stderr
    assert fingerprint(db) == before
    done = run(db, "import", str(path), "--crs", "EPSG:4326", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["created"] == 1
