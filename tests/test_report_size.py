"""Outputs grow with what was found: subjects with no hit add nothing to a report but their
counts (the per-crime coverage), however many there are."""

from __future__ import annotations

import numpy as np
import pandas as pd

from trailmatch.hitstore import open_store
from trailmatch.ingest.positions import read_positions
from trailmatch.jobs.nightly import run_nightly
from trailmatch.jobs.sources import FrameTrails
from trailmatch.rules import Rules

RULES = Rules(count_precision=False)
BATCH_DIR = ("Hampshire", "HAM20250127")


def outputs(tmp_path, name: str, crimes, fixes: pd.DataFrame) -> dict[str, int]:
    engine = open_store(tmp_path / name / "store")
    try:
        run_nightly(engine, [crimes], FrameTrails(fixes), tmp_path / name / "out", RULES,
                    operator="test")
    finally:
        engine.dispose()
    d = tmp_path / name / "out" / BATCH_DIR[0] / BATCH_DIR[1]
    return {str(p.relative_to(d)): p.stat().st_size for p in d.rglob("*") if p.is_file()}


def far_subjects(fixes: pd.DataFrame, n: int) -> pd.DataFrame:
    """``n`` more subjects, tagged with a fix a minute through the whole sample, walking 40 km
    east of every crime: monitored throughout, nowhere near, so excluded from every crime."""
    t = pd.date_range(fixes["time"].min(), fixes["time"].max(), freq="60s")
    rng = np.random.default_rng(5)
    parts = []
    for k in range(n):
        step = rng.normal(0.0, 30.0, size=(t.size, 2)).cumsum(axis=0)
        parts.append(pd.DataFrame({
            "subject": f"far-{k}", "time": t,
            "x": float(fixes["x"].mean()) + 40_000.0 + step[:, 0],
            "y": float(fixes["y"].mean()) + step[:, 1], "precision_m": 10.0, "source": 1}))
    return pd.concat(parts, ignore_index=True).astype({"source": fixes["source"].dtype})


def test_doubling_the_subjects_without_hits_leaves_the_report_within_5_percent(
        tmp_path, sample_dir):
    fixes = read_positions(sample_dir / "positions.csv").fixes[
        ["subject", "time", "x", "y", "precision_m", "source"]]
    far = far_subjects(fixes, fixes["subject"].nunique())
    crimes = sample_dir / "crimes.csv"
    one = outputs(tmp_path, "one", crimes, fixes)
    two = outputs(tmp_path, "two", crimes, pd.concat([fixes, far], ignore_index=True))
    assert two["report.html"] <= 1.05 * one["report.html"], (one, two)
    for name in ("hits.csv", "map/paths.geojson", "map/fixes.geojson"):
        assert two[name] == one[name], name  # the same hits, byte for byte in size
    assert two["coverage-summary.csv"] <= 1.05 * one["coverage-summary.csv"]
    assert sum(two.values()) <= 1.05 * sum(one.values()), (one, two)
