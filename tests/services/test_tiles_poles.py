"""Vector tiles of areas beyond the latitudes Web Mercator shows (±85.0511°): every tile of the
top and bottom rows draws without error; an area wholly beyond is not drawn, an area across the
edge is drawn up to it (as PostGIS draws them, ``storage.vector_tiles``). Before, an area
pressed onto the edge collapsed and GEOS refused to clip it: the tile failed from zoom 1."""

from __future__ import annotations

import shapely

from clearland.services import tiles
from clearland.services.features import Feature

BEYOND_SOUTH = shapely.box(-170, -89, 170, -86)  # wholly beyond the edge
ACROSS_NORTH = shapely.box(10, 84, 11, 86)  # from 84°N across the edge to 86°N
FEATURES = [
    Feature(id="HA-000001", geometry=BEYOND_SOUTH, properties={"ref": "HA-000001"}),
    Feature(id="HA-000002", geometry=ACROSS_NORTH, properties={"ref": "HA-000002"}),
]


def test_tiles_at_the_edges_of_the_square_world_draw() -> None:
    layer = tiles._Layer.of(FEATURES, 1, with_id=False)
    drawn_across = 0
    for z in range(1, 9):
        n = 2**z
        for x in range(n):
            for y in (0, n - 1):
                drawn = tiles._draw(layer, z, x, y, keep_small=True)
                refs = {layer.values[0][layer.codes[row, 0]] for row in drawn.polygon_rows}
                assert "HA-000001" not in refs, (z, x, y)
                assert not len(drawn.points) or y == 0, (z, x, y)  # nothing of the south area
                drawn_across += "HA-000002" in refs
                tiles.render(layer, "hazard-areas", z, x, y, keep_small=True)  # encodes too
    assert drawn_across >= 8  # at least once per zoom: the north area is drawn up to the edge
    top = tiles._draw(layer, 8, *tiles.lonlat_to_tile(10.5, 85.0, 8), keep_small=True)
    assert len(top.polygons) == 1
    north = shapely.get_coordinates(top.polygons[0])[:, 1].min()
    assert north <= 1.0  # the polygon reaches the tile's top edge (tile units, y down)
