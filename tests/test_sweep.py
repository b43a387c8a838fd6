"""The streamed search (index/sweep.py) finds exactly the hits the segment index does.

``match()`` streams the path past the binned crimes; ``match --store``, the service and the
cluster query the persisted segment index. Both must name the same (crime, subject) pairs on any
input: crowded cells (the bisection into long cell lists), wide pieces (coarser levels),
crimes over many days, crimes far apart (a coarsened grid), and thread buffers that fill up.
The fields the stream gathers in the same pass must equal ``hit_fields``' walk along the window,
bit for bit, and the hits it cannot vouch for must be the ones whose closest approach lies
beyond R.
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
from trailmatch.index.query import hit_fields, hit_pairs
from trailmatch.index.segments import build_index, trail_path
from trailmatch.match import _hit_order, _source_codes, match_prepared
from trailmatch.trails import prepare_crimes, prepare_trail

DAY = 86_400.0


def _both(trails: pd.DataFrame, crimes: pd.DataFrame, rules: Rules):
    trail = prepare_trail(trails)
    prepared = prepare_crimes(crimes, rules.buffer_before_ns, rules.buffer_after_ns)
    path = trail_path(trail, rules.max_gap_s, rules.count_precision)
    streamed = sweep.sweep_pairs(trail.starts, path, prepared.x, prepared.y, prepared.w0,
                                 prepared.w1, rules.radius_m)
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


def _fields_both(trails: pd.DataFrame, crimes: pd.DataFrame, rules: Rules):
    """(pairs, fields, flagged) from the stream and the walk's fields for the same pairs."""
    trail = prepare_trail(trails)
    prepared = prepare_crimes(crimes, rules.buffer_before_ns, rules.buffer_after_ns)
    path = trail_path(trail, rules.max_gap_s, rules.count_precision)
    pair_crime, pair_subject, fields, flagged = sweep.sweep_hits(
        trail, path, prepared.x, prepared.y, prepared.w0, prepared.w1, rules.radius_m)
    walked = hit_fields(path, trail, pair_crime, pair_subject, prepared.x, prepared.y,
                        prepared.w0, prepared.w1, rules.radius_m)
    pairs = sweep.sweep_pairs(trail.starts, path, prepared.x, prepared.y, prepared.w0,
                              prepared.w1, rules.radius_m)
    return (pair_crime, pair_subject), fields, flagged, walked, pairs


def _assert_fields_match_the_walk(scene):
    trails, crimes, rules = scene
    (pair_crime, pair_subject), fields, flagged, walked, pairs = _fields_both(
        trails, crimes, rules)
    order = np.lexsort((pair_subject, pair_crime))
    _assert_same((pair_crime[order], pair_subject[order]), pairs)
    assert walked[0].all()  # every streamed pair is a hit for the walk too
    np.testing.assert_array_equal(flagged, ~(walked[1] <= rules.radius_m - 1e-6))
    keep = ~flagged
    for got, want in zip(fields, walked, strict=True):
        np.testing.assert_array_equal(got[keep], want[keep])  # bit for bit, NaN == NaN
    return flagged


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(crowded_scenes())
def test_fields_gathered_in_the_stream_equal_the_walk(scene):
    _assert_fields_match_the_walk(scene)


def test_a_hit_only_by_its_precision_is_flagged_and_walked():
    """A subject passes 105 m from the crime with 20 m precision counted: a hit whose closest
    approach is beyond R. The stream flags it; match() fills its fields by the walk."""
    trails = pd.DataFrame({
        "subject": "A", "time": T0 + pd.to_timedelta(np.arange(5) * 60.0, unit="s"),
        "x": [-400.0, -200.0, 0.0, 200.0, 400.0], "y": 105.0, "precision_m": 20.0,
        "source": 1})
    crimes = pd.DataFrame([{"crime_reference": "C", "police_force": "Kent", "crime_type": "RB",
                            "x": 0.0, "y": 0.0, "time_from": T0,
                            "time_to": T0 + pd.Timedelta(minutes=5)}])
    rules = Rules(count_precision=True)
    flagged = _assert_fields_match_the_walk((trails, crimes, rules))
    assert flagged.tolist() == [True]
    hits = match(trails, crimes, rules)
    assert hits["min_distance_m"].tolist() == [105.0]
    trail = prepare_trail(trails)
    pd.testing.assert_frame_equal(hits, match_prepared(
        trail, build_index(trail, rules.max_gap_s, True),
        prepare_crimes(crimes, rules.buffer_before_ns, rules.buffer_after_ns), rules))


def _time_sliced_world():
    """Crimes with 10-minute windows where a subject was 20 minutes earlier or at that time:
    the blocks of a path that no open window reaches are stepped over, the others are not."""
    trails, crimes = _far_apart_world(20, 300)
    rng = np.random.default_rng(3)
    shift = pd.to_timedelta(rng.choice([0.0, 20.0], size=len(crimes)), unit="min")
    start = crimes["time_from"] + pd.Timedelta(minutes=25) + shift
    return trails, crimes.assign(time_from=start, time_to=start + pd.Timedelta(minutes=10))


def test_short_windows_step_over_quiet_blocks_and_lose_nothing():
    trails, crimes = _time_sliced_world()
    for rules in (Rules(), Rules(count_precision=False), Rules(radius_m=30.0)):
        streamed, indexed = _both(trails, crimes, rules)
        assert len(streamed[0]) > 20
        _assert_same(streamed, indexed)
        _assert_fields_match_the_walk((trails, crimes, rules))


def test_a_quiet_block_test_that_ignored_time_would_be_caught(monkeypatch):
    """The cell time slots matter: with every cell open all the time no block is skipped
    (same hits, the slow way), and a slot test that misplaced times loses hits."""
    trails, crimes = _time_sliced_world()
    _, indexed = _both(trails, crimes, Rules())
    real = sweep._cell_slots
    monkeypatch.setattr(sweep, "_cell_slots", lambda *a: np.full_like(real(*a), ~np.uint64(0)))
    _assert_same(_both(trails, crimes, Rules())[0], indexed)
    monkeypatch.setattr(sweep, "_cell_slots", lambda *a: real(*a) << np.uint64(8))
    assert len(_both(trails, crimes, Rules())[0][0]) < len(indexed[0])


def test_match_with_fields_and_buffers_that_fill_up_equals_the_index(monkeypatch):
    trails, crimes = _far_apart_world()
    rules = Rules()
    trail = prepare_trail(trails)
    want = match_prepared(trail, build_index(trail, rules.max_gap_s, True),
                          prepare_crimes(crimes, rules.buffer_before_ns, rules.buffer_after_ns),
                          rules)
    monkeypatch.setattr(sweep, "MIN_BUFFER", 1)
    monkeypatch.setattr(sweep, "BUFFER_PER_CRIME", 0)
    pd.testing.assert_frame_equal(match(trails, crimes, rules), want)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 400), st.integers(1, 50),
       st.integers(1, 30))
def test_hit_order_is_the_lexicographic_order(seed, n, n_ranks, n_subjects):
    """Crime rank, subject rank, crime row: the counting sort with its two in-group sorts
    (few hits, and a crowded crime) gives lexsort's order."""
    rng = np.random.default_rng(seed)
    row = rng.integers(0, 3 * n_ranks, n)
    crime_rank = row % n_ranks  # a row has one rank; ranks repeat across rows
    subject_rank = rng.integers(0, n_subjects, n)
    key = np.unique(np.stack([crime_rank, subject_rank, row]), axis=1)  # distinct hits
    crime_rank, subject_rank, row = key
    got = _hit_order(crime_rank, subject_rank, row, n_ranks)
    np.testing.assert_array_equal(got, np.lexsort((row, subject_rank, crime_rank)))


def test_source_codes_are_numpys_unique():
    sources = np.array([16, 1, 3, 1, 16, 0, 5], dtype=np.int64)
    masks, index = _source_codes(sources)
    want_masks, want_index = np.unique(sources, return_inverse=True)
    np.testing.assert_array_equal(masks, want_masks)
    np.testing.assert_array_equal(index, want_index)


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


def _block_world():
    """Every way a block's pieces get their crimes: a walker among three crimes (its blocks
    gather a few), one in a crowd of 40 crimes (more than ``BLOCK_CANDIDATES``: its pieces
    gather their own), a driver 1.5 km a minute (boxes over more than ``BLOCK_CELLS`` cells),
    and fix counts that are not multiples of the block, so blocks hold two subjects."""
    rng = np.random.default_rng(11)
    rows = []
    for name, n, step, at in (("walker", 37, 15.0, (0.0, 0.0)), ("crowded", 50, 5.0, (5e3, 0.0)),
                              ("driver", 61, 1500.0, (-2e4, 1e4))):
        t = np.arange(n) * 60.0
        rows.append(pd.DataFrame({
            "subject": name, "time": T0 + pd.to_timedelta(t, unit="s"),
            "x": at[0] + np.cumsum(rng.normal(0, step, n)),
            "y": at[1] + np.cumsum(rng.normal(0, step, n)), "precision_m": 10.0, "source": 1}))
    trails = pd.concat(rows, ignore_index=True)
    drive = trails[trails["subject"] == "driver"].iloc[[5, 20, 40]]
    x = np.concatenate([[0.0, 40.0, -60.0], 5e3 + rng.normal(0, 30, 40), drive["x"] + 50.0])
    y = np.concatenate([[20.0, -30.0, 90.0], rng.normal(0, 30, 40), drive["y"] - 50.0])
    crimes = pd.DataFrame({
        "crime_reference": [f"C{k}" for k in range(x.size)], "police_force": "Kent",
        "crime_type": "RB", "x": x, "y": y, "time_from": T0,
        "time_to": T0 + pd.Timedelta(hours=2)})
    return trails, crimes


def test_every_way_a_block_gets_its_crimes_loses_nothing():
    trails, crimes = _block_world()
    rules = Rules()
    trail = prepare_trail(trails)
    prepared = prepare_crimes(crimes, rules.buffer_before_ns, rules.buffer_after_ns)
    path = trail_path(trail, rules.max_gap_s, rules.count_precision)
    order = np.argsort(prepared.w0, kind="stable")
    grid = sweep.CrimeGrid(prepared.x[order], prepared.y[order], prepared.w0[order],
                           prepared.w1[order], rules.radius_m)
    box = path.block_box
    cells = ((np.floor((box[:, 1] - box[:, 0] + 2 * box[:, 4]) / grid.cell_m) + 1)
             * (np.floor((box[:, 3] - box[:, 2] + 2 * box[:, 4]) / grid.cell_m) + 1))
    assert (cells > sweep.BLOCK_CELLS).any()  # the driver's boxes
    starts = trail.starts[1:-1]
    assert (starts % sweep.BLOCK != 0).all()  # blocks that hold two subjects
    code = list(trail.subjects).index("crowded")
    crowded = int(trail.starts[code]) // sweep.BLOCK + 1  # a block wholly the crowded's
    level, *cells = sweep._box_cells(*box[crowded, :5], grid.cell_m, grid.nx.size - 1, grid.gx,
                                     grid.gy, grid.inv_size, grid.nx, grid.ny)
    n = sweep._gather(*box[crowded, :5], int(path.t[crowded * sweep.BLOCK]),
                      int(path.t[crowded * sweep.BLOCK + sweep.BLOCK]), *cells,
                      int(grid.base[level]), int(grid.nx[level]), grid.cell_slots, grid.t0,
                      grid.per_slot, grid.cell_start, grid.crime, grid.open_at, grid.close_at,
                      grid.w0, grid.max_window_ns, grid.cx, grid.cy, grid.radius,
                      np.full(grid.cx.size, -1), -2, np.empty(grid.cx.size, np.int32),
                      sweep.BLOCK_CANDIDATES)
    assert n > sweep.BLOCK_CANDIDATES
    streamed, indexed = _both(trails, crimes, rules)
    hit_subjects = set(trail.subjects[streamed[1]])
    assert hit_subjects == {"walker", "crowded", "driver"}
    assert len(streamed[0]) > 40
    _assert_same(streamed, indexed)
    _assert_fields_match_the_walk((trails, crimes, rules))


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
