"""``match_distributed``: the hits of ``match``, computed partition by partition.

With a Dask client the partitions run on the cluster (a worker that dies is replaced and its
partitions rerun: they are pure functions of the store and the crimes); without one they run one
after another in this process, which is also how a single machine matches a long history
without holding all of it at once. Either way the result is the very frame ``match`` returns.
"""

from __future__ import annotations

import logging
import sys
import time
import uuid
from contextlib import redirect_stdout
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from trailmatch.index.segments import build_index
from trailmatch.match import empty_hits, match_prepared
from trailmatch.rules import Rules
from trailmatch.scale.partition import PartitionResult, match_partition
from trailmatch.scale.plan import Partition, plan_partitions
from trailmatch.trails import prepare_crimes, prepare_trail, to_utc_ns

log = logging.getLogger(__name__)

SORT_KEYS = ["police_force", "crime_reference", "subject"]


@dataclass
class RunStats:
    """What a distributed run did, for summaries and benchmarks (no personal data)."""

    partitions: int = 0
    fixes: int = 0
    hits: int = 0
    seconds: float = 0.0
    per_partition: list[dict] = field(default_factory=list)
    seconds_first_pass: float = 0.0  # eliminate: the day-ends pass before the partitions


def match_distributed(trails, crimes: pd.DataFrame, rules: Rules | None = None, client=None, *,
                      read_options: dict | None = None, progress: bool | None = None,
                      stats: RunStats | None = None) -> pd.DataFrame:
    """Every hit of ``crimes`` against ``trails``, identical to ``match(trails, crimes, rules)``.

    ``trails``: a trails DataFrame (the client sends each partition its slice), a trail store
    path or fsspec URL, or an object with ``read_window(start_ns, end_ns)`` or ``read(start,
    end)`` (workers read their own partitions; ``read_options`` are passed on to
    ``read_window``, e.g. ``{"include_flagged": True}``).
    ``client``: a ``dask.distributed.Client``, or None to run the partitions in this process.
    ``progress``: a progress bar on stderr (default: when stderr is a terminal).
    ``stats``: filled with per-partition figures when given.
    """
    rules = rules or Rules()
    started = time.perf_counter()
    # Validate on the client so bad crimes fail once, with the same message as match().
    prepared = prepare_crimes(crimes, rules.buffer_before_ns, rules.buffer_after_ns)
    parts = plan_partitions(prepared, rules)
    frame = prepared.frame
    slices = _slicer(trails)
    if client is None:
        results = [match_partition(slices(p), p, frame.iloc[p.rows], rules, read_options)
                   for p in parts]
    else:
        results = _run_on_cluster(client, parts, slices, frame, rules, read_options, progress)
    _check_each_crime_once(results, prepared.n)
    hits = _assemble(results, trails, prepared, rules)
    if stats is not None:
        stats.partitions = len(parts)
        stats.fixes = sum(r.n_fixes for r in results)
        stats.hits = len(hits)
        stats.seconds = time.perf_counter() - started
        stats.per_partition = [
            {"partition": r.label, "crimes": int(r.rows.size), "fixes": r.n_fixes,
             "hits": len(r.hits), "seconds_read": r.seconds_read,
             "seconds_match": r.seconds_match, "max_rss_mb": r.max_rss_mb} for r in results]
    log.info("%d partitions, %d hits in %.1f s", len(parts), len(hits),
             time.perf_counter() - started)
    return hits


def _slicer(trails):
    """partition -> what its task reads from: the frame's slice, or the store itself."""
    if not isinstance(trails, pd.DataFrame):
        return lambda part: trails
    t = to_utc_ns(trails["time"], "trails.time")
    return lambda part: trails[(t >= part.lo_ns) & (t <= part.hi_ns)]


def _run_on_cluster(client, parts: list[Partition], slices, frame: pd.DataFrame, rules: Rules,
                    read_options: dict | None, progress: bool | None) -> list[PartitionResult]:
    return run_tasks(client, match_partition, "match-partition",
                     [(p.label, (slices(p), p, frame.iloc[p.rows], rules, read_options))
                      for p in parts], progress)


def run_tasks(client, fn, name: str, calls: list[tuple[str, tuple]], progress: bool | None
              ) -> list:
    """``fn(*args)`` for each ``(label, args)`` of ``calls`` on the cluster, results in call
    order; tasks are keyed ``{name}-{run id}-{label}`` (diagnostics, tests)."""
    run_id = uuid.uuid4().hex[:8]
    # pure=False: a rerun after late uploads must read the store again, not reuse old results.
    futures = [client.submit(fn, *args, key=f"{name}-{run_id}-{label}", pure=False, retries=1)
               for label, args in calls]
    if progress is None:
        progress = sys.stderr.isatty()
    if progress and futures:
        from distributed import progress as dask_progress

        with redirect_stdout(sys.stderr):  # the bar is for the terminal; stdout may carry data
            dask_progress(futures, multi=False)
    try:
        return client.gather(futures)
    finally:
        for f in futures:
            f.release()


def _check_each_crime_once(results: list[PartitionResult], n_crimes: int) -> None:
    """A crime missed or matched twice would be a planning bug: refuse to return hits."""
    rows = np.concatenate([r.rows for r in results]) if results else np.zeros(0, np.int64)
    counts = np.bincount(rows, minlength=n_crimes)
    if counts.size != n_crimes or (counts != 1).any():
        raise RuntimeError(f"partitioned run evaluated {int((counts == 0).sum())} crimes never "
                           f"and {int((counts > 1).sum())} more than once")


def _assemble(results: list[PartitionResult], trails, prepared, rules: Rules) -> pd.DataFrame:
    """Concatenate and sort like ``match_prepared``. Crimes that tie on the sort keys share a
    partition (see ``plan``), so the stable sort leaves them in input order, as ``match`` does."""
    found = [r.hits for r in results if len(r.hits)]
    if found:
        hits = pd.concat(found, ignore_index=True)
        hits = hits.sort_values(SORT_KEYS, kind="stable")
        return hits.reset_index(drop=True)
    return _no_hits(results, trails, prepared, rules)


def _no_hits(results: list[PartitionResult], trails, prepared, rules: Rules) -> pd.DataFrame:
    """The empty frame exactly as ``match`` would build it: ``empty_hits()`` when there are no
    crimes or no fixes at all, otherwise the one ``match_prepared`` builds from zero pairs."""
    for r in results:
        if r.n_fixes:
            return r.hits
    if prepared.n and isinstance(trails, pd.DataFrame) and len(trails):
        # No partition needed any fix, so no fix can hit: match_prepared on one of them builds
        # the frame a single-process run returns.
        trail = prepare_trail(trails.iloc[:1])
        index = build_index(trail, rules.max_gap_s, rules.count_precision)
        return match_prepared(trail, index, prepared, rules)
    return empty_hits()
