"""The evidence behind one hit: the subject's path through the crime window, fix by fix.

What an officer needs to check a hit by eye, computed from the same trail the match used:

- the path: every fix inside the (widened) window ``W``, plus the last fix before and the first
  after it, so the map shows how the subject entered and left. Consecutive fixes are *joined*
  (drawn as a line) only when ``0 < t[i+1] - t[i] <= max_gap``, exactly as the vicinity
  contract joins them; a longer interval is a coverage gap and is drawn as none.
- per fix: sequence number along the path, time, WGS84 lat/lon, precision, speed from the
  previous fix (straight-line distance / time, km/h), source, distance to the crime, and whether
  it is *in the vicinity*: inside ``W`` and ``|p - c| <= R + rho`` (rho = its precision when
  precision counts, else 0) - the fixes that ``fixes_in`` counts.
- the closest approach: the point of the path at the hit's ``closest_time`` (linear
  interpolation between the two joined fixes around it).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from trailmatch.crs import working_to_lonlat
from trailmatch.rules import Rules
from trailmatch.trails import SOURCE_NAMES, Trail, ns_to_datetime

PATH_COLUMNS = ["seq", "time", "x", "y", "lat", "lon", "precision_m", "source", "speed_kmh",
                "distance_m", "in_window", "in_vicinity", "joined_to_previous"]


@dataclass
class Evidence:
    """One hit's path and closest approach, in working CRS and WGS84.

    ``arrays`` holds the path as numpy arrays named as ``PATH_COLUMNS`` (``time`` as int64 ns):
    what the maps and tables read; ``path`` is the same as a DataFrame."""

    subject: str
    arrays: dict
    closest_time: pd.Timestamp
    closest_xy: tuple[float, float]
    closest_lonlat: tuple[float, float]

    @property
    def n(self) -> int:
        return int(self.arrays["seq"].size)

    @cached_property
    def path(self) -> pd.DataFrame:
        frame = pd.DataFrame(self.arrays, columns=PATH_COLUMNS)
        frame["time"] = ns_to_datetime(self.arrays["time"])
        return frame

    @cached_property
    def fixes_in(self) -> pd.DataFrame:
        return self.path[self.arrays["in_vicinity"]].reset_index(drop=True)

    @cached_property
    def fixes_in_arrays(self) -> dict:
        mask = self.arrays["in_vicinity"]
        return {k: v[mask] for k, v in self.arrays.items()}


def window_ns(time_from, time_to, rules: Rules) -> tuple[int, int]:
    """The crime window widened by the buffers, as int64 ns."""
    w0 = pd.Timestamp(time_from).value - rules.buffer_before_ns
    w1 = pd.Timestamp(time_to).value + rules.buffer_after_ns
    return w0, w1


def path_evidence(subject: str, t: np.ndarray, x: np.ndarray, y: np.ndarray,
                  precision: np.ndarray, source: np.ndarray, crime_x: float, crime_y: float,
                  w0: int, w1: int, closest_time, rules: Rules) -> Evidence:
    """Evidence from one subject's fixes (sorted by time, int64 ns, metres in ``rules.crs``)."""
    lo = max(int(np.searchsorted(t, w0, side="left")) - 1, 0)
    hi = min(int(np.searchsorted(t, w1, side="right")) + 1, t.size)
    ts, xs, ys = t[lo:hi], x[lo:hi], y[lo:hi]
    prec = np.asarray(precision[lo:hi], dtype=np.float64)
    dt_s = np.diff(ts) / 1e9
    joined = np.concatenate([[False], (dt_s > 0) & (dt_s <= rules.max_gap_s)])
    step = np.hypot(np.diff(xs), np.diff(ys))
    with np.errstate(divide="ignore", invalid="ignore"):
        speed = np.concatenate([[np.nan], np.where(dt_s > 0, step / dt_s * 3.6, np.nan)])
    dist = np.hypot(xs - crime_x, ys - crime_y)
    in_window = (ts >= w0) & (ts <= w1)
    rho = np.where(np.isfinite(prec), prec, 0.0) if rules.count_precision else 0.0
    in_vicinity = in_window & (dist <= rules.radius_m + rho)
    lon, lat = working_to_lonlat(xs, ys, rules.crs) if ts.size else (np.array([]), np.array([]))
    arrays = {
        "seq": np.arange(1, ts.size + 1),
        "time": np.asarray(ts, dtype=np.int64),
        "x": np.asarray(xs, dtype=np.float64), "y": np.asarray(ys, dtype=np.float64),
        "lat": np.asarray(lat, dtype=np.float64), "lon": np.asarray(lon, dtype=np.float64),
        "precision_m": prec,
        "source": np.array([SOURCE_NAMES.get(int(s), "unknown") for s in source[lo:hi]],
                           dtype=object),
        "speed_kmh": speed, "distance_m": dist, "in_window": in_window,
        "in_vicinity": np.asarray(in_vicinity, dtype=bool), "joined_to_previous": joined,
    }
    tc = pd.Timestamp(closest_time).value
    k = int(np.searchsorted(ts, tc, side="right"))  # first fix after the closest instant
    if k == 0 or ts.size == 0:
        cx, cy = (float(xs[0]), float(ys[0])) if ts.size else (np.nan, np.nan)
    elif k < ts.size and joined[k]:
        f = (tc - ts[k - 1]) / (ts[k] - ts[k - 1])
        cx = float(xs[k - 1] + f * (xs[k] - xs[k - 1]))
        cy = float(ys[k - 1] + f * (ys[k] - ys[k - 1]))
    else:
        cx, cy = float(xs[k - 1]), float(ys[k - 1])
    clon, clat = working_to_lonlat(np.array([cx]), np.array([cy]), rules.crs)
    return Evidence(subject=subject, arrays=arrays, closest_time=pd.Timestamp(closest_time),
                    closest_xy=(cx, cy), closest_lonlat=(float(clon[0]), float(clat[0])))


def trail_evidence(trail: Trail, subject: str, crime_x: float, crime_y: float, time_from,
                   time_to, closest_time, rules: Rules, *, codes: dict | None = None) -> Evidence:
    """``path_evidence`` for a subject of a prepared ``Trail`` (``codes``: subject -> code,
    to avoid a search per call)."""
    if codes is None:
        codes = {s: i for i, s in enumerate(trail.subjects.tolist())}
    s = codes[subject]
    a, b = int(trail.starts[s]), int(trail.starts[s + 1])
    w0, w1 = window_ns(time_from, time_to, rules)
    return path_evidence(subject, trail.t[a:b], trail.x[a:b], trail.y[a:b],
                         trail.precision[a:b], trail.source[a:b], crime_x, crime_y, w0, w1,
                         closest_time, rules)
