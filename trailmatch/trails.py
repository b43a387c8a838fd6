"""Trails as flat arrays: the shape every kernel works on.

A ``Trail`` holds every fix of every subject, sorted by (subject, time), duplicates removed,
in plain numpy arrays (no per-fix Python objects): a national day of 14.4 M fixes is
~0.5 GB here. ``starts`` is the CSR offset array: subject ``s`` owns fixes
``starts[s]:starts[s+1]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from trailmatch import trail_order

# Fix sources as the tag data store codes them (``position_lbs``), and a bit per source so a
# hit can carry the set of sources of its fixes as one small integer.
SOURCE_CODES = {"GPS": 1, "RF": 4, "LBS": 5, "WIFI": 6}
SOURCE_NAMES = {1: "GPS", 4: "RF", 5: "LBS", 6: "WiFi"}
SOURCE_BITS = {0: 1 << 4, 1: 1 << 0, 4: 1 << 1, 5: 1 << 2, 6: 1 << 3}  # 0 = unknown source
_BIT_NAMES = [(1 << 0, "GPS"), (1 << 1, "RF"), (1 << 2, "LBS"), (1 << 3, "WiFi"),
              (1 << 4, "unknown")]

TRAIL_COLUMNS = ("subject", "time", "x", "y")


def source_code(value) -> int:
    """The tag-store code of one source value, the one rule for every reader (docs/formats.md,
    "Fix sources"): a name (``GPS``, ``RF``, ``LBS``, ``WiFi``; any case, white space around
    it ignored) or a code (1, 4, 5, 6; as a number or as its text, ``"4"``, ``" 4.0 "``) gives
    the code; anything else (blank, missing, another word or number) is 0, unknown."""
    if value is None or isinstance(value, (bool, np.bool_)):
        return 0
    if isinstance(value, str):
        word = value.strip().upper()
        if word in SOURCE_CODES:
            return SOURCE_CODES[word]
        try:
            value = float(word)
        except ValueError:
            return 0
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0
    return int(number) if number in (1.0, 4.0, 5.0, 6.0) else 0


_SOURCE_LUT = np.zeros(256, dtype=np.uint8)
_SOURCE_LUT[[1, 4, 5, 6]] = [1, 4, 5, 6]


def source_codes(values) -> np.ndarray:
    """``source_code`` of every value of a column (a pandas Series, numpy or Arrow array) as
    uint8: numbers by a look-up table, text through its distinct values (Arrow's dictionary
    encoding), so a national file's column costs one encoding and a few rule calls."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if not isinstance(values, pa.Array):
        s = values if isinstance(values, pd.Series) else pd.Series(values)
        if pd.api.types.is_integer_dtype(s.dtype) and not s.hasnans:
            codes = s.to_numpy()
            inside = (codes >= 0) & (codes < 256)
            return np.where(inside, _SOURCE_LUT[np.where(inside, codes, 0)], 0).astype(np.uint8)
        if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
            v = s.to_numpy(dtype=np.float64, na_value=np.nan)
            return np.where(np.isin(v, [1.0, 4.0, 5.0, 6.0]), v, 0).astype(np.uint8)
        if isinstance(s.dtype, pd.CategoricalDtype):
            lut = np.array([source_code(v) for v in s.cat.categories] + [0], dtype=np.uint8)
            return lut[s.array.codes]  # code -1 (missing) takes the last entry: 0
        chunked = getattr(s.array, "_pa_array", None)  # Arrow-backed text
        if chunked is None:  # values of any Python type: their distinct values, by pandas
            index, distinct = pd.factorize(s.to_numpy(dtype=object))
            lut = np.array([source_code(v) for v in distinct] + [0], dtype=np.uint8)
            return lut[index]  # -1 (missing) takes the last entry: 0
        values = chunked.combine_chunks()
    if pa.types.is_integer(values.type) or pa.types.is_floating(values.type):
        v = np.asarray(pc.cast(values.fill_null(0), pa.float64()).to_numpy(zero_copy_only=False))
        return np.where(np.isin(v, [1.0, 4.0, 5.0, 6.0]), v, 0).astype(np.uint8)
    encoded = values if pa.types.is_dictionary(values.type) else pc.dictionary_encode(values)
    words = encoded.dictionary.to_pylist()
    lut = np.array([source_code(w) for w in words] + [0], dtype=np.uint8)
    index = encoded.indices.fill_null(len(words)).to_numpy(zero_copy_only=False)
    return lut[np.asarray(index, dtype=np.int64)]


def sources_text(mask: int) -> str:
    """'GPS;WiFi' for a source bit mask (empty string for none)."""
    return ";".join(name for bit, name in _BIT_NAMES if mask & bit)


NAT_NS = np.iinfo(np.int64).min  # NaT's value


def to_utc_ns(values, what: str, check_missing: bool = True) -> np.ndarray:
    """Instants as int64 nanoseconds since the epoch, UTC. Naive datetimes are taken as UTC;
    strings are parsed as ISO 8601. A missing time (NaT) is an error unless the caller checks
    for it (``check_missing=False``: NaT is ``NAT_NS``)."""
    s = values if isinstance(values, pd.Series) else pd.Series(values)
    if not pd.api.types.is_datetime64_any_dtype(s.dtype):
        s = pd.to_datetime(s, utc=True, format="ISO8601")
    unit = s.dtype.unit if hasattr(s.dtype, "unit") else np.datetime_data(s.dtype)[0]
    if unit != "ns":  # as_unit copies even when it changes nothing
        s = s.dt.as_unit("ns")
    ns = s.array.asi8  # tz-aware values are stored as UTC instants
    if not check_missing:
        return ns
    missing = ns == NAT_NS
    if missing.any():
        raise ValueError(f"{what}: row {int(np.flatnonzero(missing)[0])}: missing time")
    return ns


_UTC = pd.DatetimeTZDtype("ns", "UTC")


def ns_to_datetime(ns: np.ndarray) -> pd.Series:
    """int64 ns since the epoch (``NaT``'s value for none) as a UTC datetime Series, sharing
    the array: the public constructors localise value by value (0.45 s for 25 M mostly-NaT
    values, an elimination column), though UTC needs no conversion at all."""
    ns = np.ascontiguousarray(ns, dtype=np.int64)
    try:
        values = pd.arrays.DatetimeArray._simple_new(ns.view("M8[ns]"), dtype=_UTC)
    except (AttributeError, TypeError):  # a pandas without it: the public, slower way
        return pd.Series(ns.view("M8[ns]"), dtype="datetime64[ns, UTC]")
    return pd.Series(values, copy=False)


@dataclass
class Trail:
    subjects: np.ndarray  # object array of subject ids; index = subject code
    subject: np.ndarray  # int32 code per fix
    t: np.ndarray  # int64 ns UTC
    x: np.ndarray  # float64 metres
    y: np.ndarray  # float64 metres
    precision: np.ndarray  # float64 metres, NaN where unknown
    source: np.ndarray  # uint8 tag-store code, 0 unknown
    starts: np.ndarray  # int64, len(subjects) + 1
    duplicates: int = 0  # fixes dropped as duplicates of (subject, time)
    has_precision: bool = True  # False: no precision was given (``precision`` is all NaN)

    @property
    def n_fixes(self) -> int:
        return int(self.t.size)

    @property
    def n_subjects(self) -> int:
        return int(self.subjects.size)


SCAN_CHUNKS = 16  # pieces of the fixes scanned in parallel


@nb.njit(cache=True, parallel=True)
def _scan_fixes(code, t, x, y, prec, has_precision):
    """One parallel pass over the fixes as given, reading only: the first row (-1: none) with
    a missing subject, a missing time, a non-finite coordinate, a negative precision, and the
    first out of (subject, time) order; whether any precision is infinite; and how many fixes
    repeat the subject and time of the fix before them (meaningful when in order); ``prec``
    is only read when ``has_precision``. The rows
    are cut into ``SCAN_CHUNKS`` pieces, each scanned in a plain loop. (Writing fresh arrays
    here measured slower than numpy doing it alone: the two threads' page faults queue.)"""
    n = t.size
    first = np.full((SCAN_CHUNKS, 5), n, dtype=np.int64)
    infinite = np.zeros(SCAN_CHUNKS, dtype=np.int64)
    dups = np.zeros(SCAN_CHUNKS, dtype=np.int64)
    per = (n + SCAN_CHUNKS - 1) // SCAN_CHUNKS
    for k in nb.prange(SCAN_CHUNKS):
        no_subject = n
        no_time = n
        bad_xy = n
        bad_prec = n
        disorder = n
        n_inf = 0
        n_dup = 0
        for i in range(k * per, min((k + 1) * per, n)):
            c = code[i]
            if c < 0 and no_subject == n:
                no_subject = i
            if t[i] == NAT_NS and no_time == n:
                no_time = i
            if not (np.isfinite(x[i]) and np.isfinite(y[i])) and bad_xy == n:
                bad_xy = i
            if has_precision:
                if prec[i] < 0.0 and bad_prec == n:
                    bad_prec = i
                if np.isinf(prec[i]):
                    n_inf += 1
            if i > 0:
                before = code[i - 1]
                if c < before or (c == before and t[i] < t[i - 1]):
                    if disorder == n:
                        disorder = i
                elif c == before and t[i] == t[i - 1]:
                    n_dup += 1
        first[k, 0] = no_subject
        first[k, 1] = no_time
        first[k, 2] = bad_xy
        first[k, 3] = bad_prec
        first[k, 4] = disorder
        infinite[k] = n_inf
        dups[k] = n_dup
    out = np.empty(5, dtype=np.int64)
    for j in range(5):
        v = first[:, j].min()
        out[j] = v if v < n else -1
    return out, infinite.sum() > 0, dups.sum()


def prepare_trail(trails: pd.DataFrame) -> Trail:
    """Validate a trails DataFrame and turn it into a sorted, de-duplicated ``Trail``.

    Columns: ``subject``, ``time`` (UTC), ``x``, ``y`` (working CRS metres), optional
    ``precision_m`` and ``source``. Any subject column (strings, integers, categorical) and any
    row order is fine, in O(n) (``trailmatch/trail_order.py``): a categorical keeps its
    categories as the subjects when its codes follow the rows; otherwise subjects are numbered
    by first appearance. Of fixes with the same subject and time one is kept — the most
    precise, then the smallest x, then y, then source code — so the result does not depend on
    input order.
    """
    missing = [c for c in TRAIL_COLUMNS if c not in trails.columns]
    if missing:
        raise ValueError(f"trails: missing column(s) {missing}; need {list(TRAIL_COLUMNS)}")
    codes, names = trail_order.subject_codes(trails["subject"])
    t = to_utc_ns(trails["time"], "trails.time", check_missing=False)
    x = trails["x"].to_numpy(dtype=np.float64)
    y = trails["y"].to_numpy(dtype=np.float64)
    has_precision = "precision_m" in trails.columns
    if has_precision:
        prec = trails["precision_m"].to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        # every precision unknown: one NaN seen n times (read-only, not n floats written)
        prec = np.broadcast_to(np.float64(np.nan), t.shape)
    first, infinite_prec, dups = _scan_fixes(codes, t, x, y,
                                             prec if has_precision else np.empty(0),
                                             has_precision)
    no_subject, no_time, bad_xy, bad_prec, disorder = (int(v) for v in first)
    if no_subject >= 0:
        raise ValueError(f"trails: row {no_subject}: missing subject")
    if no_time >= 0:
        raise ValueError(f"trails.time: row {no_time}: missing time")
    if bad_xy >= 0:
        raise ValueError(f"trails: row {bad_xy}: non-finite coordinate x={x[bad_xy]!r}, "
                         f"y={y[bad_xy]!r}")
    if bad_prec >= 0:
        raise ValueError(f"trails: row {bad_prec}: negative precision_m={prec[bad_prec]!r}")
    if infinite_prec:  # an infinite precision says nothing: treat it as unknown
        prec = np.where(np.isfinite(prec), prec, np.nan)
    has_source = "source" in trails.columns
    src = source_codes(trails["source"]) if has_source else np.zeros(t.size, np.uint8)

    starts = None  # the CSR offsets, when a step below has them
    if disorder >= 0:
        lut, runs, n_used, ascending = trail_order.appearance_codes(codes, names.size)
        if not ascending:  # number the subjects by first appearance: grouped rows ascend
            trail_order.relabel(codes, lut)
            names = names[np.argsort(lut)]
        if runs == n_used:  # grouped by subject (codes ascend): only times can be out of order
            starts = trail_order.grouped_starts(codes, names.size)
            if not trail_order.all_in_time_order(starts, t):
                # the caller's arrays are not sorted in place: a copy of each
                t, x, y = t.copy(), x.copy(), y.copy()
                prec = prec.copy() if has_precision else prec
                src = src.copy() if has_source else src
                trail_order.sort_segments_by_time(starts, t, x, y,
                                                  prec if has_precision else np.empty(0), src,
                                                  has_precision, has_source)
        else:  # a stable radix sort on the code gathers each subject's rows, then by time
            codes, t, x, y, prec2, src2, starts = trail_order.group_rows(
                codes, names.size, t, x, y, prec, src, has_precision, has_source)
            prec = prec2 if has_precision else np.broadcast_to(np.float64(np.nan), t.shape)
            src = src2 if has_source else np.zeros(t.size, np.uint8)
        dups = int(trail_order.count_repeats(codes, t))
    if dups:
        keep = trail_order.best_of_duplicates(codes, t, x, y, prec if has_precision
                                              else np.empty(0), src, has_precision, has_source)
        codes, t, x, y, src = (a[keep] for a in (codes, t, x, y, src))
        prec = prec[keep] if has_precision else np.broadcast_to(np.float64(np.nan), t.shape)
        dups = int(keep.size - t.size)
        starts = None
    if starts is None:
        starts = trail_order.grouped_starts(codes, names.size)
    return Trail(names, codes, t, x, y, prec, src, starts, dups, has_precision)


@dataclass
class Crimes:
    frame: pd.DataFrame  # the caller's crimes, index reset
    x: np.ndarray
    y: np.ndarray
    w0: np.ndarray  # int64 ns: window start, widened by the buffer
    w1: np.ndarray  # int64 ns: window end, widened by the buffer

    @property
    def n(self) -> int:
        return int(self.x.size)


CRIME_COLUMNS = ("crime_reference", "police_force", "crime_type", "x", "y", "time_from", "time_to")


def prepare_crimes(crimes: pd.DataFrame, buffer_before_ns: int = 0,
                   buffer_after_ns: int = 0) -> Crimes:
    missing = [c for c in CRIME_COLUMNS if c not in crimes.columns]
    if missing:
        raise ValueError(f"crimes: missing column(s) {missing}; need {list(CRIME_COLUMNS)}")
    frame = crimes.reset_index(drop=True)
    x = frame["x"].to_numpy(dtype=np.float64)
    y = frame["y"].to_numpy(dtype=np.float64)
    bad = ~(np.isfinite(x) & np.isfinite(y))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"crimes: row {i} ({frame['crime_reference'].iloc[i]}): "
                         f"non-finite location x={x[i]!r}, y={y[i]!r}")
    t0 = to_utc_ns(frame["time_from"], "crimes.time_from")
    t1 = to_utc_ns(frame["time_to"], "crimes.time_to")
    back = t1 < t0
    if back.any():
        i = int(np.flatnonzero(back)[0])
        raise ValueError(f"crimes: row {i} ({frame['crime_reference'].iloc[i]}): "
                         "time_to is before time_from")
    return Crimes(frame, x, y, t0 - buffer_before_ns, t1 + buffer_after_ns)


def empty_trail() -> Trail:
    """A trail with no fixes (a window nobody was monitored in)."""
    return Trail(np.empty(0, dtype=object), np.empty(0, np.int32), np.empty(0, np.int64),
                 np.empty(0), np.empty(0), np.empty(0), np.empty(0, np.uint8),
                 np.zeros(1, np.int64))
