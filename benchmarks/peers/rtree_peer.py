"""rtree (libspatialindex): every path piece as a 3-D box (x, y, t) bulk-loaded from numpy
arrays; each crime's box (place +- R, window) queried with ``intersection_v``, candidates
refined exactly with numpy (the piece clipped to the window, point-segment distance)."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from rtree import index as rindex

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

NAME = "rtree"
KIND = "segments"
_T_UNIT = 1e9  # time axis in seconds, so boxes are well conditioned in float64


def _build(p):
    prop = rindex.Property()
    prop.dimension = 3
    mins = np.column_stack([np.minimum(p.xa, p.xb), np.minimum(p.ya, p.yb), p.ta / _T_UNIT])
    maxs = np.column_stack([np.maximum(p.xa, p.xb), np.maximum(p.ya, p.yb), p.tb / _T_UNIT])
    ids = np.arange(p.n, dtype=np.int64)
    return rindex.Index((ids, mins, maxs), properties=prop)


def _query(tree, p, cx, cy, w0, w1):
    r = RULES.radius_m
    mins = np.column_stack([cx - r, cy - r, w0 / _T_UNIT])
    maxs = np.column_stack([cx + r, cy + r, w1 / _T_UNIT])
    ids, counts = tree.intersection_v(mins, maxs)
    crime = np.repeat(np.arange(cx.size), counts.astype(np.int64))
    ids = ids.astype(np.int64)
    ok = refine(p, ids, cx[crime], cy[crime], w0[crime], w1[crime], r)
    return crime[ok], p.subject[ids[ok]]


def run(work: Workload) -> dict:
    times: dict = {}
    with timed(times, "load"):
        f = fixes_of(work.trails)
        p = pieces_of(f, RULES.max_gap_ns)
    with timed(times, "index"):
        tree = _build(p)
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
    with timed(setup, "index"):
        tree = _build(p)
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
