"""Day compliance summaries: a month added from summaries equals the month streamed from the
fixes, and a summary is rebuilt exactly when what it was computed from changes."""

from __future__ import annotations

import glob
import os

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from trailmatch.figures import Month, figures_trend
from trailmatch.hitstore import open_store
from trailmatch.index.compliance import Compliance, monitored_intervals, summarise_day
from trailmatch.rules import Rules
from trailmatch.store import Store, day_summary
from trailmatch.store.partitions import write_day
from trailmatch.units import DAY_NS

S = 10**9
DAYS = 6  # days 0..5; the period is days 1..4 (day 0 and day 5 lie either side)
P0, P1 = 1 * DAY_NS, 5 * DAY_NS

fix_st = st.tuples(st.integers(0, DAYS - 1), st.integers(0, 86_399))
# activation periods in hours from day 0 (an open end: None)
period_st = st.tuples(st.integers(-30, 150), st.one_of(st.none(), st.integers(0, 60)))
subject_st = st.tuples(
    st.one_of(st.none(), st.lists(period_st, min_size=1, max_size=3)),  # None: no records
    st.lists(fix_st, max_size=30),
    st.lists(st.tuples(fix_st, st.integers(1, 120), st.integers(10, 700)), max_size=4))


def _world(subjects):
    """Sorted (subject, t) fixes and the subjects file rows of a drawn world."""
    rows, fixes = [], set()
    for k, (periods, singles, runs) in enumerate(subjects):
        for hour, length in periods or []:
            a0 = hour * 3600 * S
            rows.append({"subject": f"S{k}", "activation_start": pd.Timestamp(a0, tz="UTC"),
                         "activation_end": (pd.NaT if length is None
                                            else pd.Timestamp(a0 + length * 3600 * S,
                                                              tz="UTC"))})
        for day, sec in singles:
            fixes.add((k, day * DAY_NS + sec * S))
        for (day, sec), n, step in runs:
            for i in range(n):
                t = day * DAY_NS + (sec + i * step) * S
                if t < DAYS * DAY_NS:
                    fixes.add((k, t))
    frame = pd.DataFrame(rows, columns=["subject", "activation_start", "activation_end"])
    frame["activation_start"] = pd.to_datetime(frame["activation_start"], utc=True)
    frame["activation_end"] = pd.to_datetime(frame["activation_end"], utc=True)
    return sorted(fixes), frame


def _state(n, names, registered, frame, max_gap):
    iv_starts, m0, m1 = monitored_intervals(frame, names, P0, P1)
    return Compliance(n, P0, P1, max_gap, registered, iv_starts, m0, m1)


def _inside_activations(fixes, frame):
    """The fixes matching counts: a registered subject's inside one of its periods
    (closed)."""
    periods: dict[str, list[tuple[int, int]]] = {}
    for s, a0, a1 in frame.itertuples(index=False):
        end = np.iinfo(np.int64).max if pd.isna(a1) else a1.value
        periods.setdefault(s, []).append((a0.value, end))
    return [(k, t) for k, t in fixes
            if f"S{k}" not in periods or any(a <= t <= b for a, b in periods[f"S{k}"])]


@given(st.lists(subject_st, min_size=1, max_size=4), st.integers(1, 900))
@settings(max_examples=300, deadline=None)
def test_a_month_from_day_summaries_equals_the_month_from_the_fixes(subjects, max_gap_s):
    fixes, frame = _world(subjects)
    fixes = _inside_activations(fixes, frame)
    n = len(subjects)
    names = [f"S{k}" for k in range(n)]
    registered = np.array([subjects[k][0] is not None for k in range(n)])
    max_gap = max_gap_s * S
    streamed = _state(n, names, registered, frame, max_gap)
    summed = _state(n, names, registered, frame, max_gap)
    for day in range(DAYS):
        d0 = day * DAY_NS
        g = np.array([k for k, t in fixes if d0 <= t < d0 + DAY_NS], dtype=np.int64)
        t = np.array([t for _, t in fixes if d0 <= t < d0 + DAY_NS], dtype=np.int64)
        streamed.add_day(g, t)
        iv_starts, m0, m1 = monitored_intervals(frame, names, d0, d0 + DAY_NS)
        summary = summarise_day(g, t, n, d0, max_gap, registered, iv_starts, m0, m1)
        summed.add_day_summary(summary, np.arange(n))
    assert streamed.covered.tolist() == summed.covered.tolist()
    assert streamed.gap_count.tolist() == summed.gap_count.tolist()
    assert streamed.monitored().tolist() == summed.monitored().tolist()
    assert (sorted(zip(streamed.gap_subject.tolist(), streamed.gap_length.tolist(),
                       strict=True))
            == sorted(zip(summed.gap_subject.tolist(), summed.gap_length.tolist(),
                          strict=True)))


def test_a_day_across_the_period_edge_is_refused():
    state = Compliance(1, P0 + 3600 * S, P1, 300 * S, np.array([False]), np.zeros(2, np.int64),
                       np.empty(0, np.int64), np.empty(0, np.int64))
    summary = summarise_day(np.zeros(1, np.int64), np.array([P0 + 60 * S]), 1, P0, 300 * S,
                            np.array([False]), np.zeros(2, np.int64), np.empty(0, np.int64),
                            np.empty(0, np.int64))
    try:
        state.add_day_summary(summary, np.zeros(1, np.int64))
    except ValueError as e:
        assert "straddles" in str(e)
    else:
        raise AssertionError("a day across the period's edge was added")


# --- in a store: kept, reused, rebuilt when stale -----------------------------------------------

MONTH = Month(2025, 3)


def _fixes(subject: str, day: int, minutes: range, gap_after: int | None = None
           ) -> pd.DataFrame:
    t0 = MONTH.start_ns + day * DAY_NS
    times = [t0 + m * 60 * S for m in minutes if gap_after is None or not
             gap_after < m < gap_after + 30]
    return pd.DataFrame({"subject": subject, "time": pd.to_datetime(times, utc=True),
                         "x": 450_000.0, "y": 110_000.0, "precision_m": 10.0,
                         "source": np.uint8(1)})


def _subjects_file(path, rows):
    pd.DataFrame(rows).assign(device="D", licence_end="").to_csv(path, index=False)


def _figures(store, engine):
    table = figures_trend(store, engine, MONTH, Rules(), months=1)
    return table.sort_values(["police_force", "cohort"]).reset_index(drop=True)


def _cold(store, engine):
    for path in glob.glob(str(store.layout.index_dir("*") / "compliance-*.parquet")):
        os.unlink(path)
    return _figures(store, engine)


def test_summaries_are_kept_reused_and_rebuilt_when_stale(tmp_path):
    tmp = tmp_path
    store = Store(tmp / "store")
    rows = [{"subject": "A", "force": "Hampshire", "cohort": "fixed",
             "activation_start": "2025-03-01T00:00:00Z", "activation_end": ""},
            {"subject": "B", "force": "Sussex", "cohort": "flex",
             "activation_start": "2025-03-02T06:00:00Z", "activation_end": "2025-03-04T00:00:00Z"}]
    _subjects_file(tmp / "s1.csv", rows)
    store.ingest_subjects(tmp / "s1.csv")
    store.ingest_fixes(pd.concat([
        _fixes("A", d, range(0, 1440, 2), gap_after=300 + 60 * d) for d in range(-1, 5)]
        + [_fixes("B", d, range(0, 1440, 3), gap_after=700) for d in range(0, 4)]
        + [_fixes("C", 2, range(100, 400, 1), gap_after=200)]))  # C has no records
    engine = open_store(tmp / "store")
    summaries = sorted(glob.glob(str(store.layout.index_dir("*") / "compliance-*.parquet")))
    assert len(summaries) == len(store.days())  # written with the days

    def built_and_read(fn):
        before = dict(day_summary.STATS)
        got = fn()
        return got, {k: day_summary.STATS[k] - before[k] for k in before}

    warm, counts = built_and_read(lambda: _figures(store, engine))
    assert counts["built"] == 0 and counts["read"] == 6  # Feb 28 .. Mar 5, all kept
    cold, counts = built_and_read(lambda: _cold(store, engine))
    assert counts["built"] == 6
    pd.testing.assert_frame_equal(warm, cold)
    all_row = warm[(warm["police_force"] == "all") & (warm["cohort"] == "all")].iloc[0]
    assert all_row["subjects_monitored"] == 3 and all_row["gaps"] > 0

    # more fixes for a day: its summary is refreshed as the day is written
    store.ingest_fixes(_fixes("C", 3, range(0, 50)))
    again, counts = built_and_read(lambda: _figures(store, engine))
    assert counts["built"] == 0
    pd.testing.assert_frame_equal(again, _cold(store, engine))
    assert not again.equals(warm)

    # a partition replaced behind the store's back: stale by its fingerprint, rebuilt
    day = store.days()[3]
    table = store.read_day(day)
    write_day(store.layout, day, table.slice(0, table.num_rows // 2))
    replaced, counts = built_and_read(lambda: _figures(store, engine))
    assert counts["built"] == 1
    pd.testing.assert_frame_equal(replaced, _cold(store, engine))

    # a new subject and another cohort: every summary still holds
    rows[1]["cohort"] = "free"
    _subjects_file(tmp / "s2.csv", [*rows, {"subject": "D", "force": "Kent", "cohort": "",
                                            "activation_start": "2025-01-01T00:00:00Z",
                                            "activation_end": ""}])
    store.ingest_subjects(tmp / "s2.csv")
    moved, counts = built_and_read(lambda: _figures(store, engine))
    assert counts["built"] == 0
    assert set(moved.loc[(moved["police_force"] == "Sussex")
                         & (moved["subjects_monitored"] > 0), "cohort"]) == {"free", "all"}
    pd.testing.assert_frame_equal(moved, _cold(store, engine))

    # B's activation changes: the days B has fixes on are rebuilt, the others kept
    rows[1]["activation_end"] = "2025-03-03T12:00:00Z"
    _subjects_file(tmp / "s3.csv", rows)
    store.ingest_subjects(tmp / "s3.csv")
    shorter, counts = built_and_read(lambda: _figures(store, engine))
    assert counts["built"] == 4 and counts["read"] == 2
    pd.testing.assert_frame_equal(shorter, _cold(store, engine))
    assert not shorter.equals(moved)
    engine.dispose()
