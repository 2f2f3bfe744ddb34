"""What each public collection's vector tiles show: told to a database that draws tiles in SQL
(``storage.vector_tiles``, PostGIS), and read column by column for the tiles drawn in Python
(``storage.current_columns``: SQLite): the same rows and public fields as ``services.features``
reads (the features of tiles as of a date).

- ``hazard-areas``: every current hazard area, its public fields (``public_view``: the record
  type's public fields, ``area_m2``, ``date_of_information``, ``remaining_area_m2``);
- ``released-land``: the outcomes released (cancelled, reduced, cleared), public fields;
- ``admin-areas``: every admin area, public fields;
- ``markers``: one point per marker placed by an activity (``ACT-000003-M1``: its type and
  description, the activity's ref, type, organisation and date), then the marker records of
  marking reports (``MK-…``) by their public fields; every one with its feature ``id``.

``tests/storage/test_postgis_tiles.py`` compares the tiles drawn from these with the Python
path's, collection by collection: a field added to a collection there and not here fails it
(so does a collection without its layer here; ``keep_small`` matches ``tiles.HAZARD_COLLECTIONS``).
``tests/services/test_tile_columns.py`` compares the layers read column by column from these
with those read as features, and their tiles, the same way.
"""

from __future__ import annotations

from clearland.domain.records import DERIVED_FIELDS, RECORD_TYPES
from clearland.domain.vocab import RecordKind
from clearland.services.features import MARKER_PROPERTIES, RELEASED
from clearland.storage.vector_tiles import Column, ItemId, ItemKey, TileLayer, TileSource, Value


def _public(kind: RecordKind) -> dict[str, Value]:
    """The columns ``public_view`` keeps of a current row of ``kind``, as attributes."""
    names = [*RECORD_TYPES[kind].public_fields, *DERIVED_FIELDS]
    if kind is RecordKind.HAZARD_AREA:
        names.append("remaining_area_m2")
    return {name: Column(name) for name in names}


def _markers() -> tuple[TileSource, ...]:
    # as services.features._markers builds them
    placed: dict[str, Value] = {
        "type": ItemKey("type"),
        "description": ItemKey("description"),
        "activity_ref": Column("ref"),
        "activity_type": Column("activity_type"),
        "organisation": Column("organisation"),
        "date_of_information": Column("date_of_information"),
    }
    recorded = _public(RecordKind.MARKER)
    return (
        TileSource(
            kind=RecordKind.ACTIVITY.value,
            attributes={
                **{n: placed[n] for n in MARKER_PROPERTIES if n in placed},
                "id": ItemId("ref", "-M"),
            },
            items="markers",
        ),
        TileSource(
            kind=RecordKind.MARKER.value,
            attributes={**{n: recorded[n] for n in MARKER_PROPERTIES if n in recorded}, "id": Column("ref")},
        ),
    )


#: by collection id; a collection missing here is drawn in Python on every database
SQL_LAYERS: dict[str, TileLayer] = {
    layer.name: layer
    for layer in (
        TileLayer(
            "hazard-areas",
            (TileSource(RecordKind.HAZARD_AREA.value, _public(RecordKind.HAZARD_AREA)),),
            keep_small=True,
        ),
        TileLayer(
            "released-land",
            (
                TileSource(
                    RecordKind.OUTCOME.value, _public(RecordKind.OUTCOME), only={"kind": sorted(RELEASED)}
                ),
            ),
            keep_small=False,
        ),
        TileLayer("markers", _markers(), keep_small=False),
        TileLayer(
            "admin-areas",
            (TileSource(RecordKind.ADMIN_AREA.value, _public(RecordKind.ADMIN_AREA)),),
            keep_small=False,
        ),
    )
}
