"""Workloads, the reference hit set, path pieces and the exact refinement shared by the peers.

Every peer gets the same trails DataFrame (``subject``, ``time``, ``x``, ``y``) and crimes
DataFrame and returns the set of (crime row, subject name) pairs it finds. The contract the
peers can all express is the vicinity contract with precision not counted: the path is
piecewise linear in time between fixes at most ``max_gap`` apart, and a hit is a pair with an
instant of the crime window at which the path is within ``R`` of the crime. Points-only peers
(GeoPandas) can only see fixes: they are checked against the pairs with ``fixes_in > 0``.

Times are rounded to whole seconds so that every peer's clock (MEOS keeps microseconds,
PostGIS measures M in float epoch seconds) represents them exactly.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from trailmatch import synthetic
from trailmatch.allocator import tune_allocator
from trailmatch.rules import Rules

# Every peer runs in this process with the allocator settings the trailmatch command uses
# (trailmatch/allocator.py): freed big arrays are reused, for the peers as for trailmatch.
tune_allocator()

RULES = Rules(radius_m=100.0, max_gap_s=300.0, count_precision=False)
NS = 10**9


@dataclass
class Workload:
    name: str
    scale: float
    trails: pd.DataFrame
    crimes: pd.DataFrame
    days: int

    @property
    def n_fixes(self) -> int:
        return len(self.trails)


def _whole_seconds(s: pd.Series) -> pd.Series:
    return s.dt.round("1s")


def national_day(scale: float = 1.0) -> Workload:
    """(a) 5,000 subjects x 1,440 fixes, 20,000 crimes, scaled."""
    n_subjects = max(int(round(5000 * scale)), 2)
    n_crimes = max(int(round(20_000 * scale)), 10)
    trails = synthetic.trails(n_subjects=n_subjects, fixes_per_day=1440, days=1)
    trails["time"] = _whole_seconds(trails["time"])
    crimes = synthetic.crimes(n_crimes=n_crimes, days=1)
    crimes["time_from"] = _whole_seconds(crimes["time_from"])
    crimes["time_to"] = _whole_seconds(crimes["time_to"])
    return Workload("a national day", scale, trails[["subject", "time", "x", "y"]], crimes, 1)


def month(scale: float = 1.0, days: int = 30) -> Workload:
    """(b) 30 days x 1,000 subjects x 1,440 fixes (43 M at scale 1), with the last day's
    crimes (20,000 x scale)."""
    n_subjects = max(int(round(1000 * scale)), 2)
    n_crimes = max(int(round(20_000 * scale)), 10)
    trails = synthetic.trails(n_subjects=n_subjects, fixes_per_day=1440, days=days)
    trails["time"] = _whole_seconds(trails["time"])
    last = (pd.Timestamp("2025-01-20") + pd.Timedelta(days=days - 1)).strftime("%Y-%m-%d")
    crimes = synthetic.crimes(n_crimes=n_crimes, days=1, start=last, seed=2)
    crimes["time_from"] = _whole_seconds(crimes["time_from"])
    crimes["time_to"] = _whole_seconds(crimes["time_to"])
    return Workload("b 30 days", scale, trails[["subject", "time", "x", "y"]], crimes, days)


def adhoc_lookups(work: Workload, n: int = 1000, seed: int = 5) -> pd.DataFrame:
    """(c) single look-ups: a place, a 2-hour window. Half fall anywhere in the area and the
    time span; half are put within 150 m of a random fix with the window around its time (an
    officer asks about places where something happened, and a look-up that finds nobody
    checks little)."""
    rng = np.random.default_rng(seed)
    t = ns_of(work.trails["time"])
    x, y = work.trails["x"].to_numpy(), work.trails["y"].to_numpy()
    t0, t1 = t.min(), t.max() - 2 * 3600 * NS
    begin = t0 + (rng.uniform(0, 1, n) * (t1 - t0)).astype(np.int64)
    px = rng.uniform(x.min(), x.max(), n)
    py = rng.uniform(y.min(), y.max(), n)
    near = rng.uniform(0, 1, n) < 0.5
    pick = rng.integers(0, t.size, n)
    px = np.where(near, x[pick] + rng.uniform(-150, 150, n), px)
    py = np.where(near, y[pick] + rng.uniform(-150, 150, n), py)
    begin = np.where(near, t[pick] - rng.integers(0, 2 * 3600, n) * NS, begin)
    begin = begin // NS * NS
    return pd.DataFrame({
        "crime_reference": [f"Q{i}" for i in range(n)],
        "police_force": "Hampshire", "crime_type": "lookup",
        "x": px, "y": py,
        "time_from": pd.to_datetime(begin, unit="ns", utc=True),
        "time_to": pd.to_datetime(begin + 2 * 3600 * NS, unit="ns", utc=True),
    })


def ns_of(times: pd.Series) -> np.ndarray:
    """UTC instants as int64 nanoseconds."""
    naive = times.astype("datetime64[ns, UTC]").dt.tz_localize(None)
    return naive.to_numpy(dtype="datetime64[ns]").view(np.int64)


def crime_arrays(crimes: pd.DataFrame):
    """x, y, window start and end (int64 ns) of each crime."""
    w0 = ns_of(crimes["time_from"])
    w1 = ns_of(crimes["time_to"])
    return (crimes["x"].to_numpy(np.float64), crimes["y"].to_numpy(np.float64), w0, w1)


@dataclass
class Fixes:
    """The trails as sorted flat arrays (what every peer starts from)."""
    names: np.ndarray
    subject: np.ndarray
    t: np.ndarray
    x: np.ndarray
    y: np.ndarray


def fixes_of(trails: pd.DataFrame) -> Fixes:
    subj = trails["subject"]
    if isinstance(subj.dtype, pd.CategoricalDtype):
        code = subj.cat.codes.to_numpy().astype(np.int32)
        names = np.asarray(subj.cat.categories.astype(str))
    else:
        code, uniques = pd.factorize(subj, sort=True)
        code = code.astype(np.int32)
        names = np.asarray(uniques, dtype=str)
    t = ns_of(trails["time"])
    order = np.lexsort((t, code))
    return Fixes(names, code[order], t[order], trails["x"].to_numpy(np.float64)[order],
                 trails["y"].to_numpy(np.float64)[order])


@dataclass
class Pieces:
    """The path cut into pieces: each joined segment, and each fix joined to neither
    neighbour (a degenerate piece with a == b)."""
    subject: np.ndarray
    ta: np.ndarray
    tb: np.ndarray
    xa: np.ndarray
    ya: np.ndarray
    xb: np.ndarray
    yb: np.ndarray
    extra: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(self.ta.size)


def joined_flags(f: Fixes, max_gap_ns: int) -> np.ndarray:
    """j[i]: fix i and fix i+1 are joined by a segment."""
    dt = np.diff(f.t)
    j = (f.subject[1:] == f.subject[:-1]) & (dt > 0) & (dt <= max_gap_ns)
    return np.append(j, False)


def pieces_of(f: Fixes, max_gap_ns: int) -> Pieces:
    j = joined_flags(f, max_gap_ns)
    prev = np.concatenate([[False], j[:-1]])
    seg = np.flatnonzero(j)
    iso = np.flatnonzero(~j & ~prev)
    a = np.concatenate([seg, iso])
    b = np.concatenate([seg + 1, iso])
    order = np.argsort(a, kind="stable")
    a, b = a[order], b[order]
    return Pieces(f.subject[a], f.t[a], f.t[b], f.x[a], f.y[a], f.x[b], f.y[b])


def refine(p: Pieces, piece: np.ndarray, cx, cy, w0, w1, radius: float) -> np.ndarray:
    """Exact test of candidate (piece, crime) pairs: is the piece, clipped to the crime's
    window, ever within ``radius``? Linear motion in time: clip [ta, tb] to [w0, w1],
    interpolate the clipped ends, distance from the crime to that sub-segment."""
    ta, tb = p.ta[piece], p.tb[piece]
    lo = np.maximum(ta, w0)
    hi = np.minimum(tb, w1)
    ok = lo <= hi
    span = (tb - ta).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        fa = np.where(span > 0, (lo - ta) / span, 0.0)
        fb = np.where(span > 0, (hi - ta) / span, 0.0)
    dx = p.xb[piece] - p.xa[piece]
    dy = p.yb[piece] - p.ya[piece]
    ax = p.xa[piece] + fa * dx
    ay = p.ya[piece] + fa * dy
    bx = p.xa[piece] + fb * dx
    by = p.ya[piece] + fb * dy
    ux, uy = bx - ax, by - ay
    uu = ux * ux + uy * uy
    with np.errstate(invalid="ignore", divide="ignore"):
        s = np.where(uu > 0, ((cx - ax) * ux + (cy - ay) * uy) / uu, 0.0)
    s = np.clip(s, 0.0, 1.0)
    ex = ax + s * ux - cx
    ey = ay + s * uy - cy
    return ok & (ex * ex + ey * ey <= radius * radius)


def pair_set(crime_rows, subject_names) -> set[tuple[int, str]]:
    return set(zip(np.asarray(crime_rows).tolist(), np.asarray(subject_names).tolist(),
                   strict=True))


def agreement(found: set, truth: set) -> str:
    if found == truth:
        return f"identical ({len(truth):,} pairs)"
    return (f"DIFFERS: {len(found & truth):,} common, {len(found - truth):,} extra, "
            f"{len(truth - found):,} missing of {len(truth):,}")


@contextmanager
def timed(out: dict, key: str):
    t = time.perf_counter()
    try:
        yield
    finally:
        out[key] = out.get(key, 0.0) + time.perf_counter() - t


def timed_lookups(n: int, look, names: np.ndarray) -> tuple[np.ndarray, set]:
    """Look-ups one at a time: ``look(i)`` returns the subject codes found for query i and is
    the only thing timed. Returns (latencies s, set of (query, subject name))."""
    lat = np.empty(n)
    pairs: set = set()
    for i in range(n):
        t = time.perf_counter()
        found = look(i)
        lat[i] = time.perf_counter() - t
        pairs |= {(i, str(names[s])) for s in found}
    return lat, pairs


def _piece_tree(work: Workload, shapes, build, times: dict):
    """(fixes, pieces, index) of a piece-indexing peer, its load and index stages timed."""
    with timed(times, "load"):
        f = fixes_of(work.trails)
        p = pieces_of(f, RULES.max_gap_ns)
        shaped = shapes(p)
    with timed(times, "index"):
        tree = build(p, shaped)
    return f, p, tree


def run_piece_peer(work: Workload, shapes, build, query) -> dict:
    """A peer that indexes the path pieces: ``shapes(p)`` turns them into its structures (load
    stage), ``build(p, shaped)`` indexes them, ``query(tree, p, cx, cy, w0, w1)`` returns
    (crime rows, subject codes) of the hits."""
    times: dict = {}
    f, p, tree = _piece_tree(work, shapes, build, times)
    with timed(times, "query"):
        cx, cy, w0, w1 = crime_arrays(work.crimes)
        crime, subj = query(tree, p, cx, cy, w0, w1)
        pairs = pair_set(crime, f.names[subj])
    return {"times": times, "pairs": pairs}


def piece_peer_lookups(work: Workload, queries: pd.DataFrame, shapes, build, query) -> dict:
    """Workload (c) for a peer as in ``run_piece_peer``: its structure built once, then each
    look-up timed alone."""
    setup: dict = {}
    f, p, tree = _piece_tree(work, shapes, build, setup)
    cx, cy, w0, w1 = crime_arrays(queries)

    def look(i):
        return np.unique(query(tree, p, cx[i:i + 1], cy[i:i + 1], w0[i:i + 1], w1[i:i + 1])[1])

    lat, pairs = timed_lookups(len(queries), look, f.names)
    return {"latency": lat, "pairs": pairs, "setup": setup}


def machine_note() -> str:
    load = os.getloadavg()
    return f"{os.cpu_count()} cores, load average {load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f}"


def with_gaps(trails: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """``trails`` (a categorical subject, one day) with three stretches of 10 min to 4 h dropped
    from each subject's day: the tag quiet indoors or uncharged, so the gap index has work."""
    code = trails["subject"].cat.codes.to_numpy()
    minute = (trails["time"] - trails["time"].dt.floor("D")).dt.total_seconds().to_numpy() / 60
    drop = np.zeros(len(trails), dtype=bool)
    n = int(code.max()) + 1
    for _ in range(3):
        start = rng.uniform(0, 1440, size=n)
        length = rng.uniform(10, 240, size=n)
        drop |= (minute >= start[code]) & (minute < (start + length)[code])
    return trails[~drop].reset_index(drop=True)


def scale_env(default: float = 1.0) -> float:
    return float(os.environ.get("TRAILMATCH_BENCH_SCALE", default))
