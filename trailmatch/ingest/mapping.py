"""Which column of a positions file holds what, and how its times are to be read.

The tag data store's export (docs/formats.md §2) has a fixed mapping, ``TAG_EXPORT``. Any other
CSV or Parquet file is described by a TOML file (``--mapping FILE``)::

    [columns]              # file column names; only subject, time and a coordinate pair needed
    subject = "person"
    time = "fix_time"
    lat = "latitude"       # WGS84 degrees ...
    lon = "longitude"
    # x = "easting"        # ... or x/y metres in the CRS named below
    # y = "northing"
    precision = "accuracy_m"
    source = "fix_source"  # 1/4/5/6 or GPS/RF/LBS/WiFi
    device = "tag"
    position_id = "id"
    uploaded = "uploaded"
    speed = "speed_kmh"

    [coordinates]
    crs = "EPSG:27700"     # CRS of x/y (ignored for lat/lon, always WGS84)

    [time]
    timezone = "Europe/London"  # zone of times written without an offset (default UTC)
    format = "%d/%m/%Y %H:%M:%S"  # optional strftime format; default ISO 8601
    epoch_unit = "s"       # optional: numeric times are seconds (or ms, us, ns) since 1970
    ambiguous = "reject"   # local time that happens twice (clocks back): reject|earliest|latest
    nonexistent = "reject" # local time that never happens (clocks forward):
                           #   reject|shift_forward|shift_backward

    [csv]
    delimiter = ","

Times that carry an offset (``Z``, ``+01:00``) are taken as written whatever the zone says.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

ROLES = ("subject", "time", "lat", "lon", "x", "y", "precision", "source", "device",
         "position_id", "uploaded", "speed")
AMBIGUOUS = ("reject", "earliest", "latest")
NONEXISTENT = ("reject", "shift_forward", "shift_backward")


@dataclass(frozen=True)
class Mapping:
    """Column roles -> file column names, plus how to read times and coordinates."""

    columns: dict[str, str]
    crs: str | None = None  # CRS of x/y columns
    timezone: str | None = None  # zone of offset-less times; None means UTC
    time_format: str | None = None
    epoch_unit: str | None = None
    ambiguous: str = "reject"
    nonexistent: str = "reject"
    delimiter: str = ","
    name: str = "mapping"
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = set(self.columns) - set(ROLES)
        if unknown:
            raise ValueError(f"{self.name}: unknown column role(s) {sorted(unknown)}; "
                             f"known: {', '.join(ROLES)}")
        for role in ("subject", "time"):
            if not self.columns.get(role):
                raise ValueError(f"{self.name}: [columns] needs '{role}'")
        has_ll = bool(self.columns.get("lat")) and bool(self.columns.get("lon"))
        has_xy = bool(self.columns.get("x")) and bool(self.columns.get("y"))
        if has_ll == has_xy:
            raise ValueError(f"{self.name}: [columns] needs exactly one of lat+lon or x+y")
        if has_xy and not self.crs:
            raise ValueError(f"{self.name}: x/y columns need [coordinates] crs = 'EPSG:N'")
        if self.ambiguous not in AMBIGUOUS:
            raise ValueError(f"{self.name}: [time] ambiguous must be one of {AMBIGUOUS}")
        if self.nonexistent not in NONEXISTENT:
            raise ValueError(f"{self.name}: [time] nonexistent must be one of {NONEXISTENT}")
        if self.epoch_unit not in (None, "s", "ms", "us", "ns"):
            raise ValueError(f"{self.name}: [time] epoch_unit must be s, ms, us or ns")
        if self.timezone is not None:
            check_timezone(self.timezone)
        if len(self.delimiter) != 1:
            raise ValueError(f"{self.name}: [csv] delimiter must be one character")

    @property
    def uses_xy(self) -> bool:
        return bool(self.columns.get("x"))

    def with_timezone(self, timezone: str | None) -> Mapping:
        return self if timezone is None else replace(self, timezone=timezone)


def check_timezone(name: str) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise ValueError(f"unknown time zone {name!r}") from e


TAG_EXPORT = Mapping(
    columns={
        "subject": "person_id", "time": "position_gps_date", "lat": "position_latitude",
        "lon": "position_longitude", "precision": "position_precision",
        "source": "position_lbs", "device": "device_id", "position_id": "position_id",
        "uploaded": "position_uploaded_date", "speed": "position_speed",
    },
    name="tag position export",
)
# The columns whose presence in a header says "this is a tag position export".
TAG_EXPORT_SIGNATURE = ("person_id", "position_gps_date", "position_latitude",
                        "position_longitude")


def load_mapping(path: str | os.PathLike) -> Mapping:
    """A ``Mapping`` from a TOML file (see the module docstring for the keys)."""
    path = Path(path)
    with open(path, "rb") as f:
        doc = tomllib.load(f)
    known = {"columns", "coordinates", "time", "csv"}
    unknown = set(doc) - known
    if unknown:
        raise ValueError(f"{path}: unknown table(s) {sorted(unknown)}; known: {sorted(known)}")
    cols = {str(k): str(v) for k, v in doc.get("columns", {}).items()}
    t = doc.get("time", {})
    return Mapping(
        columns=cols,
        crs=doc.get("coordinates", {}).get("crs"),
        timezone=t.get("timezone"),
        time_format=t.get("format"),
        epoch_unit=t.get("epoch_unit"),
        ambiguous=t.get("ambiguous", "reject"),
        nonexistent=t.get("nonexistent", "reject"),
        delimiter=doc.get("csv", {}).get("delimiter", ","),
        name=str(path),
    )


def localize(naive_ns: np.ndarray, timezone: str | None, *, ambiguous: str = "reject",
             nonexistent: str = "reject") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Wall-clock times (int64 ns, NaT as int64 min) in ``timezone`` -> UTC int64 ns.

    Returns ``(utc_ns, is_ambiguous, is_nonexistent)``; a rejected time is NaT in ``utc_ns``
    and True in its mask. In a clocks-back hour each wall time happens twice (``earliest``
    takes the first, i.e. summer time; ``latest`` the second); in a clocks-forward hour it
    never happens (``shift_forward`` moves it to the first valid instant after the gap,
    ``shift_backward`` to the last before).
    """
    naive_ns = np.asarray(naive_ns, dtype=np.int64)
    nat = np.iinfo(np.int64).min
    none = np.zeros(naive_ns.size, dtype=bool)
    if timezone is None or timezone.upper() == "UTC":
        return naive_ns.copy(), none, none.copy()
    idx = pd.DatetimeIndex(naive_ns.view("datetime64[ns]"))
    # Classify each time once with both problems marked NaT, then apply the policy.
    probe_amb = idx.tz_localize(timezone, ambiguous="NaT", nonexistent="shift_forward")
    probe_gap = idx.tz_localize(timezone, ambiguous=np.ones(idx.size, dtype=bool),
                                nonexistent="NaT")
    valid_in = naive_ns != nat
    is_amb = np.asarray(probe_amb.isna()) & valid_in
    is_gap = np.asarray(probe_gap.isna()) & valid_in
    amb_arg: object = "NaT"
    if ambiguous == "earliest":
        amb_arg = np.ones(idx.size, dtype=bool)  # True = DST (the first of the two)
    elif ambiguous == "latest":
        amb_arg = np.zeros(idx.size, dtype=bool)
    gap_arg = "NaT" if nonexistent == "reject" else nonexistent
    out = idx.tz_localize(timezone, ambiguous=amb_arg, nonexistent=gap_arg)
    utc = np.asarray(out.tz_convert("UTC").tz_localize(None).asi8, dtype=np.int64)
    utc = np.where(valid_in, utc, nat)
    rej_amb = is_amb if ambiguous == "reject" else np.zeros_like(is_amb)
    rej_gap = is_gap if nonexistent == "reject" else np.zeros_like(is_gap)
    return utc, rej_amb, rej_gap
