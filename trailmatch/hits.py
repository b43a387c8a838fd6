"""A hit's columns and the hits CSV, once: what ``match`` returns, ``trailmatch match --out``
writes and the nightly job hands each force (there with ``hit_id`` added)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import pandas as pd

from trailmatch.atomic import atomic_write

HIT_COLUMNS = [
    "crime_reference", "police_force", "crime_type", "subject", "min_distance_m",
    "closest_time", "first_in", "last_in", "duration_s", "fixes_in", "max_precision_m",
    "sources",
]
TIME_COLUMNS = ("closest_time", "first_in", "last_in")
ROUNDED_COLUMNS = ("min_distance_m", "duration_s")  # to the millimetre / millisecond


def iso_utc(values: pd.Series) -> pd.Series:
    """ISO 8601, microseconds, explicit UTC offset: 2025-01-25T00:49:10.000000+00:00."""
    s = pd.to_datetime(values, utc=True)
    return s.dt.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00").where(s.notna(), "")


def hits_for_csv(hits: pd.DataFrame, extra: Sequence[str] = ()) -> pd.DataFrame:
    """Text-ready copy: the columns of HIT_COLUMNS (then ``extra``) in that order, times ISO
    8601 UTC, distance and duration rounded to 3 decimals."""
    out = hits[[*HIT_COLUMNS, *extra]].copy()
    for c in TIME_COLUMNS:
        out[c] = iso_utc(out[c])
    for c in ROUNDED_COLUMNS:
        out[c] = out[c].round(3)
    return out


def hits_csv(hits: pd.DataFrame, extra: Sequence[str] = ()) -> str:
    """The hits CSV as text (``hits_for_csv``; ``\\n`` line ends)."""
    return hits_for_csv(hits, extra).to_csv(index=False, lineterminator="\n")


def write_hits_csv(hits: pd.DataFrame, path: str | os.PathLike,
                   extra: Sequence[str] = ()) -> None:
    """Write the hits CSV to ``path`` atomically."""
    atomic_write(path, hits_csv(hits, extra))
