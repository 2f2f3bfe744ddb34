"""The exact, fast core of safety checks: which recorded hazards a point, a route or a field
touches or comes within a distance of, measured geodesically on WGS84.

``HazardIndex.check`` answers one geometry; ``HazardIndex.screen`` and ``screen_parallel``
answer millions of points with the same answers. ``HazardIndex.save`` and ``HazardIndex.load``
keep an index as plain arrays in a folder, checked when mapped back (``IndexFileError``). Pure
computation over geometries in EPSG:4326: no database, no services.
"""

from .geodesy import ABS_TOL_M, REL_TOL, decision_m
from .index import HazardIndex, Hit, IndexedHazard, IndexFileError, screen_parallel
from .screen import STATUS_INSIDE, STATUS_NEAR, STATUS_NONE, ScreenResult

__all__ = [
    "ABS_TOL_M",
    "REL_TOL",
    "STATUS_INSIDE",
    "STATUS_NEAR",
    "STATUS_NONE",
    "HazardIndex",
    "Hit",
    "IndexFileError",
    "IndexedHazard",
    "ScreenResult",
    "decision_m",
    "screen_parallel",
]
