"""shapely 2 STRtree: every path piece as a 2-D LineString (a Point when isolated); each
crime point queried with ``predicate="dwithin"``, then the time overlap and the exact
refinement in numpy. (The tree is spatial only: time is filtered after.)"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from benchmarks.peers.common import (
    RULES,
    Workload,
    piece_peer_lookups,
    refine,
    run_piece_peer,
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
    return run_piece_peer(work, _geoms, _index, _query)


def lookups(work: Workload, queries: pd.DataFrame) -> dict:
    return piece_peer_lookups(work, queries, _geoms, _index, _query)


def _index(p, geoms):
    return shapely.STRtree(geoms)
