"""``match(trails, crimes, rules)``: every (crime, subject) hit under the vicinity contract."""

from __future__ import annotations

import numpy as np
import pandas as pd

from trailmatch.index.query import hit_fields, hit_pairs
from trailmatch.index.segments import SegmentIndex, TrailPath, trail_path
from trailmatch.index.sweep import sweep_pairs
from trailmatch.rules import Rules
from trailmatch.trails import (
    Crimes,
    Trail,
    ns_to_datetime,
    prepare_crimes,
    prepare_trail,
    sources_text,
)

HIT_COLUMNS = [
    "crime_reference", "police_force", "crime_type", "subject", "min_distance_m",
    "closest_time", "first_in", "last_in", "duration_s", "fixes_in", "max_precision_m",
    "sources",
]


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
    return sweep_pairs(trail.starts, path.subject, path.t, path.x, path.y, path.reach,
                       path.max_gap_ns, path.widest_piece_m, crimes.x, crimes.y, crimes.w0,
                       crimes.w1, radius_m)


def match_prepared(trail: Trail, index: SegmentIndex, crimes: Crimes, rules: Rules) -> pd.DataFrame:
    """The matching step on already prepared arrays (index built with the same rules)."""
    if index.max_gap_ns != rules.max_gap_ns:
        raise ValueError("the index was built with another max gap than the rules ask for")
    if crimes.n == 0 or trail.n_fixes == 0:
        return empty_hits()
    pair_crime, pair_subject = candidate_pairs(trail, index, crimes, rules.radius_m)
    return _hits_frame(trail, index, crimes, rules, pair_crime, pair_subject)


def match_streamed(trail: Trail, crimes: Crimes, rules: Rules) -> pd.DataFrame:
    """The matching step without a segment index: the crimes are binned and every subject's
    path is streamed past them once (``index/sweep.py``). Same hits as ``match_prepared``."""
    if crimes.n == 0 or trail.n_fixes == 0:
        return empty_hits()
    path = trail_path(trail, rules.max_gap_s, rules.count_precision)
    pair_crime, pair_subject = candidate_pairs(trail, path, crimes, rules.radius_m)
    return _hits_frame(trail, path, crimes, rules, pair_crime, pair_subject)


def _hits_frame(trail: Trail, path: SegmentIndex | TrailPath, crimes: Crimes, rules: Rules,
                pair_crime: np.ndarray, pair_subject: np.ndarray) -> pd.DataFrame:
    """Every field of the (crime row, subject code) hits, as the sorted hits DataFrame."""
    (found, dist, tmin, first_in, last_in, duration, fixes_in, max_prec,
     sources) = hit_fields(path, trail, pair_crime, pair_subject, crimes.x, crimes.y,
                           crimes.w0, crimes.w1, rules.radius_m)
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
                       max(frame.shape[0], 1), max(trail.n_subjects, 1))
    pair_crime, pair_subject = pair_crime[order], pair_subject[order]
    masks, mask_index = np.unique(sources[order], return_inverse=True)
    names = [sources_text(int(m)) for m in masks]
    return pd.DataFrame({
        "crime_reference": _take_text(frame["crime_reference"], pair_crime),
        "police_force": _take_text(frame["police_force"], pair_crime),
        "crime_type": _take_text(frame["crime_type"], pair_crime),
        "subject": _take_text(pd.Series(trail.subjects, dtype=object), pair_subject),
        "min_distance_m": dist[order],
        "closest_time": ns_to_datetime(tmin[order]),
        "first_in": ns_to_datetime(first_in[order]),
        "last_in": ns_to_datetime(last_in[order]),
        "duration_s": duration[order],
        "fixes_in": fixes_in[order],
        "max_precision_m": max_prec[order],
        "sources": _take_text(pd.Series(names, dtype=object), mask_index),
    })


def _hit_order(crime_rank: np.ndarray, subject_rank: np.ndarray, row: np.ndarray,
               n_rows: int, n_subjects: int) -> np.ndarray:
    """The order of hits by crime rank, subject rank, then crime row: one integer key when
    it fits in 63 bits (a national day: 2·10^12), else a lexsort."""
    if n_rows * n_subjects * n_rows < 2**62:
        key = (crime_rank.astype(np.int64) * n_subjects + subject_rank) * n_rows + row
        return np.argsort(key, kind="stable")
    return np.lexsort((row, subject_rank, crime_rank))


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
