"""What an input value may be before it is believed: the one place that sets the plausible
time range, the precision ceiling and the range of a place (``PLACE_RANGES``).

Settings (environment, read when a file is read, so a site sets them once for every verb):

- ``TRAILMATCH_EARLIEST`` / ``TRAILMATCH_LATEST``: the plausible instants, ISO dates or times,
  UTC; default 2000-01-01 (inclusive) to 2100-01-01 (exclusive). A fix or crime time outside
  is rejected ``out_of_range``: a year 1900 or 9999 is a typing or export error, and years past
  2262 do not fit the nanosecond clock at all (they would wrap round to 1816).
- ``TRAILMATCH_MAX_PRECISION_M``: the largest believable precision radius, metres (default
  5,000). A fix claiming more is stored, flagged ``implausible_precision`` and left out of
  matching: counted, a 1,000 km circle would put its subject "in the vicinity" of every crime.

Ids (fixed): a subject id, device id or crime reference holding a character nobody types
(``UNREADABLE_ID``: an undecodable byte, read as U+FFFD; a C0 or C1 control such as NUL, tab or
escape; an invisible format character such as a zero-width space, a direction override or a
byte-order mark) is rejected ``invalid_encoding``: stored, it would be an id nobody typed, or
one that looks like another (07, a zero-width space, 011 shows as 07011).

Places (fixed, not settings): ``PLACE_RANGES``, inclusive, for a crime's location and an
ad-hoc query's place. Eastings/northings: the British National Grid's own extent, 0-700 km
east by 0-1,300 km north (its 100 km squares). England reaches 655.6 km east at Lowestoft Ness
(Margate 639.8 km, Great Yarmouth 652.7 km), so the 600 km the crime batch format once named
rejected real crimes in east Kent, Norfolk and Suffolk. Latitude/longitude: a box around
Britain (49.5-61.5 N, 8.5 W-2.6 E). A place inside these ranges may still be outside OSTN15's
cover (sea, France): that is ``trailmatch.crs``'s ``outside_grid``, not a range.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

EARLIEST_VAR = "TRAILMATCH_EARLIEST"
LATEST_VAR = "TRAILMATCH_LATEST"
MAX_PRECISION_VAR = "TRAILMATCH_MAX_PRECISION_M"
DEFAULT_EARLIEST = "2000-01-01"
DEFAULT_LATEST = "2100-01-01"
DEFAULT_MAX_PRECISION_M = 5_000.0
# Code points no id is typed with (see the module docstring), as inclusive ranges.
_UNREADABLE_RANGES = ((0x00, 0x1F), (0x7F, 0x9F), (0x200B, 0x200F), (0x202A, 0x202E),
                      (0x2060, 0x2064), (0xFEFF, 0xFEFF), (0xFFFD, 0xFFFD))
# The same character class for Python's re and for RE2 (pyarrow.compute).
UNREADABLE_ID = "[" + "".join(f"{chr(a)}-{chr(b)}" for a, b in _UNREADABLE_RANGES) + "]"
UNREADABLE_ID_RE2 = "[" + "".join(f"\\x{{{a:x}}}-\\x{{{b:x}}}"
                                  for a, b in _UNREADABLE_RANGES) + "]"
# Inclusive ranges of a place (see the module docstring): the one definition, used by the crime
# batch reader and the service's proximity query.
PLACE_RANGES: dict[str, tuple[float, float]] = {
    "easting": (0.0, 700_000.0),
    "northing": (0.0, 1_300_000.0),
    "latitude": (49.5, 61.5),
    "longitude": (-8.5, 2.6),
}


@dataclass(frozen=True)
class Plausible:
    earliest_ns: int  # inclusive, UTC nanoseconds
    latest_ns: int  # exclusive
    max_precision_m: float

    @property
    def years(self) -> tuple[int, int]:
        """The calendar years a plausible instant can fall in (for a cheap test of the
        written year before a time is converted: a year past 2262 cannot be converted)."""
        return (pd.Timestamp(self.earliest_ns, tz="UTC").year,
                pd.Timestamp(self.latest_ns - 1, tz="UTC").year)

    def time_out_of_range(self, ns: np.ndarray, missing: int) -> np.ndarray:
        """True where an int64 UTC-ns time (``missing`` = no time) is outside the range."""
        ns = np.asarray(ns, dtype=np.int64)
        return (ns != missing) & ((ns < self.earliest_ns) | (ns >= self.latest_ns))

    def describe(self) -> str:
        lo, hi = (pd.Timestamp(v, tz="UTC") for v in (self.earliest_ns, self.latest_ns))
        return f"{lo:%Y-%m-%d} to {hi:%Y-%m-%d} (exclusive)"


def _instant(name: str, default: str) -> int:
    text = os.environ.get(name, "").strip() or default
    try:
        ts = pd.Timestamp(text)
    except (ValueError, OverflowError) as e:
        raise ValueError(f"${name}={text!r} is not an ISO date or time: {e}") from None
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return int(ts.value)


def plausible() -> Plausible:
    """The settings now in force (see the module docstring)."""
    earliest = _instant(EARLIEST_VAR, DEFAULT_EARLIEST)
    latest = _instant(LATEST_VAR, DEFAULT_LATEST)
    if latest <= earliest:
        raise ValueError(f"${LATEST_VAR} must be after ${EARLIEST_VAR}")
    text = os.environ.get(MAX_PRECISION_VAR, "").strip()
    try:
        ceiling = float(text) if text else DEFAULT_MAX_PRECISION_M
    except ValueError:
        raise ValueError(f"${MAX_PRECISION_VAR}={text!r} is not a number") from None
    if not np.isfinite(ceiling) or ceiling <= 0:
        raise ValueError(f"${MAX_PRECISION_VAR} must be a number above 0")
    return Plausible(earliest, latest, ceiling)


def written_year_out_of_range(texts, years: tuple[int, int]) -> np.ndarray:
    """True where a time written as text starts with a four-digit year (ISO 8601,
    ``yyyyMMddHHmmss``) more than a year outside ``years``: such a text is rejected before it
    is converted (the year of slack lets an offset carry a time across New Year; the converted
    instant is checked exactly afterwards)."""
    s = pd.Series(texts, dtype=object).astype(str)
    year = pd.to_numeric(s.str.extract(r"^\s*(\d{4})", expand=False), errors="coerce")
    lo, hi = years
    return ((year < lo - 1) | (year > hi + 1)).fillna(False).to_numpy(dtype=bool)
