"""A big positions file merged into the store without holding its day in memory.

A national day (14.4 M fixes) decoded is ~1.4 GiB of Arrow columns, twice its LZ4 partition;
merged whole (sorted, de-duplicated, gathered, written) it took 3.6-5.2x the partition in RAM.
``FixSpill`` takes the reader's converted batches (``positions.read_positions_into``) in place
of a list: the first ``SPILL_ROWS`` fixes are held; past that, the subjects seen so far cut
the subject names into ``BUCKETS`` ranges of about equal numbers of fixes, and every batch is
split by (UTC day, subject range) and appended to that bucket's Arrow IPC stream on disk
(uncompressed: writing and reading back cost a memory copy each). ``Store.ingest_positions``
then merges bucket by bucket, in subject order, with the same ``partitions.merge_day`` as
everything else (a subject is wholly in one bucket, so its duplicates and jump flags are all
there), the stored partition's fixes bucketed the same way, and writes each bucket's sorted
fixes as row groups of the day's new partition (``partitions.day_writer``): the peak is a
few batches and one bucket, not the day. The buckets' ranges need not be even: any subject
name falls in one (a range is a pair of names), an uneven cut costs memory, not correctness.

A file that fits (``SPILL_ROWS`` fixes or fewer: every test file, a force's daily top-up)
never touches the disk and is merged as before. The spill directory is ``.spill-PID-*`` in
the store folder (the store's disk, not a RAM-backed /tmp); it is removed when the ingest
ends, and one left by a killed process is removed by the next writer (``remove_stale``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from trailmatch.units import DAY_NS

SPILL_ROWS = 2 << 20  # fixes held in memory before the rest of a file goes to disk
BUCKETS = 32  # subject ranges a spilled file is cut into (per UTC day)
PREFIX = ".spill-"


def remove_stale(root: Path) -> None:
    """Remove spill directories of processes that no longer run (killed mid-ingest)."""
    for d in Path(root).glob(f"{PREFIX}*"):
        try:
            pid = int(d.name[len(PREFIX):].split("-", 1)[0])
        except ValueError:
            continue
        if pid == os.getpid():
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(d, ignore_errors=True)
        except PermissionError:
            pass


def _subject_codes(col: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, list[str]]:
    """Per fix, the index of its subject in a list of distinct names (nulls: none here)."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    enc = col if pa.types.is_dictionary(col.type) else pc.dictionary_encode(col)
    codes = np.asarray(enc.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    return codes, enc.dictionary.cast(pa.string()).to_pylist()


class FixSpill:
    """A list-like sink for the reader's fix tables (``append``, ``clear``) that holds the
    first ``SPILL_ROWS`` fixes and spills the rest to disk by (day, subject range)."""

    def __init__(self, root: Path, *, spill_rows: int | None = None,
                 buckets: int | None = None) -> None:
        self.root = Path(root)
        self.spill_rows = SPILL_ROWS if spill_rows is None else spill_rows
        self.buckets = BUCKETS if buckets is None else buckets
        self.held: list[pa.Table] = []
        self.held_rows = 0
        self.dir: Path | None = None
        self.bounds: list[str] | None = None  # bucket k: bounds[k-1] <= name < bounds[k]
        self.writers: dict[tuple[int, int, str], pa.ipc.RecordBatchStreamWriter] = {}
        self.schema: dict[str, pa.Schema] = {}

    # --- the list the reader appends to
    def append(self, table: pa.Table) -> None:
        if self.bounds is None:
            self.held.append(table)
            self.held_rows += table.num_rows
            if self.held_rows > self.spill_rows:
                self._start()
        else:
            self.put(table, "new")

    def clear(self) -> None:
        """Forget everything (the reader starts the file again, e.g. with its exact reader)."""
        self.close()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
        self.__init__(self.root, spill_rows=self.spill_rows, buckets=self.buckets)

    @property
    def spilled(self) -> bool:
        return self.bounds is not None

    def table(self) -> pa.Table | None:
        """The held fixes as one table (when nothing was spilled)."""
        return pa.concat_tables(self.held) if self.held else None

    # --- spilling
    def _start(self) -> None:
        names: dict[str, int] = {}
        for t in self.held:
            codes, words = _subject_codes(t.column("subject"))
            counts = np.bincount(codes, minlength=len(words))
            for w, c in zip(words, counts.tolist(), strict=True):
                if c:
                    names[w] = names.get(w, 0) + c
        order = sorted(names)
        cum = np.cumsum([names[w] for w in order])
        cuts = np.searchsorted(cum, cum[-1] * np.arange(1, self.buckets) / self.buckets,
                               side="right")
        self.bounds = sorted({order[i] for i in cuts.tolist() if i < len(order)})
        self.root.mkdir(parents=True, exist_ok=True)  # ingest creates its store
        self.dir = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=self.root))
        held, self.held, self.held_rows = self.held, [], 0
        for t in held:
            self.put(t, "new")

    def put(self, table: pa.Table, kind: str) -> None:
        """Append ``table``'s fixes to their (day, bucket) streams; ``kind``: ``new`` (from
        the file) or ``old`` (the stored partition)."""
        if table.num_rows == 0:
            return
        codes, words = _subject_codes(table.column("subject"))
        bucket_of_word = np.searchsorted(np.asarray(self.bounds, dtype=object),
                                         np.asarray(words, dtype=object), side="right")
        bucket = bucket_of_word[codes] if len(words) else np.zeros(0, np.int64)
        t = table.column("time").cast(pa.int64())
        t = np.asarray(t.combine_chunks().to_numpy(zero_copy_only=False), dtype=np.int64)
        day = np.floor_divide(t, DAY_NS)
        first_day = int(day.min())
        key = (day - first_day) * self.buckets + bucket
        if key.max() < (1 << 15):  # a few days' buckets: numpy's stable sort of 16-bit
            key = key.astype(np.int16)  # integers is a radix sort (same order, ~5x faster)
        order = np.argsort(key, kind="stable")
        key = key[order]
        starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
        ends = np.r_[starts[1:], key.size]
        part = table.take(pa.array(order))
        for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
            k = int(key[a])
            dn, bk = first_day + k // self.buckets, k % self.buckets
            self._writer(dn, bk, kind, part.schema).write_table(part.slice(a, b - a))

    def _writer(self, day_no: int, bucket: int, kind: str, schema: pa.Schema):
        key = (day_no, bucket, kind)
        w = self.writers.get(key)
        if w is None:
            if kind in self.schema and not self.schema[kind].equals(schema):
                raise ValueError("fix tables of one file differ in their columns")
            self.schema[kind] = schema
            w = pa.ipc.new_stream(str(self._path(*key)), schema)
            self.writers[key] = w
        return w

    def _path(self, day_no: int, bucket: int, kind: str) -> Path:
        assert self.dir is not None
        return self.dir / f"{day_no}-{bucket:04d}-{kind}.arrow"

    def close(self) -> None:
        for w in self.writers.values():
            w.close()

    # --- reading back
    def days(self) -> list[int]:
        """The UTC day numbers the file's fixes fall on (once spilled)."""
        return sorted({d for d, _, kind in self.writers if kind == "new"})

    def bucket(self, day_no: int, bucket: int, kind: str) -> pa.Table | None:
        if (day_no, bucket, kind) not in self.writers:
            return None
        with pa.OSFile(str(self._path(day_no, bucket, kind)), "rb") as src:
            # read into memory, not mapped: only this bucket's fixes are resident
            table = pa.ipc.open_stream(src).read_all()
        return table if table.num_rows else None

    def drop(self, day_no: int, bucket: int) -> None:
        for kind in ("new", "old"):
            if (day_no, bucket, kind) in self.writers:
                self._path(day_no, bucket, kind).unlink(missing_ok=True)

    def remove(self) -> None:
        self.close()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
