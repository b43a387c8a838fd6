"""Subjects and their monitoring: device activation periods, licence end, force, cohort.

A subjects file is a CSV with a header row naming (in any order, any case) the columns
``subject, device, activation_start, activation_end, licence_end, force, cohort``. One record
per device activation: a person who changed tag has one record per device. Times are ISO 8601;
without an offset they are UTC; a bare date means 00:00 UTC that day. ``activation_end`` empty
means still active; ``licence_end`` empty means not known (such a subject is never purged);
``cohort`` is ``fixed``, ``flex`` or ``free`` (or empty); ``force`` if given must be a known
force.

Activation periods drive matching (only fixes inside them count, for subjects that have any);
licence end drives retention (``trailmatch purge``).
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numba as nb
import numpy as np
import pandas as pd

from trailmatch.ingest.forces import load_forces
from trailmatch.ingest.plausible import UNREADABLE_ID
from trailmatch.ingest.rejects import (
    POSITION_REJECT_COLUMNS,
    empty_rejects,
    printable,
    reject_frame,
)

SUBJECT_COLUMNS = ["subject", "device", "activation_start", "activation_end", "licence_end",
                   "force", "cohort"]
REQUIRED = ["subject", "activation_start"]
COHORTS = ("fixed", "flex", "free")
KEY = ["subject", "device", "activation_start"]


class SubjectsFormatError(ValueError):
    """The subjects file is unusable as a whole (no header, required columns missing)."""


@dataclass
class SubjectsRead:
    subjects: pd.DataFrame  # SUBJECT_COLUMNS + row
    rejects: pd.DataFrame  # file, row, subject, field, value, error
    rows_read: int


def _times(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s.where(s != ""), format="ISO8601", utc=True,
                          errors="coerce").astype("datetime64[ns, UTC]")


def read_subjects(path: str | os.PathLike, *, forces=None) -> SubjectsRead:
    """Read and validate a subjects file; one reject line per problem, good records kept."""
    path = Path(path)
    file = str(path)
    text = path.read_bytes().decode("utf-8-sig", errors="replace")
    records = [r for r in csv.reader(io.StringIO(text, newline=""))
               if r and not (len(r) == 1 and not r[0].strip())]
    if not records:
        raise SubjectsFormatError(f"{file}: empty file (no header row)")
    header = [h.strip().lower() for h in records[0]]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise SubjectsFormatError(f"{file}: header lacks {', '.join(missing)} "
                                  f"(columns: {', '.join(SUBJECT_COLUMNS)})")
    force_names = {k.lower(): k for k in (load_forces() if forces is None else forces)}
    parts = []
    good_recs, rows = [], []
    for n, rec in enumerate(records[1:], start=1):
        if len(rec) != len(header):
            parts.append(pd.DataFrame({"row": [n], "subject": [None], "field": ["columns"],
                                       "value": [str(len(rec))],
                                       "error": ["wrong_column_count"]}))
            continue
        good_recs.append(rec)
        rows.append(n)
    rows = np.asarray(rows, dtype=np.int64)
    raw = pd.DataFrame(good_recs, columns=header, dtype=object)
    f = {c: (raw[c].astype(str).str.strip() if c in raw.columns
             else pd.Series([""] * len(raw), dtype=object)) for c in SUBJECT_COLUMNS}
    subj = f["subject"].where(f["subject"] != "").to_numpy(dtype=object)
    subj = np.where(pd.isna(subj), None, subj)

    def add(mask, field, error):
        mask = np.asarray(mask, dtype=bool)
        if mask.any():
            parts.append(pd.DataFrame({"row": rows[mask],
                                       "subject": [printable(v) if v else v
                                                   for v in subj[mask]],
                                       "field": field,
                                       "value": [printable(v) for v in f[field][mask]],
                                       "error": error}))

    add(f["subject"] == "", "subject", "missing")
    for c in ("subject", "device"):  # ids someone typed (plausible.UNREADABLE_ID), checked
        typed = raw[c].astype(str).str.strip(" \t") if c in raw.columns else f[c]  # untrimmed
        add(typed.str.contains(UNREADABLE_ID, regex=True), c, "invalid_encoding")
    times = {}
    for c in ("activation_start", "activation_end", "licence_end"):
        t = _times(f[c])
        if c == "activation_start":
            add(f[c] == "", c, "missing")
        add((f[c] != "") & t.isna(), c, "invalid_format")
        times[c] = t
    a0, a1 = times["activation_start"], times["activation_end"]
    add(a0.notna() & a1.notna() & (a1 < a0), "activation_end", "end_before_start")
    cohort = f["cohort"].str.lower()
    add((cohort != "") & ~cohort.isin(COHORTS), "cohort", "unknown_cohort")
    force = f["force"].str.lower().map(force_names)
    add((f["force"] != "") & force.isna(), "force", "unknown_force")

    rejects = (pd.concat(parts, ignore_index=True) if parts
               else empty_rejects(POSITION_REJECT_COLUMNS).drop(columns="file"))
    rejects.insert(0, "file", file)
    rejects = reject_frame(rejects, POSITION_REJECT_COLUMNS)
    good = ~np.isin(rows, rejects["row"].to_numpy())
    subjects = pd.DataFrame({
        "subject": f["subject"][good].to_numpy(dtype=object),
        "device": f["device"][good].to_numpy(dtype=object),
        "activation_start": a0[good].reset_index(drop=True),
        "activation_end": a1[good].reset_index(drop=True),
        "licence_end": times["licence_end"][good].reset_index(drop=True),
        "force": force[good].to_numpy(dtype=object),
        "cohort": cohort[good].to_numpy(dtype=object),
        "row": rows[good],
    })
    subjects["cohort"] = subjects["cohort"].where(subjects["cohort"] != "", None)
    return SubjectsRead(subjects=subjects, rejects=rejects, rows_read=len(records) - 1)


def empty_subjects() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype=object) for c in SUBJECT_COLUMNS})
    for c in ("activation_start", "activation_end", "licence_end"):
        frame[c] = pd.Series(dtype="datetime64[ns, UTC]")
    return frame


def merge_subjects(old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """Records keyed by (subject, device, activation start); a record sent again replaces the
    stored one. Sorted by the key, so the result does not depend on arrival order."""
    both = pd.concat([old[SUBJECT_COLUMNS], new[SUBJECT_COLUMNS]], ignore_index=True)
    both["device"] = both["device"].fillna("")
    both = both.drop_duplicates(KEY, keep="last")
    return both.sort_values(KEY, kind="stable").reset_index(drop=True)


def activation_arrays(subjects: pd.DataFrame, names: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Activation periods as CSR arrays over subject codes (``names`` is the code -> subject
    table): ``(known, starts, a0, a1)`` where subject ``s`` has periods
    ``a0[starts[s]:starts[s+1]]`` .. ``a1[...]`` (int64 ns, open end = int64 max) and
    ``known[s]`` says whether it has any."""
    pos = {str(s): i for i, s in enumerate(names)}
    code = subjects["subject"].astype(str).map(pos)
    sel = code.notna().to_numpy()
    code = code[sel].to_numpy(dtype=np.int64)
    a0 = subjects["activation_start"][sel].to_numpy(dtype="datetime64[ns]").view(np.int64)
    a1 = subjects["activation_end"][sel].to_numpy(dtype="datetime64[ns]").view(np.int64)
    a1 = np.where(a1 == np.iinfo(np.int64).min, np.iinfo(np.int64).max, a1)
    order = np.lexsort((a0, code))
    code, a0, a1 = code[order], a0[order], a1[order]
    counts = np.bincount(code, minlength=len(names))
    starts = np.zeros(len(names) + 1, dtype=np.int64)
    np.cumsum(counts, out=starts[1:])
    return counts > 0, starts, a0, a1


@nb.njit(cache=True)
def _inside(code, t, known, starts, a0, a1):
    out = np.ones(code.size, dtype=np.bool_)
    for i in range(code.size):
        s = code[i]
        if not known[s]:
            continue  # no activation data for this subject: every fix counts
        inside = False
        for k in range(starts[s], starts[s + 1]):
            if a0[k] <= t[i] <= a1[k]:
                inside = True
                break
        out[i] = inside
    return out


def inside_activation(code: np.ndarray, t: np.ndarray, known: np.ndarray, starts: np.ndarray,
                      a0: np.ndarray, a1: np.ndarray) -> np.ndarray:
    """True for a fix of a subject without activation data, or inside one of its periods
    ``a0 <= t <= a1`` (closed: a fix at the activation instant counts)."""
    return _inside(np.ascontiguousarray(code, dtype=np.int64),
                   np.ascontiguousarray(t, dtype=np.int64), known.astype(np.bool_),
                   starts, a0, a1)
