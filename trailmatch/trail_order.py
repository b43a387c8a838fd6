"""Subject codes from any subject column, and the (subject, time) order, in O(n).

A user's trails come as an export gives them: subject ids as strings (``read_csv``: Arrow-backed
in pandas 3), integers or a categorical, rows grouped by subject in the export's order (which is
rarely the ids' string order), or by time, or shuffled. Sorting all rows by (subject name, time)
costs ~1 s for a national day of 7.2 M fixes; none of that is needed:

* **codes by first appearance**: consecutive rows of one subject are compared (bytes of Arrow
  strings, values of integers), and only the first row of each run is hashed. A subject's code
  is the order in which it first appears, so rows grouped by subject already have ascending
  codes and nothing moves. The trail's subject names are in that order, not in name order:
  every output orders by name itself (hits by name rank; coverage through the name-ordered
  universe).
* **grouping by counting**: rows that are not grouped by subject are put in order by a stable
  counting sort on the code (parallel: a histogram per chunk).
* **sorting only what is out of order**: a subject's fixes are sorted by time only when they are
  not already in time order.
* **duplicates chosen by content in place**: of fixes with the same subject and time, the most
  precise is kept, then the smallest x, y and source code, by looking at the run only.
"""

from __future__ import annotations

import numba as nb
import numpy as np
import pandas as pd
import pyarrow as pa

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
        return _dictionary_codes(chunked)
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
        return _dictionary_codes(chunked)
    encoded = chunked.take(pa.array(heads_at)).combine_chunks().dictionary_encode()
    head_codes = encoded.indices.to_numpy(zero_copy_only=False)
    names = np.asarray(encoded.dictionary.to_pylist(), dtype=object)
    codes = _expand_runs(heads_at, head_codes.astype(np.int32, copy=False), n)
    return codes, names


def _dictionary_codes(chunked: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Every row hashed (Arrow's dictionary encoding: codes by first appearance)."""
    encoded = chunked.combine_chunks().dictionary_encode()
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int32, copy=True)
    return codes, np.asarray(encoded.dictionary.to_pylist(), dtype=object)


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


@nb.njit(cache=True, parallel=True)
def counting_order(codes, n_codes):
    """The stable order of the rows by code (a counting sort, a histogram per chunk), and the
    CSR offsets of the codes in it."""
    n = codes.size
    per = (n + CHUNKS - 1) // CHUNKS
    counts = np.zeros((CHUNKS, n_codes), dtype=np.int64)
    for k in nb.prange(CHUNKS):
        for i in range(k * per, min((k + 1) * per, n)):
            counts[k, codes[i]] += 1
    starts = np.zeros(n_codes + 1, dtype=np.int64)
    fill = np.empty((CHUNKS, n_codes), dtype=np.int64)
    at = 0
    for c in range(n_codes):
        starts[c] = at
        for k in range(CHUNKS):
            fill[k, c] = at
            at += counts[k, c]
    starts[n_codes] = at
    order = np.empty(n, dtype=np.int64)
    for k in nb.prange(CHUNKS):
        for i in range(k * per, min((k + 1) * per, n)):
            c = codes[i]
            order[fill[k, c]] = i
            fill[k, c] += 1
    return order, starts


@nb.njit(cache=True, inline="always")
def _in_time_order(t, a, b):
    """Whether ``t[a:b]`` never decreases (the one in-order scan of the sorts below)."""
    for j in range(a + 1, b):  # noqa: SIM110 (a loop numba compiles; no generator)
        if t[j] < t[j - 1]:
            return False
    return True


@nb.njit(cache=True, parallel=True)
def sort_segments_by_time(starts, t, x, y, prec, src, has_precision, has_source):
    """Sort each subject's rows (CSR ``starts``) by time in place, stably, in every column;
    a subject already in time order is only read. Returns how many subjects were sorted."""
    n_codes = starts.size - 1
    sorted_ = np.zeros(n_codes, dtype=np.int64)
    for s in nb.prange(n_codes):
        a = starts[s]
        b = starts[s + 1]
        if _in_time_order(t, a, b):
            continue
        by = np.argsort(t[a:b], kind="mergesort") + a
        t[a:b] = t[by]
        x[a:b] = x[by]
        y[a:b] = y[by]
        if has_precision:
            prec[a:b] = prec[by]
        if has_source:
            src[a:b] = src[by]
        sorted_[s] = 1
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
def _take_rows(order, codes, t, x, y, prec, src, has_precision, has_source):
    n = order.size
    codes2 = np.empty(n, dtype=np.int32)
    t2 = np.empty(n, dtype=np.int64)
    x2 = np.empty(n, dtype=np.float64)
    y2 = np.empty(n, dtype=np.float64)
    prec2 = np.empty(n if has_precision else 0, dtype=np.float64)
    src2 = np.empty(n if has_source else 0, dtype=np.uint8)
    for i in nb.prange(n):
        r = order[i]
        codes2[i] = codes[r]
        t2[i] = t[r]
        x2[i] = x[r]
        y2[i] = y[r]
        if has_precision:
            prec2[i] = prec[r]
        if has_source:
            src2[i] = src[r]
    return codes2, t2, x2, y2, prec2, src2


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


def take_rows(order: np.ndarray, codes, t, x, y, prec, src, has_precision: bool,
              has_source: bool):
    """The six trail columns in ``order`` (one parallel gather; absent columns stay empty)."""
    return _take_rows(order, codes, t, x, y, prec if has_precision else np.empty(0),
                      src if has_source else np.empty(0, np.uint8), has_precision, has_source)
