"""The trail store: every fix of every subject, one Parquet partition per UTC day.

Layout of a store directory ``DIR``::

    DIR/store.json                  working CRS of x/y (fixed when the store is created)
    DIR/positions/YYYY-MM-DD.parquet  the fixes taken that UTC day, sorted by subject, time
    DIR/subjects.parquet            subjects and device activation periods
    DIR/crimes/crimes.parquet       every version of every validated crime
    DIR/.lock                       held by a writer (ingest, purge) for its whole run

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
``ingested_since(ts)`` lists what arrived at or after ``ts``, so a re-match can be limited to
the (day, subject) pairs that changed. ``flagged`` holds the quality flag reasons
(``trailmatch.ingest.quality``), recomputed over the day whenever it is rewritten; flagged
fixes are stored but left out of ``read_trails`` unless ``include_flagged``.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from trailmatch.ingest.atomic import publish
from trailmatch.ingest.quality import DEFAULT_MAX_SPEED_KMH, flag_text, quality_flags

DAY_NS = 86_400 * 10**9
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

def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def day_path(positions_dir: Path, day: date) -> Path:
    return positions_dir / f"{day.isoformat()}.parquet"


def write_day(positions_dir: Path, day: date, table: pa.Table) -> Path:
    """Replace the partition of ``day`` with ``table`` (already sorted by subject, time), or
    remove it when ``table`` is empty. Atomic: temp file, fsync, ``os.replace``, fsync dir.

    This is the one place a partition is written: per-day derived files belong here too.
    """
    positions_dir.mkdir(parents=True, exist_ok=True)
    path = day_path(positions_dir, day)
    if table.num_rows == 0:
        if path.exists():
            path.unlink()
            _fsync_dir(positions_dir)
        _refresh_day_index(positions_dir, day)
        return path
    fd, tmp = tempfile.mkstemp(prefix=f".{day.isoformat()}.", suffix=".tmp", dir=positions_dir)
    os.close(fd)
    try:
        # No Arrow schema in the file: every column then reads back as POSITION_SCHEMA (the
        # Parquet types say string, UTC nanoseconds, uint8) whether it was written from plain
        # or dictionary-encoded text.
        pq.write_table(_storable(table), tmp,
                       compression="lz4", row_group_size=1 << 20,
                       use_dictionary=list(CODED_COLUMNS),
                       write_statistics=["time", "ingested_at", "subject"], store_schema=False)
        publish(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _refresh_day_index(positions_dir, day)
    return path


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


def _refresh_day_index(positions_dir: Path, day: date) -> None:
    """The day's segment index (``trailmatch.index.persist``) follows its partition. Should
    that fail, the partition stands and readers rebuild the index (its manifest is stale)."""
    from trailmatch.index.persist import on_day_written

    try:
        on_day_written(positions_dir.parent, day.isoformat())
    except Exception as e:  # noqa: BLE001 — a derived file must not undo a stored partition
        warnings.warn(f"{positions_dir.parent}: index of {day} not refreshed: {e}",
                      stacklevel=2)


@contextmanager
def store_lock(root: Path):
    """One writer at a time per store (readers need no lock: partitions are replaced whole).

    Temporary files left by a writer that was killed are removed once the lock is held (no
    other writer can own them then)."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "a+") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            # only the store's own temporary names (a rejects file may live here too)
            for pattern in (".store.*.tmp", ".subjects.parquet.*.tmp",
                            "positions/.????-??-??.*.tmp", "crimes/.crimes.parquet.*.tmp"):
                for tmp in root.glob(pattern):
                    tmp.unlink(missing_ok=True)
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


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
    idx = np.asarray(enc.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    words = np.asarray(enc.dictionary.to_pylist(), dtype=object)
    used = np.flatnonzero(np.bincount(idx, minlength=words.size) > 0)
    names = words[used]
    rank = np.argsort(names.astype(str), kind="stable")
    lut = np.full(words.size, -1, dtype=np.int64)
    lut[used[rank]] = np.arange(used.size)
    return pd.Categorical.from_codes(lut[idx].astype(np.int32),
                                     categories=pd.Index(names[rank].tolist(), dtype=object))


# ----------------------------------------------------------------------------- merging

@dataclass
class DayMerge:
    table: pa.Table
    new_kept: int  # incoming fixes now stored
    new_flagged: int  # of those, flagged
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
    words = pa.array([flag_text(np.array([b]))[0] for b in (1, 2, 3)], pa.string())
    if not flags.any():
        return pa.DictionaryArray.from_arrays(pa.nulls(flags.size, pa.int32()), words)
    codes = np.asarray(flags, dtype=np.int32) & 3
    return pa.DictionaryArray.from_arrays(pa.array(codes - 1, pa.int32(), mask=codes == 0),
                                          words)


def merge_day(day: date, existing: pa.Table | None, new: pa.Table, *, ingested_at_ns: int,
              max_speed_kmh: float = DEFAULT_MAX_SPEED_KMH) -> DayMerge:
    """Merge incoming fixes of one UTC day into its stored partition (or none).

    One fix per (subject, time) survives, chosen by content — the smallest (precision (unknown
    last), x, y, source, lat, lon, uploaded, speed, position id, device) — and, on equal
    content, the stored one, so that a resend changes nothing. Flags are recomputed on the
    result.
    """
    n_old = existing.num_rows if existing is not None else 0
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
    out = out.set_column(POSITION_SCHEMA.get_field_index("flagged"), "flagged",
                         _flag_column(flags))
    new_kept = int(kept_new.sum())
    return DayMerge(
        table=out,
        new_kept=new_kept,
        new_flagged=int(((flags != 0) & kept_new).sum()),
        duplicates=(n - n_old) - new_kept,
        replaced=n_old - int((~kept_new).sum()),
    )


# ----------------------------------------------------------------------------- the store

@dataclass
class IngestCounts:
    """Per file: read = accepted + duplicate + flagged + rejected."""

    file: str
    read: int = 0
    accepted: int = 0
    duplicate: int = 0
    flagged: int = 0
    rejected: int = 0
    days_written: list[date] = field(default_factory=list)

    def line(self) -> str:
        return (f"{self.file}: read {self.read}, accepted {self.accepted}, duplicate "
                f"{self.duplicate}, flagged {self.flagged}, rejected {self.rejected}")


@dataclass
class PurgeReport:
    before: date
    subjects: list[str]  # whose licence ended before ``before``
    fixes_deleted: dict[date, int]  # per day partition
    partitions_removed: list[date]
    fixes_by_subject: dict[str, int] = field(default_factory=dict)

    @property
    def total_deleted(self) -> int:
        return int(sum(self.fixes_deleted.values()))


def _utc_ns(ts) -> int:
    if isinstance(ts, int | np.integer):
        return int(ts)
    t = pd.Timestamp(ts)
    t = t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
    return int(t.value)


class TrailStore:
    """A store directory (see the module docstring). Creating one needs no setup."""

    def __init__(self, path: str | os.PathLike, *, crs: str | None = None) -> None:
        self.root = Path(path)
        self.positions_dir = self.root / "positions"
        self._crs = crs

    # --- metadata
    @property
    def meta_path(self) -> Path:
        return self.root / "store.json"

    def crs(self) -> str | None:
        if self.meta_path.exists():
            return json.loads(self.meta_path.read_text())["crs"]
        return None

    def _ensure_meta(self, crs: str) -> None:
        stored = self.crs()
        if stored is None:
            self.root.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".store.", suffix=".tmp", dir=self.root)
            with os.fdopen(fd, "w") as f:
                json.dump({"format": FORMAT_VERSION, "crs": crs}, f)
            publish(tmp, self.meta_path)
        elif stored != crs:
            raise ValueError(f"{self.root}: the store holds x/y in {stored}, not {crs}; "
                             "use the store's working CRS or a new store")

    # --- partitions
    def days(self) -> list[date]:
        if not self.positions_dir.is_dir():
            return []
        out = []
        for p in self.positions_dir.glob("*.parquet"):
            try:
                out.append(date.fromisoformat(p.stem))
            except ValueError:
                continue
        return sorted(out)

    def day_path(self, day: date) -> Path:
        return day_path(self.positions_dir, day)

    def read_day(self, day: date, columns: list[str] | None = None) -> pa.Table:
        return pq.read_table(self.day_path(day), columns=columns)

    def n_fixes(self) -> int:
        return sum(pq.ParquetFile(self.day_path(d)).metadata.num_rows for d in self.days())

    # --- reading for matching
    def read_trails(self, start_ns, end_ns, *, include_flagged: bool = False,
                    subjects=None) -> pd.DataFrame:
        """Fixes with ``start <= time <= end`` in the match() trails schema (``subject``
        categorical, ``time`` UTC, ``x``, ``y``, ``precision_m``, ``source``), reading only the
        day partitions that overlap. Flagged fixes are left out unless ``include_flagged``;
        for subjects with activation periods, fixes outside them are left out.
        """
        s_ns, e_ns = _utc_ns(start_ns), _utc_ns(end_ns)
        first = (pd.Timestamp(s_ns, tz="UTC")).date()
        last = (pd.Timestamp(e_ns, tz="UTC")).date()
        days = [d for d in self.days() if first <= d <= last]
        filt = ((ds.field("time") >= pa.scalar(s_ns, pa.int64()).cast(UTC_NS))
                & (ds.field("time") <= pa.scalar(e_ns, pa.int64()).cast(UTC_NS)))
        if not include_flagged:
            filt = filt & ds.field("flagged").is_null()
        # Subjects come back dictionary-encoded: one small dictionary per day instead of a
        # string per fix, and a categorical column for match() without re-encoding.
        tables = [pq.read_table(self.day_path(d), columns=TRAIL_COLUMNS, filters=filt,
                                read_dictionary=["subject"]) for d in days]
        table = (pa.concat_tables(tables).unify_dictionaries() if tables
                 else _empty_trails())
        if subjects is not None and table.num_rows:
            wanted = pa.array(sorted({str(s) for s in subjects}), pa.string())
            table = table.filter(pc.is_in(table.column("subject"), value_set=wanted))
        table = self._within_activations(table)
        subject = _subject_categorical(table.column("subject"))
        frame = table.drop_columns(["subject"]).to_pandas()
        frame.insert(0, "subject", subject)
        return frame

    def _within_activations(self, table: pa.Table) -> pa.Table:
        from trailmatch.ingest.subjects import activation_arrays, inside_activation

        subj = self.subjects()
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

    def ingested_since(self, ts) -> pd.DataFrame:
        """(day, subject) pairs with fixes stored at or after ``ts``: ``day``, ``subject``,
        ``fixes``, ``first_time``, ``last_time``. Partitions not modified since ``ts`` are
        skipped without reading."""
        t_ns = _utc_ns(ts)
        parts = []
        for d in self.days():
            p = self.day_path(d)
            if p.stat().st_mtime_ns < t_ns - 2 * 10**9:  # 2 s: file time stamp granularity
                continue
            tab = pq.read_table(p, columns=["subject", "time"],
                                filters=ds.field("ingested_at")
                                >= pa.scalar(t_ns, pa.int64()).cast(UTC_NS))
            if tab.num_rows:
                f = tab.to_pandas()
                g = f.groupby("subject", sort=True)["time"].agg(["size", "min", "max"])
                g = g.reset_index().rename(columns={"size": "fixes", "min": "first_time",
                                                    "max": "last_time"})
                g.insert(0, "day", d)
                parts.append(g)
        if not parts:
            return pd.DataFrame({"day": [], "subject": [], "fixes": [], "first_time": [],
                                 "last_time": []})
        return pd.concat(parts, ignore_index=True)

    # --- writing
    def ingest_fixes(self, fixes: pd.DataFrame | pa.Table, *, crs: str = "EPSG:27700",
                     max_speed_kmh: float = DEFAULT_MAX_SPEED_KMH,
                     ingested_at_ns: int | None = None) -> tuple[IngestCounts, list[date]]:
        """Merge validated fixes (``read_positions(...).fixes``) into the day partitions.
        Counts cover the given fixes only (``read`` is their number, ``rejected`` 0)."""
        ingested_at_ns = ingested_at_ns or time.time_ns()
        counts = IngestCounts(file="", read=len(fixes))
        if len(fixes) == 0:
            return counts, []
        with store_lock(self.root):
            self._ensure_meta(crs)
            if isinstance(fixes, pa.Table):
                table = fixes.select([c for c in POSITION_SCHEMA.names if c in fixes.column_names])
            else:
                table = pa.Table.from_pandas(
                    fixes[[c for c in POSITION_SCHEMA.names if c in fixes.columns]],
                    preserve_index=False)
            for name in POSITION_SCHEMA.names:
                if name not in table.column_names and name not in ("flagged", "ingested_at"):
                    typ = POSITION_SCHEMA.field(name).type
                    col = (pa.array(np.zeros(table.num_rows, np.uint8)) if name == "source"
                           else pa.nulls(table.num_rows, typ))
                    table = table.append_column(name, col)
            t = _col(table, "time", np.int64)
            bad = (t == NAT) | ~np.isfinite(_col(table, "x", np.float64)) \
                | ~np.isfinite(_col(table, "y", np.float64))
            if bad.any() or table.column("subject").null_count:
                # read_positions never gives these: the caller's frame is wrong
                raise ValueError("ingest_fixes: fix(es) without a subject or time, or with a "
                                 "non-finite x/y; validate with read_positions first")
            day_no = np.floor_divide(t, DAY_NS)
            if day_no.min() == day_no.max():  # one day (a daily export): nothing to split
                order = np.arange(day_no.size)
                uniq, first = day_no[:1], np.zeros(1, dtype=np.int64)
            else:
                order = np.argsort(day_no, kind="stable")
                uniq, first = np.unique(day_no[order], return_index=True)
            bounds = [*first.tolist(), order.size]
            written = []
            for k, dn in enumerate(uniq.tolist()):
                day = date(1970, 1, 1) + timedelta(days=int(dn))
                part = (table if uniq.size == 1
                        else table.take(pa.array(order[bounds[k]:bounds[k + 1]])))
                path = self.day_path(day)
                existing = pq.read_table(path) if path.exists() else None
                m = merge_day(day, existing, part, ingested_at_ns=ingested_at_ns,
                              max_speed_kmh=max_speed_kmh)
                counts.accepted += m.new_kept - m.new_flagged
                counts.flagged += m.new_flagged
                counts.duplicate += m.duplicates
                if m.changed:
                    write_day(self.positions_dir, day, m.table)
                    written.append(day)
            counts.days_written = written
        return counts, written

    def ingest_positions(self, path, *, crs: str = "EPSG:27700", mapping=None,
                         timezone: str | None = None,
                         max_speed_kmh: float = DEFAULT_MAX_SPEED_KMH):
        """Read one positions file and merge it; returns ``(IngestCounts, rejects)``.
        Raises ``PositionsFormatError`` when the file is unusable as a whole."""
        from trailmatch.ingest.positions import read_positions_table

        got = read_positions_table(path, crs=crs, mapping=mapping, timezone=timezone,
                                   keep_dictionary=True)
        counts, _ = self.ingest_fixes(got.table, crs=crs, max_speed_kmh=max_speed_kmh)
        counts.file = str(path)
        counts.read = got.rows_read
        counts.rejected = got.rows_rejected
        return counts, got.rejects

    # --- subjects and crimes
    @property
    def subjects_path(self) -> Path:
        return self.root / "subjects.parquet"

    def subjects(self) -> pd.DataFrame:
        from trailmatch.ingest.subjects import empty_subjects

        if not self.subjects_path.exists():
            return empty_subjects()
        return pq.read_table(self.subjects_path).to_pandas()

    def ingest_subjects(self, path, *, forces=None):
        """Read a subjects file and merge it; returns ``(IngestCounts, rejects)``."""
        from trailmatch.ingest.atomic import atomic_write_parquet
        from trailmatch.ingest.subjects import SUBJECT_COLUMNS, merge_subjects, read_subjects

        got = read_subjects(path, forces=forces)
        counts = IngestCounts(file=str(path), read=got.rows_read,
                              rejected=int(got.rejects["row"].nunique()))
        with store_lock(self.root):
            old = self.subjects()
            merged = merge_subjects(old, got.subjects)
            old_cmp = merge_subjects(old, old.iloc[:0]) if len(old) else old
            if len(merged) == len(old_cmp) and merged.equals(old_cmp):
                counts.duplicate = len(got.subjects)
            else:
                before = {tuple(r) for r in old_cmp[SUBJECT_COLUMNS].astype(str).to_numpy()}
                new_rows = got.subjects[SUBJECT_COLUMNS].copy()
                new_rows["device"] = new_rows["device"].fillna("")
                fresh = [tuple(r) not in before for r in new_rows.astype(str).to_numpy()]
                counts.accepted = int(np.sum(fresh))
                counts.duplicate = len(got.subjects) - counts.accepted
                table = pa.Table.from_pandas(merged, preserve_index=False)
                atomic_write_parquet(table, self.subjects_path)
        return counts, got.rejects

    def crimes(self, *, latest: bool = True) -> pd.DataFrame:
        """Stored crimes: the latest version of each (default) or every version."""
        from trailmatch.ingest.crime_store import read_stored_crimes, stored_latest_crimes

        return stored_latest_crimes(self.root) if latest else read_stored_crimes(self.root)

    def ingest_crimes(self, path, *, crs: str = "EPSG:27700", forces=None,
                      max_window_h: float = 12.0):
        """Read a crime batch and store its accepted crimes as versions; returns
        ``(IngestCounts, rejects, batch)``."""
        from trailmatch.ingest.crime_batch import read_crime_batch
        from trailmatch.ingest.crime_store import store_crimes

        batch = read_crime_batch(path, crs=crs, forces=forces, max_window_h=max_window_h)
        counts = IngestCounts(file=str(path), read=batch.rows_read,
                              rejected=batch.rows_rejected)
        with store_lock(self.root):
            self._ensure_meta(crs)
            stored, dups = store_crimes(self.root, batch.crimes)
        counts.accepted, counts.duplicate = stored, dups
        return counts, batch.rejects, batch

    # --- retention
    def purge(self, before) -> PurgeReport:
        """Delete every fix of the subjects whose licence ended before ``before`` (a date:
        licence end < that day 00:00 UTC). Idempotent: a second run deletes nothing."""
        before_d = pd.Timestamp(before).date()
        cutoff = pd.Timestamp(before_d, tz="UTC")
        subj = self.subjects()
        ended = subj[subj["licence_end"].notna() & (subj["licence_end"] < cutoff)]
        # A subject with several records is purged only when every licence end is past.
        still = set(subj.loc[subj["licence_end"].isna() | (subj["licence_end"] >= cutoff),
                             "subject"].astype(str))
        gone = sorted(set(ended["subject"].astype(str)) - still)
        report = PurgeReport(before=before_d, subjects=gone, fixes_deleted={},
                             partitions_removed=[])
        if not gone:
            return report
        gone_arr = pa.array(gone, pa.string())
        with store_lock(self.root):
            for d in self.days():
                table = self.read_day(d)
                drop = pc.is_in(table.column("subject"), value_set=gone_arr)
                k = int(pc.sum(drop).as_py() or 0)
                if k == 0:
                    continue
                kept = table.filter(pc.invert(drop))
                for item in pc.value_counts(table.column("subject").filter(drop)).to_pylist():
                    name = item["values"]
                    report.fixes_by_subject[name] = (report.fixes_by_subject.get(name, 0)
                                                     + item["counts"])
                write_day(self.positions_dir, d, kept)
                report.fixes_deleted[d] = k
                if kept.num_rows == 0:
                    report.partitions_removed.append(d)
        return report
