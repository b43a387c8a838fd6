"""Coverage in the nightly job: ``coverage.csv`` per batch and the report's coverage section."""

from __future__ import annotations

import pandas as pd

from trailmatch.eliminate import COVERAGE_COLUMNS
from trailmatch.hitstore import open_store
from trailmatch.ingest.positions import read_positions
from trailmatch.nightly import FrameTrails, run_nightly
from trailmatch.rules import Rules


def test_nightly_writes_coverage_and_reports_it(sample_dir, tmp_path):
    fixes = read_positions(sample_dir / "positions.csv").fixes
    engine = open_store(tmp_path / "store")
    try:
        run_nightly(engine, [sample_dir / "crimes.csv"], FrameTrails(fixes), tmp_path / "out",
                    Rules(count_precision=False))
    finally:
        engine.dispose()
    batch = tmp_path / "out" / "Hampshire" / "HAM20250127"
    cov = pd.read_csv(batch / "coverage.csv", dtype={"crime_reference": str, "subject": str})
    assert list(cov.columns) == COVERAGE_COLUMNS
    assert len(cov) == 400 * 5
    expected = pd.read_csv(sample_dir / "expected_coverage.csv", dtype=str)
    both = expected.merge(cov, on=["crime_reference", "subject"], suffixes=("_expected", ""))
    assert len(both) == len(expected)
    # hits are the same; the nightly reads only the fixes near the windows (max gap around
    # them), so a gap reaching further loses its outer fix: that can only exclude fewer
    assert ((both.status == "hit") == (both.status_expected == "hit")).all()
    assert (both.loc[both.status == "excluded", "status_expected"] == "excluded").all()
    assert (both.status == "excluded").sum() > 0
    html = (batch / "report.html").read_text()
    assert "Coverage and elimination" in html
    some = cov[cov.status == "cannot_exclude"].iloc[0]
    assert f"Crime {some.crime_reference}" in html
    assert "Cannot be excluded" in html and "m/s" in html


def test_rematch_refreshes_coverage(tmp_path):
    """A hit through a straight segment; a late fix 1 km north shows the subject went round:
    after the rematch, coverage.csv says excluded (the path is known all through the window)."""
    from trailmatch.rematch import run_rematch

    t0 = pd.Timestamp("2025-01-22 10:00", tz="UTC")
    ingest_1 = pd.Timestamp("2025-01-23 06:00", tz="UTC")
    ingest_2 = pd.Timestamp("2025-01-23 18:00", tz="UTC")

    def fix(seconds, x, y, ingested):
        return {"subject": "S9", "time": t0 + pd.Timedelta(seconds=seconds), "x": x, "y": y,
                "precision_m": 5.0, "source": 1, "ingested_at": ingested}

    on_time = [fix(-600, 441000.0, 112000.0, ingest_1), fix(-300, 441000.0, 112000.0, ingest_1),
               fix(0, 441000.0, 112000.0, ingest_1), fix(120, 443000.0, 112000.0, ingest_1),
               fix(400, 443000.0, 112000.0, ingest_1), fix(700, 443000.0, 112000.0, ingest_1)]
    late = [fix(60, 442000.0, 113000.0, ingest_2)]
    batch = tmp_path / "HAM20250123.csv"
    batch.write_text("Hampshire,RB,Robbery,HAM20250123,44/9/25,20250122095500,20250122100500,"
                     "442000.0,112000.0,,,OSGB36,\n")
    rules = Rules()
    engine = open_store(tmp_path / "store")
    try:
        run_nightly(engine, [batch], FrameTrails(pd.DataFrame(on_time)), tmp_path / "out", rules)
        out = tmp_path / "out" / "Hampshire" / "HAM20250123" / "coverage.csv"
        assert list(pd.read_csv(out)["status"]) == ["hit"]
        run_rematch(engine, FrameTrails(pd.DataFrame(on_time + late)),
                    ingest_2 - pd.Timedelta(hours=1), rules, out_dir=tmp_path / "out")
    finally:
        engine.dispose()
    row = pd.read_csv(out).iloc[0]
    # window [-300, 300] s: the fixes at -300, 0, 60 and 120 s
    assert (row["status"], row["fixes_in_window"], row["gaps"]) == ("excluded", 4, 0)
