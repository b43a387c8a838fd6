"""Multi-day synthetic trail stores for the benchmarks, built once and reused.

``continuous_days`` yields a day's synthetic fixes at a time (bounded memory) with each
subject's walk continuing across midnight; ``cached_store`` builds a store into
``TRAILMATCH_BENCH_DIR`` (default: a directory under the system temp dir) once and returns its
path on later runs.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from trailmatch import synthetic
from trailmatch.store import Store


def continuous_days(n_subjects: int, days: int, start: pd.Timestamp,
                    seed: int) -> Iterator[tuple[int, pd.DataFrame]]:
    """(day number, that day's fixes), 1,440 a subject a day; day d uses seed ``seed + d`` and
    is shifted so each subject starts where it ended the day before."""
    last_xy = None
    for d in range(days):
        day = synthetic.trails(n_subjects=n_subjects, fixes_per_day=1440, days=1,
                               start=str((start + pd.Timedelta(days=d)).date()), seed=seed + d)
        code = day["subject"].cat.codes.to_numpy()
        first = np.searchsorted(code, np.arange(n_subjects))
        ends = np.r_[first[1:], code.size] - 1
        xy = day[["x", "y"]].to_numpy(copy=True)
        if last_xy is not None:
            xy += np.repeat(last_xy - xy[first], np.diff(np.r_[first, code.size]), axis=0)
            day["x"], day["y"] = xy[:, 0], xy[:, 1]
        last_xy = xy[ends]
        yield d, day


def cached_store(name: str, build: Callable[[Store], None]) -> str:
    """The path of store ``name``, built by ``build`` unless a complete one is there."""
    base = Path(os.environ.get("TRAILMATCH_BENCH_DIR",
                               Path(tempfile.gettempdir()) / "trailmatch-bench"))
    path = base / name
    if not (path / ".bench-complete").exists():
        if path.exists():
            shutil.rmtree(path)
        build(Store(path))
        (path / ".bench-complete").write_text(name + "\n")
    return str(path)
