"""MEOS through pymeos: one ``TGeomPointSeqSet`` per subject (linear interpolation, a new
sequence after every gap longer than max_gap), an STBox prefilter (15-minute tiles cut by
MEOS, their STBoxes held as numpy arrays so each crime tests them all at once), then per
candidate tile ``at(period)`` and ``is_ever_within_distance(place, R)``."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import shapely

from benchmarks.peers.common import (
    RULES,
    Workload,
    crime_arrays,
    fixes_of,
    joined_flags,
    timed,
    timed_lookups,
)

NAME = "MEOS (pymeos)"
KIND = "segments"
_started = False


def _init() -> None:
    global _started
    if not _started:
        from pymeos import pymeos_initialize

        pymeos_initialize()
        _started = True


def _iso(ns: np.ndarray) -> np.ndarray:
    return np.datetime_as_string(ns.astype("datetime64[ns]"), unit="us").astype(object)


def _trajectories(f, max_gap_ns: int) -> list:
    """One TGeomPointSeqSet per subject, built from its text form."""
    from pymeos import TGeomPointSeqSet

    j = joined_flags(f, max_gap_ns)
    stamp = _iso(f.t)
    xs, ys = f.x.tolist(), f.y.tolist()
    starts = np.flatnonzero(np.diff(f.subject, prepend=-1)) .tolist() + [f.t.size]
    out = []
    for a, b in zip(starts[:-1], starts[1:], strict=True):
        seqs, cur = [], []
        for i in range(a, b):
            cur.append(f"POINT({xs[i]!r} {ys[i]!r})@{stamp[i]}+00")
            if not j[i]:
                seqs.append("[" + ", ".join(cur) + "]")
                cur = []
        out.append(TGeomPointSeqSet("{" + ", ".join(seqs) + "}"))
    return out


TILE = timedelta(minutes=15)


def _tiles(trajs: list):
    """MEOS cuts each subject's trajectory into 15-minute tiles (``time_split``, exact at the
    tile edges); each tile's ``bounding_box()`` STBox is kept as numpy arrays so one crime tests
    them all at once."""
    pieces, cols = [], {k: [] for k in ("s", "x0", "x1", "y0", "y1", "t0", "t1")}
    for s, tr in enumerate(trajs):
        for piece in tr.time_split(TILE):
            b = piece.bounding_box()
            pieces.append(piece)
            cols["s"].append(s)
            cols["x0"].append(b.xmin())
            cols["x1"].append(b.xmax())
            cols["y0"].append(b.ymin())
            cols["y1"].append(b.ymax())
            cols["t0"].append(b.tmin().timestamp())
            cols["t1"].append(b.tmax().timestamp())
    return pieces, {k: np.asarray(v) for k, v in cols.items()}


def _look(tiles, x, y, w0, w1):
    from pymeos import TsTzSpan

    pieces, boxes = tiles
    r = RULES.radius_m
    a, b = w0 / 1e9, w1 / 1e9
    cand = np.flatnonzero(
        (boxes["x0"] <= x + r) & (boxes["x1"] >= x - r) & (boxes["y0"] <= y + r)
        & (boxes["y1"] >= y - r) & (boxes["t0"] <= b) & (boxes["t1"] >= a))
    if cand.size == 0:
        return []
    a, b = _iso(np.array([w0, w1]))
    span = TsTzSpan(f"[{a}+00, {b}+00]")
    place = shapely.Point(x, y)
    found = set()
    for k in cand.tolist():
        s = int(boxes["s"][k])
        if s in found:
            continue
        part = pieces[k].at(span)
        if part is not None and part.is_ever_within_distance(place, r):
            found.add(s)
    return sorted(found)


def run(work: Workload) -> dict:
    _init()
    times: dict = {}
    with timed(times, "load"):
        f = fixes_of(work.trails)
        trajs = _trajectories(f, RULES.max_gap_ns)
    with timed(times, "index"):
        tiles = _tiles(trajs)
    with timed(times, "query"):
        cx, cy, w0, w1 = crime_arrays(work.crimes)
        pairs = set()
        for i in range(cx.size):
            pairs |= {(i, str(f.names[s])) for s in _look(tiles, cx[i], cy[i], w0[i],
                                                           w1[i])}
    return {"times": times, "pairs": pairs}


def lookups(work: Workload, queries: pd.DataFrame) -> dict:
    _init()
    setup: dict = {}
    with timed(setup, "load"):
        f = fixes_of(work.trails)
        trajs = _trajectories(f, RULES.max_gap_ns)
    with timed(setup, "index"):
        tiles = _tiles(trajs)
    cx, cy, w0, w1 = crime_arrays(queries)
    lat, pairs = timed_lookups(cx.size, lambda i: _look(tiles, cx[i], cy[i], w0[i], w1[i]),
                               f.names)
    return {"latency": lat, "pairs": pairs, "setup": setup}
