"""Rejected input lines: one line per broken rule, never a silent drop.

Crime batches: ``file, row, crime_reference, field, value, error``; positions:
``file, row, subject, field, value, error``. ``row`` is the 1-based record number in the file
(the header and blank lines are not records); ``error`` is a snake_case kind per cause.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from trailmatch.atomic import atomic_open

CRIME_REJECT_COLUMNS = ["file", "row", "crime_reference", "field", "value", "error"]
POSITION_REJECT_COLUMNS = ["file", "row", "subject", "field", "value", "error"]


def printable(value: str) -> str:
    """A rejected value as it can be written to a CSV line and read: control characters
    (a NUL, an escape) spelt as ``\\xNN``."""
    if value.isprintable():
        return value
    return "".join(c if c.isprintable() or c == " " else f"\\x{ord(c):02x}" if ord(c) < 256
                   else f"\\u{ord(c):04x}" for c in value)


def reject_frame(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The reject lines in a fixed column order and a stable row order (by row, then field)."""
    out = pd.DataFrame({c: frame[c] if c in frame.columns else pd.Series(dtype=object)
                        for c in columns})
    out["row"] = out["row"].astype("int64")
    for c in columns:
        if c != "row":
            out[c] = out[c].astype(object)
    out = out.sort_values(["row", "field", "error"], kind="stable").reset_index(drop=True)
    return out


def empty_rejects(columns: list[str]) -> pd.DataFrame:
    return reject_frame(pd.DataFrame({c: [] for c in columns}), columns)


def write_rejects(frames: pd.DataFrame | list[pd.DataFrame], path: str | os.PathLike,
                  columns: list[str] | None = None) -> Path:
    """Write a run's reject lines to a CSV, replacing what an earlier run left there, atomically
    (a temporary file beside it replaces it: a killed run leaves it as before or complete).

    ``frames`` may mix crime and position rejects: the file then has every column of both
    (``crime_reference`` and ``subject``). With no lines at all the file holds just the header
    (``columns``, default the crime batch's), so a clean rerun leaves no stale lines.
    """
    path = Path(path)
    frames = [frames] if isinstance(frames, pd.DataFrame) else list(frames)
    if columns is None:
        columns = list(dict.fromkeys(c for f in frames for c in f.columns)) \
            if frames else CRIME_REJECT_COLUMNS
        if "subject" in columns and "crime_reference" in columns:
            order = ["file", "row", "crime_reference", "subject", "field", "value", "error"]
            columns = [c for c in order if c in columns] + [c for c in columns if c not in order]
    parts = []
    for frame in frames:
        new = frame.copy()
        for c in new.columns:
            if c != "row":  # text as written; a missing value is an empty field (pandas 2 and 3)
                new[c] = [v if isinstance(v, str) else "" if v is None or v != v else str(v)
                          for v in new[c].tolist()]
        parts.append(new)
    out = (pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()).reindex(
        columns=columns)
    out = out.astype(object).where(out.notna(), "")
    with atomic_open(path) as f:
        out.to_csv(f, index=False)
    return path
