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

**Day summaries.** A UTC day lies wholly inside or wholly outside a calendar month, and a
segment between two fixes of one day lies inside that day; so what such a segment adds to a
month depends on the day alone. ``summarise_day`` runs the same kernel over one day (the
period: that day) and keeps, per subject, its first and last fix, the covered time and the
gap lengths of the segments inside the day. ``Compliance.add_day_summary`` adds a summarised
day to a month: only the segment joining the subject's previous fix (an earlier day) to the
day's first fix is computed afresh; the day's own segments count as summarised when the day
is inside the period and not at all when it is outside. The result equals ``add_day`` on the
day's fixes exactly (integer nanoseconds), which ``tests/test_figures.py`` checks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np

from trailmatch.units import DAY_NS

NONE = np.iinfo(np.int64).min
NONE_FIRST = np.iinfo(np.int64).max  # the first fix of a subject with none


@nb.njit(cache=True, nogil=True, inline="always")
def _segment(a, b, intervals, k0, k1, m0, m1, p0, p1, max_gap):
    """A subject's segment from fix time ``a`` to ``b``: ``(covered, gap)``, its monitored part
    (inside the subject's activation periods ``m0[k0:k1]`` .. ``m1[k0:k1]`` when it has
    ``intervals``, else inside the period) as covered time when the segment is joined
    (``b - a <= max_gap``), else as the length of one gap (0: no gap counted). Scalars in, two
    arrays only: numba counts a reference per array handed to a helper on every call, and with
    the eleven arrays of the callers' state that cost the day summary ~10x its loop."""
    if intervals:
        inside = 0
        for k in range(k0, k1):
            lo = max(a, m0[k])
            hi = min(b, m1[k])
            if hi > lo:
                inside += hi - lo
    elif a >= p0 and b < p1:
        inside = b - a
    else:
        inside = 0
    if b - a <= max_gap:
        return inside, 0
    return 0, inside


@nb.njit(cache=True, nogil=True)
def _record_gap(s, gap, gap_count, gap_subject, gap_length, n_gaps):
    """Subject ``s``'s gap of length ``gap`` appended (row order); returns the new count."""
    gap_subject[n_gaps] = s
    gap_length[n_gaps] = gap
    gap_count[s] += 1
    return n_gaps + 1


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
        cov, gap = _segment(a, b, has_iv[s], iv_starts[s], iv_starts[s + 1], m0, m1, p0, p1,
                            max_gap)
        covered[s] += cov
        if gap > 0:  # rare: the arrays are handed over only then
            n_gaps = _record_gap(s, gap, gap_count, gap_subject, gap_length, n_gaps)
    return n_gaps


@nb.njit(cache=True, nogil=True)
def _join_days(g, first, last, inside_period, prev, has_iv, iv_starts, m0, m1, p0, p1,
               max_gap, covered, gap_count, p_first, p_last, gap_subject, gap_length, n_gaps):
    """The segments joining each subject's previous fix to its first fix of a new day, as
    ``_add_day`` counts them; then the day's last fix becomes the previous one."""
    for i in range(g.size):
        s = g[i]
        b = first[i]
        if inside_period:
            if b < p_first[s]:
                p_first[s] = b
            if last[i] > p_last[s]:
                p_last[s] = last[i]
        a = prev[s]
        prev[s] = last[i]
        if a == NONE or b <= a:
            continue
        cov, gap = _segment(a, b, has_iv[s], iv_starts[s], iv_starts[s + 1], m0, m1, p0, p1,
                            max_gap)
        covered[s] += cov
        if gap > 0:  # rare: the arrays are handed over only then
            n_gaps = _record_gap(s, gap, gap_count, gap_subject, gap_length, n_gaps)
    return n_gaps


@dataclass(frozen=True)
class DaySummary:
    """What one UTC day's fixes add to any period that holds the day, per subject (row):
    the first and last fix (``NONE_FIRST`` / ``NONE`` for a subject with no fix counted that
    day), the time covered by the day's joined segments and its gaps (``gap_count`` per row,
    their lengths in row order in ``gap_length``), each measured inside the subject's
    monitored time."""

    day_ns: int
    first: np.ndarray
    last: np.ndarray
    covered: np.ndarray
    gap_count: np.ndarray
    gap_length: np.ndarray


def summarise_day(subject: np.ndarray, t: np.ndarray, n: int, day_ns: int, max_gap_ns: int,
                  has_iv: np.ndarray, iv_starts: np.ndarray, m0: np.ndarray, m1: np.ndarray
                  ) -> DaySummary:
    """The summary of one day's fixes (subject indexes ``< n`` and times, each subject's in
    time order, all inside ``[day_ns, day_ns + DAY_NS)``); subjects with ``has_iv`` are
    monitored during their intervals (clipped to the day), the others from first to last
    fix."""
    state = Compliance(n, day_ns, day_ns + DAY_NS, max_gap_ns, has_iv, iv_starts, m0, m1)
    state.add_day(subject, t)
    order = np.argsort(state.gap_subject, kind="stable")
    return DaySummary(int(day_ns), state.first, state.last, state.covered, state.gap_count,
                      state.gap_length[order].copy())


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
        self._room(self.n_gaps + g.size)  # a day adds at most one gap a fix
        self.n_gaps = _add_day(g, t, self.prev, self.has_iv, self.iv_starts, self.m0, self.m1,
                               self.p0, self.p1, self.max_gap, self.covered, self.gap_count,
                               self.first, self.last, self._gap_subject, self._gap_length,
                               self.n_gaps)

    def _room(self, need: int) -> None:
        """Gap buffers for ``need`` gaps. Sized for the worst case (a gap a fix) but
        allocated empty: pages that are never written are never touched."""
        if need <= self._gap_subject.size:
            return
        size = max(need, 2 * self._gap_subject.size)
        for name in ("_gap_subject", "_gap_length"):
            grown = np.empty(size, dtype=np.int64)
            grown[:self.n_gaps] = getattr(self, name)[:self.n_gaps]
            setattr(self, name, grown)

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

    def add_day_summary(self, day: DaySummary, subject: np.ndarray) -> None:
        """One summarised day (``summarise_day``) instead of its fixes; ``subject`` maps the
        summary's rows to this state's subject indexes. The day must lie wholly inside or
        wholly outside the period, and come after every day added before."""
        d0, d1 = day.day_ns, day.day_ns + DAY_NS
        inside = bool(self.p0 <= d0 and d1 <= self.p1)
        if not inside and d0 < self.p1 and d1 > self.p0:
            raise ValueError("add_day_summary: the day straddles the period's edge")
        g = np.ascontiguousarray(subject, dtype=np.int64)
        if np.unique(g).size != g.size:
            raise ValueError("add_day_summary: a subject on two rows of one day")
        some = day.first != NONE_FIRST  # subjects all of whose fixes were left out: none
        g, first, last = g[some], day.first[some], day.last[some]
        self._room(self.n_gaps + g.size + (int(day.gap_count.sum()) if inside else 0))
        self.n_gaps = _join_days(g, first, last, inside, self.prev, self.has_iv,
                                 self.iv_starts, self.m0, self.m1, self.p0, self.p1,
                                 self.max_gap, self.covered, self.gap_count, self.first,
                                 self.last, self._gap_subject, self._gap_length, self.n_gaps)
        if inside:
            rows = np.ascontiguousarray(subject, dtype=np.int64)
            self.covered[rows] += day.covered
            self.gap_count[rows] += day.gap_count
            k = day.gap_length.size
            self._gap_subject[self.n_gaps:self.n_gaps + k] = np.repeat(rows, day.gap_count)
            self._gap_length[self.n_gaps:self.n_gaps + k] = day.gap_length
            self.n_gaps += k

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


def monitored_intervals(subjects, names: list[str] | np.ndarray, p0: int, p1: int
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR intervals over ``names`` (``iv_starts``, ``m0``, ``m1``): the union of each
    subject's activation periods (closed; an open end runs on) clipped to ``[p0, p1)``,
    merged where they meet, in time order. ``subjects``: the subjects file's rows
    (``subject``, ``activation_start``, ``activation_end``)."""
    import pandas as pd

    names = np.asarray(names, dtype=object)
    pos = pd.Index(names.astype(str))
    code = pos.get_indexer(subjects["subject"].astype(str))
    a0 = subjects["activation_start"].to_numpy(dtype="datetime64[ns]").view(np.int64)
    a1 = subjects["activation_end"].to_numpy(dtype="datetime64[ns]").view(np.int64)
    a1 = np.where(a1 == NONE, np.iinfo(np.int64).max, a1)
    lo, hi = np.maximum(a0, p0), np.minimum(a1, p1)
    keep = (code >= 0) & (hi > lo)
    code, lo, hi = code[keep], lo[keep], hi[keep]
    order = np.lexsort((hi, lo, code))
    code, lo, hi = code[order], lo[order], hi[order]
    # a period starts a new merged interval unless it begins before the end of the ones
    # of the same subject before it (which can only be cut short: all end by p1)
    reach = pd.Series(hi).groupby(code).cummax().to_numpy() if code.size else hi
    fresh = np.ones(code.size, dtype=bool)
    fresh[1:] = (code[1:] != code[:-1]) | (lo[1:] > reach[:-1])
    group = np.cumsum(fresh) - 1
    m0 = lo[fresh]
    m1 = np.zeros(m0.size, dtype=np.int64)
    np.maximum.at(m1, group, hi)
    counts = np.bincount(code[fresh], minlength=names.size)
    iv_starts = np.zeros(names.size + 1, dtype=np.int64)
    np.cumsum(counts, out=iv_starts[1:])
    return iv_starts, m0.astype(np.int64), m1
