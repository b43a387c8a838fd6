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
