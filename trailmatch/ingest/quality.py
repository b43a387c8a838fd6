"""Fix quality: which stored fixes are flagged, and which of several fixes at one instant is kept.

Flagged fixes are stored (nothing is lost). Fixes flagged for these three are left out of
matching unless asked for:

- ``precision_zero``: a precision of exactly 0 m. No real fix is that sure; the tag data store
  writes 0 when it has no estimate, so the circle cannot be trusted.
- ``impossible_jump``: the subject would have had to move faster than ``max_speed_kmh``
  (default 200 km/h) both to reach the fix from the previous one and to leave it for the next
  one. With fixes ``i-1, i, i+1`` of one subject (sorted by time), ``v_in = |p_i - p_{i-1}| /
  (t_i - t_{i-1})`` and ``v_out = |p_{i+1} - p_i| / (t_{i+1} - t_i)``; the fix is flagged when
  ``v_in > v_max`` and ``v_out > v_max``. Needing both keeps a genuine fast stretch (one fast
  leg) and blames the single outlying fix of a multipath spike, not its good neighbours. The
  first and last fix of a subject in a day partition have one neighbour only and are never
  flagged for a jump (the check stays within the partition, so the result does not depend on
  the order in which days were ingested).

- ``implausible_precision``: a precision radius above the plausibility ceiling
  (``trailmatch.ingest.plausible``, default 5,000 m). Counted, a 1,000 km circle would put the
  subject in the vicinity of every crime.

One flag only informs: ``outside_grid``, a fix outside OSTN15's cover (abroad, offshore),
placed on the grid by the fallback (``trailmatch.crs``). It still takes part in matching and
elimination: a fix in Denmark is evidence that the subject was not in Southampton. It is a
fact of the fix's projection, carried with the fix (``carried``), not recomputed.
"""

from __future__ import annotations

import numba as nb
import numpy as np

PRECISION_ZERO = np.uint8(1)
IMPOSSIBLE_JUMP = np.uint8(2)
OUTSIDE_GRID = np.uint8(4)
IMPLAUSIBLE_PRECISION = np.uint8(8)
FLAG_NAMES = {1: "precision_zero", 2: "impossible_jump", 4: "outside_grid",
              8: "implausible_precision"}
ALL_FLAGS = 15
# the bits that leave a fix out of matching
EXCLUDING = PRECISION_ZERO | IMPOSSIBLE_JUMP | IMPLAUSIBLE_PRECISION
# ``flagged`` texts of fixes that still count in matching (only informational flags)
COUNTED_FLAG_TEXTS = ("outside_grid",)
DEFAULT_MAX_SPEED_KMH = 200.0


@nb.njit(cache=True)
def _jump_flags(code, t, x, y, v_max_mps):
    n = code.size
    out = np.zeros(n, dtype=np.uint8)
    for i in range(1, n - 1):
        if code[i - 1] != code[i] or code[i + 1] != code[i]:
            continue
        dt_in = (t[i] - t[i - 1]) * 1e-9
        dt_out = (t[i + 1] - t[i]) * 1e-9
        d_in = np.hypot(x[i] - x[i - 1], y[i] - y[i - 1])
        d_out = np.hypot(x[i + 1] - x[i], y[i + 1] - y[i])
        # d > v * dt rather than d / dt > v: no division, and dt == 0 cannot occur (one fix
        # per subject and instant) but would still compare sanely.
        if d_in > v_max_mps * dt_in and d_out > v_max_mps * dt_out:
            out[i] = 2
    return out


def quality_flags(code: np.ndarray, t: np.ndarray, x: np.ndarray, y: np.ndarray,
                  precision: np.ndarray,
                  max_speed_kmh: float = DEFAULT_MAX_SPEED_KMH,
                  max_precision_m: float | None = None) -> np.ndarray:
    """Flag bits per fix (1 precision_zero, 2 impossible_jump, 8 implausible_precision) for
    fixes sorted by (code, t) with one fix per (code, t). ``max_precision_m``: the ceiling,
    default the setting in force (``plausible``)."""
    if max_precision_m is None:
        from trailmatch.ingest.plausible import plausible
        max_precision_m = plausible().max_precision_m
    code = np.ascontiguousarray(code, dtype=np.int64)
    t = np.ascontiguousarray(t, dtype=np.int64)
    x = np.ascontiguousarray(x, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.float64)
    flags = _jump_flags(code, t, x, y, float(max_speed_kmh) / 3.6)
    precision = np.asarray(precision, dtype=np.float64)
    flags |= np.where(precision == 0.0, PRECISION_ZERO, np.uint8(0)).astype(np.uint8)
    with np.errstate(invalid="ignore"):
        flags |= np.where(precision > max_precision_m, IMPLAUSIBLE_PRECISION,
                          np.uint8(0)).astype(np.uint8)
    return flags


def flag_words() -> list[str | None]:
    """The ``flagged`` text of every combination of flag bits (index = bits): the names of
    the set bits in bit order joined by ';', None for none."""
    return [";".join(FLAG_NAMES[b] for b in sorted(FLAG_NAMES) if bits & b) or None
            for bits in range(ALL_FLAGS + 1)]


def flag_text(flags: np.ndarray) -> np.ndarray:
    """'precision_zero', 'impossible_jump', 'outside_grid', several joined by ';' (in that
    order), or None for an unflagged fix."""
    return np.array(flag_words(), dtype=object)[np.asarray(flags, dtype=np.int64) & ALL_FLAGS]


def carried(flagged_text: np.ndarray) -> np.ndarray:
    """The bits a stored fix carries rather than recomputes (``OUTSIDE_GRID``), from its
    ``flagged`` text."""
    out = np.zeros(len(flagged_text), dtype=np.uint8)
    for i, words in enumerate(flag_words()):
        if words is not None and i & OUTSIDE_GRID:
            out[flagged_text == words] = OUTSIDE_GRID
    return out
