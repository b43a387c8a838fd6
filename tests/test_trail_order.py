"""prepare_trail on subjects in any form and rows in any order (``trailmatch/trail_order.py``).

The trail must hold, per subject name, exactly the fixes ``tests/naive.py`` keeps (time order,
the duplicate rule), whatever the subject column's type and the row order; and match() and
eliminate() must answer exactly as on the same fixes given sorted with a categorical subject.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from helpers import T0
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from naive import naive_first_appearance_codes, naive_subject_time_order, subject_paths

from trailmatch import Rules, match, trail_order
from trailmatch.eliminate import eliminate
from trailmatch.trails import prepare_trail

# ids whose text order is not their numeric order, nor their order of appearance
IDS = [7, 10, 100, 25, 3, 1000, 42]
FORMS = ["str", "arrow", "large_arrow", "object", "int", "categorical", "categorical_unsorted",
         "categorical_unused"]


def as_form(ids: np.ndarray, form: str) -> pd.Series:
    text = [str(v) for v in ids]
    if form == "str":
        return pd.Series(text, dtype="str")
    if form == "arrow":
        return pd.Series(pd.array(text, dtype=pd.ArrowDtype(pa.string())))
    if form == "large_arrow":
        return pd.Series(pd.array(text, dtype=pd.ArrowDtype(pa.large_string())))
    if form == "object":
        return pd.Series(text, dtype=object)
    if form == "int":
        return pd.Series(ids, dtype=np.int64)
    if form == "categorical":
        return pd.Series(pd.Categorical(text))
    names = sorted(set(text), reverse=True)
    if form == "categorical_unused":
        names = ["99999", *names, "0"]
    return pd.Series(pd.Categorical(text, categories=names))


@st.composite
def frames(draw):
    rows = []
    for sid in draw(st.lists(st.sampled_from(IDS), min_size=1, max_size=4, unique=True)):
        n = draw(st.integers(1, 12))
        # repeated times make duplicates; the rule picks by precision, x, y, source
        times = draw(st.lists(st.integers(0, 8), min_size=n, max_size=n))
        for t in times:
            rows.append({"subject": sid, "time": T0 + pd.Timedelta(seconds=60 * t),
                         "x": float(draw(st.integers(0, 3))), "y": float(draw(st.integers(0, 3))),
                         "precision_m": draw(st.sampled_from([math.nan, 5.0, 40.0])),
                         "source": draw(st.sampled_from([1, 4, 5, 6]))})
    frame = pd.DataFrame(rows)
    order = draw(st.sampled_from(["as drawn", "by time", "shuffled", "reversed"]))
    if order == "by time":
        frame = frame.sort_values("time", kind="stable")
    elif order == "shuffled":
        frame = frame.iloc[draw(st.permutations(range(len(frame))))]
    elif order == "reversed":
        frame = frame.iloc[::-1]
    frame = frame.reset_index(drop=True)
    frame["subject"] = as_form(frame["subject"].to_numpy(), draw(st.sampled_from(FORMS)))
    if not draw(st.booleans()):
        frame = frame.drop(columns=["precision_m"])
    if not draw(st.booleans()):
        frame = frame.drop(columns=["source"])
    return frame


def canonical(frame: pd.DataFrame) -> pd.DataFrame:
    """The same fixes sorted by (subject name, time) with a categorical subject of the sorted
    names: the path that needs no grouping."""
    subject = frame["subject"]
    names = (sorted(subject.cat.categories.astype(str)) if isinstance(subject.dtype,
             pd.CategoricalDtype) else None)  # a categorical's subjects without fixes too
    out = frame.assign(subject=subject.astype(str))
    out = out.sort_values(["subject", "time"], kind="stable").reset_index(drop=True)
    out["subject"] = pd.Categorical(out["subject"], categories=names)
    return out


def trail_by_name(trail) -> dict[str, list[tuple]]:
    got = {}
    for s, name in enumerate(trail.subjects):
        a, b = trail.starts[s], trail.starts[s + 1]
        if a < b:
            got[str(name)] = [(int(trail.t[i]), float(trail.x[i]), float(trail.y[i]),
                               float(trail.precision[i]), int(trail.source[i]))
                              for i in range(a, b)]
    return got


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames())
def test_any_form_any_order_gives_the_naive_fixes(frame):
    trail = prepare_trail(frame)
    # a valid trail: codes ascend, CSR offsets agree with them, names distinct
    assert np.all(np.diff(trail.subject) >= 0)
    assert np.array_equal(trail.starts, np.searchsorted(
        trail.subject, np.arange(trail.n_subjects + 1)))
    assert len(set(trail.subjects.tolist())) == trail.n_subjects
    assert all(isinstance(name, str) for name in trail.subjects)
    expected = {name: [(f.t, f.x, f.y, f.precision, f.source) for f in fixes]
                for name, fixes in subject_paths(frame).items()}
    got = trail_by_name(trail)
    assert got.keys() == expected.keys()
    for name in expected:  # NaN precision compared as NaN
        assert np.array_equal(np.array(got[name]), np.array(expected[name]), equal_nan=True)
    assert trail.duplicates == len(frame) - trail.n_fixes
    assert trail.has_precision == ("precision_m" in frame.columns)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames(), st.booleans())
def test_match_and_eliminate_do_not_depend_on_the_form_or_the_order(frame, precision):
    crimes = pd.DataFrame({
        "crime_reference": ["C2", "C1", "C3"], "police_force": ["Kent", "Kent", "Essex"],
        "crime_type": "RB", "x": [1.0, 2.0, 30.0], "y": [1.0, 0.0, 0.0],
        "time_from": [T0, T0 + pd.Timedelta(minutes=3), T0 + pd.Timedelta(minutes=1)],
        "time_to": [T0 + pd.Timedelta(minutes=4), T0 + pd.Timedelta(minutes=9),
                    T0 + pd.Timedelta(minutes=2)]})
    rules = Rules(radius_m=1.5, max_gap_s=120, count_precision=precision)
    sorted_frame = canonical(frame)
    pd.testing.assert_frame_equal(match(frame, crimes, rules), match(sorted_frame, crimes, rules))
    got = eliminate(frame, crimes, rules)
    want = eliminate(sorted_frame, crimes, rules)
    pd.testing.assert_frame_equal(got, want)


def test_arrow_runs_across_chunks_and_slices():
    """A run of one subject that continues into the next Arrow chunk is one subject; a sliced
    array (non-zero offset) is read from its offset."""
    whole = pa.array(["9", "9", "10", "10", "10", "9", "2"])
    chunked = pa.chunked_array([whole.slice(1, 3), whole.slice(4, 3)])  # 9 10 10 | 10 9 2
    subject = pd.Series(pd.arrays.ArrowExtensionArray(chunked))
    n = len(subject)
    frame = pd.DataFrame({"subject": subject, "time": [T0 + pd.Timedelta(seconds=s)
                                                       for s in range(n)],
                          "x": np.arange(n, dtype=float), "y": 0.0})
    trail = prepare_trail(frame)
    assert trail.subjects.tolist() == ["9", "10", "2"]  # by first appearance
    assert trail.starts.tolist() == [0, 2, 5, 6]
    assert trail.x.tolist() == [0.0, 4.0, 1.0, 2.0, 3.0, 5.0]


@pytest.mark.parametrize("form", ["str", "arrow", "object", "int", "categorical"])
def test_a_missing_subject_is_named_by_row(form):
    subject = as_form(np.array([7, 7, 10, 10]), form)
    if form == "int":
        subject = subject.astype("Int64")
    subject.iloc[2] = None
    frame = pd.DataFrame({"subject": subject, "time": [T0 + pd.Timedelta(seconds=s)
                                                       for s in range(4)],
                          "x": 0.0, "y": 0.0})
    with pytest.raises(ValueError, match="row 2: missing subject"):
        prepare_trail(frame)


def test_a_categorical_whose_codes_follow_the_rows_keeps_its_categories():
    """The store's form: categories in name order, every one kept (even without fixes)."""
    subject = pd.Categorical(["a", "a", "c"], categories=["a", "b", "c"])
    frame = pd.DataFrame({"subject": subject, "time": [T0, T0 + pd.Timedelta(seconds=1), T0],
                          "x": 0.0, "y": 0.0})
    trail = prepare_trail(frame)
    assert trail.subjects.tolist() == ["a", "b", "c"]
    assert trail.starts.tolist() == [0, 2, 2, 3]


def test_nightly_reads_stretches_as_one_categorical_trail():
    """Two stretches of the store's categorical fixes (different categories) load as one
    trail with the fixes of both, without a string per fix."""
    from trailmatch.jobs.loading import LoadedTrails
    from trailmatch.jobs.sources import FrameTrails

    def fixes(names, minutes):
        rows = [(n, T0 + pd.Timedelta(minutes=m), float(m), 0.0) for n in names for m in minutes]
        return pd.DataFrame(rows, columns=["subject", "time", "x", "y"])

    class TwoReads(FrameTrails):  # as the store reads: the stretch's own categories
        def read(self, start, end):
            got = super().read(start, end)
            return got.assign(subject=pd.Categorical(got["subject"].astype(str)))

    early, late = fixes(["20", "3"], range(0, 10)), fixes(["3", "100"], range(600, 610))
    whole = pd.concat([early, late], ignore_index=True)
    crimes = pd.DataFrame({"crime_reference": ["A", "B"], "police_force": "Kent",
                           "crime_type": "RB", "x": 0.0, "y": 0.0,
                           "time_from": [T0 + pd.Timedelta(minutes=2),
                                         T0 + pd.Timedelta(minutes=602)],
                           "time_to": [T0 + pd.Timedelta(minutes=9),
                                       T0 + pd.Timedelta(minutes=609)]})  # every fix
    loaded = LoadedTrails.load(TwoReads(whole), crimes, Rules(max_gap_s=120))
    assert loaded.trail.n_subjects == 3
    got, want = trail_by_name(loaded.trail), trail_by_name(prepare_trail(whole))
    assert got.keys() == want.keys()
    for name in want:
        assert np.array_equal(np.array(got[name]), np.array(want[name]), equal_nan=True)


@pytest.mark.parametrize("order", ["grouped", "by time", "shuffled", "by time, then a few moved"])
def test_a_large_trail_in_export_orders(order):
    """Big enough for the neighbour comparison to be skipped when rows are not grouped (the
    first 4,096 rows sampled): every order gives the fixes of the sorted categorical path."""
    from trailmatch import synthetic

    trails = synthetic.trails(n_subjects=40, fixes_per_day=600, days=1, seed=4)
    ids = (1000 + 7 * trails["subject"].cat.codes.to_numpy().astype(np.int64)).astype(str)
    frame = trails.assign(subject=pd.Series(ids, dtype="str"))
    rng = np.random.default_rng(1)
    if order != "grouped":
        frame = frame.iloc[np.argsort(frame["time"].to_numpy(), kind="stable")]
    if order == "shuffled":
        frame = frame.iloc[rng.permutation(len(frame))]
    if order == "by time, then a few moved":  # a late upload: some fixes out of time order
        rows = np.arange(len(frame))
        moved = rng.choice(len(frame), 50, replace=False)
        rows = np.concatenate([np.delete(rows, moved), moved])
        frame = frame.iloc[rows]
    frame = frame.reset_index(drop=True)
    got, want = trail_by_name(prepare_trail(frame)), trail_by_name(prepare_trail(canonical(frame)))
    assert got.keys() == want.keys() and len(got) == 40
    for name in want:
        assert np.array_equal(np.array(got[name]), np.array(want[name]), equal_nan=True)


# ---------------------------------------------------------------------------------------------
# the kernels against plain sorts

INT64 = np.iinfo(np.int64)


@st.composite
def rows_to_order(draw):
    """Codes of up to 300 subjects (several radix groups), and times: minutes (ties make
    duplicates), crowded into one instant (the bucket sort's merge-sort fallback) or spread
    over the whole int64 range."""
    n_codes = draw(st.integers(1, 300))
    n = draw(st.integers(0, 400))
    codes = draw(st.lists(st.integers(0, n_codes - 1), min_size=n, max_size=n))
    kind = draw(st.sampled_from(["minutes", "crowded", "extreme"]))
    if kind == "minutes":
        times = draw(st.lists(st.integers(0, 50), min_size=n, max_size=n))
        times = [60_000_000_000 * v + 1_700_000_000_000_000_000 for v in times]
    elif kind == "crowded":
        times = draw(st.lists(st.sampled_from([5, 6, 10**12]), min_size=n, max_size=n))
    else:
        times = draw(st.lists(st.integers(INT64.min + 1, INT64.max), min_size=n, max_size=n))
    return np.array(codes, dtype=np.int32), np.array(times, dtype=np.int64), n_codes


@settings(max_examples=300, deadline=None)
@given(rows_to_order(), st.booleans(), st.booleans(), st.booleans())
def test_group_rows_is_the_stable_subject_time_order(rows, by_time, has_precision, has_source):
    codes, t, n_codes = rows
    n = t.size
    x = np.arange(n, dtype=np.float64)  # the row, to see where each row went
    y = -x
    prec = x + 0.5
    src = (np.arange(n) % 251).astype(np.uint8)
    before = (codes.copy(), t.copy())
    got = trail_order.group_rows(codes, n_codes, t, x, y, prec, src, has_precision, has_source,
                                 by_time)
    order = np.array(naive_subject_time_order(codes.tolist(), t.tolist(), by_time), np.int64)
    got_codes, got_t, got_x, got_y, got_prec, got_src, starts = got
    assert np.array_equal(got_x, order.astype(np.float64))  # every row to its place
    assert np.array_equal(got_codes, codes[order]) and np.array_equal(got_t, t[order])
    assert np.array_equal(got_y, y[order])
    assert np.array_equal(got_prec, prec[order] if has_precision else np.empty(0))
    assert np.array_equal(got_src, src[order] if has_source else np.empty(0, np.uint8))
    assert np.array_equal(starts, np.searchsorted(codes[order], np.arange(n_codes + 1)))
    assert np.array_equal(codes, before[0]) and np.array_equal(t, before[1])  # inputs kept


@settings(max_examples=300, deadline=None)
@given(rows_to_order(), st.booleans(), st.booleans())
def test_sort_segments_by_time_is_the_stable_time_order(rows, has_precision, has_source):
    codes, t, n_codes = rows
    codes = np.sort(codes)  # grouped by subject, times in any order
    starts = np.searchsorted(codes, np.arange(n_codes + 1)).astype(np.int64)
    n = t.size
    order = np.array(naive_subject_time_order(codes.tolist(), t.tolist()), np.int64)
    x = np.arange(n, dtype=np.float64)
    y, prec, src = -x, x + 0.5, (np.arange(n) % 251).astype(np.uint8)
    want_sorted = sum(b > a and not np.all(t[a + 1:b] >= t[a:b - 1])
                      for a, b in zip(starts[:-1], starts[1:], strict=True))
    want = (t[order], y[order], prec[order], src[order])
    got_sorted = trail_order.sort_segments_by_time(
        starts, t, x, y, prec if has_precision else np.empty(0),
        src if has_source else np.empty(0, np.uint8), has_precision, has_source)
    assert got_sorted == want_sorted
    assert np.array_equal(x, order.astype(np.float64)) and np.array_equal(t, want[0])
    assert np.array_equal(y, want[1])
    assert np.array_equal(prec, want[2] if has_precision else np.arange(n) + 0.5)
    assert np.array_equal(src, want[3] if has_source else np.arange(n) % 251)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["7", "10", "100", "", "é", "25", "3"]), max_size=60),
       st.lists(st.integers(0, 60), max_size=3), st.integers(1, 5), st.booleans())
def test_dictionary_codes_in_pieces_are_by_first_appearance(values, cuts, pieces, large):
    """Pieces encoded apart (threads) and numbered together: the codes of one encoding by
    first appearance, whatever the Arrow chunks."""
    kind = pa.large_string() if large else pa.string()
    cuts = sorted({min(c, len(values)) for c in cuts} | {0, len(values)})
    chunked = pa.chunked_array([pa.array(values[a:b], type=kind)
                                for a, b in zip(cuts[:-1], cuts[1:], strict=False)], type=kind)
    codes, names = trail_order.dictionary_codes(chunked, pieces)
    want_codes, want_names = naive_first_appearance_codes(values)
    assert codes.dtype == np.int32 and codes.tolist() == want_codes
    assert names.tolist() == want_names


def test_group_rows_with_more_codes_than_sixteen_groups_hold():
    """20,000 subjects: more groups than ``GROUPS``, ``CODES_A_GROUP`` codes each."""
    rng = np.random.default_rng(3)
    n_codes = 20_000
    assert n_codes > trail_order.GROUPS * trail_order.CODES_A_GROUP
    codes = rng.integers(0, n_codes, 30_000).astype(np.int32)
    t = rng.integers(0, 40, codes.size).astype(np.int64)
    x = np.arange(codes.size, dtype=np.float64)
    got = trail_order.group_rows(codes, n_codes, t, x, -x, np.empty(0), np.empty(0, np.uint8),
                                 False, False)
    order = np.array(naive_subject_time_order(codes.tolist(), t.tolist()), np.int64)
    assert np.array_equal(got[2], order.astype(np.float64))
    assert np.array_equal(got[6], np.searchsorted(codes[order], np.arange(n_codes + 1)))
