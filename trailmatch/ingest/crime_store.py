"""Validated crimes kept in the store, every version: ``DIR/crimes/crimes.parquet``.

A crime is identified by (police force, crime reference). Each distinct content sent for it
is a *version*; an exact resend (same batch id and the same content) is a duplicate and stores
nothing. ``version`` numbers the versions of one crime 1, 2, ... in ``version_order`` (batch
date, resend number, ingest time, record number); ``latest_versions`` gives what matching uses.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from trailmatch.atomic import atomic_write_parquet
from trailmatch.ingest.crime_batch import CRIME_COLUMNS, latest_versions, version_order

CRIMES_PATH = Path("crimes") / "crimes.parquet"
# What makes two sendings of a crime the same version.
CONTENT_COLUMNS = [
    "police_force", "crime_reference", "batch_id", "crime_type", "crime_type_description",
    "time_from", "time_to", "easting", "northing", "latitude", "longitude", "datum",
    "crime_text",
]
STORED_COLUMNS = [*CRIME_COLUMNS, "version", "ingested_at"]


def read_stored_crimes(root: str | os.PathLike) -> pd.DataFrame:
    """Every stored version (empty frame with the stored columns when there are none)."""
    path = Path(root) / CRIMES_PATH
    if not path.exists():
        frame = pd.DataFrame({c: pd.Series(dtype=object) for c in STORED_COLUMNS})
        for c in ("time_from", "time_to", "ingested_at"):
            frame[c] = pd.Series(dtype="datetime64[ns, UTC]")
        for c in ("x", "y", "easting", "northing", "latitude", "longitude"):
            frame[c] = pd.Series(dtype=np.float64)
        for c in ("row", "version"):
            frame[c] = pd.Series(dtype=np.int64)
        return frame
    return pq.read_table(path).to_pandas()


def _content_key(frame: pd.DataFrame) -> pd.Series:
    parts = []
    for c in CONTENT_COLUMNS:
        v = frame[c]
        if pd.api.types.is_datetime64_any_dtype(v.dtype):
            v = v.astype("int64").astype(str)
        elif pd.api.types.is_float_dtype(v.dtype):
            v = v.map(repr)
        parts.append(v.astype(str).fillna(""))
    key = parts[0]
    for p in parts[1:]:
        key = key + "\x1f" + p
    return key


def store_crimes(root: str | os.PathLike, crimes: pd.DataFrame, *,
                 ingested_at: pd.Timestamp | None = None) -> tuple[int, int]:
    """Add a batch's accepted crimes as versions. Returns ``(stored, duplicates)``; the file is
    rewritten only when something new arrived, so re-ingesting a batch changes nothing."""
    if crimes.empty:
        return 0, 0
    ingested_at = ingested_at or pd.Timestamp.now(tz="UTC")
    old = read_stored_crimes(root)
    new = crimes[CRIME_COLUMNS].copy()
    new_key = _content_key(new)
    seen = set(_content_key(old)) if len(old) else set()
    fresh = ~new_key.isin(seen) & ~new_key.duplicated(keep="first")
    stored = int(fresh.sum())
    if stored == 0:
        return 0, len(new)
    add = new[fresh.to_numpy()].copy()
    add["ingested_at"] = ingested_at
    add["version"] = 0
    both = pd.concat([old[STORED_COLUMNS], add[STORED_COLUMNS]], ignore_index=True)
    both = version_order(both).reset_index(drop=True)
    both["version"] = both.groupby(["police_force", "crime_reference"]).cumcount() + 1
    for c in ("time_from", "time_to", "ingested_at"):
        both[c] = both[c].astype("datetime64[ns, UTC]")
    atomic_write_parquet(pa.Table.from_pandas(both, preserve_index=False),
                         Path(root) / CRIMES_PATH)
    return stored, len(new) - stored


def stored_latest_crimes(root: str | os.PathLike) -> pd.DataFrame:
    """The latest version of every stored crime, in the match() crime columns and more."""
    return latest_versions(read_stored_crimes(root))
