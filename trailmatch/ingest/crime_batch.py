"""Crime batches as forces send them (docs/formats.md §1): validated crimes and precise rejects.

A batch is a header-less 13-column CSV, UTF-8, maybe with a byte-order mark; blank lines are
not records. Every rule of the format is checked on every record and each broken rule gives one
reject line ``file, row, crime_reference, field, value, error`` (``row`` is the 1-based record
number). The good records of a batch are accepted whatever the bad ones do.

A file with no 13-field record at all is not a batch (``NotACrimeBatch``, with a hint: the
delimiter it seems to use, that it looks compressed or binary, or that its first row looks
like a header); a gzip-compressed batch (``.csv.gz``) is read as the CSV inside it.

The same force + crime reference sent again is a new *version* of that crime. Which of two
batches is the later is decided here, once (``batch_order``); which sending makes a new version
is decided by the hit store (``trailmatch.hitstore.repository.store_crimes``), and
``latest_versions`` applies the same order to crimes read straight from files. The rule, and why:
docs/ingest.md, "Crime versions".
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from trailmatch.crs import OSGB36_GRID, WGS84, project_flagged, working_to_lonlat
from trailmatch.ingest.forces import load_forces
from trailmatch.ingest.plausible import (
    PLACE_RANGES,
    UNREADABLE_ID,
    Plausible,
    plausible,
    written_year_out_of_range,
)
from trailmatch.ingest.rejects import CRIME_REJECT_COLUMNS, printable, reject_frame

N_COLUMNS = 13
RAW_COLUMNS = [
    "police_force", "crime_type", "crime_type_description", "batch_id", "crime_reference",
    "date_from", "date_to", "easting", "northing", "latitude", "longitude", "datum", "crime_text",
]

# The national scheme's crime types (docs/formats.md §1); codes are matched case-insensitively.
CRIME_TYPES = {
    "RB": "Robbery",
    "BIAD": "Burglary in a dwelling",
    "AB": "Aggravated burglary",
    "BOTD": "Burglary in a building other than a dwelling",
    "TOMV": "Theft of a motor vehicle",
    "TFP": "Theft from the person",
    "TFMV": "Theft from a motor vehicle",
}

# Allowed ranges (inclusive), docs/formats.md §1: ``plausible.PLACE_RANGES``.
RANGES = PLACE_RANGES

BATCH_ID = re.compile(r"^(?P<code>[A-Za-z]+)(?P<date>\d{8})(?:-(?P<resend>\d+))?"
                      r"(?:-(?P<suffix>[RrAa]))?$")


def batch_order(batch_id: str) -> tuple[str, int]:
    """Which of two batches of a force is the later: the later batch date, then the higher
    resend number (none is 0). The ``-R`` / ``-A`` suffix does not order batches; batches
    with equal keys are in the order they were received. ("", 0) for an id that is not a
    batch id, which sorts before every real one."""
    m = BATCH_ID.match(batch_id or "")
    if m is None:
        return ("", 0)
    return (m["date"], int(m["resend"] or 0))
_DATETIME = r"^\d{14}$"

CRIME_COLUMNS = [
    "crime_reference", "police_force", "crime_type", "x", "y", "time_from", "time_to",
    "batch_id", "crime_type_description", "crime_text", "datum", "easting", "northing",
    "latitude", "longitude", "row", "source_file",
]


class NotACrimeBatch(ValueError):
    """A file with no record of 13 fields: unusable as a whole (the message says why it
    seems not to be a batch; the caller names the file)."""


_COMPRESSED = {b"PK\x03\x04": "zip", b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz",
               b"\x28\xb5\x2f\xfd": "zstd", b"\x1f\x8b": "gzip"}
_HEADER_WORDS = ("force", "crime", "reference", "type", "date", "easting", "latitude")


def _why_not_a_batch(raw: bytes, text: str) -> str:
    """Why a file without one 13-field record is not a crime batch, as a hint to its sender."""
    for magic, kind in _COMPRESSED.items():
        if raw.startswith(magic):
            return f"not a crime batch: the file looks {kind}-compressed; send the CSV itself"
    if not text.strip():
        return "not a crime batch: the file is empty (no records)"
    head = text[:65536]
    controls = sum(c < " " and c not in "\t\r\n" for c in head[:4096])
    if b"\x00" in raw[:65536] or head.count("\ufffd") > 8 or controls >= 2:
        return "not a crime batch: the file looks binary, not CSV text"
    first = next((line for line in text.splitlines() if line.strip()), "")
    for sep, name in ((";", "';'"), ("\t", "tabs"), ("|", "'|'")):
        if first.count(sep) == N_COLUMNS - 1:
            return (f"not a crime batch: fields seem separated by {name}, not commas "
                    f"(no record has {N_COLUMNS} comma-separated fields)")
    words = first.lower()
    if sum(w in words for w in _HEADER_WORDS) >= 2:
        return (f"not a crime batch: the first row looks like a header (a batch has none) and "
                f"no record has {N_COLUMNS} fields")
    return f"not a crime batch: no record has {N_COLUMNS} fields"


@dataclass
class CrimeBatch:
    """What one batch file gave: the accepted crimes, the reject lines, the records read."""

    crimes: pd.DataFrame
    rejects: pd.DataFrame
    rows_read: int

    @property
    def rows_rejected(self) -> int:
        return int(self.rejects["row"].nunique()) if len(self.rejects) else 0


def _records(text: str) -> list[tuple[int, list[str] | None, str]]:
    """(record number, fields or None if the CSV itself is broken there, csv error text)."""
    reader = csv.reader(io.StringIO(text, newline=""))
    out: list[tuple[int, list[str] | None, str]] = []
    n = 0
    while True:
        try:
            rec = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            n += 1
            out.append((n, None, str(e)))
            continue
        if not rec or (len(rec) == 1 and not rec[0].strip()):
            continue  # a blank line is not a record
        n += 1
        out.append((n, rec, ""))
    return out


class _Errors:
    """Collects reject lines column-wise, so a whole column is checked in one step."""

    def __init__(self) -> None:
        self.parts: list[pd.DataFrame] = []

    def add(self, mask, rows, refs, field: str, values, error: str) -> None:
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        vals = values if np.ndim(values) else np.full(mask.size, values, dtype=object)
        self.parts.append(pd.DataFrame({
            "row": np.asarray(rows)[mask],
            "crime_reference": [printable(v) if isinstance(v, str) else v
                                for v in np.asarray(refs, dtype=object)[mask]],
            "field": field,
            "value": [printable(v) if isinstance(v, str) else v
                      for v in np.asarray(vals, dtype=object)[mask]],
            "error": error,
        }))


def _number(s: pd.Series) -> pd.Series:
    return pd.to_numeric(s.where(s != ""), errors="coerce").astype("float64")


def _resolve_forces(forces) -> dict[str, str]:
    if forces is None:
        return load_forces()
    if isinstance(forces, Mapping):
        return {str(k): str(v) for k, v in forces.items()}
    if isinstance(forces, str | os.PathLike | Iterable):
        return load_forces(forces)
    raise TypeError(f"forces: a mapping {{force: code}} or forces file path, got {forces!r}")


def read_crime_batch(path: str | os.PathLike, *, crs: str = "EPSG:27700",
                     forces: Mapping[str, str] | str | os.PathLike | None = None,
                     max_window_h: float = 12.0) -> CrimeBatch:
    """Read and validate one crime batch CSV.

    ``forces``: ``None`` for the shipped list (plus ``$TRAILMATCH_FORCES``), a mapping
    ``{force: code}`` used as the whole list, or a forces CSV added to the shipped list.
    Crimes get ``x``, ``y`` in ``crs`` (projected from the grid reference or from lat/lon,
    whichever pair the record gives) and UTC ``time_from`` / ``time_to``.
    Raises ``OSError`` when the file itself cannot be read and ``NotACrimeBatch`` when no
    record has 13 fields.
    """
    path = Path(path)
    name = str(path)
    raw = path.read_bytes()
    if raw.startswith(b"\x1f\x8b"):  # a .csv.gz export: the CSV inside it
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise NotACrimeBatch(f"a damaged gzip file ({e})") from None
    # Undecodable bytes become U+FFFD so the record they sit in is still reported, not lost.
    text = raw.decode("utf-8-sig", errors="replace")
    batch = parse_crime_batch(text, source_file=name, crs=crs, forces=forces,
                              max_window_h=max_window_h)
    if batch.rows_read == 0 or (batch.rejects["error"] == "wrong_column_count").sum() \
            == batch.rows_read:
        raise NotACrimeBatch(_why_not_a_batch(raw, text))
    return batch


def parse_crime_batch(text: str, *, source_file: str, crs: str = "EPSG:27700",
                      forces=None, max_window_h: float = 12.0,
                      lim: Plausible | None = None) -> CrimeBatch:
    """``read_crime_batch`` on text already in memory (``source_file`` names it in rejects).
    ``lim``: the plausible time range (default: the setting in force)."""
    lim = lim or plausible()
    if text.startswith("\ufeff"):
        text = text[1:]
    force_codes = _resolve_forces(forces)
    force_by_key = {k.lower(): k for k in force_codes}
    records = _records(text)
    rows_read = len(records)
    errors = _Errors()

    shaped = [(n, rec) for n, rec, _ in records if rec is not None and len(rec) == N_COLUMNS]
    for n, rec, err in records:
        if rec is None:
            errors.add([True], [n], [None], "columns", [err], "malformed_csv")
        elif len(rec) != N_COLUMNS:
            ref = rec[4].strip() if len(rec) > 4 and rec[4].strip() else None
            errors.add([True], [n], [ref], "columns", [str(len(rec))], "wrong_column_count")

    rows = np.array([n for n, _ in shaped], dtype=np.int64)
    raw = pd.DataFrame([rec for _, rec in shaped], columns=RAW_COLUMNS, dtype=object)
    if raw.empty:
        raw = pd.DataFrame({c: pd.Series(dtype=object) for c in RAW_COLUMNS})
    f = {c: raw[c].astype(str).str.strip() for c in RAW_COLUMNS}
    ref_known = f["crime_reference"].where(f["crime_reference"] != "")
    refs = ref_known.to_numpy(dtype=object)
    refs = np.where(pd.isna(refs), None, refs)

    def add(mask, field, error, value=None):
        vals = f[field].to_numpy(dtype=object) if value is None else value
        errors.add(np.asarray(mask), rows, refs, field, vals, error)

    # police force
    force_in = f["police_force"]
    force = force_in.str.lower().map(force_by_key)
    add(force_in == "", "police_force", "missing")
    add((force_in != "") & force.isna(), "police_force", "unknown_force")

    # crime type (case-insensitive code)
    ctype = f["crime_type"].str.upper()
    add(ctype == "", "crime_type", "missing")
    add((ctype != "") & ~ctype.isin(list(CRIME_TYPES)), "crime_type", "unknown_crime_type")

    # batch id: force code + yyyyMMdd [-N] [-R|-A]; a real date; the code of the row's force
    bid = f["batch_id"]
    parts = bid.str.extract(BATCH_ID)
    add(bid == "", "batch_id", "missing")
    bad_fmt = (bid != "") & parts["code"].isna()
    add(bad_fmt, "batch_id", "invalid_format")
    bdate = pd.to_datetime(parts["date"], format="%Y%m%d", errors="coerce")
    add(~bad_fmt & (bid != "") & bdate.isna(), "batch_id", "invalid_batch_date")
    want_code = force.map(force_codes)
    mismatch = (~bad_fmt & (bid != "") & want_code.notna()
                & (parts["code"].str.upper() != want_code.str.upper()))
    add(mismatch, "batch_id", "batch_force_mismatch")

    # crime reference: required, and text someone typed (no undecodable byte, no control or
    # invisible character: plausible.UNREADABLE_ID)
    add(f["crime_reference"] == "", "crime_reference", "missing")
    # (checked before trimming, but for the spaces and tabs a field may be padded with: a
    # trailing control character is no padding)
    typed_ref = raw["crime_reference"].astype(str).str.strip(" \t")
    add(typed_ref.str.contains(UNREADABLE_ID, regex=True), "crime_reference",
        "invalid_encoding", value=typed_ref.to_numpy(dtype=object))

    # window: yyyyMMddHHmmss, UTC; to >= from; at most max_window_h long
    times = {}
    for field in ("date_from", "date_to"):
        s = f[field]
        ok_shape = s.str.match(_DATETIME)
        # a year far outside the plausible range is not converted (9999 overflows the clock)
        far = ok_shape & written_year_out_of_range(s.to_numpy(dtype=object), lim.years)
        t = pd.to_datetime(s.where(ok_shape & ~far), format="%Y%m%d%H%M%S", errors="coerce",
                           utc=True).astype("datetime64[ns, UTC]")
        ns = t.to_numpy(dtype="datetime64[ns]").view(np.int64).copy()
        outside = far | lim.time_out_of_range(ns, np.iinfo(np.int64).min)
        add(s == "", field, "missing")
        add((s != "") & t.isna() & ~outside, field, "invalid_format")
        add(outside, field, "out_of_range")
        times[field] = t.where(~outside)
    t0, t1 = times["date_from"], times["date_to"]
    both = t0.notna() & t1.notna()
    add(both & (t1 < t0), "date_to", "to_before_from")
    too_long = both & ((t1 - t0) > pd.Timedelta(hours=float(max_window_h)))
    add(too_long, "date_to", "window_too_long")

    # location: exactly one pair, each value a number in range
    present = {c: f[c] != "" for c in RANGES}
    nums = {}
    usable = {}
    for c, (lo, hi) in RANGES.items():
        v = _number(f[c])
        bad_num = present[c] & ~np.isfinite(v.to_numpy())
        add(bad_num, c, "invalid_format")
        out_of_range = present[c] & ~bad_num & ((v < lo) | (v > hi))
        add(out_of_range, c, "out_of_range")
        nums[c] = v
        usable[c] = (present[c] & ~bad_num & ~out_of_range).to_numpy()
    en_full = present["easting"] & present["northing"]
    ll_full = present["latitude"] & present["longitude"]
    for a, b in (("easting", "northing"), ("latitude", "longitude")):
        add(present[a] & ~present[b], b, "half_location")
        add(present[b] & ~present[a], a, "half_location")
    any_half = ((present["easting"] ^ present["northing"])
                | (present["latitude"] ^ present["longitude"]))
    loc_text = (f["easting"] + "," + f["northing"] + "," + f["latitude"] + ","
                + f["longitude"]).to_numpy(dtype=object)
    add(en_full & ll_full, "location", "multiple_locations", loc_text)
    add(~en_full & ~ll_full & ~any_half, "location", "no_location", loc_text)

    # place every usable single location in the working CRS (trailmatch.crs: OSTN15 between
    # WGS84 and the grid); one that needs OSTN15 outside its cover is rejected, not guessed
    x_all = np.full(len(raw), np.nan)
    y_all = np.full(len(raw), np.nan)
    outside = np.zeros(len(raw), dtype=bool)
    one_pair = (en_full ^ ll_full).to_numpy()
    for (a, b), src in ((("easting", "northing"), OSGB36_GRID),
                        (("longitude", "latitude"), WGS84)):
        use = one_pair & usable[a] & usable[b]
        if use.any():
            x_all[use], y_all[use], outside[use] = project_flagged(
                nums[a].to_numpy()[use], nums[b].to_numpy()[use], src, crs)
    add(outside, "location", "outside_grid", loc_text)

    rejects = (pd.concat(errors.parts, ignore_index=True) if errors.parts
               else pd.DataFrame(columns=["row", "crime_reference", "field", "value", "error"]))
    rejects.insert(0, "file", source_file)
    rejects = reject_frame(rejects, CRIME_REJECT_COLUMNS)

    bad_rows = set(rejects["row"].tolist())
    good = ~np.isin(rows, np.fromiter(bad_rows, dtype=np.int64, count=len(bad_rows)))
    g = good
    x, y = x_all[g], y_all[g]
    e, n_ = nums["easting"].to_numpy()[g], nums["northing"].to_numpy()[g]
    lat, lon = nums["latitude"].to_numpy()[g], nums["longitude"].to_numpy()[g]
    crimes = pd.DataFrame({
        "crime_reference": f["crime_reference"].to_numpy(dtype=object)[g],
        "police_force": force.to_numpy(dtype=object)[g],
        "crime_type": ctype.to_numpy(dtype=object)[g],
        "x": x,
        "y": y,
        "time_from": t0[g].reset_index(drop=True),
        "time_to": t1[g].reset_index(drop=True),
        "batch_id": bid.to_numpy(dtype=object)[g],
        "crime_type_description": f["crime_type_description"].to_numpy(dtype=object)[g],
        "crime_text": raw["crime_text"].astype(str).to_numpy(dtype=object)[g],
        "datum": f["datum"].to_numpy(dtype=object)[g],
        "easting": e,
        "northing": n_,
        "latitude": lat,
        "longitude": lon,
        "row": rows[g],
        "source_file": source_file,
    }, columns=CRIME_COLUMNS)
    for c in ("time_from", "time_to"):
        crimes[c] = crimes[c].astype("datetime64[ns, UTC]")
    return CrimeBatch(crimes=crimes, rejects=rejects, rows_read=rows_read)


@dataclass
class ReadBatch:
    """One batch file as read for the hit store: its SHA-256 (a file received twice is one
    ``batches`` row), its force, and its accepted crimes with ``lat``/``lon`` (WGS84) filled in
    for grid locations too."""

    path: Path
    sha256: str
    police_force: str  # whose batch this file is (the force of its rows)
    crimes: pd.DataFrame
    rejects: pd.DataFrame
    rows_read: int
    rows_rejected: int


def _file_force(raw: bytes, crimes: pd.DataFrame) -> str:
    if len(crimes):
        return str(crimes["police_force"].mode().iloc[0])
    # Nothing accepted: name the force as the first record wrote it, so rejects are not orphaned.
    for line in raw.decode("utf-8-sig", errors="replace").splitlines():
        if line.strip():
            return line.split(",", 1)[0].strip() or "unknown"
    return "unknown"


def read_batches(paths: Sequence[Path], crs: str, *, forces=None,
                 max_window_h: float = 12.0,
                 unusable: list[str] | None = None) -> list[ReadBatch]:
    """Read every batch file (x/y in ``crs``). A file that cannot be read at all is named in
    ``unusable`` (one line each, with the reason) and skipped, so one force's broken e-mail
    does not stop the other forces' night; without ``unusable`` the error propagates."""
    from trailmatch.progress import progress

    out = []
    for path in progress(paths, desc="read batches", unit="file"):
        path = Path(path)
        try:
            raw = path.read_bytes()
            batch = read_crime_batch(path, crs=crs, forces=forces,
                                     max_window_h=max_window_h)
        except (OSError, ValueError) as e:
            if unusable is None:
                raise
            # the reason, without the file name the OS error repeats
            why = (e.strerror[0].lower() + e.strerror[1:]
                   if isinstance(e, OSError) and e.strerror else str(e))
            unusable.append(f"{path}: {why}")
            continue
        crimes = batch.crimes
        if len(crimes):
            # Both location kinds in WGS84 for the store and the maps: project the grid ones.
            lon, lat = working_to_lonlat(crimes["x"].to_numpy(), crimes["y"].to_numpy(), crs)
            given = crimes["latitude"].notna() & crimes["longitude"].notna()
            crimes = crimes.assign(lat=np.where(given, crimes["latitude"], lat),
                                   lon=np.where(given, crimes["longitude"], lon))
        out.append(ReadBatch(path=path, sha256=hashlib.sha256(raw).hexdigest(),
                             police_force=_file_force(raw, crimes), crimes=crimes,
                             rejects=batch.rejects, rows_read=batch.rows_read,
                             rows_rejected=batch.rows_rejected))
    return out


def version_order(frame: pd.DataFrame) -> pd.DataFrame:
    """Crimes sorted so later versions of a (force, reference) come later: ``batch_order`` of
    their batch ids, then the order they were read in (file, then record)."""
    order = {b: batch_order(b) for b in frame["batch_id"].astype(str).unique()}
    ids = frame["batch_id"].astype(str)
    keys = pd.DataFrame({
        "_f": frame["police_force"].astype(str).to_numpy(),
        "_r": frame["crime_reference"].astype(str).to_numpy(),
        "_d": ids.map(lambda b: order[b][0]).to_numpy(),
        "_n": ids.map(lambda b: order[b][1]).to_numpy(),
        "_k": np.arange(len(frame)),
    }, index=frame.index)
    return frame.loc[keys.sort_values(["_f", "_r", "_d", "_n", "_k"], kind="stable").index]


def latest_versions(frame: pd.DataFrame) -> pd.DataFrame:
    """The latest version of each (police_force, crime_reference): what matching uses."""
    if frame.empty:
        return frame.copy()
    ordered = version_order(frame)
    latest = ordered.drop_duplicates(["police_force", "crime_reference"], keep="last")
    return latest.reset_index(drop=True)
