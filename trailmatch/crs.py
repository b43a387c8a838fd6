"""Projection between WGS84, British National Grid and the metric working CRS: the one owner.

WGS84 <-> British National Grid (EPSG:27700, OSGB36) goes through **OSTN15**, Ordnance
Survey's definitive transformation, as implemented by ``convertbng`` (its OSTN15 grid is built
in; it reproduces OS's published test points to the millimetre). Everything else goes through
pyproj (``always_xy``). A conversion between two CRSs on one datum (WGS84 to UTM, OSGB36
lat/lon to the grid) is exact in pyproj; only the datum change WGS84/ETRS89 <-> OSGB36 needs
OSTN15, so a route between any two CRSs is split there:

    src --pyproj--> WGS84 lon/lat --OSTN15--> EPSG:27700 --pyproj--> dst   (into OSGB36)
    src --pyproj--> EPSG:27700 --OSTN15⁻¹--> WGS84 lon/lat --pyproj--> dst (out of OSGB36)

**WGS84 is taken as ETRS89.** OSTN15 is defined from ETRS89; a GPS fix is WGS84 (today's
realisation follows ITRF, about 0.9 m from ETRS89 in Britain in 2025, drifting ~2.5 cm a
year). Like Ordnance Survey's guidance for navigation and mapping, the tag suppliers and the
forces' own systems (which derive the eastings/northings they send from WGS84 positions with
OSTN15 in just this way), trailmatch feeds WGS84 latitude/longitude to OSTN15 as ETRS89
unchanged. Applying an epoch-dependent ITRF -> ETRS89 shift to fixes alone would move them
~1 m away from crimes that forces placed without it — the very kind of systematic offset this
module exists to remove — while a tag's own fix noise is 5-100 m.

**Outside OSTN15's cover** (offshore, abroad: ``convertbng`` covers longitude -8.58..1.78,
latitude 49.92..60.84, where OS's grid has values) a point is placed by the best
transformation pyproj has without the OSTN15 grid (a 7-parameter Helmert, metres off), and
reported in the ``outside`` mask of ``project_flagged``: a fix there is still evidence of
where the subject was (a fix in Denmark shows the subject was not in Southampton), while a
crime there is rejected.
"""

from __future__ import annotations

import threading
import warnings
from functools import lru_cache

import numpy as np
from pyproj import CRS, Transformer
from pyproj.transformer import TransformerGroup

WGS84 = "EPSG:4326"
OSGB36_GRID = "EPSG:27700"  # British National Grid: eastings/northings on OSGB36
OSGB36_GEOGRAPHIC = "EPSG:4277"  # OSGB36 latitude/longitude
# What a store records about how its x/y were made from WGS84 (see ``transformation``).
OSTN15 = "OSTN15"
HELMERT = "helmert"  # pyproj without the OSTN15 grid: what stores made before OSTN15 hold


@lru_cache(maxsize=32)
def transformer(src: str, dst: str) -> Transformer:
    """pyproj's best available operation from ``src`` to ``dst`` (never between WGS84 and
    OSGB36: see ``project_flagged``)."""
    return Transformer.from_crs(CRS.from_user_input(src), CRS.from_user_input(dst),
                                always_xy=True)


_FALLBACK_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def _fallback() -> Transformer:
    """WGS84 lon/lat -> British National Grid outside OSTN15's cover: Ordnance Survey's
    7-parameter Helmert ("OSGB36 to WGS 84 (6)", EPSG:1314; metres off in Britain, more far
    away), pinned as one pipeline. Left to choose, pyproj picks an operation per point by its
    area of use and falls to a "ballpark" shift (~100 m off) offshore, and not the same one in
    both directions, so a fix abroad would not map back to where it was."""
    with _FALLBACK_LOCK, warnings.catch_warnings():  # catch_warnings is process-wide
        warnings.simplefilter("ignore", UserWarning)
        group = TransformerGroup(WGS84, OSGB36_GRID, always_xy=True)
    for t in group.transformers:
        if "OSGB36 to WGS 84 (6)" in t.description:
            return Transformer.from_pipeline(t.definition)
    raise RuntimeError("PROJ has no 'OSGB36 to WGS 84 (6)' operation (EPSG:1314)")


@lru_cache(maxsize=32)
def same_crs(src: str, dst: str) -> bool:
    """Whether two CRS names are the same CRS (parsed once per pair: parsing costs ~0.3 ms,
    more than projecting one place)."""
    return CRS.from_user_input(src) == CRS.from_user_input(dst)


@lru_cache(maxsize=32)
def on_osgb36(crs: str) -> bool:
    """Whether ``crs`` is on the OSGB36 datum (British National Grid, OSGB36 lat/lon)."""
    geodetic = CRS.from_user_input(crs).geodetic_crs
    return geodetic is not None and geodetic.datum == CRS(OSGB36_GEOGRAPHIC).datum


@lru_cache(maxsize=32)
def transformation(crs: str) -> str:
    """What places WGS84 positions in working CRS ``crs`` directly: ``"OSTN15"`` for a CRS on
    OSGB36, ``"pyproj"`` for any other (whose route to the grid still goes through OSTN15).
    Stores record ``OSTN15`` whatever their CRS (``trailmatch.store.transformation``)."""
    return OSTN15 if on_osgb36(crs) else "pyproj"


def check_metric(crs: str) -> None:
    """Refuse a working CRS whose axes are not metres: distances would be meaningless."""
    c = CRS.from_user_input(crs)
    units = {a.unit_name for a in c.axis_info}
    if not c.is_projected or not units <= {"metre", "meter"}:
        raise ValueError(f"working CRS {crs} is not a projected CRS in metres (axes: {units})")


# ----------------------------------------------------------------------------- OSTN15

def convert_bng(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """convertbng's OSTN15 forward (NaN outside its cover). Imported on first use, so that a
    checkout whose environment predates the dependency still imports and says what to do."""
    try:
        from convertbng.cutil import convert_bng as forward
    except ImportError as e:  # pragma: no cover - an environment older than pyproject.toml
        raise ImportError("trailmatch needs convertbng for OSTN15 (a dependency in "
                          "pyproject.toml): run `make install`") from e
    return forward(lon, lat)


def convert_lonlat(e: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """convertbng's OSTN15 inverse (NaN outside its cover); imported on first use."""
    try:
        from convertbng.cutil import convert_lonlat as inverse
    except ImportError as err:  # pragma: no cover
        raise ImportError("trailmatch needs convertbng for OSTN15 (a dependency in "
                          "pyproject.toml): run `make install`") from err
    return inverse(e, n)


def _ostn15_forward(lon: np.ndarray, lat: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """WGS84 (as ETRS89) lon/lat -> British National Grid E/N with OSTN15; outside its cover
    the Helmert fallback. Returns E, N and the outside mask (finite input, no OSTN15)."""
    e, n = convert_bng(lon, lat)
    outside = np.isnan(e) & np.isfinite(lon) & np.isfinite(lat)
    if outside.any():
        e[outside], n[outside] = _fallback().transform(lon[outside], lat[outside])
    return e, n, outside


def _ostn15_inverse(e: np.ndarray, n: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """British National Grid E/N -> WGS84 (as ETRS89) lon/lat, OSTN15 inverted (OS's
    iteration); the Helmert fallback where that lands outside OSTN15's cover, so that a
    point placed by the fallback maps back to where it came from (the two covers meet in a
    band a few metres wide at the edge)."""
    lon, lat = convert_lonlat(e, n)
    outside = np.isfinite(e) & np.isfinite(n)
    inside = ~np.isnan(lon)
    outside[inside] = np.isnan(convert_bng(lon[inside], lat[inside])[0])
    if outside.any():
        lon[outside], lat[outside] = _fallback().transform(e[outside], n[outside],
                                                           direction="INVERSE")
    return lon, lat, outside


def _pyproj(a: np.ndarray, b: np.ndarray, src: str, dst: str) -> tuple[np.ndarray, np.ndarray]:
    if same_crs(src, dst):
        return a, b
    x, y = transformer(src, dst).transform(a, b)
    return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)


def project_flagged(a, b, src: str, dst: str
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Project arrays of (x, y) or (lon, lat) from ``src`` to ``dst``; also return which
    points crossed between WGS84 and OSGB36 outside OSTN15's cover (placed by the fallback).
    Non-finite input gives non-finite output and is not reported as outside."""
    a = np.array(a, dtype=np.float64, copy=True).reshape(-1)
    b = np.array(b, dtype=np.float64, copy=True).reshape(-1)
    none = np.zeros(a.size, dtype=bool)
    if a.size == 0 or same_crs(src, dst):
        return a, b, none
    into, out_of = on_osgb36(dst), on_osgb36(src)
    if into == out_of:  # no datum change between WGS84 and OSGB36: pyproj alone
        x, y = _pyproj(a, b, src, dst)
        return x, y, none
    if into:
        lon, lat = _pyproj(a, b, src, WGS84)
        e, n, outside = _ostn15_forward(np.ascontiguousarray(lon), np.ascontiguousarray(lat))
        x, y = _pyproj(e, n, OSGB36_GRID, dst)
        return x, y, outside
    e, n = _pyproj(a, b, src, OSGB36_GRID)
    lon, lat, outside = _ostn15_inverse(np.ascontiguousarray(e), np.ascontiguousarray(n))
    x, y = _pyproj(lon, lat, WGS84, dst)
    return x, y, outside


def project(a, b, src: str, dst: str) -> tuple[np.ndarray, np.ndarray]:
    """Project arrays of (x, y) or (lon, lat) from src to dst (a copy when src == dst)."""
    x, y, _ = project_flagged(a, b, src, dst)
    return x, y


def lonlat_to_working(lon, lat, crs: str = OSGB36_GRID) -> tuple[np.ndarray, np.ndarray]:
    return project(lon, lat, WGS84, crs)


def grid_to_working(easting, northing, crs: str = OSGB36_GRID) -> tuple[np.ndarray, np.ndarray]:
    return project(easting, northing, OSGB36_GRID, crs)


def working_to_lonlat(x, y, crs: str = OSGB36_GRID) -> tuple[np.ndarray, np.ndarray]:
    return project(x, y, crs, WGS84)
