"""Where everything lives in a store directory: the one module that spells the layout.

    DIR/store.json                      working CRS of x/y (fixed when the store is created)
    DIR/positions/YYYY-MM-DD.parquet    the fixes taken that UTC day, sorted by subject, time
    DIR/subjects.parquet                subjects and device activation periods
    DIR/index/YYYY-MM-DD/               that day's persisted segment indexes (``day_index``)
    DIR/.lock                           held by a writer (ingest, purge) for its whole run

Names are given relative to the store (``relative_*``) too, for a store behind fsspec, whose
files are fetched one by one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from trailmatch.units import DAY_NS

META = "store.json"
POSITIONS = "positions"
SUBJECTS = "subjects.parquet"
INDEX = "index"
LOCK = ".lock"
EPOCH = date(1970, 1, 1)


def day_name(day: date) -> str:
    """The name a day has in the store (``YYYY-MM-DD``)."""
    return day.isoformat()


def day_from_number(day_number: int) -> date:
    """The UTC day ``day_number`` days after 1970-01-01."""
    return EPOCH + timedelta(days=int(day_number))


def day_number(day: date) -> int:
    return (day - EPOCH).days


PARTITION_GLOB = f"{POSITIONS}/*.parquet"  # the day partitions, relative to the store


def relative_partition(day: date) -> str:
    """A day partition's path inside the store, with ``/`` separators."""
    return f"{POSITIONS}/{day_name(day)}.parquet"


def days_of_names(names) -> list[date]:
    """The days among file stems (``YYYY-MM-DD``), sorted; other names are not day files."""
    out = set()
    for name in names:
        try:
            out.add(date.fromisoformat(name))
        except ValueError:
            continue
    return sorted(out)


def days_between(lo_ns: int, hi_ns: int) -> list[date]:
    """Every UTC day that ``[lo_ns, hi_ns]`` meets."""
    return [day_from_number(d) for d in range(lo_ns // DAY_NS, hi_ns // DAY_NS + 1)]


# the store's own temporary names (a rejects file may live in the store directory too); a
# writer that holds the lock removes those a killed writer left
TEMPORARY_PATTERNS = (".store.*.tmp", f".{SUBJECTS}.*.tmp", f"{POSITIONS}/.????-??-??.*.tmp")


@dataclass(frozen=True)
class Layout:
    """The paths of one store directory."""

    root: Path

    def __init__(self, root: str | os.PathLike) -> None:
        object.__setattr__(self, "root", Path(root))

    @property
    def meta(self) -> Path:
        return self.root / META

    @property
    def positions(self) -> Path:
        return self.root / POSITIONS

    @property
    def subjects(self) -> Path:
        return self.root / SUBJECTS

    @property
    def lock(self) -> Path:
        return self.root / LOCK

    def partition(self, day: date) -> Path:
        return self.positions / f"{day_name(day)}.parquet"

    def index_dir(self, day: date | str) -> Path:
        return self.root / INDEX / (day if isinstance(day, str) else day_name(day))

    def days(self) -> list[date]:
        """The days that have a partition, in order."""
        if not self.positions.is_dir():
            return []
        return days_of_names(p.stem for p in self.positions.glob("*.parquet"))

    def partitions(self) -> dict[str, Path]:
        """Day name (``YYYY-MM-DD``) -> partition file, in day order."""
        return {day_name(d): self.partition(d) for d in self.days()}
