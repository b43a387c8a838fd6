"""Where the jobs' fixes come from, and which stretches of time a set of crimes needs.

A trail source answers two questions: the fixes of a time window (``read``) and what arrived
since an instant (``ingested_since``, the late uploads ``rematch`` looks for). ``StoreTrails``
is the trail store (``trailmatch.store.Store``, the one owner of the folder); ``FrameTrails``
is a DataFrame (tests, the demo); ``SubjectTrails`` narrows a source to some subjects.
``trail_spans`` gives the stretches of time whose fixes can bear on some crimes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from trailmatch.rules import Rules


class TrailSource(Protocol):
    """Where fixes come from: the trail store, or a DataFrame in tests."""

    def read(self, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        """Fixes with ``start <= time <= end``: subject, time (UTC), x, y (metres in the working
        CRS), precision_m, source."""

    def ingested_since(self, since: pd.Timestamp) -> pd.DataFrame:
        """What arrived at or after ``since`` (late uploads): one row per stretch of one
        subject's new fixes, ``subject``, ``first_time``, ``last_time`` (the trail store gives
        one per UTC day and subject)."""


@dataclass
class FrameTrails:
    """A TrailSource over an in-memory DataFrame (``ingested_at`` column optional)."""

    frame: pd.DataFrame

    def read(self, start, end) -> pd.DataFrame:
        t = self.frame["time"]
        return self.frame[(t >= start) & (t <= end)].reset_index(drop=True)

    def ingested_since(self, since) -> pd.DataFrame:
        late = (self.frame[self.frame["ingested_at"] >= since]
                if "ingested_at" in self.frame.columns else self.frame.iloc[:0])
        late = late.assign(subject=late["subject"].astype(str),
                           day=late["time"].dt.floor("D"))
        g = late.groupby(["day", "subject"], sort=True)["time"].agg(["size", "min", "max"])
        return g.reset_index().rename(columns={"size": "fixes", "min": "first_time",
                                               "max": "last_time"})


@dataclass
class StoreTrails:
    """A TrailSource over the trail store directory (``trailmatch ingest positions``)."""

    store_dir: Path
    include_flagged: bool = False

    def _store(self):
        from trailmatch.store import Store

        return Store(self.store_dir)

    def read(self, start, end) -> pd.DataFrame:
        return self._store().read_window(pd.Timestamp(start).value, pd.Timestamp(end).value,
                                         include_flagged=self.include_flagged)

    def ingested_since(self, since) -> pd.DataFrame:
        return self._store().ingested_since(pd.Timestamp(since).value)

    def activations(self, start=None, end=None) -> pd.DataFrame | None:
        """Device activation periods (subjects file) meeting ``[start, end]``, for coverage;
        None when there are none."""
        return self._store().activations(start, end)

    def partition_files(self, spans: Sequence[tuple[int, int]]) -> dict[str, Path]:
        """The day partitions a read of these ``[start, end]`` ns spans opens, in day order:
        the name the report records (relative to the store) -> file."""
        from trailmatch.store.layout import Layout, days_between, relative_partition

        layout = Layout(self.store_dir)
        days = sorted({d for a, b in spans for d in days_between(a, b)})
        return {relative_partition(d): layout.partition(d) for d in days
                if layout.partition(d).exists()}


class SubjectTrails:
    """A trail source restricted to some subjects (``rematch``: the ones with late fixes)."""

    def __init__(self, source: TrailSource, subjects: set[str]):
        self.source, self.subjects = source, subjects

    def read(self, start, end) -> pd.DataFrame:
        frame = self.source.read(start, end)
        return frame[frame["subject"].astype(str).isin(self.subjects)].reset_index(drop=True)


def trail_spans(crimes: pd.DataFrame, rules: Rules) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """The stretches of time whose fixes can bear on these crimes: their widened windows plus
    one max gap each side (the fixes joined to the path at the window's edges), overlapping
    ones merged - so a resent crime from last month does not pull in the month between.

    Reading only these is exact: a fix inside some window W is more than max gap away from
    any fix outside every stretch, so no segment that touches a window is lost or invented.
    """
    if crimes.empty:
        return []
    margin_before = pd.Timedelta(seconds=rules.buffer_before_s + rules.max_gap_s)
    margin_after = pd.Timedelta(seconds=rules.buffer_after_s + rules.max_gap_s)
    starts = (crimes["time_from"] - margin_before).to_numpy(dtype="datetime64[ns]")
    ends = (crimes["time_to"] + margin_after).to_numpy(dtype="datetime64[ns]")
    order = np.argsort(starts, kind="stable")
    spans: list[list] = []
    for a, b in zip(starts[order], ends[order], strict=True):
        if spans and a <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], b)
        else:
            spans.append([a, b])
    return [(pd.Timestamp(a, tz="UTC"), pd.Timestamp(b, tz="UTC")) for a, b in spans]
