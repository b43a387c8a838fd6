"""The day partitions: one Parquet file of fixes per UTC day, merged, written and read.

A fix is keyed by (subject, time): of several fixes with one key, the store keeps one chosen by
content (the most precise, then the smallest x, y, ...), never by arrival order, so ingesting
the same files again, or in another order, leaves the same fixes. A partition is rewritten only
when a fix is added to it, always through a temporary file and ``os.replace``
(``write_day``): a run killed at any moment leaves every partition as before or complete.
Partitions carry no Arrow schema: their Parquet types alone read back as ``POSITION_SCHEMA``,
so the merge may hand the writer dictionary-encoded text (``CODED_COLUMNS``) or plain text
and the stored data is the same.

Each fix carries ``ingested_at``, the instant of the ingest run that stored it (a fix that
loses to a better duplicate later is replaced, and the winner carries the later instant).
``flagged`` holds the quality flag reasons (``trailmatch.ingest.quality``), recomputed over the
day whenever it is rewritten (``outside_grid``, a fact of the fix's projection, is carried);
flagged fixes are stored but left out of ``read_fixes`` unless ``include_flagged`` — except
those flagged ``outside_grid`` only, which count. ``read_fixes`` is the one read of "the
fixes for this window": the ``Store`` (``trailmatch.store``) and the day indexes
(``day_index``) both go through it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from trailmatch.atomic import fsync_dir, publish, temporary_beside
from trailmatch.ingest.quality import (
    ALL_FLAGS,
    COUNTED_FLAG_TEXTS,
    DEFAULT_MAX_SPEED_KMH,
    EXCLUDING,
    OUTSIDE_GRID,
    carried,
    flag_words,
    quality_flags,
)
from trailmatch.store.layout import Layout
from trailmatch.store.transformation import check as check_transformation
from trailmatch.units import DAY_NS

EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
NAT = np.iinfo(np.int64).min
UTC_NS = pa.timestamp("ns", tz="UTC")
POSITION_SCHEMA = pa.schema([
    ("subject", pa.string()),
    ("time", UTC_NS),
    ("x", pa.float64()),
    ("y", pa.float64()),
    ("precision_m", pa.float64()),
    ("source", pa.uint8()),
    ("device", pa.string()),
    ("position_id", pa.string()),
    ("lat", pa.float64()),
    ("lon", pa.float64()),
    ("uploaded", UTC_NS),
    ("speed_kmh", pa.float64()),
    ("flagged", pa.string()),
    ("ingested_at", UTC_NS),
])
TRAIL_COLUMNS = ["subject", "time", "x", "y", "precision_m", "source"]
FORMAT_VERSION = 1
# Text columns with few distinct values: kept dictionary-encoded from the reader through the
# merge to the Parquet writer (sorting and taking move int32 codes, not strings, and the writer
# stores the dictionary as it is). Readers see plain ``string`` (see ``write_day``).
CODED_COLUMNS = ("subject", "device", "flagged")
CODED = pa.dictionary(pa.int32(), pa.string())


# ----------------------------------------------------------------------------- files

def write_day(layout: Layout, day: date, table: pa.Table) -> Path:
    """Replace the partition of ``day`` with ``table`` (already sorted by subject, time), or
    remove it when ``table`` is empty. Atomic: temp file, fsync, ``os.replace``, fsync dir.

    The one place a partition is written; ``Store.write_day`` also refreshes the day's index.
    """
    positions_dir = layout.positions
    positions_dir.mkdir(parents=True, exist_ok=True)
    path = layout.partition(day)
    if table.num_rows == 0:
        if path.exists():
            path.unlink()
            fsync_dir(positions_dir)
        return path
    with temporary_beside(path) as tmp:
        # No Arrow schema in the file: every column then reads back as POSITION_SCHEMA (the
        # Parquet types say string, UTC nanoseconds, uint8) whether it was written from plain
        # or dictionary-encoded text.
        pq.write_table(_storable(table), tmp,
                       compression="lz4", row_group_size=1 << 20,
                       use_dictionary=list(CODED_COLUMNS),
                       write_statistics=["time", "ingested_at", "subject"], store_schema=False)
    return path


class DayWriter:
    """A day partition written in parts: each ``write(table)`` (sorted by subject, time, and
    after every earlier part) adds row groups; ``publish()`` puts the file in place atomically
    (as ``write_day``); leaving the ``day_writer`` block without it removes the file."""

    def __init__(self, tmp: str, path: Path) -> None:
        self.tmp = tmp
        self.path = path
        self.writer: pq.ParquetWriter | None = None
        self.rows = 0
        self.published = False

    def write(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        table = _storable(table)
        if self.writer is None:
            self.writer = pq.ParquetWriter(
                self.tmp, table.schema, compression="lz4",
                use_dictionary=list(CODED_COLUMNS),
                write_statistics=["time", "ingested_at", "subject"], store_schema=False)
        self.writer.write_table(table, row_group_size=1 << 20)
        self.rows += table.num_rows

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def publish(self) -> None:
        self.close()
        if self.rows == 0:
            raise ValueError(f"{self.path}: a day partition written in parts got no fixes")
        publish(self.tmp, self.path)
        self.published = True


@contextmanager
def day_writer(layout: Layout, day: date) -> Iterator[DayWriter]:
    """A ``DayWriter`` for the partition of ``day``: what ``write_day`` does for a table that
    arrives in sorted parts (``trailmatch.store.spill``). Published only by ``publish()``
    with at least one fix; the stored partition is untouched otherwise."""
    path = layout.partition(day)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    w = DayWriter(tmp, path)
    try:
        yield w
    finally:
        w.close()
        if not w.published:
            Path(tmp).unlink(missing_ok=True)


def _storable(table: pa.Table) -> pa.Table:
    """``table`` in POSITION_SCHEMA's columns and types, except that the text columns of
    CODED_COLUMNS may stay dictionary-encoded (one dictionary per column: a change of
    dictionary inside a row group would make the writer fall back to plain values)."""
    cols = []
    fields = []
    for f in POSITION_SCHEMA:
        col = table.column(f.name)
        if pa.types.is_dictionary(col.type) and f.name in CODED_COLUMNS:
            col = col.cast(CODED)
            if col.num_chunks > 1:
                col = pa.chunked_array([col.unify_dictionaries().combine_chunks()])
            fields.append(pa.field(f.name, CODED))
        else:
            col = col.cast(f.type)
            fields.append(f)
        cols.append(col)
    return pa.Table.from_arrays(cols, schema=pa.schema(fields))


def _empty_trails() -> pa.Table:
    schema = pa.schema([POSITION_SCHEMA.field(c) for c in TRAIL_COLUMNS])
    schema = schema.set(0, pa.field("subject", pa.dictionary(pa.int32(), pa.string())))
    return schema.empty_table()


def _subject_categorical(col: pa.ChunkedArray) -> pd.Categorical:
    """The subject column as a pandas categorical of the subjects present, in name order
    (computed on the dictionary codes: no string per fix is touched)."""
    enc = col if pa.types.is_dictionary(col.type) else pc.dictionary_encode(col)
    enc = enc.combine_chunks() if isinstance(enc, pa.ChunkedArray) else enc
    if len(enc) == 0:
        return pd.Categorical([], categories=pd.Index([], dtype=object))
    # the int32 codes as Arrow holds them (no per-fix int64 copy: a day's is 115 MB)
    idx = enc.indices.to_numpy(zero_copy_only=False)
    words = np.asarray(enc.dictionary.to_pylist(), dtype=object)
    used = np.flatnonzero(np.bincount(idx, minlength=words.size) > 0)
    names = words[used]
    rank = np.argsort(names.astype(str), kind="stable")
    lut = np.full(words.size, -1, dtype=np.int32)
    lut[used[rank]] = np.arange(used.size)
    return pd.Categorical.from_codes(lut[idx],
                                     categories=pd.Index(names[rank].tolist(), dtype=object))


# ----------------------------------------------------------------------------- merging

@dataclass
class DayMerge:
    table: pa.Table
    new_kept: int  # incoming fixes now stored
    new_flagged: int  # of those, flagged so as to be left out of matching
    new_outside_grid: int  # of those, outside OSTN15's cover (still matched)
    duplicates: int  # incoming fixes not stored: another fix has their (subject, time)
    replaced: int  # stored fixes displaced by a better incoming duplicate

    @property
    def changed(self) -> bool:
        return self.new_kept > 0


def _sorted_codes(arr: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, pa.Array]:
    """Codes of a string column such that code order is string order (-1 for null), and the
    distinct strings in that order (code ``i`` is ``words[i]``)."""
    enc = pc.dictionary_encode(arr)
    if isinstance(enc, pa.ChunkedArray):
        enc = enc.unify_dictionaries().combine_chunks() if enc.num_chunks else pa.array(
            [], pa.dictionary(pa.int32(), pa.string()))
    words = enc.dictionary
    if len(words) == 0:
        return np.zeros(len(enc), dtype=np.int64), words
    by_name = pc.sort_indices(words)
    rank = np.empty(len(words), dtype=np.int64)
    rank[np.asarray(by_name)] = np.arange(len(words))
    words = words.take(by_name)
    if enc.indices.null_count == 0:
        return rank[np.asarray(enc.indices.to_numpy(zero_copy_only=False))], words
    idx = np.asarray(enc.indices.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)
    return np.where(idx < 0, -1, rank[np.maximum(idx, 0)]), words


def _col(table: pa.Table, name: str, dtype) -> np.ndarray:
    c = table.column(name)
    if pa.types.is_timestamp(c.type):
        c = pc.cast(c, pa.int64())
        fill = NAT
        dtype = np.int64
    else:
        fill = np.nan if pa.types.is_floating(c.type) else 0
    if c.null_count:
        c = c.fill_null(fill)
    return np.asarray(c.to_numpy(), dtype=dtype)


def _merge_form(table: pa.Table) -> pa.Table:
    """POSITION_SCHEMA's columns and types, with subject and device dictionary-encoded (codes
    to sort and take; plain text is encoded once here, which the sort needed anyway)."""
    cols = []
    fields = []
    for f in POSITION_SCHEMA:
        col = table.column(f.name)
        if f.name in ("subject", "device"):
            col = (col.cast(CODED) if pa.types.is_dictionary(col.type)
                   else pc.dictionary_encode(col.cast(pa.string())))
            fields.append(pa.field(f.name, CODED))
        else:
            fields.append(f)
            col = col.cast(f.type)
        cols.append(col)
    return pa.Table.from_arrays(cols, schema=pa.schema(fields))


def _take(table: pa.Table, order: np.ndarray, given: dict[str, pa.Array]) -> pa.Table:
    """``table.take(order)``, column by column on two threads (pyarrow and numpy release the
    GIL for the bulk of it), except the columns in ``given`` (already in that order). A
    fixed-width column without nulls is gathered with numpy, anything else by pyarrow; both
    first join the column's chunks (a gather across chunks looks up the chunk of every index,
    ten times slower than joining and gathering)."""
    idx = pa.array(order) if any(n not in given for n in table.column_names) else None

    def one(name: str) -> pa.Array:
        if name in given:
            return given[name]
        col = table.column(name)
        temporal = pa.types.is_timestamp(col.type)
        if (pa.types.is_floating(col.type) or pa.types.is_integer(col.type) or temporal) \
                and col.null_count == 0 and col.num_chunks:
            if temporal:
                col = col.cast(pa.int64())
            chunks = [c.to_numpy() for c in col.chunks]
            joined = chunks[0] if len(chunks) == 1 else np.concatenate(chunks)
            out = pa.array(joined[order])
            return out.cast(table.schema.field(name).type) if temporal else out
        joined = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
        return joined.take(idx)

    with ThreadPoolExecutor(2) as ex:
        cols = list(ex.map(one, table.column_names))
    return pa.Table.from_arrays(cols, schema=table.schema)


def _flag_column(flags: np.ndarray) -> pa.Array:
    """``flag_text(flags)`` as a dictionary-encoded column (no Python object per fix)."""
    words = pa.array(flag_words()[1:], pa.string())
    if not flags.any():
        return pa.DictionaryArray.from_arrays(pa.nulls(flags.size, pa.int32()), words)
    codes = np.asarray(flags, dtype=np.int32) & ALL_FLAGS
    return pa.DictionaryArray.from_arrays(pa.array(codes - 1, pa.int32(), mask=codes == 0),
                                          words)


def _carried_bits(flagged: pa.ChunkedArray) -> np.ndarray:
    """The flag bits stored fixes carry (``quality.carried``: outside_grid), once per
    distinct ``flagged`` text."""
    enc = pc.dictionary_encode(flagged)
    enc = enc.combine_chunks() if isinstance(enc, pa.ChunkedArray) else enc
    if enc.null_count == len(enc):
        return np.zeros(len(enc), dtype=np.uint8)
    lut = np.append(carried(np.asarray(enc.dictionary.to_pylist(), dtype=object)), 0)
    idx = enc.indices.fill_null(len(enc.dictionary)).to_numpy(zero_copy_only=False)
    return lut[np.asarray(idx, dtype=np.int64)].astype(np.uint8)


def merge_day(day: date, existing: pa.Table | None, new: pa.Table, *, ingested_at_ns: int,
              max_speed_kmh: float = DEFAULT_MAX_SPEED_KMH) -> DayMerge:
    """Merge incoming fixes of one UTC day into its stored partition (or none).

    One fix per (subject, time) survives, chosen by content — the smallest (precision (unknown
    last), x, y, source, lat, lon, uploaded, speed, position id, device) — and, on equal
    content, the stored one, so that a resend changes nothing. Flags are recomputed on the
    result.
    """
    n_old = existing.num_rows if existing is not None else 0
    carry = np.zeros(n_old + new.num_rows, dtype=np.uint8)  # outside_grid: fact of the fix
    if n_old:
        carry[:n_old] = _carried_bits(existing.column("flagged"))
    if "outside_grid" in new.column_names:
        outside = _col(new, "outside_grid", np.bool_)
        carry[n_old:] = np.where(outside, OUTSIDE_GRID, 0)
    new = new.select([c for c in POSITION_SCHEMA.names if c not in ("flagged", "ingested_at")])
    new = new.append_column("flagged", pa.nulls(new.num_rows, pa.string()))
    new = new.append_column("ingested_at",
                            pa.array(np.full(new.num_rows, ingested_at_ns, "datetime64[ns]"))
                            .cast(UTC_NS))
    new = _merge_form(new)
    both = pa.concat_tables([_merge_form(existing), new]) if n_old else new
    n = both.num_rows
    is_new = np.zeros(n, dtype=np.int8)
    is_new[n_old:] = 1
    code, names = _sorted_codes(both.column("subject"))
    n_subj = len(names)
    t = _col(both, "time", np.int64)
    rel = t - (day.toordinal() - EPOCH_ORDINAL) * DAY_NS
    if n_subj < (1 << 16) and n and rel.min() >= 0 and rel.max() < DAY_NS:
        # One int64 key (subject code in the top bits, time of day below): a single argsort.
        order = np.argsort((code << 47) | rel, kind="stable")
    else:
        order = np.lexsort((t, code))
    code, t = code[order], t[order]
    same = (code[1:] == code[:-1]) & (t[1:] == t[:-1])
    keep = np.ones(n, dtype=bool)
    if same.any():
        in_group = np.zeros(n, dtype=bool)
        in_group[1:] |= same
        in_group[:-1] |= same
        g = np.flatnonzero(in_group)
        sub = both.take(pa.array(order[g]))
        prec = _col(sub, "precision_m", np.float64)
        pid, _ = _sorted_codes(sub.column("position_id"))
        dev, _ = _sorted_codes(sub.column("device"))
        keys = (is_new[order[g]], dev, pid, _col(sub, "speed_kmh", np.float64),
                _col(sub, "uploaded", np.int64), _col(sub, "lon", np.float64),
                _col(sub, "lat", np.float64), _col(sub, "source", np.int64),
                _col(sub, "y", np.float64), _col(sub, "x", np.float64),
                np.where(np.isnan(prec), np.inf, prec), t[g], code[g])
        pref = np.lexsort(keys)
        gs = g[pref]
        first = np.ones(gs.size, dtype=bool)
        first[1:] = (code[gs][1:] != code[gs][:-1]) | (t[gs][1:] != t[gs][:-1])
        keep[g] = False
        keep[gs[first]] = True
        order, code, t = order[keep], code[keep], t[keep]
    # subject and time are known in order already (codes index the sorted names); the flags
    # column is recomputed below
    given = {"subject": pa.DictionaryArray.from_arrays(code.astype(np.int32),
                                                       names.cast(pa.string())),
             "time": pa.array(t).cast(UTC_NS),
             "flagged": pa.nulls(order.size, pa.string())}
    out = _take(both, order, given) if n else both
    kept_new = is_new[order] == 1
    flags = quality_flags(code, t, _col(out, "x", np.float64), _col(out, "y", np.float64),
                          _col(out, "precision_m", np.float64), max_speed_kmh)
    if carry.any():
        flags |= carry[order]
    out = out.set_column(POSITION_SCHEMA.get_field_index("flagged"), "flagged",
                         _flag_column(flags))
    new_kept = int(kept_new.sum())
    return DayMerge(
        table=out,
        new_kept=new_kept,
        new_flagged=int(((flags & EXCLUDING != 0) & kept_new).sum()),
        new_outside_grid=int(((flags & OUTSIDE_GRID != 0) & kept_new).sum()),
        duplicates=(n - n_old) - new_kept,
        replaced=n_old - int((~kept_new).sum()),
    )




# ----------------------------------------------------------------------------- reading

def utc_ns(ts) -> int:
    """An instant (int nanoseconds, or anything ``pd.Timestamp`` takes; naive is UTC) as int
    nanoseconds since 1970-01-01 UTC."""
    if isinstance(ts, int | np.integer):
        return int(ts)
    t = pd.Timestamp(ts)
    t = t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
    return int(t.value)


def read_subjects(layout: Layout) -> pd.DataFrame:
    """The store's subjects and device activation periods (empty when none were ingested)."""
    from trailmatch.ingest.subjects import empty_subjects

    if not layout.subjects.exists():
        return empty_subjects()
    return pq.read_table(layout.subjects).to_pandas()


def read_fixes(layout: Layout, start, end, *, include_flagged: bool = False,
               subjects=None, columns: list[str] | None = None) -> pd.DataFrame:
    """The fixes of ``subjects`` (None: all) with ``start <= time <= end`` as matching takes
    them: ``subject`` (categorical), ``time`` (UTC), ``x``, ``y``, ``precision_m``,
    ``source``, reading only the day partitions that overlap. Flagged fixes are left out
    unless ``include_flagged``; for subjects with activation periods, fixes outside them are
    left out (the activation filter, written once here). ``columns`` reads fewer of
    ``TRAIL_COLUMNS`` (``subject`` and ``time`` always come).
    """
    check_transformation(layout)  # never match on x/y another transformation made
    s_ns, e_ns = utc_ns(start), utc_ns(end)
    first = (pd.Timestamp(s_ns, tz="UTC")).date()
    last = (pd.Timestamp(e_ns, tz="UTC")).date()
    days = [d for d in layout.days() if first <= d <= last]
    filt = _fixes_filter(s_ns, e_ns, include_flagged)
    # Subjects come back dictionary-encoded: one small dictionary per day instead of a
    # string per fix, and a categorical column for match() without re-encoding.
    wanted_columns = (TRAIL_COLUMNS if columns is None else
                      [c for c in TRAIL_COLUMNS if c in {"subject", "time", *columns}])
    tables = [pq.read_table(layout.partition(d), columns=wanted_columns, filters=filt,
                            read_dictionary=["subject"]) for d in days]
    return _fixes_frame(layout, tables, wanted_columns, subjects)


def _fixes_filter(s_ns: int, e_ns: int, include_flagged: bool = False) -> ds.Expression:
    """Which stored fixes ``read_fixes`` gives for ``[s_ns, e_ns]``."""
    filt = ((ds.field("time") >= pa.scalar(s_ns, pa.int64()).cast(UTC_NS))
            & (ds.field("time") <= pa.scalar(e_ns, pa.int64()).cast(UTC_NS)))
    if not include_flagged:  # fixes with only informational flags (outside_grid) count
        filt = filt & (ds.field("flagged").is_null()
                       | ds.field("flagged").isin(list(COUNTED_FLAG_TEXTS)))
    return filt


def _fixes_frame(layout: Layout, tables: list[pa.Table], wanted_columns: list[str],
                 subjects=None) -> pd.DataFrame:
    """``read_fixes``' frame from the tables its filter gave, in order."""
    table = (pa.concat_tables(tables).unify_dictionaries() if tables
             else _empty_trails().select(wanted_columns))
    if subjects is not None and table.num_rows:
        wanted = pa.array(sorted({str(s) for s in subjects}), pa.string())
        table = table.filter(pc.is_in(table.column("subject"), value_set=wanted))
    table = _within_activations(table, read_subjects(layout))
    subject = _subject_categorical(table.column("subject"))
    frame = table.drop_columns(["subject"]).to_pandas()
    frame.insert(0, "subject", subject)
    return frame


class DayFixes:
    """The fixes of a day partition as ``read_fixes`` gives them (the whole UTC day), gathered
    from the sorted parts written to it (``write_day``, ``DayWriter``) instead of read back
    from the file: ``add`` each part as it is written, ``frame()`` once at the end. Each part
    goes through ``read_fixes``' own filters (flags, the day, activation periods: row by row,
    so part by part is the same); its subject codes are kept as Arrow, its other trail
    columns as numpy arrays of their own (C heap, not Arrow's pool: a freed column's pages go
    back to the OS at once with ``malloc_trim``, wherever they lie). The frame is then joined
    column by column, each column's parts freed as soon as it is joined: the day is never
    held twice."""

    def __init__(self, layout: Layout, day: date) -> None:
        self.layout = layout
        day0 = (day.toordinal() - EPOCH_ORDINAL) * DAY_NS
        self.filter = _fixes_filter(day0, day0 + DAY_NS - 1)
        self.subjects = read_subjects(layout)  # the writer holds the store's lock
        self.names: list[pa.Table] = []
        self.columns: dict[str, list[np.ndarray]] = {c: [] for c in TRAIL_COLUMNS[1:]}

    def add(self, table: pa.Table) -> None:
        if not table.num_rows:
            return
        part = _storable_trail(table.select([*TRAIL_COLUMNS, "flagged"]).filter(self.filter))
        part = _within_activations(part, self.subjects)
        for name, arrays in self.columns.items():
            # a copy (np.array) in numpy's memory; nulls (an unknown precision) become NaN,
            # and times datetime64[ns], as to_pandas makes them
            arrays.extend(np.array(c.to_numpy(zero_copy_only=False))
                          for c in part.column(name).chunks)
        self.names.append(part.select(["subject"]))

    def frame(self) -> pd.DataFrame:
        """The day's fixes, as ``read_fixes`` reads them from the partition (the parts are
        handed over: a second call gives no fixes)."""
        from trailmatch.allocator import release_free_memory
        from trailmatch.trails import ns_to_datetime

        if not self.names:
            return _fixes_frame(self.layout, [], TRAIL_COLUMNS)
        release_free_memory()  # what the merge freed, before the index's arrays are made
        table = pa.concat_tables(self.names).unify_dictionaries()
        self.names = []
        columns: dict[str, object] = {"subject": _subject_categorical(table.column("subject"))}
        del table
        parts, self.columns = self.columns, {}
        for name in TRAIL_COLUMNS[1:]:
            arrays = parts.pop(name)  # and with them this column's parts go
            joined = (np.concatenate(arrays) if arrays else  # every fix left out
                      np.empty(0, "M8[ns]" if name == "time"
                               else POSITION_SCHEMA.field(name).type.to_pandas_dtype()))
            del arrays
            release_free_memory()
            columns[name] = ns_to_datetime(joined.view(np.int64)) if name == "time" else joined
        return pd.DataFrame(columns, copy=False)


def _storable_trail(part: pa.Table) -> pa.Table:
    """The trail columns of ``part`` in the types a partition reads back as (subject
    dictionary-encoded, as ``read_dictionary`` gives it), as new buffers of their own."""
    cols, fields = [], []
    for name in TRAIL_COLUMNS:
        col = part.column(name)
        want = CODED if name == "subject" else POSITION_SCHEMA.field(name).type
        if name == "subject" and not pa.types.is_dictionary(col.type):
            col = pc.dictionary_encode(col.cast(pa.string()))
        col = col.cast(want)
        cols.append(col)
        fields.append(pa.field(name, want))
    return pa.Table.from_arrays(cols, schema=pa.schema(fields))


def _within_activations(table: pa.Table, subj: pd.DataFrame) -> pa.Table:
    from trailmatch.ingest.subjects import activation_arrays, inside_activation

    if subj.empty or table.num_rows == 0:
        return table
    col = table.column("subject")
    enc = (col if pa.types.is_dictionary(col.type) else pc.dictionary_encode(col))
    enc = enc.unify_dictionaries().combine_chunks() if enc.num_chunks > 1 \
        else enc.combine_chunks()
    names = np.asarray(enc.dictionary.to_pylist(), dtype=object)
    code = np.asarray(enc.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    known, starts, a0, a1 = activation_arrays(subj, names)
    if not known.any():
        return table
    t = _col(table, "time", np.int64)
    return table.filter(pa.array(inside_activation(code, t, known, starts, a0, a1)))
