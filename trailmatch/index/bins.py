"""The hashed bins both indexes file their items in: one key layout, one hash.

An item (a chunk of a path in the segment index, a gap's prism in the gap index) is filed under
``(level, time bucket, cell x, cell y)``: the level's cells are ``cell_m * 2**level`` wide and
its time buckets are fixed spans of time. The four numbers are packed into one 64-bit key and
the key is spread over a power-of-two hash table by ``mix64``. A look-up computes the same key
and compares keys exactly, then tests each candidate's box and time span: a key shared by
cells or buckets that wrap (below) only brings in candidates the tests then drop.

Layout (high to low bits):

    level   5 bits  (59..63)  at most ``KEY_LEVELS`` = 32 levels
    bucket 19 bits  (40..58)  the time bucket, modulo 2**19 (an hour's buckets: 60 years)
    ix     20 bits  (20..39)  the cell column + 2**19, modulo 2**20
    iy     20 bits  ( 0..19)  the cell row + 2**19, modulo 2**20

The segment index is persisted with its keys (``store/day_index.py``: its ``FORMAT`` names
this layout; change one, change the other).
"""

from __future__ import annotations

import numba as nb
import numpy as np

KEY_LEVELS = 32  # levels a key can name
_OFF = 1 << 19  # cell index offset so negative coordinates pack into 20 bits


@nb.njit(cache=True, inline="always")
def pack_key(level, bucket, ix, iy):
    """The bin key of (level, time bucket, cell column, cell row)."""
    return ((np.uint64(level) << np.uint64(59))
            | (np.uint64(bucket & 0x7FFFF) << np.uint64(40))
            | (np.uint64((ix + _OFF) & 0xFFFFF) << np.uint64(20))
            | np.uint64((iy + _OFF) & 0xFFFFF))


@nb.njit(cache=True, inline="always")
def key_level(key):
    """The level a key was packed with."""
    return np.int64(key >> np.uint64(59))


@nb.njit(cache=True, inline="always")
def mix64(k):
    """splitmix64 finaliser: spreads packed keys over the hash table."""
    k = (k ^ (k >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    k = (k ^ (k >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return k ^ (k >> np.uint64(31))
