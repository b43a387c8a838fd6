"""Closed forms of the vicinity contract for one piece of a subject's path.

A joined segment runs from fix 0 at time t0 to fix 1 at t1 (0 < t1 - t0 <= max gap). With
``s = (τ - t0) / (t1 - t0)`` in [0, 1] the position is ``p(s) = p0 + s·V`` and the precision
``ρ(s) = r0 + s·Δr``. With ``D0 = p0 − c`` and ``A = R + r0`` the subject is in the vicinity when

    |D0 + s·V| <= A + s·Δr
    ⇔ (V·V − Δr²)·s² + 2(D0·V − A·Δr)·s + (D0·D0 − A²) <= 0         (both sides are >= 0)

``|D0 + sV| − (A + sΔr)`` is convex in s, so the solution set on [0, 1] is one interval; the
quadratic gives its ends exactly (stable root formula, no sampling). The closest approach is
the minimum of the convex ``|D0 + sV|²`` on the part of the segment inside the window:
``s* = −D0·V / V·V`` clipped to it.

All times here are float seconds relative to the crime's widened window start, so every
(crime, subject) pair is evaluated identically whatever else is in the batch or partition.

Below the closed forms: the primitives every kernel shares (the streamed match in ``sweep``,
the persisted index's ``query``), so that all of them decide alike: the box pre-test, "is this
segment / this isolated fix ever in the vicinity inside the window", the sorted-time search and
the source bits a fix contributes to a hit.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from trailmatch.trails import SOURCE_BITS


@nb.njit(cache=True, inline="always")
def quadratic_interval(qa, qb, qc, lo, hi):
    """The set {s in [lo, hi] : qa·s² + qb·s + qc <= 0}, known to be one interval.

    Returns (found, start, end).
    """
    if qa == 0.0:
        if qb == 0.0:
            if qc <= 0.0:
                return True, lo, hi
            return False, lo, hi
        root = -qc / qb
        if qb > 0.0:
            a, b = lo, min(hi, root)
        else:
            a, b = max(lo, root), hi
        return a <= b, a, b
    disc = qb * qb - 4.0 * qa * qc
    if disc < 0.0:
        if qa > 0.0:
            return False, lo, hi
        return True, lo, hi
    sq = math.sqrt(disc)
    q = -0.5 * (qb + math.copysign(sq, qb))
    if q == 0.0:
        r1 = 0.0
        r2 = 0.0
    else:
        r1 = q / qa
        r2 = qc / q
    s1 = min(r1, r2)
    s2 = max(r1, r2)
    if qa > 0.0:
        a = max(lo, s1)
        b = min(hi, s2)
        return a <= b, a, b
    # qa < 0: the quadratic is <= 0 outside (s1, s2). Convexity of the true condition means at
    # most one side meets [lo, hi] (both only through round-off when s1 ≈ s2: take the hull).
    left = lo <= min(hi, s1)
    right = max(lo, s2) <= hi
    if left and right:
        return True, lo, hi
    if left:
        return True, lo, min(hi, s1)
    if right:
        return True, max(lo, s2), hi
    return False, lo, hi


@nb.njit(cache=True, inline="always")
def segment_vicinity_fractions(t0, x0, y0, r0, t1, x1, y1, r1, cx, cy, radius, wlen):
    """``segment_vicinity`` with the fractions of the segment (0 at fix 0, 1 at fix 1) too, for
    a walk that tells how a visit began and ended (``visits.py``). Returns (overlaps, found,
    s_in, s_out, sa, sb, in_start, in_end, s_min, min_dist, min_time): [sa, sb] the part of
    the segment inside the window, [s_in, s_out] (times [in_start, in_end]) the part in the
    vicinity, s_min (time min_time) its closest point."""
    a = max(t0, 0.0)
    b = min(t1, wlen)
    if a > b:
        return False, False, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, math.inf, 0.0
    dt = t1 - t0
    sa = (a - t0) / dt
    sb = (b - t0) / dt
    dx = x0 - cx
    dy = y0 - cy
    vx = x1 - x0
    vy = y1 - y0
    dr = r1 - r0
    big_a = radius + r0
    vv = vx * vx + vy * vy
    dv = dx * vx + dy * vy
    found, s_in, s_out = quadratic_interval(vv - dr * dr, 2.0 * (dv - big_a * dr),
                                            dx * dx + dy * dy - big_a * big_a, sa, sb)
    if vv > 0.0:
        s_min = min(max(-dv / vv, sa), sb)
    else:
        s_min = sa
    ex = dx + s_min * vx
    ey = dy + s_min * vy
    return (True, found, s_in, s_out, sa, sb, t0 + s_in * dt, t0 + s_out * dt, s_min,
            math.sqrt(ex * ex + ey * ey), t0 + s_min * dt)


@nb.njit(cache=True)
def segment_vicinity(t0, x0, y0, r0, t1, x1, y1, r1, cx, cy, radius, wlen):
    """One joined segment against one crime (times relative to the window start, window [0, wlen]).

    Returns (overlaps, found, in_start, in_end, min_dist, min_time):
      overlaps  the segment meets the window at all (else nothing else is meaningful);
      found     some instant of it inside the window is in the vicinity, during [in_start, in_end];
      min_dist  closest approach on the part inside the window, at time min_time.
    r0/r1 are the precision radii to count (0 when not counted).
    """
    overlaps, found, _, _, _, _, in_start, in_end, _, min_dist, min_time = \
        segment_vicinity_fractions(t0, x0, y0, r0, t1, x1, y1, r1, cx, cy, radius, wlen)
    return overlaps, found, in_start, in_end, min_dist, min_time


@nb.njit(cache=True, inline="always")
def point_distance(x, y, cx, cy):
    dx = x - cx
    dy = y - cy
    return math.sqrt(dx * dx + dy * dy)


# ----------------------------------------------------------------------------- primitives

NS = 1e-9
# tag-store source code -> the bit a hit ORs into its set of sources
SOURCE_BIT_LUT = np.zeros(256, dtype=np.int64)
for _code, _bit in SOURCE_BITS.items():
    SOURCE_BIT_LUT[_code] = _bit


@nb.njit(cache=True, inline="always")
def box_distance2(xa, ya, xb, yb, cx, cy):
    """Squared distance from (cx, cy) to the bounding box of two points: a lower bound of the
    squared distance to the segment between them."""
    ddx = max(min(xa, xb) - cx, 0.0, cx - max(xa, xb))
    ddy = max(min(ya, yb) - cy, 0.0, cy - max(ya, yb))
    return ddx * ddx + ddy * ddy


# The tests below take a fix's values, not the trail's arrays and an index: a numba helper
# that takes arrays pays a reference-count increment and decrement per array per call, even
# inlined (measured: ten times the cost of the test itself in a loop over every fix), and with
# two threads on the same arrays those counters bounce between the cores.


@nb.njit(cache=True, inline="always")
def segment_box_may_hit(xa, ya, ra, xb, yb, rb, cx, cy, radius):
    """The box test both steps use before the exact closed form (same expression, so both
    steps decide alike): the segment from (xa, ya) to (xb, yb), precision radii ra and rb."""
    reach_max = radius + max(ra, rb)
    return box_distance2(xa, ya, xb, yb, cx, cy) <= reach_max * reach_max


@nb.njit(cache=True, inline="always")
def segment_near(ta, xa, ya, ra, tb, xb, yb, rb, w0, w1, wlen, cx, cy, radius):
    """Is the joined segment from fix a (instant, position, precision radius) to fix b ever in
    the vicinity inside the window? Same arithmetic and the same box pre-test as
    ``hit_fields``, so both make the same decision."""
    if tb < w0 or ta > w1:
        return False
    if not segment_box_may_hit(xa, ya, ra, xb, yb, rb, cx, cy, radius):
        return False
    ov, found, _, _, _, _ = segment_vicinity(
        np.float64(ta - w0) * NS, xa, ya, ra, np.float64(tb - w0) * NS, xb, yb, rb,
        cx, cy, radius, wlen)
    return ov and found


@nb.njit(cache=True, inline="always")
def fix_near(ta, xa, ya, ra, w0, w1, cx, cy, radius):
    """Is an isolated fix (instant, position, precision radius) inside the window and in the
    vicinity?"""
    if ta < w0 or ta > w1:
        return False
    return point_distance(xa, ya, cx, cy) <= radius + ra


@nb.njit(cache=True, inline="always")
def linked(dt, max_gap_ns):
    """Two consecutive fixes of one subject, ``dt`` ns apart, are joined by a segment.

    Hot loops that already know they are inside one subject's fixes use this rather than
    ``segments.joined``: a numba helper that takes arrays pays a reference-count increment and
    decrement per array per call, which numba does not always prune once inlined; in a plain
    loop over every fix that cost ten times the test itself (74 vs 7.6 ms over 7.2 M fixes,
    one core). Inside a ``prange`` body it was pruned (``_chunk_boxes`` keeps ``joined``;
    measured in a block-box pass, 15.2 ms against 21.8 ms on values)."""
    return dt > 0 and dt <= max_gap_ns


@nb.njit(cache=True, inline="always")
def piece_end(m, joined_before, joined_after):
    """The piece rule: which piece of the path starts at fix m, given whether m is joined to
    the fix before it and to the fix after it (``linked``). Every kernel walks the path by this
    rule, so each instant of the path is counted once:

    - joined to the next fix: the segment from m to m + 1 (returns m + 1);
    - else joined to the fix before: none (returns -1): m ends a segment, which covers it;
    - else an isolated fix: m alone (returns m)."""
    if joined_after:
        return m + 1
    if joined_before:
        return -1
    return m


@nb.njit(cache=True)
def first_at_or_after(t, lo, hi, value):
    """The first index in [lo, hi) whose value in the sorted ``t`` is >= ``value`` (hi if
    none)."""
    while lo < hi:
        mid = (lo + hi) // 2
        if t[mid] < value:
            lo = mid + 1
        else:
            hi = mid
    return lo
