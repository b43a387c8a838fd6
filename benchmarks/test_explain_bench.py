"""``explain`` latency on a 30-day store of 1,000 subjects (target: p50 < 20 ms).

The service's path without HTTP (``service.routes.coverage.explain_subject``): one subject's
fixes a day either side of the window from the persisted day indexes, its activation periods,
and the explanation. The store: 1,000 subjects x 30 days at a fix a minute (43.2 M fixes),
each tag silent three times a day for 10 min to 4 h, built once (``benchmarks/stores.py``).
The day indexes are opened once before timing, as a running service holds them.

    .venv/bin/python -m pytest benchmarks/test_explain_bench.py -s --benchmark-only
    TRAILMATCH_BENCH_SCALE=0.1 .venv/bin/python -m pytest benchmarks/test_explain_bench.py -s
"""

from __future__ import annotations

import os
import time

import numpy as np
import pandas as pd
import pytest
from stores import cached_store, continuous_days

from service.routes.coverage import explain_subject
from service.trails import TrailAccess
from trailmatch import Rules, synthetic

SCALE = float(os.environ.get("TRAILMATCH_BENCH_SCALE", "1"))
N_SUBJECTS = max(int(round(1000 * SCALE)), 10)
DAYS = 30
START = pd.Timestamp("2025-01-01", tz="UTC")
RULES = Rules()
N_QUERIES = 200


def _build(store) -> None:
    rng = np.random.default_rng(11)
    for d, day in continuous_days(N_SUBJECTS, DAYS, START, seed=500):
        code = day["subject"].cat.codes.to_numpy()
        minute = (day["time"] - (START + pd.Timedelta(days=d))).dt.total_seconds() / 60
        drop = np.zeros(len(day), dtype=bool)
        for _ in range(3):
            start = rng.uniform(0, 1440, size=N_SUBJECTS)
            length = rng.uniform(10, 240, size=N_SUBJECTS)
            drop |= ((minute >= start[code]) & (minute < (start + length)[code])).to_numpy()
        store.ingest_fixes(day[~drop])


@pytest.fixture(scope="module")
def world():
    path = cached_store(f"explain-{N_SUBJECTS}x{DAYS}", _build)
    crimes = synthetic.crimes(n_crimes=N_QUERIES, days=DAYS - 2,
                              start=str((START + pd.Timedelta(days=1)).date()), seed=21)
    rng = np.random.default_rng(4)
    subjects = [f"S{k:06d}" for k in rng.integers(0, N_SUBJECTS, size=N_QUERIES)]
    trails = TrailAccess(path, RULES)
    queries = [(crimes.iloc[k].to_dict(), subjects[k]) for k in range(N_QUERIES)]
    for crime, subject in queries:  # open every day index once, as a running service has
        explain_subject(path, trails, crime, subject, RULES)
    return path, trails, queries


def test_explain_latency(benchmark, world):
    path, trails, queries = world
    lat = []
    statuses = {}

    def run_all():
        for crime, subject in queries:
            t0 = time.perf_counter()
            got = explain_subject(path, trails, crime, subject, RULES)
            lat.append(time.perf_counter() - t0)
            statuses[got["status"]] = statuses.get(got["status"], 0) + 1

    benchmark.pedantic(run_all, rounds=1, iterations=1)
    assert statuses.get("excluded", 0) + statuses.get("cannot_exclude", 0) > 0
    ms = np.asarray(lat) * 1000
    benchmark.extra_info.update({"p50_ms": float(np.median(ms)),
                                 "p95_ms": float(np.percentile(ms, 95))})
    print(f"\nexplain on {N_SUBJECTS} subjects x {DAYS} days: {len(ms)} queries, p50 "
          f"{np.median(ms):.1f} ms, p95 {np.percentile(ms, 95):.1f} ms, max {ms.max():.1f} ms; "
          f"{statuses} (load {os.getloadavg()[0]:.1f}, {time.strftime('%Y-%m-%d %H:%M')})")
