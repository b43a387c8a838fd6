"""Data sets for the partitioned / Dask tests, and checks that they hold the hard cases.

``sample``: the real-derived week in ``tests/data`` (7 UTC days). ``multi_day``: 3 synthetic
days of 1-fix-a-minute trails with gaps around midnight, and crimes built around the day edges:
windows that start just after midnight (their path begins on the day before), end just before
it, cross it, are a day and a half long, or share a reference with a crime on another day.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from trailmatch import synthetic
from trailmatch.rules import Rules
from trailmatch.trails import to_utc_ns
from trailmatch.units import DAY_NS

DATA = Path(__file__).parent / "data"
START = "2025-01-20"


def sample() -> tuple[pd.DataFrame, pd.DataFrame, Rules]:
    from trailmatch.ingest.crime_batch import read_crime_batch
    from trailmatch.ingest.positions import read_positions

    trails = read_positions(DATA / "positions.csv").fixes
    crimes = read_crime_batch(DATA / "crimes.csv").crimes
    return trails, crimes, Rules()


def multi_day(n_subjects: int = 50, n_crimes: int = 300, days: int = 3, seed: int = 7
              ) -> tuple[pd.DataFrame, pd.DataFrame, Rules]:
    rules = Rules(radius_m=100.0, max_gap_s=300.0, buffer_before_s=120.0, buffer_after_s=60.0)
    rng = np.random.default_rng(seed)
    trails = synthetic.trails(n_subjects=n_subjects, fixes_per_day=1440, days=days,
                              extent_m=3000.0, start=START, seed=seed)
    t = to_utc_ns(trails["time"], "t")
    t0 = pd.Timestamp(START, tz="UTC").value
    since_midnight = (t - t0) % DAY_NS
    near_midnight = np.minimum(since_midnight, DAY_NS - since_midnight) < 10 * 60 * 10**9
    # Gaps around midnight: some fixes near it dropped, so joins across it come and go.
    trails = trails[~(near_midnight & (rng.random(t.size) < 0.3))].reset_index(drop=True)
    t = to_utc_ns(trails["time"], "t")
    since_midnight = (t - t0) % DAY_NS
    edge = np.flatnonzero((np.minimum(since_midnight, DAY_NS - since_midnight) < 8 * 60 * 10**9)
                          & (t - t0 > DAY_NS // 2))
    pick = rng.choice(edge, size=n_crimes // 2, replace=False)
    shift = rng.integers(-400, 400, size=pick.size) * 10**9
    length = rng.choice(np.array([0, 30, 240, 600, 4 * 3600]), size=pick.size) * 10**9
    w0 = t[pick] + shift
    edge_crimes = pd.DataFrame({
        "crime_reference": [f"44/{i}/25" for i in range(pick.size)],
        "police_force": rng.choice(["Hampshire", "Thames Valley"], size=pick.size),
        "crime_type": "BIAD",
        "x": trails["x"].to_numpy()[pick] + rng.uniform(-150, 150, size=pick.size),
        "y": trails["y"].to_numpy()[pick] + rng.uniform(-150, 150, size=pick.size),
        "time_from": pd.to_datetime(w0, unit="ns", utc=True),
        "time_to": pd.to_datetime(w0 + length, unit="ns", utc=True),
    })
    spread = synthetic.crimes(n_crimes=n_crimes - pick.size, days=days, extent_m=3000.0,
                              start=START, forces=("Hampshire", "Thames Valley"), seed=seed + 1)
    midnight = pd.Timestamp(START, tz="UTC") + pd.Timedelta(days=1)
    just_before = midnight - pd.Timedelta(nanoseconds=1)
    special = pd.DataFrame({
        "crime_reference": ["44/900/25", "44/901/25", "44/902/25", "44/900/25", "44/903/25"],
        "police_force": ["Hampshire"] * 5, "crime_type": "RB",
        "x": [spread["x"].iloc[0]] * 5, "y": [spread["y"].iloc[0]] * 5,
        "time_from": [midnight, midnight - pd.Timedelta(hours=30), midnight,
                      midnight + pd.Timedelta(days=1, minutes=2), just_before],
        "time_to": [midnight, midnight + pd.Timedelta(hours=6), midnight + pd.Timedelta(hours=1),
                    midnight + pd.Timedelta(days=1, minutes=30), just_before],
    })
    crimes = pd.concat([edge_crimes, spread, special], ignore_index=True)
    # centre the special crimes on a subject so they hit: a subject's fix at midnight
    at_midnight = np.argmin(np.abs(t - midnight.value))
    crimes.loc[crimes.index[-5:], ["x", "y"]] = (trails["x"].iloc[at_midnight],
                                                 trails["y"].iloc[at_midnight])
    return trails, crimes, rules


def test_multi_day_holds_the_hard_cases():
    trails, crimes, rules = multi_day()
    w0 = to_utc_ns(crimes["time_from"], "t") - rules.buffer_before_ns
    w1 = to_utc_ns(crimes["time_to"], "t") + rules.buffer_after_ns
    day0, day1 = w0 // DAY_NS, w1 // DAY_NS
    assert (day0 != day1).sum() > 20  # windows crossing midnight
    needs_day_before = ((w0 - rules.max_gap_ns) // DAY_NS) != day0
    needs_day_after = ((w1 + rules.max_gap_ns) // DAY_NS) != day1
    assert needs_day_before.sum() > 10 and needs_day_after.sum() > 10
    assert ((w1 - w0) > DAY_NS).any()  # a window longer than a day
    assert crimes.duplicated(["police_force", "crime_reference"]).any()
    assert trails["time"].dt.normalize().nunique() == 3


def store_of(trails: pd.DataFrame, directory: Path) -> tuple[str, pd.DataFrame]:
    """A trail store holding ``trails``; returns its path and everything it gives to matching
    (flag and activation filters applied), the reference input for ``match``."""
    from trailmatch.store import Store

    store = Store(directory)
    store.ingest_fixes(trails)
    everything = store.read_window(0, np.iinfo(np.int64).max - 1)
    assert len(everything) > 0.9 * len(trails)
    return str(directory), everything
