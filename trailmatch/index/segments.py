"""The segment index: a subject's path cut into short chunks, binned by (x, y, t) boxes.

Why chunks, not single segments: a national day is 14.4 M fixes, and binning each segment
costs a random memory access per segment. A chunk is up to ``chunk_fixes`` consecutive fixes
of one subject spanning at most ``chunk_span_s``; it owns the path pieces that start at its
fixes (the joined segment to the next fix, even when that fix opens the next chunk, or the
isolated fix itself). Its box is the bounding box of those pieces, widened by the largest
precision radius among them when precision is counted. Candidates are then refined piece by
piece with the exact closed forms of ``vicinity.py``.

Binning is a loose hierarchical grid with time buckets: a chunk goes to the level whose cell
(``cell_m · 2**level``) is at least as wide as its box, into the cell that holds its box's
lower-left corner and the bucket that holds its start time. So each chunk is in exactly one
bin, and a query box widened by one cell (and a time range widened by the longest chunk)
finds every chunk whose box can meet it. Bins are hashed into a CSR table (counting sort), so
building is O(n) and the extent of the data does not matter.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import cached_property

import numba as nb
import numpy as np

from trailmatch.index.bins import key_level, mix64, pack_key
from trailmatch.index.vicinity import linked
from trailmatch.trails import Trail

N_LEVELS = 16  # levels of the segment index (at most bins.KEY_LEVELS)
BLOCK = 16  # fixes per block of ``SegmentIndex.block_box``
# Build parameters (tuned on the synthetic national day, see benchmarks/): cell width of
# level 0, time bucket, and the most fixes / longest span of one chunk.
BUILD_DEFAULTS = {"cell_m": 256.0, "bucket_s": 14_400.0, "chunk_fixes": 8, "chunk_span_s": 600.0}


@dataclass
class SegmentIndex:
    # the trail the index refers to (fix arrays, sorted by subject and time)
    subject: np.ndarray
    t: np.ndarray
    x: np.ndarray
    y: np.ndarray
    reach: np.ndarray  # precision radius counted for each fix (0 when not counted / unknown)
    # chunks, in bin order
    chunk_first: np.ndarray  # int64: first fix of the chunk
    chunk_end: np.ndarray  # int64: one past its last fix
    chunk_key: np.ndarray  # uint64: packed (level, time bucket, cell x, cell y)
    box: np.ndarray  # float64 (n, 4): xmin, xmax, ymin, ymax (reach included)
    tspan: np.ndarray  # int64 (n, 2): first instant, last instant
    bin_start: np.ndarray  # int64, n_bins + 1: CSR offsets of the hashed bins
    levels: np.ndarray  # bool, N_LEVELS: which levels hold any chunk
    # float64 (n_blocks, 5): box (xmin, xmax, ymin, ymax) and largest reach of fixes
    # [k*BLOCK, (k+1)*BLOCK] (the next block's first fix included, so a segment is inside its
    # block): lets a walk along a path skip stretches that cannot matter
    block_box: np.ndarray
    # parameters
    max_gap_ns: int
    cell_m: float
    bucket_ns: int
    max_chunk_ns: int  # longest chunk time span present

    @property
    def n_chunks(self) -> int:
        return int(self.chunk_first.size)

    @cached_property
    def max_reach(self) -> float:
        """The largest precision radius counted for any fix (once per index: a look-up on an
        opened day should not scan the day)."""
        return _max_reach(self.block_box)

    def arrays(self) -> dict[str, np.ndarray]:
        """Every field as an array (for saving, memory-mapping and shipping to workers)."""
        return {f.name: np.asarray(getattr(self, f.name)) for f in fields(self)}


@nb.njit(cache=True, inline="always")
def joined(subject, t, i, max_gap_ns):
    """Fixes i and i+1 are consecutive fixes of one subject joined by a segment."""
    if i < 0 or i + 1 >= t.size or subject[i + 1] != subject[i]:
        return False
    return linked(t[i + 1] - t[i], max_gap_ns)


@nb.njit(cache=True)
def _chunk_bounds(subject, t, chunk_fixes, chunk_span_ns):
    n = t.size
    firsts = np.empty(n, dtype=np.int64)
    k = 0
    i = 0
    while i < n:
        firsts[k] = i
        k += 1
        j = i + 1
        while (j < n and subject[j] == subject[i] and j - i < chunk_fixes
               and t[j] - t[i] <= chunk_span_ns):
            j += 1
        i = j
    return firsts[:k].copy()


@nb.njit(cache=True, parallel=True)
def _chunk_boxes(subject, t, x, y, reach, firsts, n_fixes, max_gap_ns, cell_m, bucket_ns):
    n = firsts.size
    ends = np.empty(n, dtype=np.int64)
    box = np.empty((n, 4), dtype=np.float64)
    tspan = np.empty((n, 2), dtype=np.int64)
    key = np.empty(n, dtype=np.uint64)
    for c in nb.prange(n):
        a = firsts[c]
        e = firsts[c + 1] if c + 1 < n else n_fixes
        ends[c] = e
        # the last piece reaches the next fix when it is joined
        last = e if joined(subject, t, e - 1, max_gap_ns) else e - 1
        xmin = np.inf
        xmax = -np.inf
        ymin = np.inf
        ymax = -np.inf
        rmax = 0.0
        for m in range(a, last + 1):
            xmin = min(xmin, x[m])
            xmax = max(xmax, x[m])
            ymin = min(ymin, y[m])
            ymax = max(ymax, y[m])
            rmax = max(rmax, reach[m])
        xmin -= rmax
        xmax += rmax
        ymin -= rmax
        ymax += rmax
        box[c, 0] = xmin
        box[c, 1] = xmax
        box[c, 2] = ymin
        box[c, 3] = ymax
        tspan[c, 0] = t[a]
        tspan[c, 1] = t[last]
        extent = max(xmax - xmin, ymax - ymin)
        level = 0
        size = cell_m
        while size < extent and level < N_LEVELS - 1:
            size *= 2.0
            level += 1
        ix = np.int64(np.floor(xmin / size))
        iy = np.int64(np.floor(ymin / size))
        key[c] = pack_key(level, t[a] // bucket_ns, ix, iy)
    return ends, box, tspan, key


@nb.njit(cache=True)
def _bin_sort(key, firsts, ends, box, tspan, n_bins):
    """Counting sort of the chunks by hashed bin: the CSR offsets and every chunk array in bin
    order, written in one scatter pass (no separate gather)."""
    n = key.size
    mask = np.uint64(n_bins - 1)
    counts = np.zeros(n_bins + 1, dtype=np.int64)
    bins = np.empty(n, dtype=np.int64)
    for c in range(n):
        b = np.int64(mix64(key[c]) & mask)
        bins[c] = b
        counts[b + 1] += 1
    for b in range(n_bins):
        counts[b + 1] += counts[b]
    fill = counts[:-1].copy()
    s_first = np.empty(n, dtype=np.int64)
    s_end = np.empty(n, dtype=np.int64)
    s_key = np.empty(n, dtype=np.uint64)
    s_box = np.empty((n, 4), dtype=np.float64)
    s_tspan = np.empty((n, 2), dtype=np.int64)
    for c in range(n):
        b = bins[c]
        o = fill[b]
        fill[b] = o + 1
        s_first[o] = firsts[c]
        s_end[o] = ends[c]
        s_key[o] = key[c]
        s_box[o, 0] = box[c, 0]
        s_box[o, 1] = box[c, 1]
        s_box[o, 2] = box[c, 2]
        s_box[o, 3] = box[c, 3]
        s_tspan[o, 0] = tspan[c, 0]
        s_tspan[o, 1] = tspan[c, 1]
    return counts, s_first, s_end, s_key, s_box, s_tspan


@nb.njit(cache=True)
def _levels_and_longest(key, tspan):
    levels = np.zeros(N_LEVELS, dtype=np.bool_)
    longest = 0
    for c in range(key.size):
        levels[key_level(key[c])] = True
        longest = max(longest, tspan[c, 1] - tspan[c, 0])
    return levels, longest


@dataclass
class TrailPath:
    """What a walk along the trail needs without the chunk index (``match()`` from DataFrames):
    the fix arrays, the precision radius counted per fix and the block boxes (computed on
    first use: the sweep does not read them). A ``SegmentIndex`` has the same fields, so
    ``hit_fields`` takes either."""

    subject: np.ndarray
    t: np.ndarray
    x: np.ndarray
    y: np.ndarray
    reach: np.ndarray
    max_gap_ns: int

    @cached_property
    def block_box(self) -> np.ndarray:
        return path_blocks(self.subject, self.x, self.y, self.reach)

    @cached_property
    def max_reach(self) -> float:
        return _max_reach(self.block_box)


def _max_reach(block_box: np.ndarray) -> float:
    return float(block_box[:, 4].max()) if len(block_box) else 0.0


def reach_of(trail: Trail, count_precision: bool) -> np.ndarray:
    """The precision radius counted for each fix: its precision (0 when unknown), or 0 when
    precision is not counted."""
    if count_precision and trail.has_precision:
        return np.nan_to_num(trail.precision, nan=0.0)
    return np.zeros(trail.n_fixes)  # calloc'd: pages of zeros are not written


@nb.njit(cache=True, parallel=True)
def _path_blocks(subject, x, y, reach):
    """The block boxes (``SegmentIndex.block_box``): box and largest reach of fixes
    [k*BLOCK, (k+1)*BLOCK], the next block's first fix included when it is the same
    subject's (a segment to it starts in this block)."""
    n = x.size
    n_blocks = (n + BLOCK - 1) // BLOCK
    out = np.empty((n_blocks, 5), dtype=np.float64)
    for k in nb.prange(n_blocks):
        a = k * BLOCK
        e = min(a + BLOCK + 1, n)
        if e > a + BLOCK and subject[e - 1] != subject[a + BLOCK - 1]:
            e -= 1  # the next block's first fix is another subject's: no segment reaches it
        xmin = np.inf
        xmax = -np.inf
        ymin = np.inf
        ymax = -np.inf
        rmax = 0.0
        for m in range(a, e):
            xmin = min(xmin, x[m])
            xmax = max(xmax, x[m])
            ymin = min(ymin, y[m])
            ymax = max(ymax, y[m])
            rmax = max(rmax, reach[m])
        out[k, 0] = xmin
        out[k, 1] = xmax
        out[k, 2] = ymin
        out[k, 3] = ymax
        out[k, 4] = rmax
    return out


def path_blocks(subject: np.ndarray, x: np.ndarray, y: np.ndarray,
                reach: np.ndarray) -> np.ndarray:
    """The block boxes of fixes sorted by subject and time (see ``_path_blocks``)."""
    if x.size == 0:
        return np.empty((0, 5))
    return _path_blocks(subject, x, y, reach)


def trail_path(trail: Trail, max_gap_s: float = 300.0, count_precision: bool = True) -> TrailPath:
    return TrailPath(trail.subject, trail.t, trail.x, trail.y,
                     reach_of(trail, count_precision), int(round(max_gap_s * 1e9)))


def build_index(trail: Trail, max_gap_s: float = 300.0, count_precision: bool = True, *,
                cell_m: float = BUILD_DEFAULTS["cell_m"],
                bucket_s: float = BUILD_DEFAULTS["bucket_s"],
                chunk_fixes: int = int(BUILD_DEFAULTS["chunk_fixes"]),
                chunk_span_s: float = BUILD_DEFAULTS["chunk_span_s"]) -> SegmentIndex:
    """Cut ``trail`` into chunks and bin them. O(number of fixes)."""
    max_gap_ns = int(round(max_gap_s * 1e9))
    bucket_ns = int(round(bucket_s * 1e9))
    reach = reach_of(trail, count_precision)
    firsts = _chunk_bounds(trail.subject, trail.t, chunk_fixes, int(round(chunk_span_s * 1e9)))
    ends, box, tspan, key = _chunk_boxes(trail.subject, trail.t, trail.x, trail.y, reach, firsts,
                                         trail.n_fixes, max_gap_ns, float(cell_m), bucket_ns)
    n_bins = 1
    while n_bins < 2 * max(firsts.size, 1):
        n_bins *= 2
    levels, max_chunk_ns = _levels_and_longest(key, tspan)
    bin_start, firsts, ends, key, box, tspan = _bin_sort(key, firsts, ends, box, tspan, n_bins)
    blocks = path_blocks(trail.subject, trail.x, trail.y, reach)
    return SegmentIndex(trail.subject, trail.t, trail.x, trail.y, reach, firsts, ends, key, box,
                        tspan, bin_start, levels, blocks, max_gap_ns, float(cell_m), bucket_ns,
                        int(max_chunk_ns))
