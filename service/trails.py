"""Reading the trail store for the service: a subject's fixes in a window, a hit's evidence
(``trailmatch.evidence``) from them, and ad-hoc proximity — all from the per-day persistent index
(``trailmatch.store.day_index``), so a request memory-maps a day once and never scans the store.

Numba's default threading layer must not run parallel kernels from two threads at once, and
the index's open-day cache is a plain dict: every engine call here holds ``ENGINE_LOCK``.
Proximity queries run on one dedicated thread (``in_engine_thread``): they queue for it in
arrival order, instead of a dozen pool threads convoying on the lock and the GIL.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TypeVar

import numba as nb
import numpy as np

from trailmatch.crs import OSGB36_GRID, WGS84, project
from trailmatch.evidence import HitEvidence, fixes_evidence, window_ns
from trailmatch.index.query import hit_fields, hit_pairs
from trailmatch.rules import Rules
from trailmatch.store import Store
from trailmatch.store.day_index import day_index
from trailmatch.trails import SOURCE_NAMES, sources_text
from trailmatch.units import DAY_NS

ENGINE_LOCK = threading.Lock()
_ENGINE_THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="trailmatch-engine")
T = TypeVar("T")


async def in_engine_thread(fn: Callable[..., T], *args, **kwargs) -> T:
    """Run ``fn`` on the service's one engine thread (FIFO), off the event loop."""
    return await asyncio.get_running_loop().run_in_executor(_ENGINE_THREAD,
                                                            partial(fn, *args, **kwargs))


def rules_from_record(record: dict | None, fallback: Rules) -> Rules:
    """The Rules a run recorded (unknown keys ignored, missing ones from ``fallback``)."""
    if not record:
        return fallback
    names = {f.name for f in dataclasses.fields(Rules)}
    values = {k: v for k, v in record.items() if k in names}
    return dataclasses.replace(fallback, **values)


@dataclass
class Fixes:
    """One subject's fixes, sorted by time (metres in the working CRS)."""

    t: np.ndarray
    x: np.ndarray
    y: np.ndarray
    precision: np.ndarray
    source: np.ndarray

    @property
    def n(self) -> int:
        return int(self.t.size)

    def take(self, mask: np.ndarray) -> Fixes:
        return Fixes(self.t[mask], self.x[mask], self.y[mask], self.precision[mask],
                     self.source[mask])

    def source_names(self) -> list[str]:
        return [SOURCE_NAMES.get(int(c), "unknown") for c in self.source]


def _empty_fixes() -> Fixes:
    return Fixes(np.empty(0, np.int64), np.empty(0), np.empty(0), np.empty(0),
                 np.empty(0, np.uint8))


class TrailAccess:
    """The trail store seen through the per-day index, for one set of rules."""

    def __init__(self, store_dir: Path, rules: Rules) -> None:
        self.store_dir = Path(store_dir)
        self.store = Store(self.store_dir)
        self.rules = rules

    def partitions(self) -> dict[str, Path]:
        """Day (YYYY-MM-DD) -> partition file, as the persistent index lays the store out."""
        return self.store.layout.partitions()

    @staticmethod
    def _day(ns: int) -> str:
        return str(np.datetime64(int(ns) // DAY_NS, "D"))

    def _subject_in_day(self, day: str, partition: Path, subject: str) -> Fixes:
        with ENGINE_LOCK:
            trail, _ = day_index(self.store_dir, day, partition, self.rules)
        codes = np.flatnonzero(np.asarray(trail.subjects) == subject)
        if codes.size == 0:
            return _empty_fixes()
        a, b = int(trail.starts[codes[0]]), int(trail.starts[codes[0] + 1])
        return Fixes(np.asarray(trail.t[a:b]), np.asarray(trail.x[a:b]),
                     np.asarray(trail.y[a:b]), np.asarray(trail.precision[a:b]),
                     np.asarray(trail.source[a:b]))

    def subject_fixes(self, subject: str, lo_ns: int, hi_ns: int) -> Fixes:
        """Every fix of ``subject`` with ``lo_ns <= t <= hi_ns``."""
        parts = self.partitions()
        days = [self._day(d * DAY_NS) for d in range(lo_ns // DAY_NS, hi_ns // DAY_NS + 1)]
        found = [self._subject_in_day(d, parts[d], subject) for d in days if d in parts]
        if not found:
            return _empty_fixes()
        fixes = Fixes(*(np.concatenate([getattr(f, k) for f in found])
                        for k in ("t", "x", "y", "precision", "source")))
        return fixes.take((fixes.t >= lo_ns) & (fixes.t <= hi_ns))

    def monitored_through(self, subject: str, lo_ns: int, hi_ns: int) -> bool:
        """Does ``[lo, hi]`` lie within the subject's monitoring, taken (without activation data)
        as from its first to its last fix in the store: a fix at or before ``lo`` and one at or
        after ``hi``. Searches outward day by day from the window, so usually one day is read."""
        parts = self.partitions()
        days = sorted(parts)
        before = [d for d in days if d <= self._day(lo_ns)][::-1]
        after = [d for d in days if d >= self._day(hi_ns)]
        has_before = any((self._subject_in_day(d, parts[d], subject).t <= lo_ns).any()
                         for d in before)
        return has_before and any((self._subject_in_day(d, parts[d], subject).t >= hi_ns).any()
                                  for d in after)

    def proximity(self, x: float, y: float, t0_ns: int, t1_ns: int,
                  radius_m: float) -> list[dict]:
        """Subjects in the vicinity of (x, y) during [t0, t1], nearest first, with the hit
        fields of the vicinity contract: a one-crime query of the index kernels
        (``hit_pairs`` then ``hit_fields``, exactly what ``match_prepared`` runs)."""
        cx, cy = np.array([float(x)]), np.array([float(y)])
        w0, w1 = np.array([int(t0_ns)], np.int64), np.array([int(t1_ns)], np.int64)
        with ENGINE_LOCK:
            # One query is microseconds of work: waking numba's thread pool costs far more,
            # and on a busy machine tens of milliseconds. The setting is per thread.
            nb.set_num_threads(1)
            trail, index = self.store.indexed_window(int(t0_ns), int(t1_ns), self.rules)
            if trail.n_fixes == 0:
                return []
            pair_crime, pair_subject = hit_pairs(index, cx, cy, w0, w1, float(radius_m))
            (found, dist, tmin, first_in, last_in, duration, fixes_in, max_prec,
             sources) = hit_fields(index, trail, pair_crime, pair_subject, cx, cy, w0, w1,
                                   float(radius_m))
        if not found.all():  # both kernels use the same arithmetic: this cannot happen
            raise AssertionError("hit_pairs and hit_fields disagree")
        rows = [{
            "subject": str(trail.subjects[pair_subject[k]]),
            "min_distance_m": float(dist[k]), "closest_time": _utc(tmin[k]),
            "first_in": _utc(first_in[k]), "last_in": _utc(last_in[k]),
            "duration_s": float(duration[k]), "fixes_in": int(fixes_in[k]),
            "max_precision_m": None if np.isnan(max_prec[k]) else float(max_prec[k]),
            "sources": sources_text(int(sources[k])),
        } for k in range(pair_subject.size)]
        return sorted(rows, key=lambda r: (r["min_distance_m"], r["subject"]))


def _utc(value_ns) -> dt.datetime:
    seconds, ns = divmod(int(value_ns), 10**9)
    return dt.datetime.fromtimestamp(seconds, dt.UTC).replace(microsecond=ns // 1000)


def joined_runs(t: np.ndarray, max_gap_ns: int) -> list[slice]:
    """Split time-sorted fixes into runs of joined fixes (consecutive, 0 < dt <= max gap)."""
    if t.size == 0:
        return []
    dt_ = np.diff(t)
    breaks = np.flatnonzero((dt_ <= 0) | (dt_ > max_gap_ns)) + 1
    edges = np.concatenate([[0], breaks, [t.size]])
    return [slice(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True)]


def crime_xy(row: dict, crs: str) -> tuple[float, float]:
    """A hit row's crime location in ``crs``: as stored when stored in it (what the nightly
    matched), else re-projected from its WGS84 lat/lon (``repository.crimes_in_rules_crs``)."""
    if row.get("crime_crs") == crs and row.get("crime_x") is not None:
        return float(row["crime_x"]), float(row["crime_y"])
    x, y = to_working(np.array([row["crime_lon"]]), np.array([row["crime_lat"]]), crs)
    return float(x[0]), float(y[0])


def hit_evidence(trails: TrailAccess, row: dict, rules: Rules) -> HitEvidence:
    """The evidence of a hit-store row (``trailmatch.evidence``, as the nightly's reports have
    it): its subject's fixes within max gap of the widened window, from the day partitions."""
    w0, w1 = window_ns(row["time_from"], row["time_to"], rules)
    fixes = trails.subject_fixes(row["subject"], w0 - rules.max_gap_ns, w1 + rules.max_gap_ns)
    cx, cy = crime_xy(row, rules.crs)
    with ENGINE_LOCK:  # pyproj transformers and the numba thread pool: one caller at a time
        return fixes_evidence(row["subject"], fixes.t, fixes.x, fixes.y, fixes.precision,
                              fixes.source, row, cx, cy, row["time_from"], row["time_to"], rules)


def lonlat(x: np.ndarray, y: np.ndarray, crs: str) -> tuple[np.ndarray, np.ndarray]:
    with ENGINE_LOCK:  # pyproj transformers are shared, and not thread-safe
        return project(x, y, crs, WGS84)


def to_working(lon: np.ndarray, lat: np.ndarray, crs: str) -> tuple[np.ndarray, np.ndarray]:
    with ENGINE_LOCK:
        return project(lon, lat, WGS84, crs)


def grid_to_working(easting: np.ndarray, northing: np.ndarray,
                    crs: str) -> tuple[np.ndarray, np.ndarray]:
    """British National Grid eastings/northings to the working CRS."""
    with ENGINE_LOCK:
        return project(easting, northing, OSGB36_GRID, crs)
