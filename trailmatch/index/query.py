"""Crimes against the segment index: which subjects were in the vicinity, and the hit fields.

Two steps, both parallel over their items (numba ``prange``, both cores):

1. ``hit_pairs``: for each crime, visit the bins its (x, y, window) box can reach, refine each
   candidate chunk piece by piece with the exact closed form, and keep the distinct subjects
   with an in-vicinity instant. (Run twice: once to count, once to fill, so the output is
   allocated exactly.)
2. ``hit_fields``: for each (crime, subject) hit, walk that subject's path through the window
   once and compute every field of the contract exactly.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from trailmatch.index.bins import mix64, pack_key
from trailmatch.index.segments import (
    BLOCK,
    N_LEVELS,
    SegmentIndex,
    TrailPath,
)
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


@nb.njit(cache=True)
def _crime_subjects(cx, cy, w0, w1, radius, chunk_first, chunk_end, chunk_key, box, tspan,
                    bin_start, levels, cell_m, bucket_ns, max_chunk_ns, max_gap_ns,
                    subject, t, x, y, reach, out, out_start, slots):
    """Distinct subjects in the vicinity of one crime, ascending. Writes them to
    out[out_start:] when out_start >= 0, else the first ``slots.size`` of them to ``slots``;
    returns how many there are."""
    wlen = np.float64(w1 - w0) * NS
    mask = np.uint64(bin_start.size - 2)
    found = np.empty(16, dtype=np.int64)
    n_found = 0
    b_lo = (w0 - max_chunk_ns) // bucket_ns
    b_hi = w1 // bucket_ns
    for level in range(N_LEVELS):
        if not levels[level]:
            continue
        size = cell_m * (2.0 ** level)
        ix0 = np.int64(np.floor((cx - radius - size) / size))
        ix1 = np.int64(np.floor((cx + radius) / size))
        iy0 = np.int64(np.floor((cy - radius - size) / size))
        iy1 = np.int64(np.floor((cy + radius) / size))
        for bucket in range(b_lo, b_hi + 1):
            for ix in range(ix0, ix1 + 1):
                for iy in range(iy0, iy1 + 1):
                    key = pack_key(level, bucket, ix, iy)
                    b = np.int64(mix64(key) & mask)
                    for c in range(bin_start[b], bin_start[b + 1]):
                        if chunk_key[c] != key:
                            continue
                        if tspan[c, 0] > w1 or tspan[c, 1] < w0:
                            continue
                        # distance from the crime to the chunk's box
                        ddx = max(box[c, 0] - cx, 0.0, cx - box[c, 1])
                        ddy = max(box[c, 2] - cy, 0.0, cy - box[c, 3])
                        if ddx * ddx + ddy * ddy > radius * radius:
                            continue
                        s = subject[chunk_first[c]]
                        known = False
                        for k in range(n_found):
                            if found[k] == s:
                                known = True
                                break
                        if known:
                            continue
                        for m in range(chunk_first[c], chunk_end[c]):
                            b = piece_end(m, m > 0 and subject[m - 1] == s
                                          and linked(t[m] - t[m - 1], max_gap_ns),
                                          m + 1 < t.size and subject[m + 1] == s
                                          and linked(t[m + 1] - t[m], max_gap_ns))
                            if b < 0:
                                continue
                            if b > m:
                                near = segment_near(t[m], x[m], y[m], reach[m], t[b], x[b],
                                                    y[b], reach[b], w0, w1, wlen, cx, cy,
                                                    radius)
                            else:
                                near = fix_near(t[m], x[m], y[m], reach[m], w0, w1, cx, cy,
                                                radius)
                            if near:
                                if n_found == found.size:
                                    grown = np.empty(found.size * 2, dtype=np.int64)
                                    grown[:n_found] = found[:n_found]
                                    found = grown
                                found[n_found] = s
                                n_found += 1
                                break
    sub = np.sort(found[:n_found])
    if out_start >= 0:
        out[out_start:out_start + n_found] = sub
    else:
        m = min(n_found, slots.size)
        slots[:m] = sub[:m]
    return n_found


SLOTS = 8  # hits kept per crime in the single pass; crimes with more are queried again


@nb.njit(cache=True, inline="always")
def _pairs_first_pass(i, counts, slots, cx, cy, w0, w1, radius, chunk_first, chunk_end,
                      chunk_key, box, tspan, bin_start, levels, cell_m, bucket_ns, max_chunk_ns,
                      max_gap_ns, subject, t, x, y, reach):
    counts[i + 1] = _crime_subjects(cx[i], cy[i], w0[i], w1[i], radius, chunk_first, chunk_end,
                                    chunk_key, box, tspan, bin_start, levels, cell_m, bucket_ns,
                                    max_chunk_ns, max_gap_ns, subject, t, x, y, reach,
                                    slots[:0], -1, slots[i * SLOTS:(i + 1) * SLOTS])


@nb.njit(cache=True, inline="always")
def _pairs_second_pass(i, counts, slots, pair_crime, pair_subject, cx, cy, w0, w1, radius,
                       chunk_first, chunk_end, chunk_key, box, tspan, bin_start, levels, cell_m,
                       bucket_ns, max_chunk_ns, max_gap_ns, subject, t, x, y, reach):
    k = counts[i + 1] - counts[i]
    if k <= SLOTS:
        pair_subject[counts[i]:counts[i + 1]] = slots[i * SLOTS:i * SLOTS + k]
    else:  # a crowded crime: query again straight into its place in the output
        _crime_subjects(cx[i], cy[i], w0[i], w1[i], radius, chunk_first, chunk_end, chunk_key,
                        box, tspan, bin_start, levels, cell_m, bucket_ns, max_chunk_ns,
                        max_gap_ns, subject, t, x, y, reach, pair_subject, counts[i], slots[:0])
    pair_crime[counts[i]:counts[i + 1]] = i


# Two entry points, one body (``_pairs_first_pass`` / ``_pairs_second_pass``): the parallel one
# for a batch of crimes, the serial one for a look-up of a few (an officer's one crime), where
# waking the thread pool costs more than the query (docs/performance.md: 1.5 ms parallel
# against 0.05 ms serial for one crime, on the loaded machine). They cannot be one Python
# function compiled twice, ``njit(parallel=True)(f)`` and ``njit(f)``: with cache=True both
# dispatchers use one cache entry, keyed by the function's name and line but not by its
# target options (numba issue #6845, open), so one would load the other's machine code.
# ``visits.py`` has the same pair for the same reason.
@nb.njit(cache=True, parallel=True)
def _hit_pairs_parallel(cx, cy, w0, w1, radius, chunk_first, chunk_end, chunk_key, box, tspan,
                        bin_start, levels, cell_m, bucket_ns, max_chunk_ns, max_gap_ns,
                        subject, t, x, y, reach):
    n = cx.size
    counts = np.zeros(n + 1, dtype=np.int64)
    slots = np.empty(n * SLOTS, dtype=np.int64)
    for i in nb.prange(n):
        _pairs_first_pass(i, counts, slots, cx, cy, w0, w1, radius, chunk_first, chunk_end,
                          chunk_key, box, tspan, bin_start, levels, cell_m, bucket_ns,
                          max_chunk_ns, max_gap_ns, subject, t, x, y, reach)
    for i in range(n):
        counts[i + 1] += counts[i]
    pair_subject = np.empty(counts[n], dtype=np.int64)
    pair_crime = np.empty(counts[n], dtype=np.int64)
    for i in nb.prange(n):
        _pairs_second_pass(i, counts, slots, pair_crime, pair_subject, cx, cy, w0, w1, radius,
                           chunk_first, chunk_end, chunk_key, box, tspan, bin_start, levels,
                           cell_m, bucket_ns, max_chunk_ns, max_gap_ns, subject, t, x, y, reach)
    return pair_crime, pair_subject


@nb.njit(cache=True)
def _hit_pairs_serial(cx, cy, w0, w1, radius, chunk_first, chunk_end, chunk_key, box, tspan,
                      bin_start, levels, cell_m, bucket_ns, max_chunk_ns, max_gap_ns,
                      subject, t, x, y, reach):
    n = cx.size
    counts = np.zeros(n + 1, dtype=np.int64)
    slots = np.empty(n * SLOTS, dtype=np.int64)
    for i in range(n):
        _pairs_first_pass(i, counts, slots, cx, cy, w0, w1, radius, chunk_first, chunk_end,
                          chunk_key, box, tspan, bin_start, levels, cell_m, bucket_ns,
                          max_chunk_ns, max_gap_ns, subject, t, x, y, reach)
    for i in range(n):
        counts[i + 1] += counts[i]
    pair_subject = np.empty(counts[n], dtype=np.int64)
    pair_crime = np.empty(counts[n], dtype=np.int64)
    for i in range(n):
        _pairs_second_pass(i, counts, slots, pair_crime, pair_subject, cx, cy, w0, w1, radius,
                           chunk_first, chunk_end, chunk_key, box, tspan, bin_start, levels,
                           cell_m, bucket_ns, max_chunk_ns, max_gap_ns, subject, t, x, y, reach)
    return pair_crime, pair_subject


# Below this many crimes (or hits) waking the thread pool costs more than the work.
PARALLEL_FROM = 64
PAIRS_PER_PART = 64  # hits whose fields one call gathers (threads take them in turn)


def _spread_bits(v: np.ndarray) -> np.ndarray:
    v = v.astype(np.uint64) & np.uint64(0xFFFF)
    v = (v | (v << np.uint64(8))) & np.uint64(0x00FF00FF)
    v = (v | (v << np.uint64(4))) & np.uint64(0x0F0F0F0F)
    v = (v | (v << np.uint64(2))) & np.uint64(0x33333333)
    return (v | (v << np.uint64(1))) & np.uint64(0x55555555)


def locality_order(cx: np.ndarray, cy: np.ndarray, w0: np.ndarray,
                   cell_m: float = 2048.0) -> np.ndarray:
    """An order of the crimes along a Z curve over ~2 km cells, then by time: crimes queried
    one after another then reach the same bins and chunks while they are still in cache
    (measured ~1.5x faster on the national day than input order)."""
    ix = np.floor(np.asarray(cx) / cell_m).astype(np.int64)
    iy = np.floor(np.asarray(cy) / cell_m).astype(np.int64)
    z = _spread_bits(ix - ix.min(initial=0)) | (_spread_bits(iy - iy.min(initial=0))
                                                 << np.uint64(1))
    return np.lexsort((w0, z))


def hit_pairs(index: SegmentIndex, cx, cy, w0, w1, radius: float):
    """(crime row, subject code) of every hit, grouped by crime row ascending, subjects
    ascending within a crime."""
    cx = np.ascontiguousarray(cx, np.float64)
    cy = np.ascontiguousarray(cy, np.float64)
    w0 = np.ascontiguousarray(w0, np.int64)
    w1 = np.ascontiguousarray(w1, np.int64)
    order = locality_order(cx, cy, w0)
    kernel = _hit_pairs_parallel if cx.size >= PARALLEL_FROM else _hit_pairs_serial
    pair_crime, pair_subject = kernel(
        cx[order], cy[order], w0[order], w1[order], float(radius), index.chunk_first,
        index.chunk_end, index.chunk_key, index.box, index.tspan, index.bin_start, index.levels,
        index.cell_m, index.bucket_ns, index.max_chunk_ns, index.max_gap_ns, index.subject,
        index.t, index.x, index.y, index.reach)
    pair_crime = order[pair_crime]
    back = np.argsort(pair_crime, kind="stable")
    return pair_crime[back], pair_subject[back]


@nb.njit(cache=True)
def _pairs_fields(p0, p1, pair_crime, pair_subject, cx, cy, w0, w1, radius, max_gap_ns, starts,
                  subject, t, x, y, reach, block_box, max_reach, precision, source, bit_lut,
                  found, min_dist, min_time, first_in, last_in, duration, fixes_in, max_prec,
                  sources):
    """Every field of hits p0 .. p1-1: for each, one walk along the subject's path through
    the window. (A range, not one hit per call: a call pays a reference count per array.)"""
    for p in range(p0, p1):
        i = pair_crime[p]
        s = pair_subject[p]
        base = w0[i]
        wlen = np.float64(w1[i] - base) * NS
        ccx = cx[i]
        ccy = cy[i]
        lo = starts[s]
        hi = starts[s + 1]
        m = max(first_at_or_after(t, lo, hi, base) - 1, lo)
        best = math.inf
        best2 = math.inf
        best_t = 0.0
        f_in = math.inf
        l_in = -math.inf
        dur = 0.0
        nfix = 0
        mp = -1.0
        src = 0
        # The pair is a hit, so its closest approach is within R + the largest reach anywhere:
        # farther blocks cannot hold it even before a closest approach has been seen.
        hit_bound = radius + max_reach
        hit_bound2 = hit_bound * hit_bound
        first = m
        while m < hi and t[m] <= w1[i]:
            if m % BLOCK == 0 or m == first:
                # a block of the path that can neither be in the vicinity nor come closer than the
                # closest approach so far contributes nothing: step over it
                k = m // BLOCK
                ddx = max(block_box[k, 0] - ccx, 0.0, ccx - block_box[k, 1])
                ddy = max(block_box[k, 2] - ccy, 0.0, ccy - block_box[k, 3])
                d2 = ddx * ddx + ddy * ddy
                reach_max = radius + block_box[k, 4]
                if d2 > reach_max * reach_max and (d2 >= best2 or d2 > hit_bound2):
                    m = (k + 1) * BLOCK
                    continue
            rel = np.float64(t[m] - base) * NS
            inside = rel >= 0.0 and rel <= wlen
            if inside:
                d = point_distance(x[m], y[m], ccx, ccy)
                if d <= radius + reach[m]:
                    nfix += 1
                    if precision[m] == precision[m] and precision[m] > mp:
                        mp = precision[m]
                    src |= bit_lut[source[m]]
            piece = piece_end(m, m > lo and linked(t[m] - t[m - 1], max_gap_ns),
                              m + 1 < hi and linked(t[m + 1] - t[m], max_gap_ns))
            if piece > m:  # a segment
                may_hit = segment_box_may_hit(x[m], y[m], reach[m], x[m + 1], y[m + 1],
                                              reach[m + 1], ccx, ccy, radius)
                if may_hit or box_distance2(x[m], y[m], x[m + 1], y[m + 1], ccx, ccy) < best2:
                    ov, ok, a, b, dmin, tmin = segment_vicinity(
                        rel, x[m], y[m], reach[m], np.float64(t[m + 1] - base) * NS,
                        x[m + 1], y[m + 1], reach[m + 1], ccx, ccy, radius, wlen)
                    if ov:
                        if dmin < best:
                            best = dmin
                            best2 = dmin * dmin
                            best_t = tmin
                        if ok and may_hit:
                            f_in = min(f_in, a)
                            l_in = max(l_in, b)
                            dur += b - a
            elif piece == m and inside:  # an isolated fix
                d = point_distance(x[m], y[m], ccx, ccy)
                if d < best:
                    best = d
                    best2 = d * d
                    best_t = rel
                if d <= radius + reach[m]:
                    f_in = min(f_in, rel)
                    l_in = max(l_in, rel)
            m += 1
        found[p] = f_in <= l_in
        min_dist[p] = best
        min_time[p] = base + np.int64(round(best_t * 1e9))
        if found[p]:
            first_in[p] = base + np.int64(round(f_in * 1e9))
            last_in[p] = base + np.int64(round(l_in * 1e9))
        duration[p] = dur
        fixes_in[p] = nfix
        if mp >= 0.0:
            max_prec[p] = mp
        sources[p] = src


@nb.njit(cache=True)
def _field_arrays(n):
    return (np.zeros(n, dtype=np.bool_), np.full(n, np.inf), np.zeros(n, dtype=np.int64),
            np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64), np.zeros(n),
            np.zeros(n, dtype=np.int64), np.full(n, np.nan), np.zeros(n, dtype=np.int64))


@nb.njit(cache=True, parallel=True)
def _hit_fields_kernel(pair_crime, pair_subject, cx, cy, w0, w1, radius, max_gap_ns,
                       starts, subject, t, x, y, reach, block_box, max_reach, precision,
                       source, bit_lut, n_parts):
    """The fields of every pair, in ``n_parts`` ranges handed to the threads in turn."""
    (found, min_dist, min_time, first_in, last_in, duration, fixes_in, max_prec,
     sources) = _field_arrays(pair_crime.size)
    n = pair_crime.size
    for part in nb.prange(n_parts):
        _pairs_fields(part * n // n_parts, (part + 1) * n // n_parts, pair_crime, pair_subject,
                      cx, cy, w0, w1, radius, max_gap_ns, starts, subject, t, x, y, reach,
                      block_box, max_reach, precision, source, bit_lut, found, min_dist,
                      min_time, first_in, last_in, duration, fixes_in, max_prec, sources)
    return found, min_dist, min_time, first_in, last_in, duration, fixes_in, max_prec, sources


def hit_fields(index: SegmentIndex | TrailPath, trail: Trail, pair_crime, pair_subject, cx, cy,
               w0, w1, radius: float):
    """Every hit field of each (crime row, subject code) pair from ``hit_pairs``: arrays
    (found, min_dist, min_time ns, first_in ns, last_in ns, duration s, fixes_in,
    max_precision (NaN: none), source bit mask), in the order of the pairs given."""
    w0 = np.ascontiguousarray(w0, np.int64)
    pair_crime = np.asarray(pair_crime, np.int64)
    pair_subject = np.asarray(pair_subject, np.int64)
    # walk the pairs subject by subject, in time: consecutive walks share the fixes in cache
    order = np.lexsort((w0[pair_crime], pair_subject))
    args = (pair_crime[order], pair_subject[order], np.ascontiguousarray(cx, np.float64),
            np.ascontiguousarray(cy, np.float64), w0, np.ascontiguousarray(w1, np.int64),
            float(radius), index.max_gap_ns, trail.starts, index.subject, index.t, index.x,
            index.y, index.reach, index.block_box, index.max_reach, trail.precision,
            trail.source, SOURCE_BIT_LUT)
    if pair_crime.size < PARALLEL_FROM:  # an officer's look-up: no threads woken for it
        fields = _field_arrays(pair_crime.size)
        _pairs_fields(0, pair_crime.size, *args, *fields)
    else:
        fields = _hit_fields_kernel(*args, (pair_crime.size + PAIRS_PER_PART - 1)
                                    // PAIRS_PER_PART)
    out = []
    for a in fields:
        b = np.empty_like(a)
        b[order] = a
        out.append(b)
    return tuple(out)
