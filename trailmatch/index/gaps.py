"""Gaps in the trails, indexed by the bounding boxes of their space-time prisms.

A *gap* is a pair of consecutive fixes a, b of one subject with ``t_b − t_a > max_gap``: the
path is not drawn between them (see ``segments.py``), so where the subject was is unknown.
At speed ``v`` (``Rules.max_speed_mps``) the subject could only have been where it can reach
from a and still get to b. For a crime at c with radius R the prism test of docs/vicinity.md
(``eliminate.py`` derives it) can only pass if

    (d_a − R − ρ_a)⁺ + (d_b − R − ρ_b)⁺ <= v·(t_b − t_a)     (d = distance to c, ρ = precision)

and then ``d_a + d_b <= S = v·(t_b − t_a) + 2R + ρ_a + ρ_b``: c lies in the ellipse with foci
p_a, p_b and major axis S. Its bounding box (centre m = (p_a + p_b)/2, semi-axes
α = S/2 and β = √(α² − f²) with f = |p_b − p_a|/2, direction u = (p_b − p_a)/2f) has half-widths

    h_x = √(α²u_x² + β²u_y²),   h_y = √(α²u_y² + β²u_x²)

and is the gap's key in the index: a crime outside it cannot be reached through that gap,
whatever its window. A gap whose own fixes are further apart than S − 2R − ρ_a − ρ_b allows
(the subject moved faster than v) can reach no crime and is left out.

Boxes are binned like the segment chunks: a loose hierarchical grid (the level whose cell,
``cell_m · 2**level``, is at least as wide as the box; the cell of its lower-left corner) with
time buckets per level at least as long as the longest gap of that level, so a crime probes
2 × 2 cells per level and a few buckets. Bins are a hashed CSR table (counting sort, O(n)).

``reach_rows`` probes the index for each crime (one task per crime, both cores), runs the
exact prism test on each candidate (its data copied in bin order, so probes read memory
sequentially) and keeps, in that crime's rows, each subject's *worst* gap: the one needing the
least speed (smallest ``v`` for which the prism test passes; ties: the earliest gap).
``coverage_rows`` then fills one row per (crime, subject) — fixes in the window, monitored
fraction, gaps meeting the window and the status — from sweeps and binary searches, not
geometry (plus the O(1) test of the unwatched edges of an activation period).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba as nb
import numpy as np

from trailmatch.index.bins import KEY_LEVELS, mix64, pack_key

NS = 1e-9
N_LEVELS = KEY_LEVELS
NO_TIME = np.iinfo(np.int64).min  # NaT in the output
OPEN_END = np.iinfo(np.int64).max  # an activation period with no end yet

# status codes of the coverage rows, in the order of STATUSES
HIT, EXCLUDED, CANNOT_EXCLUDE, NOT_MONITORED = 0, 1, 2, 3
STATUSES = ("hit", "excluded", "cannot_exclude", "not_monitored")


@dataclass
class GapIndex:
    gap_a: np.ndarray  # int64: fix before each gap (the fix after is gap_a + 1), trail order
    gap_starts: np.ndarray  # int64 CSR: subject s owns gaps gap_starts[s]:gap_starts[s+1]
    gap_ta: np.ndarray  # int64 ns: time of the fix before
    gap_tb: np.ndarray  # int64 ns: time of the fix after
    # binned gaps (only those that can reach anything), in bin order
    bin_gap: np.ndarray  # int64: gap id
    bin_key: np.ndarray  # uint64 packed (level, bucket, cell x, cell y)
    box: np.ndarray  # float64 (n, 4): xmin, xmax, ymin, ymax of the crime locations reachable
    # what the prism test reads, copied in bin order so a probe reads memory sequentially:
    # columns ta, tb (int64 ns) and xa, ya, reach_a, xb, yb, reach_b (float64), subject code
    bin_t: np.ndarray  # int64 (n, 2)
    bin_p: np.ndarray  # float64 (n, 6)
    bin_subject: np.ndarray  # int64
    bin_start: np.ndarray  # int64 CSR offsets of the hashed bins
    level_bucket_ns: np.ndarray  # int64 per level: time bucket (0 = level empty)
    # parameters the boxes were built with
    radius_m: float
    speed_mps: float
    cell_m: float

    @property
    def n_gaps(self) -> int:
        return int(self.gap_a.size)


@nb.njit(cache=True)
def find_gaps(subject, t, n_subjects, max_gap_ns):
    """Fix index a of every gap (a, a+1), in trail order, and the CSR offsets per subject."""
    n = t.size
    count = 0
    for i in range(n - 1):
        if subject[i + 1] == subject[i] and t[i + 1] - t[i] > max_gap_ns:
            count += 1
    gap_a = np.empty(count, dtype=np.int64)
    starts = np.zeros(n_subjects + 1, dtype=np.int64)
    k = 0
    for i in range(n - 1):
        if subject[i + 1] == subject[i] and t[i + 1] - t[i] > max_gap_ns:
            gap_a[k] = i
            starts[subject[i] + 1] += 1
            k += 1
    for s in range(n_subjects):
        starts[s + 1] += starts[s]
    return gap_a, starts


@nb.njit(cache=True, inline="always")
def stretch_prism(has_a, ta_ns, xa, ya, reach_a, has_b, tb_ns, xb, yb, reach_b,
                  start_ns, end_ns, cx, cy, w0, w1, radius, speed):
    """The prism test of one unwatched stretch [start, end] against one crime window.

    Times in float seconds from w0; [g0, g1] is the stretch clipped to the window.
    Possible iff  max(g0, t_a + A/v) <= min(g1, t_b − B/v)  with A = (d_a − R − ρ_a)⁺ and
    B = (d_b − R − ρ_b)⁺ (a side with no fix gives no bound). The least speed for which it
    holds is  max(A/(g1 − t_a), B/(t_b − g0), (A + B)/(t_b − t_a))  (each term is one of the
    three inequalities the max/min stand for, solved for v). Returns (possible, speed).
    """
    g0 = np.float64(max(start_ns, w0) - w0) * NS
    g1 = np.float64(min(end_ns, w1) - w0) * NS
    lo = g0
    hi = g1
    need = 0.0
    ta = 0.0
    tb = 0.0
    ra = 0.0
    rb = 0.0
    if has_a:
        ta = np.float64(ta_ns - w0) * NS
        dx = xa - cx
        dy = ya - cy
        ra = max(math.sqrt(dx * dx + dy * dy) - radius - reach_a, 0.0)
        lo = max(g0, ta + ra / speed)
        need = max(need, ra / (g1 - ta))
    if has_b:
        tb = np.float64(tb_ns - w0) * NS
        dx = xb - cx
        dy = yb - cy
        rb = max(math.sqrt(dx * dx + dy * dy) - radius - reach_b, 0.0)
        hi = min(g1, tb - rb / speed)
        need = max(need, rb / (tb - g0))
    if has_a and has_b:
        need = max(need, (ra + rb) / (tb - ta))
    return lo <= hi, need


@nb.njit(cache=True, parallel=True)
def _gap_boxes(gap_a, t, x, y, reach, radius, speed, cell_m):
    """Ellipse bounding box, level and duration of each gap; level -1: reaches nothing."""
    n = gap_a.size
    box = np.empty((n, 4), dtype=np.float64)
    level = np.empty(n, dtype=np.int64)
    for g in nb.prange(n):
        a = gap_a[g]
        b = a + 1
        span = np.float64(t[b] - t[a]) * NS
        big_s = speed * span + 2.0 * radius + reach[a] + reach[b]
        dx = x[b] - x[a]
        dy = y[b] - y[a]
        two_f = math.sqrt(dx * dx + dy * dy)
        # the subject outran v between its own fixes: no crime passes the prism test
        if two_f - 2.0 * radius - reach[a] - reach[b] > speed * span * (1.0 + 1e-9) + 1e-6:
            level[g] = -1
            box[g, 0] = 0.0
            box[g, 1] = 0.0
            box[g, 2] = 0.0
            box[g, 3] = 0.0
            continue
        alpha = 0.5 * big_s
        f = min(0.5 * two_f, alpha)
        beta = math.sqrt(max(alpha * alpha - f * f, 0.0))
        if two_f > 0.0:
            ux = dx / two_f
            uy = dy / two_f
        else:
            ux = 1.0
            uy = 0.0
        # round-off must never drop a candidate: the exact test decides anyway
        slack = 1e-6 * big_s + 1e-3
        hx = math.sqrt(alpha * alpha * ux * ux + beta * beta * uy * uy) + slack
        hy = math.sqrt(alpha * alpha * uy * uy + beta * beta * ux * ux) + slack
        mx = 0.5 * (x[a] + x[b])
        my = 0.5 * (y[a] + y[b])
        box[g, 0] = mx - hx
        box[g, 1] = mx + hx
        box[g, 2] = my - hy
        box[g, 3] = my + hy
        extent = 2.0 * max(hx, hy)
        lev = 0
        size = cell_m
        while size < extent and lev < N_LEVELS - 1:
            size *= 2.0
            lev += 1
        level[g] = lev
    return box, level


@nb.njit(cache=True)
def _bin_gaps(gap_ids, gap_a, t, box, level, level_bucket_ns, cell_m, n_bins):
    n = gap_ids.size
    key = np.empty(n, dtype=np.uint64)
    mask = np.uint64(n_bins - 1)
    counts = np.zeros(n_bins + 1, dtype=np.int64)
    bins = np.empty(n, dtype=np.int64)
    for k in range(n):
        g = gap_ids[k]
        lev = level[g]
        size = cell_m * (2.0 ** lev)
        ix = np.int64(np.floor(box[g, 0] / size))
        iy = np.int64(np.floor(box[g, 2] / size))
        key[k] = pack_key(lev, t[gap_a[g]] // level_bucket_ns[lev], ix, iy)
        b = np.int64(mix64(key[k]) & mask)
        bins[k] = b
        counts[b + 1] += 1
    for b in range(n_bins):
        counts[b + 1] += counts[b]
    fill = counts[:-1].copy()
    order = np.empty(n, dtype=np.int64)
    for k in range(n):
        b = bins[k]
        order[fill[b]] = k
        fill[b] += 1
    return counts, order, key


def build_gap_index(subject: np.ndarray, t: np.ndarray, x: np.ndarray, y: np.ndarray,
                    reach: np.ndarray, n_subjects: int, max_gap_ns: int, radius_m: float,
                    speed_mps: float, *, cell_m: float = 256.0,
                    bucket_s: float = 3600.0) -> GapIndex:
    """Find every gap of the trail (arrays sorted by subject and time, ``reach`` the precision
    radius counted per fix) and bin the reachable ones by their prism's box. O(fixes)."""
    gap_a, gap_starts = find_gaps(subject, t, n_subjects, max_gap_ns)
    gap_ta = t[gap_a]
    gap_tb = t[gap_a + 1]
    box, level = _gap_boxes(gap_a, t, x, y, reach, float(radius_m), float(speed_mps),
                            float(cell_m))
    live = np.flatnonzero(level >= 0)
    base = int(round(bucket_s * 1e9))
    level_bucket_ns = np.zeros(N_LEVELS, dtype=np.int64)
    if live.size:
        dur = gap_tb[live] - gap_ta[live]
        longest = np.zeros(N_LEVELS, dtype=np.int64)
        np.maximum.at(longest, level[live], dur)
        present = np.zeros(N_LEVELS, dtype=bool)
        present[level[live]] = True
        level_bucket_ns[present] = np.maximum(longest[present], base)
    n_bins = 1
    while n_bins < 2 * max(live.size, 1):
        n_bins *= 2
    bin_start, order, key = _bin_gaps(live, gap_a, t, box, level, np.maximum(level_bucket_ns, 1),
                                      float(cell_m), n_bins)
    bin_gap = live[order]
    a = gap_a[bin_gap]
    bin_t = np.ascontiguousarray(np.stack([t[a], t[a + 1]], axis=1))
    bin_p = np.ascontiguousarray(np.stack([x[a], y[a], reach[a], x[a + 1], y[a + 1],
                                           reach[a + 1]], axis=1))
    return GapIndex(gap_a, gap_starts, gap_ta, gap_tb, bin_gap, key[order],
                    np.ascontiguousarray(box[bin_gap]), bin_t, bin_p,
                    np.ascontiguousarray(subject[a], dtype=np.int64), bin_start, level_bucket_ns,
                    float(radius_m), float(speed_mps), float(cell_m))


@nb.njit(cache=True)
def gaps_reaching(ccx, ccy, a0, a1, radius, speed, cell_m, bin_key, box, bin_t, bin_p,
                  bin_start, level_bucket_ns, found_k, found_need):
    """The index's look-up for one crime at (ccx, ccy) with the window [a0, a1]: the entries k
    of the gaps through which their subject could have been in its vicinity (the bins of every
    level the crime's cell and window reach; each gap's box holds the crime and its span meets
    the window; ``stretch_prism`` says yes), each with the least speed that needs. Writes them
    to ``found_k`` / ``found_need`` (grown when full) and returns (how many, found_k,
    found_need). Each gap is binned under one key, so it is found at most once."""
    mask = np.uint64(bin_start.size - 2)
    n = 0
    for lev in range(N_LEVELS):
        bk = level_bucket_ns[lev]
        if bk == 0:
            continue
        size = cell_m * (2.0 ** lev)
        ix0 = np.int64(np.floor((ccx - size) / size))
        ix1 = np.int64(np.floor(ccx / size))
        iy0 = np.int64(np.floor((ccy - size) / size))
        iy1 = np.int64(np.floor(ccy / size))
        # a gap meeting the window starts within one bucket (>= its duration) before a0
        for bucket in range((a0 - bk) // bk, a1 // bk + 1):
            for ix in range(ix0, ix1 + 1):
                for iy in range(iy0, iy1 + 1):
                    key = pack_key(lev, bucket, ix, iy)
                    b = np.int64(mix64(key) & mask)
                    for k in range(bin_start[b], bin_start[b + 1]):
                        if bin_key[k] != key:
                            continue
                        if (ccx < box[k, 0] or ccx > box[k, 1] or ccy < box[k, 2]
                                or ccy > box[k, 3]):
                            continue
                        ta = bin_t[k, 0]
                        tb = bin_t[k, 1]
                        if not (ta < a1 and tb > a0):
                            continue
                        ok, need = stretch_prism(True, ta, bin_p[k, 0], bin_p[k, 1],
                                                 bin_p[k, 2], True, tb, bin_p[k, 3],
                                                 bin_p[k, 4], bin_p[k, 5], ta, tb, ccx, ccy,
                                                 a0, a1, radius, speed)
                        if not ok:
                            continue
                        if n == found_k.size:
                            grown_k = np.empty(2 * n, np.int64)
                            grown_k[:n] = found_k
                            grown_need = np.empty(2 * n)
                            grown_need[:n] = found_need
                            found_k = grown_k
                            found_need = grown_need
                        found_k[n] = k
                        found_need[n] = need
                        n += 1
    return n, found_k, found_need


@nb.njit(cache=True, parallel=True)
def _reach_rows(order, cx, cy, w0, w1, radius, speed, cell_m, bin_key, box, bin_t, bin_p,
                bin_subject, bin_start, level_bucket_ns, subject_row, n_subjects,
                touched, min_speed, worst_from, worst_to):
    for r in nb.prange(order.size):
        i = order[r]
        ccx = cx[i]
        ccy = cy[i]
        a0 = w0[i]
        a1 = w1[i]
        base = r * n_subjects
        n_found, found_k, found_need = gaps_reaching(
            ccx, ccy, a0, a1, radius, speed, cell_m, bin_key, box, bin_t, bin_p, bin_start,
            level_bucket_ns, np.empty(16, np.int64), np.empty(16))
        for q in range(n_found):
            k = found_k[q]
            need = found_need[q]
            ta = bin_t[k, 0]
            tb = bin_t[k, 1]
            row = base + subject_row[bin_subject[k]]
            # worst gap: least speed, then the earliest (a subject's gaps are
            # disjoint, so the earliest start is the earliest gap)
            if (not touched[row] or need < min_speed[row]
                    or (need == min_speed[row] and ta < worst_from[row])):
                touched[row] = True
                min_speed[row] = need
                worst_from[row] = ta
                worst_to[row] = tb


def reach_rows(index: GapIndex, order, cx, cy, w0, w1, subject_row, n_subjects: int):
    """The prism test of every gap the index finds for each crime, straight into the coverage
    rows: crime ``order[r]`` and subject ``subject_row[s]`` (trail code s) is row
    r·n_subjects + subject_row[s]. Returns ``(touched, min_speed, worst_from, worst_to)``: per row
    the worst gap through which the subject could have been in the vicinity, valid where
    ``touched``. Each crime is one task, so rows are never shared
    between threads."""
    n_rows = len(order) * n_subjects
    # zeroed lazily by the OS: only the pages of rows a gap reaches are ever touched here; the
    # evidence columns get their first write in ``coverage_rows``
    touched = np.zeros(n_rows, dtype=np.bool_)
    min_speed = np.empty(n_rows, dtype=np.float64)
    worst_from = np.empty(n_rows, dtype=np.int64)
    worst_to = np.empty(n_rows, dtype=np.int64)
    if index.bin_gap.size:
        _reach_rows(np.ascontiguousarray(order, np.int64), np.ascontiguousarray(cx, np.float64),
                    np.ascontiguousarray(cy, np.float64), np.ascontiguousarray(w0, np.int64),
                    np.ascontiguousarray(w1, np.int64), index.radius_m, index.speed_mps,
                    index.cell_m, index.bin_key, index.box, index.bin_t, index.bin_p,
                    index.bin_subject, index.bin_start, index.level_bucket_ns,
                    np.ascontiguousarray(subject_row, np.int64), n_subjects,
                    touched, min_speed, worst_from, worst_to)
    return touched, min_speed, worst_from, worst_to


@nb.njit(cache=True, inline="always")
def _first_after(t, lo, hi, value, strict):
    """First index in [lo, hi) with t > value (strict) or t >= value."""
    while lo < hi:
        mid = (lo + hi) // 2
        if t[mid] < value or (strict and t[mid] == value):
            lo = mid + 1
        else:
            hi = mid
    return lo


@nb.njit(cache=True, inline="always")
def _gallop(t, p, hi, value, strict):
    """``_first_after(t, p, hi, value, strict)`` found by galloping forward from p: cheap when
    the answer is near p (the next window of a sweep)."""
    if p >= hi or not (t[p] < value or (strict and t[p] == value)):
        return p
    lo = p
    step = 1
    while lo + step < hi and (t[lo + step] < value or (strict and t[lo + step] == value)):
        lo += step
        step *= 2
    return _first_after(t, lo + 1, min(lo + step, hi), value, strict)


@nb.njit(cache=True, parallel=True)
def coverage_rows(order, cx, cy, w0, w1, radius, speed, n_subjects, hit_offsets, hit_subject,
                  fix_lo, fix_hi, t, x, y, reach, gap_lo, gap_hi, gap_ta, gap_tb,
                  mon_lo, mon_hi, mon_start, mon_end, block, reached, min_speed, worst_from,
                  worst_to):
    """One row per (crime, subject): crime ``order[r]`` fills rows r·n_subjects + s.

    Subjects are universe codes (fix, gap and monitoring ranges per code); hits come grouped
    by crime (CSR offsets), subjects ascending within a crime; ``min_speed``, ``worst_from``
    and ``worst_to`` arrive filled by ``reach_rows`` (the worst interior gap per row) and leave
    as the output columns. The unwatched time before the first fix and after the last one
    inside the monitoring (activation data only) is tested here, O(1) per row.

    Tiled for the memory hierarchy: a block of ``block`` crimes (in output order) against each
    subject in turn, so the subject's fixes stay in cache while the block's windows sweep them
    in time order, and the block's rows of consecutive subjects share cache lines.
    """
    n_c = order.size
    n_rows = n_c * n_subjects
    status = np.empty(n_rows, dtype=np.int8)
    fixes = np.empty(n_rows, dtype=np.int32)
    covered = np.empty(n_rows, dtype=np.float64)
    gaps = np.empty(n_rows, dtype=np.int32)
    n_blocks = (n_c + block - 1) // block
    for bi in nb.prange(n_blocks):
        r0 = bi * block
        nb_ = min(r0 + block, n_c) - r0
        crime = order[r0:r0 + nb_]
        bw0 = w0[crime]
        bw1 = w1[crime]
        by0 = np.argsort(bw0)
        by1 = np.argsort(bw1)
        hp = hit_offsets[crime]
        first = np.empty(nb_, dtype=np.int64)
        after = np.empty(nb_, dtype=np.int64)
        for s in range(n_subjects):
            f0 = fix_lo[s]
            f1 = fix_hi[s]
            # first fix at or after w0 / after w1: one sweep per bound in window order
            p = f0
            for jj in range(nb_):
                j = by0[jj]
                p = _gallop(t, p, f1, bw0[j], False)
                first[j] = p
            p = f0
            for jj in range(nb_):
                j = by1[jj]
                p = _gallop(t, p, f1, bw1[j], True)
                after[j] = p
            n_mon = mon_hi[s] - mon_lo[s]
            m0 = mon_start[mon_lo[s]] if n_mon > 0 else 0
            m1 = mon_end[mon_hi[s] - 1] if n_mon > 0 else 0
            t_first = t[f0] if f1 > f0 else 0
            t_last = t[f1 - 1] if f1 > f0 else 0
            has_gaps = gap_hi[s] > gap_lo[s]
            for j in range(nb_):
                i = crime[j]
                row = (r0 + j) * n_subjects + s
                a0 = bw0[j]
                a1 = bw1[j]
                fixes[row] = after[j] - first[j]
                # is it a hit / a subject reachable through a gap? (lists ascending)
                k = hp[j]
                while k < hit_offsets[i + 1] and hit_subject[k] < s:
                    k += 1
                hp[j] = k
                is_hit = k < hit_offsets[i + 1] and hit_subject[k] == s
                # monitoring: merged closed periods
                if n_mon == 1 and m0 <= a0 and a1 <= m1:  # the usual case
                    inside = True
                    covered[row] = 1.0
                else:
                    inside = False
                    touched = False
                    overlap = 0
                    for m in range(mon_lo[s], mon_hi[s]):
                        if mon_start[m] <= a0 and a1 <= mon_end[m]:
                            inside = True
                        if mon_start[m] <= a0 and a0 <= mon_end[m]:
                            touched = True
                        overlap += max(min(mon_end[m], a1) - max(mon_start[m], a0), 0)
                    if a1 > a0:
                        covered[row] = np.float64(overlap) / np.float64(a1 - a0)
                    else:
                        covered[row] = 1.0 if touched else 0.0
                # gaps meeting the window: ending after w0, starting before w1
                n_gaps = 0
                if has_gaps:
                    g_lo = _first_after(gap_tb, gap_lo[s], gap_hi[s], a0, True)
                    n_gaps = _first_after(gap_ta, g_lo, gap_hi[s], a1, False) - g_lo
                decide = inside and not is_hit
                found = False
                best = 0.0
                b_from = NO_TIME
                b_to = NO_TIME
                if f1 == f0:
                    if n_mon > 0 and m0 <= a1 and m1 >= a0:
                        n_gaps += 1
                        found = decide
                        b_from = m0
                        b_to = m1
                else:
                    if m0 < t_first and m0 <= a1 and t_first > a0:
                        n_gaps += 1
                        if decide:
                            ok, need = stretch_prism(False, 0, 0.0, 0.0, 0.0, True, t[f0], x[f0],
                                                     y[f0], reach[f0], m0, t[f0], cx[i], cy[i],
                                                     a0, a1, radius, speed)
                            if ok:
                                found = True
                                best = need
                                b_from = m0
                                b_to = t[f0]
                    if decide and reached[row] and (not found or min_speed[row] < best):
                        via = min_speed[row]
                        found = True
                        best = via
                        b_from = worst_from[row]
                        b_to = worst_to[row]
                    last = f1 - 1
                    if m1 > t_last and t_last < a1 and m1 >= a0:
                        n_gaps += 1
                        if decide:
                            ok, need = stretch_prism(True, t[last], x[last], y[last], reach[last],
                                                     False, 0, 0.0, 0.0, 0.0, t[last], m1, cx[i],
                                                     cy[i], a0, a1, radius, speed)
                            if ok and (not found or need < best):
                                found = True
                                best = need
                                b_from = t[last]
                                b_to = m1
                gaps[row] = n_gaps
                if is_hit:
                    st = HIT
                elif not inside:
                    st = NOT_MONITORED
                elif found:
                    st = CANNOT_EXCLUDE
                else:
                    st = EXCLUDED
                status[row] = st
                if st == CANNOT_EXCLUDE:
                    worst_from[row] = b_from
                    worst_to[row] = NO_TIME if b_to == OPEN_END else b_to
                    min_speed[row] = best
                else:
                    worst_from[row] = NO_TIME
                    worst_to[row] = NO_TIME
                    min_speed[row] = np.nan
    return status, fixes, covered, gaps
