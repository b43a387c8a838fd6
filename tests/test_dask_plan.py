"""Partitioned matching without a cluster: the plan covers every crime once with the stretch of
fixes it needs, the partitioned run equals ``match``, and nothing imports Dask unless asked."""

from __future__ import annotations

import argparse
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_dask_data import multi_day, sample, store_of

from trailmatch.match import match
from trailmatch.rules import Rules
from trailmatch.scale import match_distributed, plan_partitions
from trailmatch.scale.cluster import add_scheduler_arg, scheduler_value
from trailmatch.scale.partition import match_partition, read_fixes
from trailmatch.scale.plan import DAY_NS
from trailmatch.trails import prepare_crimes

H = 3600 * 10**9
T0 = pd.Timestamp("2025-01-20T00:00:00Z").value


def _crimes(windows, refs=None):
    n = len(windows)
    return pd.DataFrame({
        "crime_reference": refs or [f"1/{i}/25" for i in range(n)],
        "police_force": ["Hampshire"] * n, "crime_type": ["BIAD"] * n,
        "x": np.zeros(n), "y": np.zeros(n),
        "time_from": pd.to_datetime([T0 + a for a, _ in windows], unit="ns", utc=True),
        "time_to": pd.to_datetime([T0 + b for _, b in windows], unit="ns", utc=True),
    })


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(-2 * DAY_NS, 3 * DAY_NS), st.integers(0, 3 * DAY_NS)),
                min_size=1, max_size=40),
       st.integers(0, 3600), st.integers(0, 7200), st.integers(0, 7200),
       st.lists(st.integers(0, 5), min_size=40, max_size=40))
def test_plan_covers_each_crime_once_with_its_stretch(windows, gap_s, before_s, after_s, ref_ids):
    rules = Rules(max_gap_s=gap_s, buffer_before_s=before_s, buffer_after_s=after_s)
    refs = [f"1/{ref_ids[i]}/25" for i in range(len(windows))]  # duplicates on purpose
    crimes = prepare_crimes(_crimes([(a, a + d) for a, d in windows], refs),
                            rules.buffer_before_ns, rules.buffer_after_ns)
    parts = plan_partitions(crimes, rules)
    rows = np.concatenate([p.rows for p in parts])
    assert np.array_equal(np.sort(rows), np.arange(crimes.n))  # each crime exactly once
    owner = {}
    for k, p in enumerate(parts):
        assert np.all(np.diff(p.rows) > 0)
        for i in p.rows:
            owner[i] = k
            assert p.lo_ns <= crimes.w0[i] - rules.max_gap_ns
            assert p.hi_ns >= crimes.w1[i] + rules.max_gap_ns
        assert p.lo_ns == crimes.w0[p.rows].min() - rules.max_gap_ns
        assert p.hi_ns == crimes.w1[p.rows].max() + rules.max_gap_ns
    for i in range(crimes.n):  # same force and reference: same partition
        for j in range(i):
            if refs[i] == refs[j]:
                assert owner[i] == owner[j]


def test_plan_days_and_long_windows():
    rules = Rules(max_gap_s=300, buffer_before_s=600)
    windows = [(1 * H, 2 * H), (23 * H, 25 * H), (24 * H + 5 * 60 * 10**9, 24 * H + 6 * 60 * 10**9),
               (2 * H, 2 * H + 3 * DAY_NS)]
    crimes = prepare_crimes(_crimes(windows), rules.buffer_before_ns, rules.buffer_after_ns)
    parts = plan_partitions(crimes, rules)
    # the third window starts 5 min after midnight, but the 10 min buffer puts it on day 1
    assert [(p.label, p.rows.tolist()) for p in parts] == [
        ("2025-01-20", [0, 1, 2]), ("2025-01-20-long", [3])]
    day = parts[0]
    assert day.lo_ns == T0 + 1 * H - 600 * 10**9 - 300 * 10**9
    assert day.hi_ns == T0 + 25 * H + 300 * 10**9  # reaches into the next day


@pytest.fixture(scope="module")
def data_sets():
    return {"sample": sample(), "multi_day": multi_day()}


@pytest.mark.parametrize("name", ["sample", "multi_day"])
def test_in_process_partitions_equal_match(data_sets, name):
    trails, crimes, rules = data_sets[name]
    expected = match(trails, crimes, rules)
    assert len(expected) > 20
    pd.testing.assert_frame_equal(match_distributed(trails, crimes, rules), expected)


def test_in_process_from_a_store_equals_match(data_sets, tmp_path):
    trails, crimes, rules = data_sets["multi_day"]
    path, everything = store_of(trails, tmp_path / "store")
    expected = match(everything, crimes, rules)
    pd.testing.assert_frame_equal(match_distributed(path, crimes, rules), expected)
    # through fsspec, as from object storage
    pd.testing.assert_frame_equal(match_distributed(f"file://{path}", crimes, rules), expected)


def test_in_process_from_a_timestamp_source_equals_match(data_sets):
    """Sources with ``read(start, end)`` taking inclusive UTC timestamps (the nightly job's)."""
    trails, crimes, rules = data_sets["multi_day"]
    seen = []

    class Source:
        def read(self, start, end):
            seen.append((start, end))
            return trails[(trails["time"] >= start) & (trails["time"] <= end)]

    pd.testing.assert_frame_equal(match_distributed(Source(), crimes, rules),
                                  match(trails, crimes, rules))
    assert all(s.tz is not None and s < e for s, e in seen) and len(seen) >= 3


def test_a_missing_store_is_an_error_not_an_empty_answer(data_sets, tmp_path):
    _, crimes, rules = data_sets["multi_day"]
    for missing in (str(tmp_path / "nowhere"), f"file://{tmp_path / 'nowhere'}"):
        with pytest.raises(FileNotFoundError, match="nowhere"):
            match_distributed(missing, crimes, rules)


def test_stretch_margin_is_needed(data_sets):
    """The multi-day set is sensitive to the max-gap margin: without it some partition loses
    or changes hits, so the equality tests above would catch a plan that forgot it."""
    trails, crimes, rules = data_sets["multi_day"]
    prepared = prepare_crimes(crimes, rules.buffer_before_ns, rules.buffer_after_ns)
    changed = 0
    for p in plan_partitions(prepared, rules):
        subset = prepared.frame.iloc[p.rows]
        full = match_partition(trails, p, subset, rules).hits
        narrow = type(p)(p.day, p.long, p.rows, p.lo_ns + rules.max_gap_ns,
                         p.hi_ns - rules.max_gap_ns)
        cut = match_partition(read_fixes(trails, narrow.lo_ns, narrow.hi_ns), narrow, subset,
                              rules).hits
        changed += not full.equals(cut)
    assert changed > 0


def test_no_hits_frame_is_matchs(data_sets):
    trails, crimes, rules = data_sets["multi_day"]
    far = crimes.head(3).assign(x=0.0, y=0.0)
    pd.testing.assert_frame_equal(match_distributed(trails, far, rules), match(trails, far, rules))
    later = far.assign(time_from=far["time_from"] + pd.Timedelta(days=30),
                       time_to=far["time_to"] + pd.Timedelta(days=30))
    pd.testing.assert_frame_equal(match_distributed(trails, later, rules),
                                  match(trails, later, rules))
    pd.testing.assert_frame_equal(match_distributed(trails, far.head(0), rules),
                                  match(trails, far.head(0), rules))


def test_scheduler_values():
    assert scheduler_value("local:2") == "local:2"
    assert scheduler_value("tcp://127.0.0.1:8786") == "tcp://127.0.0.1:8786"
    for bad in ("local", "local:0", "local:x", "127.0.0.1:8786", ""):
        with pytest.raises(argparse.ArgumentTypeError):
            scheduler_value(bad)
    parser = argparse.ArgumentParser()
    add_scheduler_arg(parser)
    assert parser.parse_args([]).scheduler is None
    with pytest.raises(SystemExit):
        parser.parse_args(["--scheduler", "local:none"])


def test_nothing_from_dask_is_imported_without_a_scheduler():
    code = textwrap.dedent("""
        import argparse, sys
        from test_dask_data import multi_day
        from trailmatch.scale import match_distributed
        from trailmatch.scale.cluster import add_scheduler_arg
        add_scheduler_arg(argparse.ArgumentParser())
        trails, crimes, rules = multi_day(n_subjects=5, n_crimes=20)
        match_distributed(trails, crimes, rules)
        loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed'))
        print(loaded)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=str(Path(__file__).parent))
    assert out.stdout.strip() == "[]"
