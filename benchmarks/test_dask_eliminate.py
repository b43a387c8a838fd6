"""Elimination over a week from a trail store: 500 subjects x 7 days at a fix a minute (5 M
fixes), 300 crimes a day — one process (what ``trailmatch eliminate --store`` does: read the
whole stretch, one ``eliminate_prepared``) vs ``eliminate_distributed`` on a LocalCluster of 2
worker processes (``--scheduler local:2``: a day-ends pass, then one task per day partition).
The two answers must be identical (checked).

    .venv/bin/python -m pytest benchmarks/test_dask_eliminate.py -s
    TRAILMATCH_BENCH_SCALE=0.1 .venv/bin/python -m pytest benchmarks/test_dask_eliminate.py -s

``TRAILMATCH_BENCH_SCALE`` scales the subjects; ``TRAILMATCH_BENCH_DAYS`` sets the days
(default 7). The store is built once into ``TRAILMATCH_BENCH_DIR`` (default: a directory under
the system temp dir) and reused.
"""

from __future__ import annotations

import os
import statistics
import sys
import time

import numpy as np
import pandas as pd
import pytest

from benchmarks.stores import cached_store, continuous_days
from trailmatch import synthetic
from trailmatch.eliminate import eliminate, eliminate_prepared
from trailmatch.index.segments import trail_path
from trailmatch.rules import Rules
from trailmatch.scale import eliminate_distributed
from trailmatch.scale.partition import _max_rss_mb
from trailmatch.scale.run import RunStats
from trailmatch.store import Store
from trailmatch.trails import prepare_crimes, prepare_trail

SCALE = float(os.environ.get("TRAILMATCH_BENCH_SCALE", "1"))
N_SUBJECTS = max(10, int(round(500 * SCALE)))
DAYS = int(os.environ.get("TRAILMATCH_BENCH_DAYS", "7"))
CRIMES_PER_DAY = 300
START = pd.Timestamp("2025-01-20", tz="UTC")
LOOKBACK_NS = 24 * 3600 * 10**9  # the CLI's default --lookback
WORKERS = 2

_results: dict[str, pd.DataFrame] = {}


def _build_store(store) -> None:
    """Day by day; each subject's walk continues across midnight, and a tenth of the subjects
    fall silent for six hours around each midnight (gaps whose fixes lie on two days)."""
    rng = np.random.default_rng(3)
    for d, day in continuous_days(N_SUBJECTS, DAYS, START, seed=200):
        code = day["subject"].cat.codes.to_numpy()
        hour = (day["time"] - (START + pd.Timedelta(days=d))).dt.total_seconds() / 3600
        quiet = np.isin(code, rng.choice(N_SUBJECTS, N_SUBJECTS // 10, replace=False))
        store.ingest_fixes(day[~(quiet & ((hour < 3) | (hour >= 21)))])


@pytest.fixture(scope="module")
def store_path() -> str:
    return cached_store(f"eliminate-{N_SUBJECTS}x{DAYS}", _build_store)


@pytest.fixture(scope="module")
def crimes() -> pd.DataFrame:
    return synthetic.crimes(n_crimes=CRIMES_PER_DAY * DAYS, days=DAYS, start=str(START.date()),
                            max_window_h=6.0, seed=9)


def _stretch(crimes: pd.DataFrame, rules: Rules) -> tuple[int, int]:
    """The stretch of the store the CLI reads: the crime windows +- lookback and max gap."""
    prepared = prepare_crimes(crimes, rules.buffer_before_ns, rules.buffer_after_ns)
    margin = LOOKBACK_NS + rules.max_gap_ns
    return int(prepared.w0.min()) - margin, int(prepared.w1.max()) + margin


def _warm() -> int:
    return len(eliminate(synthetic.trails(n_subjects=3, fixes_per_day=100),
                         synthetic.crimes(n_crimes=20), Rules()))


def _report(benchmark, name: str, seconds: float, coverage: pd.DataFrame, n_fixes: int,
            stats: RunStats | None = None) -> None:
    info = {**benchmark.extra_info, "subjects": N_SUBJECTS, "days": DAYS, "fixes": n_fixes,
            "crimes": CRIMES_PER_DAY * DAYS, "rows": len(coverage),
            "wall_s": round(seconds, 2),
            "rows_per_s": int(len(coverage) / seconds)}
    if stats is not None:
        parts = stats.per_partition
        info.update({
            "partitions": stats.partitions, "fixes_in_partitions": stats.fixes,
            "day_ends_pass_s": round(stats.seconds_first_pass, 2),
            "partition_s_median": round(statistics.median(
                p["seconds_read"] + p["seconds_match"] for p in parts), 3),
            "partition_read_s_median": round(statistics.median(
                p["seconds_read"] for p in parts), 3),
            "halo_rows_median": int(statistics.median(p["halo"] for p in parts)),
            "max_rss_mb": round(max(p["max_rss_mb"] for p in parts), 1)})
    benchmark.extra_info.update(info)
    print(f"\n{name}: " + ", ".join(f"{k}={v}" for k, v in info.items()))


def test_eliminate_single_process(benchmark, store_path, crimes):
    _warm()
    rules = Rules()
    lo, hi = _stretch(crimes, rules)

    def run():
        trail = prepare_trail(Store(store_path).read_window(lo, hi))
        index = trail_path(trail, rules.max_gap_s, rules.count_precision)
        prepared = prepare_crimes(crimes, rules.buffer_before_ns, rules.buffer_after_ns)
        return eliminate_prepared(trail, index, prepared, rules), trail.n_fixes

    started = time.perf_counter()
    coverage, n_fixes = benchmark.pedantic(run, rounds=1, iterations=1)
    seconds = time.perf_counter() - started
    benchmark.extra_info["max_rss_mb"] = round(_max_rss_mb(), 1)  # this process, so far
    _report(benchmark, "single process", seconds, coverage, n_fixes)
    _results["single"] = coverage


def test_eliminate_local_cluster(benchmark, store_path, crimes):
    import cloudpickle

    from trailmatch.scale.cluster import client_from_arg

    rules = Rules()
    lo, hi = _stretch(crimes, rules)
    stats = RunStats()
    with client_from_arg(f"local:{WORKERS}") as client:
        client.wait_for_workers(WORKERS)
        cloudpickle.register_pickle_by_value(sys.modules[__name__])
        client.run(_warm)  # imports and numba cache loads stay outside the timed run
        started = time.perf_counter()
        coverage = benchmark.pedantic(
            lambda: eliminate_distributed(store_path, crimes, rules, client, start_ns=lo,
                                          end_ns=hi, stats=stats, progress=False),
            rounds=1, iterations=1)
        seconds = time.perf_counter() - started
    _report(benchmark, f"LocalCluster({WORKERS})", seconds, coverage,
            Store(store_path).n_fixes(), stats)
    if "single" in _results:
        pd.testing.assert_frame_equal(coverage, _results["single"])
