"""Synthetic trails and crimes at national scale, for benchmarks and scale tests.

Subjects random-walk (a correlated walk with walking-to-cycling speeds) over a square, one
fix every ``interval_s`` seconds; precision is GPS-like with occasional WiFi and LBS fixes.
Crimes fall uniformly over the square and the days, with windows of 0 to 12 hours. Fixed
seeds give the same data everywhere. Everything is built with vectorised numpy.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from trailmatch.units import DAY_NS


def trails(n_subjects: int = 5000, fixes_per_day: int = 1440, days: int = 1,
           extent_m: float = 60_000.0, origin: tuple[float, float] = (400_000.0, 100_000.0),
           start: str = "2025-01-20", seed: int = 0) -> pd.DataFrame:
    """Fixes sorted by subject and time; ``subject`` is categorical (like a store read)."""
    rng = np.random.default_rng(seed)
    n_steps = fixes_per_day * days
    interval_ns = DAY_NS // fixes_per_day
    speed = rng.lognormal(mean=0.3, sigma=0.6, size=(n_subjects, 1))  # m/s per subject
    heading = np.cumsum(rng.normal(0.0, 0.5, size=(n_subjects, n_steps)), axis=1)
    heading += rng.uniform(0, 2 * np.pi, size=(n_subjects, 1))
    step = speed * (interval_ns / 1e9) * rng.uniform(0.0, 1.2, size=(n_subjects, n_steps))
    x = rng.uniform(0, extent_m, size=(n_subjects, 1)) + np.cumsum(step * np.cos(heading), axis=1)
    y = rng.uniform(0, extent_m, size=(n_subjects, 1)) + np.cumsum(step * np.sin(heading), axis=1)
    # fold the walk back into the square (reflection keeps it continuous)
    x = extent_m - np.abs(extent_m - np.mod(x, 2 * extent_m))
    y = extent_m - np.abs(extent_m - np.mod(y, 2 * extent_m))
    t0 = pd.Timestamp(start, tz="UTC").value
    jitter = rng.integers(0, 20 * 10**9, size=(n_subjects, n_steps))
    t = t0 + np.arange(n_steps, dtype=np.int64)[None, :] * interval_ns + jitter
    src = rng.choice(np.array([1, 6, 5], dtype=np.uint8), p=[0.97, 0.02, 0.01],
                     size=(n_subjects, n_steps))
    prec = np.where(src == 1, rng.uniform(3, 30, size=src.shape),
                    np.where(src == 6, rng.uniform(30, 100, size=src.shape),
                             rng.uniform(200, 1500, size=src.shape)))
    names = np.array([f"S{i:06d}" for i in range(n_subjects)])
    codes = np.repeat(np.arange(n_subjects, dtype=np.int32), n_steps)
    return pd.DataFrame({
        "subject": pd.Categorical.from_codes(codes, categories=names),
        "time": pd.to_datetime(t.ravel(), unit="ns", utc=True),
        "x": (x + origin[0]).ravel(),
        "y": (y + origin[1]).ravel(),
        "precision_m": prec.ravel(),
        "source": src.ravel(),
    })


def crimes(n_crimes: int = 20_000, days: int = 1, extent_m: float = 60_000.0,
           origin: tuple[float, float] = (400_000.0, 100_000.0), start: str = "2025-01-20",
           max_window_h: float = 12.0, forces: tuple[str, ...] = ("Hampshire",),
           seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t0 = pd.Timestamp(start, tz="UTC").value
    length = (rng.uniform(0, max_window_h * 3600, size=n_crimes) * 1e9).astype(np.int64)
    begin = t0 + (rng.uniform(0, 1, size=n_crimes) * (days * DAY_NS - length)).astype(np.int64)
    force = np.asarray(forces)[rng.integers(0, len(forces), size=n_crimes)]
    return pd.DataFrame({
        "crime_reference": [f"99/{i}/25" for i in range(n_crimes)],
        "police_force": force,
        "crime_type": rng.choice(["RB", "BIAD", "TFP", "TOMV", "TFMV"], size=n_crimes),
        "x": rng.uniform(0, extent_m, size=n_crimes) + origin[0],
        "y": rng.uniform(0, extent_m, size=n_crimes) + origin[1],
        "time_from": pd.to_datetime(begin, unit="ns", utc=True),
        "time_to": pd.to_datetime(begin + length, unit="ns", utc=True),
    })
