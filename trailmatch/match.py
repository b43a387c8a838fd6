"""``match(trails, crimes, rules)``: every (crime, subject) hit under the vicinity contract."""

from __future__ import annotations

import numba as nb
import numpy as np
import pandas as pd

from trailmatch.hits import HIT_COLUMNS
from trailmatch.index.query import hit_fields, hit_pairs
from trailmatch.index.segments import SegmentIndex, TrailPath, trail_path
from trailmatch.index.sweep import sweep_hits, sweep_pairs
from trailmatch.rules import Rules
from trailmatch.trails import (
    Crimes,
    Trail,
    ns_to_datetime,
    prepare_crimes,
    prepare_trail,
    sources_text,
)


def empty_hits() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype=object) for c in HIT_COLUMNS})
    for c in ("closest_time", "first_in", "last_in"):
        frame[c] = pd.Series(dtype="datetime64[ns, UTC]")
    for c in ("min_distance_m", "duration_s", "max_precision_m"):
        frame[c] = pd.Series(dtype=np.float64)
    frame["fixes_in"] = pd.Series(dtype=np.int64)
    return frame


def candidate_pairs(trail: Trail, path: SegmentIndex | TrailPath, crimes: Crimes,
                    radius_m: float) -> tuple[np.ndarray, np.ndarray]:
    """(crime row, subject code) of every hit, grouped by crime row ascending: a segment index
    is queried; a bare path (``trail_path``) is streamed past the binned crimes. Same pairs."""
    if isinstance(path, SegmentIndex):
        return hit_pairs(path, crimes.x, crimes.y, crimes.w0, crimes.w1, radius_m)
    return sweep_pairs(trail.starts, path, crimes.x, crimes.y, crimes.w0, crimes.w1, radius_m)


def match_prepared(trail: Trail, index: SegmentIndex, crimes: Crimes, rules: Rules) -> pd.DataFrame:
    """The matching step on already prepared arrays (index built with the same rules)."""
    if index.max_gap_ns != rules.max_gap_ns:
        raise ValueError("the index was built with another max gap than the rules ask for")
    if crimes.n == 0 or trail.n_fixes == 0:
        return empty_hits()
    pair_crime, pair_subject = candidate_pairs(trail, index, crimes, rules.radius_m)
    fields = hit_fields(index, trail, pair_crime, pair_subject, crimes.x, crimes.y, crimes.w0,
                        crimes.w1, rules.radius_m)
    return _hits_frame(trail, crimes, pair_crime, pair_subject, fields)


def match_streamed(trail: Trail, crimes: Crimes, rules: Rules) -> pd.DataFrame:
    """The matching step without a segment index: the crimes are binned and every subject's
    path is streamed past them once (``index/sweep.py``), which finds the hits and their
    fields in the same pass; the few hits whose closest approach lies beyond ``R`` get it from
    ``hit_fields``' walk. Same hits, same fields as ``match_prepared``."""
    if crimes.n == 0 or trail.n_fixes == 0:
        return empty_hits()
    path = trail_path(trail, rules.max_gap_s, rules.count_precision)
    pair_crime, pair_subject, fields, walk = sweep_hits(trail, path, crimes.x, crimes.y,
                                                         crimes.w0, crimes.w1, rules.radius_m)
    if walk.any():
        walked = hit_fields(path, trail, pair_crime[walk], pair_subject[walk], crimes.x,
                            crimes.y, crimes.w0, crimes.w1, rules.radius_m)
        for column, values in zip(fields, walked, strict=True):
            column[walk] = values
    return _hits_frame(trail, crimes, pair_crime, pair_subject, fields)


def _hits_frame(trail: Trail, crimes: Crimes, pair_crime: np.ndarray, pair_subject: np.ndarray,
                fields: tuple[np.ndarray, ...]) -> pd.DataFrame:
    """The (crime row, subject code) hits with their fields (``hit_fields``' arrays, in the
    pairs' order) as the sorted hits DataFrame."""
    found, dist, tmin, first_in, last_in, duration, fixes_in, max_prec, sources = fields
    if not found.all():  # both steps use the same arithmetic: this cannot happen
        raise AssertionError("the candidate search and hit_fields disagree")
    frame = crimes.frame
    # Order by force, crime reference, subject, then crime row (two rows with the same force and
    # reference keep their input order): sort integer ranks, not strings.
    keys = frame["police_force"].astype(str) + "\x00" + frame["crime_reference"].astype(str)
    crime_rank = pd.factorize(keys, sort=True)[0]
    subject_rank = np.empty(trail.n_subjects, dtype=np.int64)
    subject_rank[np.argsort(trail.subjects.astype(str), kind="stable")] = np.arange(
        trail.n_subjects)
    order = _hit_order(crime_rank[pair_crime], subject_rank[pair_subject], pair_crime,
                       max(frame.shape[0], 1))
    pair_crime, pair_subject = pair_crime[order], pair_subject[order]
    masks, mask_index = _source_codes(sources[order])
    names = [sources_text(int(m)) for m in masks]
    return pd.DataFrame({
        "crime_reference": _take_text(frame["crime_reference"], pair_crime),
        "police_force": _take_text(frame["police_force"], pair_crime),
        "crime_type": _take_text(frame["crime_type"], pair_crime),
        "subject": pd.array(trail.subjects, dtype="str").take(pair_subject),  # always text
        "min_distance_m": dist[order],
        "closest_time": ns_to_datetime(tmin[order]),
        "first_in": ns_to_datetime(first_in[order]),
        "last_in": ns_to_datetime(last_in[order]),
        "duration_s": duration[order],
        "fixes_in": fixes_in[order],
        "max_precision_m": max_prec[order],
        "sources": _take_text(pd.Series(names, dtype=object), mask_index),
    })


@nb.njit(cache=True)
def _hit_order(crime_rank, subject_rank, row, n_ranks):
    """The order of hits by crime rank, subject rank, then crime row (all three together are
    unique): a counting sort on the crime rank, then each crime's few hits by the other two."""
    n = crime_rank.size
    start = np.zeros(n_ranks + 1, dtype=np.int64)
    for p in range(n):
        start[crime_rank[p] + 1] += 1
    for g in range(n_ranks):
        start[g + 1] += start[g]
    fill = start[:-1].copy()
    order = np.empty(n, dtype=np.int64)
    for p in range(n):
        order[fill[crime_rank[p]]] = p
        fill[crime_rank[p]] += 1
    n_rows = np.int64(row.max()) + 1 if n else 1
    for g in range(n_ranks):
        a = start[g]
        b = start[g + 1]
        if b - a > 16:  # a crowded crime
            key = np.empty(b - a, dtype=np.int64)
            for j in range(a, b):
                key[j - a] = np.int64(subject_rank[order[j]]) * n_rows + row[order[j]]
            order[a:b] = order[a:b][np.argsort(key)]
            continue
        for j in range(a + 1, b):  # insertion sort
            p = order[j]
            k = j - 1
            while k >= a and (subject_rank[order[k]] > subject_rank[p] or (
                    subject_rank[order[k]] == subject_rank[p] and row[order[k]] > row[p])):
                order[k + 1] = order[k]
                k -= 1
            order[k + 1] = p
    return order


def _source_codes(sources: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the distinct source bit masks ascending, each hit's index into them): what
    ``np.unique(..., return_inverse=True)`` gives, by counting (masks are a few bits)."""
    present = np.flatnonzero(np.bincount(sources, minlength=1))
    index_of = np.zeros(present[-1] + 1 if present.size else 1, dtype=np.int64)
    index_of[present] = np.arange(present.size)
    return present, index_of[sources]


def _take_text(column: pd.Series, rows: np.ndarray):
    """``column``'s values at ``rows`` as the result's text column. Strings become pandas'
    string column by one take of the (small) converted column, not by converting every hit's
    value again (measured: 18 ms of a national day's 50 ms frame)."""
    if not isinstance(column.dtype, pd.StringDtype):
        values = column.to_numpy()
        if values.dtype != object or not all(isinstance(v, str) for v in values):
            return values[rows]  # not text: the values as they are, as pandas infers them
    return pd.array(column, dtype="str").take(rows)


def match(trails: pd.DataFrame, crimes: pd.DataFrame, rules: Rules | None = None) -> pd.DataFrame:
    """Every (crime, subject) pair with at least one instant in the vicinity.

    ``trails``: ``subject``, ``time`` (UTC), ``x``, ``y`` (metres in the working CRS), optional
    ``precision_m`` and ``source``. ``crimes``: ``crime_reference``, ``police_force``,
    ``crime_type``, ``x``, ``y``, ``time_from``, ``time_to``. Returns one row per hit with the
    columns of ``HIT_COLUMNS``, sorted by force, crime reference and subject.
    """
    rules = rules or Rules()
    trail = prepare_trail(trails)
    prepared = prepare_crimes(crimes, rules.buffer_before_ns, rules.buffer_after_ns)
    return match_streamed(trail, prepared, rules)
