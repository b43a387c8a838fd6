"""Hand-computed cases of the vicinity contract (docs/vicinity.md), one behaviour each."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from helpers import T0, crime, seconds, trail

from trailmatch import HIT_COLUMNS, Rules, match

OFF = Rules(count_precision=False)
HALF = math.sqrt(100**2 - 50**2) / 10  # 8.660 s: half the time inside, at 10 m/s, 50 m off


def one(hits: pd.DataFrame) -> pd.Series:
    assert len(hits) == 1, hits
    return hits.iloc[0]


def test_passing_between_two_fixes():
    # 10 m/s along y=0 from x=-500 to x=500; crime 50 m off the line at x=0.
    h = one(match(trail((0, -500, 0), (100, 500, 0)), crime(0, 50, 0, 100), OFF))
    assert list(h.index) == HIT_COLUMNS
    assert h.min_distance_m == pytest.approx(50.0)
    assert seconds(h.closest_time) == pytest.approx(50.0)
    assert seconds(h.first_in) == pytest.approx(50 - HALF)
    assert seconds(h.last_in) == pytest.approx(50 + HALF)
    assert h.duration_s == pytest.approx(2 * HALF)
    assert h.fixes_in == 0  # neither fix is itself near: the hit is on the interpolated path
    assert math.isnan(h.max_precision_m) and h.sources == ""


def test_window_edges_clip_the_interval():
    h = one(match(trail((0, -500, 0), (100, 500, 0)), crime(0, 50, 45, 55), OFF))
    assert (seconds(h.first_in), seconds(h.last_in)) == pytest.approx((45.0, 55.0))
    assert h.duration_s == pytest.approx(10.0)
    # leaving after the window opens: closest approach is at the window start
    h = one(match(trail((0, -500, 0), (100, 500, 0)), crime(0, 50, 55, 100), OFF))
    assert seconds(h.first_in) == pytest.approx(55.0)
    assert seconds(h.last_in) == pytest.approx(50 + HALF)
    assert h.min_distance_m == pytest.approx(math.hypot(50, 50))
    assert seconds(h.closest_time) == pytest.approx(55.0)


def test_zero_length_window():
    h = one(match(trail((0, -500, 0), (100, 500, 0)), crime(0, 50, 50, 50), OFF))
    assert h.duration_s == 0.0
    assert seconds(h.first_in) == seconds(h.last_in) == pytest.approx(50.0)
    assert match(trail((0, -500, 0), (100, 500, 0)), crime(0, 50, 30, 30), OFF).empty


def test_stationary_subject():
    h = one(match(trail((0, 10, 0), (60, 10, 0), (120, 10, 0)), crime(0, 0, 30, 90), OFF))
    assert h.duration_s == pytest.approx(60.0)
    assert (seconds(h.first_in), seconds(h.last_in)) == pytest.approx((30.0, 90.0))
    assert h.min_distance_m == pytest.approx(10.0)
    assert seconds(h.closest_time) == pytest.approx(30.0)  # the earliest closest instant
    assert h.fixes_in == 1


@pytest.mark.parametrize(("gap", "joined"), [(300.0, True), (299.999, True), (300.001, False)])
def test_gap_at_under_and_over_max_gap(gap, joined):
    hits = match(trail((0, -500, 0), (gap, 500, 0)), crime(0, 0, 0, 400), OFF)
    assert (len(hits) == 1) is joined


def test_isolated_fix():
    h = one(match(trail((10, 30, 40), (1000, 5000, 0)), crime(0, 0, 0, 20), OFF))
    assert h.min_distance_m == pytest.approx(50.0)
    assert h.duration_s == 0.0 and seconds(h.first_in) == seconds(h.last_in) == 10.0
    assert h.fixes_in == 1
    # outside the window the isolated fix does not count
    assert match(trail((10, 30, 40)), crime(0, 0, 11, 20), OFF).empty


def test_precision_on_and_off():
    t = trail((0, 150, 0, 60), (60, 150, 0, 60))
    assert match(t, crime(0, 0, 0, 60), OFF).empty
    h = one(match(t, crime(0, 0, 0, 60), Rules()))
    assert h.min_distance_m == pytest.approx(150.0) and h.duration_s == pytest.approx(60.0)
    assert h.max_precision_m == 60.0 and h.fixes_in == 2 and h.sources == "GPS"


def test_interpolated_precision():
    # precision grows from 0 to 100 m while the subject stands 150 m away: inside when ρ >= 50
    h = one(match(trail((0, 150, 0, 0), (100, 150, 0, 100)), crime(0, 0, 0, 100), Rules()))
    assert seconds(h.first_in) == pytest.approx(50.0)
    assert h.duration_s == pytest.approx(50.0)
    assert h.fixes_in == 1 and h.max_precision_m == 100.0


def test_closest_approach_is_over_the_whole_window_not_only_the_vicinity():
    # in the vicinity only thanks to a large precision at 180 m, later 120 m away with none
    t = trail((0, 180, 0, 100), (60, 180, 0, 100), (400, 120, 0, 0), (460, 120, 0, 0))
    h = one(match(t, crime(0, 0, 0, 460), Rules()))
    assert h.min_distance_m == pytest.approx(120.0)
    assert seconds(h.closest_time) == pytest.approx(400.0)
    assert seconds(h.last_in) == pytest.approx(60.0)


def test_two_subjects_and_a_crime_with_nobody_near():
    trails = pd.concat([trail((0, 0, 0), (60, 10, 0), subject="A"),
                        trail((0, 900, 0), (60, 910, 0), subject="B")])
    crimes = pd.concat([crime(0, 0, 0, 60, ref="1/1/25"), crime(5000, 5000, 0, 60, ref="1/2/25")])
    hits = match(trails, crimes, OFF)
    assert hits[["crime_reference", "subject"]].values.tolist() == [["1/1/25", "A"]]


def test_duplicate_fixes_count_once_and_input_order_does_not_matter():
    t = trail((0, 10, 0, 5), (0, 10, 0, 5), (60, 20, 0, 5), (120, 30, 0, 5))
    h = one(match(t, crime(0, 0, 0, 120), OFF))
    assert h.fixes_in == 3
    shuffled = one(match(t.sample(frac=1, random_state=3), crime(0, 0, 0, 120), OFF))
    pd.testing.assert_series_equal(h, shuffled)


def test_buffers_widen_the_window():
    t = trail((10, 0, 0), (2000, 0, 0))
    assert match(t, crime(0, 0, 0, 0), OFF).empty
    h = one(match(t, crime(0, 0, 0, 0), Rules(count_precision=False, buffer_after_s=10)))
    assert seconds(h.first_in) == 10.0
    assert one(match(t, crime(0, 0, 20, 20),
                     Rules(count_precision=False, buffer_before_s=10))).fixes_in == 1


def test_exactly_on_the_radius_is_in_the_vicinity():
    h = one(match(trail((0, 60, 80)), crime(0, 0, 0, 0), OFF))
    assert h.min_distance_m == 100.0


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="row 1: non-finite coordinate"):
        match(trail((0, 0, 0), (60, float("nan"), 0)), crime(0, 0, 0, 1), OFF)
    with pytest.raises(ValueError, match="time_to is before time_from"):
        match(trail((0, 0, 0)), crime(0, 0, 10, 0), OFF)
    with pytest.raises(ValueError, match="missing column"):
        match(trail((0, 0, 0)).drop(columns="x"), crime(0, 0, 0, 1), OFF)
    with pytest.raises(ValueError, match="radius_m"):
        Rules(radius_m=-1)


def test_empty_inputs_give_an_empty_frame_with_the_columns():
    hits = match(trail((0, 0, 0)).iloc[:0], crime(0, 0, 0, 1), OFF)
    assert list(hits.columns) == HIT_COLUMNS and hits.empty


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
@pytest.mark.parametrize("tz", [None, "UTC", "Europe/London"])
def test_fix_times_in_any_unit_and_zone_are_the_same_instants(unit, tz):
    """Times are read as instants whatever their resolution and zone (naive = UTC)."""
    from trailmatch.trails import to_utc_ns

    utc = pd.Series(pd.to_datetime(["2025-07-01T12:00:01Z", "2025-01-20T23:59:59Z"]))
    local = utc.dt.tz_convert(tz) if tz else utc.dt.tz_localize(None)
    np.testing.assert_array_equal(to_utc_ns(local.dt.as_unit(unit), "t"),
                                  utc.dt.as_unit("ns").array.asi8)


def test_the_first_bad_row_is_named_in_a_long_trail():
    """The validity scan runs in parallel chunks: the row named is still the first bad one."""
    n = 200_000
    fixes = pd.DataFrame({"subject": "A", "time": T0 + pd.to_timedelta(np.arange(n) * 60, unit="s"),
                          "x": np.zeros(n), "y": np.zeros(n), "precision_m": np.ones(n)})
    bad = fixes.copy()
    bad.loc[[150_001, 70_003], "y"] = [np.inf, np.nan]
    with pytest.raises(ValueError, match="row 70003: non-finite coordinate"):
        match(bad, crime(0, 0, 0, 1), OFF)
    bad = fixes.copy()
    bad.loc[[190_000, 99_999], "precision_m"] = -1.0
    with pytest.raises(ValueError, match="row 99999: negative precision"):
        match(bad, crime(0, 0, 0, 1), OFF)


def test_missing_subjects_and_times_are_named_in_a_long_trail():
    """Same parallel scan: the first missing subject and the first missing time."""
    n = 200_000
    fixes = pd.DataFrame({"subject": pd.Categorical(np.where(np.arange(n) < n // 2, "A", "B")),
                          "time": T0 + pd.to_timedelta(np.arange(n) * 60, unit="s"),
                          "x": np.zeros(n), "y": np.zeros(n)})
    bad = fixes.copy()
    bad.loc[[180_000, 60_001], "subject"] = None
    with pytest.raises(ValueError, match="row 60001: missing subject"):
        match(bad, crime(0, 0, 0, 1), OFF)
    bad = fixes.copy()
    bad.loc[[120_000, 100_002], "time"] = pd.NaT
    with pytest.raises(ValueError, match="row 100002: missing time"):
        match(bad, crime(0, 0, 0, 1), OFF)


@pytest.mark.parametrize("count_precision", [False, True])
def test_a_trail_without_precision_matches_as_one_whose_precision_is_all_unknown(
        count_precision):
    """Without a precision column no array of NaNs is written (one NaN, read n times); the
    hits are those of the same trail with every precision given as unknown, whether the fixes
    arrive sorted or not."""
    from trailmatch.trails import prepare_trail

    rng = np.random.default_rng(5)
    n = 5_000
    fixes = pd.DataFrame({"subject": rng.choice(["A", "B", "C"], n),
                          "time": T0 + pd.to_timedelta(rng.permutation(n) * 30.0, unit="s"),
                          "x": rng.normal(0, 300, n), "y": rng.normal(0, 300, n)})
    crimes = pd.concat([crime(float(cx), float(cy), 0, 20_000)
                        for cx, cy in rng.normal(0, 300, (30, 2))], ignore_index=True)
    crimes["crime_reference"] = [f"C{k}" for k in range(len(crimes))]
    rules = Rules(count_precision=count_precision)
    for given in (fixes, fixes.sort_values(["subject", "time"], ignore_index=True)):
        trail = prepare_trail(given)
        assert not trail.has_precision and trail.precision.shape == (n,)
        assert np.isnan(trail.precision).all()
        with_column = given.assign(precision_m=np.nan)
        assert prepare_trail(with_column).has_precision
        hits = match(given, crimes, rules)
        assert len(hits) > 10
        pd.testing.assert_frame_equal(hits, match(with_column, crimes, rules))
