"""Subject codes from any subject column, and the (subject, time) order, in O(n).

A user's trails come as an export gives them: subject ids as strings (``read_csv``: Arrow-backed
in pandas 3), integers or a categorical, rows grouped by subject in the export's order (which is
rarely the ids' string order), or by time, or shuffled. Sorting all rows by (subject name, time)
costs ~1 s for a national day of 7.2 M fixes; none of that is needed:

* **codes by first appearance**: consecutive rows of one subject are compared (bytes of Arrow
  strings, values of integers), and only the first row of each run is hashed. A subject's code
  is the order in which it first appears, so rows grouped by subject already have ascending
  codes and nothing moves. Rows not grouped are every one hashed (Arrow's dictionary
  encoding), a piece of the rows a thread, the pieces' dictionaries then numbered in order.
  The trail's subject names are in that order, not in name order: every output orders by
  name itself (hits by name rank; coverage through the name-ordered universe).
* **grouping by a radix sort**: rows that are not grouped by subject are put in order by a
  stable two-pass radix sort on the code (to ~16 groups of codes, then each group to its
  codes' places: few write streams in each pass; every column moves, no gather from all over
  the rows).
* **sorting only what is out of order**: a subject's fixes are sorted by time only when they are
  not already in time order, right after its group is placed (a bucket sort on the times:
  fixes come at about regular intervals).
* **duplicates chosen by content in place**: of fixes with the same subject and time, the most
  precise is kept, then the smallest x, y and source code, by looking at the run only.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numba as nb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

CHUNKS = 16  # pieces of the rows handled in parallel


# ---------------------------------------------------------------------------------------------
# subject codes by first appearance


@nb.njit(cache=True, parallel=True)
def _text_heads(offsets, data):
    """``head[i]`` is True when string ``i`` differs from string ``i - 1`` (``head[0]`` True).
    ``offsets`` (n + 1, int32 or int64, as the Arrow type has them) index ``data`` (uint8):
    an Arrow string array's buffers."""
    n = offsets.size - 1
    head = np.empty(n, dtype=np.bool_)
    if n == 0:
        return head
    head[0] = True
    per = (n + CHUNKS - 1) // CHUNKS
    for k in nb.prange(CHUNKS):
        for i in range(max(k * per, 1), min((k + 1) * per, n)):
            a0 = offsets[i - 1]
            b0 = offsets[i]
            b1 = offsets[i + 1]
            length = b1 - b0
            same = length == b0 - a0
            if same:
                for j in range(length):
                    if data[a0 + j] != data[b0 + j]:
                        same = False
                        break
            head[i] = not same
    return head


@nb.njit(cache=True, parallel=True)
def _expand_runs(heads, head_codes, n):
    """int32 code of every row from the code of each run (``heads``: the runs' first rows)."""
    out = np.empty(n, dtype=np.int32)
    m = heads.size
    for r in nb.prange(m):
        end = heads[r + 1] if r + 1 < m else n
        c = head_codes[r]
        for i in range(heads[r], end):
            out[i] = c
    return out


def _arrow_text_codes(chunked: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray] | None:
    """Codes by first appearance of an Arrow string column; None when its type is not plain
    or large strings (the caller then converts)."""
    if not (pa.types.is_string(chunked.type) or pa.types.is_large_string(chunked.type)):
        return None
    wide = pa.types.is_large_string(chunked.type)
    n = len(chunked)
    if _ungrouped_sample(chunked, wide):
        return dictionary_codes(chunked)
    heads = []
    base = 0
    for chunk in chunked.chunks:
        m = len(chunk)
        if m == 0:
            continue
        _, off_buf, data_buf = chunk.buffers()
        offsets = np.frombuffer(off_buf, dtype=np.int64 if wide else np.int32)
        offsets = offsets[chunk.offset:chunk.offset + m + 1]  # int32 or int64: no copy
        data = (np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None
                else np.zeros(0, np.uint8))
        head = np.flatnonzero(_text_heads(offsets, data)) + base
        if heads and base > 0:  # a chunk's first string may continue the last chunk's run
            before = chunked[base - 1].as_py()
            if chunk[0].as_py() == before:
                head = head[1:]
        heads.append(head)
        base += m
    heads_at = np.concatenate(heads) if heads else np.zeros(0, np.int64)
    if heads_at.size > n // 4:  # rows not grouped: every row is hashed anyway
        return dictionary_codes(chunked)
    encoded = chunked.take(pa.array(heads_at)).combine_chunks().dictionary_encode()
    head_codes = encoded.indices.to_numpy(zero_copy_only=False)
    names = np.asarray(encoded.dictionary.to_pylist(), dtype=object)
    codes = _expand_runs(heads_at, head_codes.astype(np.int32, copy=False), n)
    return codes, names


PIECE_ROWS_LEAST = 1 << 20  # rows of a piece below which a column is encoded in one piece
_POOL: tuple[int, ThreadPoolExecutor] | None = None  # (the process that made it, the pool)


def _pool() -> ThreadPoolExecutor:
    """Threads for the pieces, one pool a process (a forked child, e.g. a Dask worker,
    makes its own: the parent's threads are not in it)."""
    global _POOL
    if _POOL is None or _POOL[0] != os.getpid():
        _POOL = (os.getpid(), ThreadPoolExecutor(nb.config.NUMBA_NUM_THREADS,
                                                 thread_name_prefix="trailmatch-codes"))
    return _POOL[1]


def _one_array(chunked: pa.ChunkedArray) -> pa.Array:
    """The column as one array (its chunk when it has one: ``combine_chunks`` copies)."""
    return chunked.chunk(0) if chunked.num_chunks == 1 else chunked.combine_chunks()


@nb.njit(cache=True, nogil=True)
def _number(lut, index, out):
    """``out[i] = lut[index[i]]`` (one thread; the caller runs pieces in threads)."""
    for i in range(index.size):
        out[i] = lut[index[i]]


def dictionary_codes(chunked: pa.ChunkedArray, pieces: int | None = None
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Every row hashed (Arrow's dictionary encoding: codes by first appearance), in
    ``pieces`` consecutive pieces at once (Arrow releases the GIL; default: one a thread, of
    at least ``PIECE_ROWS_LEAST`` rows). A piece's subjects not seen in the pieces before it
    are numbered after theirs, in the piece's order: the codes are still by first
    appearance."""
    n = len(chunked)
    if pieces is None:
        pieces = max(1, min(nb.config.NUMBA_NUM_THREADS, n // PIECE_ROWS_LEAST))
    if pieces <= 1 or n < pieces:
        encoded = _one_array(chunked).dictionary_encode()
        codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int32, copy=True)
        return codes, np.asarray(encoded.dictionary.to_pylist(), dtype=object)
    bounds = [n * k // pieces for k in range(pieces + 1)]
    encoded = list(_pool().map(lambda k: _one_array(chunked.slice(
        bounds[k], bounds[k + 1] - bounds[k])).dictionary_encode(), range(pieces)))
    names = encoded[0].dictionary
    luts = [np.arange(len(names), dtype=np.int32)]
    for piece in encoded[1:]:  # each piece's dictionary numbered in the names so far
        at = pc.index_in(piece.dictionary, value_set=names)
        new = at.is_null().to_numpy(zero_copy_only=False)
        lut = at.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int32)
        lut[new] = len(names) + np.arange(int(new.sum()), dtype=np.int32)
        names = pa.concat_arrays([names, piece.dictionary.filter(pa.array(new))])
        luts.append(lut)
    codes = np.empty(n, dtype=np.int32)

    def number(k: int) -> None:
        index = encoded[k].indices.to_numpy(zero_copy_only=False)
        _number(luts[k], index, codes[bounds[k]:bounds[k + 1]])

    list(_pool().map(number, range(pieces)))
    return codes, np.asarray(names.to_pylist(), dtype=object)


def _ungrouped_sample(chunked: pa.ChunkedArray, wide: bool, rows: int = 4096) -> bool:
    """Whether the first ``rows`` rows change subject at more than one row in four (rows in
    time order or shuffled): then comparing neighbours is not worth a pass."""
    chunk = next((c for c in chunked.chunks if len(c)), None)
    if chunk is None or len(chunk) < rows or len(chunked) < 4 * rows:
        return False
    _, off_buf, data_buf = chunk.buffers()
    if data_buf is None:  # every string empty
        return False
    offsets = np.frombuffer(off_buf, dtype=np.int64 if wide else np.int32)
    offsets = offsets[chunk.offset:chunk.offset + rows + 1].astype(np.int64)
    data = np.frombuffer(data_buf, dtype=np.uint8)
    return int(_text_heads(offsets, data).sum()) > rows // 4


def _value_codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes by first appearance of a numpy column (integers: run heads compared by value)."""
    n = values.size
    if n == 0:
        return np.zeros(0, np.int32), np.zeros(0, dtype=values.dtype)
    heads = np.flatnonzero(values[1:] != values[:-1]) + 1
    heads = np.concatenate([np.zeros(1, np.int64), heads.astype(np.int64)])
    head_codes, uniques = pd.factorize(values[heads], sort=False)
    return _expand_runs(heads, head_codes.astype(np.int32), n), np.asarray(uniques)


def subject_codes(subj: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """``(codes, names)``: an int32 code per row (-1: missing), the caller's own array, and the
    subject names as an object array of str, ``names[code]``. A categorical keeps its codes and
    categories; any other column is coded by first appearance."""
    if isinstance(subj.dtype, pd.CategoricalDtype):
        # one copy of a view (``.cat.codes`` copies them first: 1.5 ms a day)
        codes = subj.array.codes.astype(np.int32)
        return codes, np.asarray(subj.cat.categories.astype(str), dtype=object)
    array = subj.array
    chunked = getattr(array, "_pa_array", None)  # Arrow-backed strings (pandas 3's ``str``)
    if chunked is None and isinstance(subj.dtype, pd.ArrowDtype):
        chunked = pa.chunked_array(pa.array(array))
    if chunked is not None and chunked.null_count:
        return _missing(subj)
    if chunked is not None:
        if pa.types.is_string_view(chunked.type):
            chunked = chunked.cast(pa.large_string())
        got = _arrow_text_codes(chunked)
        if got is not None:
            return got
    if pd.api.types.is_integer_dtype(subj.dtype) and not subj.hasnans:
        codes, uniques = _value_codes(subj.to_numpy())
        return codes, np.asarray([str(v) for v in uniques.tolist()], dtype=object)
    if subj.isna().any():
        return _missing(subj)
    text = subj.astype(str)
    if getattr(text.array, "_pa_array", None) is not None:
        return subject_codes(text)
    codes, uniques = pd.factorize(text.to_numpy(dtype=object), sort=False)
    return codes.astype(np.int32), np.asarray(uniques, dtype=object)


def _missing(subj: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Codes that mark the first missing subject (-1 there) for the caller's row check."""
    codes = np.zeros(len(subj), dtype=np.int32)
    codes[int(np.flatnonzero(subj.isna().to_numpy())[0])] = -1
    return codes, np.asarray(["?"], dtype=object)


# ---------------------------------------------------------------------------------------------
# the (subject, time) order


@nb.njit(cache=True)
def appearance_codes(codes, n_codes):
    """``(lut, runs, n_used, ascending)``: ``lut[c]`` is the rank of code ``c``'s first
    appearance along the rows (codes never seen follow, in code order); ``runs`` counts the
    runs of equal codes, ``n_used`` the distinct codes (rows are grouped by subject when they
    are equal); ``ascending``: the codes never decrease along the rows."""
    lut = np.full(n_codes, -1, dtype=np.int32)
    k = 0
    runs = 0
    ascending = True
    before = -1
    for i in range(codes.size):
        c = codes[i]
        if c != before:
            runs += 1
            if c < before:
                ascending = False
            if lut[c] < 0:
                lut[c] = k
                k += 1
            before = c
    n_used = k
    for c in range(n_codes):
        if lut[c] < 0:
            lut[c] = k
            k += 1
    return lut, runs, n_used, ascending


@nb.njit(cache=True, parallel=True)
def relabel(codes, lut):
    """``codes = lut[codes]`` in place."""
    for i in nb.prange(codes.size):
        codes[i] = lut[codes[i]]


GROUPS = 16  # groups of codes in the first pass of the radix sort, at most, unless more are
CODES_A_GROUP = 512  # needed to hold no more than this many codes each (measured on 5,000
# subjects: 10 groups of 512 codes took 224 ms of CPU for the two passes, 40 of 128 340 ms)
GROUP_BITS_MAX = 30  # codes are int32


@nb.njit(cache=True)
def _group_shift(n_codes, groups):
    """The shift of a code to its group: the fewest bits that leave at most ``groups``
    groups."""
    shift = 0
    while shift < GROUP_BITS_MAX and ((n_codes - 1) >> shift) + 1 > groups:
        shift += 1
    return shift


@nb.njit(cache=True, parallel=True)
def _group_rows(codes, n_codes, t, x, y, prec, src, has_precision, has_source, by_time,
                threads):
    """The rows in the stable order of their code, every column moved, and the CSR offsets:
    a two-pass radix scatter. A one-pass scatter writes to every subject at once (25,000 write
    streams for 5,000 subjects, which thrash the cache); here pass 1 moves the rows to ~16
    groups of codes (the code's high bits; 6 write streams a group), reading in order, and
    pass 2 scatters each group to its codes' places (<= 512 codes a group) within the group's
    own rows, from a copy of the group in one scratch a worker (``threads`` workers). Both
    passes keep the rows' order; ``by_time``: then each subject's rows are sorted by time
    (where they are not in order)."""
    n = codes.size
    shift = _group_shift(max(n_codes, 1), max(GROUPS, -(-n_codes // CODES_A_GROUP)))
    n_groups = ((max(n_codes, 1) - 1) >> shift) + 1
    per = (n + CHUNKS - 1) // CHUNKS
    counts = np.zeros((CHUNKS, n_groups), dtype=np.int64)
    for k in nb.prange(CHUNKS):
        for i in range(k * per, min((k + 1) * per, n)):
            counts[k, codes[i] >> shift] += 1
    fill = np.empty((CHUNKS, n_groups), dtype=np.int64)
    group_at = np.zeros(n_groups + 1, dtype=np.int64)
    at = 0
    for g in range(n_groups):
        group_at[g] = at
        for k in range(CHUNKS):
            fill[k, g] = at
            at += counts[k, g]
    group_at[n_groups] = at
    # pass 1: to the groups
    c1 = np.empty(n, dtype=np.int32)
    t1 = np.empty(n, dtype=np.int64)
    x1 = np.empty(n, dtype=np.float64)
    y1 = np.empty(n, dtype=np.float64)
    p1 = np.empty(n if has_precision else 0, dtype=np.float64)
    s1 = np.empty(n if has_source else 0, dtype=np.uint8)
    for k in nb.prange(CHUNKS):
        for i in range(k * per, min((k + 1) * per, n)):
            c = codes[i]
            g = c >> shift
            j = fill[k, g]
            fill[k, g] = j + 1
            c1[j] = c
            t1[j] = t[i]
            x1[j] = x[i]
            y1[j] = y[i]
            if has_precision:
                p1[j] = prec[i]
            if has_source:
                s1[j] = src[i]
    # pass 2: each group to its codes' places within the group's own rows, through a scratch
    # copy of the group (one a thread: new memory costs a page fault every 4 KiB)
    starts = np.zeros(n_codes + 1, dtype=np.int64)
    width = 1 << shift
    biggest = 0
    for g in range(n_groups):
        biggest = max(biggest, group_at[g + 1] - group_at[g])
    workers = max(1, min(threads, n_groups))
    for w in nb.prange(workers):
        c0 = np.empty(biggest, dtype=np.int32)
        t0 = np.empty(biggest, dtype=np.int64)
        x0 = np.empty(biggest, dtype=np.float64)
        y0 = np.empty(biggest, dtype=np.float64)
        p0 = np.empty(biggest if has_precision else 0, dtype=np.float64)
        s0 = np.empty(biggest if has_source else 0, dtype=np.uint8)
        for g in range(w, n_groups, workers):
            a = group_at[g]
            b = group_at[g + 1]
            first = g << shift
            last = min(first + width, n_codes)
            for i in range(b - a):
                c0[i] = c1[a + i]
                t0[i] = t1[a + i]
                x0[i] = x1[a + i]
                y0[i] = y1[a + i]
                if has_precision:
                    p0[i] = p1[a + i]
                if has_source:
                    s0[i] = s1[a + i]
            bounds = np.zeros(last - first + 1, dtype=np.int64)  # the group's CSR offsets
            for i in range(b - a):
                bounds[c0[i] - first + 1] += 1
            bounds[0] = a
            for c in range(1, last - first + 1):
                bounds[c] += bounds[c - 1]
            for c in range(first, last):
                starts[c] = bounds[c - first]
                for i in range(bounds[c - first], bounds[c - first + 1]):
                    c1[i] = c
            place = bounds.copy()
            for i in range(b - a):
                c = c0[i] - first
                j = place[c]
                place[c] = j + 1
                t1[j] = t0[i]
                x1[j] = x0[i]
                y1[j] = y0[i]
                if has_precision:
                    p1[j] = p0[i]
                if has_source:
                    s1[j] = s0[i]
            if by_time:  # while the group was just written (in cache)
                _sort_segments(bounds, 0, last - first, t1, x1, y1, p1, s1, has_precision,
                               has_source)
    starts[n_codes] = n
    return c1, t1, x1, y1, p1, s1, starts


def group_rows(codes: np.ndarray, n_codes: int, t, x, y, prec, src, has_precision: bool,
               has_source: bool, by_time: bool = True):
    """``(codes, t, x, y, prec, src, starts)``: the rows in the order of their code, each
    subject's rows in time order (stably; ``by_time=False``: in the order given), as new
    arrays (absent columns stay empty), and the CSR offsets of the codes."""
    return _group_rows(codes, n_codes, t, x, y, prec if has_precision else np.empty(0),
                       src if has_source else np.empty(0, np.uint8), has_precision,
                       has_source, by_time, nb.get_num_threads())


@nb.njit(cache=True, inline="always")
def _in_time_order(t, a, b):
    """Whether ``t[a:b]`` never decreases (the one in-order scan of the sorts below)."""
    for j in range(a + 1, b):  # noqa: SIM110 (a loop numba compiles; no generator)
        if t[j] < t[j - 1]:
            return False
    return True


BUCKET_MOST = 64  # rows in one time bucket above which a subject is merge-sorted instead


@nb.njit(cache=True)
def _time_order(t, a, b, order, count):
    """The stable order of ``t[a:b]`` (into ``order[:b - a]``, as offsets from ``a``): a
    bucket sort on the times' place between the least and the greatest (fixes come at about
    regular intervals: ~1 row a bucket) and an insertion sort of the buckets; a subject whose
    times crowd into a bucket (more than ``BUCKET_MOST`` rows) is merge-sorted. ``count``:
    scratch of ``b - a + 1``."""
    m = b - a
    lo = t[a]
    hi = t[a]
    for i in range(a + 1, b):
        if t[i] < lo:
            lo = t[i]
        if t[i] > hi:
            hi = t[i]
    flo = np.float64(lo)
    span = np.float64(hi) - flo
    scale = (m - 1) / span if span > 0 else 0.0
    # float(t) never decreases as t grows, nor does the bucket: the buckets are in time order
    for j in range(m + 1):
        count[j] = 0
    most = 0
    for i in range(a, b):
        k = min(max(np.int64((np.float64(t[i]) - flo) * scale), 0), m - 1)
        count[k + 1] += 1
        if count[k + 1] > most:
            most = count[k + 1]
    if most > BUCKET_MOST:
        by = np.argsort(t[a:b], kind="mergesort")
        for j in range(m):
            order[j] = by[j]
        return
    for j in range(m):
        count[j + 1] += count[j]
    for i in range(a, b):
        k = min(max(np.int64((np.float64(t[i]) - flo) * scale), 0), m - 1)
        order[count[k]] = i - a
        count[k] += 1
    for j in range(1, m):  # rows of a bucket by time, stably
        r = order[j]
        v = t[a + r]
        q = j
        while q > 0 and t[a + order[q - 1]] > v:
            order[q] = order[q - 1]
            q -= 1
        order[q] = r


@nb.njit(cache=True, inline="always")
def _permute(column, a, order, m, scratch):
    """``column[a:a + m] = column[a + order[:m]]`` through ``scratch`` (of the column's kind)."""
    for j in range(m):
        scratch[j] = column[a + order[j]]
    for j in range(m):
        column[a + j] = scratch[j]


@nb.njit(cache=True)
def _sort_segment(a, b, t, x, y, prec, src, has_precision, has_source, order, count, whole,
                  real):
    """Sort rows ``a:b`` by time in place, stably, in every column (scratch: ``order``,
    ``count``, ``whole``, ``real`` of at least ``b - a + 1`` rows; ``whole`` holds the integer
    columns on their way, ``real`` the float ones)."""
    m = b - a
    _time_order(t, a, b, order, count)
    _permute(t, a, order, m, whole)
    _permute(x, a, order, m, real)
    _permute(y, a, order, m, real)
    if has_precision:
        _permute(prec, a, order, m, real)
    if has_source:
        _permute(src, a, order, m, whole)


@nb.njit(cache=True)
def _sort_segments(starts, first, last, t, x, y, prec, src, has_precision, has_source):
    """Sort the rows of subjects ``first:last`` (CSR ``starts``) by time where they are not in
    time order (one set of scratch for all); how many were sorted."""
    longest = 0
    for s in range(first, last):
        longest = max(longest, starts[s + 1] - starts[s])
    order = np.empty(longest, dtype=np.int64)
    count = np.empty(longest + 1, dtype=np.int64)
    whole = np.empty(longest, dtype=np.int64)
    real = np.empty(longest, dtype=np.float64)
    sorted_ = 0
    for s in range(first, last):
        a = starts[s]
        b = starts[s + 1]
        if not _in_time_order(t, a, b):
            _sort_segment(a, b, t, x, y, prec, src, has_precision, has_source, order, count,
                          whole, real)
            sorted_ += 1
    return sorted_


@nb.njit(cache=True, parallel=True)
def sort_segments_by_time(starts, t, x, y, prec, src, has_precision, has_source):
    """Sort each subject's rows (CSR ``starts``) by time in place, stably, in every column;
    a subject already in time order is only read. Returns how many subjects were sorted."""
    n_codes = starts.size - 1
    per = (n_codes + CHUNKS - 1) // CHUNKS
    sorted_ = np.zeros(CHUNKS, dtype=np.int64)
    for k in nb.prange(CHUNKS):
        sorted_[k] = _sort_segments(starts, min(k * per, n_codes), min((k + 1) * per, n_codes),
                                    t, x, y, prec, src, has_precision, has_source)
    return sorted_.sum()


@nb.njit(cache=True, parallel=True)
def all_in_time_order(starts, t):
    """Whether every subject's rows (CSR ``starts``) are in time order."""
    n_codes = starts.size - 1
    bad = np.zeros(n_codes, dtype=np.bool_)
    for s in nb.prange(n_codes):
        bad[s] = not _in_time_order(t, starts[s], starts[s + 1])
    return not bad.any()


@nb.njit(cache=True, parallel=True)
def count_repeats(codes, t):
    """How many rows repeat the subject and time of the row before them."""
    n = t.size
    per = (n + CHUNKS - 1) // CHUNKS
    counts = np.zeros(CHUNKS, dtype=np.int64)
    for k in nb.prange(CHUNKS):
        m = 0
        for i in range(max(k * per, 1), min((k + 1) * per, n)):
            if codes[i] == codes[i - 1] and t[i] == t[i - 1]:
                m += 1
        counts[k] = m
    return counts.sum()


@nb.njit(cache=True)
def grouped_starts(codes, n_codes):
    """CSR offsets of ascending codes (a count per code)."""
    starts = np.zeros(n_codes + 1, dtype=np.int64)
    for i in range(codes.size):
        starts[codes[i] + 1] += 1
    for c in range(n_codes):
        starts[c + 1] += starts[c]
    return starts


@nb.njit(cache=True, parallel=True)
def best_of_duplicates(codes, t, x, y, prec, src, has_precision, has_source):
    """Rows to keep of rows in (subject, time) order: of a run with the same subject and time,
    the one with the smallest (precision, unknown last; x; y; source code)."""
    n = t.size
    keep = np.zeros(n, dtype=np.bool_)
    per = (n + CHUNKS - 1) // CHUNKS
    for k in nb.prange(CHUNKS):
        i = k * per
        end = min((k + 1) * per, n)
        # a run that began in the chunk before is that chunk's to settle
        while i < end and i > 0 and codes[i] == codes[i - 1] and t[i] == t[i - 1]:
            i += 1
        while i < end:
            best = i
            j = i + 1
            while j < n and codes[j] == codes[i] and t[j] == t[i]:
                if _better(j, best, x, y, prec, src, has_precision, has_source):
                    best = j
                j += 1
            keep[best] = True
            i = j
    return keep


@nb.njit(cache=True, inline="always")
def _better(j, best, x, y, prec, src, has_precision, has_source):
    if has_precision:
        pj = prec[j] if not np.isnan(prec[j]) else np.inf
        pb = prec[best] if not np.isnan(prec[best]) else np.inf
        if pj != pb:
            return pj < pb
    if x[j] != x[best]:
        return x[j] < x[best]
    if y[j] != y[best]:
        return y[j] < y[best]
    if has_source:
        return src[j] < src[best]
    return False

