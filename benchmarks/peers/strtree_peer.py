"""shapely 2 STRtree: every path piece as a 2-D LineString (a Point when isolated); each
crime point queried with ``predicate="dwithin"``, then the time overlap and the exact
refinement in numpy. (The tree is spatial only: time is filtered after.)"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import shapely

from benchmarks.peers.common import (
    RULES,
    Workload,
    crime_arrays,
    fixes_of,
    pair_set,
    pieces_of,
    refine,
    timed,
)

NAME = "shapely STRtree"
KIND = "segments"


def _geoms(p):
    coords = np.empty((2 * p.n, 2))
    coords[0::2, 0], coords[0::2, 1] = p.xa, p.ya
    coords[1::2, 0], coords[1::2, 1] = p.xb, p.yb
    # a degenerate piece (isolated fix) is a zero-length line: its distance is the point's
    return shapely.linestrings(coords, indices=np.repeat(np.arange(p.n), 2))


def _query(tree, p, cx, cy, w0, w1):
    cand = tree.query(shapely.points(cx, cy), predicate="dwithin", distance=RULES.radius_m)
    crime, ids = cand[0], cand[1]
    timely = (p.ta[ids] <= w1[crime]) & (p.tb[ids] >= w0[crime])
    crime, ids = crime[timely], ids[timely]
    ok = refine(p, ids, cx[crime], cy[crime], w0[crime], w1[crime], RULES.radius_m)
    return crime[ok], p.subject[ids[ok]]


def run(work: Workload) -> dict:
    times: dict = {}
    with timed(times, "load"):
        f = fixes_of(work.trails)
        p = pieces_of(f, RULES.max_gap_ns)
        geoms = _geoms(p)
    with timed(times, "index"):
        tree = shapely.STRtree(geoms)
    with timed(times, "query"):
        cx, cy, w0, w1 = crime_arrays(work.crimes)
        crime, subj = _query(tree, p, cx, cy, w0, w1)
        pairs = pair_set(crime, f.names[subj])
    return {"times": times, "pairs": pairs}


def lookups(work: Workload, queries: pd.DataFrame) -> dict:
    setup: dict = {}
    with timed(setup, "load"):
        f = fixes_of(work.trails)
        p = pieces_of(f, RULES.max_gap_ns)
        geoms = _geoms(p)
    with timed(setup, "index"):
        tree = shapely.STRtree(geoms)
    cx, cy, w0, w1 = crime_arrays(queries)
    lat = np.empty(len(queries))
    pairs = set()
    for i in range(len(queries)):
        t = time.perf_counter()
        _, subj = _query(tree, p, cx[i:i + 1], cy[i:i + 1], w0[i:i + 1], w1[i:i + 1])
        subj = np.unique(subj)
        lat[i] = time.perf_counter() - t
        pairs |= {(i, s) for s in f.names[subj].tolist()}
    return {"latency": lat, "pairs": pairs, "setup": setup}
