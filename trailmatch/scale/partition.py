"""What one worker does for one partition: read its stretch of fixes, match its crimes.

The worker reads the fixes itself from the trail store (a shared path or an fsspec URL such as
``s3://bucket/trails``) so that nothing but crimes and hits travel through the client; for an
in-memory trails frame the client sends the slice instead. Matching is
``trailmatch.match.match_prepared`` — the very same kernels as a single-process run.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from trailmatch.index.segments import build_index
from trailmatch.match import match_prepared
from trailmatch.rules import Rules
from trailmatch.scale.plan import Partition
from trailmatch.trails import prepare_crimes, prepare_trail, to_utc_ns


@dataclass
class PartitionResult:
    label: str
    rows: np.ndarray  # the crime rows this partition evaluated
    n_fixes: int  # fixes it matched against (after de-duplication)
    hits: pd.DataFrame  # as match_prepared returns them
    seconds_read: float
    seconds_match: float


def open_store(location):
    """A trail store from a path or fsspec URL (imported here: only workers that read need it)."""
    from trailmatch.ingest.trail_store import TrailStore

    return TrailStore(location)


def read_fixes(source, lo_ns: int, hi_ns: int) -> pd.DataFrame:
    """Fixes with ``lo_ns <= time <= hi_ns`` (a superset is harmless, see ``plan``).

    ``source``: a trails DataFrame, an object with ``read_trails(start_ns, end_ns)``, or the
    path / URL of a trail store.
    """
    if isinstance(source, pd.DataFrame):
        t = to_utc_ns(source["time"], "trails.time")
        return source[(t >= lo_ns) & (t <= hi_ns)]
    if isinstance(source, str | os.PathLike):
        source = open_store(source)
    # +1: whether the store's end is inclusive or not, the last needed instant is read
    return source.read_trails(lo_ns, hi_ns + 1)


def match_partition(source, part: Partition, crimes: pd.DataFrame, rules: Rules
                    ) -> PartitionResult:
    """Hits of ``crimes`` (the partition's rows of the crimes frame, in row order)."""
    started = time.perf_counter()
    fixes = read_fixes(source, part.lo_ns, part.hi_ns)
    read = time.perf_counter()
    trail = prepare_trail(fixes)
    del fixes
    prepared = prepare_crimes(crimes, rules.buffer_before_ns, rules.buffer_after_ns)
    index = build_index(trail, rules.max_gap_s, rules.count_precision)
    hits = match_prepared(trail, index, prepared, rules)
    return PartitionResult(part.label, part.rows, trail.n_fixes, hits, read - started,
                           time.perf_counter() - read)
