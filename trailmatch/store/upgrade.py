"""The one-off upgrade of stores made before OSTN15 (``transformation``: the record).

``store.json`` records ``"transformation": "OSTN15"`` (``trailmatch.crs``) from the first
ingest on. A store without the record was made before OSTN15: its fixes (and the crimes kept
beside them) hold x/y from pyproj's Helmert, 0.1-5 m from where OSTN15 puts them. Every read
of fixes for matching (``partitions.read_fixes``, the persisted day indexes) and every write
checks the record (``check``) and refuses such a store with ``StoreNeedsUpgrade``, whose
message names the command that fixes it — so a match never mixes the two. ``upgrade`` (the
``trailmatch upgrade --store DIR`` verb) re-projects it once, from the latitude/longitude
each fix and crime kept:

- each day partition is re-projected and its flags recomputed (``outside_grid`` included),
  then replaced atomically (``partitions.write_day``);
- the crime versions such a store kept in its folder (``LEGACY_CRIMES``, before crime versions
  moved to the hit store) get x/y again from their easting/northing or latitude/longitude;
- the record is written, then the day indexes are refreshed. A run stopped half-way leaves
  the store refused; running the command again finishes it (re-projecting from
  latitude/longitude is idempotent).

Fixes that came as x/y (a generic file with ``[coordinates] crs``) kept no latitude/longitude
and are left as they are: x/y in the working CRS itself needed no transformation.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa

from trailmatch.atomic import atomic_write
from trailmatch.crs import OSGB36_GRID, OSTN15, WGS84, project_flagged
from trailmatch.store.transformation import KEY, recorded

# Where a store made before crime versions moved to the hit store kept them (nothing reads it
# now; the upgrade still re-projects it so that the folder stays consistent).
LEGACY_CRIMES = Path("crimes") / "crimes.parquet"

@dataclass
class UpgradeReport:
    found: str | None  # the transformation the store had (None: no store.json, nothing to do)
    days: list[date] = field(default_factory=list)
    fixes: int = 0  # fixes re-projected (those with latitude/longitude)
    fixes_kept: int = 0  # fixes that came as x/y, left as they were
    outside_grid: int = 0  # re-projected fixes outside OSTN15's cover
    crimes: int = 0
    crimes_outside_grid: int = 0  # kept, placed by the fallback; new batches would reject them
    largest_move_m: float = 0.0

    def line(self, root) -> str:
        if self.found is None:
            return f"{root}: not a trail store (no store.json): nothing to upgrade"
        if self.found == OSTN15 and not self.days:
            return f"{root}: already {OSTN15}: nothing to do"
        return (f"{root}: {self.found} -> {OSTN15}: {self.fixes} fix(es) re-projected in "
                f"{len(self.days)} day partition(s) ({self.fixes_kept} given as x/y kept, "
                f"{self.outside_grid} outside OSTN15's cover), {self.crimes} crime version(s) "
                f"re-projected ({self.crimes_outside_grid} outside the cover); largest move "
                f"{self.largest_move_m:.2f} m")


def reproject_day(table: pa.Table, crs: str) -> tuple[pa.Table, dict]:
    """A stored day partition with x/y placed again from its latitude/longitude and its flags
    recomputed (rows stay in their order: subject, time)."""
    from trailmatch.ingest.quality import DEFAULT_MAX_SPEED_KMH, OUTSIDE_GRID, quality_flags
    from trailmatch.store.partitions import _col, _flag_column, _sorted_codes

    x = _col(table, "x", np.float64).copy()
    y = _col(table, "y", np.float64).copy()
    lat, lon = _col(table, "lat", np.float64), _col(table, "lon", np.float64)
    has = np.isfinite(lat) & np.isfinite(lon)
    outside = np.zeros(x.size, dtype=bool)
    x_old, y_old = x[has], y[has]
    if has.any():
        x[has], y[has], outside[has] = project_flagged(lon[has], lat[has], WGS84, crs)
    code, _ = _sorted_codes(table.column("subject"))
    flags = quality_flags(code, _col(table, "time", np.int64), x, y,
                          _col(table, "precision_m", np.float64), DEFAULT_MAX_SPEED_KMH)
    flags |= np.where(outside, OUTSIDE_GRID, 0).astype(np.uint8)
    for name, values in (("x", pa.array(x)), ("y", pa.array(y)),
                         ("flagged", _flag_column(flags))):
        table = table.set_column(table.schema.get_field_index(name), name, values)
    move = np.hypot(x[has] - x_old, y[has] - y_old)
    return table, {"fixes": int(has.sum()), "kept": int((~has).sum()),
                   "outside": int(outside.sum()),
                   "largest_move_m": float(move.max()) if move.size else 0.0}


def reproject_crimes(frame, crs: str):
    """Stored crime versions with x/y placed again from their easting/northing or
    latitude/longitude; returns (frame, versions outside OSTN15's cover, largest move m)."""
    frame = frame.copy()
    e, n = frame["easting"].to_numpy(float), frame["northing"].to_numpy(float)
    lat, lon = frame["latitude"].to_numpy(float), frame["longitude"].to_numpy(float)
    x, y = frame["x"].to_numpy(float).copy(), frame["y"].to_numpy(float).copy()
    x0, y0 = x.copy(), y.copy()
    outside = np.zeros(len(frame), dtype=bool)
    by_grid = np.isfinite(e) & np.isfinite(n)
    by_lonlat = ~by_grid & np.isfinite(lat) & np.isfinite(lon)
    for use, a, b, src in ((by_grid, e, n, OSGB36_GRID), (by_lonlat, lon, lat, WGS84)):
        if use.any():
            x[use], y[use], outside[use] = project_flagged(a[use], b[use], src, crs)
    frame["x"], frame["y"] = x, y
    move = np.hypot(x - x0, y - y0)
    move = move[np.isfinite(move)]
    return frame, int(outside.sum()), float(move.max()) if move.size else 0.0


def upgrade(root) -> UpgradeReport:
    """Re-project the store at ``root`` to OSTN15 (see the module docstring), under the
    store's writer lock. Nothing is done to a store that already records OSTN15."""
    import pyarrow.parquet as pq

    from trailmatch.atomic import atomic_write_parquet
    from trailmatch.store.partitions import write_day
    from trailmatch.store.store import Store, store_lock

    store = Store(root)
    layout = store.layout
    with store_lock(store.root):
        found = recorded(layout)
        report = UpgradeReport(found=found)
        if found is None or found == OSTN15:
            return report
        meta = json.loads(layout.meta.read_text())
        crs = meta["crs"]
        for day in store.days():
            table, got = reproject_day(pq.read_table(store.day_path(day)), crs)
            write_day(layout, day, table)  # the day indexes are refreshed once OSTN15 is recorded
            report.days.append(day)
            report.fixes += got["fixes"]
            report.fixes_kept += got["kept"]
            report.outside_grid += got["outside"]
            report.largest_move_m = max(report.largest_move_m, got["largest_move_m"])
        crimes_path = Path(store.root) / LEGACY_CRIMES
        if crimes_path.exists():
            crimes = pq.read_table(crimes_path)
            frame, out, move = reproject_crimes(crimes.to_pandas(), crs)
            atomic_write_parquet(pa.Table.from_pandas(frame, schema=crimes.schema,
                                                      preserve_index=False), crimes_path)
            report.crimes, report.crimes_outside_grid = len(frame), out
            report.largest_move_m = max(report.largest_move_m, move)
        meta[KEY] = OSTN15
        atomic_write(layout.meta, json.dumps(meta))
        for day in report.days:
            try:
                store.refresh_derived(day)
            except Exception as e:  # noqa: BLE001 - derived files: readers rebuild stale ones
                warnings.warn(f"{store.root}: index or summary of {day} not refreshed: {e}",
                              stacklevel=2)
    return report
