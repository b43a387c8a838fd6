"""Coverage as a per-crime answer: counts per crime, evidence rows only where there is evidence.

The per-pair table (``gaps.coverage_rows``) writes one row per (crime, subject); this module
writes, per crime, four counts and one row for each subject that **cannot be excluded** (its
worst unwatched stretch) or is **monitored for only part of the window** (its monitored
share). Excluded subjects are counted, never listed, so memory and time follow the crimes,
the hits, the gaps the index finds and the evidence rows, not crimes × subjects:

- ``monitored_counts``: per crime, how many merged monitoring periods contain its window
  W = [w0, w1]. A subject's merged periods are disjoint, so at most one of them can contain W:
  that is the number of subjects monitored through W. An offline dominance count (periods by
  start, crimes by w0, a Fenwick tree over the periods' ends): O((periods + crimes) log).
- ``crime_evidence``: per crime, the gap index's candidates (the prism test of
  ``gaps.gaps_reaching``, the look-up ``gaps._reach_rows`` runs) and the unwatched edges of the
  monitoring (before the first fix / after the last one, activation data only) are reduced per
  subject to the worst stretch (least speed, then earliest start) in a per-thread scratch
  table; subjects that are hits or not monitored through W are dropped. Then the subjects with a
  monitoring boundary strictly inside W (the only ones monitored for part of it; sorted
  boundaries, binary search) are added with their monitored share, unless hits.

Each evidence row also carries the per-pair table's ``fixes_in_window`` and ``gaps`` (the same
binary searches as ``coverage_rows``), so a row here equals that table's row for the pair.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from trailmatch.index.gaps import (
    CANNOT_EXCLUDE,
    NO_TIME,
    NOT_MONITORED,
    OPEN_END,
    _first_after,
    gaps_reaching,
    stretch_prism,
)

# kinds of edge stretch: no fix at all in the monitoring, before the first fix, after the last
EDGE_NONE, EDGE_BEFORE, EDGE_AFTER = 0, 1, 2


@nb.njit(cache=True)
def monitored_counts(period_start, period_end, w0, w1):
    """Per crime k: the number of periods with ``start <= w0[k]`` and ``end >= w1[k]``."""
    n_p = period_start.size
    n_c = w0.size
    out = np.zeros(n_c, dtype=np.int64)
    if n_p == 0 or n_c == 0:
        return out
    ends = np.sort(period_end)
    rank = np.searchsorted(ends, period_end)  # 0-based rank of each period's end (ties share)
    by_start = np.argsort(period_start, kind="mergesort")
    by_w0 = np.argsort(w0, kind="mergesort")
    tree = np.zeros(n_p + 1, dtype=np.int64)
    added = 0
    p = 0
    for kk in range(n_c):
        k = by_w0[kk]
        while p < n_p and period_start[by_start[p]] <= w0[k]:
            i = rank[by_start[p]] + 1
            while i <= n_p:
                tree[i] += 1
                i += i & (-i)
            added += 1
            p += 1
        # periods added whose end < w1: prefix of the sorted ends
        below = np.searchsorted(ends, w1[k])  # ends[:below] < w1
        i = below
        s = 0
        while i > 0:
            s += tree[i]
            i -= i & (-i)
        out[k] = added - s
    return out


@nb.njit(cache=True, inline="always")
def _inside(mon_lo, mon_hi, mon_start, mon_end, u, a0, a1):
    """Is [a0, a1] inside one of the subject's merged monitoring periods?"""
    found = False
    for m in range(mon_lo[u], mon_hi[u]):
        found = found or (mon_start[m] <= a0 and a1 <= mon_end[m])
    return found


@nb.njit(cache=True)
def hits_monitored(hit_crime, hit_u, mon_lo, mon_hi, mon_start, mon_end, w0, w1, n_crimes):
    """Per crime row: how many of its hits are of subjects monitored through its window."""
    out = np.zeros(n_crimes, dtype=np.int64)
    for k in range(hit_crime.size):
        i = hit_crime[k]
        if _inside(mon_lo, mon_hi, mon_start, mon_end, hit_u[k], w0[i], w1[i]):
            out[i] += 1
    return out


@nb.njit(cache=True, inline="always")
def covered_share(mon_lo, mon_hi, mon_start, mon_end, u, a0, a1):
    """The share of [a0, a1] inside the subject's monitoring (as ``coverage_rows``)."""
    n_mon = mon_hi[u] - mon_lo[u]
    if n_mon == 1 and mon_start[mon_lo[u]] <= a0 and a1 <= mon_end[mon_lo[u]]:
        return 1.0
    touched = False
    overlap = 0
    for m in range(mon_lo[u], mon_hi[u]):
        if mon_start[m] <= a0 and a0 <= mon_end[m]:
            touched = True
        overlap += max(min(mon_end[m], a1) - max(mon_start[m], a0), 0)
    if a1 > a0:
        return np.float64(overlap) / np.float64(a1 - a0)
    return 1.0 if touched else 0.0


@nb.njit(cache=True, inline="always")
def row_counts(u, a0, a1, fix_lo, fix_hi, t, gap_lo, gap_hi, gap_ta, gap_tb, mon_lo, mon_hi,
               mon_start, mon_end):
    """``fixes_in_window`` and ``gaps`` of the pair (crime window [a0, a1], subject u), exactly
    as ``gaps.coverage_rows`` counts them."""
    f0 = fix_lo[u]
    f1 = fix_hi[u]
    fixes = (_first_after(t, f0, f1, a1, True) - _first_after(t, f0, f1, a0, False))
    n_gaps = 0
    if gap_hi[u] > gap_lo[u]:
        g_lo = _first_after(gap_tb, gap_lo[u], gap_hi[u], a0, True)
        n_gaps = _first_after(gap_ta, g_lo, gap_hi[u], a1, False) - g_lo
    n_mon = mon_hi[u] - mon_lo[u]
    m0 = mon_start[mon_lo[u]] if n_mon > 0 else 0
    m1 = mon_end[mon_hi[u] - 1] if n_mon > 0 else 0
    if f1 == f0:
        if n_mon > 0 and m0 <= a1 and m1 >= a0:
            n_gaps += 1
    else:
        if m0 < t[f0] and m0 <= a1 and t[f0] > a0:
            n_gaps += 1
        if m1 > t[f1 - 1] and t[f1 - 1] < a1 and m1 >= a0:
            n_gaps += 1
    return fixes, n_gaps


@nb.njit(cache=True, inline="always")
def _offer(slot_u, slot_need, slot_from, slot_to, slot_a, slot_b, base, count, stamp, slot,
           tid, mark, u, need, g_from, g_to, fa, fb):
    """Keep, per subject, the stretch needing the least speed (ties: the earliest start)."""
    if stamp[tid, u] != mark:
        stamp[tid, u] = mark
        p = base + count
        slot[tid, u] = count
        slot_u[p] = u
        slot_need[p] = need
        slot_from[p] = g_from
        slot_to[p] = g_to
        slot_a[p] = fa
        slot_b[p] = fb
        return count + 1
    p = base + slot[tid, u]
    if need < slot_need[p] or (need == slot_need[p] and g_from < slot_from[p]):
        slot_need[p] = need
        slot_from[p] = g_from
        slot_to[p] = g_to
        slot_a[p] = fa
        slot_b[p] = fb
    return count


@nb.njit(cache=True, parallel=True)
def crime_evidence(order, r_first, cx, cy, w0, w1, radius, speed, cell_m, bin_key, box, bin_t,
                   bin_p, bin_subject, bin_fix_a, bin_start, level_bucket_ns, subject_row,
                   n_u, hit_offsets, hit_u, fix_lo, fix_hi, t, x, y, reach, gap_lo, gap_hi,
                   gap_ta, gap_tb, mon_lo, mon_hi, mon_start, mon_end,
                   edge_kind, edge_u, edge_key, edge_order_none, edge_order_before,
                   edge_order_after, bound_t, bound_u, stamp, slot):
    """Evidence rows of the crimes ``order`` (one task per crime; ``r_first``: the position of
    ``order[0]`` in the whole output, so stamps stay unique across calls).

    Returns flat arrays in crime order (then subject code): ``count`` per crime and per row
    ``u, status, fixes, gaps, covered, need, from, to, fix_a, fix_b`` (fix indices −1 for a
    side without a fix; times ``NO_TIME`` for none)."""
    n_c = order.size
    cap = n_u
    slot_u = np.empty(n_c * cap, dtype=np.int64)
    slot_need = np.empty(n_c * cap, dtype=np.float64)
    slot_from = np.empty(n_c * cap, dtype=np.int64)
    slot_to = np.empty(n_c * cap, dtype=np.int64)
    slot_a = np.empty(n_c * cap, dtype=np.int64)
    slot_b = np.empty(n_c * cap, dtype=np.int64)
    slot_cov = np.empty(n_c * cap, dtype=np.float64)
    slot_status = np.empty(n_c * cap, dtype=np.int8)
    counts = np.zeros(n_c, dtype=np.int64)
    n_none = edge_order_none.size
    n_before = edge_order_before.size
    n_after = edge_order_after.size
    for j in nb.prange(n_c):
        tid = nb.get_thread_id()
        i = order[j]
        ccx = cx[i]
        ccy = cy[i]
        a0 = w0[i]
        a1 = w1[i]
        base = j * cap
        mark = r_first + j + 1
        count = 0
        # 1. interior gaps the index finds (as gaps._reach_rows)
        if bin_key.size:
            n_found, found_k, found_need = gaps_reaching(
                ccx, ccy, a0, a1, radius, speed, cell_m, bin_key, box, bin_t, bin_p, bin_start,
                level_bucket_ns, np.empty(16, np.int64), np.empty(16))
            for q in range(n_found):
                k = found_k[q]
                fa = bin_fix_a[k]
                count = _offer(slot_u, slot_need, slot_from, slot_to, slot_a, slot_b, base,
                               count, stamp, slot, tid, mark, subject_row[bin_subject[k]],
                               found_need[q], bin_t[k, 0], bin_t[k, 1], fa, fa + 1)
        # 2. the edges of the monitoring (activation data only) that meet the window.
        # edge_key: start for EDGE_NONE / EDGE_AFTER (ascending), end for EDGE_BEFORE (ascending)
        for q in range(n_none):  # [m0, m1], no fix: meets W iff m0 <= a1 and m1 >= a0
            e = edge_order_none[q]
            if edge_key[e] > a1:
                break
            u = edge_u[e]
            if mon_end[mon_hi[u] - 1] >= a0:
                count = _offer(slot_u, slot_need, slot_from, slot_to, slot_a, slot_b, base,
                               count, stamp, slot, tid, mark, u, 0.0, mon_start[mon_lo[u]],
                               mon_end[mon_hi[u] - 1], -1, -1)
        # before the first fix: [m0, t_first] meets W iff m0 <= a1 and t_first > a0
        lo = 0
        hi = n_before
        while lo < hi:
            mid = (lo + hi) // 2
            if edge_key[edge_order_before[mid]] <= a0:
                lo = mid + 1
            else:
                hi = mid
        for q in range(lo, n_before):
            e = edge_order_before[q]
            u = edge_u[e]
            m0 = mon_start[mon_lo[u]]
            if m0 > a1:
                continue
            f0 = fix_lo[u]
            ok, need = stretch_prism(False, 0, 0.0, 0.0, 0.0, True, t[f0], x[f0], y[f0],
                                     reach[f0], m0, t[f0], ccx, ccy, a0, a1, radius, speed)
            if ok:
                count = _offer(slot_u, slot_need, slot_from, slot_to, slot_a, slot_b, base,
                               count, stamp, slot, tid, mark, u, need, m0, t[f0], -1, f0)
        # after the last fix: [t_last, m1] meets W iff t_last < a1 and m1 >= a0
        for q in range(n_after):
            e = edge_order_after[q]
            if edge_key[e] >= a1:
                break
            u = edge_u[e]
            m1 = mon_end[mon_hi[u] - 1]
            if m1 < a0:
                continue
            last = fix_hi[u] - 1
            ok, need = stretch_prism(True, t[last], x[last], y[last], reach[last], False, 0,
                                     0.0, 0.0, 0.0, t[last], m1, ccx, ccy, a0, a1, radius, speed)
            if ok:
                count = _offer(slot_u, slot_need, slot_from, slot_to, slot_a, slot_b, base,
                               count, stamp, slot, tid, mark, u, need, t[last], m1, last, -1)
        # 3. keep those monitored through W and not hits
        h0 = hit_offsets[i]
        h1 = hit_offsets[i + 1]
        kept = 0
        for q in range(count):
            p = base + q
            u = slot_u[p]
            if not _inside(mon_lo, mon_hi, mon_start, mon_end, u, a0, a1):
                continue
            hp = _first_after(hit_u, h0, h1, u, False)
            if hp < h1 and hit_u[hp] == u:
                continue
            d = base + kept
            slot_u[d] = u
            slot_need[d] = slot_need[p]
            slot_from[d] = slot_from[p]
            slot_to[d] = NO_TIME if slot_to[p] == OPEN_END else slot_to[p]
            slot_a[d] = slot_a[p]
            slot_b[d] = slot_b[p]
            slot_cov[d] = 1.0
            slot_status[d] = CANNOT_EXCLUDE
            kept += 1
        # 4. monitored for part of W: a monitoring boundary strictly inside (a0, a1)
        if a1 > a0:
            mark2 = -mark
            q0 = _first_after(bound_t, 0, bound_t.size, a0, True)
            q1 = _first_after(bound_t, q0, bound_t.size, a1, False)
            for q in range(q0, q1):
                u = bound_u[q]
                if stamp[tid, u] == mark2:
                    continue
                stamp[tid, u] = mark2
                hp = _first_after(hit_u, h0, h1, u, False)
                if hp < h1 and hit_u[hp] == u:
                    continue
                share = covered_share(mon_lo, mon_hi, mon_start, mon_end, u, a0, a1)
                if share <= 0.0:
                    continue
                d = base + kept
                slot_u[d] = u
                slot_need[d] = np.nan
                slot_from[d] = NO_TIME
                slot_to[d] = NO_TIME
                slot_a[d] = -1
                slot_b[d] = -1
                slot_cov[d] = share
                slot_status[d] = NOT_MONITORED
                kept += 1
        # subjects ascending within the crime
        if kept > 1:
            by = np.argsort(slot_u[base:base + kept])
            su = slot_u[base:base + kept][by]
            sn = slot_need[base:base + kept][by]
            sf = slot_from[base:base + kept][by]
            st = slot_to[base:base + kept][by]
            sa = slot_a[base:base + kept][by]
            sb = slot_b[base:base + kept][by]
            sc = slot_cov[base:base + kept][by]
            ss = slot_status[base:base + kept][by]
            slot_u[base:base + kept] = su
            slot_need[base:base + kept] = sn
            slot_from[base:base + kept] = sf
            slot_to[base:base + kept] = st
            slot_a[base:base + kept] = sa
            slot_b[base:base + kept] = sb
            slot_cov[base:base + kept] = sc
            slot_status[base:base + kept] = ss
        counts[j] = kept
    # compact the crimes' regions into flat rows, crime order
    offsets = np.zeros(n_c + 1, dtype=np.int64)
    for j in range(n_c):
        offsets[j + 1] = offsets[j] + counts[j]
    n = offsets[n_c]
    out_u = np.empty(n, dtype=np.int64)
    out_status = np.empty(n, dtype=np.int8)
    out_fixes = np.empty(n, dtype=np.int32)
    out_gaps = np.empty(n, dtype=np.int32)
    out_cov = np.empty(n, dtype=np.float64)
    out_need = np.empty(n, dtype=np.float64)
    out_from = np.empty(n, dtype=np.int64)
    out_to = np.empty(n, dtype=np.int64)
    out_a = np.empty(n, dtype=np.int64)
    out_b = np.empty(n, dtype=np.int64)
    for j in nb.prange(n_c):
        i = order[j]
        for q in range(counts[j]):
            p = j * cap + q
            d = offsets[j] + q
            u = slot_u[p]
            out_u[d] = u
            out_status[d] = slot_status[p]
            f, g = row_counts(u, w0[i], w1[i], fix_lo, fix_hi, t, gap_lo, gap_hi, gap_ta,
                              gap_tb, mon_lo, mon_hi, mon_start, mon_end)
            out_fixes[d] = f
            out_gaps[d] = g
            out_cov[d] = slot_cov[p]
            out_need[d] = slot_need[p]
            out_from[d] = slot_from[p]
            out_to[d] = slot_to[p]
            out_a[d] = slot_a[p]
            out_b[d] = slot_b[p]
    return (counts, out_u, out_status, out_fixes, out_gaps, out_cov, out_need, out_from, out_to,
            out_a, out_b)
