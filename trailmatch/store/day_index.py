"""The segment index on disk: one directory of ``.npy`` files per (day partition, rules).

Part of the store's layout (``trailmatch.store.layout``): the index of a day is derived from
its partition, read exactly as matching reads it (``partitions.read_fixes``).

Why: building a day's index is O(fixes) but still costs a read of the Parquet partition, a
validation pass and a sort; an officer's look-up ("who was near this place at this time?")
should not pay that. The index is written once, next to the partition it was built from, and
opened by memory-mapping (``np.load(mmap_mode="r")``), which costs a few file opens.

Layout under the store directory::

    index/<day>/manifest-<params>.json      the pointer: params, partition fingerprint, arrays
    index/<day>/<params>-<fingerprint>/     one generation: every array as <name>.npy

``<params>`` hashes what the index depends on (max gap, whether precision counts, the cell
size, time bucket and chunking), so indexes for different rules live side by side.
``<fingerprint>`` identifies the partition the arrays were built from: its size, modification
time and the bytes of its tail (the Parquet footer, which holds every row group's offsets and
statistics). A manifest whose fingerprint is not the partition's current one is stale.

Atomic writes: a generation is written into a temporary directory (every array fsynced),
then renamed into place (``os.replace``); only then is the manifest (a small file) replaced
through ``trailmatch.atomic`` (fsync, rename, fsync of the directory). A reader follows the
manifest, so it sees the old generation or the new one, never a half-written one. Old
generations are removed after the switch; a reader that still has their arrays mapped keeps
them (POSIX keeps unlinked files alive while mapped).

Windows and midnight: each day's index holds that day's fixes only, so a late ingest into one
day invalidates only that day. A path segment that crosses midnight joins the last fix of one
day to the first fix of the next; ``load_index_for_window`` stitches days whenever the window,
widened by the max gap (every segment meeting the window has both ends within it), reaches
into more than one day.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import warnings
from collections import OrderedDict
from collections.abc import Callable
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from trailmatch.atomic import atomic_write, fsync_dir
from trailmatch.index.segments import BUILD_DEFAULTS, SegmentIndex, build_index
from trailmatch.rules import Rules
from trailmatch.store.layout import Layout, day_name, days_between
from trailmatch.store.partitions import DayFixes, read_fixes
from trailmatch.store.transformation import check as check_transformation
from trailmatch.trails import Trail, prepare_trail
from trailmatch.units import DAY_NS

FORMAT = 3  # 3: the bin keys of index/bins.py (level in 5 bits, the bucket in 19)
_TAIL_BYTES = 64 * 1024

# default build parameters of ``build_index`` (recorded in every manifest)

_TRAIL_ARRAYS = ("subject", "t", "x", "y", "precision", "source", "starts")
_INDEX_ARRAYS = ("reach", "chunk_first", "chunk_end", "chunk_key", "box", "tspan", "bin_start",
                 "block_box", "levels")
_INDEX_SCALARS = ("max_gap_ns", "cell_m", "bucket_ns", "max_chunk_ns")


class StaleIndex(Exception):
    """The index on disk does not belong to the partition or rules at hand."""


# ---------------------------------------------------------------------------------------------
# identity: what an index depends on


def index_params(rules: Rules, **build: float) -> dict:
    """Everything the index arrays depend on, as plain JSON values."""
    params = dict(BUILD_DEFAULTS)
    params.update(build)
    params["max_gap_ns"] = rules.max_gap_ns
    params["count_precision"] = bool(rules.count_precision)
    params["format"] = FORMAT
    return params


def _digest(value: bytes | str) -> str:
    if isinstance(value, str):
        value = value.encode()
    return hashlib.blake2b(value, digest_size=8).hexdigest()


def params_key(params: dict) -> str:
    return _digest(json.dumps(params, sort_keys=True))


_FINGERPRINTS: dict[str, tuple[tuple, str]] = {}


def partition_fingerprint(partition: Path) -> str:
    """Identity of a partition file's current content, cheap enough to check on every open:
    size, modification time and a hash of its last 64 KiB (the Parquet footer). The hash is
    remembered while the file's stat (inode, size, mtime, ctime) stays the same."""
    st = os.stat(partition)
    stat_key = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    known = _FINGERPRINTS.get(str(partition))
    if known is not None and known[0] == stat_key:
        return known[1]
    h = hashlib.blake2b(digest_size=8)
    h.update(f"{st.st_size}:{st.st_mtime_ns}:".encode())
    with open(partition, "rb") as f:
        f.seek(max(st.st_size - _TAIL_BYTES, 0))
        h.update(f.read())
    if len(_FINGERPRINTS) > 4096:
        _FINGERPRINTS.clear()
    _FINGERPRINTS[str(partition)] = (stat_key, h.hexdigest())
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------
# save / open one day


def day_index_dir(store_dir: Path, day: str) -> Path:
    return Layout(store_dir).index_dir(day)


def save_index(directory: Path, trail: Trail, index: SegmentIndex, *, params: dict,
               fingerprint: str, partition: str = "") -> Path:
    """Write ``trail`` and ``index`` as a new generation under ``directory`` and switch the
    manifest to it, atomically. Returns the manifest path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    pkey = params_key(params)
    generation = f"{pkey}-{fingerprint}"
    final = directory / generation
    arrays = {name: getattr(trail, name) for name in _TRAIL_ARRAYS}
    arrays["subjects"] = np.asarray(trail.subjects, dtype=str)
    arrays.update({name: getattr(index, name) for name in _INDEX_ARRAYS})
    described = {}
    tmp = Path(tempfile.mkdtemp(prefix=f".{generation}.", dir=directory))
    try:
        for name, value in arrays.items():
            value = np.ascontiguousarray(value)
            with open(tmp / f"{name}.npy", "wb") as f:
                np.save(f, value, allow_pickle=False)
                f.flush()
                os.fsync(f.fileno())  # durable before the manifest can point at them
            described[name] = {"dtype": value.dtype.str, "shape": list(value.shape)}
        fsync_dir(tmp)
        if final.exists():
            shutil.rmtree(tmp)  # same partition and params already written: identical content
        else:
            try:
                os.replace(tmp, final)
                fsync_dir(directory)
            except OSError:  # a concurrent writer got there first with the same content
                shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    manifest = {
        "format": FORMAT,
        "generation": generation,
        "partition": partition,
        "fingerprint": fingerprint,
        "params": params,
        "scalars": {name: getattr(index, name) for name in _INDEX_SCALARS},
        "n_fixes": trail.n_fixes,
        "n_subjects": trail.n_subjects,
        "n_chunks": index.n_chunks,
        "arrays": described,
    }
    path = directory / f"manifest-{pkey}.json"
    atomic_write(path, json.dumps(manifest, indent=1, sort_keys=True))
    _drop_old_generations(directory, pkey, keep=generation)
    return path


def _drop_old_generations(directory: Path, pkey: str, keep: str) -> None:
    for entry in directory.iterdir():
        if entry.is_dir() and entry.name.startswith(f"{pkey}-") and entry.name != keep:
            shutil.rmtree(entry, ignore_errors=True)


def read_manifest(directory: Path, params: dict) -> dict | None:
    path = Path(directory) / f"manifest-{params_key(params)}.json"
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def open_index(directory: Path, params: dict, fingerprint: str | None = None,
               mmap: bool = True) -> tuple[Trail, SegmentIndex]:
    """Open the generation the manifest names (memory-mapped copy-on-write by default).

    Raises ``StaleIndex`` when there is no manifest for these params, or when ``fingerprint``
    is given and differs from the one the index was built from.
    """
    directory = Path(directory)
    manifest = read_manifest(directory, params)
    if manifest is None:
        raise StaleIndex(f"{directory}: no index for these rules")
    if manifest.get("format") != FORMAT or manifest.get("params") != params:
        raise StaleIndex(f"{directory}: index built with other parameters")
    if fingerprint is not None and manifest["fingerprint"] != fingerprint:
        raise StaleIndex(f"{directory}: the partition changed since the index was built")
    gen = directory / manifest["generation"]
    # copy-on-write mapping: pages come from the file and nothing is copied unless written,
    # and the arrays are writeable like in-memory ones, so the numba kernels run with the
    # signatures they were compiled (and cached) for instead of compiling read-only variants
    mode = "c" if mmap else None
    try:
        a = {name: np.asarray(np.load(gen / f"{name}.npy", mmap_mode=mode, allow_pickle=False))
             for name in manifest["arrays"]}
    except FileNotFoundError as e:  # removed under us by a newer generation: caller rebuilds
        raise StaleIndex(f"{directory}: generation {manifest['generation']} is gone") from e
    for name, desc in manifest["arrays"].items():
        if a[name].dtype.str != desc["dtype"] or list(a[name].shape) != desc["shape"]:
            raise StaleIndex(f"{directory}: {name}.npy does not match the manifest")
    trail = Trail(a["subjects"].astype(object), a["subject"], a["t"], a["x"], a["y"],
                  a["precision"], a["source"], a["starts"])
    s = manifest["scalars"]
    index = SegmentIndex(a["subject"], a["t"], a["x"], a["y"], a["reach"], a["chunk_first"],
                         a["chunk_end"], a["chunk_key"], a["box"], a["tspan"], a["bin_start"],
                         a["levels"], a["block_box"], int(s["max_gap_ns"]), float(s["cell_m"]),
                         int(s["bucket_ns"]), int(s["max_chunk_ns"]))
    return trail, index


def build_for(trail: Trail, params: dict) -> SegmentIndex:
    return build_index(trail, params["max_gap_ns"] / 1e9, params["count_precision"],
                       cell_m=params["cell_m"], bucket_s=params["bucket_s"],
                       chunk_fixes=params["chunk_fixes"], chunk_span_s=params["chunk_span_s"])


# ---------------------------------------------------------------------------------------------
# the trail store: one index per day partition


def read_partition_trail(partition: Path) -> Trail:
    """A day partition as a ``Trail``, seen exactly as matching sees the store: a trail store
    partition (it has the ``flagged`` column) through ``partitions.read_fixes`` (flagged
    fixes and fixes outside activation periods left out); a plain Parquet file of ``subject``,
    ``time``, ``x``, ``y`` [, ``precision_m``, ``source``] as it is."""
    partition = Path(partition)
    if "flagged" in pq.read_schema(partition).names:
        day0 = pd.Timestamp(partition.stem, tz="UTC").value
        frame = read_fixes(Layout(partition.parent.parent), day0, day0 + DAY_NS - 1)
    else:
        frame = pd.read_parquet(partition)
    return prepare_trail(frame)


def day_fingerprint(partition: Path) -> str:
    """The partition's fingerprint, combined with the store's subjects file when there is one
    (its activation periods decide which fixes count)."""
    fp = partition_fingerprint(partition)
    subjects = Layout(Path(partition).parent.parent).subjects
    if subjects.exists():
        fp = _digest(fp + partition_fingerprint(subjects))
    return fp


def _save_quietly(directory: Path, trail: Trail, index: SegmentIndex, params: dict,
                  fingerprint: str, partition: Path) -> None:
    """Persist a rebuilt index; a store we may not write to (read-only mount) is not an
    error for a reader, which goes on with the index in memory."""
    try:
        save_index(directory, trail, index, params=params, fingerprint=fingerprint,
                   partition=Path(partition).name)
    except OSError as e:
        warnings.warn(f"{directory}: could not save the rebuilt index ({e.strerror})",
                      stacklevel=3)


def write_day_index(store_dir: Path, day: str, partition: Path, rules: Rules | None = None,
                    trail: Trail | None = None, **build: float) -> Path:
    """(Re)build the index of one day partition and save it. Pass ``trail`` when the caller
    already holds the day's fixes as matching sees them."""
    rules = rules or Rules()
    params = index_params(rules, **build)
    fingerprint = day_fingerprint(partition)
    if trail is None:
        trail = read_partition_trail(partition)
    index = build_for(trail, params)
    return save_index(day_index_dir(store_dir, day), trail, index, params=params,
                      fingerprint=fingerprint, partition=Path(partition).name)


def on_day_written(store_dir: Path, day: str, written: DayFixes | None = None
                   ) -> Trail | None:
    """Called by the trail store after it replaced (or removed) a day partition: rebuild that
    day's index for the default rules and for every other set of rules already indexed there,
    or drop the day's indexes when the partition is gone. A crash between the partition's
    replacement and this leaves a stale manifest, which readers detect by its fingerprint.
    Returns the day's fixes as matching reads them (None when the partition is gone), for
    the day's other derived files.

    ``written``: the fixes the writer gathered while it wrote the partition
    (``partitions.DayFixes``, the same rows ``read_fixes`` gives, in the same order and
    types); the index is then built from them instead of reading the day back, so the day
    is not held twice (the writer's parts are freed as they are converted)."""
    store_dir = Path(store_dir)
    partition = Layout(store_dir).partition(date.fromisoformat(day))
    directory = day_index_dir(store_dir, day)
    if not partition.exists():
        shutil.rmtree(directory, ignore_errors=True)
        return None
    wanted = {params_key(index_params(Rules())): index_params(Rules())}
    for path in sorted(directory.glob("manifest-*.json")) if directory.is_dir() else []:
        try:
            params = json.loads(path.read_text())["params"]
        except (OSError, ValueError, KeyError):
            continue
        if params.get("format") == FORMAT:
            wanted[params_key(params)] = params
    # fingerprint first: should the partition change while we read it, the index is labelled
    # older than its content and the next reader rebuilds it, never the other way round
    fingerprint = day_fingerprint(partition)
    trail = (read_partition_trail(partition) if written is None
             else prepare_trail(written.frame()))
    for params in wanted.values():
        save_index(directory, trail, build_for(trail, params), params=params,
                   fingerprint=fingerprint, partition=partition.name)
    for path in directory.glob("manifest-*.json"):
        if path.stem.removeprefix("manifest-") not in wanted:
            path.unlink(missing_ok=True)
    return trail


# counters a test or a benchmark can read: how often an index was built vs opened
STATS = {"built": 0, "opened": 0}
_OPEN: OrderedDict[tuple, tuple[Trail, SegmentIndex]] = OrderedDict()
_OPEN_MAX = 64  # memory-mapped: an open day costs address space and page cache only


def day_index(store_dir: Path, day: str, partition: Path, rules: Rules,
              **build: float) -> tuple[Trail, SegmentIndex]:
    """The current index of one day: opened from disk when it matches the partition, else
    rebuilt from the partition and saved. Opened days are kept (memory-mapped) in a small
    cache keyed by the manifest's generation."""
    params = index_params(rules, **build)
    directory = day_index_dir(store_dir, day)
    fingerprint = day_fingerprint(partition)
    key = (str(directory), params_key(params), fingerprint)
    cached = _OPEN.get(key)
    if cached is not None:
        _OPEN.move_to_end(key)
        return cached
    try:
        opened = open_index(directory, params, fingerprint)
        STATS["opened"] += 1
    except StaleIndex:
        trail = read_partition_trail(partition)
        index = build_for(trail, params)
        _save_quietly(directory, trail, index, params, fingerprint, partition)
        STATS["built"] += 1
        opened = (trail, index)
    _OPEN[key] = opened
    while len(_OPEN) > _OPEN_MAX:
        _OPEN.popitem(last=False)
    return opened


def forget_open_indexes() -> None:
    _OPEN.clear()


def _empty_trail() -> Trail:
    return Trail(np.empty(0, dtype=object), np.empty(0, np.int32), np.empty(0, np.int64),
                 np.empty(0), np.empty(0), np.empty(0), np.empty(0, np.uint8),
                 np.zeros(1, np.int64))


def stitch(trails: list[Trail], lo_ns: int, hi_ns: int) -> Trail:
    """Fixes of several days' trails with ``lo_ns <= t <= hi_ns`` as one Trail, sorted by
    subject then time. The days must be in time order and not overlap (UTC day partitions)."""
    names = np.unique(np.concatenate([np.asarray(tr.subjects, dtype=str) for tr in trails]))
    parts = {k: [] for k in ("subject", "t", "x", "y", "precision", "source")}
    for tr in trails:
        keep = (tr.t >= lo_ns) & (tr.t <= hi_ns)
        remap = np.searchsorted(names, np.asarray(tr.subjects, dtype=str)).astype(np.int32)
        parts["subject"].append(remap[tr.subject[keep]])
        for k in ("t", "x", "y", "precision", "source"):
            parts[k].append(np.asarray(getattr(tr, k))[keep])
    cat = {k: np.concatenate(v) for k, v in parts.items()}
    order = np.argsort(cat["subject"], kind="stable")  # day order = time order within subject
    cat = {k: v[order] for k, v in cat.items()}
    starts = np.zeros(names.size + 1, dtype=np.int64)
    np.cumsum(np.bincount(cat["subject"], minlength=names.size), out=starts[1:])
    return Trail(names.astype(object), cat["subject"], cat["t"], cat["x"], cat["y"],
                 cat["precision"], cat["source"], starts)


def load_index_for_window(store_dir: Path, start_ns: int, end_ns: int, rules: Rules | None = None,
                          *, margin_ns: int | None = None,
                          partitions: Callable[[Path], dict[str, Path]] | None = None,
                          ) -> tuple[Trail, SegmentIndex]:
    """The Trail and segment index that answer every question about ``[start_ns, end_ns]``.

    Loads only the UTC days that ``[start - margin, end + margin]`` meets (``margin`` defaults
    to the rules' max gap: every path segment that meets the window has both its fixes in that
    range). One day: that day's persisted index, memory-mapped, rebuilt only when stale. Several
    days: their persisted trails are cut to the widened window and stitched, so segments that
    cross midnight are joined, and a small index is built over the stitch in memory.
    Pass a larger ``margin_ns`` to see the fixes around long gaps (elimination needs the fixes
    that bound a gap).
    """
    rules = rules or Rules()
    if end_ns < start_ns:
        raise ValueError("load_index_for_window: end is before start")
    margin = rules.max_gap_ns if margin_ns is None else int(margin_ns)
    lo, hi = int(start_ns) - margin, int(end_ns) + margin
    layout = Layout(store_dir)
    check_transformation(layout)  # never match on x/y another transformation made
    days = [day_name(d) for d in days_between(lo, hi)]
    if partitions is None:
        named = {d: layout.partition(date.fromisoformat(d)) for d in days}
        available = {d: p for d, p in named.items() if p.exists()}
    else:
        available = partitions(Path(store_dir))
    days = [d for d in days if d in available]
    params = index_params(rules)
    if not days:
        trail = _empty_trail()
        return trail, build_for(trail, params)
    loaded = [day_index(store_dir, d, available[d], rules) for d in days]
    if len(loaded) == 1:
        return loaded[0]
    trail = stitch([tr for tr, _ in loaded], lo, hi)
    return trail, build_for(trail, params)

