"""Hit pairs by streaming each subject's path past the crimes, binned: one pass over the fixes.

``hit_pairs`` (query.py) asks a segment index, built once and kept (the trail store persists one
per day), which subjects came near each crime. When the trail arrives as a DataFrame and is
matched once, building that index just to query it once costs more than the matching: the
crimes are the small side (a national day: 20,000 crimes against 7.2 M fixes). So ``match()``
turns the question round. The crimes' boxes — the crime widened by ``R`` in space, its widened
window in time — are binned into a small hashed grid that stays in cache, and every subject's
path pieces are streamed past it in time order, each piece looking up only the bins its own box
reaches. Candidates are refined with the same closed forms and box pre-test as the index query
(``segment_in_vicinity``, ``fix_in_vicinity``), so both find the same pairs.

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
a few more cell look-ups, which are cheap in a dense grid). Only levels as coarse as the widest
piece needs are built; the level does not change what is found, only how fast. A dense grid
rather than a hash keeps neighbouring cells next to each other in memory: a subject's
consecutive pieces look up the same or adjacent cells, so the look-ups stay in cache (a hashed
table measured ~3x slower, bound on memory latency). Time is not binned: the
crimes are numbered in order of window start, so each cell's list is in that order; a piece
scans from the first crime whose window can still be open (found by bisection on long lists)
and stops at the first that opens after the piece ends.

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

from trailmatch.index.query import first_at_or_after, fix_in_vicinity, segment_in_vicinity
from trailmatch.index.segments import joined

N_LEVELS = 6
LEVEL_FACTOR = 4.0
SWEEP_CELL_M = 256.0  # finest cell, tuned on the synthetic national day
MAX_CELLS = 1 << 22  # cells of the finest grid at most (16 MB of offsets)
PIECE_CELLS = 4.0  # a piece's level: the finest whose cell is >= its box / PIECE_CELLS
LONG_LIST = 8  # a cell list longer than this is entered by bisection
# pairs a thread can hold before its next subjects go to another round with 4x the room
MIN_BUFFER = 1 << 16
BUFFER_PER_CRIME = 16
NS = 1e-9
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
    """The crimes' boxes (crime ± R) in dense grids for ``sweep_pairs``, at the levels that
    pieces as wide as ``widest_piece_m`` look up. Crimes must be in order of window start."""

    def __init__(self, cx, cy, w0, w1, radius: float, widest_piece_m: float,
                 cell_m: float = SWEEP_CELL_M):
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
        n_levels = _level_of(float(widest_piece_m) / PIECE_CELLS, self.cell_m,
                             N_LEVELS - 1) + 1
        sizes = self.cell_m * LEVEL_FACTOR ** np.arange(n_levels)
        self.inv_size = 1.0 / sizes
        self.nx = (np.floor(width / sizes) + 1).astype(np.int64)
        self.ny = (np.floor(height / sizes) + 1).astype(np.int64)
        self.base = np.concatenate([[0], np.cumsum(self.nx * self.ny)]).astype(np.int64)
        self.cell_start, self.crime, self.open_at, self.close_at = _grid_cells(
            self.cx, self.cy, self.w0, self.w1, self.radius, self.gx, self.gy, self.inv_size,
            self.nx, self.ny, self.base)
        if self.crime.size < 2**31:  # half the offsets' cache footprint
            self.cell_start = self.cell_start.astype(np.int32)
        self.max_window_ns = int((self.w1 - self.w0).max())


@nb.njit(cache=True)
def _subject_pairs(s, starts, subject, t, x, y, reach, max_gap_ns, cx, cy, w0, w1, wlen,
                   radius, gx, gy, cell_m, inv_size, nx, ny, base, cell_start, crime, open_at,
                   close_at, max_window_ns, t_lo, t_hi, found_by, tested_by, buf_crime,
                   buf_subject, fill):
    """Append the crimes subject s is in the vicinity of to the buffer from ``fill``; returns
    the new fill, or -1 when the buffer is too small."""
    lo = starts[s]
    hi = starts[s + 1]
    n_levels = nx.size
    # pieces that can meet a window start at most max gap before the earliest window start
    m = max(first_at_or_after(t, lo, hi, t_lo - max_gap_ns) - 1, lo)
    link = joined(subject, t, m - 1, max_gap_ns)  # fix m ends a segment
    while m < hi and t[m] <= t_hi:
        ends_segment = link
        link = joined(subject, t, m, max_gap_ns)
        if link:
            xa = min(x[m], x[m + 1])
            xb = max(x[m], x[m + 1])
            ya = min(y[m], y[m + 1])
            yb = max(y[m], y[m + 1])
            r = max(reach[m], reach[m + 1])
            t_end = t[m + 1]
        elif ends_segment:
            m += 1  # the end of a segment: that segment covers it
            continue
        else:
            xa = x[m]
            xb = x[m]
            ya = y[m]
            yb = y[m]
            r = reach[m]
            t_end = t[m]
        xa -= r
        xb += r
        ya -= r
        yb += r
        level = _level_of(max(xb - xa, yb - ya) / PIECE_CELLS, cell_m, n_levels - 1)
        ix0, ix1 = _cell_range(xa, xb, gx, inv_size[level], nx[level])
        iy0, iy1 = _cell_range(ya, yb, gy, inv_size[level], ny[level])
        first_open = -1  # first crime whose window can still be open at t[m] (on demand)
        # a crime is once in a cell: only a piece over several cells can meet it twice
        one_cell = ix0 == ix1 and iy0 == iy1
        for iy in range(iy0, iy1 + 1):
            row = base[level] + iy * nx[level]
            for ix in range(ix0, ix1 + 1):
                e = cell_start[row + ix]
                e1 = cell_start[row + ix + 1]
                if e1 - e > LONG_LIST:
                    if first_open < 0:
                        first_open = first_at_or_after(w0, 0, w0.size, t[m] - max_window_ns)
                    e = first_at_or_after(crime, e, e1, first_open)
                while e < e1:
                    if open_at[e] > t_end:
                        break  # this and every later crime of the cell opens after the piece
                    if close_at[e] < t[m]:
                        e += 1
                        continue
                    i = crime[e]
                    e += 1
                    if found_by[i] == s:
                        continue
                    if not one_cell:
                        if tested_by[i] == m:
                            continue
                        tested_by[i] = m
                    if link:
                        near = segment_in_vicinity(t, x, y, reach, m, w0[i], w1[i], wlen[i],
                                                   cx[i], cy[i], radius)
                    else:
                        near = fix_in_vicinity(t, x, y, reach, m, w0[i], w1[i], cx[i], cy[i],
                                               radius)
                    if near:
                        found_by[i] = s
                        if fill == buf_crime.size:
                            return -1
                        buf_crime[fill] = i
                        buf_subject[fill] = s
                        fill += 1
        m += 1
    return fill


@nb.njit(cache=True, parallel=True)
def _sweep(subjects, starts, subject, t, x, y, reach, max_gap_ns, cx, cy, w0, w1, radius,
           gx, gy, cell_m, inv_size, nx, ny, base, cell_start, crime, open_at, close_at,
           max_window_ns, t_lo, t_hi, capacity, n_threads):
    """Pairs of the given subjects. Returns (crime, subject, fill per thread, subjects whose
    pairs did not fit); thread k's pairs are buf[k, :fill[k]]."""
    n_crimes = cx.size
    wlen = np.empty(n_crimes)
    for i in range(n_crimes):
        wlen[i] = np.float64(w1[i] - w0[i]) * NS
    found_by = np.full((n_threads, n_crimes), -1, dtype=np.int32)
    tested_by = np.full((n_threads, n_crimes), -1, dtype=np.int64)
    buf_crime = np.empty((n_threads, capacity), dtype=np.int64)
    buf_subject = np.empty((n_threads, capacity), dtype=np.int64)
    fill = np.zeros(n_threads, dtype=np.int64)
    overflow = np.zeros(subjects.size, dtype=np.bool_)
    for j in nb.prange(subjects.size):
        k = _thread_id()
        got = _subject_pairs(subjects[j], starts, subject, t, x, y, reach, max_gap_ns, cx, cy,
                             w0, w1, wlen, radius, gx, gy, cell_m, inv_size, nx, ny, base,
                             cell_start, crime, open_at, close_at, max_window_ns, t_lo, t_hi,
                             found_by[k], tested_by[k], buf_crime[k], buf_subject[k], fill[k])
        if got < 0:
            overflow[j] = True  # drop its partial pairs; it is done again with more room
        else:
            fill[k] = got
    return buf_crime, buf_subject, fill, overflow


def sweep_pairs(starts, subject, t, x, y, reach, max_gap_ns: int, widest_piece_m: float, cx, cy,
                w0, w1, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """(crime row, subject code) of every hit, grouped by crime row ascending, subjects
    ascending within a crime — what ``hit_pairs`` returns for the same trail and crimes.

    ``starts``: the trail's CSR offsets per subject; the fix arrays sorted by subject and time;
    ``reach``: the precision radius counted per fix; ``widest_piece_m``: at least the widest
    box of any piece (``TrailPath.widest_piece_m``); ``w0``/``w1``: the widened windows (ns)."""
    n_subjects = starts.size - 1
    if np.size(cx) == 0 or n_subjects == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    w0 = np.asarray(w0, np.int64)
    by_start = np.argsort(w0, kind="stable")
    t_lo = int(w0[by_start[0]])
    t_hi = int(np.max(w1))
    grid = CrimeGrid(np.asarray(cx)[by_start], np.asarray(cy)[by_start], w0[by_start],
                     np.asarray(w1)[by_start], radius, widest_piece_m)
    n_threads = nb.get_num_threads()
    todo = np.arange(n_subjects, dtype=np.int64)
    capacity = max(MIN_BUFFER, BUFFER_PER_CRIME * grid.cx.size // n_threads)
    got_crime: list[np.ndarray] = []
    got_subject: list[np.ndarray] = []
    while todo.size:
        buf_crime, buf_subject, fill, overflow = _sweep(
            todo, starts, subject, t, x, y, reach, int(max_gap_ns), grid.cx, grid.cy, grid.w0,
            grid.w1, grid.radius, grid.gx, grid.gy, grid.cell_m, grid.inv_size, grid.nx,
            grid.ny, grid.base, grid.cell_start, grid.crime, grid.open_at, grid.close_at,
            grid.max_window_ns, t_lo, t_hi, capacity, n_threads)
        for k in range(fill.size):
            got_crime.append(buf_crime[k, :fill[k]])
            got_subject.append(buf_subject[k, :fill[k]])
        todo = todo[overflow]
        capacity *= 4
    pair_crime = by_start[np.concatenate(got_crime)]
    pair_subject = np.concatenate(got_subject)
    order = np.lexsort((pair_subject, pair_crime))
    return pair_crime[order], pair_subject[order]
