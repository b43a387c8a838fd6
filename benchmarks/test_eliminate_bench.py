"""The coverage answer next to match() on the synthetic national day (target: within 2x of
match(), both end to end from DataFrames, measured side by side in one run).

The national day: 5,000 subjects x 1,440 fixes (one a minute), 20,000 crimes with windows of 0
to 12 h (``trailmatch.synthetic``), precision off. Two trail sets:

- ``continuous``: the synthetic walk as it is (fixes 40-80 s apart: no gap anywhere);
- ``gappy``: the same with every subject's tag going quiet three times a day for 10 min to
  4 h (indoors, uncharged): ~15,000 gaps, so the gap index and the prism test do real work.

``coverage()`` is the default answer (``trailmatch eliminate``): counts per crime and evidence
rows; ``eliminate()`` (``--all-pairs``, 10^8 rows, ~5 GB) runs only with
``TRAILMATCH_BENCH_ALL_PAIRS=1``.

    .venv/bin/python -m pytest benchmarks/test_eliminate_bench.py -s --benchmark-only
    TRAILMATCH_BENCH_SCALE=0.1 .venv/bin/python -m pytest benchmarks/test_eliminate_bench.py -s

``TRAILMATCH_BENCH_SCALE`` scales subjects and crimes. Prints each coverage/match ratio, the
counts and the evidence rows; the peak RSS of the process after each answer.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pandas as pd
import pytest

from benchmarks.peers import common
from trailmatch import Rules, match, synthetic
from trailmatch.allocator import tune_allocator
from trailmatch.coverage import coverage
from trailmatch.eliminate import eliminate

tune_allocator()  # as the trailmatch command runs (trailmatch/allocator.py)

SCALE = float(os.environ.get("TRAILMATCH_BENCH_SCALE", "1"))
N_SUBJECTS = max(int(round(5000 * SCALE)), 2)
N_CRIMES = max(int(round(20_000 * SCALE)), 10)
RULES = Rules(count_precision=False)  # R 100 m, max gap 300 s, v_max 50 m/s
ALL_PAIRS = os.environ.get("TRAILMATCH_BENCH_ALL_PAIRS") == "1"
TIMES: dict[str, float] = {}


@pytest.fixture(scope="module")
def day():
    trails = synthetic.trails(n_subjects=N_SUBJECTS, fixes_per_day=1440, days=1)
    crimes = synthetic.crimes(n_crimes=N_CRIMES, days=1)
    coverage(trails.iloc[:3000], crimes.iloc[:20], RULES)  # compile / load the numba cache
    gappy = common.with_gaps(trails, np.random.default_rng(5))
    return {"continuous": trails, "gappy": gappy}, crimes


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize("trails_kind", ["continuous", "gappy"])
def test_match_national_day(benchmark, day, trails_kind):
    trails, crimes = day[0][trails_kind], day[1]
    hits = benchmark.pedantic(match, args=(trails, crimes, RULES), rounds=3, iterations=1)
    assert len(hits) > 0
    TIMES[f"match {trails_kind}"] = benchmark.stats.stats.median


@pytest.mark.parametrize("trails_kind", ["continuous", "gappy"])
def test_coverage_national_day(benchmark, day, trails_kind):
    trails, crimes = day[0][trails_kind], day[1]
    got = benchmark.pedantic(coverage, args=(trails, crimes, RULES), rounds=3, iterations=1)
    totals = got.totals()
    assert sum(totals.values()) == N_SUBJECTS * N_CRIMES
    if trails_kind == "gappy":
        assert totals["cannot_exclude"] > 0
    TIMES[f"coverage {trails_kind}"] = benchmark.stats.stats.median
    benchmark.extra_info.update({**totals, "evidence_rows": len(got.evidence)})
    line = ", ".join(f"{totals[s]} {s}" for s in totals)
    print(f"\n{trails_kind}: {len(trails)} fixes, {N_CRIMES} crimes x {N_SUBJECTS} subjects: "
          f"{line}; {len(got.evidence)} evidence rows; peak RSS so far {_peak_rss_mb():.0f} MB")
    m = TIMES.get(f"match {trails_kind}")
    if m:
        e = TIMES[f"coverage {trails_kind}"]
        print(f"scale {SCALE}: match() {m:.3f} s, coverage() {e:.3f} s, ratio {e / m:.2f} "
              f"(measured {time.strftime('%Y-%m-%d %H:%M')}, load {os.getloadavg()[0]:.1f})")


def _eliminate_counts(trails, crimes, rules) -> pd.Series:
    """eliminate(), keeping only the status counts: a round's 10^8 rows (~5 GB) are freed
    before the next round starts, as match()'s hits would be."""
    cov = eliminate(trails, crimes, rules)
    assert len(cov) == N_SUBJECTS * N_CRIMES
    codes = cov["status"].cat.codes.to_numpy()
    return pd.Series(np.bincount(codes, minlength=4), index=cov["status"].cat.categories)


@pytest.mark.skipif(not ALL_PAIRS, reason="the per-pair table: TRAILMATCH_BENCH_ALL_PAIRS=1")
@pytest.mark.parametrize("trails_kind", ["continuous", "gappy"])
def test_eliminate_all_pairs_national_day(benchmark, day, trails_kind):
    trails, crimes = day[0][trails_kind], day[1]
    counts = benchmark.pedantic(_eliminate_counts, args=(trails, crimes, RULES), rounds=3,
                                iterations=1)
    TIMES[f"eliminate {trails_kind}"] = benchmark.stats.stats.median
    m = TIMES.get(f"match {trails_kind}")
    if m:
        e = TIMES[f"eliminate {trails_kind}"]
        print(f"\nscale {SCALE}: match() {m:.3f} s, eliminate() {e:.3f} s, ratio {e / m:.2f}; "
              f"{dict(counts)}")
