"""Re-matching a month: 2,000 subjects x 30 days at a fix a minute (86.4 M fixes) in a Parquet
trail store, against 30 days of crimes (1,000 a day), day partition by day partition —
single process vs a LocalCluster of 2 worker processes (both read the store themselves).

Reported in ``extra_info`` and printed: wall time, partitions, fixes matched (with the read
amplification from stretches that reach into the neighbouring days), hits, and the
per-partition rate (fixes/s, read + prepare + index + match) with the workers' peak memory.
The two runs must give identical hits (checked).

    .venv/bin/python -m pytest benchmarks/test_dask_rematch.py -s
    TRAILMATCH_BENCH_SCALE=0.05 .venv/bin/python -m pytest benchmarks/test_dask_rematch.py -s

``TRAILMATCH_BENCH_SCALE`` scales the subjects (0.05: 100 subjects x 30 days);
``TRAILMATCH_BENCH_DAYS`` sets the days (default 30). The store is built once into
``TRAILMATCH_BENCH_DIR`` (default: a directory under the system temp dir) and reused.
"""

from __future__ import annotations

import os
import statistics
import sys

import numpy as np
import pandas as pd
import pytest

from benchmarks.stores import cached_store, continuous_days
from trailmatch import synthetic
from trailmatch.match import match
from trailmatch.rules import Rules
from trailmatch.scale import match_distributed
from trailmatch.scale.run import RunStats
from trailmatch.store import Store

SCALE = float(os.environ.get("TRAILMATCH_BENCH_SCALE", "1"))
N_SUBJECTS = max(10, int(round(2_000 * SCALE)))
DAYS = int(os.environ.get("TRAILMATCH_BENCH_DAYS", "30"))
CRIMES_PER_DAY = 1_000
START = pd.Timestamp("2025-01-20", tz="UTC")
WORKERS = 2

_results: dict[str, pd.DataFrame] = {}


def _build_store(store) -> None:
    """Day by day (bounded memory); each subject's walk continues across midnight."""
    for _, day in continuous_days(N_SUBJECTS, DAYS, START, seed=100):
        store.ingest_fixes(day)


@pytest.fixture(scope="module")
def store_path() -> str:
    return cached_store(f"rematch-{N_SUBJECTS}x{DAYS}", _build_store)


@pytest.fixture(scope="module")
def crimes() -> pd.DataFrame:
    return synthetic.crimes(n_crimes=CRIMES_PER_DAY * DAYS, days=DAYS,
                            start=str(START.date()), seed=5)


def _report(benchmark, name: str, stats: RunStats, n_store: int) -> None:
    parts = stats.per_partition
    rates = [p["fixes"] / (p["seconds_read"] + p["seconds_match"]) for p in parts]
    info = {
        "subjects": N_SUBJECTS, "days": DAYS, "fixes_in_store": n_store,
        "crimes": sum(p["crimes"] for p in parts), "hits": stats.hits,
        "partitions": stats.partitions, "wall_s": round(stats.seconds, 2),
        "fixes_matched": stats.fixes, "read_amplification": round(stats.fixes / n_store, 3),
        "partition_fixes_median": int(statistics.median(p["fixes"] for p in parts)),
        "partition_s_median": round(statistics.median(
            p["seconds_read"] + p["seconds_match"] for p in parts), 3),
        "partition_read_s_median": round(statistics.median(p["seconds_read"] for p in parts), 3),
        "partition_fixes_per_s_median": int(statistics.median(rates)),
        "max_rss_mb": round(max(p["max_rss_mb"] for p in parts), 1),
    }
    benchmark.extra_info.update(info)
    print(f"\n{name}: " + ", ".join(f"{k}={v}" for k, v in info.items()))


def _warm() -> int:
    return len(match(synthetic.trails(n_subjects=3, fixes_per_day=100),
                     synthetic.crimes(n_crimes=20), Rules()))


def test_rematch_single_process(benchmark, store_path, crimes):
    _warm()
    rules = Rules()
    stats = RunStats()
    hits = benchmark.pedantic(
        lambda: match_distributed(store_path, crimes, rules, stats=stats, progress=False),
        rounds=1, iterations=1)
    n_store = Store(store_path).n_fixes()
    _report(benchmark, "single process", stats, n_store)
    _results["single"] = hits
    if n_store <= 5_000_000:  # small enough to hold whole: check against match() itself
        everything = Store(store_path).read_window(0, np.iinfo(np.int64).max - 1)
        pd.testing.assert_frame_equal(hits, match(everything, crimes, rules))


def test_rematch_local_cluster(benchmark, store_path, crimes):
    import cloudpickle

    from trailmatch.scale.cluster import client_from_arg

    rules = Rules()
    stats = RunStats()
    with client_from_arg(f"local:{WORKERS}") as client:
        client.wait_for_workers(WORKERS)
        # workers cannot import this file: send _warm by value
        cloudpickle.register_pickle_by_value(sys.modules[__name__])
        client.run(_warm)  # imports and numba cache loads stay outside the timed run
        hits = benchmark.pedantic(
            lambda: match_distributed(store_path, crimes, rules, client, stats=stats,
                                      progress=False),
            rounds=1, iterations=1)
    _report(benchmark, f"LocalCluster({WORKERS})", stats, Store(store_path).n_fixes())
    if "single" in _results:
        pd.testing.assert_frame_equal(hits, _results["single"])
