"""``eliminate_distributed``: the coverage rows of ``eliminate``, computed partition by partition
(in this process or on a Dask cluster), identical to a single-process run.

Elimination needs more than matching does. Matching a crime needs only the fixes within
``max_gap`` of its window (``plan.py``); a coverage row also depends on

- the subject's **monitoring**: its activation periods, or without any, its first to its last
  fix over the *whole* trail;
- every **gap** (consecutive fixes more than ``max_gap`` apart) meeting the window, whose fixes
  may lie days away (a tag silent over a weekend);
- the subject's **first and last fix**, which bound the unwatched edges of an activation period;
- the **universe** of subjects: every (crime, subject) pair has a row, including subjects with
  no fix anywhere near the partition.

So the run has two passes. Pass 1, one task per UTC day of the trail: read the day and keep, per
subject, its first and last fix of that day (``fix_ends``; every row of a duplicated instant, so
a partition de-duplicates them as a whole-trail run does). From these the client knows the
universe, each subject's first and last fix over the whole trail (monitoring), and, for any
instant, each subject's last fix before it and first fix after it.

Pass 2, one task per partition of ``plan_partitions`` (the UTC day of the crimes' windows, as
for matching): read the whole UTC days that the partition's stretch overlaps, plus a **halo**:
per subject, its last fix before those days and its first fix after them (from pass 1); then
keep the stretch ``[A, B] = [min w0 − max_gap, max w1 + max_gap]`` and, per subject, the last
fix before ``A`` and the first after ``B`` among what it has (``stretch_with_halo``). Per
subject the partition then holds a contiguous run of its whole-trail fixes that contains all of
them in ``[A, B]`` and one more on each side (where there is one). Why that gives the very rows
of a whole-trail run, for each crime of the partition (window ``W = [w0, w1]``, so
``A <= w0 − max_gap`` and ``w1 + max_gap <= B``):

- hits: as for matching, the stretch ``[w0 − max_gap, w1 + max_gap]`` is inside the run;
- fixes in the window: all lie in ``[A, B]``; halo fixes lie outside ``W``;
- gaps meeting ``W`` (``t_a < w1``, ``t_b > w0``): if ``t_a < A`` then ``a`` is the subject's
  last fix before ``A`` (``b`` is after ``w0 >= A``), the halo; likewise ``b`` after ``B``. Any
  two consecutive fixes of the run are consecutive in the whole trail (nothing lies between a
  halo fix and the run), so the partition's gaps are whole-trail gaps, with the same fixes:
  the same count, the same prism tests, the same worst gap;
- the unwatched edges of an activation period (before the first fix, after the last): the
  kernel tests the stretch from the period's start to the subject's first fix only when that
  fix is after ``w0``; a subject with a fix before ``A`` has a halo fix before ``w0``, so the
  test is skipped in both runs; one without has the same first fix in both. Likewise the end;
- monitoring and the universe are computed once on the client from pass 1 and handed to every
  task.

The kernels evaluate each row relative to its crime's window, so the arithmetic is the same;
the client puts the blocks of rows (one per crime) in the single-process order.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from trailmatch.eliminate import (
    CoverageColumns,
    check_activations,
    coverage_columns,
    coverage_frame,
    crime_order,
    empty_coverage,
    monitoring_periods,
    subject_universe,
)
from trailmatch.index.segments import trail_path
from trailmatch.rules import Rules
from trailmatch.scale.partition import _max_rss_mb, read_fixes
from trailmatch.scale.plan import Partition, plan_partitions
from trailmatch.scale.run import RunStats, _check_each_crime_once, run_tasks
from trailmatch.store.layout import PARTITION_GLOB, Layout, day_number, days_of_names
from trailmatch.trails import prepare_crimes, prepare_trail, to_utc_ns
from trailmatch.units import DAY_NS

log = logging.getLogger(__name__)

ALL_TIME = (np.iinfo(np.int64).min + 1, np.iinfo(np.int64).max - 1)
MAX_DAYS = 100 * 366  # calendar days read one by one from a source that cannot list its own


def subject_names(fixes: pd.DataFrame) -> np.ndarray:
    """The subjects a trail built from ``fixes`` knows (``prepare_trail``: a categorical's
    categories, else the distinct values)."""
    subj = fixes["subject"]
    if isinstance(subj.dtype, pd.CategoricalDtype):
        return np.asarray(subj.cat.categories.astype(str), dtype=object)
    return np.asarray(pd.unique(subj.dropna().astype(str)), dtype=object)


def _subject_text(fixes: pd.DataFrame) -> np.ndarray:
    subj = fixes["subject"]
    if isinstance(subj.dtype, pd.CategoricalDtype):  # one string per category, not per fix
        names = np.asarray(subj.cat.categories.astype(str), dtype=object)
        return names[subj.cat.codes.to_numpy()]
    return subj.astype(str).to_numpy(dtype=object)


def _subject_codes(fixes: pd.DataFrame) -> np.ndarray:
    """An integer per subject (not comparable across frames)."""
    subj = fixes["subject"]
    if isinstance(subj.dtype, pd.CategoricalDtype):  # no string per fix
        return subj.cat.codes.to_numpy().astype(np.int64)
    return pd.factorize(subj.astype(str))[0]


def fix_ends(fixes: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``fixes`` that are the first or the last fix of their subject within their
    UTC day — every row at such an instant, so duplicates resolve as in the whole trail."""
    if not len(fixes):
        return fixes
    missing = fixes["subject"].isna().to_numpy()
    if missing.any():  # as prepare_trail says it, whichever partition the fix would be in
        raise ValueError(f"trails: row {int(np.flatnonzero(missing)[0])}: missing subject")
    t = to_utc_ns(fixes["time"], "trails.time")
    code = _subject_codes(fixes)
    keys = pd.DataFrame({"code": code, "day": np.floor_divide(t, DAY_NS), "t": t})
    by = keys.groupby(["code", "day"], sort=False)["t"]
    keep = ((t == by.transform("min").to_numpy()) | (t == by.transform("max").to_numpy()))
    return fixes[keep]


@dataclass
class DayEnds:
    """Pass 1's answer for one UTC day."""

    ends: pd.DataFrame  # fix_ends of the day's fixes
    names: np.ndarray  # subject_names of the day's fixes


def day_ends(source, lo_ns: int, hi_ns: int, read_options: dict | None = None) -> DayEnds:
    """Pass 1 task: read ``[lo_ns, hi_ns]`` (one UTC day of the trail) and keep its ends."""
    fixes = read_fixes(source, lo_ns, hi_ns, read_options)
    return DayEnds(fix_ends(fixes), subject_names(fixes))


@dataclass
class PartitionCoverage:
    label: str
    rows: np.ndarray  # the crime rows this partition evaluated, ascending
    n_fixes: int  # fixes in its trail (its days and the halo, after de-duplication)
    n_halo: int  # halo rows sent with it
    crime_rows: np.ndarray  # crime row of each block of coverage rows, in block order
    columns: CoverageColumns
    seconds_read: float
    seconds_match: float
    max_rss_mb: float


def _with_halo(fixes: pd.DataFrame, halo: pd.DataFrame) -> pd.DataFrame:
    if not len(halo):
        return fixes
    if not len(fixes):
        return halo
    a, b = fixes["subject"], halo["subject"]
    if isinstance(a.dtype, pd.CategoricalDtype) and isinstance(b.dtype, pd.CategoricalDtype):
        subject = pd.api.types.union_categoricals([a.array, b.array], sort_categories=True,
                                                  ignore_order=True)
    else:
        subject = pd.concat([a.astype(str), b.astype(str)], ignore_index=True).to_numpy()
    out = pd.concat([fixes.drop(columns="subject"), halo.drop(columns="subject")],
                    ignore_index=True)
    out.insert(0, "subject", subject)
    return out


def stretch_with_halo(fixes: pd.DataFrame, lo_ns: int, hi_ns: int) -> pd.DataFrame:
    """The rows of ``fixes`` in ``[lo_ns, hi_ns]`` and, per subject, its last fix before and
    its first fix after (every row at those instants)."""
    if not len(fixes):
        return fixes
    t = to_utc_ns(fixes["time"], "trails.time")
    inside = (t >= lo_ns) & (t <= hi_ns)
    if inside.all():
        return fixes
    keep = inside.copy()
    code = _subject_codes(fixes)
    for side, best in ((t < lo_ns, "max"), (t > hi_ns, "min")):
        if side.any():
            edge = pd.Series(t[side]).groupby(code[side]).agg(best)
            want = np.full(code.max() + 1, np.iinfo(np.int64).min, dtype=np.int64)
            want[edge.index.to_numpy()] = edge.to_numpy()
            keep |= side & (t == want[code])
    return fixes[keep]


def eliminate_partition(source, part: Partition, lo_ns: int, hi_ns: int, halo: pd.DataFrame,
                        crimes: pd.DataFrame, rules: Rules, context,
                        read_options: dict | None = None) -> PartitionCoverage:
    """Pass 2 task: the coverage rows of ``crimes`` (the partition's rows of the crimes frame)
    from the fixes in ``[lo_ns, hi_ns]`` (whole UTC days) and the ``halo`` (the fixes bounding
    them), cut down to the partition's stretch and the fixes bounding it; ``context`` is
    ``(names, monitoring)``, the universe and its monitoring periods."""
    names, monitoring = context
    started = time.perf_counter()
    fixes = _with_halo(read_fixes(source, lo_ns, hi_ns, read_options), halo)
    # the store gives whole days; the kernels need only the partition's stretch and its halo
    fixes = stretch_with_halo(fixes, part.lo_ns, part.hi_ns)
    read = time.perf_counter()
    trail = prepare_trail(fixes)
    del fixes
    prepared = prepare_crimes(crimes, rules.buffer_before_ns, rules.buffer_after_ns)
    path = trail_path(trail, rules.max_gap_s, rules.count_precision)
    cols = coverage_columns(trail, path, prepared, rules, names, monitoring)
    return PartitionCoverage(part.label, part.rows, trail.n_fixes, len(halo),
                             part.rows[cols.order], cols, read - started,
                             time.perf_counter() - read, _max_rss_mb())


def _days_of(source, lo_ns: int, hi_ns: int) -> list[int]:
    """UTC days (since 1970-01-01) the trail may have fixes on within ``[lo_ns, hi_ns]``: the
    store's day files, or for another source every calendar day of the stretch."""
    first, last = lo_ns // DAY_NS, hi_ns // DAY_NS
    if isinstance(source, str) and "://" in source:
        import fsspec

        fs, root = fsspec.core.url_to_fs(source)
        root = root.rstrip("/")
        if not fs.isdir(root):
            raise FileNotFoundError(f"trail store {source}: not found")
        days = days_of_names(Path(f).stem for f in fs.glob(f"{root}/{PARTITION_GLOB}"))
    elif isinstance(source, str | os.PathLike):
        if not Path(source).is_dir():  # no days would look like "no fixes"
            raise FileNotFoundError(f"trail store {source}: no such directory")
        days = Layout(source).days()
    else:
        if last - first > MAX_DAYS:
            raise ValueError(f"the stretch [start_ns, end_ns] spans {last - first + 1} days; "
                             f"a trail source is read day by day: give at most {MAX_DAYS}")
        return list(range(first, last + 1))
    return [n for n in map(day_number, days) if first <= n <= last]


def _run(client, fn, name: str, calls: list[tuple[str, tuple]], progress: bool | None) -> list:
    if client is None:
        return [fn(*args) for _, args in calls]
    return run_tasks(client, fn, name, calls, progress)


class _Ends:
    """Pass 1 gathered: every subject's first and last fix per UTC day, sorted by subject
    (universe code) and time, to cut halos from."""

    def __init__(self, ends: pd.DataFrame | None, names: np.ndarray) -> None:
        self.n_u = names.size
        if ends is None:  # no fix at all: subjects from activation periods only
            self.rows = pd.DataFrame()
            self.u = self.t = np.zeros(0, dtype=np.int64)
            return
        self.rows = ends.reset_index(drop=True)
        self.u = np.searchsorted(names, _subject_text(self.rows)).astype(np.int64)
        self.t = to_utc_ns(self.rows["time"], "trails.time")
        order = np.lexsort((self.t, self.u))
        self.rows = self.rows.iloc[order].reset_index(drop=True)
        self.u, self.t = self.u[order], self.t[order]

    def spans(self):
        """(has_fix, first_fix, last_fix) per universe code, over the whole trail."""
        has = np.zeros(self.n_u, dtype=bool)
        first = np.zeros(self.n_u, dtype=np.int64)
        last = np.zeros(self.n_u, dtype=np.int64)
        if self.u.size:
            head = np.r_[True, self.u[1:] != self.u[:-1]]
            tail = np.r_[self.u[1:] != self.u[:-1], True]
            has[self.u[head]] = True
            first[self.u[head]] = self.t[head]
            last[self.u[tail]] = self.t[tail]
        return has, first, last

    def halo(self, lo_ns: int, hi_ns: int) -> pd.DataFrame:
        """Per subject, its last fix before ``lo_ns`` and its first fix after ``hi_ns`` (every
        row at those instants)."""
        keep = np.zeros(self.t.size, dtype=bool)
        for side, pick in ((self.t < lo_ns, -1), (self.t > hi_ns, 0)):
            idx = np.flatnonzero(side)
            if not idx.size:
                continue
            u = self.u[idx]
            edge = np.r_[u[1:] != u[:-1], True] if pick == -1 else np.r_[True, u[1:] != u[:-1]]
            best = np.full(self.n_u, np.iinfo(np.int64).min, dtype=np.int64)
            best[u[edge]] = self.t[idx[edge]]
            keep[idx[self.t[idx] == best[u]]] = True
        return self.rows[keep]


def eliminate_distributed(trails, crimes: pd.DataFrame, rules: Rules | None = None, client=None,
                          *, activations: pd.DataFrame | None = None,
                          start_ns: int | None = None, end_ns: int | None = None,
                          read_options: dict | None = None, progress: bool | None = None,
                          stats: RunStats | None = None) -> pd.DataFrame:
    """The coverage rows of ``crimes``, identical to ``eliminate(whole trail, crimes, rules,
    activations=activations)``.

    ``trails``: a trails DataFrame (the whole trail; the client sends each task its slice), or
    a trail store path or fsspec URL, or an object with ``read_window(start_ns, end_ns)`` /
    ``read(start, end)``, whose fixes in ``[start_ns, end_ns]`` (required then) are the whole
    trail; workers read their own days. ``client``: a ``dask.distributed.Client``, or None
    to run the tasks one after another here. ``stats`` (``RunStats``) is filled when given;
    its ``hits`` counts the rows with status ``hit``.
    """
    rules = rules or Rules()
    started = time.perf_counter()
    check_activations(activations)
    prepared = prepare_crimes(crimes, rules.buffer_before_ns, rules.buffer_after_ns)
    frame = prepared.frame
    is_frame = isinstance(trails, pd.DataFrame)
    if not is_frame and (start_ns is None or end_ns is None):
        raise ValueError("a trail store or source needs start_ns and end_ns: the stretch of it "
                         "that is the whole trail (monitoring and gaps are taken over it)")
    lo, hi = (ALL_TIME[0] if start_ns is None else int(start_ns),
              ALL_TIME[1] if end_ns is None else int(end_ns))
    if is_frame:
        t_all = to_utc_ns(trails["time"], "trails.time")
        if start_ns is not None or end_ns is not None:
            trails = trails[(t_all >= lo) & (t_all <= hi)]
            t_all = t_all[(t_all >= lo) & (t_all <= hi)]

        def slices(a: int, b: int):
            return trails[(t_all >= a) & (t_all <= b)]
        ends = [DayEnds(fix_ends(trails), subject_names(trails))]
    else:
        def slices(a: int, b: int):
            return trails
        ends = _run(client, day_ends, "eliminate-day-ends",
                    [(str(d), (trails, max(lo, d * DAY_NS), min(hi, (d + 1) * DAY_NS - 1),
                               read_options)) for d in _days_of(trails, lo, hi)], progress)

    names = subject_universe(np.concatenate([e.names for e in ends] + [np.zeros(0, object)]),
                             activations)
    if prepared.n == 0 or names.size == 0:
        return empty_coverage()
    found = [e.ends for e in ends if len(e.ends)]
    gathered = _Ends(pd.concat(found, ignore_index=True) if found else None, names)
    monitoring = monitoring_periods(names, *gathered.spans(), activations)
    context = (names, monitoring)
    if client is not None:  # once to every worker, not once per task
        context = client.scatter(context, broadcast=True, hash=False)

    first_pass = time.perf_counter() - started
    parts = plan_partitions(prepared, rules)
    calls = []
    for p in parts:
        a = max(lo, (p.lo_ns // DAY_NS) * DAY_NS)
        b = min(hi, (p.hi_ns // DAY_NS + 1) * DAY_NS - 1)
        calls.append((p.label, (slices(a, b), p, a, b, gathered.halo(a, b), frame.iloc[p.rows],
                                rules, context, read_options)))
    results = _run(client, eliminate_partition, "eliminate-partition", calls, progress)
    _check_each_crime_once(results, prepared.n)
    coverage = _assemble(results, frame, names)
    if stats is not None:
        stats.partitions = len(parts)
        stats.fixes = sum(r.n_fixes for r in results)
        stats.hits = int((coverage["status"] == "hit").sum())
        stats.seconds = time.perf_counter() - started
        stats.seconds_first_pass = first_pass
        stats.per_partition = [
            {"partition": r.label, "crimes": int(r.rows.size), "fixes": r.n_fixes,
             "halo": r.n_halo, "seconds_read": r.seconds_read,
             "seconds_match": r.seconds_match, "max_rss_mb": r.max_rss_mb} for r in results]
    log.info("%d partitions, %d coverage rows in %.1f s", len(parts), len(coverage),
             time.perf_counter() - started)
    return coverage


def _assemble(results: list[PartitionCoverage], frame: pd.DataFrame, names: np.ndarray
              ) -> pd.DataFrame:
    """The partitions' blocks of rows (one block of ``len(names)`` rows per crime) in the
    single-process order."""
    order = crime_order(frame)
    n_c, n_u = order.size, names.size
    block_of = np.empty(n_c, dtype=np.int64)
    block_of[np.concatenate([r.crime_rows for r in results])] = np.arange(n_c)
    take = block_of[order]

    def column(name: str) -> np.ndarray:
        whole = np.concatenate([getattr(r.columns, name) for r in results])
        return whole.reshape(n_c, n_u)[take].reshape(-1)

    cols = CoverageColumns(order, *(column(f) for f in (
        "status", "fixes_in_window", "covered_fraction", "gaps", "worst_gap_from",
        "worst_gap_to", "min_speed_needed_mps")))
    return coverage_frame(frame, names, cols)
