"""coverage(): the per-crime answer (counts, evidence rows) against the brute-force per-pair
reference (tests/naive.py) and against the engine's own per-pair table (eliminate())."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from helpers import T0, touch_s
from hypothesis import HealthCheck, assume, given, settings
from naive import naive_coverage, naive_crime_coverage
from test_eliminate_vs_naive import scenes

import trailmatch.coverage as coverage_module
from trailmatch import Rules, match, synthetic
from trailmatch.coverage import EVIDENCE_COLUMNS, SUMMARY_COLUMNS, coverage
from trailmatch.eliminate import eliminate

KEY = ["police_force", "crime_reference", "subject"]
COUNTS = ["subjects", "hit", "excluded", "cannot_exclude", "not_monitored", "partly_monitored"]


def _ns(v) -> int | None:
    return None if v is None or pd.isna(v) else int(pd.Timestamp(v).value)


def _same_float(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-9)


def _assert_same(got, summary: pd.DataFrame, evidence: pd.DataFrame, *, distances=True):
    assert list(got.summary.columns) == SUMMARY_COLUMNS
    assert list(got.evidence.columns) == EVIDENCE_COLUMNS
    fast = got.summary.reset_index(drop=True)
    slow = summary.sort_values(["police_force", "crime_reference"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(fast[["police_force", "crime_reference"]],
                                  slow[["police_force", "crime_reference"]])
    assert (fast[COUNTS].to_numpy() == slow[COUNTS].to_numpy()).all(), (fast, slow)
    fe = got.evidence.astype({"subject": str, "status": str}).reset_index(drop=True)
    se = evidence.astype({"police_force": str, "crime_reference": str, "subject": str,
                          "status": str}).sort_values(KEY).reset_index(drop=True)
    assert len(fe) == len(se)
    assert fe[KEY + ["status"]].values.tolist() == se[KEY + ["status"]].values.tolist()
    for f, s in zip(fe.to_dict("records"), se.to_dict("records"), strict=True):
        key = (f["crime_reference"], f["subject"])
        assert f["fixes_in_window"] == s["fixes_in_window"], key
        assert f["gaps"] == s["gaps"], key
        assert _same_float(f["covered_fraction"], s["covered_fraction"]), key
        assert _same_float(f["min_speed_needed_mps"], s["min_speed_needed_mps"]), key
        assert _ns(f["worst_gap_from"]) == _ns(s["worst_gap_from"]), key
        assert _ns(f["worst_gap_to"]) == _ns(s["worst_gap_to"]), key
        if distances:
            assert _same_float(f["distance_before_m"], s["distance_before_m"]), key
            assert _same_float(f["distance_after_m"], s["distance_after_m"]), key


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenes())
def test_per_crime_answer_equals_naive_per_pair_table(scene):
    trails, crimes, rules, act = scene
    slow = naive_coverage(trails, crimes, rules, act)
    hits = match(trails, crimes, rules)
    engine_hits = set(zip(hits.crime_reference, hits.subject, strict=True))
    naive_hits = set(zip(slow.crime_reference[slow.status == "hit"],
                         slow.subject[slow.status == "hit"], strict=True))
    if engine_hits != naive_hits:
        # a touch of measure zero may fall either side by round-off (test_match_vs_naive)
        durations = dict(zip(zip(hits.crime_reference, hits.subject, strict=True),
                             hits.duration_s, strict=True))
        for key in engine_hits ^ naive_hits:
            touch = durations.get(key)
            if touch is None:
                row = slow[(slow.crime_reference == key[0]) & (slow.subject == key[1])]
                touch = float(row.hit_duration_s.iloc[0])
            assert touch < touch_s(rules.max_gap_s), key
        assume(False)
    summary, evidence = naive_crime_coverage(slow)
    _assert_same(coverage(trails, crimes, rules, activations=act), summary, evidence)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenes())
def test_per_crime_answer_equals_the_engines_per_pair_table(scene):
    trails, crimes, rules, act = scene
    summary, evidence = naive_crime_coverage(eliminate(trails, crimes, rules, activations=act))
    _assert_same(coverage(trails, crimes, rules, activations=act), summary, evidence,
                 distances=False)


def _gappy(trails: pd.DataFrame, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return trails[rng.random(len(trails)) > 0.97].reset_index(drop=True)


@pytest.mark.parametrize("chunk_rows", [1, 37, 1 << 20])
def test_many_subjects_and_crimes_in_chunks(monkeypatch, chunk_rows):
    """A few hundred subjects with long gaps and crimes of every window: the kernel's chunks
    (one crime per call, 37 scratch rows, all at once) give the same answer as the per-pair
    table; with activation periods (edges, subjects never seen, partial monitoring)."""
    monkeypatch.setattr(coverage_module, "CHUNK_ROWS", chunk_rows)
    trails = _gappy(synthetic.trails(n_subjects=60, fixes_per_day=300, days=2, seed=3), 4)
    crimes = synthetic.crimes(n_crimes=150, days=2, seed=5)
    names = sorted(trails["subject"].astype(str).unique())
    act = pd.DataFrame({
        "subject": [*names[:20], "never-seen", names[0]],
        "start": [T0 - pd.Timedelta(days=400)] * 20 + [T0 - pd.Timedelta(days=400),
                                                      T0 + pd.Timedelta(days=900)],
        "end": [pd.NaT] * 10 + [crimes["time_from"].min() + pd.Timedelta(hours=20)] * 10
        + [pd.NaT, pd.NaT]})
    act["start"] = pd.to_datetime(act["start"], utc=True)
    act["end"] = pd.to_datetime(act["end"], utc=True)
    rules = Rules(max_speed_mps=8.0, count_precision=False)
    for a in (None, act):
        pairs = eliminate(trails, crimes, rules, activations=a)
        got = coverage(trails, crimes, rules, activations=a)
        summary, evidence = naive_crime_coverage(pairs)
        _assert_same(got, summary, evidence, distances=False)
        assert got.summary[["hit", "excluded", "cannot_exclude", "not_monitored"]].to_numpy(
        ).sum() == len(pairs)
        assert (got.evidence["status"] == "cannot_exclude").sum() > 0
    assert (got.evidence["status"] == "not_monitored").sum() > 0


def test_distances_are_those_of_the_fixes_around_the_worst_gap():
    """One subject silent for an hour 3 km west then 4 km north of the crime: the evidence
    row names that gap, the distances of its fixes and the speed it needs."""
    trails = pd.DataFrame({"subject": "A",
                           "time": T0 + pd.to_timedelta([0, 60, 3660, 3720], unit="s"),
                           "x": [-3000.0, -3000.0, 0.0, 0.0],
                           "y": [0.0, 0.0, 4000.0, 4000.0]})
    crimes = pd.DataFrame([{"crime_reference": "44/1/25", "police_force": "Kent",
                            "crime_type": "RB", "x": 0.0, "y": 0.0,
                            "time_from": T0 + pd.Timedelta(minutes=30),
                            "time_to": T0 + pd.Timedelta(minutes=31)}])
    got = coverage(trails, crimes, Rules(radius_m=100, count_precision=False))
    s = got.summary.iloc[0]
    assert (s.hit, s.excluded, s.cannot_exclude, s.not_monitored) == (0, 0, 1, 0)
    e = got.evidence.iloc[0]
    assert e.status == "cannot_exclude" and e.subject == "A"
    assert e.worst_gap_from == T0 + pd.Timedelta(seconds=60)
    assert e.worst_gap_to == T0 + pd.Timedelta(seconds=3660)
    assert (e.distance_before_m, e.distance_after_m) == (3000.0, 4000.0)
    # the worst of A/(g1 - t_a), B/(t_b - g0), (A + B)/(t_b - t_a): leaving for b in time
    assert math.isclose(e.min_speed_needed_mps, 3900.0 / 1860.0)
    slow = coverage(trails, crimes, Rules(radius_m=100, count_precision=False,
                                          max_speed_mps=1.0))
    assert slow.summary.iloc[0].excluded == 1 and slow.evidence.empty


def test_no_crimes_and_no_fixes():
    empty = synthetic.crimes(n_crimes=1, days=1).iloc[:0]
    got = coverage(synthetic.trails(n_subjects=2, fixes_per_day=10, days=1), empty)
    assert got.summary.empty and got.evidence.empty
    assert list(got.evidence.columns) == EVIDENCE_COLUMNS
    crimes = synthetic.crimes(n_crimes=3, days=1)
    none = pd.DataFrame({"subject": pd.Series(dtype=str),
                         "time": pd.Series(dtype="datetime64[ns, UTC]"),
                         "x": pd.Series(dtype=float), "y": pd.Series(dtype=float)})
    got = coverage(none, crimes)
    assert (got.summary["subjects"] == 0).all() and got.evidence.empty
