"""Untrusted files that are broken or hostile: each gives one InputFileError naming the file."""

from __future__ import annotations

import os
import zipfile

import pyogrio.raw
import pytest
from io_samples import CAMBODIA_GEOJSON, kml_document, sample_features, write_zip

from clearland.errors import InputFileError
from clearland.io import ReadLimits, list_layers, read_layer, write_layer

PASSWD_MARKER = "root:"  # the first line of /etc/passwd starts with it
XXE_DOCTYPE = '<!DOCTYPE kml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
LAUGHS_DOCTYPE = (
    '<!DOCTYPE kml [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10)
    )
    + "]>\n"
)


def refused(path, **read_options) -> InputFileError:
    with pytest.raises(InputFileError) as caught:
        read_layer(path, **read_options)
    error = caught.value
    assert "\n" not in error.message
    assert str(path) in error.message
    assert error.detail and error.detail[0]["file"] == str(path)
    return error


def test_truncated_geojson(tmp_path):
    path = tmp_path / "cut.geojson"
    content = CAMBODIA_GEOJSON.read_bytes()
    path.write_bytes(content[: len(content) // 2])

    error = refused(path)

    assert error.message == f"cannot read {path}: truncated or corrupt GeoJSON"
    assert error.detail[0]["gdal"]  # GDAL's own words, for the log


def test_missing_file(tmp_path):
    path = tmp_path / "nowhere.gpkg"
    assert refused(path).message == f"file not found: {path}"


def test_unknown_extension(tmp_path):
    path = tmp_path / "areas.xyz"
    path.write_text("x")
    message = refused(path).message
    assert message.startswith(f"unsupported format '.xyz' ({path}); supported: .geojson")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.geojson"
    path.touch()
    assert refused(path).message == f"{path} is empty (0 bytes)"


def test_directory(tmp_path):
    path = tmp_path / "folder.gpkg"
    path.mkdir()
    assert refused(path).message == f"{path} is a directory, not a file"


def test_file_over_the_size_limit(tmp_path):
    path = tmp_path / "big.geojson"
    path.write_text('{"type": "FeatureCollection", "features": []}')
    error = refused(path, limits=ReadLimits(max_file_bytes=10))
    assert "over the limit of 10 bytes" in error.message


def test_too_many_features(tmp_path):
    error = refused(CAMBODIA_GEOJSON, limits=ReadLimits(max_features=100))
    assert error.message == f"{CAMBODIA_GEOJSON} has more than 100 features (the limit)"


@pytest.mark.parametrize("missing", [".dbf", ".shx"])
def test_shapefile_without_its_sidecar(tmp_path, missing):
    path = tmp_path / "areas.shp"
    write_layer(path, sample_features(), format="shp")
    path.with_suffix(missing).unlink()

    assert refused(path).message == (
        f"shapefile {path} has no {missing} beside it (a shapefile needs .shp, .shx and .dbf)"
    )


def test_zip_without_a_shapefile(tmp_path):
    path = write_zip(tmp_path / "areas.zip", {"readme.txt": "no shapes here"})
    assert refused(path).message == f"{path} contains no shapefile (.shp); members: readme.txt"


def test_random_bytes_named_zip(tmp_path):
    path = tmp_path / "areas.zip"
    path.write_bytes(os.urandom(2000))
    assert refused(path).message == f"cannot read {path}: truncated or corrupt zip archive"


def test_kmz_zip_bomb_is_refused_before_expanding(tmp_path):
    path = tmp_path / "bomb.kmz"
    # ~300 MB of blanks, streamed into the archive (it compresses to ~300 KB)
    with (
        zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive,
        archive.open("doc.kml", "w", force_zip64=True) as member,
    ):
        member.write(b'<?xml version="1.0"?><kml>')
        blanks = b" " * (1 << 20)
        for _ in range(300):
            member.write(blanks)
        member.write(b"</kml>")
    assert path.stat().st_size < 2_000_000

    error = refused(path)

    assert error.message == (
        f"refused {path}: zip member doc.kml expands beyond the 200x compression limit (possible zip bomb)"
    )
    assert error.detail[0]["member"] == "doc.kml"


def test_zip_over_the_total_uncompressed_limit(tmp_path):
    path = tmp_path / "areas.zip"
    write_layer(path, sample_features(), format="shp")
    error = refused(path, limits=ReadLimits(max_uncompressed_bytes=500))
    assert error.message.startswith(f"refused {path}: the archive expands to ")


def test_zip_with_too_many_members(tmp_path):
    path = write_zip(tmp_path / "many.zip", {f"f{i}.txt": "x" for i in range(12)})
    error = refused(path, limits=ReadLimits(max_zip_members=10))
    assert error.message == f"refused {path}: the archive has 12 members, over the limit of 10"


@pytest.mark.parametrize("member", ["../evil.shp", "/etc/evil.shp", "a/../../evil.shp"])
def test_zip_member_escaping_the_folder(tmp_path, member):
    path = write_zip(tmp_path / "areas.zip", {member: b"\x00\x00\x27\x0a", "ok.txt": "x"})

    error = refused(path)

    assert error.message == (f"refused {path}: zip member {member} has an unsafe path (absolute or '..')")
    assert not (tmp_path.parent / "evil.shp").exists()


@pytest.mark.parametrize("suffix", [".kml", ".kmz"])
def test_kml_with_an_external_entity(tmp_path, suffix):
    document = kml_document("&xxe;", doctype=XXE_DOCTYPE)
    path = tmp_path / f"xxe{suffix}"
    if suffix == ".kmz":
        write_zip(path, {"doc.kml": document})
    else:
        path.write_text(document)

    error = refused(path)

    assert error.message == (
        f"refused {path}: KML declares an XML entity/DTD (external entities are not allowed)"
    )
    assert PASSWD_MARKER not in repr(error.to_dict())
    with pytest.raises(InputFileError):
        list_layers(path)


def test_kml_with_a_billion_laughs(tmp_path):
    path = tmp_path / "laughs.kml"
    path.write_text(kml_document("&lol9;", doctype=LAUGHS_DOCTYPE))

    error = refused(path)

    assert "declares an XML entity/DTD" in error.message


def test_truncated_kml(tmp_path):
    path = tmp_path / "cut.kml"
    path.write_text(kml_document("ok")[:120])
    assert refused(path).message == f"cannot read {path}: truncated or corrupt KML (malformed XML)"


def test_xml_that_is_not_kml(tmp_path):
    path = tmp_path / "areas.kml"
    path.write_text('<?xml version="1.0"?><gpx version="1.1"></gpx>')
    assert refused(path).message == f"cannot read {path}: not KML (the root element is <gpx>)"


@pytest.mark.parametrize("name", ["spoof.csv", "spoof.geojson", "spoof.gpkg", "spoof.fgb", "spoof.kml"])
def test_vrt_disguised_as_another_format_never_reaches_the_vrt_driver(tmp_path, name):
    # GDAL picks drivers by content: this would make its VRT driver read /etc/passwd as a CSV
    path = tmp_path / name
    path.write_text(
        '<OGRVRTDataSource><OGRVRTLayer name="x">'
        "<SrcDataSource>CSV:/etc/passwd</SrcDataSource></OGRVRTLayer></OGRVRTDataSource>"
    )
    try:
        layer = read_layer(path, csv_geometry=("x",) if name.endswith(".csv") else None)
    except InputFileError as error:
        assert PASSWD_MARKER not in repr(error.to_dict())
    else:  # read as the CSV it claims to be: a header line and no rows
        assert layer.driver == "CSV" and layer.features == []


def test_corrupt_flatgeobuf(tmp_path):
    path = tmp_path / "noise.fgb"
    path.write_bytes(os.urandom(4096))
    error = refused(path)
    assert error.message == f"cannot read {path}: truncated or corrupt FlatGeobuf"


def test_truncated_flatgeobuf(tmp_path):
    path = tmp_path / "cut.fgb"
    write_layer(path, sample_features(), format="fgb")
    path.write_bytes(path.read_bytes()[:300])
    error = refused(path)
    assert error.message == f"cannot read {path}: truncated or corrupt FlatGeobuf"
    assert error.detail[0]["gdal"]


@pytest.mark.parametrize("cut", [False, True])
def test_corrupt_parquet(tmp_path, cut):
    path = tmp_path / "broken.parquet"
    if cut:
        write_layer(path, sample_features(), format="parquet")
        path.write_bytes(path.read_bytes()[:-200])
    else:
        path.write_bytes(b"PAR1" + os.urandom(4096))
    error = refused(path)
    assert error.message == f"cannot read {path}: truncated or corrupt Parquet"


def test_corrupt_geopackage(tmp_path):
    path = tmp_path / "noise.gpkg"
    path.write_bytes(b"SQLite format 3\x00" + os.urandom(4096))
    error = refused(path)
    assert error.message == f"cannot read {path}: truncated or corrupt GeoPackage"


def test_geopackage_with_two_layers_and_no_layer_named(tmp_path):
    path = tmp_path / "two.gpkg"
    write_layer(path, sample_features(), format="gpkg", layer="hazard_areas")
    write_layer(tmp_path / "other.gpkg", sample_features()[:1], format="gpkg", layer="marking")
    _copy_layer(tmp_path / "other.gpkg", path, "marking")

    error = refused(path)

    assert error.message == f"{path} has 2 layers; name the one to read: hazard_areas, marking"
    assert error.detail[0]["layers"] == ["hazard_areas", "marking"]
    assert sorted(list_layers(path)) == ["hazard_areas", "marking"]
    assert len(read_layer(path, layer="marking").features) == 1
    assert refused(path, layer="roads").message == (
        f"{path} has no layer 'roads'; layers: hazard_areas, marking"
    )


def _copy_layer(source, target, layer):
    meta, table = pyogrio.raw.read_arrow(source, layer=layer)
    pyogrio.raw.write_arrow(
        table,
        target,
        layer=layer,
        driver="GPKG",
        append=True,
        geometry_name=table.schema.names[-1],
        geometry_type=meta["geometry_type"],
        crs=meta["crs"],
    )


def test_non_utf8_csv(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("lon,lat,name\n1,2,Caf\xe9\n".encode("latin-1"))
    error = refused(path)
    assert error.message == f"cannot read {path}: its text is not UTF-8 (save the CSV as UTF-8)"
