"""The streamed candidate search (index/sweep.py) finds exactly the pairs the segment index does.

``match()`` streams the path past the binned crimes; ``match --store``, the service and the
cluster query the persisted segment index. Both must name the same (crime, subject) pairs on any
input: crowded cells (the bisection into long cell lists), wide pieces (coarser levels),
crimes over many days, crimes far apart (a coarsened grid), and thread buffers that fill up.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from helpers import T0
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trailmatch import Rules, match
from trailmatch.index import sweep
from trailmatch.index.query import hit_pairs
from trailmatch.index.segments import build_index, trail_path
from trailmatch.match import match_prepared
from trailmatch.trails import prepare_crimes, prepare_trail

DAY = 86_400.0


def _both(trails: pd.DataFrame, crimes: pd.DataFrame, rules: Rules):
    trail = prepare_trail(trails)
    prepared = prepare_crimes(crimes, rules.buffer_before_ns, rules.buffer_after_ns)
    path = trail_path(trail, rules.max_gap_s, rules.count_precision)
    streamed = sweep.sweep_pairs(trail.starts, path.subject, path.t, path.x, path.y, path.reach,
                                 path.max_gap_ns, path.widest_piece_m, prepared.x,
                                 prepared.y, prepared.w0, prepared.w1, rules.radius_m)
    index = build_index(trail, rules.max_gap_s, rules.count_precision)
    indexed = hit_pairs(index, prepared.x, prepared.y, prepared.w0, prepared.w1, rules.radius_m)
    return streamed, indexed


def _assert_same(streamed, indexed):
    np.testing.assert_array_equal(streamed[0], indexed[0])
    np.testing.assert_array_equal(streamed[1], indexed[1])


@st.composite
def crowded_scenes(draw):
    """Up to 6 subjects and up to 60 crimes in a few hundred metres (long cell lists), windows
    over up to three days, fixes 10 s to 20 min apart, precision up to 2 km (coarse levels)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    rows = []
    for s in range(draw(st.integers(1, 6))):
        n = draw(st.integers(1, 60))
        t = np.cumsum(rng.choice([10.0, 60.0, 300.0, 1200.0], size=n)) + rng.uniform(0, DAY)
        step = rng.choice([5.0, 80.0, 900.0], p=[0.45, 0.45, 0.1])
        rows.append(pd.DataFrame({
            "subject": f"S{s}", "time": T0 + pd.to_timedelta(t, unit="s"),
            "x": np.cumsum(rng.normal(0, step, n)), "y": np.cumsum(rng.normal(0, step, n)),
            "precision_m": np.where(rng.random(n) < 0.1, rng.uniform(200, 2000, n),
                                    rng.uniform(0, 30, n)),
            "source": 1}))
    n_crimes = draw(st.integers(1, 60))
    spread = draw(st.sampled_from([50.0, 400.0, 3000.0]))
    start = rng.uniform(0, 3 * DAY, n_crimes)
    length = rng.choice([0.0, 600.0, 6 * 3600.0, 12 * 3600.0], size=n_crimes)
    crimes = pd.DataFrame({
        "crime_reference": [f"C{k}" for k in range(n_crimes)], "police_force": "Kent",
        "crime_type": "RB", "x": rng.normal(0, spread, n_crimes),
        "y": rng.normal(0, spread, n_crimes),
        "time_from": T0 + pd.to_timedelta(start, unit="s"),
        "time_to": T0 + pd.to_timedelta(start + length, unit="s")})
    rules = Rules(radius_m=draw(st.sampled_from([0.0, 100.0, 400.0])),
                  max_gap_s=draw(st.sampled_from([60.0, 300.0, 1200.0])),
                  buffer_before_s=draw(st.sampled_from([0.0, 900.0])),
                  count_precision=draw(st.booleans()))
    return pd.concat(rows, ignore_index=True), crimes, rules


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(crowded_scenes())
def test_sweep_finds_the_pairs_the_index_finds(scene):
    trails, crimes, rules = scene
    _assert_same(*_both(trails, crimes, rules))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(crowded_scenes())
def test_match_equals_match_on_the_segment_index(scene):
    trails, crimes, rules = scene
    trail = prepare_trail(trails)
    prepared = prepare_crimes(crimes, rules.buffer_before_ns, rules.buffer_after_ns)
    index = build_index(trail, rules.max_gap_s, rules.count_precision)
    pd.testing.assert_frame_equal(match(trails, crimes, rules),
                                  match_prepared(trail, index, prepared, rules))


def _far_apart_world(n_subjects: int = 40, n_crimes: int = 200):
    """Subjects and crimes around two towns 600 km apart, crimes next to the fixes."""
    rng = np.random.default_rng(7)
    rows = []
    for s in range(n_subjects):
        town = (0.0, 0.0) if s % 2 else (400_000.0, 450_000.0)
        t = np.arange(200) * 60.0
        rows.append(pd.DataFrame({
            "subject": f"S{s:03d}", "time": T0 + pd.to_timedelta(t, unit="s"),
            "x": town[0] + np.cumsum(rng.normal(0, 40, t.size)),
            "y": town[1] + np.cumsum(rng.normal(0, 40, t.size)),
            "precision_m": 10.0, "source": 1}))
    trails = pd.concat(rows, ignore_index=True)
    pick = rng.integers(0, len(trails), n_crimes)
    start = trails["time"].to_numpy()[pick] - pd.Timedelta(minutes=30)
    crimes = pd.DataFrame({
        "crime_reference": [f"C{k}" for k in range(n_crimes)], "police_force": "Kent",
        "crime_type": "RB", "x": trails["x"].to_numpy()[pick] + rng.normal(0, 80, n_crimes),
        "y": trails["y"].to_numpy()[pick] + rng.normal(0, 80, n_crimes),
        "time_from": start, "time_to": start + pd.Timedelta(hours=1)})
    return trails, crimes


def test_a_coarsened_grid_over_a_wide_extent_loses_nothing(monkeypatch):
    trails, crimes = _far_apart_world()
    rules = Rules()
    streamed, indexed = _both(trails, crimes, rules)
    assert len(streamed[0]) > 50
    _assert_same(streamed, indexed)
    monkeypatch.setattr(sweep, "MAX_CELLS", 64)  # cells of many kilometres
    _assert_same(_both(trails, crimes, rules)[0], indexed)


def test_thread_buffers_that_fill_up_send_subjects_to_another_round(monkeypatch):
    trails, crimes = _far_apart_world()
    rules = Rules()
    _, indexed = _both(trails, crimes, rules)
    monkeypatch.setattr(sweep, "MIN_BUFFER", 1)
    monkeypatch.setattr(sweep, "BUFFER_PER_CRIME", 0)
    calls = []
    real = sweep._sweep

    def counting(*args):
        calls.append(args[-2])  # the buffer capacity of the round
        return real(*args)

    monkeypatch.setattr(sweep, "_sweep", counting)
    _assert_same(_both(trails, crimes, rules)[0], indexed)
    assert len(calls) > 1 and calls[1] > calls[0]


def test_no_crime_or_no_fix_in_their_span():
    trails, crimes = _far_apart_world(4, 10)
    late = crimes.assign(time_from=crimes["time_from"] + pd.Timedelta(days=30),
                         time_to=crimes["time_to"] + pd.Timedelta(days=30))
    streamed, indexed = _both(trails, late, Rules())
    assert streamed[0].size == 0
    _assert_same(streamed, indexed)
    assert match(trails, crimes.iloc[:0], Rules()).empty


@pytest.mark.parametrize("precision", [False, True])
def test_level_choice_covers_the_widest_piece(precision):
    """One LBS fix of 5 km precision next to a crime 3 km away: only a coarse level sees it."""
    trails = pd.DataFrame({
        "subject": "A", "time": [T0, T0 + pd.Timedelta(minutes=1)],
        "x": [0.0, 10.0], "y": [0.0, 0.0], "precision_m": [5000.0, 5000.0], "source": 5})
    crimes = pd.DataFrame([{"crime_reference": "C", "police_force": "Kent", "crime_type": "RB",
                            "x": 3000.0, "y": 0.0, "time_from": T0,
                            "time_to": T0 + pd.Timedelta(minutes=1)}])
    hits = match(trails, crimes, Rules(count_precision=precision))
    assert len(hits) == int(precision)
    if precision:
        assert math.isclose(hits["min_distance_m"].iloc[0], 2990.0)


def test_cli_match_from_files_from_the_store_and_with_flagged_fixes_agree(tmp_path, sample_dir):
    """--positions and --store --include-flagged stream the trail; --store alone queries the
    persisted day indexes: the same hits (the sample has no flagged fix)."""
    from trailmatch.cli import main

    store = str(tmp_path / "store")
    crimes = str(sample_dir / "crimes.csv")
    assert main(["ingest", "positions", str(sample_dir / "positions.csv"), "--store", store]) == 0
    outs = {}
    for name, extra in (("files", ["--positions", str(sample_dir / "positions.csv")]),
                        ("store", ["--store", store]),
                        ("flagged", ["--store", store, "--include-flagged"])):
        outs[name] = tmp_path / f"{name}.csv"
        assert main(["match", *extra, "--crimes", crimes, "--out", str(outs[name])]) == 0
    files = outs["files"].read_text()
    assert files.count("\n") > 50
    assert outs["store"].read_text() == files
    assert outs["flagged"].read_text() == files
