"""Tag-wear compliance of each subject over a period: coverage and gaps, streamed day by day.

A subject's *monitored time* in the period ``[p0, p1)`` is either a set of intervals (its
activation periods clipped to the period) or, for a subject without activation records, its
first to its last fix inside the period. Its trail *covers* an instant on a joined segment
``[t_i, t_{i+1}]`` of consecutive fixes with ``0 < t_{i+1} - t_i <= max_gap`` (the joining rule
of the vicinity contract, docs/vicinity.md). A *gap* is a pair of consecutive fixes further
apart than ``max_gap``; it counts when it meets the monitored time, and its length is the part
of it inside the monitored time.

    covered(s)   = sum over joined segments g of |g ∩ M(s)|
    gaps(s)      = #{gaps g : |g ∩ M(s)| > 0},   a gap's length = |g ∩ M(s)|

For a subject monitored from its first to its last fix, a segment meets ``M(s)`` only when
both its fixes lie inside the period, and then wholly; so that case needs no interval.

``Compliance.add_day`` takes one day's fixes at a time (each subject's in time order) and
carries each subject's last fix over to the next day, so a month is read one partition at a
time. The plain twin is ``tests/naive.py:naive_compliance``.
"""

from __future__ import annotations

import numba as nb
import numpy as np

NONE = np.iinfo(np.int64).min


@nb.njit(cache=True, nogil=True)
def _add_day(g, t, prev, has_iv, iv_starts, m0, m1, p0, p1, max_gap, covered, gap_count,
             first, last, gap_subject, gap_length, n_gaps):
    for i in range(g.size):
        s = g[i]
        b = t[i]
        if p0 <= b < p1:
            if b < first[s]:
                first[s] = b
            if b > last[s]:
                last[s] = b
        a = prev[s]
        prev[s] = b
        if a == NONE or b <= a:
            continue
        if has_iv[s]:
            inside = 0
            for k in range(iv_starts[s], iv_starts[s + 1]):
                lo = max(a, m0[k])
                hi = min(b, m1[k])
                if hi > lo:
                    inside += hi - lo
        elif a >= p0 and b < p1:
            inside = b - a
        else:
            inside = 0
        if b - a <= max_gap:
            covered[s] += inside
        elif inside > 0:
            gap_subject[n_gaps] = s
            gap_length[n_gaps] = inside
            n_gaps += 1
            gap_count[s] += 1
    return n_gaps


class Compliance:
    """Running coverage and gaps of ``n`` subjects over the period ``[p0, p1)``. Subjects
    ``s`` with ``has_iv[s]`` are monitored during ``m0[iv_starts[s]:iv_starts[s+1]]`` ..
    ``m1[...]`` (disjoint, inside the period); the others from their first to their last fix
    inside the period."""

    def __init__(self, n: int, p0: int, p1: int, max_gap_ns: int, has_iv: np.ndarray,
                 iv_starts: np.ndarray, m0: np.ndarray, m1: np.ndarray) -> None:
        self.p0, self.p1, self.max_gap = np.int64(p0), np.int64(p1), np.int64(max_gap_ns)
        self.has_iv = np.ascontiguousarray(has_iv, dtype=np.bool_)
        self.iv_starts = np.ascontiguousarray(iv_starts, dtype=np.int64)
        self.m0 = np.ascontiguousarray(m0, dtype=np.int64)
        self.m1 = np.ascontiguousarray(m1, dtype=np.int64)
        self.prev = np.full(n, NONE, dtype=np.int64)
        self.covered = np.zeros(n, dtype=np.int64)
        self.gap_count = np.zeros(n, dtype=np.int64)
        self.first = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
        self.last = np.full(n, NONE, dtype=np.int64)
        self._gap_subject = np.empty(1024, dtype=np.int64)
        self._gap_length = np.empty(1024, dtype=np.int64)
        self.n_gaps = 0

    def add_day(self, subject: np.ndarray, t: np.ndarray) -> None:
        """One day's fixes: subject indexes and times (ns), each subject's in time order."""
        g = np.ascontiguousarray(subject, dtype=np.int64)
        t = np.ascontiguousarray(t, dtype=np.int64)
        need = self.n_gaps + g.size  # a day adds at most one gap a fix
        if need > self._gap_subject.size:
            size = max(need, 2 * self._gap_subject.size)
            self._gap_subject = np.resize(self._gap_subject, size)
            self._gap_length = np.resize(self._gap_length, size)
        self.n_gaps = _add_day(g, t, self.prev, self.has_iv, self.iv_starts, self.m0, self.m1,
                               self.p0, self.p1, self.max_gap, self.covered, self.gap_count,
                               self.first, self.last, self._gap_subject, self._gap_length,
                               self.n_gaps)

    def grow(self, n: int) -> None:
        """Room for subjects up to ``n``; the new ones have no activation intervals."""
        extra = n - self.prev.size
        if extra <= 0:
            return
        self.has_iv = np.concatenate([self.has_iv, np.zeros(extra, dtype=np.bool_)])
        self.iv_starts = np.concatenate([self.iv_starts,
                                         np.full(extra, self.iv_starts[-1], dtype=np.int64)])
        self.prev = np.concatenate([self.prev, np.full(extra, NONE, dtype=np.int64)])
        self.covered = np.concatenate([self.covered, np.zeros(extra, dtype=np.int64)])
        self.gap_count = np.concatenate([self.gap_count, np.zeros(extra, dtype=np.int64)])
        self.first = np.concatenate([self.first,
                                     np.full(extra, np.iinfo(np.int64).max, dtype=np.int64)])
        self.last = np.concatenate([self.last, np.full(extra, NONE, dtype=np.int64)])

    @property
    def gap_subject(self) -> np.ndarray:
        return self._gap_subject[:self.n_gaps]

    @property
    def gap_length(self) -> np.ndarray:
        return self._gap_length[:self.n_gaps]

    def monitored(self) -> np.ndarray:
        """Monitored time (ns) of each subject."""
        n = self.prev.size
        out = np.zeros(n, dtype=np.int64)
        np.add.at(out, np.repeat(np.arange(n), np.diff(self.iv_starts)), self.m1 - self.m0)
        by_fixes = ~self.has_iv & (self.last >= self.first)
        out[by_fixes] = self.last[by_fixes] - self.first[by_fixes]
        return out
