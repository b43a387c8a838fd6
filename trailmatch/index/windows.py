"""Which subjects have a fix inside any of a set of time windows.

The nightly job counts, per force, the subjects monitored during its crimes: those with at
least one fix inside some crime's widened window. Testing every fix of the trail against the
windows costs the whole trail per force (19 forces x 14.4 M fixes on the national day). Here
the windows are merged into disjoint sorted intervals once, and each subject's fixes (in time
order) and the intervals are walked together, jumping by binary search: a subject stops at its
first fix inside, so the cost is about a few look-ups per subject. The plain twin is
``tests/naive.py:naive_subjects_in_windows``.
"""

from __future__ import annotations

import numba as nb
import numpy as np


def merge_windows(w0: np.ndarray, w1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The union of the closed intervals ``[w0[k], w1[k]]`` as disjoint intervals, sorted
    (int64 ns). Intervals that touch are merged."""
    w0 = np.asarray(w0, np.int64)
    w1 = np.asarray(w1, np.int64)
    if w0.size == 0:
        return w0.copy(), w1.copy()
    order = np.argsort(w0, kind="stable")
    a, b = w0[order], np.maximum.accumulate(w1[order])
    start = np.ones(a.size, bool)
    start[1:] = a[1:] > b[:-1]
    first = np.flatnonzero(start)
    last = np.append(first[1:], a.size) - 1
    return a[first], b[last]


@nb.njit(cache=True, nogil=True)
def _subjects_in(t, starts, a, b):
    n = starts.size - 1
    out = np.zeros(n, np.bool_)
    m = a.size
    for s in range(n):
        i, end = starts[s], starts[s + 1]
        j = 0
        while i < end and j < m:
            if t[i] > b[j]:  # on to the first interval ending at or after this fix
                j += np.searchsorted(b[j:], t[i])
            elif t[i] < a[j]:  # on to the first fix at or after this interval's start
                i += np.searchsorted(t[i:end], a[j])
            else:
                out[s] = True
                break
    return out


def subjects_in_windows(t: np.ndarray, starts: np.ndarray, w0: np.ndarray,
                        w1: np.ndarray) -> np.ndarray:
    """Per subject (fixes ``t[starts[s]:starts[s + 1]]``, int64 ns in time order): whether
    one of its fixes lies inside some window ``[w0[k], w1[k]]`` (bounds included)."""
    a, b = merge_windows(w0, w1)
    return _subjects_in(np.ascontiguousarray(t, np.int64),
                        np.ascontiguousarray(starts, np.int64), a, b)
