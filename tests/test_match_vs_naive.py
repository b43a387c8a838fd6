"""match() against the brute-force reference in tests/naive.py on random and edge-case input."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from helpers import T0, touch_s
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from naive import naive_match

from trailmatch import Rules, match

COORD = st.integers(-300, 300).map(float) | st.floats(-300, 300, allow_nan=False)


@st.composite
def scenes(draw):
    rows = []
    for s in range(draw(st.integers(1, 3))):
        n = draw(st.integers(1, 10))
        # steps equal to each max gap tried (and zero: duplicates) hit the joining boundary
        steps = draw(st.lists(st.sampled_from([0.0, 25.0, 100.0, 300.0]) | st.floats(0, 400),
                              min_size=n, max_size=n))
        times = np.cumsum([draw(st.floats(0, 600))] + steps[1:]).tolist()
        for t in times:
            rows.append({"subject": f"S{s}", "time": T0 + pd.Timedelta(seconds=t),
                         "x": draw(COORD), "y": draw(COORD),
                         "precision_m": draw(st.sampled_from([math.nan, 0.0, 5.0, 40.0]) |
                                             st.floats(0, 120)),
                         "source": draw(st.sampled_from([1, 4, 5, 6]))})
    crimes = []
    for k in range(draw(st.integers(1, 4))):
        a = draw(st.floats(-100, 1600, allow_nan=False))
        length = draw(st.sampled_from([0.0, 30.0]) | st.floats(0, 800))
        crimes.append({"crime_reference": f"C{k}", "police_force": "Kent", "crime_type": "RB",
                       "x": draw(COORD), "y": draw(COORD),
                       "time_from": T0 + pd.Timedelta(seconds=a),
                       "time_to": T0 + pd.Timedelta(seconds=a + length)})
    rules = Rules(radius_m=draw(st.sampled_from([0.0, 50.0, 100.0]) | st.floats(0, 200)),
                  max_gap_s=draw(st.sampled_from([25.0, 100.0, 300.0])),
                  buffer_before_s=draw(st.sampled_from([0.0, 20.0])),
                  buffer_after_s=draw(st.sampled_from([0.0, 35.0])),
                  count_precision=draw(st.booleans()))
    return pd.DataFrame(rows), pd.DataFrame(crimes), rules


def _s(v) -> float:
    return (pd.Timestamp(v) - T0).total_seconds()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenes())
def test_match_agrees_with_naive(scene):
    trails, crimes, rules = scene
    fast = match(trails, crimes, rules).set_index(["crime_reference", "subject"])
    slow = naive_match(trails, crimes, rules)
    slow = slow.set_index(["crime_reference", "subject"]) if len(slow) else slow
    for key in set(fast.index) ^ set(slow.index):
        # only a touch of measure zero at the very boundary may fall either side by round-off
        row = fast.loc[key] if key in fast.index else slow.loc[key]
        assert row["duration_s"] < touch_s(rules.max_gap_s), (key, row)
    for key in set(fast.index) & set(slow.index):
        f, s = fast.loc[key], slow.loc[key]
        assert f.min_distance_m == np.float64(s.min_distance_m) or math.isclose(
            f.min_distance_m, s.min_distance_m, rel_tol=1e-9, abs_tol=1e-6), key
        if not math.isclose(f.min_distance_m, s.min_distance_m, abs_tol=1e-9):
            continue
        for col in ("first_in", "last_in"):
            assert abs(_s(f[col]) - _s(s[col])) < 1e-4, (key, col, f[col], s[col])
        assert abs(f.duration_s - s.duration_s) < 1e-4, key
        # closest time can differ only where the minimum is flat (several equally close instants)
        if s.fix_margin > 1e-9:
            assert f.fixes_in == s.fixes_in, key
            assert f.sources == s.sources, key
            assert (math.isnan(f.max_precision_m) and math.isnan(s.max_precision_m)) or \
                f.max_precision_m == s.max_precision_m, key
