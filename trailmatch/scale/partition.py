"""What one worker does for one partition: read its stretch of fixes, match its crimes.

The worker reads the fixes itself from the trail store (a shared path or an fsspec URL such as
``s3://bucket/trails``) so that nothing but crimes and hits travel through the client; for an
in-memory trails frame the client sends the slice instead. Matching is
``trailmatch.match.match_streamed`` — the very same kernels as a single-process run.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from trailmatch.match import match_streamed
from trailmatch.rules import Rules
from trailmatch.scale.plan import Partition
from trailmatch.store import Store
from trailmatch.store.layout import META, SUBJECTS, days_between, relative_partition
from trailmatch.trails import prepare_crimes, prepare_trail, to_utc_ns


@dataclass
class PartitionResult:
    label: str
    rows: np.ndarray  # the crime rows this partition evaluated
    n_fixes: int  # fixes it matched against (after de-duplication)
    hits: pd.DataFrame  # as match_prepared returns them
    seconds_read: float
    seconds_match: float
    max_rss_mb: float  # the worker process's peak resident memory so far


def _max_rss_mb() -> float:
    """Peak resident memory of this process (VmHWM: unlike ru_maxrss it is not inherited from
    the parent that spawned the worker). NaN where /proc is not available."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    return float("nan")


def read_fixes(source, lo_ns: int, hi_ns: int, read_options: dict | None = None
               ) -> pd.DataFrame:
    """Fixes with ``lo_ns <= time <= hi_ns`` (a superset is harmless, see ``plan``).

    ``source``: a trails DataFrame; a ``Store`` (or an object with ``read_window(start_ns,
    end_ns, **options)``); an object with ``read(start, end)`` (inclusive UTC timestamps, like
    the nightly job's trail sources); the path of a trail store directory; or an fsspec URL of
    one (``s3://bucket/store``, ``file:///mnt/store``). ``read_options`` go to
    ``Store.read_window`` (e.g. ``include_flagged``).
    """
    options = read_options or {}
    if isinstance(source, pd.DataFrame):
        t = to_utc_ns(source["time"], "trails.time")
        return source[(t >= lo_ns) & (t <= hi_ns)]
    if isinstance(source, str) and "://" in source:
        return _read_remote_store(source, lo_ns, hi_ns, options)
    if isinstance(source, str | os.PathLike):
        if not Path(source).is_dir():  # an empty answer would look like "no hits"
            raise FileNotFoundError(f"trail store {source}: no such directory "
                                    f"(on host {os.uname().nodename})")
        source = Store(source)
    if hasattr(source, "read_window"):
        return source.read_window(lo_ns, hi_ns, **options)
    # a nightly-job TrailSource: read(start, end) with inclusive UTC timestamps
    return source.read(pd.Timestamp(lo_ns, unit="ns", tz="UTC"),
                       pd.Timestamp(hi_ns, unit="ns", tz="UTC"))


def _read_remote_store(url: str, lo_ns: int, hi_ns: int, options: dict) -> pd.DataFrame:
    """Read a stretch from a store behind fsspec: fetch just the files it needs (the store's
    metadata, its subjects and the day partitions the stretch overlaps) into a scratch
    directory on this worker, and read them with ``Store`` itself — the same filtering
    (flags, activation periods) as a local store, not a second reader."""
    import fsspec

    fs, root = fsspec.core.url_to_fs(url)
    root = root.rstrip("/")
    if not fs.isdir(root):
        raise FileNotFoundError(f"trail store {url}: not found")
    with tempfile.TemporaryDirectory(prefix="trailmatch-part-") as scratch:
        local = Store(scratch)
        wanted = [META, SUBJECTS, *map(relative_partition, days_between(lo_ns, hi_ns))]
        for name in wanted:
            remote = f"{root}/{name}"
            if fs.exists(remote):
                target = Path(scratch) / name
                target.parent.mkdir(parents=True, exist_ok=True)
                fs.get(remote, str(target))
        return local.read_window(lo_ns, hi_ns, **options)


def match_partition(source, part: Partition, crimes: pd.DataFrame, rules: Rules,
                    read_options: dict | None = None) -> PartitionResult:
    """Hits of ``crimes`` (the partition's rows of the crimes frame, in row order)."""
    started = time.perf_counter()
    fixes = read_fixes(source, part.lo_ns, part.hi_ns, read_options)
    read = time.perf_counter()
    trail = prepare_trail(fixes)
    del fixes
    prepared = prepare_crimes(crimes, rules.buffer_before_ns, rules.buffer_after_ns)
    hits = match_streamed(trail, prepared, rules)  # the partition is matched once: no index
    return PartitionResult(part.label, part.rows, trail.n_fixes, hits, read - started,
                           time.perf_counter() - read, _max_rss_mb())
