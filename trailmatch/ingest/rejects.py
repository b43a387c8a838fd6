"""Rejected input lines: one line per broken rule, never a silent drop.

Crime batches: ``file, row, crime_reference, field, value, error``; positions:
``file, row, subject, field, value, error``. ``row`` is the 1-based record number in the file
(the header and blank lines are not records); ``error`` is a snake_case kind per cause.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pandas as pd

from trailmatch.atomic import publish

CRIME_REJECT_COLUMNS = ["file", "row", "crime_reference", "field", "value", "error"]
POSITION_REJECT_COLUMNS = ["file", "row", "subject", "field", "value", "error"]


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


def write_rejects(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Append reject lines to a CSV (created with a header when absent), atomically.

    The old content and the new lines are written to a temporary file beside it that then
    replaces it, so a killed run leaves the file as before or complete. Appending to a file
    written with the other kind of rejects keeps every column of both.
    """
    path = Path(path)
    parts = []
    if path.exists() and path.stat().st_size > 0:
        parts.append(pd.read_csv(path, dtype=str, keep_default_na=False))
    new = frame.copy()
    for c in new.columns:
        if c != "row":  # text as written; a missing value is an empty field (pandas 2 and 3)
            new[c] = [v if isinstance(v, str) else "" if v is None or v != v else str(v)
                      for v in new[c].tolist()]
    parts.append(new)
    if len(parts) == 2 and list(parts[0].columns) != list(new.columns):
        columns = list(dict.fromkeys([*parts[0].columns, *new.columns]))
    else:
        columns = list(new.columns)
    out = pd.concat(parts, ignore_index=True).reindex(columns=columns)
    out = out.astype(object).where(out.notna(), "")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            out.to_csv(f, index=False)
        publish(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
