"""``trailmatch figures`` on a month of a national store, cold and warm.

A month: 10,000 subjects × 30 days at a fix a minute (432 M fixes; each subject-day loses a
random stretch of up to 2 hours, so there are gaps), a subjects file with force and cohort,
600,000 crimes in the hit store (a batch a force a day), 100,000 hits, 60 % of them with a
decision and a tenth of those with an outcome. Timed: the figures of the month as the command
computes them (``figures_trend`` for the 12 months ending with it, then suppression and the
page), twice:

* **warm** — every day's compliance summary is there, as after ingest (``Store.write_day``
  writes it with the day) and the nightly run: the figures read 31 small files and the hit
  store. This is the case the ≤ 10 s target of issue #18 is about.
* **cold** — no summary: each of the 31 day partitions is decoded (432 M fixes) and
  summarised, and the summaries are kept (what the first run after an upgrade, or after the
  activation periods of every subject changed, costs).

The store is built once (``TRAILMATCH_BENCH_DIR``) and reused.

    .venv/bin/python -m pytest benchmarks/test_figures_bench.py -s
    .venv/bin/python -m pytest benchmarks/test_figures_bench.py -s -k warm   # warm only
    TRAILMATCH_BENCH_SCALE=0.1 ...   # 1,000 subjects, 60,000 crimes, 10,000 hits
"""

from __future__ import annotations

import datetime as dt
import glob
import os
import resource
import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sqlalchemy import insert
from stores import cached_store

from trailmatch.figures import Month, figures_trend, suppress
from trailmatch.hitstore import open_store
from trailmatch.hitstore.schema import batches, crimes, decisions, hits, outcomes, runs
from trailmatch.ingest.forces import load_forces
from trailmatch.report.figures_page import render_figures
from trailmatch.store import Store, day_summary
from trailmatch.store.partitions import POSITION_SCHEMA, write_day

SCALE = float(os.environ.get("TRAILMATCH_BENCH_SCALE", "1"))
N_SUBJECTS = max(50, int(round(10_000 * SCALE)))
N_CRIMES = max(500, int(round(600_000 * SCALE)))
N_HITS = max(100, int(round(100_000 * SCALE)))
DAYS = 30
MONTH = Month(2025, 4)
START = pd.Timestamp("2025-04-01", tz="UTC")
S = 10**9


def _day_table(day: int, rng: np.random.Generator) -> pa.Table:
    per = 1440
    t0 = START.value + day * 86_400 * S
    minute = np.arange(per, dtype=np.int64) * 60 * S
    # each subject-day loses one stretch of 0-120 minutes
    lost_at = rng.integers(0, per, N_SUBJECTS)
    lost_for = rng.integers(0, 121, N_SUBJECTS)
    idx = np.arange(per)
    keep = ~((idx[None, :] >= lost_at[:, None]) & (idx[None, :] < (lost_at + lost_for)[:, None]))
    counts = keep.sum(axis=1)
    subject = np.repeat(np.arange(N_SUBJECTS), counts)
    t = (t0 + np.broadcast_to(minute, (N_SUBJECTS, per))[keep]
         + rng.integers(0, 5 * S, int(counts.sum())))
    n = t.size
    names = pa.array([f"S{k:05d}" for k in range(N_SUBJECTS)], pa.string())
    cols = {
        "subject": pa.DictionaryArray.from_arrays(pa.array(subject, pa.int32()), names),
        "time": pa.array(t, pa.int64()).cast(pa.timestamp("ns", tz="UTC")),
        "x": pa.array(np.full(n, 450_000.0)), "y": pa.array(np.full(n, 110_000.0)),
        "precision_m": pa.array(np.full(n, 10.0)), "source": pa.array(np.ones(n, np.uint8)),
    }
    arrays = [cols[f.name] if f.name in cols else pa.nulls(n, f.type) for f in POSITION_SCHEMA]
    return pa.Table.from_arrays(arrays, names=POSITION_SCHEMA.names)


def _build(store: Store) -> None:
    rng = np.random.default_rng(7)
    forces = sorted(load_forces())[:19]
    cohorts = np.array(["fixed", "flex", "free", ""])
    subjects = pd.DataFrame({
        "subject": [f"S{k:05d}" for k in range(N_SUBJECTS)], "device": "D",
        "activation_start": "2025-01-01T00:00:00Z",
        "activation_end": ["" if rng.random() < 0.9 else "2025-04-20T00:00:00Z"
                           for _ in range(N_SUBJECTS)],
        "licence_end": "", "force": rng.choice(forces, N_SUBJECTS),
        "cohort": rng.choice(cohorts, N_SUBJECTS)})
    path = store.root / "subjects.csv"
    store.root.mkdir(parents=True, exist_ok=True)
    subjects.to_csv(path, index=False)
    store.ingest_subjects(path)
    store._ensure_meta("EPSG:27700")
    for day in range(DAYS):
        write_day(store.layout, (START + pd.Timedelta(days=day)).date(), _day_table(day, rng))
    engine = open_store(store.root)
    code = {f: f[:3].upper() for f in forces}
    run_at = START.to_pydatetime()
    with engine.begin() as conn:
        run_id = conn.execute(insert(runs).values(
            kind="nightly", started=run_at, ended=run_at, algorithm_version="bench", rules={},
            status="ok").returning(runs.c.id)).scalar_one()
        batch_rows, keys = [], {}
        for day in range(DAYS):
            for f in forces:
                at = (START + pd.Timedelta(days=day)).to_pydatetime()
                batch_rows.append({"police_force": f, "batch_id": f"{code[f]}{at:%Y%m%d}",
                                   "file_name": "b.csv", "file_sha256": f"{len(batch_rows):064d}",
                                   "received_at": at, "run_id": run_id, "rows_read": 0,
                                   "accepted": 0, "rejected": int(rng.integers(0, 3))})
        conn.execute(insert(batches), batch_rows)
        for i, b in enumerate(batch_rows):
            keys[i] = (i + 1, b)
        per_batch = N_CRIMES // len(batch_rows) + 1
        crime_rows = []
        for i, (bkey, b) in keys.items():
            for j in range(per_batch):
                if len(crime_rows) == N_CRIMES:
                    break
                crime_rows.append({
                    "police_force": b["police_force"], "crime_reference": f"{i}/{j}/25",
                    "version": 1, "batch_key": bkey, "batch_id": b["batch_id"],
                    "crime_type": "BIAD", "description": "", "time_from": b["received_at"],
                    "time_to": b["received_at"], "x": 0.0, "y": 0.0, "crs": "EPSG:27700",
                    "lat": 51.0, "lon": -1.0, "text": "", "content_sha256": "0" * 64,
                    "received_at": b["received_at"], "superseded": False,
                    "matched_run_id": run_id})
        for k in range(0, len(crime_rows), 50_000):
            conn.execute(insert(crimes), crime_rows[k:k + 50_000])
        picks = rng.choice(len(crime_rows), N_HITS, replace=False)
        hit_rows = [{
            "crime_id": int(c) + 1, "subject": f"S{int(rng.integers(N_SUBJECTS)):05d}",
            "police_force": crime_rows[c]["police_force"],
            "crime_reference": crime_rows[c]["crime_reference"], "crime_type": "BIAD",
            "min_distance_m": 50.0, "closest_time": run_at, "first_in": run_at,
            "last_in": run_at, "duration_s": 60.0, "fixes_in": 1, "sources": "GPS",
            "status": "current", "run_id": run_id, "updated_run_id": run_id} for c in picks]
        for k in range(0, len(hit_rows), 50_000):
            conn.execute(insert(hits), hit_rows[k:k + 50_000])
        decided = rng.choice(N_HITS, int(N_HITS * 0.6), replace=False) + 1
        kinds = np.array(["ruled_in", "ruled_out", "further_enquiries"])
        conn.execute(insert(decisions), [{
            "hit_id": int(h), "outcome": str(rng.choice(kinds)), "rationale": "r",
            "user_name": "pc", "at": run_at + dt.timedelta(hours=float(rng.exponential(20)))}
            for h in decided])
        conn.execute(insert(outcomes), [{
            "hit_id": int(h), "outcome": "charged", "outcome_date": dt.date(2025, 4, 28),
            "note": "", "user_name": "pc", "at": run_at + dt.timedelta(days=20)}
            for h in decided[: len(decided) // 10]])
    engine.dispose()


@pytest.fixture(scope="module")
def month_store() -> str:
    return cached_store(f"figures-month-{N_SUBJECTS}", lambda s: _build(s))


def _summaries(path: str) -> list[str]:
    return glob.glob(os.path.join(path, "index", "*", "compliance-*.parquet"))


def _timed_run(store: Store, engine, timings: dict):
    def run():
        r0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        trend = figures_trend(store, engine, MONTH)
        t1 = time.perf_counter()
        published = suppress(trend)
        t2 = time.perf_counter()
        page = render_figures(published, MONTH.label, scope="all", published=True,
                              threshold=5)
        t3 = time.perf_counter()
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        timings.update(figures=t1 - t0, suppress=t2 - t1, page=t3 - t2, total=t3 - t0,
                       cpu=(r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime))
        return trend, page
    return run


def _report(kind: str, trend: pd.DataFrame, page: str, timings: dict, counts: dict) -> None:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    row = trend[(trend["police_force"] == "all") & (trend["cohort"] == "all")
                & (trend["month"] == MONTH.label)].iloc[0]
    print(f"\nfigures {kind}, {N_SUBJECTS} subjects x {DAYS} days, {N_CRIMES} crimes, "
          f"{N_HITS} hits: " + ", ".join(f"{k} {v:.2f} s" for k, v in timings.items())
          + f" (cpu: user+sys of the process); summaries built {counts['built']}, "
          f"read {counts['read']}; load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cpus; "
          f"peak RSS {rss:.0f} MB; page {len(page) / 1e3:.0f} kB; "
          f"subjects {row['subjects_monitored']}, hits {row['hits']}, gaps {row['gaps']}")
    assert row["subjects_monitored"] == N_SUBJECTS and row["hits"] == N_HITS


def test_figures_month_warm(benchmark, month_store):
    store = Store(month_store)
    engine = open_store(month_store)
    figures_trend(store, engine, MONTH)  # every day summarised (as ingest leaves them)
    assert len(_summaries(month_store)) == DAYS
    timings: dict = {}
    before = dict(day_summary.STATS)
    trend, page = benchmark.pedantic(_timed_run(store, engine, timings), rounds=3,
                                     iterations=1, warmup_rounds=1)
    engine.dispose()
    counts = {k: day_summary.STATS[k] - before[k] for k in before}
    assert counts["built"] == 0
    _report("warm", trend, page, timings, counts)


def test_figures_month_cold(benchmark, month_store):
    store = Store(month_store)
    engine = open_store(month_store)
    timings: dict = {}

    def forget():
        for path in _summaries(month_store):
            os.unlink(path)
        return (), {}

    before = dict(day_summary.STATS)
    trend, page = benchmark.pedantic(_timed_run(store, engine, timings), setup=forget,
                                     rounds=1, iterations=1)
    engine.dispose()
    counts = {k: day_summary.STATS[k] - before[k] for k in before}
    assert counts["built"] == DAYS and len(_summaries(month_store)) == DAYS
    _report("cold", trend, page, timings, counts)
