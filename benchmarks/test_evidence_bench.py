"""One evidence computation per hit (trailmatch/evidence.py) for ~10,000 hits of a day.

The nightly computes the evidence of every hit it reports (path, visits, gaps, closest approach,
the visit account) once, and the report, the map data and the API read it: at the quarter-
national nightly's 20 s target that must be cheap per hit. Data: the synthetic day
(``trailmatch.synthetic``), 2,500 subjects x 1,440 fixes, with the tags going quiet three times
a day (gaps), and crimes placed on random fixes (windows 0-2 h) until ~10,000 hits.

    .venv/bin/python -m pytest benchmarks/test_evidence_bench.py -s --benchmark-only
    TRAILMATCH_BENCH_SCALE=0.1 .venv/bin/python -m pytest benchmarks/test_evidence_bench.py -s

Timed: ``LoadedTrails.evidence`` as the nightly calls it (the numba walk over all hits, the
path columns and their projection to WGS84, the Visit/Gap objects and the sentences), and
separately the kernel alone (``index.visits.hit_walks``).
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from benchmarks.peers import common
from trailmatch import Rules, match, synthetic
from trailmatch.allocator import tune_allocator
from trailmatch.evidence import reach_of, trail_evidence, window_ns
from trailmatch.index.visits import hit_walks
from trailmatch.trails import prepare_trail

tune_allocator()

SCALE = float(os.environ.get("TRAILMATCH_BENCH_SCALE", "1"))
N_SUBJECTS = max(int(round(2500 * SCALE)), 2)
N_HITS = max(int(round(10_000 * SCALE)), 10)
RULES = Rules()


@pytest.fixture(scope="module")
def day():
    rng = np.random.default_rng(20)
    trails = common.with_gaps(synthetic.trails(n_subjects=N_SUBJECTS, fixes_per_day=1440,
                                               days=1), rng)
    pick = trails.iloc[rng.integers(0, len(trails), size=N_HITS)]
    length_s = rng.uniform(0, 7200, size=N_HITS)
    start = pick["time"].reset_index(drop=True) - pd.to_timedelta(
        length_s * rng.uniform(0, 1, size=N_HITS), "s")
    crimes = pd.DataFrame({
        "crime_reference": [f"44/{k}/25" for k in range(N_HITS)], "police_force": "Hampshire",
        "crime_type": "RB", "x": pick["x"].to_numpy() + rng.normal(0, 50, N_HITS),
        "y": pick["y"].to_numpy() + rng.normal(0, 50, N_HITS),
        "time_from": start, "time_to": start + pd.to_timedelta(length_s, "s")})
    hits = match(trails, crimes, RULES)
    trail = prepare_trail(trails)
    by_ref = crimes.set_index("crime_reference")
    hit_rows = hits.to_dict("records")
    crime_rows = [by_ref.loc[r].to_dict() for r in hits["crime_reference"]]
    trail_evidence(trail, hit_rows[:300], crime_rows[:300], RULES)  # compile / load the cache
    return trail, hit_rows, crime_rows


def test_evidence_for_a_days_hits(benchmark, day):
    trail, hits, crimes = day
    found = benchmark.pedantic(trail_evidence, args=(trail, hits, crimes, RULES), rounds=3,
                               iterations=1)
    assert len(found) == len(hits)
    visits = sum(len(e.visits) for e in found)
    gaps = sum(len(e.gaps) for e in found)
    fixes = sum(e.n for e in found)
    best = benchmark.stats.stats.min
    print(f"\n{len(hits)} hits, {fixes} path fixes, {visits} visits, {gaps} gaps: "
          f"{best:.3f} s best of 3 ({best / len(hits) * 1e6:.0f} us a hit)")


def test_evidence_kernel_alone(benchmark, day):
    trail, hits, crimes = day
    codes = {s: i for i, s in enumerate(trail.subjects.tolist())}
    s = np.array([codes[h["subject"]] for h in hits])
    w = np.array([window_ns(c["time_from"], c["time_to"], RULES) for c in crimes])
    args = (trail.starts[s], trail.starts[s + 1], trail.t, trail.x, trail.y,
            reach_of(trail.precision, RULES), np.array([c["x"] for c in crimes]),
            np.array([c["y"] for c in crimes]), w[:, 0], w[:, 1], RULES.radius_m,
            RULES.max_gap_ns)
    out = benchmark.pedantic(hit_walks, args=args, rounds=5, iterations=1)
    assert out["p0"].size == len(hits)
    print(f"\nkernel: {benchmark.stats.stats.min * 1e3:.1f} ms best of 5 for {len(hits)} hits")
