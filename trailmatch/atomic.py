"""Atomic file replacement: a reader sees the old file or the whole new one, never a part.

Every output of trailmatch (store partitions, hits, coverage, reports, rejects) is written
through a temporary file beside its destination, fsynced, renamed into place with
``os.replace`` and the directory fsynced, so a run killed at any moment leaves each file as
before or complete.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def fsync_dir(path: str | os.PathLike) -> None:
    """Make the directory's entries (a rename, a removal) durable."""
    dir_fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def publish(tmp: str | os.PathLike, path: Path) -> None:
    """Make a finished temporary file ``path``: ordinary permissions (mkstemp makes it
    private), fsync, ``os.replace``, fsync of the directory (so the rename survives a power
    cut)."""
    os.chmod(tmp, 0o666 & ~_umask())
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(Path(path).parent)


@contextmanager
def temporary_beside(path: str | os.PathLike) -> Iterator[str]:
    """A temporary file name beside ``path``, published as ``path`` when the block ends
    without an error and removed otherwise."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield tmp
        publish(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w") -> Iterator[IO]:
    """Open ``path`` for writing (text, UTF-8, or binary with ``"wb"``) so that it appears
    whole or not at all."""
    with temporary_beside(path) as tmp:
        if "b" in mode:
            with open(tmp, mode) as f:
                yield f
        else:
            with open(tmp, mode, encoding="utf-8", newline="") as f:
                yield f


def atomic_write(path: str | os.PathLike, data: str | bytes) -> None:
    """Write ``data`` (text as UTF-8) to ``path`` atomically."""
    with atomic_open(path, "wb") as f:
        f.write(data.encode("utf-8") if isinstance(data, str) else data)


def atomic_write_parquet(table, path: str | os.PathLike) -> None:
    """Write an Arrow ``table`` to ``path`` as Parquet (zstd) atomically."""
    import pyarrow.parquet as pq

    with temporary_beside(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")
