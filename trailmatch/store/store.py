"""The store folder's one owner: its layout, days, subjects and activations, and the one read
of "the fixes of these subjects for this window" that the CLI, the jobs, the Dask partitions
and the service all use.

The folder's paths are spelt in ``layout`` and nowhere else: ``store.json`` (the working CRS),
one partition of fixes per UTC day (``partitions``: merged, written, read), the subjects file
(device activation periods), each day's persisted segment indexes (``day_index``), and the
writers' lock. Crime versions live in the hit store (``trailmatch.hitstore``), whose default
SQLite file sits in the same folder.

Reading: ``Store.read_window(start, end, subjects=...)`` gives the fixes as ``match()`` takes
them; ``Store.indexed_window(...)`` gives the same fixes as a ``Trail`` with its segment
index, from the persisted day indexes; ``Store.activations(start, end)`` the device activation
periods that meet a window, for coverage. ``ingested_since(ts)`` lists the (day, subject)
pairs that changed since ``ts``, so a re-match can be limited to them.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from trailmatch.allocator import release_free_memory
from trailmatch.atomic import atomic_write, atomic_write_parquet
from trailmatch.crs import OSTN15
from trailmatch.ingest.quality import DEFAULT_MAX_SPEED_KMH
from trailmatch.rules import Rules
from trailmatch.store.day_index import load_index_for_window, on_day_written
from trailmatch.store.day_summary import refresh as refresh_summaries
from trailmatch.store.layout import TEMPORARY_PATTERNS, Layout, day_from_number, day_name
from trailmatch.store.partitions import (
    NAT,
    POSITION_SCHEMA,
    UTC_NS,
    DayFixes,
    _col,
    merge_day,
    read_fixes,
    read_subjects,
    utc_ns,
    write_day,
)
from trailmatch.store.transformation import KEY as TRANSFORMATION_KEY
from trailmatch.store.transformation import check, recorded
from trailmatch.units import DAY_NS

FORMAT_VERSION = 1


class StoreNotFound(Exception):
    """A command was pointed at a directory that is not a trail store (no positions ingested
    there): the message names the path."""


@contextmanager
def store_lock(root: Path):
    """One writer at a time per store (readers need no lock: partitions are replaced whole).

    Temporary files left by a writer that was killed are removed once the lock is held (no
    other writer can own them then)."""
    root.mkdir(parents=True, exist_ok=True)
    with open(Layout(root).lock, "a+") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            for pattern in TEMPORARY_PATTERNS:
                for tmp in root.glob(pattern):
                    tmp.unlink(missing_ok=True)
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


@dataclass
class IngestCounts:
    """Per file: read = accepted + duplicate + flagged + rejected. ``outside_grid``: of the
    accepted and flagged fixes, those outside OSTN15's cover (placed by the fallback, still
    matched unless flagged for another reason)."""

    file: str
    read: int = 0
    accepted: int = 0
    duplicate: int = 0
    flagged: int = 0
    rejected: int = 0
    outside_grid: int = 0
    days_written: list[date] = field(default_factory=list)

    def line(self) -> str:
        tail = f", outside_grid {self.outside_grid}" if self.outside_grid else ""
        return (f"{self.file}: read {self.read}, accepted {self.accepted}, duplicate "
                f"{self.duplicate}, flagged {self.flagged}, rejected {self.rejected}{tail}")


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



class Store:
    """A store directory (see the module docstring). Creating one needs no setup."""

    def __init__(self, path: str | os.PathLike, *, crs: str | None = None) -> None:
        self.layout = Layout(path)
        self.root = self.layout.root
        self._crs = crs

    @classmethod
    def existing(cls, path: str | os.PathLike) -> Store:
        """The store at ``path``, or ``StoreNotFound`` naming the path when there is no such
        directory or nothing was ever ingested there (every verb but ``ingest``, which creates
        stores, opens its store this way, so a misspelt path creates nothing)."""
        store = cls(path)
        if not store.root.exists():
            raise StoreNotFound(f"{path}: no such store directory")
        if not store.root.is_dir():
            raise StoreNotFound(f"{path}: not a store directory (it is a file)")
        if not store.layout.meta.exists():
            raise StoreNotFound(f"{path}: not a trail store (no positions ingested); run "
                                "trailmatch ingest positions FILE --store DIR first")
        try:
            store.crs()
        except (OSError, ValueError, KeyError) as e:
            raise StoreNotFound(f"{path}: not a trail store (unreadable "
                                f"{store.layout.meta.name}: {e})") from None
        return store

    @classmethod
    def create(cls, path: str | os.PathLike, crs: str) -> Store:
        """An empty store at ``path`` holding x/y in ``crs`` (ingest creates one on its
        first file; this is for setting one up before any data arrives)."""
        store = cls(path)
        store.root.mkdir(parents=True, exist_ok=True)
        store._ensure_meta(crs)
        return store

    # --- metadata
    @property
    def positions_dir(self) -> Path:
        return self.layout.positions

    @property
    def meta_path(self) -> Path:
        return self.layout.meta

    def crs(self) -> str | None:
        if self.meta_path.exists():
            return json.loads(self.meta_path.read_text())["crs"]
        return None

    def transformation(self) -> str | None:
        """How the store's x/y were placed from WGS84 (``transformation.recorded``)."""
        return recorded(self.layout)

    def check_transformation(self) -> Store:
        """The store, or ``StoreNeedsUpgrade`` (naming ``trailmatch upgrade``) when its x/y
        were placed before OSTN15."""
        check(self.layout)
        return self

    def _ensure_meta(self, crs: str) -> None:
        stored = self.crs()
        if stored is None:
            atomic_write(self.meta_path, json.dumps({"format": FORMAT_VERSION, "crs": crs,
                                                     TRANSFORMATION_KEY: OSTN15}))
            return
        check(self.layout)  # never add OSTN15 fixes to a store of Helmert ones
        if stored != crs:
            raise ValueError(f"{self.root}: the store holds x/y in {stored}, not {crs}; "
                             "use the store's working CRS or a new store")

    # --- partitions
    def days(self) -> list[date]:
        return self.layout.days()

    def day_path(self, day: date) -> Path:
        return self.layout.partition(day)

    def read_day(self, day: date, columns: list[str] | None = None) -> pa.Table:
        return pq.read_table(self.day_path(day), columns=columns)

    def n_fixes(self) -> int:
        return sum(pq.ParquetFile(self.day_path(d)).metadata.num_rows for d in self.days())

    def write_day(self, day: date, table: pa.Table) -> Path:
        """Replace (or, with an empty table, remove) a day partition, then refresh its index
        (``day_index.on_day_written``) and its compliance summary (``day_summary.refresh``,
        from the fixes the index was built from). Should either fail, the partition stands
        and readers rebuild what is stale (its fingerprint tells)."""
        path = write_day(self.layout, day, table)
        written = DayFixes(self.layout, day)
        written.add(table)
        del table
        self._refresh_derived(day, written)
        return path

    def _refresh_derived(self, day: date, written: DayFixes | None = None) -> None:
        """The day's index and compliance summary after its partition was replaced (by
        ``write_day`` or a spilled ingest's ``partitions.day_writer``)."""
        try:
            self.refresh_derived(day, written)
        except Exception as e:  # noqa: BLE001 — a derived file must not undo a stored partition
            warnings.warn(f"{self.root}: index or summary of {day} not refreshed: {e}",
                          stacklevel=3)

    def refresh_derived(self, day: date, written: DayFixes | None = None) -> None:
        """Rebuild what is kept beside a day partition after it changed: its segment indexes
        (``day_index.on_day_written``) and, from the fixes they were built from, its
        compliance summaries (``day_summary.refresh``); a removed partition's go with it.
        ``written``: the fixes the writer gathered as it wrote the partition (else the day
        is read back from it)."""
        trail = on_day_written(self.root, day_name(day), written)
        if trail is not None:
            release_free_memory()  # the index's arrays, before the summary's
            refresh_summaries(self.root, day, [Rules().max_gap_ns],
                              fixes=(trail.subjects, trail.subject, trail.t))

    # --- reading for matching
    def read_window(self, start, end, *, subjects=None, include_flagged: bool = False,
                    columns: list[str] | None = None) -> pd.DataFrame:
        """The fixes of ``subjects`` (None: every subject) with ``start <= time <= end``
        (int ns or timestamps) in the match() trails schema (``subject`` categorical,
        ``time`` UTC, ``x``, ``y``, ``precision_m``, ``source``), reading only the day
        partitions that overlap. Flagged fixes are left out unless ``include_flagged``; for
        subjects with activation periods, fixes outside them are left out."""
        return read_fixes(self.layout, start, end, include_flagged=include_flagged,
                          subjects=subjects, columns=columns)

    def indexed_window(self, start_ns: int, end_ns: int, rules, *,
                       margin_ns: int | None = None):
        """``(Trail, SegmentIndex)`` answering every question about ``[start_ns, end_ns]``:
        the fixes ``read_window`` gives (unflagged) for the window widened by ``margin_ns``
        (default: the rules' max gap), from the persisted day indexes
        (``day_index.load_index_for_window``)."""
        return load_index_for_window(self.root, start_ns, end_ns, rules, margin_ns=margin_ns)

    def activations(self, start=None, end=None) -> pd.DataFrame | None:
        """Device activation periods (``trailmatch.eliminate.activations_from_subjects``)
        that meet ``[start, end]`` (only those can matter: others would list every past
        subject), or None when the store has no subjects file (then a subject counts as
        monitored from its first to its last fix)."""
        from trailmatch.eliminate import activations_from_subjects

        subjects = self.subjects()
        if subjects.empty:
            return None
        if start is not None or end is not None:
            s0 = pd.to_datetime(subjects["activation_start"], utc=True)
            s1 = pd.to_datetime(subjects["activation_end"], utc=True)
            meets = np.ones(len(subjects), dtype=bool)
            if end is not None:
                meets &= (s0 <= pd.Timestamp(utc_ns(end), tz="UTC")).to_numpy()
            if start is not None:
                meets &= (s1.isna() | (s1 >= pd.Timestamp(utc_ns(start), tz="UTC"))).to_numpy()
            subjects = subjects[meets]
        return activations_from_subjects(subjects)

    def ingested_since(self, ts) -> pd.DataFrame:
        """(day, subject) pairs with fixes stored at or after ``ts``: ``day``, ``subject``,
        ``fixes``, ``first_time``, ``last_time``. Partitions not modified since ``ts`` are
        skipped without reading."""
        t_ns = utc_ns(ts)
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
            wanted = [*POSITION_SCHEMA.names, "outside_grid"]  # the flag, merged into flagged
            if isinstance(fixes, pa.Table):
                table = fixes.select([c for c in wanted if c in fixes.column_names])
            else:
                table = pa.Table.from_pandas(fixes[[c for c in wanted if c in fixes.columns]],
                                             preserve_index=False)
            for name in POSITION_SCHEMA.names:
                if name not in table.column_names and name not in ("flagged", "ingested_at"):
                    typ = POSITION_SCHEMA.field(name).type
                    col = (pa.array(np.zeros(table.num_rows, np.uint8)) if name == "source"
                           else pa.nulls(table.num_rows, typ))
                    table = table.append_column(name, col)
            k = table.column_names.index("time")
            if table.schema.field(k).type != UTC_NS:  # e.g. pandas' microsecond datetimes
                table = table.set_column(k, "time", table.column(k).cast(UTC_NS))
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
                day = day_from_number(dn)
                part = (table if uniq.size == 1
                        else table.take(pa.array(order[bounds[k]:bounds[k + 1]])))
                path = self.day_path(day)
                existing = pq.read_table(path) if path.exists() else None
                m = merge_day(day, existing, part, ingested_at_ns=ingested_at_ns,
                              max_speed_kmh=max_speed_kmh)
                counts.accepted += m.new_kept - m.new_flagged
                counts.flagged += m.new_flagged
                counts.outside_grid += m.new_outside_grid
                counts.duplicate += m.duplicates
                if m.changed:
                    self.write_day(day, m.table)
                    written.append(day)
            counts.days_written = written
        return counts, written

    def ingest_positions(self, path, *, crs: str = "EPSG:27700", mapping=None,
                         timezone: str | None = None,
                         max_speed_kmh: float = DEFAULT_MAX_SPEED_KMH):
        """Read one positions file and merge it; returns ``(IngestCounts, rejects)``.
        Raises ``PositionsFormatError`` when the file is unusable as a whole. A file of more
        than ``spill.SPILL_ROWS`` fixes is bucketed to disk while it is read and merged
        bucket by bucket (``trailmatch.store.spill``): the same store, without the day in
        memory."""
        from trailmatch.ingest.positions import read_positions_into
        from trailmatch.store.spill import FixSpill

        spill = FixSpill(self.root)
        try:
            rejects, rows_read = read_positions_into(path, spill, crs=crs, mapping=mapping,
                                                     timezone=timezone)
            if spill.spilled:
                counts = self._ingest_spilled(spill, crs=crs, max_speed_kmh=max_speed_kmh)
            else:
                table = spill.table()
                counts = (self.ingest_fixes(table, crs=crs, max_speed_kmh=max_speed_kmh)[0]
                          if table is not None else IngestCounts(file=""))
        finally:
            spill.remove()
        counts.file = str(path)
        counts.read = rows_read
        counts.rejected = int(rejects["row"].nunique()) if len(rejects) else 0
        return counts, rejects

    def _ingest_spilled(self, spill, *, crs: str, max_speed_kmh: float) -> IngestCounts:
        """Merge a spilled file (``spill.FixSpill``) day by day and, within a day, bucket by
        bucket in subject order, each bucket through ``merge_day`` with the stored
        partition's fixes of its subjects; the day's new partition is written in parts
        (``partitions.day_writer``) and published only when a fix was added."""
        from trailmatch.store.partitions import day_writer
        from trailmatch.store.spill import remove_stale

        ingested_at_ns = time.time_ns()
        counts = IngestCounts(file="")
        with store_lock(self.root):
            remove_stale(self.root)
            self._ensure_meta(crs)
            for dn in spill.days():  # the stored partitions' fixes, bucketed as the file's
                path = self.day_path(day_from_number(dn))
                if path.exists():
                    for b in pq.ParquetFile(path).iter_batches(batch_size=1 << 20):
                        spill.put(pa.Table.from_batches([b]), "old")
            spill.close()
            release_free_memory()  # the reader's batches, before the buckets are merged
            empty = spill.schema["new"].empty_table()

            def merged(dn: int, k: int):
                new, old = spill.bucket(dn, k, "new"), spill.bucket(dn, k, "old")
                if new is None and old is None:
                    return None
                m = merge_day(day_from_number(dn), old, empty if new is None else new,
                              ingested_at_ns=ingested_at_ns, max_speed_kmh=max_speed_kmh)
                spill.drop(dn, k)
                return m

            # The next bucket is merged on a second thread while this one is written (the
            # merge and the Parquet encoder release the GIL): both cores, two buckets held.
            with ThreadPoolExecutor(1) as ahead:
                for dn in spill.days():
                    day = day_from_number(dn)
                    changed = False
                    written = DayFixes(self.layout, day)  # the index's fixes, as written
                    with day_writer(self.layout, day) as w:
                        nxt = ahead.submit(merged, dn, 0)
                        for k in range(spill.buckets):
                            m = nxt.result()
                            if k + 1 < spill.buckets:
                                nxt = ahead.submit(merged, dn, k + 1)
                            if m is None:
                                continue
                            counts.accepted += m.new_kept - m.new_flagged
                            counts.flagged += m.new_flagged
                            counts.outside_grid += m.new_outside_grid
                            counts.duplicate += m.duplicates
                            changed |= m.changed
                            w.write(m.table)
                            written.add(m.table)
                            del m
                        if changed:
                            w.publish()
                    if changed:
                        self._refresh_derived(day, written)
                        counts.days_written.append(day)
                    del written
        return counts

    # --- subjects
    @property
    def subjects_path(self) -> Path:
        return self.layout.subjects

    def subjects(self) -> pd.DataFrame:
        return read_subjects(self.layout)

    def ingest_subjects(self, path, *, forces=None):
        """Read a subjects file and merge it; returns ``(IngestCounts, rejects)``."""
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
                self.write_day(d, kept)
                report.fixes_deleted[d] = k
                if kept.num_rows == 0:
                    report.partitions_removed.append(d)
        return report

