"""Which crimes go to which partition, and which stretch of fixes each partition needs.

Why a crime needs exactly ``[w0 − max_gap, w1 + max_gap]`` of every subject's fixes (``W =
[w0, w1]`` its widened window): the kernels look at joined segments that meet ``W`` and at
isolated fixes inside ``W``. A segment that meets ``W`` has ``t_a <= w1`` and ``t_b >= w0`` and
``t_b − t_a <= max_gap``, so both its fixes lie in that stretch. Whether a fix inside ``W`` is
joined to a neighbour depends only on neighbours within ``max_gap`` of it, also in the stretch;
a neighbour outside it is more than ``max_gap`` away and would not be joined anyway. So any
contiguous time range of fixes that contains the stretch gives every subject the same path
through ``W`` as the whole trail does, and the kernels — which evaluate each (crime, subject)
relative to the crime's own window start — give bit-identical hits.

Each crime is assigned to exactly one partition: the UTC day of its widened window start, with
windows longer than a day (a burglary over a weekend) in a partition of their own per day so
they do not make the ordinary partition read several days. Crimes that share a force and a
reference all go to the partition of the first of them: ``match`` keeps such rows in input order
among equal sort keys, and keeping them together lets the final sort do the same.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from trailmatch.rules import Rules
from trailmatch.trails import Crimes
from trailmatch.units import DAY_NS


@dataclass(frozen=True)
class Partition:
    """One unit of work: some crimes and the stretch of fixes they need.

    day      UTC day of the crimes' widened window starts (days since 1970-01-01).
    long     the partition of that day's crimes whose window is longer than a day.
    rows     crime rows (positions in the crimes frame), ascending.
    lo_ns    first instant of fixes needed: min(w0) − max_gap (inclusive).
    hi_ns    last instant of fixes needed: max(w1) + max_gap (inclusive).
    """

    day: int
    long: bool
    rows: np.ndarray
    lo_ns: int
    hi_ns: int

    @property
    def label(self) -> str:
        date = pd.Timestamp(self.day * DAY_NS, unit="ns", tz="UTC").strftime("%Y-%m-%d")
        return f"{date}-long" if self.long else date

    @property
    def span_days(self) -> float:
        return (self.hi_ns - self.lo_ns) / DAY_NS


def plan_partitions(crimes: Crimes, rules: Rules, *, long_window_ns: int = DAY_NS
                    ) -> list[Partition]:
    """Partitions covering every crime row exactly once, in (day, long) order."""
    n = crimes.n
    if n == 0:
        return []
    gap = rules.max_gap_ns
    w0 = crimes.w0
    w1 = crimes.w1
    day = np.floor_divide(w0, DAY_NS)
    is_long = (w1 - w0) > long_window_ns
    key = day * 2 + is_long.astype(np.int64)
    frame = crimes.frame
    # Crimes sharing (force, reference) follow the first of them (see the module docstring).
    keys = [frame["police_force"].astype(str), frame["crime_reference"].astype(str)]
    groups = frame.groupby(keys, sort=False, dropna=False).ngroup().to_numpy()
    first = np.full(groups.max() + 1, -1, dtype=np.int64)
    order = np.arange(n)[::-1]  # last write wins: the first row of each group
    first[groups[order]] = order
    key = key[first[groups]]
    parts = []
    for k in np.unique(key):
        rows = np.flatnonzero(key == k)
        parts.append(Partition(day=int(k // 2), long=bool(k % 2), rows=rows,
                               lo_ns=int(w0[rows].min()) - gap, hi_ns=int(w1[rows].max()) + gap))
    return parts
