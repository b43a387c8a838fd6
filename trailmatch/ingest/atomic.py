"""Atomic file replacement: a reader sees the old file or the new one, never a part."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from trailmatch.atomic import publish, temporary_beside

__all__ = ["atomic_write_parquet", "publish"]


def atomic_write_parquet(table: pa.Table, path: Path) -> None:
    """Write ``table`` to ``path`` through a temporary file and ``os.replace``."""
    with temporary_beside(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")
