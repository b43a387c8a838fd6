"""trailmatch itself: validate + sort the fixes, then match exactly — from DataFrames the
crimes are binned and the trail streamed past them (what ``match()`` does); from a store, the
persisted day indexes are opened and queried."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.peers.common import (
    RULES,
    Workload,
    adhoc_lookups,
    crime_arrays,
    month,
    pair_set,
    timed,
)
from trailmatch import synthetic
from trailmatch.index.query import hit_fields, hit_pairs
from trailmatch.match import match, match_prepared, match_streamed
from trailmatch.store import day_index
from trailmatch.store.layout import Layout
from trailmatch.trails import prepare_crimes, prepare_trail

NAME = "trailmatch"
KIND = "segments"


def warm_up() -> None:
    """Compile the numba kernels (cached on disk after the first run) outside the timings:
    the sweep (``match`` from DataFrames) and the store's path (a two-day store written,
    then the nightly match from it and one look-up), which calls the index kernels with the
    store's own arrays: numba compiles a kernel again for arrays of another kind (a
    DataFrame's columns are read-only views, the store's are not). Without the store's path
    here, a run with a cold numba cache timed the first nightly match from the store at 6.4 s
    instead of ~0.1 s: the compilation."""
    match(synthetic.trails(20, 60), synthetic.crimes(20), RULES)
    work = month(0.01, days=2)
    crimes = adhoc_lookups(work, 200)  # half of them near a fix: threaded hit fields too
    store = Path(tempfile.mkdtemp(prefix="tm-warm-up-"))
    try:
        write_store(work, store)
        match_from_store(store, crimes)
        one = crimes.iloc[:1]
        _, _, w0, w1 = crime_arrays(one)
        trail, index = day_index.load_index_for_window(store, int(w0[0]), int(w1[0]), RULES)
        match_prepared(trail, index, prepare_crimes(one), RULES)
    finally:
        day_index.forget_open_indexes()
        shutil.rmtree(store, ignore_errors=True)


def run(work: Workload) -> dict:
    times: dict = {}
    with timed(times, "load"):
        trail = prepare_trail(work.trails)
    with timed(times, "query"):  # crimes binned + streamed past, then the hit fields
        hits = match_streamed(trail, prepare_crimes(work.crimes), RULES)
    row = pd.Series(np.arange(len(work.crimes)), index=work.crimes["crime_reference"])
    rows = row[hits["crime_reference"]].to_numpy()
    pairs = pair_set(rows, hits["subject"].astype(str))
    at_fixes = hits["fixes_in"].to_numpy() > 0
    fix_pairs = pair_set(rows[at_fixes], hits["subject"].astype(str)[at_fixes])
    return {"times": times, "pairs": pairs, "fix_pairs": fix_pairs}


def write_store(work: Workload, store: Path) -> dict:
    """Ingest the fixes into a trail store: one Parquet partition per day, each with its
    persisted index written by the store as it publishes the partition."""
    from trailmatch.store import Store

    times: dict = {}
    frame = work.trails.assign(subject=work.trails["subject"].astype(str))
    with timed(times, "ingest"):
        Store(store).ingest_fixes(frame, ingested_at_ns=int(frame["time"].max().value))
    # the store indexes the default rules as it writes; these rules are indexed once, then
    # kept current by the store in the same way
    with timed(times, "index"):
        for day, path in Layout(store).partitions().items():
            day_index.write_day_index(store, day, path, RULES)
    return times


def match_from_store(store: Path, crimes: pd.DataFrame) -> dict:
    """The nightly match when the history is already in the store: open only the days the
    crimes' windows need (stitched across midnight) and match. What ingest already paid for
    (Parquet, per-day index) is not counted; this is the PostGIS-with-data-loaded case."""
    times: dict = {}
    day_index.forget_open_indexes()
    built = day_index.STATS["built"]
    _, _, w0, w1 = crime_arrays(crimes)
    with timed(times, "open"):
        trail, index = day_index.load_index_for_window(store, int(w0.min()), int(w1.max()), RULES)
    with timed(times, "query"):
        hits = match_prepared(trail, index, prepare_crimes(crimes), RULES)
    row = pd.Series(np.arange(len(crimes)), index=crimes["crime_reference"])
    pairs = pair_set(row[hits["crime_reference"]].to_numpy(), hits["subject"].astype(str))
    return {"times": times, "pairs": pairs, "fixes_opened": trail.n_fixes,
            "rebuilt": day_index.STATS["built"] - built}


def lookups(work: Workload, queries: pd.DataFrame) -> dict:
    """(c): each look-up opens the window's days from the persisted store and matches one
    place (``load_index_for_window`` + ``match_prepared``); the first touch of a day
    memory-maps it, later ones find it in the open-day cache. Two latencies: to the hit
    fields as arrays (the kernels, as the peers return pair sets), and to the hits as a
    DataFrame (``match_prepared``, what the service serves)."""
    store = Path(tempfile.mkdtemp(prefix="tm-peer-store-"))
    try:
        build = write_store(work, store)
        # cold opens of a day's index (manifest + fingerprint + np.load mmap)
        opens = []
        for day, path in list(Layout(store).partitions().items())[:30]:
            day_index.forget_open_indexes()
            t = time.perf_counter()
            day_index.day_index(store, day, path, RULES)
            opens.append(time.perf_counter() - t)
        day_index.forget_open_indexes()
        built = day_index.STATS["built"]
        cx, cy, w0, w1 = crime_arrays(queries)
        lat = np.empty(len(queries))
        pairs = set()
        # one look-up runs the kernels' serial variants (hit_pairs/hit_fields choose them
        # for small inputs: waking a team of threads costs more than the work)
        frame_lat = np.empty(len(queries))
        for i in range(len(queries)):
            t = time.perf_counter()
            trail, index = day_index.load_index_for_window(store, int(w0[i]), int(w1[i]), RULES)
            t_open = time.perf_counter()
            pc, ps = hit_pairs(index, cx[i:i + 1], cy[i:i + 1], w0[i:i + 1], w1[i:i + 1],
                               RULES.radius_m)
            fields = hit_fields(index, trail, pc, ps, cx[i:i + 1], cy[i:i + 1], w0[i:i + 1],
                                w1[i:i + 1], RULES.radius_m)
            t_kernel = time.perf_counter()
            hits = match_prepared(trail, index, prepare_crimes(queries.iloc[[i]]), RULES)
            t_frame = time.perf_counter()
            lat[i] = t_kernel - t
            frame_lat[i] = (t_open - t) + (t_frame - t_kernel)
            assert fields[0].all() and sorted(trail.subjects[ps]) == sorted(hits["subject"])
            pairs |= {(i, s) for s in hits["subject"].astype(str)}
        nightly = match_from_store(store, work.crimes)
        return {"nightly": nightly, "latency": lat, "frame_latency": frame_lat, "pairs": pairs,
                "open": np.asarray(opens), "store_build": build,
                "rebuilt": day_index.STATS["built"] - built}
    finally:
        day_index.forget_open_indexes()
        shutil.rmtree(store, ignore_errors=True)
