"""A SYNTHETIC demo registry. Every area it makes is invented: it lies in the open sea of the
Gulf of Guinea around 0°N 0°E, where no one could mistake it for a real hazard, and every name
says SYNTHETIC. It is imported through the ordinary import path, so the demo exercises it."""

from __future__ import annotations

import datetime as dt
import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from clearland.domain.vocab import RecordKind
from clearland.errors import StateError
from clearland.io import write_layer
from clearland.io.types import OutputFeature
from clearland.services.imports import ImportOptions, Progress, import_file
from clearland.services.registry import Registry, init_registry

SYNTHETIC_LABEL = "SYNTHETIC DEMO DATA — invented, not a real hazard"
ORIGIN = (0.2, 0.2)  # lon, lat: open sea
CATEGORIES = ("SHA", "SHA", "CHA", "CHA", "CHA", "indication")
TYPES = ("ap_mine", "at_mine", "uxo", "cluster_munition", "ied", "ap_mine;at_mine", "uxo;axo")
MARKINGS = ("none", "signs", "fenced", "both")
# no "closed": an area closes only when its land is released, which the demo does not record
STATUSES = ("open", "open", "open", "worked_on")


def synthetic_admin_areas(cols: int = 4, rows: int = 3, size_deg: float = 0.5) -> list[OutputFeature]:
    out = []
    for r in range(rows):
        for c in range(cols):
            x0, y0 = ORIGIN[0] + c * size_deg, ORIGIN[1] + r * size_deg
            n = r * cols + c + 1
            out.append(
                OutputFeature(
                    {
                        "name": f"Synthetic District {n}",
                        "code": f"SYN-{n:02d}",
                        "level": 2,
                        "source_id": f"synthetic-district-{n}",
                    },
                    shapely.box(x0, y0, x0 + size_deg, y0 + size_deg),
                )
            )
    return out


def synthetic_hazards(count: int = 3000, seed: int = 7) -> list[OutputFeature]:
    """Polygons of 5–40 vertices, roughly 0.5–20 ha, clustered along three invented lines."""
    rng = np.random.default_rng(seed)
    lines = [
        [(ORIGIN[0] + 0.1, ORIGIN[1] + 0.2), (ORIGIN[0] + 1.9, ORIGIN[1] + 1.3)],
        [(ORIGIN[0] + 0.2, ORIGIN[1] + 1.4), (ORIGIN[0] + 1.6, ORIGIN[1] + 0.1)],
        [(ORIGIN[0] + 0.9, ORIGIN[1] + 0.05), (ORIGIN[0] + 1.1, ORIGIN[1] + 1.45)],
    ]
    out = []
    for i in range(count):
        (x0, y0), (x1, y1) = lines[i % len(lines)]
        t = rng.random()
        cx = x0 + (x1 - x0) * t + rng.normal(0, 0.03)
        cy = y0 + (y1 - y0) * t + rng.normal(0, 0.03)
        radius_deg = math.sqrt(rng.uniform(5e3, 2e5) / math.pi) / 111_320
        n = int(rng.integers(5, 41))
        angles = np.sort(rng.uniform(0, 2 * math.pi, n))
        radii = radius_deg * rng.uniform(0.6, 1.0, n)
        ring = np.column_stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)])
        category = CATEGORIES[i % len(CATEGORIES)]
        geom = shapely.Polygon(ring)
        if not geom.is_valid:  # near-equal angles can fold the ring: keep the demo clean
            geom = geom.convex_hull
        if category == "indication":
            geom = shapely.Point(cx, cy)
        out.append(
            OutputFeature(
                {
                    "source_id": f"synthetic-{i + 1:05d}",
                    "name": f"SYNTHETIC area {i + 1:05d}",
                    "category": category,
                    "status": STATUSES[int(rng.integers(0, len(STATUSES)))],
                    "hazard_types": TYPES[int(rng.integers(0, len(TYPES)))],
                    "marking": MARKINGS[int(rng.integers(0, len(MARKINGS)))],
                    "organisation": "Synthetic Demo Operator",
                    "evidence_description": SYNTHETIC_LABEL,
                },
                geom,
            )
        )
    return out


def create_demo(
    registry: Registry, *, count: int = 3000, force: bool = False, progress: Progress | None = None
) -> dict[str, Any]:
    store = registry.store
    if store.exists():
        with store.read() as tx:
            populated = tx.count(RecordKind.HAZARD_AREA) > 0
        if populated and not force:
            raise StateError(f"{store.where} already holds a registry: use another --db or --force")
        if populated:
            store.wipe()
    init_registry(registry)
    date = dt.date(2026, 1, 15)
    with tempfile.TemporaryDirectory(prefix="clearland-demo-") as tmp:
        admin_path = Path(tmp) / "synthetic_districts.geojson"
        write_layer(admin_path, synthetic_admin_areas(), format="geojson", layer="admin_areas")
        admin = import_file(
            registry,
            admin_path,
            ImportOptions(kind=RecordKind.ADMIN_AREA, date_of_information=date),
            progress,
        )
        hazard_path = Path(tmp) / "synthetic_hazard_areas.gpkg"
        write_layer(hazard_path, synthetic_hazards(count), format="gpkg", layer="hazard_areas")
        hazards = import_file(registry, hazard_path, ImportOptions(date_of_information=date), progress)
    with store.write() as tx:
        tx.set_meta("synthetic_demo", "true")
    return {
        "database": store.where,
        "synthetic": True,
        "admin_areas": admin["created"],
        "hazard_areas": hazards["created"],
        "label": SYNTHETIC_LABEL,
    }
