"""The C allocator's settings for trailmatch's jobs: freed big arrays are kept for reuse.

A national day's match allocates a few hundred MB of arrays and frees them at the end. glibc's
malloc starts by giving any block over 128 KiB its own ``mmap`` and returning it to the OS on
``free``, and raises that threshold only as it sees large blocks freed: until it has, every
call page-faults its arrays in afresh, and on this machine that is ~12 % of ``match()``
(national day, 7.2 M fixes: 195-205 ms a call before, 170-180 ms after, from the first call).
Fixing the threshold at its largest (32 MiB) serves everything under it from the heap, and a
trim threshold of 256 MiB keeps that much free heap for the next call instead of returning it
at once. The process holds at most that much freed memory more; nothing else changes.

The ``trailmatch`` command applies it (``cli.main``); a program that calls the library can call
``tune_allocator()`` itself. It is skipped when the C library is not glibc, when the user set
glibc's own ``MALLOC_*`` variables (theirs win), or with ``TRAILMATCH_MALLOC=default``.
"""

from __future__ import annotations

import ctypes
import os
import platform

MMAP_THRESHOLD = 32 * 2**20  # glibc's largest allowed: blocks under it come from the heap
TRIM_THRESHOLD = 256 * 2**20  # free memory kept at the top of the heap for the next job
_M_TRIM_THRESHOLD = -1  # mallopt parameters (malloc.h)
_M_MMAP_THRESHOLD = -3

_applied: bool | None = None


def tune_allocator() -> bool:
    """Apply the settings once per process; returns whether they are in effect."""
    global _applied
    if _applied is not None:
        return _applied
    _applied = False
    if os.environ.get("TRAILMATCH_MALLOC", "").lower() == "default":
        return False
    if any(name.startswith("MALLOC_") for name in os.environ):
        return False
    if platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library this process runs on
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    _applied = (mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
                and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1)
    return _applied


def release_free_memory() -> None:
    """Give memory that was freed but kept for reuse back to the OS: Arrow's pool's free
    pages, and glibc's free heap (``malloc_trim``; kept up to ``TRIM_THRESHOLD`` by the
    settings above). For a job about to allocate big arrays after freeing others (the day's
    index after its merge), so that both are not resident at once. Costs milliseconds."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    if platform.libc_ver()[0] == "glibc":
        try:
            trim = ctypes.CDLL(None).malloc_trim
        except (OSError, AttributeError):
            return
        trim.argtypes = [ctypes.c_size_t]
        trim(0)
