"""The evidence model (trailmatch/evidence.py) against the brute-force reference in
tests/naive.py, against match()'s hit fields, and its account sentences on known paths."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from helpers import T0, touch_s
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from naive import naive_evidence, subject_paths

from trailmatch import Rules, match
from trailmatch.evidence import fixes_evidence, trail_evidence
from trailmatch.trails import prepare_trail

COORD = st.integers(-300, 300).map(float) | st.floats(-300, 300, allow_nan=False)


@st.composite
def scenes(draw):
    n = draw(st.integers(1, 14))
    steps = draw(st.lists(st.sampled_from([0.0, 25.0, 100.0, 300.0]) | st.floats(0, 400),
                          min_size=n, max_size=n))
    times = np.cumsum([draw(st.floats(0, 600))] + steps[1:]).tolist()
    rows = [{"subject": "S", "time": T0 + pd.Timedelta(seconds=t), "x": draw(COORD),
             "y": draw(COORD),
             "precision_m": draw(st.sampled_from([math.nan, 0.0, 5.0, 40.0]) | st.floats(0, 120)),
             "source": draw(st.sampled_from([1, 4, 5, 6]))} for t in times]
    a = draw(st.floats(-100, 1600, allow_nan=False))
    length = draw(st.sampled_from([0.0, 30.0]) | st.floats(0, 800))
    crime = {"crime_reference": "C", "police_force": "Kent", "crime_type": "RB",
             "x": draw(COORD), "y": draw(COORD), "time_from": T0 + pd.Timedelta(seconds=a),
             "time_to": T0 + pd.Timedelta(seconds=a + length)}
    rules = Rules(radius_m=draw(st.sampled_from([0.0, 50.0, 100.0]) | st.floats(0, 200)),
                  max_gap_s=draw(st.sampled_from([25.0, 100.0, 300.0])),
                  buffer_before_s=draw(st.sampled_from([0.0, 20.0])),
                  buffer_after_s=draw(st.sampled_from([0.0, 35.0])),
                  count_precision=draw(st.booleans()))
    return pd.DataFrame(rows), crime, rules


def _evidence(trails: pd.DataFrame, crime: dict, rules: Rules, hit: dict | None = None):
    trail = prepare_trail(trails)
    return fixes_evidence("S", trail.t, trail.x, trail.y, trail.precision, trail.source,
                          hit or {}, crime["x"], crime["y"], crime["time_from"],
                          crime["time_to"], rules)


def _solid(visits, tol):
    """Visits that are more than a boundary touch, with stretches less than ``tol`` apart
    joined: what two implementations must agree on exactly, whatever their round-off."""
    out: list[list[float]] = []
    for entry, exit_, dwell, *_ in visits:
        if out and entry - out[-1][1] <= tol:
            out[-1][1] = exit_
            out[-1][2] += dwell
        else:
            out.append([entry, exit_, dwell])
    return [v for v in out if v[1] - v[0] >= tol]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenes())
def test_evidence_agrees_with_naive(scene):
    trails, crime, rules = scene
    ev = _evidence(trails, crime, rules)
    w0 = crime["time_from"].value - rules.buffer_before_ns
    w1 = crime["time_to"].value + rules.buffer_after_ns
    slow = naive_evidence(subject_paths(trails)["S"], crime["x"], crime["y"], w0, w1, rules)
    # the path and the gaps are decided on whole nanoseconds: exactly the same
    assert ev.arrays["time"].tolist() == slow["path"]
    assert [(g.before, g.after) for g in ev.gaps] == slow["gaps"]
    seq = {int(t): i + 1 for i, t in enumerate(ev.arrays["time"])}
    for g in ev.gaps:
        assert g.before_seq == (seq[g.before] if g.before is not None else None)
        assert g.after_seq == (seq[g.after] if g.after is not None else None)
        assert w0 <= g.window_from <= g.window_to <= w1
    if slow["closest"] is None:
        assert not [v for v in ev.visits if v.dwell_s >= touch_s(rules.max_gap_s)]
        return
    assert math.isclose(ev.closest.distance_m, slow["closest"], rel_tol=1e-9, abs_tol=1e-6)
    assert math.isclose(math.hypot(ev.closest.x - crime["x"], ev.closest.y - crime["y"]),
                        ev.closest.distance_m, rel_tol=1e-9, abs_tol=1e-6)
    fast = [((v.entry - w0) / 1e9, (v.exit - w0) / 1e9, v.dwell_s) for v in ev.visits]
    tol = max(1e-4, touch_s(rules.max_gap_s))
    a, b = _solid(fast, tol), _solid(slow["visits"], tol)
    assert len(a) == len(b), (fast, slow["visits"])
    for (e1, x1, d1), (e2, x2, d2) in zip(a, b, strict=True):
        assert abs(e1 - e2) < 1e-4 and abs(x1 - x2) < 1e-4 and abs(d1 - d2) < 1e-4
    assert abs(sum(v.dwell_s for v in ev.visits) - sum(v[2] for v in slow["visits"])) < 1e-4
    for v in ev.visits:  # every number of a visit is consistent with the path
        assert v.entry <= v.closest_time <= v.exit or v.dwell_s == 0
        assert v.within_radius == (v.closest_m <= rules.radius_m)
        assert v.closest_m >= ev.closest.distance_m - 1e-9
        assert v.sentence and v.sentence in ev.account or len(ev.visits) > 1


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenes())
def test_visits_agree_with_the_hit(scene):
    """Entry of the first visit = first_in, exit of the last = last_in, dwells sum to
    duration_s, closest approach = min_distance_m: the hit match() found."""
    trails, crime, rules = scene
    hits = match(trails, pd.DataFrame([crime]), rules)
    if hits.empty:
        return
    hit = hits.iloc[0].to_dict()
    ev = _evidence(trails, crime, rules, hit)
    assert math.isclose(ev.closest.distance_m, hit["min_distance_m"], rel_tol=1e-9,
                        abs_tol=1e-6)
    if hit["duration_s"] < touch_s(rules.max_gap_s) and not ev.visits:
        return  # a boundary touch one side of round-off found and the other not
    assert ev.visits
    assert abs(ev.visits[0].entry - hit["first_in"].value) <= 1000  # ns: 1 µs
    assert abs(ev.visits[-1].exit - hit["last_in"].value) <= 1000
    assert abs(sum(v.dwell_s for v in ev.visits) - hit["duration_s"]) < 1e-6
    assert int(ev.arrays["in_vicinity"].sum()) == hit["fixes_in"] or hit["fixes_in"] == 0 \
        or abs(min(ev.arrays["distance_m"]) - rules.radius_m) < 1e-6


def _one_subject(points, precision=15.0):
    times = [T0 + pd.Timedelta(seconds=s) for s, _, _ in points]
    return pd.DataFrame({"subject": "S", "time": times,
                         "x": [x for _, x, _ in points], "y": [y for _, _, y in points],
                         "precision_m": precision, "source": 1})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenes())
def test_fix_offsets_give_the_engines_distances(scene):
    """What the page's map and timeline read (path_records): each fix's offset from the crime in
    the working CRS and the precision counted. Interpolating them between joined fixes inside
    the window, as timeline.js does, finds the closest approach the engine found."""
    trails, crime, rules = scene
    ev = _evidence(trails, crime, rules)
    records = ev.path_records()
    assert len(records) == ev.n
    for r, prec in zip(records, ev.arrays["precision_m"].tolist(), strict=True):
        assert math.hypot(r["east_m"], r["north_m"]) == pytest.approx(r["distance_m"],
                                                                      abs=1e-6)
        counted = 0.0 if not rules.count_precision or math.isnan(prec) else prec
        assert r["reach_m"] == counted
    if ev.closest is None:
        return
    t = ev.arrays["time"].astype(np.float64)
    best = math.inf
    for r in records:  # the fixes inside the window
        if r["in_window"]:
            best = min(best, r["distance_m"])
    for i in range(1, len(records)):  # each joined segment, cut to the window
        a, b = records[i - 1], records[i]
        if not b["joined_to_previous"]:
            continue
        lo, hi = max(t[i - 1], ev.w0), min(t[i], ev.w1)
        if lo > hi:
            continue
        for f in np.linspace((lo - t[i - 1]) / (t[i] - t[i - 1]),
                             (hi - t[i - 1]) / (t[i] - t[i - 1]), 2001):
            e = a["east_m"] + f * (b["east_m"] - a["east_m"])
            n = a["north_m"] + f * (b["north_m"] - a["north_m"])
            best = min(best, math.hypot(e, n))
    # sampled: never below the exact minimum, and within a sample step of it
    assert best >= ev.closest.distance_m - 1e-6
    span = max((math.hypot(b["east_m"] - a["east_m"], b["north_m"] - a["north_m"])
                for a, b in zip(records, records[1:], strict=False)), default=0.0)
    assert best <= ev.closest.distance_m + span / 2000 + 1e-6


def test_account_of_a_walk_through():
    # walking north-east through the crime at 1 m/s, then south out of the vicinity
    pts = [(0, -200.0, -200.0), (60, -157.6, -157.6), (340, 40.0, 40.0), (400, 40.0, -20.0),
           (700, 40.0, -260.0)]
    crime = {"x": 0.0, "y": 0.0, "time_from": T0 + pd.Timedelta(seconds=30),
             "time_to": T0 + pd.Timedelta(seconds=680)}
    rules = Rules(count_precision=False)
    ev = _evidence(_one_subject(pts), crime, rules)
    assert len(ev.visits) == 1 and not ev.gaps
    v = ev.visits[0]
    assert v.entry_kind == "crossed" and v.exit_kind == "crossed"
    assert v.approach.compass == "north-east" and v.departure.compass == "south"
    # in at 60 s + (222.9 m - 100 m) / 0.998 m/s; out where 40² + y² = 100², at 0.8 m/s
    assert ev.account == (
        "Entered the 100 m vicinity at 00:03:03, heading north-east at 3.6 km/h, stayed "
        "5 min 6 s, closest 0.0 m at 00:04:43, left at 00:08:09, heading south at 2.9 km/h; "
        "no gaps in the window.")
    assert ev.precision_note is None


def test_a_hit_by_precision_is_spelt_out():
    # a fix 108.4 m away with 15 m precision, isolated: in the vicinity only with precision
    pts = [(0, 108.4, 0.0), (1000, 500.0, 500.0)]
    crime = {"x": 0.0, "y": 0.0, "time_from": T0, "time_to": T0 + pd.Timedelta(seconds=10)}
    ev = _evidence(_one_subject(pts), crime, Rules())
    assert ev.precision_note == ("closest approach 108.4 m: within 100 m plus the fix's "
                                 "15 m precision")
    assert ev.visits[0].entry_kind == "isolated" and not ev.visits[0].within_radius
    assert ("1 gap in the window: no fix from 00:00:00 to the window's end (none in the 300 s "
            "after it)") in ev.account


def test_gaps_and_window_edges():
    # no fix within max gap before the window; a 10 min gap inside it; still in at its end
    pts = [(100, 0.0, 0.0), (160, 10.0, 0.0), (760, 20.0, 0.0), (820, 30.0, 0.0),
           (1000, 40.0, 0.0)]
    crime = {"x": 0.0, "y": 0.0, "time_from": T0 + pd.Timedelta(seconds=50),
             "time_to": T0 + pd.Timedelta(seconds=900)}
    ev = _evidence(_one_subject(pts), crime, Rules())
    assert [(g.before_seq, g.after_seq) for g in ev.gaps] == [(None, 1), (2, 3)]
    assert [v.entry_kind for v in ev.visits] == ["gap", "gap"]
    assert [v.exit_kind for v in ev.visits] == ["gap", "window"]
    assert "still there when the window closed at 00:15:00" in ev.account
    assert ("2 gaps in the window: no fix from the window's start until 00:01:40 (none in the "
            "300 s before it); no fix from 00:02:40 to 00:12:40 (10 min).") in ev.account


def test_many_hits_at_once_equal_one_at_a_time():
    rng = np.random.default_rng(7)
    rows = []
    for s in range(5):
        t = np.cumsum(rng.integers(20, 200, 200))
        rows.append(pd.DataFrame({"subject": f"S{s}", "time": T0 + pd.to_timedelta(t, "s"),
                                  "x": np.cumsum(rng.normal(0, 30, 200)),
                                  "y": np.cumsum(rng.normal(0, 30, 200)),
                                  "precision_m": rng.uniform(0, 50, 200), "source": 1}))
    trails = pd.concat(rows, ignore_index=True)
    crimes = pd.DataFrame([{"crime_reference": f"C{k}", "police_force": "Kent",
                            "crime_type": "RB", "x": rng.normal(0, 200), "y": rng.normal(0, 200),
                            "time_from": T0 + pd.Timedelta(seconds=int(rng.integers(0, 20000))),
                            "time_to": T0 + pd.Timedelta(seconds=int(rng.integers(20000, 30000)))}
                           for k in range(30)])
    rules = Rules(radius_m=150)
    hits = match(trails, crimes, rules)
    assert len(hits) > 20
    by_ref = crimes.set_index("crime_reference")
    hit_rows = hits.to_dict("records")
    crime_rows = [by_ref.loc[h["crime_reference"]].to_dict() for h in hit_rows]
    trail = prepare_trail(trails)
    many = trail_evidence(trail, hit_rows, crime_rows, rules)
    for ev, h, c in zip(many, hit_rows, crime_rows, strict=True):
        one = _evidence(trails[trails["subject"] == h["subject"]].assign(subject="S"), c,
                        rules, h)
        assert ev.to_dict() == one.to_dict()
        assert abs(ev.visits[0].entry - h["first_in"].value) <= 1000
