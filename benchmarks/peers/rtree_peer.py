"""rtree (libspatialindex): every path piece as a 3-D box (x, y, t) bulk-loaded from numpy
arrays; each crime's box (place +- R, window) queried with ``intersection_v``, candidates
refined exactly with numpy (the piece clipped to the window, point-segment distance)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from rtree import index as rindex

from benchmarks.peers.common import (
    RULES,
    Workload,
    piece_peer_lookups,
    refine,
    run_piece_peer,
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
    return run_piece_peer(work, _no_shapes, _index, _query)


def lookups(work: Workload, queries: pd.DataFrame) -> dict:
    return piece_peer_lookups(work, queries, _no_shapes, _index, _query)


def _no_shapes(p):
    return None  # the boxes are built from the piece arrays in the index stage


def _index(p, _):
    return _build(p)
