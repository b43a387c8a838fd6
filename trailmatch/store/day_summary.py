"""Each day's compliance summary, kept beside the day's segment index.

The monthly figures (``trailmatch.figures``) need, per subject, the time its trail covered and
its gaps over a month. Read from the fixes, that is a month of Parquet partitions decoded
(hundreds of millions of fixes for a national store). But a day's own segments add the same
to any month that holds the day (``index/compliance.py``, "Day summaries"), so each day is
summarised once — per subject: first and last fix, covered time, gap lengths — and a month's
figures read thirty small files.

Layout under the store directory (next to the day's segment indexes, ``day_index``)::

    index/<day>/compliance-<key>.parquet

``<key>`` hashes what the numbers depend on besides the data: the max gap and this format.
One row per subject named in the partition (``subject``, ``first_ns``, ``last_ns``,
``covered_ns``, ``gaps``: the gap lengths); a subject all of whose fixes are left out (flagged,
or outside its activation periods) has a row without fixes. The file's metadata holds what it
was computed from:

* the partition's fingerprint (``day_index.partition_fingerprint``: size, modification time
  and footer bytes), and
* a digest of the subjects file's activation periods **of the subjects in the partition**
  (they decide which fixes count and what time is monitored). Adding subjects, or changing
  a force or cohort, leaves a day's summary valid; changing the activations of someone
  with fixes that day does not.

A summary whose recorded fingerprint or digest differs from the current ones is stale and is
rebuilt from the partition, read exactly as matching reads it (``partitions.read_fixes``).
``Store.write_day`` refreshes it with the day's index (``day_index.on_day_written``), so after
ingest and the nightly run the figures find every day summarised. Written atomically
(``trailmatch.atomic``); a store that cannot be written (read-only mount) is not an error for
a reader, which uses the summary it computed.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from trailmatch.atomic import atomic_write_parquet
from trailmatch.index.compliance import DaySummary, monitored_intervals, summarise_day
from trailmatch.store.day_index import partition_fingerprint
from trailmatch.store.layout import Layout, day_name
from trailmatch.store.partitions import read_fixes, read_subjects
from trailmatch.units import DAY_NS

FORMAT = 1
PREFIX = "compliance-"
_META = b"trailmatch.compliance"

# counters a test or a benchmark can read: how often a summary was built vs read
STATS = {"built": 0, "read": 0}


def summary_key(max_gap_ns: int) -> str:
    text = json.dumps({"format": FORMAT, "max_gap_ns": int(max_gap_ns)}, sort_keys=True)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def summary_path(layout: Layout, day: date, max_gap_ns: int) -> Path:
    return layout.index_dir(day) / f"{PREFIX}{summary_key(max_gap_ns)}.parquet"


class Activations:
    """The subjects file's activation periods, digested per subject once (a 64-bit hash of
    each period, summed over the subject's), so that a day's digest — of the periods of the
    subjects it names — costs a look-up per subject."""

    def __init__(self, subjects: pd.DataFrame) -> None:
        self.subjects = subjects
        if subjects.empty:
            self._per = pd.Series(dtype=np.uint64)
            return
        a0 = subjects["activation_start"].to_numpy(dtype="datetime64[ns]").view(np.int64)
        a1 = subjects["activation_end"].to_numpy(dtype="datetime64[ns]").view(np.int64)
        rows = pd.DataFrame({"subject": subjects["subject"].astype(str).to_numpy(),
                             "a0": a0, "a1": a1})
        hashed = pd.util.hash_pandas_object(rows, index=False)
        self._per = hashed.groupby(rows["subject"].to_numpy()).sum()  # modulo 2**64

    def digest(self, names: np.ndarray) -> str:
        """Of the periods of ``names`` (a subject without any: none), in name order."""
        names = np.asarray(names, dtype=str)
        periods = self._per.reindex(pd.Index(names)).fillna(0).to_numpy(dtype=np.uint64)
        h = hashlib.blake2b(digest_size=8)
        h.update("\x1f".join(names.tolist()).encode())
        h.update(periods.tobytes())
        return h.hexdigest()


@dataclass(frozen=True)
class Summarised:
    """A day's summary and the subjects its rows belong to (sorted)."""

    names: np.ndarray
    summary: DaySummary


def _partition_names(partition: Path) -> np.ndarray:
    """Every subject with a row in the partition, sorted."""
    col = pq.read_table(partition, columns=["subject"],
                        read_dictionary=["subject"]).column("subject")
    if col.num_chunks == 0 or len(col) == 0:
        return np.empty(0, dtype=object)
    col = col.unify_dictionaries() if col.num_chunks > 1 else col
    used: set[str] = set()
    for chunk in col.chunks:
        idx = np.asarray(chunk.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
        words = np.asarray(chunk.dictionary.to_pylist(), dtype=object)
        used.update(words[np.flatnonzero(np.bincount(idx, minlength=words.size))].tolist())
    return np.array(sorted(used), dtype=object)


def build_summary(layout: Layout, day: date, max_gap_ns: int, activations: Activations,
                  fixes: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
                  ) -> Summarised:
    """Summarise the day from its partition. ``fixes``: the day's fixes as matching reads them,
    when the caller holds them already — ``(names, subject codes into names, times)``, each
    subject's in time order."""
    partition = layout.partition(day)
    names = _partition_names(partition)
    d0 = int(pd.Timestamp(day, tz="UTC").value)
    if fixes is None:
        frame = read_fixes(layout, d0, d0 + DAY_NS - 1, columns=[])
        got_names = np.asarray(frame["subject"].cat.categories.astype(str), dtype=object)
        codes = frame["subject"].cat.codes.to_numpy()
        t = frame["time"].to_numpy(dtype="datetime64[ns]").view(np.int64)
    else:
        got_names, codes, t = fixes
    got_names = np.asarray(got_names, dtype=str)
    if not pd.Index(got_names).isin(names.astype(str)).all():
        # the partition was replaced between the two reads: its fingerprint, taken before
        # them, is then not the new one's, and the next reader builds the summary again
        names = np.array(sorted(set(names.tolist()) | set(got_names.tolist())), dtype=object)
    to_row = pd.Index(names.astype(str)).get_indexer(got_names)
    g = to_row[np.asarray(codes, dtype=np.int64)]
    t = np.asarray(t, dtype=np.int64)
    if g.size and np.any((g[1:] < g[:-1]) | ((g[1:] == g[:-1]) & (t[1:] < t[:-1]))):
        order = np.lexsort((t, g))
        g, t = g[order], t[order]
    subjects = activations.subjects
    registered = (pd.Index(names.astype(str)).isin(subjects["subject"].astype(str))
                  if not subjects.empty else np.zeros(names.size, dtype=bool))
    iv_starts, m0, m1 = (monitored_intervals(subjects, names, d0, d0 + DAY_NS)
                         if not subjects.empty
                         else (np.zeros(names.size + 1, dtype=np.int64), np.empty(0, np.int64),
                               np.empty(0, np.int64)))
    summary = summarise_day(g, t, names.size, d0, max_gap_ns, registered, iv_starts, m0, m1)
    STATS["built"] += 1
    return Summarised(names, summary)


def save_summary(layout: Layout, day: date, max_gap_ns: int, got: Summarised,
                 fingerprint: str, digest: str) -> Path:
    s = got.summary
    offsets = np.zeros(s.gap_count.size + 1, dtype=np.int32)
    np.cumsum(s.gap_count, out=offsets[1:])
    table = pa.table({
        "subject": pa.array(got.names.astype(str), pa.string()),
        "first_ns": pa.array(s.first, pa.int64()),
        "last_ns": pa.array(s.last, pa.int64()),
        "covered_ns": pa.array(s.covered, pa.int64()),
        "gaps": pa.ListArray.from_arrays(pa.array(offsets),
                                         pa.array(s.gap_length, pa.int64())),
    })
    meta = {"format": FORMAT, "day": day_name(day), "max_gap_ns": int(max_gap_ns),
            "partition": fingerprint, "activations": digest}
    table = table.replace_schema_metadata({_META: json.dumps(meta, sort_keys=True)})
    path = summary_path(layout, day, max_gap_ns)
    atomic_write_parquet(table, path)
    return path


def read_summary(path: Path, day: date) -> tuple[dict, Summarised] | None:
    """The summary at ``path`` and what it was computed from; None when there is none."""
    try:
        table = pq.read_table(path)
    except (FileNotFoundError, OSError, pa.ArrowInvalid):
        return None
    try:
        meta = json.loads((table.schema.metadata or {})[_META])
    except (KeyError, ValueError):
        return None
    gaps = table.column("gaps").combine_chunks()
    offsets = np.asarray(gaps.offsets.to_numpy(), dtype=np.int64)
    summary = DaySummary(
        int(pd.Timestamp(day, tz="UTC").value),
        np.asarray(table.column("first_ns").to_numpy(), dtype=np.int64),
        np.asarray(table.column("last_ns").to_numpy(), dtype=np.int64),
        np.asarray(table.column("covered_ns").to_numpy(), dtype=np.int64),
        np.diff(offsets),
        np.asarray(gaps.values.to_numpy(), dtype=np.int64)[offsets[0]:offsets[-1]])
    names = np.asarray(table.column("subject").to_pylist(), dtype=object)
    return meta, Summarised(names, summary)


def day_summary(layout: Layout, day: date, max_gap_ns: int, activations: Activations
                ) -> Summarised:
    """The current summary of one day: read when it matches the partition and the
    activations, else built from the partition and saved."""
    partition = layout.partition(day)
    fingerprint = partition_fingerprint(partition)  # first: see ``refresh``
    path = summary_path(layout, day, max_gap_ns)
    found = read_summary(path, day)
    if found is not None:
        meta, got = found
        if (meta.get("format") == FORMAT and meta.get("max_gap_ns") == int(max_gap_ns)
                and meta.get("partition") == fingerprint
                and meta.get("activations") == activations.digest(got.names)):
            STATS["read"] += 1
            return got
    got = build_summary(layout, day, max_gap_ns, activations)
    try:
        save_summary(layout, day, max_gap_ns, got, fingerprint, activations.digest(got.names))
    except OSError as e:
        warnings.warn(f"{path}: could not save the day's compliance summary ({e.strerror})",
                      stacklevel=2)
    return got


def refresh(store_dir: Path, day: date, max_gaps_ns: list[int],
            fixes: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> None:
    """Rebuild the day's summaries after its partition was replaced: for each of
    ``max_gaps_ns`` and every other max gap already summarised there. Called by
    ``day_index.on_day_written`` with the fixes it read. The fingerprint is taken before the
    partition is read: should it change meanwhile, the summary is labelled older than its
    content and the next reader rebuilds it, never the other way round."""
    layout = Layout(store_dir)
    partition = layout.partition(day)
    directory = layout.index_dir(day)
    if not partition.exists():
        return
    wanted = {int(g) for g in max_gaps_ns}
    for path in directory.glob(f"{PREFIX}*.parquet") if directory.is_dir() else []:
        try:
            meta = json.loads(pq.read_schema(path).metadata[_META])
        except (OSError, KeyError, ValueError, TypeError, pa.ArrowInvalid):
            path.unlink(missing_ok=True)
            continue
        if meta.get("format") == FORMAT:
            wanted.add(int(meta["max_gap_ns"]))
        else:
            path.unlink(missing_ok=True)
    fingerprint = partition_fingerprint(partition)
    activations = Activations(read_subjects(layout))
    for max_gap_ns in sorted(wanted):
        got = build_summary(layout, day, max_gap_ns, activations, fixes)
        save_summary(layout, day, max_gap_ns, got, fingerprint, activations.digest(got.names))
