"""Tag-wear compliance of each subject over its monitored time: coverage and gaps.

A subject's *monitored time* is a set of closed intervals (its activation periods, clipped to
the period asked about). Its trail *covers* an instant when the instant lies on a joined
segment ``[t_i, t_{i+1}]`` of consecutive fixes with ``0 < t_{i+1} - t_i <= max_gap`` (the same
joining rule as the vicinity contract, docs/vicinity.md). A *gap* is a pair of consecutive
fixes further apart than ``max_gap``; it counts when it meets the monitored time, and its length
is the part of it inside the monitored time.

    covered(s)  = sum over joined segments g of |g ∩ M(s)|
    monitored(s)= |M(s)|
    gaps(s)     = #{gaps g : |g ∩ M(s)| > 0},   gap length = |g ∩ M(s)|

The plain twin is ``tests/naive.py:naive_compliance``.
"""

from __future__ import annotations

import numba as nb
import numpy as np


@nb.njit(cache=True, inline="always")
def _overlap(a0: int, a1: int, m0: np.ndarray, m1: np.ndarray, lo: int, hi: int) -> int:
    total = 0
    for k in range(lo, hi):
        s = max(a0, m0[k])
        e = min(a1, m1[k])
        if e > s:
            total += e - s
    return total


@nb.njit(cache=True)
def _compliance(fix_starts, t, iv_starts, m0, m1, max_gap, covered, gap_count, gap_subject,
                gap_length, fill):
    n_gaps = 0
    for s in range(fix_starts.size - 1):
        lo, hi = iv_starts[s], iv_starts[s + 1]
        if lo == hi:
            continue
        c = 0
        g = 0
        for i in range(fix_starts[s], fix_starts[s + 1] - 1):
            a, b = t[i], t[i + 1]
            dt = b - a
            if dt <= 0:
                continue
            inside = _overlap(a, b, m0, m1, lo, hi)
            if dt <= max_gap:
                c += inside
            elif inside > 0:
                if fill:
                    gap_subject[n_gaps] = s
                    gap_length[n_gaps] = inside
                n_gaps += 1
                g += 1
        covered[s] = c
        gap_count[s] = g
    return n_gaps


def compliance(fix_starts: np.ndarray, t: np.ndarray, iv_starts: np.ndarray, m0: np.ndarray,
               m1: np.ndarray, max_gap_ns: int
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per subject ``s`` (fixes ``t[fix_starts[s]:fix_starts[s+1]]`` sorted by time, monitored
    intervals ``m0[iv_starts[s]:iv_starts[s+1]]`` .. ``m1[...]``, disjoint, int64 ns):
    ``(covered_ns, gap_count, gap_subject, gap_length_ns)`` — the last two one entry a gap."""
    n = fix_starts.size - 1
    fix_starts = np.ascontiguousarray(fix_starts, dtype=np.int64)
    t = np.ascontiguousarray(t, dtype=np.int64)
    iv_starts = np.ascontiguousarray(iv_starts, dtype=np.int64)
    m0 = np.ascontiguousarray(m0, dtype=np.int64)
    m1 = np.ascontiguousarray(m1, dtype=np.int64)
    covered = np.zeros(n, dtype=np.int64)
    gap_count = np.zeros(n, dtype=np.int64)
    none = np.empty(0, dtype=np.int64)
    total = _compliance(fix_starts, t, iv_starts, m0, m1, np.int64(max_gap_ns), covered,
                        gap_count, none, none, False)
    gap_subject = np.empty(total, dtype=np.int64)
    gap_length = np.empty(total, dtype=np.int64)
    _compliance(fix_starts, t, iv_starts, m0, m1, np.int64(max_gap_ns), covered, gap_count,
                gap_subject, gap_length, True)
    return covered, gap_count, gap_subject, gap_length
