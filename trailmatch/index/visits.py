"""Visits, gaps and the closest approach of hits: one walk along each hit's path (numba).

For a hit (a crime's widened window ``W = [w0, w1]``, a subject's fixes ``[lo, hi)`` sorted by
time) the walk covers the *path through the window*: every fix inside ``W`` plus the last fix
before it and the first after it, each only if it lies within max gap of ``W`` (a fix farther
out cannot be joined to anything inside, and reading only that margin keeps every caller's
answer the same, whatever else it has read). Along it, piece by piece, with the closed forms of
``trailmatch.index.vicinity`` (times as float seconds from ``w0``, the arithmetic of the hit
kernels, so a visit's ends are the hit's ``first_in`` / ``last_in`` to the nanosecond):

- **visits**: maximal stretches of time in the vicinity. Each joined segment (and isolated fix)
  gives at most one interval; intervals of consecutive pieces that meet at their shared fix are
  one visit. Per visit: entry, exit, dwell (the sum of its intervals, as ``duration_s`` sums
  them), how it began and ended (crossing the edge of the vicinity; the window opening or
  closing; the first or last fix of a joined run, i.e. next to a gap), the segment it entered
  and left on (its velocity), and its closest point (distance, instant, the precision counted
  there, and whether that instant is a fix);
- **gaps**: consecutive path fixes more than max gap apart whose interval meets ``W``
  (``t_a < w1`` and ``t_b > w0``), and the window's edges when no fix lies within max gap of
  them (the fix beyond is unknown here: index -1);
- the **closest approach** over the path inside ``W`` and the point where it happens.

Two passes over the hits (count, then fill) so the variable-length answers go into flat
arrays with offsets; both in parallel over hits.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from trailmatch.index.vicinity import NS, linked, piece_end, segment_vicinity_fractions

# How a visit began / ended.
CROSSED = 0  # through the edge of the vicinity, on a segment
WINDOW = 1  # the window opened (closed) with the subject already (still) there
RUN_END = 2  # at the first (last) fix of a joined run: a gap, or the path's end, lies beyond
ISOLATED = 3  # an isolated fix: no joined neighbour

# Merging tolerance for two pieces' intervals meeting at their shared fix (seconds): they are
# computed separately and may differ by round-off there.
TOUCH_S = 1e-6

VISIT_FIELDS = ("entry", "exit", "dwell_s", "entry_kind", "exit_kind", "entry_piece",
                "exit_piece", "closest_m", "closest", "closest_reach_m", "closest_at_fix")


@nb.njit(cache=True, inline="always")
def _nearest_in(s_lo, s_hi, x0, y0, x1, y1, cx, cy):
    """The fraction in [s_lo, s_hi] of a segment closest to c, and that distance."""
    dx = x0 - cx
    dy = y0 - cy
    vx = x1 - x0
    vy = y1 - y0
    vv = vx * vx + vy * vy
    s = s_lo
    if vv > 0.0:
        s = min(max(-(dx * vx + dy * vy) / vv, s_lo), s_hi)
    ex = dx + s * vx
    ey = dy + s * vy
    return s, math.sqrt(ex * ex + ey * ey)


@nb.njit(cache=True)
def path_range(t, lo, hi, w0, w1, max_gap_ns):
    """[p0, p1): the fixes inside [w0, w1] plus the one either side within max gap of it."""
    p0 = lo
    while p0 < hi and t[p0] < w0:  # callers pass short ranges; a bisection buys nothing here
        p0 += 1
    if p0 > lo and w0 - t[p0 - 1] <= max_gap_ns:
        p0 -= 1
    p1 = p0
    while p1 < hi and t[p1] <= w1:
        p1 += 1
    if p1 < hi and t[p1] - w1 <= max_gap_ns:
        p1 += 1
    return p0, p1


@nb.njit(cache=True)
def _walk(p0, p1, t, x, y, reach, cx, cy, w0, w1, radius, max_gap_ns, write, vout, vk, iout,
          gout, gk):
    """One hit's walk: returns (visits, gaps, closest distance, its time rel, x, y); with
    ``write`` also fills rows ``vk``.. of ``vout`` (float fields) / ``iout`` (int fields) and
    ``gk``.. of ``gout`` (fix index before, after)."""
    wlen = np.float64(w1 - w0) * NS
    best = math.inf
    best_t = 0.0
    best_x = math.nan
    best_y = math.nan
    nv = 0
    ng = 0
    open_ = False
    last_piece = -2
    last_end = 0.0
    last_reaches_next = False
    # edge gap before: no fix within max gap before the window, and the first one after w0
    if p1 > p0 and t[p0] > w0:
        if write:
            gout[gk, 0] = -1
            gout[gk, 1] = p0
        ng += 1
    for m in range(p0, p1):
        rel = np.float64(t[m] - w0) * NS
        nxt = m + 1 < p1 and linked(t[m + 1] - t[m], max_gap_ns)
        piece = piece_end(m, m > p0 and linked(t[m] - t[m - 1], max_gap_ns), nxt)
        if m + 1 < p1 and not nxt and t[m] < w1 and t[m + 1] > w0:
            if write:
                gout[gk + ng, 0] = m
                gout[gk + ng, 1] = m + 1
            ng += 1
        found = False
        piece_in = 0.0
        piece_out = 0.0
        k_in = CROSSED
        k_out = CROSSED
        c_s = 0.0
        c_d = math.inf
        c_rel = 0.0
        c_reach = 0.0
        c_fix = False
        reaches_next = False
        starts_here = False
        if piece > m:  # a segment
            rel1 = np.float64(t[m + 1] - w0) * NS
            ov, ok, s_in, s_out, sa, sb, a, b, s_min, dmin, tmin = segment_vicinity_fractions(
                rel, x[m], y[m], reach[m], rel1, x[m + 1], y[m + 1], reach[m + 1], cx, cy,
                radius, wlen)
            if ov:
                if dmin < best:
                    best = dmin
                    best_t = tmin
                    best_x = x[m] + s_min * (x[m + 1] - x[m])
                    best_y = y[m] + s_min * (y[m + 1] - y[m])
                if ok:
                    found = True
                    piece_in = a
                    piece_out = b
                    if s_in > sa:
                        k_in = CROSSED
                    elif rel < 0.0:
                        k_in = WINDOW
                    else:
                        k_in = RUN_END
                    if s_out < sb:
                        k_out = CROSSED
                    elif rel1 > wlen:
                        k_out = WINDOW
                    else:
                        k_out = RUN_END
                    starts_here = s_in == 0.0
                    reaches_next = s_out == 1.0
                    c_s, c_d = _nearest_in(s_in, s_out, x[m], y[m], x[m + 1], y[m + 1], cx, cy)
                    c_rel = rel + c_s * (rel1 - rel)
                    c_reach = reach[m] + c_s * (reach[m + 1] - reach[m])
                    c_fix = c_s == 0.0 or c_s == 1.0
        elif piece == m and rel >= 0.0 and rel <= wlen:  # an isolated fix
            dx = x[m] - cx
            dy = y[m] - cy
            d = math.sqrt(dx * dx + dy * dy)
            if d < best:
                best = d
                best_t = rel
                best_x = x[m]
                best_y = y[m]
            if d <= radius + reach[m]:
                found = True
                piece_in = rel
                piece_out = rel
                k_in = ISOLATED
                k_out = ISOLATED
                c_d = d
                c_rel = rel
                c_reach = reach[m]
                c_fix = True
        if not found:
            if open_:
                nv += 1
                open_ = False
            continue
        # one visit with the previous piece's interval when they meet at the shared fix
        if (open_ and last_piece == m - 1 and last_reaches_next and starts_here
                and abs(piece_in - last_end) <= TOUCH_S):
            r = vk + nv
            if write:
                vout[r, 1] = piece_out
                vout[r, 2] += piece_out - piece_in
                iout[r, 1] = k_out
                iout[r, 3] = m
                if c_d < vout[r, 3]:
                    vout[r, 3] = c_d
                    vout[r, 4] = c_rel
                    vout[r, 5] = c_reach
                    iout[r, 4] = c_fix
        else:
            if open_:
                nv += 1
            r = vk + nv
            if write:
                vout[r, 0] = piece_in
                vout[r, 1] = piece_out
                vout[r, 2] = piece_out - piece_in
                vout[r, 3] = c_d
                vout[r, 4] = c_rel
                vout[r, 5] = c_reach
                iout[r, 0] = k_in
                iout[r, 1] = k_out
                iout[r, 2] = m
                iout[r, 3] = m
                iout[r, 4] = c_fix
            open_ = True
        last_piece = m
        last_end = piece_out
        last_reaches_next = reaches_next
    if open_:
        nv += 1
    if p1 > p0 and t[p1 - 1] < w1:
        if write:
            gout[gk + ng, 0] = p1 - 1
            gout[gk + ng, 1] = -1
        ng += 1
    return nv, ng, best, best_t, best_x, best_y


@nb.njit(cache=True, inline="always")
def _count_one(k, lo, hi, t, x, y, reach, cx, cy, w0, w1, radius, max_gap_ns, p0, p1, nv, ng,
               closest):
    a, b = path_range(t, lo[k], hi[k], w0[k], w1[k], max_gap_ns)
    p0[k] = a
    p1[k] = b
    v, g, d, tr, bx, by = _walk(a, b, t, x, y, reach, cx[k], cy[k], w0[k], w1[k], radius,
                                max_gap_ns, False, np.empty((0, 6)), 0,
                                np.empty((0, 5), np.int64), np.empty((0, 2), np.int64), 0)
    nv[k] = v
    ng[k] = g
    closest[k, 0] = d
    closest[k, 1] = tr
    closest[k, 2] = bx
    closest[k, 3] = by


# A parallel and a serial entry point around one body (``_count_one``, ``_walk``): an
# officer's one hit wakes no threads; why not one function compiled twice: ``query.py``.
@nb.njit(cache=True, parallel=True)
def _count_parallel(lo, hi, t, x, y, reach, cx, cy, w0, w1, radius, max_gap_ns, p0, p1, nv, ng,
                    closest):
    for k in nb.prange(lo.size):
        _count_one(k, lo, hi, t, x, y, reach, cx, cy, w0, w1, radius, max_gap_ns, p0, p1, nv,
                   ng, closest)


@nb.njit(cache=True)
def _count_serial(lo, hi, t, x, y, reach, cx, cy, w0, w1, radius, max_gap_ns, p0, p1, nv, ng,
                  closest):
    for k in range(lo.size):
        _count_one(k, lo, hi, t, x, y, reach, cx, cy, w0, w1, radius, max_gap_ns, p0, p1, nv,
                   ng, closest)


@nb.njit(cache=True, parallel=True)
def _fill_parallel(p0, p1, voff, goff, t, x, y, reach, cx, cy, w0, w1, radius, max_gap_ns, vout,
                   iout, gout):
    for k in nb.prange(p0.size):
        _walk(p0[k], p1[k], t, x, y, reach, cx[k], cy[k], w0[k], w1[k], radius, max_gap_ns,
              True, vout, voff[k], iout, gout, goff[k])


@nb.njit(cache=True)
def _fill_serial(p0, p1, voff, goff, t, x, y, reach, cx, cy, w0, w1, radius, max_gap_ns, vout,
                 iout, gout):
    for k in range(p0.size):
        _walk(p0[k], p1[k], t, x, y, reach, cx[k], cy[k], w0[k], w1[k], radius, max_gap_ns,
              True, vout, voff[k], iout, gout, goff[k])


PARALLEL_FROM = 256  # fewer hits (an officer's one hit): no threads woken for them


def hit_walks(lo, hi, t, x, y, reach, cx, cy, w0, w1, radius: float, max_gap_ns: int):
    """Every hit's path range, visits, gaps and closest approach (see the module docstring).

    ``lo``/``hi``: each hit's subject's fix range in the flat arrays ``t, x, y, reach`` (fixes
    sorted by time within a range; ``reach`` the precision counted, 0 when not); ``cx, cy,
    w0, w1``: each hit's crime location and widened window (int64 ns).

    Returns a dict: ``p0, p1`` (path fix range per hit), ``closest`` (n, 4: distance, time in
    s from w0, x, y), ``voff`` / ``goff`` (offsets, n + 1), ``visits_f`` (entry s, exit s,
    dwell s, closest m, closest s, reach m at it), ``visits_i`` (entry kind, exit kind, entry
    piece, exit piece (fix index of the piece's first fix), closest at a fix), ``gaps`` (fix
    index before, after; -1 unknown)."""
    args = (np.ascontiguousarray(t, np.int64), np.ascontiguousarray(x, np.float64),
            np.ascontiguousarray(y, np.float64), np.ascontiguousarray(reach, np.float64),
            np.ascontiguousarray(cx, np.float64), np.ascontiguousarray(cy, np.float64),
            np.ascontiguousarray(w0, np.int64), np.ascontiguousarray(w1, np.int64),
            float(radius), int(max_gap_ns))
    lo = np.ascontiguousarray(lo, np.int64)
    hi = np.ascontiguousarray(hi, np.int64)
    n = lo.size
    p0, p1 = np.empty(n, np.int64), np.empty(n, np.int64)
    nv, ng = np.empty(n, np.int64), np.empty(n, np.int64)
    closest = np.empty((n, 4))
    parallel = n >= PARALLEL_FROM
    (_count_parallel if parallel else _count_serial)(lo, hi, *args, p0, p1, nv, ng, closest)
    voff = np.concatenate([[0], np.cumsum(nv)]).astype(np.int64)
    goff = np.concatenate([[0], np.cumsum(ng)]).astype(np.int64)
    vout = np.zeros((int(voff[-1]), 6))
    iout = np.zeros((int(voff[-1]), 5), np.int64)
    gout = np.zeros((int(goff[-1]), 2), np.int64)
    (_fill_parallel if parallel else _fill_serial)(p0, p1, voff, goff, *args, vout, iout, gout)
    return {"p0": p0, "p1": p1, "closest": closest, "voff": voff, "goff": goff,
            "visits_f": vout, "visits_i": iout, "gaps": gout}
