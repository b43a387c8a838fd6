"""Position files -> validated fixes in the working CRS, and precise rejects.

Reads the tag data store's export (docs/formats.md §2, recognised by its header) and any other CSV
or Parquet file through a column ``Mapping``. The happy path is columnar: pyarrow's CSV reader
streams record batches, and every check and conversion is one vectorised step per column
(on a dictionary-encoded column, one step per distinct value); batches are converted on two
threads while the next is read. Python-level work happens only to describe rejected rows, and
for files the fast reader cannot split exactly (a record with the wrong number of fields,
undecodable bytes), which are re-read with the ``csv`` module so that every record keeps its
exact number.

A fix is rejected, with one reject line per problem (``file, row, subject, field, value,
error``; ``field`` is the file's column name), for: missing subject or time (``missing``); a time
that is not a date-time (``invalid_format``), a local time that happens twice or never
(``ambiguous_local_time``, ``nonexistent_local_time``) unless a policy is configured; a time
outside the plausible range (``out_of_range``, ``trailmatch.ingest.plausible``); a subject or
device id with undecodable bytes or a NUL (``invalid_encoding``); a fix source that is not one
of the known codes (``unknown_source``; blank too in a tag export, while a mapped file may
leave it blank for "unknown", 0); missing,
unparseable, non-finite or out-of-range coordinates (``missing``, ``invalid_format``,
``not_finite``, ``out_of_range``); an unparseable, non-finite or negative precision
(``invalid_format``, ``not_finite``, ``negative``); a record with the wrong number of fields
(``columns`` / ``wrong_column_count``). An unreadable upload time or speed is kept as missing
(they are informational). Header names are matched after trimming spaces.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import zlib
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numba as nb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from trailmatch.crs import WGS84, project_flagged
from trailmatch.ingest.mapping import TAG_EXPORT, TAG_EXPORT_SIGNATURE, Mapping, load_mapping
from trailmatch.ingest.mapping import localize as localize_times
from trailmatch.ingest.plausible import UNREADABLE_ID_RE2, Plausible, plausible
from trailmatch.ingest.rejects import (
    POSITION_REJECT_COLUMNS,
    empty_rejects,
    printable,
    reject_frame,
)
from trailmatch.trails import source_codes

NAT = np.iinfo(np.int64).min
UTC_NS = pa.timestamp("ns", tz="UTC")
FIX_COLUMNS = ["subject", "time", "x", "y", "precision_m", "source", "device", "position_id",
               "lat", "lon", "uploaded", "speed_kmh", "outside_grid", "row"]
BLOCK_BYTES = 16 << 20  # CSV bytes per record batch: 64 MiB held 2.1 GiB at peak on a national
# day (pyarrow reads blocks ahead of the converter), 16 MiB 0.9 GiB and no more CPU
BATCH_ROWS = 1 << 20  # Parquet rows per record batch
CONVERT_THREADS = max(1, min(2, os.cpu_count() or 1))  # batches converted at once

_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^[+-]?(?i:nan|inf|infinity)$"
_ISO_NAIVE = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?$"
_ISO_OFFSET = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?([Zz]|[+-]\d{2}(:?\d{2})?)$"


class PositionsFormatError(ValueError):
    """The file is unusable as a whole (unreadable, not a positions file, columns missing)."""


@dataclass
class PositionsRead:
    """What one positions file gave: valid fixes, reject lines, and the records read."""

    fixes: pd.DataFrame
    rejects: pd.DataFrame
    rows_read: int

    @property
    def rows_rejected(self) -> int:
        return int(self.rejects["row"].nunique()) if len(self.rejects) else 0


# ----------------------------------------------------------------------------- conversion

@nb.njit(cache=True)
def _edges_alnum(offsets, data, start, n):
    """True when each of the n strings from ``start`` is non-empty and begins and ends with
    an ASCII letter or digit (so trimming whitespace cannot change it)."""
    for i in range(start, start + n):
        a = offsets[i]
        b = offsets[i + 1]
        if b <= a:
            return False
        for c in (data[a], data[b - 1]):
            if not (48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122):
                return False
    return True


def _maybe_untrimmed(arr: pa.Array) -> bool:
    """Whether ``arr`` (string or large_string) may hold a value that trimming or the
    empty-as-null rule changes. A quick scan of the first and last byte of each value; any
    doubt (other characters there, nulls) answers True, and the caller does the full work."""
    if arr.null_count or len(arr) == 0:
        return True
    _, off_buf, data_buf = arr.buffers()
    if data_buf is None:
        return True
    off_type = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    offsets = np.frombuffer(off_buf, dtype=off_type)
    data = np.frombuffer(data_buf, dtype=np.uint8)
    return not _edges_alnum(offsets, data, arr.offset, len(arr))


def _per_value(arr: pa.Array, fn):
    """``fn`` of a dictionary-encoded column, computed once per distinct value.

    ``fn`` must be elementwise (each output element depends on its input element only): it runs
    on the dictionary with one null appended, and its results are gathered by the indices
    (a null index picks the null). A national file names 10,000 subjects and 86,400 seconds:
    trimming, parsing and checking those instead of 14 M values is the same answer, cheaper.
    """
    values = pa.concat_arrays([arr.dictionary, pa.nulls(1, arr.dictionary.type)])
    idx = np.asarray(arr.indices.fill_null(len(arr.dictionary)).to_numpy(zero_copy_only=False),
                     dtype=np.int64)
    return fn(values), idx


def _as_strings(arr: pa.Array) -> pa.Array:
    """Trimmed strings with empty values as null. A dictionary-encoded column stays encoded
    (its distinct values trimmed, then de-duplicated, so that equal strings share one code)."""
    if pa.types.is_dictionary(arr.type):
        words, idx = _per_value(arr, _as_strings)
        enc = pc.dictionary_encode(words)
        remap = np.asarray(enc.indices.fill_null(-1).to_numpy(zero_copy_only=False),
                           dtype=np.int32)[idx]
        return pa.DictionaryArray.from_arrays(pa.array(remap, pa.int32(), mask=remap < 0),
                                              enc.dictionary.cast(pa.string()))
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        arr = pc.cast(arr, pa.string())
    if not _maybe_untrimmed(arr):
        return arr  # nothing to trim, nothing empty: no copy of a national column
    arr = pc.utf8_trim_whitespace(arr)
    return pc.if_else(pc.equal(arr, ""), pa.scalar(None, arr.type), arr)


def _to_numpy_float(arr: pa.Array) -> np.ndarray:
    return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=np.float64)


def _parse_float(arr: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(values with NaN where missing/bad, missing mask, unparseable mask)."""
    if pa.types.is_dictionary(arr.type):
        got, idx = _per_value(arr, _parse_float)
        return tuple(a[idx] for a in got)
    if pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type) \
            or pa.types.is_decimal(arr.type):
        null = np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        vals = _to_numpy_float(pc.cast(arr.fill_null(0), pa.float64()))
        return np.where(null, np.nan, vals), null, np.zeros_like(null)
    s = _as_strings(arr)
    null = np.asarray(s.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    try:
        vals = pc.cast(s, pa.float64())
        bad = np.zeros_like(null)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        ok = pc.fill_null(pc.match_substring_regex(s, _NUMBER), False)
        bad = ~np.asarray(ok.to_numpy(zero_copy_only=False), dtype=bool) & ~null
        vals = pc.cast(pc.if_else(ok, s, pa.scalar(None, s.type)), pa.float64())
    v = _to_numpy_float(vals.fill_null(np.nan))
    return v, null, bad


def _cast_times(s: pa.Array, typ: pa.DataType) -> np.ndarray:
    """Cast strings to timestamps; NaT where the string is not a real date-time."""
    try:
        out = pc.cast(s, typ)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        # A well-shaped but unreal value (2025-02-30) fails the whole cast: parse one by one.
        parsed = pd.to_datetime(pd.Series(s.to_pylist(), dtype=object), format="ISO8601",
                                errors="coerce", utc=typ.tz is not None)
        if typ.tz is not None:
            parsed = parsed.dt.tz_localize(None)
        return parsed.to_numpy(dtype="datetime64[ns]").view(np.int64)
    out = pc.cast(out, pa.timestamp("ns", tz=typ.tz))
    return np.asarray(pc.cast(out.fill_null(pa.scalar(NAT, pa.int64()).cast(out.type)),
                              pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)


@dataclass
class _Times:
    ns: np.ndarray  # int64 UTC ns, NAT where missing or rejected
    missing: np.ndarray
    bad: np.ndarray
    ambiguous: np.ndarray
    nonexistent: np.ndarray
    out_of_range: np.ndarray


_UNIT_NS = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}


def _in_range(t: _Times, lim: Plausible) -> _Times:
    """``t`` with the instants outside the plausible range moved to ``out_of_range``."""
    far = lim.time_out_of_range(t.ns, NAT)
    if not far.any():
        return t
    return _Times(np.where(far, NAT, t.ns), t.missing, t.bad & ~far, t.ambiguous,
                  t.nonexistent, t.out_of_range | far)


def _far_years(s: pa.Array, lim: Plausible) -> np.ndarray:
    """Texts whose written year (the first four digits) is far outside the plausible range:
    rejected before conversion, which would wrap a year past 2262 round the 64-bit
    nanosecond clock (9999-12-31 became 1816-03-30) or overflow."""
    lo, hi = lim.years
    year = pc.cast(pc.if_else(pc.fill_null(pc.match_substring_regex(s, r"^\d{4}"), False),
                              pc.utf8_slice_codeunits(s, 0, 4), pa.scalar(None, pa.string())),
                   pa.int32())
    far = pc.or_(pc.less(year, lo - 1), pc.greater(year, hi + 1))
    return np.asarray(pc.fill_null(far, False).to_numpy(zero_copy_only=False), dtype=bool)


def _parse_times(arr: pa.Array, m: Mapping, lim: Plausible) -> _Times:
    if pa.types.is_dictionary(arr.type):
        got, idx = _per_value(arr, lambda v: _parse_times(v, m, lim))
        return _Times(got.ns[idx], got.missing[idx], got.bad[idx], got.ambiguous[idx],
                      got.nonexistent[idx], got.out_of_range[idx])
    n = len(arr)
    f = np.zeros(n, dtype=bool)
    policy = {"ambiguous": m.ambiguous, "nonexistent": m.nonexistent}
    if pa.types.is_timestamp(arr.type):
        null = np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        # in the column's own unit first: a year past 2262 does not fit in nanoseconds
        per = _UNIT_NS[arr.type.unit]
        raw = np.asarray(pc.cast(arr, pa.int64()).fill_null(0).to_numpy(zero_copy_only=False),
                         dtype=np.int64)
        day = 86_400 * 10**9 // per  # a day of slack for a zone's offset
        far = ~null & ((raw < lim.earliest_ns // per - day) | (raw > lim.latest_ns // per + day))
        ns = np.where(null | far, NAT, np.where(far, 0, raw) * per)
        if arr.type.tz is not None:
            return _in_range(_Times(ns, null, f, f.copy(), f.copy(), far), lim)
        utc, amb, gap = localize_times(ns, m.timezone, **policy)
        return _in_range(_Times(np.where(amb | gap, NAT, utc), null, f, amb, gap, far), lim)
    if pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type):
        vals, null, _ = _parse_float(arr)
        if m.epoch_unit is None:
            return _Times(np.full(n, NAT), null, ~null, f, f.copy(), f.copy())
        scale = {"s": 1e9, "ms": 1e6, "us": 1e3, "ns": 1.0}[m.epoch_unit]
        finite = np.isfinite(vals)
        with np.errstate(invalid="ignore", over="ignore"):
            fits = finite & (np.abs(vals * scale) < 9.2e18)
        ns = np.where(fits, np.round(np.where(fits, vals, 0) * scale), 0).astype(np.int64)
        return _in_range(_Times(np.where(fits, ns, NAT), null, ~finite & ~null, f, f.copy(),
                                finite & ~fits), lim)
    s = _as_strings(arr)
    null = np.asarray(s.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    far = _far_years(s, lim)
    if far.any():
        s = pc.if_else(pa.array(far), pa.scalar(None, s.type), s)
    t = _parse_text_times(s, n, m, policy)
    return _in_range(_Times(t.ns, null, t.bad & ~far, t.ambiguous, t.nonexistent, far), lim)


def _parse_text_times(s: pa.Array, n: int, m: Mapping, policy: dict) -> _Times:
    """Times written as text (``null``: none there, or already rejected)."""
    f = np.zeros(n, dtype=bool)
    null = np.asarray(s.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    if m.time_format:
        parsed = pd.to_datetime(pd.Series(s.to_pylist(), dtype=object), format=m.time_format,
                                errors="coerce")
        if getattr(parsed.dt, "tz", None) is not None:
            ns = parsed.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(
                dtype="datetime64[ns]").view(np.int64)
            return _Times(ns, null, (ns == NAT) & ~null, f, f.copy(), f.copy())
        naive = parsed.to_numpy(dtype="datetime64[ns]").view(np.int64)
        offset = np.zeros(n, dtype=bool)
        offset_ns = np.full(n, NAT)
    else:
        try:  # the tag export's own format, all good: one cast
            naive = np.asarray(pc.cast(pc.cast(s, pa.timestamp("ns")), pa.int64())
                               .fill_null(NAT).to_numpy(zero_copy_only=False), dtype=np.int64)
            offset = np.zeros(n, dtype=bool)
            offset_ns = np.full(n, NAT)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            is_naive = np.asarray(pc.fill_null(pc.match_substring_regex(s, _ISO_NAIVE), False)
                                  .to_numpy(zero_copy_only=False), dtype=bool)
            offset = np.asarray(pc.fill_null(pc.match_substring_regex(s, _ISO_OFFSET), False)
                                .to_numpy(zero_copy_only=False), dtype=bool)
            naive = np.full(n, NAT)
            offset_ns = np.full(n, NAT)
            if is_naive.any():
                idx = np.flatnonzero(is_naive)
                naive[idx] = _cast_times(s.take(pa.array(idx)), pa.timestamp("ns"))
            if offset.any():
                idx = np.flatnonzero(offset)
                offset_ns[idx] = _cast_times(s.take(pa.array(idx)), pa.timestamp("ns", "UTC"))
    utc, amb, gap = localize_times(naive, m.timezone, **policy)
    ns = np.where(offset, offset_ns, utc)
    amb &= ~offset
    gap &= ~offset
    ns = np.where(amb | gap, NAT, ns)
    bad = (ns == NAT) & ~null & ~amb & ~gap
    return _Times(ns, null, bad, amb, gap, f)


def _bad_encoding(arr: pa.Array) -> np.ndarray:
    """Text holding a character nobody types (``plausible.UNREADABLE_ID``: an undecodable
    byte read as U+FFFD, a control such as NUL, an invisible format character): an id that
    would be stored as something nobody typed."""
    if pa.types.is_dictionary(arr.type):
        got, idx = _per_value(arr, _bad_encoding)
        return got[idx]
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        return np.zeros(len(arr), dtype=bool)
    # spaces and tabs padding the field are trimmed later: not part of the id
    hit = pc.match_substring_regex(pc.utf8_trim(arr, characters=" \t"), UNREADABLE_ID_RE2)
    return np.asarray(pc.fill_null(hit, False).to_numpy(zero_copy_only=False), dtype=bool)


def _project_lonlat(lon: np.ndarray, lat: np.ndarray, crs: str,
                    threads: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """WGS84 -> working CRS through ``trailmatch.crs.project_flagged`` (OSTN15 into the
    British National Grid, the same as crimes and queries): x, y and the fixes outside OSTN15's
    cover. A big array is cut into ``threads`` parts (default: one per core) projected at once
    (convertbng and pyproj release the GIL). Batches converted in parallel already pass
    ``threads=1``."""
    n = lon.size
    threads = threads or min(4, os.cpu_count() or 1)
    if n < 1_000_000 or threads < 2:
        return project_flagged(lon, lat, WGS84, crs)
    x = np.empty(n)
    y = np.empty(n)
    outside = np.empty(n, dtype=bool)
    cuts = np.linspace(0, n, threads + 1).astype(np.int64)

    def work(k):
        part = slice(cuts[k], cuts[k + 1])
        x[part], y[part], outside[part] = project_flagged(lon[part], lat[part], WGS84, crs)

    with ThreadPoolExecutor(threads) as ex:
        list(ex.map(work, range(threads)))
    return x, y, outside


class _Rejects:
    def __init__(self, file: str, subject: pa.Array | None, rows: np.ndarray) -> None:
        self.file = file
        self.subject = subject
        self.rows = rows
        self.parts: list[pd.DataFrame] = []

    def add(self, mask: np.ndarray, field: str, raw: pa.Array | None, error: str) -> None:
        if not mask.any():
            return
        idx = np.flatnonzero(mask)
        take = pa.array(idx)
        subj = ([None if s is None else printable(s)
                 for s in self.subject.take(take).to_pylist()] if self.subject is not None
                else [None] * idx.size)
        val = raw.take(take).to_pylist() if raw is not None else [None] * idx.size
        self.parts.append(pd.DataFrame({
            "file": self.file, "row": self.rows[idx], "subject": subj, "field": field,
            "value": ["" if v is None else printable(str(v)) for v in val], "error": error}))


def _convert(cols: dict[str, pa.Array], rows: np.ndarray, m: Mapping, crs: str,
             file: str, threads: int = 0,
             lim: Plausible | None = None) -> tuple[pa.Table, list[pd.DataFrame]]:
    """One batch of raw columns -> (valid fixes, reject parts). ``threads``: for the
    projection (``_project_lonlat``); ``lim``: the plausible values (default: in force)."""
    lim = lim or plausible()
    n = rows.size
    name = m.columns
    subj_raw = cols["subject"]
    subj = _as_strings(subj_raw)
    rej = _Rejects(file, subj, rows)
    bad = np.zeros(n, dtype=bool)

    miss = np.asarray(subj.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    rej.add(miss, name["subject"], subj_raw, "missing")
    bad |= miss
    for role in ("subject", "device"):
        if role in cols:
            garbled = _bad_encoding(cols[role])
            rej.add(garbled, name[role], cols[role], "invalid_encoding")
            bad |= garbled

    t = _parse_times(cols["time"], m, lim)
    for mask, err in ((t.missing, "missing"), (t.bad, "invalid_format"),
                      (t.out_of_range, "out_of_range"),
                      (t.ambiguous, "ambiguous_local_time"),
                      (t.nonexistent, "nonexistent_local_time")):
        rej.add(mask, name["time"], cols["time"], err)
        bad |= mask

    if "source" in cols:
        src_all = source_codes(cols["source"])
        unknown = src_all == 0
        if m.name != TAG_EXPORT.name:  # a mapped file may leave the source blank: unknown (0)
            unknown &= ~_parse_float(cols["source"])[1]
        rej.add(unknown, name["source"], cols["source"], "unknown_source")
        bad |= unknown

    pair = ("x", "y") if m.uses_xy else ("lat", "lon")
    ranges = {"lat": (-90.0, 90.0), "lon": (-180.0, 180.0)}
    coords = {}
    for role in pair:
        v, null, unparsed = _parse_float(cols[role])
        nonfinite = ~null & ~unparsed & ~np.isfinite(v)
        rej.add(null, name[role], cols[role], "missing")
        rej.add(unparsed, name[role], cols[role], "invalid_format")
        rej.add(nonfinite, name[role], cols[role], "not_finite")
        bad |= null | unparsed | nonfinite
        if role in ranges:
            lo, hi = ranges[role]
            with np.errstate(invalid="ignore"):
                out = np.isfinite(v) & ((v < lo) | (v > hi))
            rej.add(out, name[role], cols[role], "out_of_range")
            bad |= out
        coords[role] = v

    if "precision" in cols:
        p, _, unparsed = _parse_float(cols["precision"])
        with np.errstate(invalid="ignore"):
            inf = np.isinf(p)
            neg = ~inf & (p < 0)
        rej.add(unparsed, name["precision"], cols["precision"], "invalid_format")
        rej.add(inf, name["precision"], cols["precision"], "not_finite")
        rej.add(neg, name["precision"], cols["precision"], "negative")
        bad |= unparsed | inf | neg
    else:
        p = np.full(n, np.nan)

    good = ~bad
    gi = pa.array(np.flatnonzero(good)) if not good.all() else None

    def keep(a):
        return a if gi is None else a.take(gi)

    def sel(a: np.ndarray) -> np.ndarray:  # no copy of a clean batch
        return a if gi is None else a[good]

    if m.uses_xy:
        x, y, outside = project_flagged(sel(coords["x"]), sel(coords["y"]), m.crs, crs)
        lat = lon = np.full(x.size, np.nan)
    else:
        lat, lon = sel(coords["lat"]), sel(coords["lon"])
        x, y, outside = _project_lonlat(lon, lat, crs, threads)

    k = int(good.sum())

    def opt_strings(role):
        if role not in cols:
            return pa.nulls(k, pa.string())
        return _string_column(keep(_as_strings(cols[role])))

    up = sel(_parse_times(cols["uploaded"], m, lim).ns) if "uploaded" in cols \
        else np.full(k, NAT)
    speed = sel(_parse_float(cols["speed"])[0]) if "speed" in cols else np.full(k, np.nan)
    src = sel(src_all) if "source" in cols else np.zeros(k, np.uint8)
    fixes = pa.table({
        "subject": _string_column(keep(subj)),
        "time": _ns_array(sel(t.ns)),
        "x": x, "y": y,
        "precision_m": sel(p),
        "source": pa.array(src, pa.uint8()),
        "device": opt_strings("device"),
        "position_id": opt_strings("position_id"),
        "lat": lat, "lon": lon,
        "uploaded": _ns_array(up),
        "speed_kmh": speed,
        "outside_grid": pa.array(outside, pa.bool_()),
        "row": pa.array(sel(rows), pa.int64()),
    })
    return fixes, rej.parts


def _string_column(arr: pa.Array) -> pa.Array:
    """Text as ``string``; a dictionary-encoded column (``_as_strings``) stays encoded."""
    return arr if pa.types.is_dictionary(arr.type) else arr.cast(pa.string())


def _ns_array(ns: np.ndarray) -> pa.Array:
    """int64 UTC nanoseconds (NAT = missing) as an Arrow timestamp array."""
    missing = ns == NAT
    return pa.array(ns, pa.int64(), mask=missing if missing.any() else None).cast(UTC_NS)


# ----------------------------------------------------------------------------- readers

def _is_parquet(path: Path) -> bool:
    if path.suffix.lower() in (".parquet", ".pq"):
        return True
    with open(path, "rb") as f:
        return f.read(4) == b"PAR1"


def _gzipped(path: Path) -> bool:
    """A gzip-compressed export (``.csv.gz``): read as the CSV inside it."""
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


def _open_bytes(path: Path):
    return gzip.open(path, "rb") if _gzipped(path) else open(path, "rb")


def _first_line(path: Path, delimiter: str = ",") -> list[str]:
    """The header's names as written (a byte-order mark dropped, spaces kept)."""
    with _open_bytes(path) as f:
        head = f.read(1 << 20)
    text = head.decode("utf-8-sig", errors="replace")
    for line in text.splitlines():
        if line.strip():
            return list(next(csv.reader([line], delimiter=delimiter)))
    return []


def _as_written(roles: dict[str, str], written: list[str]) -> dict[str, str]:
    """The roles' columns by their names as the file spells them (mappings and the tag export
    name them trimmed: a header " person_id" still matches)."""
    spelt = {w.strip(): w for w in written}
    return {r: spelt[c] for r, c in roles.items()}


def _choose_mapping(header: list[str], mapping, file: str) -> Mapping:
    if isinstance(mapping, str | os.PathLike):
        mapping = load_mapping(mapping)
    if mapping is None:
        if set(TAG_EXPORT_SIGNATURE) <= set(header):
            mapping = TAG_EXPORT
        else:
            raise PositionsFormatError(
                f"{file}: not a tag position export (its header lacks "
                f"{', '.join(c for c in TAG_EXPORT_SIGNATURE if c not in header)}) "
                "and no column mapping was given (--mapping FILE)")
    needed = [c for r, c in mapping.columns.items()
              if r in ("subject", "time", "lat", "lon", "x", "y") and c]
    missing = [c for c in needed if c not in header]
    if missing:
        raise PositionsFormatError(f"{file}: column(s) {', '.join(missing)} named by "
                                   f"{mapping.name} are not in the file")
    return mapping


def _roles_present(m: Mapping, header: list[str]) -> dict[str, str]:
    return {r: c for r, c in m.columns.items() if c and c in header}


def _csv_batches_fast(path: Path, m: Mapping, roles: dict[str, str]):
    """Record batches from pyarrow's reader. It raises ``ArrowInvalid`` on a record with the
    wrong number of fields or undecodable text; the caller then re-reads the file with the
    csv module, which numbers and describes every record exactly."""
    wanted = sorted(set(roles.values()))
    reader = pacsv.open_csv(
        pa.CompressedInputStream(pa.OSFile(str(path)), "gzip") if _gzipped(path) else path,
        read_options=pacsv.ReadOptions(block_size=BLOCK_BYTES, use_threads=True),
        parse_options=pacsv.ParseOptions(delimiter=m.delimiter),
        convert_options=pacsv.ConvertOptions(
            include_columns=wanted, column_types={c: pa.string() for c in wanted},
            strings_can_be_null=False),
    )
    yield from reader


def _csv_batches_exact(path: Path, m: Mapping, roles: dict[str, str], file: str,
                       rej_parts: list[pd.DataFrame]):
    """Every record through the csv module: exact record numbers, bad records described."""
    with _open_bytes(path) as f:
        text = f.read().decode("utf-8-sig", errors="replace")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=m.delimiter)
    header = None
    recs: list[list[str]] = []
    rows: list[int] = []
    n = 0
    subj_col = roles["subject"]
    while True:
        try:
            rec = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            if header is not None:
                n += 1
                rej_parts.append(pd.DataFrame({"file": [file], "row": [n], "subject": [None],
                                               "field": ["columns"], "value": [str(e)],
                                               "error": ["malformed_csv"]}))
            continue
        if not rec or (len(rec) == 1 and not rec[0].strip()):
            continue
        if header is None:
            header = [c.strip() for c in rec]
            idx = {c: header.index(c) for c in set(roles.values())}
            continue
        n += 1
        if len(rec) != len(header):
            si = idx[subj_col]
            subj = rec[si].strip() if si < len(rec) and rec[si].strip() else None
            rej_parts.append(pd.DataFrame({"file": [file], "row": [n], "subject": [subj],
                                           "field": ["columns"], "value": [str(len(rec))],
                                           "error": ["wrong_column_count"]}))
            continue
        recs.append(rec)
        rows.append(n)
    if header is None:
        return None, 0
    names = sorted(set(roles.values()))
    table = pa.table({c: pa.array([r[idx[c]] for r in recs], type=pa.string()) for c in names})
    return (table, np.asarray(rows, dtype=np.int64)), n


@dataclass
class PositionsTable:
    """``read_positions`` before pandas: the fixes as one Arrow table (FIX_COLUMNS)."""

    table: pa.Table
    rejects: pd.DataFrame
    rows_read: int

    @property
    def rows_rejected(self) -> int:
        return int(self.rejects["row"].nunique()) if len(self.rejects) else 0


def read_positions(path: str | os.PathLike, *, crs: str = "EPSG:27700",
                   mapping: Mapping | str | os.PathLike | None = None,
                   timezone: str | None = None) -> PositionsRead:
    """Read one positions file (tag export CSV, or CSV/Parquet through ``mapping``).

    ``timezone`` overrides the mapping's zone for times written without an offset. Raises
    ``PositionsFormatError`` when the file is unusable as a whole, ``OSError`` when unreadable.
    """
    got = read_positions_table(path, crs=crs, mapping=mapping, timezone=timezone)
    fixes = got.table.to_pandas() if got.table.num_rows else _empty_fixes()
    return PositionsRead(fixes=fixes, rejects=got.rejects, rows_read=got.rows_read)


def _read_csv(path: Path, mapping, timezone, crs: str, file: str,
              fixes_parts: list[pa.Table], rej_parts: list[pd.DataFrame]) -> int:
    """A CSV export (plain or gzip): fixes and rejects into the lists; the records read."""
    if isinstance(mapping, str | os.PathLike):
        mapping = load_mapping(mapping)
    written = _first_line(path, mapping.delimiter if mapping is not None else ",")
    header = [h.strip() for h in written]
    if not header:
        raise PositionsFormatError(f"{file}: empty file (no header row)")
    m = _choose_mapping(header, mapping, file).with_timezone(timezone)
    roles = _roles_present(m, header)
    if len(set(header)) != len(header):
        raise PositionsFormatError(f"{file}: repeated column names in the header")
    try:
        spelt = _as_written(roles, written)
        rows_read = _convert_batches(_csv_batches_fast(path, m, spelt), spelt, m, crs,
                                     file, fixes_parts, rej_parts)
    except (pa.ArrowInvalid, UnicodeDecodeError):
        fixes_parts.clear()
        rej_parts.clear()
        got, rows_read = _csv_batches_exact(path, m, roles, file, rej_parts)
        if got is not None:
            table, rows = got
            cols = {r: table.column(c).combine_chunks() for r, c in roles.items()}
            fx, rj = _convert(cols, rows, m, crs, file)
            fixes_parts.append(fx)
            rej_parts.extend(rj)
    return rows_read


def read_positions_table(path: str | os.PathLike, *, crs: str = "EPSG:27700",
                         mapping: Mapping | str | os.PathLike | None = None,
                         timezone: str | None = None,
                         keep_dictionary: bool = False) -> PositionsTable:
    """``read_positions`` with the fixes as an Arrow table (no pandas copy of a national
    file). ``keep_dictionary``: text columns that arrived dictionary-encoded (subjects,
    devices of a Parquet file) stay encoded, as the trail store wants them; otherwise every
    text column is ``string``."""
    fixes_parts: list[pa.Table] = []
    rejects, rows_read = read_positions_into(path, fixes_parts, crs=crs, mapping=mapping,
                                             timezone=timezone)
    table = (pa.concat_tables(fixes_parts) if fixes_parts
             else pa.Table.from_pandas(_empty_fixes(), preserve_index=False))
    if not keep_dictionary:
        table = _decoded(table)
    return PositionsTable(table=table, rejects=rejects, rows_read=rows_read)


def read_positions_into(path: str | os.PathLike, fixes_parts, *, crs: str = "EPSG:27700",
                        mapping: Mapping | str | os.PathLike | None = None,
                        timezone: str | None = None) -> tuple[pd.DataFrame, int]:
    """Read one positions file, handing its valid fixes to ``fixes_parts`` one converted
    batch at a time (``append(table)``, FIX_COLUMNS, text possibly dictionary-encoded;
    ``clear()`` when the file is read again from the start by the exact reader): a list, or
    the trail store's ``spill.FixSpill``, which keeps a national file out of memory. Returns
    the reject lines and the number of records read."""
    path = Path(path)
    file = str(path)
    if not path.is_file():
        raise PositionsFormatError(f"{file}: no such file")
    rej_parts: list[pd.DataFrame] = []

    if _is_parquet(path):
        try:
            pf = pq.ParquetFile(path)
        except (pa.ArrowInvalid, OSError) as e:
            raise PositionsFormatError(f"{file}: not a readable Parquet file ({e})") from e
        written = pf.schema_arrow.names
        header = [h.strip() for h in written]
        if len(set(header)) != len(header):
            raise PositionsFormatError(f"{file}: repeated column names in the header")
        m = _choose_mapping(header, mapping, file).with_timezone(timezone)
        roles = _as_written(_roles_present(m, header), written)
        wanted = sorted(set(roles.values()))
        encoded = _dictionary_columns(pf, wanted)
        if encoded:
            pf = pq.ParquetFile(path, read_dictionary=encoded)
        batches = pf.iter_batches(batch_size=BATCH_ROWS, columns=wanted, use_threads=True)
        rows_read = _convert_batches(batches, roles, m, crs, file, fixes_parts, rej_parts)
    elif _gzipped(path):
        try:
            rows_read = _read_csv(path, mapping, timezone, crs, file, fixes_parts, rej_parts)
        except (EOFError, zlib.error, gzip.BadGzipFile) as e:
            raise PositionsFormatError(f"{file}: a damaged gzip file ({e})") from None
    else:
        rows_read = _read_csv(path, mapping, timezone, crs, file, fixes_parts, rej_parts)

    rejects = (reject_frame(pd.concat(rej_parts, ignore_index=True), POSITION_REJECT_COLUMNS)
               if rej_parts else empty_rejects(POSITION_REJECT_COLUMNS))
    return rejects, rows_read


def _dictionary_columns(pf: pq.ParquetFile, columns: list[str]) -> list[str]:
    """The text columns worth reading dictionary-encoded: those the file stores as a
    dictionary with few distinct values (subjects, devices, times to the second), judged by
    their size, under 8 bytes a value uncompressed (codes plus a small dictionary). A column
    of distinct values (position ids) stays plain: encoding it would only add hashing."""
    meta = pf.metadata
    schema = pf.schema_arrow
    out = []
    for name in columns:
        if not (pa.types.is_string(schema.field(name).type)
                or pa.types.is_large_string(schema.field(name).type)):
            continue
        i = schema.get_field_index(name)
        size = values = 0
        for rg in range(meta.num_row_groups):
            col = meta.row_group(rg).column(i)
            if not col.has_dictionary_page:
                break
            size += col.total_uncompressed_size
            values += col.num_values
        else:
            if values and size < 8 * values:
                out.append(name)
    return out


def _convert_batches(batches, roles: dict[str, str], m: Mapping, crs: str, file: str,
                     fixes_parts: list[pa.Table], rej_parts: list[pd.DataFrame]) -> int:
    """Convert record batches in file order, ``CONVERT_THREADS`` at a time while the reader
    decodes the next (pyarrow, numpy and pyproj release the GIL for the bulk of the work).
    At most one batch more than the threads is in flight, which bounds the memory. Returns
    the number of records read."""
    rows_read = 0
    threads = CONVERT_THREADS

    def done(fut):
        fx, rj = fut.result()
        fixes_parts.append(fx)
        rej_parts.extend(rj)

    with ThreadPoolExecutor(threads) as ex:
        pending: deque = deque()
        for batch in batches:
            k = batch.num_rows
            rows = np.arange(rows_read + 1, rows_read + k + 1, dtype=np.int64)
            rows_read += k
            cols = {r: batch.column(c) for r, c in roles.items()}
            pending.append(ex.submit(_convert, cols, rows, m, crs, file,
                                     1 if threads > 1 else 0))
            while len(pending) > threads:
                done(pending.popleft())
        while pending:
            done(pending.popleft())
    return rows_read


def _decoded(table: pa.Table) -> pa.Table:
    """Every dictionary-encoded column as plain ``string``."""
    for i, f in enumerate(table.schema):
        if pa.types.is_dictionary(f.type):
            table = table.set_column(i, f.name, table.column(i).cast(pa.string()))
    return table


def _empty_fixes() -> pd.DataFrame:
    return pd.DataFrame({
        "subject": pd.array([], dtype="str"),
        "time": pd.Series([], dtype="datetime64[ns, UTC]"),
        "x": np.zeros(0), "y": np.zeros(0), "precision_m": np.zeros(0),
        "source": np.zeros(0, np.uint8),
        "device": pd.array([], dtype="str"), "position_id": pd.array([], dtype="str"),
        "lat": np.zeros(0), "lon": np.zeros(0),
        "uploaded": pd.Series([], dtype="datetime64[ns, UTC]"),
        "speed_kmh": np.zeros(0), "outside_grid": np.zeros(0, bool),
        "row": np.zeros(0, np.int64),
    }, columns=FIX_COLUMNS)
