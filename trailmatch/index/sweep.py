"""Hits by streaming each subject's path past the crimes, binned: one pass over the fixes.

``hit_pairs`` (query.py) asks a segment index, built once and kept (the trail store persists one
per day), which subjects came near each crime. When the trail arrives as a DataFrame and is
matched once, building that index just to query it once costs more than the matching: the
crimes are the small side (a national day: 20,000 crimes against 7.2 M fixes). So ``match()``
turns the question round. The crimes' boxes — the crime widened by ``R`` in space, its widened
window in time — are binned into dense grids that stay in cache, and every subject's path
pieces are streamed past them in time order, each piece looking up only the bins its own box
reaches. Candidates are refined with the same closed forms and box pre-test as the index query
(``segment_near``, ``fix_near``), so both find the same pairs.

Why no pair is lost. A piece (the segment from fix m to m+1 when they are joined, or an
isolated fix) is in the vicinity of a crime at some instant τ of the window when its position
p(τ) satisfies ``|p(τ) − c| ≤ R + ρ(τ)``, ρ its precision radius (0 when not counted),
``ρ(τ) ≤ r_max`` = the larger of its two fixes' radii. The point ``q`` on the line from c to p(τ)
at distance ``min(|p(τ) − c|, R)`` from c lies in the crime's box ``c ± R`` and within
``r_max`` of p(τ), so inside the piece's box widened by ``r_max``; τ lies in the crime's window
and in the piece's time span. So the cell of q and the time bucket of τ are among the bins
the crime was entered in and among the bins the piece looks up.

The bins are dense grids over the crimes' extent (CSR: a crime list per cell), one per level
(cells of ``cell_m · 4**level``, the finest ``cell_m`` coarsened if the extent would need more
than ``MAX_CELLS`` cells); a crime is entered in every cell its box meets at each level, and a
piece looks up the finest level whose cell is at least a quarter as wide as its widened box,
so it visits at most 5 × 5 cells whatever its precision (finer cells than the box itself:
the area scanned, and so the crimes looked at, is smaller for a wide LBS piece, at the price of
a few more cell look-ups, which are cheap in a dense grid). Levels are built up to the first
whose cell spans the crimes' extent; the level does not change what is found, only how fast
(a piece wider than 4 cells of the coarsest looks up more cells there). A dense grid
rather than a hash keeps neighbouring cells next to each other in memory: a subject's
consecutive pieces look up the same or adjacent cells, so the look-ups stay in cache (a hashed
table measured ~3x slower, bound on memory latency). Time is not binned: the
crimes are numbered in order of window start, so each cell's list is in that order; a piece
scans from the first crime whose window can still be open (found by bisection on long lists)
and stops at the first that opens after the piece ends.

Block candidates. Each cell also keeps 64 bits: the time slots (the crimes' span in 64) in
which any of its crimes' windows is open. A subject's path is read in blocks of ``BLOCK``
consecutive fixes (the block's box and largest reach are taken over the subject's own fixes
as it is reached: no separate pass over the trail). For each block, the crimes
any of its pieces can meet are gathered once (``_gather``): those entered in the cells the
widened block box meets, with a window open while the block lasts, within ``R`` + the
block's reach of its box. A hit's witness point q lies in the crime's box and the piece's box,
so in the block's box, in a cell the crime was entered in, at an instant of the crime's window:
every crime a piece of the block can meet is gathered. A block with none (on the synthetic
national day, three in five) is stepped over whole; otherwise its pieces are tested against
its few candidates only (0.8 per block on average). A block whose box spans more than
``BLOCK_CELLS`` cells (a fast subject) or that gathers more than ``BLOCK_CANDIDATES`` crimes
leaves its pieces to gather their own, in the same way.

Hit fields in the same pass (``sweep_hits``, what ``match()`` uses). Rather than stopping at a
crime's first piece in the vicinity and then walking the window again (``hit_fields``), every
piece that meets the crime's bins and comes within ``R`` + its own precision radius of it is taken
through the same arithmetic as the walk, in the same time order, into the crime's running
fields for the subject (``_piece_fields``); they are written out when the subject's path ends.
Every piece in the vicinity, and every fix in it, is among those (the argument above), so the
first and last instants, the duration, the fixes, the precision and the sources are the
walk's, bit for bit. The closest approach is too whenever it is within ``R``: any piece that
comes that close is seen. A hit whose closest approach lies beyond ``R`` (possible only when
precision is counted) is flagged and its fields are taken from the walk.

Parallel over subjects (numba ``prange``): each thread keeps, per crime, the last subject it
found and the last piece that tested it (so a crime in several bins a piece visits is refined
once) and appends its pairs to its own buffer; a buffer that fills up sends the subject to a
second round with larger buffers. The pairs are sorted at the end, so the result does not depend
on the thread schedule.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from trailmatch.index.segments import BLOCK, TrailPath
from trailmatch.index.vicinity import (
    NS,
    SOURCE_BIT_LUT,
    box_distance2,
    first_at_or_after,
    fix_near,
    linked,
    piece_end,
    point_distance,
    segment_box_may_hit,
    segment_near,
    segment_vicinity,
)
from trailmatch.trails import Trail

N_LEVELS = 6
LEVEL_FACTOR = 4.0
SWEEP_CELL_M = 512.0  # finest cell, tuned on the synthetic national day (A/B: 256 m was
# best when every piece looked up its own cells; with block candidates 512 m is)
MAX_CELLS = 1 << 22  # cells of the finest grid at most (16 MB of offsets)
PIECE_CELLS = 4.0  # a piece's level: the finest whose cell is >= its box / PIECE_CELLS
LONG_LIST = 8  # a cell list longer than this is entered by bisection
# a block with more candidate crimes than this has its pieces look their own up
BLOCK_CANDIDATES = 16
BLOCK_CELLS = 25  # and whose box spans more cells than this
# pairs a thread can hold before its next subjects go to another round with 4x the room
MIN_BUFFER = 1 << 16
BUFFER_PER_CRIME = 16
SUBJECTS_PER_CHUNK = 16  # the unit of work the threads take in turn
_thread_id = nb.get_thread_id


@nb.njit(cache=True, inline="always")
def _level_of(extent, cell_m, top):
    """The finest level whose cell is at least ``extent`` wide (at most ``top``)."""
    level = 0
    size = cell_m
    while size < extent and level < top:
        size *= LEVEL_FACTOR
        level += 1
    return level


@nb.njit(cache=True, inline="always")
def _cell_range(lo, hi, origin, inv_size, n):
    """Cells [a, b] of a row of n cells of width ``1 / inv_size`` from ``origin`` that
    [lo, hi] meets (a > b: none). Crimes and pieces both go through here with the same
    ``inv_size``, so a point is in the same cell for both."""
    a = math.floor((lo - origin) * inv_size)
    b = math.floor((hi - origin) * inv_size)
    return max(a, 0), min(b, n - 1)


@nb.njit(cache=True, inline="always")
def _slot_bits(a, b, t0, per_slot):
    """The bits of the 64 time slots (``1 / per_slot`` ns wide from ``t0``, the first and
    last open-ended) that the interval [a, b] (ns) meets. Crimes and pieces both go through
    here, so an instant is in the same slot for both."""
    s0 = min(max(math.floor(np.float64(a - t0) * per_slot), 0), 63)
    s1 = min(max(math.floor(np.float64(b - t0) * per_slot), 0), 63)
    if s1 == 63:
        upto = np.uint64(0xFFFFFFFFFFFFFFFF)
    else:
        upto = (np.uint64(1) << np.uint64(s1 + 1)) - np.uint64(1)
    return upto & ~((np.uint64(1) << np.uint64(s0)) - np.uint64(1))


@nb.njit(cache=True)
def _cell_slots(cell_start, open_at, close_at, t0, per_slot):
    """Per cell, the time slots in which any of its crimes' windows is open."""
    n_cells = cell_start.size - 1
    mask = np.zeros(n_cells, dtype=np.uint64)
    for c in range(n_cells):
        for e in range(cell_start[c], cell_start[c + 1]):
            mask[c] |= _slot_bits(open_at[e], close_at[e], t0, per_slot)
    return mask


@nb.njit(cache=True)
def _enter_crimes(cx, cy, radius, gx, gy, inv_size, nx, ny, base, slot, crime, count_only):
    """Each crime into every cell its box meets at each level, in crime order: counted into
    ``slot[c + 1]`` (``count_only``), or written to ``crime[slot[c]]`` and ``slot[c]``
    advanced."""
    for i in range(cx.size):
        for level in range(nx.size):
            ix0, ix1 = _cell_range(cx[i] - radius, cx[i] + radius, gx, inv_size[level],
                                   nx[level])
            iy0, iy1 = _cell_range(cy[i] - radius, cy[i] + radius, gy, inv_size[level],
                                   ny[level])
            for iy in range(iy0, iy1 + 1):
                for ix in range(ix0, ix1 + 1):
                    c = base[level] + iy * nx[level] + ix
                    if count_only:
                        slot[c + 1] += 1
                    else:
                        crime[slot[c]] = i
                        slot[c] += 1


@nb.njit(cache=True)
def _grid_cells(cx, cy, w0, w1, radius, gx, gy, inv_size, nx, ny, base):
    """CSR of crimes per cell over every level: ``cell_start`` (offsets, level by level from
    ``base[level]``) and the crime of each entry, crimes ascending within a cell, with its
    window inline (so time rejects read the cell's entries in a row, not the crime arrays)."""
    n_cells = base[nx.size]
    counts = np.zeros(n_cells + 1, dtype=np.int64)
    crime = np.empty(0, dtype=np.int32)
    _enter_crimes(cx, cy, radius, gx, gy, inv_size, nx, ny, base, counts, crime, True)
    for c in range(n_cells):
        counts[c + 1] += counts[c]
    fill = counts[:-1].copy()
    crime = np.empty(counts[n_cells], dtype=np.int32)
    _enter_crimes(cx, cy, radius, gx, gy, inv_size, nx, ny, base, fill, crime, False)
    open_at = np.empty(crime.size, dtype=np.int64)
    close_at = np.empty(crime.size, dtype=np.int64)
    for e in range(crime.size):
        open_at[e] = w0[crime[e]]
        close_at[e] = w1[crime[e]]
    return counts, crime, open_at, close_at


class CrimeGrid:
    """The crimes' boxes (crime ± R) in dense grids for the sweep, one per level. Crimes
    must be in order of window start."""

    def __init__(self, cx, cy, w0, w1, radius: float, cell_m: float = SWEEP_CELL_M):
        self.cx = np.ascontiguousarray(cx, np.float64)
        self.cy = np.ascontiguousarray(cy, np.float64)
        self.w0 = np.ascontiguousarray(w0, np.int64)
        self.w1 = np.ascontiguousarray(w1, np.int64)
        if np.any(np.diff(self.w0) < 0):
            raise ValueError("crimes must be in order of window start")
        self.radius = float(radius)
        self.gx = float(self.cx.min()) - self.radius
        self.gy = float(self.cy.min()) - self.radius
        width = float(self.cx.max()) + self.radius - self.gx
        height = float(self.cy.max()) + self.radius - self.gy
        while (width / cell_m + 1) * (height / cell_m + 1) > MAX_CELLS:
            cell_m *= 2.0
        self.cell_m = float(cell_m)
        # every level up to the first whose cell spans the crimes' extent (at most N_LEVELS):
        # a piece or block wider than 4 cells of the coarsest is still looked up whole there
        n_levels = _level_of(max(width, height), self.cell_m, N_LEVELS - 1) + 1
        sizes = self.cell_m * LEVEL_FACTOR ** np.arange(n_levels)
        self.inv_size = 1.0 / sizes
        self.nx = (np.floor(width / sizes) + 1).astype(np.int64)
        self.ny = (np.floor(height / sizes) + 1).astype(np.int64)
        self.base = np.concatenate([[0], np.cumsum(self.nx * self.ny)]).astype(np.int64)
        self.cell_start, self.crime, self.open_at, self.close_at = _grid_cells(
            self.cx, self.cy, self.w0, self.w1, self.radius, self.gx, self.gy, self.inv_size,
            self.nx, self.ny, self.base)
        # when in the crimes' time span each cell has a window open: 64 slots
        self.t0 = int(self.w0[0])
        self.per_slot = 64.0 / max(float(int(self.w1.max()) - self.t0), 1.0)
        self.cell_slots = _cell_slots(self.cell_start, self.open_at, self.close_at, self.t0,
                                      self.per_slot)
        if self.crime.size < 2**31:  # half the offsets' cache footprint
            self.cell_start = self.cell_start.astype(np.int32)
        self.max_window_ns = int((self.w1 - self.w0).max())


# a crime's running fields for the subject being streamed (``with_fields``): the columns of
# its row of ``acc`` (one cache line; the count and the source bit mask are exact in a
# float64), and of the output buffers ``buf_f`` / ``buf_i``
BEST, BEST_T, FIRST_IN, LAST_IN, DURATION, MAX_PREC, FIXES_IN, SOURCES = range(8)
OUT_DIST, OUT_DURATION, OUT_MAX_PREC = range(3)
OUT_TIME, OUT_FIRST_IN, OUT_LAST_IN, OUT_FIXES_IN, OUT_SOURCES = range(5)


@nb.njit(cache=True, inline="always")
def _count_fix(tm, xm, ym, reach_m, precision_m, bit_m, base, w1, wlen, cx, cy, radius, acc, i):
    """A fix (its time, position, precision radius counted, precision and source bit) into
    crime i's ``fixes_in``, largest precision and sources when it is inside the window and in
    the vicinity (``_pair_fields``'s test, the same arithmetic)."""
    rel = np.float64(tm - base) * NS
    if (tm <= w1 and rel >= 0.0 and rel <= wlen
            and point_distance(xm, ym, cx, cy) <= radius + reach_m):
        acc[i, FIXES_IN] += 1.0
        if precision_m == precision_m and precision_m > acc[i, MAX_PREC]:
            acc[i, MAX_PREC] = precision_m
        acc[i, SOURCES] = np.float64(np.int64(acc[i, SOURCES]) | bit_m)


@nb.njit(cache=True, inline="always")
def _piece_fields(ta, xa, ya, ra, pa, bit_a, tb, xb, yb, rb, pb, bit_b, link, ends_run, base,
                  w1, wlen, cx, cy, radius, acc, i):
    """What a piece adds to crime i's fields (window [base, w1], ``wlen`` s long, at
    (cx, cy)) — exactly what ``_pair_fields`` adds when its walk reaches the piece's first fix.
    The piece is the segment from fix a to fix b when ``link``, else the isolated fix a (b's
    values are then not read); ``ends_run``: fix b ends its run, and is counted by the segment
    it ends. A segment that fails the box test is not measured: it is farther than R + its
    radius, so it is never in the vicinity and never a closest approach the pass vouches for
    (those within R; ``sweep_hits``).

    The fixes come as values, not as the trail's arrays and an index: a numba helper that
    takes arrays pays a reference-count increment and decrement per array per call."""
    _count_fix(ta, xa, ya, ra, pa, bit_a, base, w1, wlen, cx, cy, radius, acc, i)
    if link:
        best = acc[i, BEST]
        if segment_box_may_hit(xa, ya, ra, xb, yb, rb, cx, cy, radius):
            ov, ok, a, b, dmin, tmin = segment_vicinity(
                np.float64(ta - base) * NS, xa, ya, ra, np.float64(tb - base) * NS, xb, yb, rb,
                cx, cy, radius, wlen)
            if ov:
                if dmin < best:
                    acc[i, BEST] = dmin
                    acc[i, BEST_T] = tmin
                if ok:
                    acc[i, FIRST_IN] = min(acc[i, FIRST_IN], a)
                    acc[i, LAST_IN] = max(acc[i, LAST_IN], b)
                    acc[i, DURATION] += b - a
        if ends_run:
            _count_fix(tb, xb, yb, rb, pb, bit_b, base, w1, wlen, cx, cy, radius, acc, i)
    else:
        rel = np.float64(ta - base) * NS
        if ta <= w1 and rel >= 0.0 and rel <= wlen:
            d = point_distance(xa, ya, cx, cy)
            if d < acc[i, BEST]:
                acc[i, BEST] = d
                acc[i, BEST_T] = rel
            if d <= radius + ra:
                acc[i, FIRST_IN] = min(acc[i, FIRST_IN], rel)
                acc[i, LAST_IN] = max(acc[i, LAST_IN], rel)


@nb.njit(cache=True, inline="always")
def _start_fields(acc, i):
    acc[i, BEST] = math.inf
    acc[i, BEST_T] = 0.0
    acc[i, FIRST_IN] = math.inf
    acc[i, LAST_IN] = -math.inf
    acc[i, DURATION] = 0.0
    acc[i, MAX_PREC] = -1.0
    acc[i, FIXES_IN] = 0.0
    acc[i, SOURCES] = 0.0


@nb.njit(cache=True, inline="always")
def _emit_fields(s, w0, touched, n_touched, acc, buf_crime, buf_subject, buf_f, buf_i,
                 fill):
    """The crimes of ``touched`` that subject s was in the vicinity of, with their fields,
    into the buffers from ``fill``; returns the new fill, or -1 when they do not fit."""
    for k in range(n_touched):
        i = touched[k]
        if acc[k, FIRST_IN] > acc[k, LAST_IN]:
            continue  # looked at, never in the vicinity
        if fill == buf_crime.size:
            return -1
        base = w0[i]
        buf_crime[fill] = i
        buf_subject[fill] = s
        buf_f[OUT_DIST, fill] = acc[k, BEST]
        buf_f[OUT_DURATION, fill] = acc[k, DURATION]
        buf_f[OUT_MAX_PREC, fill] = acc[k, MAX_PREC] if acc[k, MAX_PREC] >= 0.0 else np.nan
        buf_i[OUT_TIME, fill] = base + np.int64(round(acc[k, BEST_T] * 1e9))
        buf_i[OUT_FIRST_IN, fill] = base + np.int64(round(acc[k, FIRST_IN] * 1e9))
        buf_i[OUT_LAST_IN, fill] = base + np.int64(round(acc[k, LAST_IN] * 1e9))
        buf_i[OUT_FIXES_IN, fill] = np.int64(acc[k, FIXES_IN])
        buf_i[OUT_SOURCES, fill] = np.int64(acc[k, SOURCES])
        fill += 1
    return fill


@nb.njit(cache=True, inline="always")
def _box_cells(xa, xb, ya, yb, r, cell_m, top, gx, gy, inv_size, nx, ny):
    """(level, ix0, ix1, iy0, iy1): the level a box (``xa``..``xb`` by ``ya``..``yb``,
    widened by ``r``) looks up — the finest whose cell is at least a quarter as wide as the
    widened box, at most ``top`` — and the cells of that level the widened box meets."""
    level = _level_of((max(xb - xa, yb - ya) + 2.0 * r) / PIECE_CELLS, cell_m, top)
    ix0, ix1 = _cell_range(xa - r, xb + r, gx, inv_size[level], nx[level])
    iy0, iy1 = _cell_range(ya - r, yb + r, gy, inv_size[level], ny[level])
    return level, ix0, ix1, iy0, iy1


@nb.njit(cache=True, inline="always")
def _gather(xa, xb, ya, yb, r, ta, tb, ix0, ix1, iy0, iy1, level_base, level_nx, cell_slots,
            t0, per_slot, cell_start, crime, open_at, close_at, w0, max_window_ns, cx, cy,
            radius, mark, stamp, cand, cap):
    """The crimes a box (``xa``..``xb`` by ``ya``..``yb``, widened by ``r``) can meet from
    ``ta`` to ``tb``: entered in one of the cells [ix0, ix1] x [iy0, iy1] the widened box meets
    (``_box_cells``; the level's cells from ``level_base``, ``level_nx`` a row), with a window
    open at an instant of [ta, tb], and within ``R + r`` of the box (kept a little wide, as
    every test behind it), each once (``mark[i] = stamp``), into ``cand``. Returns how many,
    or ``cap + 1`` as soon as there are more than ``cap``."""
    gate2 = (radius + r) * (radius + r) * (1.0 + 1e-9)
    bits = _slot_bits(ta, tb, t0, per_slot)
    first_open = -1  # first crime whose window can still be open at ta (on demand)
    n = 0
    for iy in range(iy0, iy1 + 1):
        row = level_base + iy * level_nx
        for ix in range(ix0, ix1 + 1):
            if not cell_slots[row + ix] & bits:
                continue  # no window of the cell is open from ta to tb
            e = cell_start[row + ix]
            e1 = cell_start[row + ix + 1]
            if e1 - e > LONG_LIST:
                if first_open < 0:
                    first_open = first_at_or_after(w0, 0, w0.size, ta - max_window_ns)
                e = first_at_or_after(crime, e, e1, first_open)
            while e < e1:
                if open_at[e] > tb:
                    break  # this and every later crime of the cell opens after tb
                if close_at[e] < ta:
                    e += 1
                    continue
                i = crime[e]
                e += 1
                if mark[i] == stamp:
                    continue  # met in another cell of the box
                mark[i] = stamp
                if box_distance2(xa, ya, xb, yb, cx[i], cy[i]) > gate2:
                    continue
                if n == cap:
                    return cap + 1
                cand[n] = i
                n += 1
    return n


@nb.njit(cache=True)
def _subject_pairs(s, starts, t, x, y, reach, precision, source, bit_lut, max_gap_ns,
                   cx, cy, w0, w1, wlen, radius, gx, gy, cell_m, inv_size, nx, ny, base,
                   cell_start, crime, open_at, close_at, max_window_ns, t_lo, t_hi, with_fields,
                   cell_slots, t0, per_slot, found_by, acc_row, mark, cand, acc,
                   touched, buf_crime, buf_subject, buf_f, buf_i, fill):
    """Append the crimes subject s is in the vicinity of to the buffer from ``fill`` (with
    every hit field in ``buf_f``/``buf_i`` when ``with_fields``); returns the new fill, or -1
    when the buffer is too small.

    The crimes a piece is tested against are its block's (``_gather`` over the block's box
    and span), or the piece's own when the block's are not listed (see the module's
    docstring); each crime is taken through the pieces in time order. Without fields a crime
    is refined until the first piece in its vicinity. With fields every piece that comes within
    R + its radius of a crime's box is taken through ``_piece_fields`` (``found_by`` then
    marks the crimes whose fields ``acc`` holds, in row ``acc_row[i]``), and the crimes the subject
    was in the vicinity of are written out when its path ends."""
    n_touched = 0
    lo = starts[s]
    hi = starts[s + 1]
    top = nx.size - 1
    # pieces that can meet a window start at most max gap before the earliest window start
    m = max(first_at_or_after(t, lo, hi, t_lo - max_gap_ns) - 1, lo)
    # fix m ends a segment (the subject's fixes are [lo, hi): ``joined`` without its arrays)
    link = m > lo and linked(t[m] - t[m - 1], max_gap_ns)
    next_block = m
    n_cand = 0
    block_listed = False
    while m < hi and t[m] <= t_hi:
        if m >= next_block:
            # The crimes any piece of block k from fix m on can meet: a hit's witness point
            # lies in the crime's box and the piece's box (the argument above), so in the
            # block's box, at an instant from t[m] to the block's last fix, and the crime is
            # entered in that point's cell at every level. None (a quiet block): step over it.
            # The block's box is taken over the subject's own fixes from m to the block's
            # last piece's end, as the block is reached. A block whose box spans more than
            # BLOCK_CELLS cells (a fast subject) leaves its pieces to look up their own.
            k = m // BLOCK
            next_block = (k + 1) * BLOCK
            last = min(next_block, hi - 1)
            xa = x[m]
            xb = x[m]
            ya = y[m]
            yb = y[m]
            r = reach[m]
            for p in range(m + 1, last + 1):
                xa = min(xa, x[p])
                xb = max(xb, x[p])
                ya = min(ya, y[p])
                yb = max(yb, y[p])
                r = max(r, reach[p])
            level, ix0, ix1, iy0, iy1 = _box_cells(xa, xb, ya, yb, r, cell_m, top, gx, gy,
                                                   inv_size, nx, ny)
            block_listed = max(ix1 - ix0 + 1, 0) * max(iy1 - iy0 + 1, 0) <= BLOCK_CELLS
            if block_listed:
                # stamps: -(m + 2) for a subject's block from fix m, m for the piece at fix m
                n_cand = _gather(xa, xb, ya, yb, r, t[m], t[last], ix0, ix1, iy0, iy1,
                                 base[level], nx[level], cell_slots, t0, per_slot, cell_start,
                                 crime, open_at, close_at, w0, max_window_ns, cx, cy, radius,
                                 mark, -(m + 2), cand, BLOCK_CANDIDATES)
                if n_cand == 0:
                    m = next_block
                    link = m < hi and linked(t[m] - t[m - 1], max_gap_ns)
                    continue
                block_listed = n_cand <= BLOCK_CANDIDATES
        if block_listed:
            end = min(next_block, hi)  # the block's pieces from fix m on, against its crimes
        else:
            end = m + 1  # the piece at fix m alone, against its own crimes
            b = piece_end(m, link, m + 1 < hi and linked(t[m + 1] - t[m], max_gap_ns))
            if b < 0:  # the end of a segment: that segment covers it
                m += 1
                link = False
                continue
            r = max(reach[m], reach[b])
            xa = min(x[m], x[b])
            xb = max(x[m], x[b])
            ya = min(y[m], y[b])
            yb = max(y[m], y[b])
            level, ix0, ix1, iy0, iy1 = _box_cells(xa, xb, ya, yb, r, cell_m, top, gx, gy,
                                                   inv_size, nx, ny)
            n_cand = _gather(xa, xb, ya, yb, r, t[m], t[b], ix0, ix1, iy0, iy1, base[level],
                             nx[level], cell_slots, t0, per_slot, cell_start, crime, open_at,
                             close_at, w0, max_window_ns, cx, cy, radius, mark, m, cand,
                             cand.size)
        # crime by crime, each through the pieces in time order (what its fields need)
        for q in range(n_cand):
            i = cand[q]
            if not with_fields and found_by[i] == s:
                continue  # found by an earlier piece
            ends_segment = link
            for p in range(m, end):
                starts_segment = p + 1 < hi and linked(t[p + 1] - t[p], max_gap_ns)
                b = piece_end(p, ends_segment, starts_segment)
                ends_segment = starts_segment
                if b < 0:
                    continue  # the end of a segment: that segment covers it
                # (b == p: an isolated fix, b's values are not read as a fix)
                if t[p] > w1[i]:
                    break  # this and every later piece starts after the window
                if t[b] < w0[i]:
                    continue  # ends before the window opens
                if with_fields:
                    # a crime farther from the piece's box than R + the piece's own radius
                    # gets nothing from it: not an instant, not a fix, and no closest approach
                    # the pass vouches for (those within R); kept a little wide of every test
                    # behind it. Most pieces stop here, before the crime's fields are touched.
                    r = max(reach[p], reach[b])
                    if (box_distance2(x[p], y[p], x[b], y[b], cx[i], cy[i])
                            > (radius + r) * (radius + r) * (1.0 + 1e-9)):
                        continue
                    if found_by[i] != s:
                        found_by[i] = s
                        acc_row[i] = n_touched
                        _start_fields(acc, n_touched)
                        touched[n_touched] = i
                        n_touched += 1
                    _piece_fields(t[p], x[p], y[p], reach[p], precision[p], bit_lut[source[p]],
                                  t[b], x[b], y[b], reach[b], precision[b], bit_lut[source[b]],
                                  starts_segment,
                                  starts_segment and not (p + 2 < hi and linked(
                                      t[p + 2] - t[p + 1], max_gap_ns)),
                                  w0[i], w1[i], wlen[i], cx[i], cy[i], radius, acc,
                                  acc_row[i])
                    continue
                if starts_segment:
                    near = segment_near(t[p], x[p], y[p], reach[p], t[b], x[b], y[b], reach[b],
                                        w0[i], w1[i], wlen[i], cx[i], cy[i], radius)
                else:
                    near = fix_near(t[p], x[p], y[p], reach[p], w0[i], w1[i], cx[i], cy[i],
                                    radius)
                if near:
                    found_by[i] = s
                    if fill == buf_crime.size:
                        return -1
                    buf_crime[fill] = i
                    buf_subject[fill] = s
                    fill += 1
                    break
        m = end
        link = m < hi and linked(t[m] - t[m - 1], max_gap_ns)  # fix m ends a segment
    if with_fields:
        return _emit_fields(s, w0, touched, n_touched, acc, buf_crime, buf_subject,
                            buf_f, buf_i, fill)
    return fill


@nb.njit(cache=True, parallel=True)
def _sweep(subjects, starts, t, x, y, reach, precision, source, bit_lut, max_gap_ns, cx,
           cy, w0, w1, radius, gx, gy, cell_m, inv_size, nx, ny, base, cell_start, crime,
           open_at, close_at, max_window_ns, t_lo, t_hi, with_fields,
           cell_slots, t0, per_slot, capacity, n_threads):
    """Pairs of the given subjects (and their fields when ``with_fields``). Returns (crime,
    subject, float fields, integer fields, fill per thread, subjects whose pairs did not fit);
    thread k's pairs are buf[k, :fill[k]]."""
    n_crimes = cx.size
    wlen = np.empty(n_crimes)
    for i in range(n_crimes):
        wlen[i] = np.float64(w1[i] - w0[i]) * NS
    found_by = np.full((n_threads, n_crimes), -1, dtype=np.int32)
    # a found crime's row of acc: the subject's crimes in the first rows (in cache), not
    # each crime in its own row of a table the size of the crimes
    acc_row = np.empty((n_threads, n_crimes), dtype=np.int32)
    mark = np.full((n_threads, n_crimes), -1, dtype=np.int64)
    cand = np.empty((n_threads, max(n_crimes, BLOCK_CANDIDATES)), dtype=np.int32)
    n_acc = n_crimes if with_fields else 0
    acc = np.empty((n_threads, n_acc, 8))
    touched = np.empty((n_threads, n_acc), dtype=np.int64)
    n_out = capacity if with_fields else 0
    buf_f = np.empty((n_threads, 3, n_out))  # a field's values in a row: no copy to take them
    buf_i = np.empty((n_threads, 5, n_out), dtype=np.int64)
    buf_crime = np.empty((n_threads, capacity), dtype=np.int64)
    buf_subject = np.empty((n_threads, capacity), dtype=np.int64)
    fill = np.zeros(n_threads, dtype=np.int64)
    overflow = np.zeros(subjects.size, dtype=np.bool_)
    for j in nb.prange(subjects.size):
        k = _thread_id()
        got = _subject_pairs(subjects[j], starts, t, x, y, reach, precision, source,
                             bit_lut, max_gap_ns, cx, cy, w0, w1, wlen, radius, gx, gy, cell_m,
                             inv_size, nx, ny, base, cell_start, crime, open_at, close_at,
                             max_window_ns, t_lo, t_hi, with_fields,
                             cell_slots, t0, per_slot, found_by[k], acc_row[k], mark[k], cand[k],
                             acc[k], touched[k], buf_crime[k], buf_subject[k], buf_f[k], buf_i[k],
                             fill[k])
        if got < 0:
            overflow[j] = True  # drop its partial pairs; it is done again with more room
        else:
            fill[k] = got
    return buf_crime, buf_subject, buf_f, buf_i, fill, overflow


def _stream(starts, path: TrailPath, precision, source, cx, cy, w0, w1, radius: float,
            with_fields: bool):
    """(crime row, subject code, float fields, integer fields) of every hit, in no particular
    order; the fields are empty unless ``with_fields``."""
    n_subjects = starts.size - 1
    if np.size(cx) == 0 or n_subjects == 0:
        return (np.empty(0, np.int64), np.empty(0, np.int64), np.empty((3, 0)),
                np.empty((5, 0), np.int64))
    w0 = np.asarray(w0, np.int64)
    by_start = np.argsort(w0, kind="stable")
    t_lo = int(w0[by_start[0]])
    t_hi = int(np.max(w1))
    grid = CrimeGrid(np.asarray(cx)[by_start], np.asarray(cy)[by_start], w0[by_start],
                     np.asarray(w1)[by_start], radius)
    n_threads = nb.get_num_threads()
    todo = np.arange(n_subjects, dtype=np.int64)
    capacity = max(MIN_BUFFER, BUFFER_PER_CRIME * grid.cx.size // n_threads)
    got: list[tuple[np.ndarray, ...]] = []
    while todo.size:
        # subjects handed out a few at a time, not in one half per thread: a thread that the
        # OS preempts, or that draws the busier subjects, does not leave the other one waiting
        with nb.parallel_chunksize(SUBJECTS_PER_CHUNK):
            buf_crime, buf_subject, buf_f, buf_i, fill, overflow = _sweep(
                todo, starts, path.t, path.x, path.y, path.reach, precision, source,
                SOURCE_BIT_LUT, path.max_gap_ns, grid.cx, grid.cy, grid.w0, grid.w1, grid.radius,
                grid.gx, grid.gy, grid.cell_m, grid.inv_size, grid.nx, grid.ny, grid.base,
                grid.cell_start, grid.crime, grid.open_at, grid.close_at, grid.max_window_ns, t_lo,
                t_hi, with_fields, grid.cell_slots,
                grid.t0, grid.per_slot, capacity, n_threads)
        for k in range(fill.size):
            n = fill[k] if with_fields else 0
            got.append((buf_crime[k, :fill[k]], buf_subject[k, :fill[k]], buf_f[k, :, :n],
                        buf_i[k, :, :n]))
        todo = todo[overflow]
        capacity *= 4
    crimes_, subjects_, floats, ints = zip(*got, strict=True)
    pair_crime, pair_subject = np.concatenate(crimes_), np.concatenate(subjects_)
    fields_f, fields_i = np.concatenate(floats, axis=1), np.concatenate(ints, axis=1)
    return by_start[pair_crime], pair_subject, fields_f, fields_i


def sweep_pairs(starts, path: TrailPath, cx, cy, w0, w1,
                radius: float) -> tuple[np.ndarray, np.ndarray]:
    """(crime row, subject code) of every hit, grouped by crime row ascending, subjects
    ascending within a crime — what ``hit_pairs`` returns for the same trail and crimes.

    ``starts``: the trail's CSR offsets per subject; ``path``: its ``trail_path`` (the fixes
    sorted by subject and time and the precision radius counted per fix); ``w0``/``w1``: the
    crimes' widened windows (ns)."""
    # without fields the fixes' precision and source are never read
    pair_crime, pair_subject, _, _ = _stream(
        starts, path, np.empty(0), np.empty(0, np.uint8), cx, cy, w0, w1, radius, False)
    order = np.lexsort((pair_subject, pair_crime))
    return pair_crime[order], pair_subject[order]


def sweep_hits(trail: Trail, path: TrailPath, cx, cy, w0, w1, radius: float):
    """Every hit with its fields from the same single pass: (crime row, subject code, fields)
    in no particular order, ``fields`` as ``hit_fields`` returns them, and the hits whose
    closest approach the pass cannot vouch for.

    The pass sees the pieces whose box meets a crime's bins, which holds every piece that comes
    within ``R`` of the crime, and so every piece that is in the vicinity or has a fix in it
    (the argument above): ``first_in``, ``last_in``, ``duration_s``, ``fixes_in``, the largest
    precision and the sources are exact. The closest approach is exact when it is within
    ``R``; a hit whose closest approach is farther (its precision radius made it a hit, or
    round-off at the edge: within a micrometre of ``R``) may have it on a piece the pass did
    not see, and is flagged for ``hit_fields``' walk along the window."""
    pair_crime, pair_subject, fields_f, fields_i = _stream(
        trail.starts, path, trail.precision, trail.source, cx, cy, w0, w1, radius, True)
    fields = (np.ones(pair_crime.size, np.bool_), fields_f[OUT_DIST], fields_i[OUT_TIME],
              fields_i[OUT_FIRST_IN], fields_i[OUT_LAST_IN], fields_f[OUT_DURATION],
              fields_i[OUT_FIXES_IN], fields_f[OUT_MAX_PREC], fields_i[OUT_SOURCES])
    # a micrometre inside R: the bins' arithmetic is then far from deciding the closest piece
    return pair_crime, pair_subject, fields, ~(fields[1] <= radius - 1e-6)
