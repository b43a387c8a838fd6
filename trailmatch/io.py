"""Generic crimes in: crimes from a CSV/Parquet with named columns (the hits CSV is
``trailmatch.hits``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from trailmatch.crs import OSGB36_GRID, WGS84, project_flagged

GENERIC_CRIME_COLUMNS = ("crime_reference", "police_force", "crime_type", "time_from", "time_to")


def read_generic_crimes(path: Path, crs: str = "EPSG:27700") -> pd.DataFrame:
    """Crimes from a CSV/Parquet with named columns: crime_reference, police_force,
    crime_type, time_from, time_to (ISO 8601; no offset = UTC) and a location as ``x``/``y``
    (in the column ``crs`` if present, else the working CRS), ``easting``/``northing``
    (British National Grid) or ``latitude``/``longitude`` (WGS84)."""
    path = Path(path)
    frame = (pd.read_parquet(path) if path.suffix.lower() in (".parquet", ".pq")
             else pd.read_csv(path, dtype={"crime_reference": str}))
    missing = [c for c in GENERIC_CRIME_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"missing column(s) {missing}")
    out = frame.copy()
    for c in ("time_from", "time_to"):
        try:
            out[c] = pd.to_datetime(out[c], utc=True, format="ISO8601")
        except (ValueError, TypeError) as e:
            raise ValueError(f"column {c}: {e}") from e
    if {"x", "y"} <= set(frame.columns):
        src = str(frame["crs"].iloc[0]) if "crs" in frame.columns and len(frame) else crs
        a, b = frame["x"], frame["y"]
    elif {"easting", "northing"} <= set(frame.columns):
        src, a, b = OSGB36_GRID, frame["easting"], frame["northing"]
    elif {"latitude", "longitude"} <= set(frame.columns):
        src, a, b = WGS84, frame["longitude"], frame["latitude"]
    else:
        raise ValueError("no location columns: need x/y, easting/northing or latitude/longitude")
    out["x"], out["y"], outside = project_flagged(a, b, src, crs)
    bad = ~(np.isfinite(out["x"].to_numpy(float)) & np.isfinite(out["y"].to_numpy(float)))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"row {i + 1}: no usable location")
    if outside.any():
        i = int(np.flatnonzero(outside)[0])
        raise ValueError(f"row {i + 1}: location {a.iloc[i]}, {b.iloc[i]} is outside OSTN15's "
                         "cover (outside_grid): it cannot be placed on the grid")
    return out


__all__ = ["read_generic_crimes"]
