"""Projection between WGS84 / OSGB36 and the metric working CRS (pyproj, always_xy)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from pyproj import CRS, Transformer

WGS84 = "EPSG:4326"
OSGB36_GRID = "EPSG:27700"  # British National Grid: eastings/northings on OSGB36


@lru_cache(maxsize=32)
def transformer(src: str, dst: str) -> Transformer:
    return Transformer.from_crs(CRS.from_user_input(src), CRS.from_user_input(dst), always_xy=True)


@lru_cache(maxsize=32)
def same_crs(src: str, dst: str) -> bool:
    """Whether two CRS names are the same CRS (parsed once per pair: parsing costs ~0.3 ms,
    more than projecting one place)."""
    return CRS.from_user_input(src) == CRS.from_user_input(dst)


def check_metric(crs: str) -> None:
    """Refuse a working CRS whose axes are not metres: distances would be meaningless."""
    c = CRS.from_user_input(crs)
    units = {a.unit_name for a in c.axis_info}
    if not c.is_projected or not units <= {"metre", "meter"}:
        raise ValueError(f"working CRS {crs} is not a projected CRS in metres (axes: {units})")


def project(a: np.ndarray, b: np.ndarray, src: str, dst: str) -> tuple[np.ndarray, np.ndarray]:
    """Project arrays of (x, y) or (lon, lat) from src to dst. Identity when src == dst."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if same_crs(src, dst):
        return a.copy(), b.copy()
    x, y = transformer(src, dst).transform(a, b)
    return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)


def lonlat_to_working(lon, lat, crs: str = OSGB36_GRID) -> tuple[np.ndarray, np.ndarray]:
    return project(lon, lat, WGS84, crs)


def grid_to_working(easting, northing, crs: str = OSGB36_GRID) -> tuple[np.ndarray, np.ndarray]:
    return project(easting, northing, OSGB36_GRID, crs)


def working_to_lonlat(x, y, crs: str = OSGB36_GRID) -> tuple[np.ndarray, np.ndarray]:
    return project(x, y, crs, WGS84)
