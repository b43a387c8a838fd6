"""Load on the officer service: a real server (uvicorn, loopback) over a store of
``1,000 subjects x 30 days`` at a fix a minute (43.2 M fixes, the issue's proximity target),
and bounded concurrent traffic from an asyncio client.

- ``GET /hits?police_force=&crime_reference=`` from 50 concurrent clients (closed loop: each
  client sends its next request when the last one is answered), an officer's token: every
  request is authenticated against the hit store and written to the audit log.
- ``GET /proximity`` (processing token) for random places and one-hour windows across the 30
  days, answered from the persisted per-day segment index.

Reported in ``extra_info`` and printed: requests, errors, p50 / p99 / max latency (ms) and
requests per second. Target: p99 < 100 ms and 0 errors. The traffic is bounded in count
(``REQUESTS``) and time (``TIME_CAP_S``) and goes only to 127.0.0.1.

    .venv/bin/python -m pytest benchmarks/test_service_load.py -s
    TRAILMATCH_BENCH_SCALE=0.1 .venv/bin/python -m pytest benchmarks/test_service_load.py -s

``TRAILMATCH_BENCH_SCALE`` scales subjects and days (0.1: 100 subjects x 3 days) and the number
of requests; ``TRAILMATCH_BENCH_WORKERS`` sets uvicorn worker processes (default 1).
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from service.auth import add_user
from trailmatch import synthetic
from trailmatch.hitstore import open_store, repository
from trailmatch.index.persist import write_day_index
from trailmatch.match import match
from trailmatch.rules import Rules

httpx = pytest.importorskip("httpx")

SCALE = float(os.environ.get("TRAILMATCH_BENCH_SCALE", "1"))
N_SUBJECTS = max(20, int(round(1000 * SCALE)))
N_DAYS = max(2, int(round(30 * SCALE)))
FIXES_PER_DAY = 1440
CONCURRENCY = 50
REQUESTS = max(500, int(round(5000 * SCALE)))
PROXIMITY_CONCURRENCY = int(os.environ.get("TRAILMATCH_BENCH_PROXIMITY_CONCURRENCY", "10"))
PROXIMITY_REQUESTS = max(200, int(round(1000 * SCALE)))
TIME_CAP_S = 120.0
WORKERS = int(os.environ.get("TRAILMATCH_BENCH_WORKERS", "1"))
START = pd.Timestamp("2025-01-20", tz="UTC")
EXTENT_M = 60_000.0
ORIGIN = (400_000.0, 100_000.0)


def build_store(root: Path) -> dict:
    rules = Rules()
    (root / "positions").mkdir(parents=True)
    day_one = None
    for d in range(N_DAYS):
        day = (START + pd.Timedelta(days=d)).strftime("%Y-%m-%d")
        tr = synthetic.trails(n_subjects=N_SUBJECTS, fixes_per_day=FIXES_PER_DAY, days=1,
                              extent_m=EXTENT_M, origin=ORIGIN, start=day, seed=100 + d)
        tr["subject"] = tr["subject"].astype(str)
        part = root / "positions" / f"{day}.parquet"
        tr.to_parquet(part)
        write_day_index(root, day, part, rules)  # what ingest would leave behind
        if d == 0:
            day_one = tr
    crimes = synthetic.crimes(n_crimes=max(200, int(2000 * SCALE)), days=1, extent_m=EXTENT_M,
                              origin=ORIGIN, start=START.strftime("%Y-%m-%d"))
    crimes["description"] = "synthetic"
    crimes["text"] = ""
    crimes["crs"] = rules.crs
    from trailmatch.crs import working_to_lonlat

    crimes["lon"], crimes["lat"] = working_to_lonlat(crimes["x"].to_numpy(),
                                                     crimes["y"].to_numpy())
    engine = open_store(root)
    run_id = repository.start_run(engine, "nightly", rules.to_dict(), "bench")
    batch = repository.add_batch(engine, police_force="Hampshire", batch_id="HAM20250120",
                                 file_name="bench.csv", file_sha256="0" * 64, run_id=run_id,
                                 rows_read=len(crimes), accepted=len(crimes), rejected=0)
    repository.store_crimes(engine, batch, "HAM20250120", crimes.to_dict("records"))
    current = repository.current_crimes(engine)
    found = match(day_one, current, rules)
    key = current.set_index("crime_reference")["id"]
    found["crime_id"] = [int(key[r]) for r in found["crime_reference"]]
    repository.save_hits(engine, run_id, current, found)
    repository.finish_run(engine, run_id, "ok", {"hits": len(found)}, "bench")
    officer = add_user(engine, "bench-officer", "officer", "Hampshire")[1]
    processing = add_user(engine, "bench-central", "processing", None)[1]
    engine.dispose()
    refs = sorted(set(found["crime_reference"]))
    assert refs, "the synthetic night produced no hits"
    return {"officer": officer, "processing": processing, "refs": refs, "hits": len(found)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("loadstore")
    t0 = time.perf_counter()
    world = build_store(root)
    print(f"\nstore: {N_SUBJECTS} subjects x {N_DAYS} days "
          f"({N_SUBJECTS * N_DAYS * FIXES_PER_DAY:,} fixes), {world['hits']} hits, "
          f"built in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    port = free_port()
    proc = subprocess.Popen(  # the front door: `trailmatch serve`
        [sys.executable, "-m", "trailmatch.cli", "serve", "--store", str(root),
         "--host", "127.0.0.1", "--port", str(port), "--workers", str(WORKERS)])
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and proc.poll() is None, "server did not start"
            time.sleep(0.2)
        yield base, world
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


async def closed_loop(base: str, token: str, make_params, path: str, clients: int,
                      total: int) -> dict:
    """``clients`` concurrent clients share ``total`` requests; stops at ``TIME_CAP_S``."""
    latencies: list[float] = []
    errors = 0
    kinds: dict[str, int] = {}
    remaining = total
    stop_at = time.monotonic() + TIME_CAP_S
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30,
                                 headers={"Authorization": f"Bearer {token}"}) as client:
        async def one_client(seed: int) -> None:
            nonlocal remaining, errors
            rng = np.random.default_rng(seed)
            while remaining > 0 and time.monotonic() < stop_at:
                remaining -= 1
                t = time.perf_counter()
                try:
                    r = await client.get(path, params=make_params(rng))
                    kind = None if r.status_code == 200 else f"HTTP {r.status_code}"
                except httpx.HTTPError as e:
                    kind = type(e).__name__
                latencies.append(time.perf_counter() - t)
                if kind:
                    errors += 1
                    kinds[kind] = kinds.get(kind, 0) + 1

        t0 = time.perf_counter()
        await asyncio.gather(*(one_client(i) for i in range(clients)))
        wall = time.perf_counter() - t0
    ms = np.array(latencies) * 1000
    return {"requests": len(ms), "errors": errors, "clients": clients,
            "p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p99_ms": round(float(np.percentile(ms, 99)), 2),
            "max_ms": round(float(ms.max()), 2), "rps": round(len(ms) / wall, 1),
            "error_kinds": kinds}


def report(name: str, stats: dict, benchmark, prefix: str = "") -> None:
    benchmark.extra_info.update({prefix + k: v for k, v in stats.items()})
    print(f"\n{name}: {stats} (workers={WORKERS}, scale={SCALE}; shared machine, under load)",
          file=sys.stderr)


def test_hits_at_50_concurrent_clients(served, benchmark):
    base, world = served
    refs = world["refs"]

    def params(rng):
        return {"police_force": "Hampshire", "crime_reference": refs[rng.integers(len(refs))]}

    asyncio.run(closed_loop(base, world["officer"], params, "/hits", 10, 100))  # warm-up
    # one client: the service time of a request, with no queueing behind others
    alone = asyncio.run(closed_loop(base, world["officer"], params, "/hits", 1, 200))
    stats = benchmark.pedantic(lambda: asyncio.run(closed_loop(
        base, world["officer"], params, "/hits", CONCURRENCY, REQUESTS)), rounds=1, iterations=1)
    report("GET /hits, 1 client", alone, benchmark, prefix="single_")
    report("GET /hits", stats, benchmark)
    assert stats["errors"] == 0


def test_proximity(served, benchmark):
    base, world = served

    def params(rng):
        day = int(rng.integers(N_DAYS))
        t0 = START + pd.Timedelta(days=day) + pd.Timedelta(seconds=int(rng.integers(0, 82_800)))
        return {"easting": ORIGIN[0] + float(rng.uniform(0, EXTENT_M)),
                "northing": ORIGIN[1] + float(rng.uniform(0, EXTENT_M)),
                "from": t0.isoformat(), "to": (t0 + pd.Timedelta("1h")).isoformat(),
                "radius": 100}

    # warm-up: every day's index opened once (and the kernels compiled, if not cached yet)
    with httpx.Client(base_url=base, timeout=600,
                      headers={"Authorization": f"Bearer {world['processing']}"}) as client:
        for day in range(N_DAYS):
            t0 = START + pd.Timedelta(days=day, hours=12)
            r = client.get("/proximity", params={
                "easting": ORIGIN[0], "northing": ORIGIN[1], "from": t0.isoformat(),
                "to": (t0 + pd.Timedelta("1h")).isoformat()})
            assert r.status_code == 200, r.text
    alone = asyncio.run(closed_loop(base, world["processing"], params, "/proximity", 1, 200))
    stats = benchmark.pedantic(lambda: asyncio.run(closed_loop(
        base, world["processing"], params, "/proximity", PROXIMITY_CONCURRENCY,
        PROXIMITY_REQUESTS)), rounds=1, iterations=1)
    report("GET /proximity, 1 client", alone, benchmark, prefix="single_")
    report("GET /proximity", stats, benchmark)
    assert stats["errors"] == 0
