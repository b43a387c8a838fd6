"""PostGIS: the path as LINESTRINGM chunks (M = epoch seconds) with a GiST index on
(geom, period); ``ST_DWithin`` + period overlap, refined exactly with ``ST_LocateBetween``
(the chunk cut to the crime window by M, interpolated) and ``ST_DWithin`` again.

The benchmark starts its own PostgreSQL (Debian's ``postgresql-15-postgis-3``) on 127.0.0.1
in a temporary directory and stops it at the end. Chunks hold up to 10 fixes (9 segments) of
one subject's joined run, adjacent chunks sharing their boundary fix, so the path is covered
exactly and the GiST boxes stay small (one row per segment would be 7 M rows for a national
day; one per subject-day would make the index useless). Loading is ``COPY`` of hex EWKB built
with numpy. The server runs with fsync off (generous to PostGIS: no durability cost).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager

import numpy as np
import pandas as pd

from benchmarks.peers.common import RULES, Workload, crime_arrays, fixes_of, joined_flags, timed

NAME = "PostGIS"
KIND = "segments"
SRID = 27700
CHUNK_SEGMENTS = 9
_HEX = np.array([f"{i:02x}".encode() for i in range(256)], dtype="S2")


def available() -> str | None:
    """None when a server can be started, else the reason it cannot."""
    if not _pg_bin():
        return "PostgreSQL binaries not found (apt-get install postgresql-15-postgis-3)"
    if not glob.glob("/usr/share/postgresql/*/extension/postgis.control"):
        return "PostGIS extension not installed (apt-get install postgresql-15-postgis-3)"
    return None


def _pg_bin() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return os.path.dirname(found[-1]) if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def server():
    """A throw-away PostgreSQL on 127.0.0.1; yields a psycopg connection string."""
    pg = _pg_bin()
    data = tempfile.mkdtemp(prefix="tm-peer-pg-")
    as_root = os.geteuid() == 0
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    if as_root:
        shutil.chown(data, "postgres")
    port = _free_port()
    try:
        subprocess.run(prefix + [f"{pg}/initdb", "-D", data, "-A", "trust", "-U", "postgres"],
                       check=True, capture_output=True)
        opts = (f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c shared_buffers=1GB "
                "-c work_mem=256MB -c maintenance_work_mem=1GB -c max_wal_size=8GB")
        subprocess.run(prefix + [f"{pg}/pg_ctl", "-D", data, "-o", opts, "-l",
                                 f"{data}/log", "-w", "start"], check=True, capture_output=True)
        yield f"host=127.0.0.1 port={port} user=postgres dbname=postgres"
    finally:
        subprocess.run(prefix + [f"{pg}/pg_ctl", "-D", data, "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(data, ignore_errors=True)


def _chunks(f, max_gap_ns: int):
    """(first fix, last fix) of each chunk: runs of joined fixes cut every 9 segments."""
    j = joined_flags(f, max_gap_ns)
    prev = np.concatenate([[False], j[:-1]])
    run_first = np.flatnonzero(~prev)
    run_last = np.flatnonzero(~j)
    length = run_last - run_first  # segments in the run
    n_chunks = np.maximum(-(-length // CHUNK_SEGMENTS), 1)
    run = np.repeat(np.arange(run_first.size), n_chunks)
    k = np.arange(run.size) - np.repeat(np.cumsum(n_chunks) - n_chunks, n_chunks)
    first = run_first[run] + k * CHUNK_SEGMENTS
    last = np.minimum(first + CHUNK_SEGMENTS, run_last[run])
    return first, last


def _ewkb_hex(f, first, last) -> np.ndarray:
    """Hex EWKB (with SRID) of each chunk: LINESTRINGM, or POINTM for a lone fix."""
    m = f.t / 1e9
    out = np.empty(first.size, dtype=object)
    npts = last - first + 1
    for n in np.unique(npts):
        sel = np.flatnonzero(npts == n)
        idx = first[sel][:, None] + np.arange(n)[None, :]
        xyz = np.stack([f.x[idx], f.y[idx], m[idx]], axis=-1)  # (k, n, 3)
        if n == 1:
            head = np.dtype([("o", "u1"), ("g", "<u4"), ("s", "<u4")])
            rec = np.empty(sel.size, dtype=[("h", head), ("p", "<f8", (3,))])
            rec["h"]["g"] = 0x40000001 | 0x20000000
        else:
            head = np.dtype([("o", "u1"), ("g", "<u4"), ("s", "<u4"), ("n", "<u4")])
            rec = np.empty(sel.size, dtype=[("h", head), ("p", "<f8", (n, 3))])
            rec["h"]["g"] = 0x40000002 | 0x20000000
            rec["h"]["n"] = n
        rec["h"]["o"] = 1
        rec["h"]["s"] = SRID
        rec["p"] = xyz[:, 0, :] if n == 1 else xyz
        raw = np.frombuffer(rec.tobytes(), dtype=np.uint8).reshape(sel.size, -1)
        hexed = _HEX[raw].view(f"S{2 * raw.shape[1]}").ravel()
        out[sel] = hexed
    return out


def _ts(ns: np.ndarray) -> np.ndarray:
    return np.datetime_as_string(ns.astype("datetime64[ns]"), unit="us").astype(object)


def _copy_segments(conn, f) -> int:
    first, last = _chunks(f, RULES.max_gap_ns)
    geom = _ewkb_hex(f, first, last)
    t0 = _ts(f.t[first])
    t1 = _ts(f.t[last])
    subject = f.subject[first].tolist()
    with conn.cursor() as cur, cur.copy("COPY seg (subject, period, geom) FROM STDIN") as cp:
        block = []
        for i in range(first.size):
            block.append(f"{subject[i]}\t[{t0[i]}+00,{t1[i]}+00]\t{geom[i].decode()}\n")
            if len(block) == 20_000:
                cp.write("".join(block))
                block = []
        cp.write("".join(block))
    return int(first.size)


def _copy_crimes(conn, crimes: pd.DataFrame) -> None:
    cx, cy, w0, w1 = crime_arrays(crimes)
    a, b = _ts(w0), _ts(w1)
    cx, cy, m0, m1 = cx.tolist(), cy.tolist(), (w0 / 1e9).tolist(), (w1 / 1e9).tolist()
    with conn.cursor() as cur, cur.copy("COPY crime (id, geom, period, m0, m1) FROM STDIN") as cp:
        cp.write("".join(
            f"{i}\tSRID={SRID};POINT({cx[i]!r} {cy[i]!r})\t[{a[i]}+00,{b[i]}+00]\t"
            f"{m0[i]!r}\t{m1[i]!r}\n" for i in range(len(cx))))


SCHEMA = f"""
CREATE EXTENSION IF NOT EXISTS postgis;
DROP TABLE IF EXISTS seg; DROP TABLE IF EXISTS crime;
CREATE UNLOGGED TABLE seg (subject int, period tstzrange, geom geometry(GeometryM, {SRID}));
CREATE UNLOGGED TABLE crime (id int, geom geometry(Point, {SRID}), period tstzrange,
                             m0 float8, m1 float8);
"""

BATCH = """
SELECT DISTINCT c.id, s.subject FROM crime c JOIN seg s
  ON ST_DWithin(s.geom, c.geom, %(r)s) AND s.period && c.period
WHERE ST_DWithin(ST_LocateBetween(s.geom, c.m0, c.m1), c.geom, %(r)s)
"""

LOOKUP = f"""
SELECT DISTINCT s.subject FROM seg s
WHERE ST_DWithin(s.geom, ST_SetSRID(ST_MakePoint(%(x)s, %(y)s), {SRID}), %(r)s)
  AND s.period && tstzrange(%(a)s, %(b)s, '[]')
  AND ST_DWithin(ST_LocateBetween(s.geom, %(m0)s, %(m1)s),
                 ST_SetSRID(ST_MakePoint(%(x)s, %(y)s), {SRID}), %(r)s)
"""


def _load(conn, work: Workload, times: dict):
    with timed(times, "load"):
        f = fixes_of(work.trails)
        conn.execute(SCHEMA)
        _copy_segments(conn, f)
        _copy_crimes(conn, work.crimes)
    with timed(times, "index"):
        conn.execute("CREATE INDEX seg_gist ON seg USING gist (geom, period)")
        conn.execute("ANALYZE seg")
        conn.execute("ANALYZE crime")
    return f


def run(work: Workload) -> dict:
    import psycopg

    times: dict = {}
    with server() as dsn, psycopg.connect(dsn, autocommit=True) as conn:
        f = _load(conn, work, times)
        with timed(times, "query"):
            rows = conn.execute(BATCH, {"r": RULES.radius_m}).fetchall()
    pairs = {(int(c), str(f.names[s])) for c, s in rows}
    return {"times": times, "pairs": pairs}


def lookups(work: Workload, queries: pd.DataFrame) -> dict:
    import psycopg

    times: dict = {}
    cx, cy, w0, w1 = crime_arrays(queries)
    a, b = _ts(w0), _ts(w1)
    lat = np.empty(len(queries))
    pairs = set()
    with server() as dsn, psycopg.connect(dsn, autocommit=True) as conn:
        f = _load(conn, work.__class__(work.name, work.scale, work.trails, queries.head(0),
                                       work.days), times)
        for i in range(cx.size):
            t = time.perf_counter()
            rows = conn.execute(LOOKUP, {"x": float(cx[i]), "y": float(cy[i]),
                                         "r": RULES.radius_m, "a": f"{a[i]}+00",
                                         "b": f"{b[i]}+00", "m0": w0[i] / 1e9,
                                         "m1": w1[i] / 1e9}, prepare=True).fetchall()
            lat[i] = time.perf_counter() - t
            pairs |= {(i, str(f.names[s])) for (s,) in rows}
    return {"latency": lat, "pairs": pairs, "setup": times}
