"""The one-off upgrade of crime versions stored before OSTN15 (the hit store's half of
``trailmatch upgrade``; the trail store's half is ``trailmatch.store.upgrade``).

Each crime version records what placed it (``crimes.transformation``, migration 0005):
``OSTN15`` from then on, NULL before, when pyproj's Helmert did (0.1-5 m off). A version
given as latitude/longitude had its x/y made by Helmert; one given as easting/northing kept
them exactly but had its WGS84 lat/lon (what maps and the content digest use) made by the
inverse Helmert. Matching refuses NULL versions (``repository.refuse_legacy``, called by
``repository.crimes_in_rules_crs``, the one preparation of stored crimes for matching), so
a match never mixes Helmert crimes with OSTN15 fixes; ``upgrade_crimes`` re-projects them:

- given as latitude/longitude: x/y = OSTN15(lat/lon); lat/lon and the digest unchanged;
- given as easting/northing: the easting/northing kept (x/y themselves in a British
  National Grid store; in another working CRS recovered through the Helmert route that made
  x/y), lat/lon = OSTN15⁻¹ of them, as a fresh batch read gives, and the content digest
  recomputed with them — so the same batch sent again is ``unchanged``, not a new version.

Which location a version was given with was not recorded before migration 0005
(``located_by`` NULL). It is told from the stored numbers: a value read from a batch's text
reads back as that text's few digits (50.9097, 442345.0), while a value the projection made
has 15-17 significant digits. A version whose pair that looks typed cannot be told (both
or neither look typed: rare) is treated as given in latitude/longitude and counted as
``guessed`` in the report. Re-projected current versions lose their ``matched_rules``, so the
next nightly that names them matches them again (``trailmatch rematch`` refreshes all hits).
All in one transaction: stopped half-way, nothing changed.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from sqlalchemy import Engine, bindparam, func, select, update

from trailmatch.crs import (
    OSGB36_GRID,
    OSTN15,
    WGS84,
    lonlat_to_working,
    project,
    project_flagged,
    same_crs,
)
from trailmatch.hitstore.repository import crime_content_digest
from trailmatch.hitstore.schema import crimes

TYPED_DIGITS = 12  # at most this many significant digits: a number as a batch wrote it


def significant_digits(v: float) -> int:
    """Significant digits of the shortest text that reads back as ``v`` (for a number read
    from text: the digits that were written)."""
    mantissa = repr(float(v)).lower().split("e")[0].lstrip("+-").replace(".", "")
    return max(1, len(mantissa.strip("0")))


def _typed(*values: float) -> bool:
    return all(np.isfinite(v) and significant_digits(v) <= TYPED_DIGITS for v in values)


def located_by(x: float, y: float, lat: float, lon: float, crs: str) -> tuple[str, bool]:
    """Which location a version stored before ``located_by`` existed was given with, and
    whether that was a guess (see the module docstring)."""
    ll = _typed(lat, lon)
    if not same_crs(crs, OSGB36_GRID):  # x/y were made either way: only lat/lon can tell
        return ("lonlat" if ll else "grid"), False
    grid = _typed(x, y)
    if grid != ll:
        return ("grid" if grid else "lonlat"), False
    return "lonlat", True


@dataclass
class CrimesUpgrade:
    versions: int = 0  # crime versions re-projected
    by_grid: int = 0
    by_lonlat: int = 0
    guessed: int = 0  # of those, given-as told from the digits only by a guess (lonlat)
    outside_grid: int = 0  # outside OSTN15's cover: placed by the fallback, kept
    largest_move_m: float = 0.0

    def line(self, where: str) -> str:
        if not self.versions:
            return f"{where}: every crime version already {OSTN15}: nothing to do"
        guess = (f", {self.guessed} of them told apart by a guess (taken as lat/lon)"
                 if self.guessed else "")
        return (f"{where}: {self.versions} crime version(s) placed again with {OSTN15} "
                f"({self.by_grid} given as easting/northing, {self.by_lonlat} as lat/lon"
                f"{guess}; {self.outside_grid} outside the cover); largest move "
                f"{self.largest_move_m:.2f} m; their hits are refreshed by the next nightly "
                "naming them or by `trailmatch rematch`")


def _legacy_inverse(x: np.ndarray, y: np.ndarray, crs: str) -> tuple[np.ndarray, np.ndarray]:
    """Easting/northing back from x/y that pyproj's best operation without the OSTN15 grid
    (Helmert) made from them in working CRS ``crs``."""
    if same_crs(crs, OSGB36_GRID):
        return x.copy(), y.copy()
    from pyproj import Transformer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = Transformer.from_crs(crs, OSGB36_GRID, always_xy=True)
    e, n = t.transform(x, y)
    return np.asarray(e, dtype=np.float64), np.asarray(n, dtype=np.float64)


def legacy_versions(engine: Engine) -> int:
    """How many crime versions were placed before OSTN15."""
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(crimes).where(
            crimes.c.transformation.is_(None) | (crimes.c.transformation != OSTN15)))
            .scalar_one())


def upgrade_crimes(engine: Engine) -> CrimesUpgrade:
    """Re-project every crime version placed before OSTN15 (see the module docstring)."""
    report = CrimesUpgrade()
    with engine.begin() as conn:
        rows = [dict(r._mapping) for r in conn.execute(select(crimes).where(
            crimes.c.transformation.is_(None) | (crimes.c.transformation != OSTN15))
            .order_by(crimes.c.id))]
        if not rows:
            return report
        updates = []
        for crs in sorted({r["crs"] for r in rows}):
            group = [r for r in rows if r["crs"] == crs]
            kinds = []
            for r in group:
                kind = r["located_by"]
                if kind not in ("grid", "lonlat"):
                    kind, guessed = located_by(r["x"], r["y"], r["lat"], r["lon"], crs)
                    report.guessed += guessed
                kinds.append(kind)
            grid = np.array([k == "grid" for k in kinds])
            x0 = np.array([r["x"] for r in group], dtype=np.float64)
            y0 = np.array([r["y"] for r in group], dtype=np.float64)
            lat = np.array([r["lat"] for r in group], dtype=np.float64)
            lon = np.array([r["lon"] for r in group], dtype=np.float64)
            x, y = x0.copy(), y0.copy()
            outside = np.zeros(len(group), dtype=bool)
            ll = ~grid
            if ll.any():
                x[ll], y[ll], outside[ll] = project_flagged(lon[ll], lat[ll], WGS84, crs)
            if grid.any():
                e, n = _legacy_inverse(x0[grid], y0[grid], crs)
                x[grid], y[grid] = project(e, n, OSGB36_GRID, crs)
                lon[grid], lat[grid], outside[grid] = project_flagged(x[grid], y[grid], crs,
                                                                      WGS84)
            move = np.hypot(x - x0, y - y0)
            if grid.any():  # the grid reference did not move; its lat/lon (maps) did
                ox, oy = lonlat_to_working(np.array([r["lon"] for r in group])[grid],
                                           np.array([r["lat"] for r in group])[grid], crs)
                move[grid] = np.hypot(ox - x[grid], oy - y[grid])
            for i, r in enumerate(group):
                new = {**r, "lat": float(lat[i]), "lon": float(lon[i])}
                updates.append({
                    "b_id": r["id"], "b_x": float(x[i]), "b_y": float(y[i]),
                    "b_lat": new["lat"], "b_lon": new["lon"],
                    "b_digest": crime_content_digest(new), "b_located_by": kinds[i],
                    "b_matched_rules": None if not r["superseded"] else r["matched_rules"]})
            report.by_grid += int(grid.sum())
            report.by_lonlat += int(ll.sum())
            report.outside_grid += int(outside.sum())
            finite = move[np.isfinite(move)]
            if finite.size:
                report.largest_move_m = max(report.largest_move_m, float(finite.max()))
        conn.execute(update(crimes).where(crimes.c.id == bindparam("b_id")).values(
            x=bindparam("b_x"), y=bindparam("b_y"), lat=bindparam("b_lat"),
            lon=bindparam("b_lon"), content_sha256=bindparam("b_digest"),
            located_by=bindparam("b_located_by"), matched_rules=bindparam("b_matched_rules"),
            transformation=OSTN15), updates)
        report.versions = len(rows)
    return report
