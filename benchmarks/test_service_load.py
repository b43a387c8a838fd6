"""Load on the officer service: a real server (``trailmatch serve``, uvicorn, loopback) over a
store of ``1,000 subjects x 30 days`` at a fix a minute (43.2 M fixes, the issue's proximity
target), and bounded closed-loop traffic.

- ``GET /hits?police_force=&crime_reference=`` from 50 concurrent clients (closed loop: each
  client sends its next request when the last one is answered), an officer's token: every
  request is authenticated against the hit store and written to the audit log.
- ``GET /proximity`` (processing token) for random places and one-hour windows across the 30
  days, answered from the persisted per-day segment index, from 1 and from 10 clients.

The load generator runs in its own process (this file run as a script), so that it competes with
the server only for the machine, not for one interpreter: on 2 cores a client that costs as
much CPU per request as the server would halve what it measures. It is a plain HTTP/1.1 client
on asyncio streams (one keep-alive connection per client, opened before the clock starts, the
request targets generated beforehand), which costs a fraction of httpx's CPU per request; every
response is read to its end, and counts as an error unless it is a 200 whose body parses as
JSON.

Reported in ``extra_info`` and printed: requests, errors (by kind), p50 / p99 / max latency
(ms), requests per second, the server's and the client's CPU milliseconds per request, and the
machine's load average (the figures mean little without it on a shared machine). Target:
p99 < 100 ms and 0 errors. The traffic is bounded in count (``REQUESTS``) and time
(``TIME_CAP_S``) and goes only to 127.0.0.1.

    .venv/bin/python -m pytest benchmarks/test_service_load.py -s
    TRAILMATCH_BENCH_WORKERS=2 .venv/bin/python -m pytest benchmarks/test_service_load.py -s
    TRAILMATCH_BENCH_SCALE=0.1 .venv/bin/python -m pytest benchmarks/test_service_load.py -s

``TRAILMATCH_BENCH_SCALE`` scales subjects and days (0.1: 100 subjects x 3 days) and the number
of requests; ``TRAILMATCH_BENCH_WORKERS`` sets ``trailmatch serve --workers`` (default 1);
``TRAILMATCH_BENCH_PROXIMITY_CONCURRENCY`` the proximity clients (default 10);
``TRAILMATCH_BENCH_PG=postgresql://...`` puts the hit store in a new database on that server
(created and dropped by the run) instead of the store's SQLite file.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import numpy as np
import pytest

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
# a PostgreSQL server URL: the hit store goes into a new database there, dropped afterwards
PG_SERVER = os.environ.get("TRAILMATCH_BENCH_PG")
START_DAY = "2025-01-20"
EXTENT_M = 60_000.0
ORIGIN = (400_000.0, 100_000.0)


def build_store(root: Path, db_url: str | None = None) -> dict:
    import pandas as pd

    from trailmatch import synthetic
    from trailmatch.crs import working_to_lonlat
    from trailmatch.hitstore import open_store, repository
    from trailmatch.hitstore.users import add_user
    from trailmatch.match import match
    from trailmatch.rules import Rules
    from trailmatch.store import Store

    rules = Rules()
    start = pd.Timestamp(START_DAY, tz="UTC")
    store = Store(root)
    day_one = None
    for d in range(N_DAYS):
        day = (start + pd.Timedelta(days=d)).strftime("%Y-%m-%d")
        tr = synthetic.trails(n_subjects=N_SUBJECTS, fixes_per_day=FIXES_PER_DAY, days=1,
                              extent_m=EXTENT_M, origin=ORIGIN, start=day, seed=100 + d)
        tr["subject"] = tr["subject"].astype(str)
        counts, _ = store.ingest_fixes(tr)  # the day's partition and index, as ingest leaves
        assert counts.accepted == len(tr), counts
        if d == 0:
            day_one = tr
    crimes = synthetic.crimes(n_crimes=max(200, int(2000 * SCALE)), days=1, extent_m=EXTENT_M,
                              origin=ORIGIN, start=START_DAY)
    crimes["description"] = "synthetic"
    crimes["text"] = ""
    crimes["crs"] = rules.crs
    crimes["lon"], crimes["lat"] = working_to_lonlat(crimes["x"].to_numpy(),
                                                     crimes["y"].to_numpy())
    engine = open_store(root, db_url)
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


def server_cpu_s(pid: int) -> float:
    """CPU seconds of the server process and its worker processes so far."""
    import psutil

    proc = psutil.Process(pid)
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def hits_targets(refs: list[str], n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return ["/hits?" + urllib.parse.urlencode(
        {"police_force": "Hampshire", "crime_reference": refs[int(rng.integers(len(refs)))]})
        for _ in range(n)]


def proximity_targets(n: int, seed: int) -> list[str]:
    """Random places in the synthetic extent, one-hour windows on random days."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    start = pd.Timestamp(START_DAY, tz="UTC")
    out = []
    for _ in range(n):
        day = int(rng.integers(N_DAYS))
        t0 = start + pd.Timedelta(days=day) + pd.Timedelta(seconds=int(rng.integers(0, 82_800)))
        out.append("/proximity?" + urllib.parse.urlencode({
            "easting": ORIGIN[0] + float(rng.uniform(0, EXTENT_M)),
            "northing": ORIGIN[1] + float(rng.uniform(0, EXTENT_M)),
            "from": t0.isoformat(), "to": (t0 + pd.Timedelta("1h")).isoformat(),
            "radius": 100}))
    return out


@pytest.fixture(scope="module")
def database():
    """None (the store's SQLite file), or the URL of a fresh database on ``PG_SERVER``."""
    if not PG_SERVER:
        yield None
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from trailmatch.hitstore.db import store_url

    server = create_engine(store_url(None, PG_SERVER), isolation_level="AUTOCOMMIT")
    name = f"trailmatch_bench_{os.getpid()}"
    with server.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield make_url(store_url(None, PG_SERVER)).set(database=name).render_as_string(
            hide_password=False)
    finally:
        with server.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        server.dispose()


@pytest.fixture(scope="module")
def served(tmp_path_factory, database):
    root = tmp_path_factory.mktemp("loadstore")
    t0 = time.perf_counter()
    world = build_store(root, database)
    print(f"\nstore: {N_SUBJECTS} subjects x {N_DAYS} days "
          f"({N_SUBJECTS * N_DAYS * FIXES_PER_DAY:,} fixes), {world['hits']} hits, "
          f"built in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    port = free_port()
    proc = subprocess.Popen(  # the front door: `trailmatch serve`
        [sys.executable, "-m", "trailmatch.cli", "serve", "--store", str(root),
         "--host", "127.0.0.1", "--port", str(port), "--workers", str(WORKERS),
         *(["--db", database] if database else [])])
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                    sock.sendall(b"GET /health HTTP/1.1\r\nHost: bench\r\n"
                                 b"Connection: close\r\n\r\n")
                    if sock.recv(64).startswith(b"HTTP/1.1 200"):
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline and proc.poll() is None, "server did not start"
            time.sleep(0.2)
        yield {"port": port, "pid": proc.pid, **world}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


# --- the load generator (runs in its own process: ``python test_service_load.py SPEC``) -----

async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """One HTTP/1.1 response, read to its end: (status, body, server closes the connection)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length, chunked, close = 0, False, False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif name == b"connection":
            close = b"close" in value.lower()
    if not chunked:
        return status, await reader.readexactly(length), close
    parts = []
    while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)
    await reader.readuntil(b"\r\n")
    return status, b"".join(parts), close


async def _closed_loop(port: int, token: str, targets: list[str], clients: int,
                       time_cap_s: float) -> dict:
    """``clients`` concurrent clients, each on its own keep-alive connection, share the
    requests of ``targets`` (each client sends its next one when the last is answered)."""

    async def connect():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return reader, writer

    latencies: list[float] = []
    firsts: list[float] = []
    kinds: dict[str, int] = {}
    queue = iter(targets)
    auth = f"Host: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n\r\n"
    connections = await asyncio.gather(*(connect() for _ in range(clients)))
    stop_at = time.monotonic() + time_cap_s

    async def one_client(conn) -> None:
        first = True
        for target in queue:
            if time.monotonic() > stop_at:
                break
            request = f"GET {target} HTTP/1.1\r\n{auth}".encode()
            t = time.perf_counter()
            kind = None
            try:
                if conn is None:
                    conn = await connect()
                conn[1].write(request)
                status, body, close = await _read_response(conn[0])
                if status != 200:
                    kind = f"HTTP {status}"
                else:
                    json.loads(body)
                if close:
                    conn[1].close()
                    conn = None
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                    ValueError) as e:
                kind = type(e).__name__
                if conn is not None:
                    conn[1].close()
                conn = None
            latencies.append(time.perf_counter() - t)
            if first:  # kept apart: the first request on a connection is the server's first
                firsts.append(latencies[-1])  # sight of it (accepted, a protocol set up)
                first = False
            if kind:
                kinds[kind] = kinds.get(kind, 0) + 1
        if conn is not None:
            conn[1].close()

    t0 = time.perf_counter()
    await asyncio.gather(*(one_client(c) for c in connections))
    wall = time.perf_counter() - t0
    ms = np.array(latencies) * 1000
    return {"requests": len(ms), "errors": sum(kinds.values()), "clients": clients,
            "p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p99_ms": round(float(np.percentile(ms, 99)), 2),
            "max_ms": round(float(ms.max()), 2), "rps": round(len(ms) / wall, 1),
            "first_on_connection_max_ms": round(1000 * max(firsts), 2),
            "error_kinds": kinds}


def _client_main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    try:  # the lighter event loop where installed (it is a dependency of the service)
        import uvloop

        loop_factory = uvloop.new_event_loop
    except ImportError:
        loop_factory = None
    cpu = time.process_time()
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        stats = runner.run(_closed_loop(spec["port"], spec["token"], spec["targets"],
                                        spec["clients"], spec["time_cap_s"]))
    stats["client_cpu_s"] = time.process_time() - cpu
    print(json.dumps(stats))


def closed_loop(served: dict, token: str, targets: list[str], clients: int,
                tmp_path: Path) -> dict:
    """Run the load generator in its own process; adds the server's and the client's CPU
    milliseconds per request and the machine's load average."""
    spec = tmp_path / f"load-{clients}-{len(targets)}.json"
    spec.write_text(json.dumps({"port": served["port"], "token": token, "targets": targets,
                                "clients": clients, "time_cap_s": TIME_CAP_S}))
    cpu0 = server_cpu_s(served["pid"])
    out = subprocess.run([sys.executable, __file__, str(spec)], capture_output=True, text=True,
                         timeout=TIME_CAP_S + 120)
    assert out.returncode == 0, out.stderr
    stats = json.loads(out.stdout.strip().splitlines()[-1])
    n = max(stats["requests"], 1)
    stats["server_cpu_ms_per_request"] = round(1000 * (server_cpu_s(served["pid"]) - cpu0) / n,
                                               3)
    stats["client_cpu_ms_per_request"] = round(1000 * stats.pop("client_cpu_s") / n, 3)
    stats["load_average_1m"] = round(os.getloadavg()[0], 2)
    return stats


def report(name: str, stats: dict, benchmark, prefix: str = "") -> None:
    benchmark.extra_info.update({prefix + k: v for k, v in stats.items()})
    benchmark.extra_info.update(workers=WORKERS, database="postgresql" if PG_SERVER else "sqlite")
    print(f"\n{name}: {stats} (workers={WORKERS}, "
          f"{'PostgreSQL' if PG_SERVER else 'SQLite'}, scale={SCALE}, {os.cpu_count()} cores)",
          file=sys.stderr)


def test_hits_at_50_concurrent_clients(served, benchmark, tmp_path):
    token, refs = served["officer"], served["refs"]
    closed_loop(served, token, hits_targets(refs, 500, 1), 10, tmp_path)  # warm-up
    # one client: the service time of a request, with no queueing behind others
    alone = closed_loop(served, token, hits_targets(refs, 300, 2), 1, tmp_path)
    targets = hits_targets(refs, REQUESTS, 3)
    stats = benchmark.pedantic(lambda: closed_loop(served, token, targets, CONCURRENCY,
                                                   tmp_path), rounds=1, iterations=1)
    report("GET /hits, 1 client", alone, benchmark, prefix="single_")
    report(f"GET /hits, {CONCURRENCY} clients", stats, benchmark)
    assert alone["errors"] == 0 and stats["errors"] == 0


def test_proximity(served, benchmark, tmp_path):
    token = served["processing"]
    # warm-up: every day's index opened once (and the kernels compiled, if not cached yet)
    import httpx

    with httpx.Client(base_url=f"http://127.0.0.1:{served['port']}", timeout=600,
                      headers={"Authorization": f"Bearer {token}"}) as client:
        for day in range(N_DAYS):  # noon of every day, then random places and times
            r = client.get("/proximity", params={
                "easting": ORIGIN[0], "northing": ORIGIN[1],
                "from": f"{np.datetime64(START_DAY) + np.timedelta64(day, 'D')}T12:00:00Z",
                "to": f"{np.datetime64(START_DAY) + np.timedelta64(day, 'D')}T13:00:00Z"})
            assert r.status_code == 200, r.text
        for target in proximity_targets(N_DAYS * 3, 4):
            r = client.get(target)
            assert r.status_code == 200, r.text
    alone = closed_loop(served, token, proximity_targets(300, 5), 1, tmp_path)
    targets = proximity_targets(PROXIMITY_REQUESTS, 6)
    stats = benchmark.pedantic(lambda: closed_loop(served, token, targets,
                                                   PROXIMITY_CONCURRENCY, tmp_path),
                               rounds=1, iterations=1)
    report("GET /proximity, 1 client", alone, benchmark, prefix="single_")
    report(f"GET /proximity, {PROXIMITY_CONCURRENCY} clients", stats, benchmark)
    assert alone["errors"] == 0 and stats["errors"] == 0


if __name__ == "__main__":
    _client_main(sys.argv[1])
