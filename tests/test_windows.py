"""Subjects with a fix inside some window (the nightly's subjects monitored per force),
against the plain twin."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.naive import naive_subjects_in_windows
from trailmatch.index.windows import merge_windows, subjects_in_windows

times = st.lists(st.integers(0, 200), max_size=12).map(sorted)
windows = st.lists(st.tuples(st.integers(-10, 210), st.integers(0, 40))
                   .map(lambda p: (p[0], p[0] + p[1])), max_size=8)


@settings(max_examples=400, deadline=None)
@given(st.lists(times, min_size=0, max_size=8), windows)
def test_subjects_in_windows_agree_with_the_plain_twin(subjects, wins):
    t = np.array([v for ts in subjects for v in ts], np.int64)
    starts = np.concatenate([[0], np.cumsum([len(ts) for ts in subjects])]).astype(np.int64)
    w0 = np.array([a for a, _ in wins], np.int64)
    w1 = np.array([b for _, b in wins], np.int64)
    got = subjects_in_windows(t, starts, w0, w1)
    want = naive_subjects_in_windows({str(k): ts for k, ts in enumerate(subjects)}, wins)
    assert {str(k) for k in np.flatnonzero(got)} == want


@given(windows)
def test_merged_windows_are_disjoint_sorted_and_cover_the_same_instants(wins):
    a, b = merge_windows(np.array([w for w, _ in wins], np.int64),
                         np.array([w for _, w in wins], np.int64))
    assert (a <= b).all() and (a[1:] > b[:-1]).all()
    for x in range(-12, 255):
        assert any(p <= x <= q for p, q in wins) == bool(((a <= x) & (x <= b)).any())
