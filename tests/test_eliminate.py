"""Hand cases for each coverage status (issue 6): every number below is worked out by hand from
the prism condition of docs/vicinity.md (R = 100 m, max gap 300 s, v = 50 m/s unless said)."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from helpers import T0, at, crime, trail

from trailmatch import Rules, match
from trailmatch.eliminate import COVERAGE_COLUMNS, eliminate

RULES = Rules(count_precision=False)


def one(trails, crimes, rules=RULES, **kw) -> pd.Series:
    cov = eliminate(trails, crimes, rules, **kw)
    assert list(cov.columns) == COVERAGE_COLUMNS
    assert len(cov) == 1, cov
    return cov.iloc[0]


def line_gap():
    """Fix a at (0, 0) at 0 s, fix b at (10 km, 0) at 1000 s: one gap, 10 m/s on average."""
    return trail((0, 0, 0), (1000, 10_000, 0))


def test_gap_whose_line_passes_the_crime_but_window_is_too_early():
    # The straight line passes (5 km, 0) at 500 s, but in [0, 50] s the subject can get at most
    # 2.5 km from a: it would need (5000 - 100) / 50 = 98 m/s. Excluded, with evidence: 1 gap.
    row = one(line_gap(), crime(5000, 0, 0, 50))
    assert row.status == "excluded"
    assert row.gaps == 1 and row.fixes_in_window == 1 and row.covered_fraction == 1.0
    assert pd.isna(row.worst_gap_from) and math.isnan(row.min_speed_needed_mps)
    # Same place, window [0, 100] s: 4900 / 100 = 49 m/s is enough to be there at 100 s.
    row = one(line_gap(), crime(5000, 0, 0, 100))
    assert row.status == "cannot_exclude"
    assert row.min_speed_needed_mps == pytest.approx(49.0)
    assert row.worst_gap_from == at(0) and row.worst_gap_to == at(1000)


def test_gap_too_short_in_time_for_the_detour():
    # 10 m/s average, crime 12 km off the line at the middle: d_a = d_b = 13 km, so the
    # round trip needs (12900 + 12900) / 1000 = 25.8 m/s > v = 20: excluded; at v = 30 it is not.
    trails, crimes = line_gap(), crime(5000, 12_000, 0, 1000)
    assert one(trails, crimes, Rules(count_precision=False, max_speed_mps=20)).status == \
        "excluded"
    row = one(trails, crimes, Rules(count_precision=False, max_speed_mps=30))
    assert row.status == "cannot_exclude"
    assert row.min_speed_needed_mps == pytest.approx(25.8)


def test_gap_that_reaches_the_crime_only_after_the_window_closes():
    # a and b both at the origin an hour apart; the crime 30 km away: 29900 / 50 = 598 s to get
    # there. Window [0, 300] s: too early, excluded. Window [0, 900]: reachable (then back).
    trails = trail((0, 0, 0), (3600, 0, 0))
    assert one(trails, crime(30_000, 0, 0, 300)).status == "excluded"
    row = one(trails, crime(30_000, 0, 0, 900))
    assert row.status == "cannot_exclude"
    # max(29900/900, 29900/3600, 59800/3600) = 33.22 m/s
    assert row.min_speed_needed_mps == pytest.approx(29_900 / 900)


def test_gap_whose_return_leg_is_too_late():
    # Symmetric: the crime is near a, but b is 30 km away 700 s later and the window ends late:
    # the subject must leave the crime by 700 - 29900/50 = 102 s; window [200, 700]: excluded.
    trails = trail((0, 0, 0), (700, 30_000, 0))
    assert one(trails, crime(0, 500, 200, 700)).status == "excluded"
    assert one(trails, crime(0, 500, 50, 700)).status == "cannot_exclude"


def ladder():
    """Fixes every 60 s from 0 to 600 s and from 1800 to 2400 s along y = 0 (x = t m), so one
    gap 600 s -> 1800 s; the crime sits 2 km north of x = 1200."""
    fixes = [(t, t, 0) for t in range(0, 601, 60)] + [(t, t, 0) for t in range(1800, 2401, 60)]
    return trail(*fixes)


@pytest.mark.parametrize(("w0", "w1"), [(1000, 2000), (400, 1000), (900, 1000)],
                         ids=["window-starts-in-gap", "window-ends-in-gap", "window-inside-gap"])
def test_window_edges_inside_a_gap(w0, w1):
    cx, cy = 1200, 2000
    trails = ladder()
    slow = Rules(count_precision=False, max_speed_mps=1)
    fast = Rules(count_precision=False, max_speed_mps=50)
    row = one(trails, crime(cx, cy, w0, w1), fast)
    assert row.status == "cannot_exclude"
    assert (row.worst_gap_from, row.worst_gap_to) == (at(600), at(1800))
    # clipped gap [g0, g1] = [max(600, w0), min(1800, w1)]; the closed-form minimum speed
    d_a = math.hypot(cx - 600, cy) - 100
    d_b = math.hypot(cx - 1800, cy) - 100
    g0, g1 = max(600, w0), min(1800, w1)
    need = max(d_a / (g1 - 600), d_b / (1800 - g0), (d_a + d_b) / 1200)
    assert row.min_speed_needed_mps == pytest.approx(need)
    assert one(trails, crime(cx, cy, w0, w1), slow).status == "excluded"
    assert one(trails, crime(cx, cy, w0, w1),
               Rules(count_precision=False, max_speed_mps=need * 1.0001)).status == \
        "cannot_exclude"
    assert one(trails, crime(cx, cy, w0, w1),
               Rules(count_precision=False, max_speed_mps=need * 0.9999)).status == "excluded"
    assert row.gaps == 1
    assert row.fixes_in_window == sum(1 for t in [*range(0, 601, 60), *range(1800, 2401, 60)]
                                      if w0 <= t <= w1)


def test_isolated_fixes_bound_gaps_on_both_sides():
    trails = trail((0, 0, 0), (1000, 0, 0), (2000, 0, 0))
    # An instant window exactly at the middle fix, 150 m away: the subject was there, not in
    # the vicinity; the gaps touch the window only at the fix itself. Excluded, 0 gaps.
    row = one(trails, crime(150, 0, 1000, 1000))
    assert (row.status, row.gaps, row.fixes_in_window) == ("excluded", 0, 1)
    # [990, 1010]: both gaps meet it; 50 m of slack needs 50/10 = 5 m/s from either side.
    row = one(trails, crime(150, 0, 990, 1010))
    assert (row.status, row.gaps) == ("cannot_exclude", 2)
    assert row.min_speed_needed_mps == pytest.approx(5.0)
    assert row.worst_gap_from == at(0)  # tie between the two gaps: the earliest
    assert one(trails, crime(150, 0, 990, 1010), Rules(count_precision=False,
                                                       max_speed_mps=4.9)).status == "excluded"


def test_hit_wins_and_agrees_with_match():
    trails = trail((0, 0, 0), (60, 600, 0), (2000, 5000, 0))
    crimes = pd.concat([crime(300, 50, 0, 60, ref="A"), crime(300, 500, 0, 60, ref="B")])
    cov = eliminate(trails, crimes, RULES).set_index("crime_reference")
    hits = match(trails, crimes, RULES)
    assert list(hits.crime_reference) == ["A"]
    assert cov.loc["A", "status"] == "hit"
    assert cov.loc["B", "status"] == "excluded"  # joined segment, never within 100 m


def test_not_monitored_without_activations_is_first_to_last_fix():
    trails = line_gap()
    row = one(trails, crime(5000, 0, -1000, 1000))  # half the window before the first fix
    assert row.status == "not_monitored"
    assert row.covered_fraction == pytest.approx(0.5)
    row = one(trails, crime(5000, 0, 2000, 3000))  # wholly after the last fix
    assert (row.status, row.covered_fraction, row.fixes_in_window) == ("not_monitored", 0.0, 0)
    # a hit is a hit even outside the monitoring
    assert one(trails, crime(0, 50, -100, 10)).status == "hit"


def activations(*periods, subject="A"):
    return pd.DataFrame([{"subject": subject, "start": at(a),
                          "end": pd.NaT if b is None else at(b)} for a, b in periods])


def test_activation_before_the_first_fix_is_an_open_stretch():
    # Active from -1000 s; first fix at 0 s at the origin. Crime 3 km away at [-500, -400]:
    # only the way to fix a bounds it: leave by 0 - 2900/50 = -58 s: possible (speed
    # 2900 / (0 - (-500)) = 5.8 m/s).
    trails = line_gap()
    act = activations((-1000, 5000))
    row = one(trails, crime(3000, 0, -500, -400), activations=act)
    assert row.status == "cannot_exclude"
    assert row.min_speed_needed_mps == pytest.approx(5.8)
    assert (row.worst_gap_from, row.worst_gap_to) == (at(-1000), at(0))
    assert row.gaps == 1
    # 30 km away instead: 29900/500 = 59.8 m/s > 50: excluded.
    assert one(trails, crime(30_000, 0, -500, -400), activations=act).status == "excluded"


def test_open_activation_after_the_last_fix():
    trails = line_gap()
    act = activations((0, None))
    row = one(trails, crime(10_000, 3000, 2000, 2100), activations=act)
    assert row.status == "cannot_exclude"
    assert row.worst_gap_from == at(1000) and pd.isna(row.worst_gap_to)
    assert row.min_speed_needed_mps == pytest.approx(2900 / 1100)


def test_activation_periods_with_a_hole_are_not_monitored_through():
    trails = line_gap()
    act = activations((0, 400), (600, 1000))
    row = one(trails, crime(5000, 0, 300, 700), activations=act)
    assert row.status == "not_monitored"
    assert row.covered_fraction == pytest.approx(0.5)


def test_subject_with_activation_and_no_fix_cannot_be_excluded():
    cov = eliminate(line_gap(), crime(5000, 0, 100, 200), RULES,
                    activations=activations((0, 3000), subject="B")).set_index("subject")
    assert cov.loc["B", "status"] == "cannot_exclude"
    assert cov.loc["B", "min_speed_needed_mps"] == 0.0
    assert cov.loc["B", "fixes_in_window"] == 0
    assert cov.loc["A", "status"] == "cannot_exclude"  # 4900/200 = 24.5 m/s is enough


def test_precision_makes_fewer_exclusions():
    # 49 m/s needed without precision (see above); 200 m of precision at each fix lowers it
    # to 4700/100 = 47 m/s: with v = 48 excluded only when precision does not count.
    trails = trail((0, 0, 0, 200.0), (1000, 10_000, 0, 200.0))
    crimes = crime(5000, 0, 0, 100)
    assert one(trails, crimes, Rules(count_precision=False, max_speed_mps=48)).status == \
        "excluded"
    row = one(trails, crimes, Rules(count_precision=True, max_speed_mps=48))
    assert row.status == "cannot_exclude"
    assert row.min_speed_needed_mps == pytest.approx(47.0)


def test_fully_covered_window_without_hit_is_excluded():
    fixes = [(t, 0, 0) for t in range(0, 3001, 60)]
    row = one(trail(*fixes), crime(500, 0, 1000, 2000))
    assert (row.status, row.gaps, row.fixes_in_window) == ("excluded", 0, 17)


def test_every_pair_once_sorted_by_force_reference_subject():
    trails = pd.concat([trail((0, 0, 0), (1000, 0, 0), subject=s) for s in ("B", "A", "C")])
    crimes = pd.concat([crime(0, 0, 10, 20, ref="2/1", force="Kent"),
                        crime(0, 0, 10, 20, ref="1/1", force="Kent"),
                        crime(0, 0, 10, 20, ref="9/9", force="Essex")])
    cov = eliminate(trails, crimes, RULES)
    got = list(zip(cov.police_force, cov.crime_reference, cov.subject, strict=True))
    assert got == sorted(got) and len(got) == 9


def test_empty_inputs_give_an_empty_frame_with_the_columns():
    cov = eliminate(line_gap(), crime(0, 0, 0, 1).iloc[:0], RULES)
    assert list(cov.columns) == COVERAGE_COLUMNS and len(cov) == 0


def test_bad_activations_are_named():
    with pytest.raises(ValueError, match="activations: row 0: end is before start"):
        eliminate(line_gap(), crime(0, 0, 0, 1), RULES, activations=activations((100, 50)))
    with pytest.raises(ValueError, match="missing column"):
        eliminate(line_gap(), crime(0, 0, 0, 1), RULES,
                  activations=pd.DataFrame({"subject": ["A"], "start": [T0]}))
