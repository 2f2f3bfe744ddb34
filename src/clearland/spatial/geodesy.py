"""Metres and degrees on the WGS84 ellipsoid: the bounds the coarse filters rely on, the local
frame the bulk screen measures in, and the decision threshold with its tolerance.

Coordinates are EPSG:4326, longitude first, in degrees.
"""

from __future__ import annotations

import math

import numpy as np

from clearland.domain.geometry import WGS84

A_M = 6378137.0
F = 1 / 298.257223563
E2 = F * (2 - F)
_RAD = math.pi / 180

#: the shortest degree of latitude (at the equator, where the meridian curves least), metres;
#: a point d metres away is at most d / this degrees of latitude away. 1e-6 spare for rounding.
MIN_M_PER_DEG_LAT = _RAD * A_M * (1 - E2) * (1 - 1e-6)

#: distances are promised within this share or this many metres, whichever is larger
REL_TOL = 0.005
ABS_TOL_M = 0.5

#: above this latitude the local frame of the bulk screen is left to the exact per-point path
FRAME_LAT_LIMIT = 80.0


def decision_m(within_m: float) -> float:
    """The distance up to which a hazard counts as near. It exceeds ``within_m`` by the promised
    tolerance, so a hazard that is in fact within ``within_m`` is never missed through an error
    of measurement: doubt is resolved towards ``near``."""
    return within_m + max(REL_TOL * within_m, ABS_TOL_M)


def reach_deg(reach_m: float, max_abs_lat: float) -> tuple[float, float]:
    """Degrees of longitude and latitude that bound every point within ``reach_m`` metres of a
    point whose latitude is at most ``max_abs_lat`` (in absolute value).

    A path d metres long changes latitude by at most d / (shortest degree of latitude), and
    longitude by at most d / (shortest degree of longitude along the latitudes it can reach);
    a degree of longitude is at least a·cos(φ)·π/180 metres (the prime vertical radius is ≥ a).
    360 when the reachable band touches a pole: every longitude is then within reach.
    """
    dlat = reach_m / MIN_M_PER_DEG_LAT
    phi = max_abs_lat + dlat
    if phi >= 89.999:
        return 360.0, dlat
    dlon = reach_m / (_RAD * A_M * math.cos(math.radians(phi)) * (1 - 1e-6))
    return min(dlon, 360.0), dlat


def metres_per_degree(lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Metres per degree of longitude and of latitude at ``lat``: the local frame in which a short
    lon/lat segment keeps its straightness and its length to second order in its size."""
    phi = np.radians(lat)
    sin2 = np.sin(phi) ** 2
    w = np.sqrt(1 - E2 * sin2)
    prime_vertical = A_M / w
    meridional = A_M * (1 - E2) / (w * w * w)
    return _RAD * prime_vertical * np.cos(phi), _RAD * meridional


def geodesic_m(
    lon1: np.ndarray, lat1: np.ndarray, lon2: np.ndarray, lat2: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Distance in metres and forward azimuth (degrees true, 0–360) from 1 to 2 on WGS84."""
    azimuth, _, distance = WGS84.inv(lon1, lat1, lon2, lat2)
    return np.asarray(distance, dtype=float), np.mod(np.asarray(azimuth, dtype=float), 360.0)
