"""Coverage in the nightly job: per batch ``coverage-summary.csv`` (per crime) and
``coverage-evidence.csv`` (cannot_exclude and partly monitored subjects), the report's coverage
section, and ``--no-coverage``."""

from __future__ import annotations

import pandas as pd
from naive import naive_crime_coverage

from trailmatch.cli import main
from trailmatch.coverage import EVIDENCE_COLUMNS, SUMMARY_COLUMNS
from trailmatch.hitstore import open_store
from trailmatch.ingest.positions import read_positions
from trailmatch.jobs.nightly import run_nightly
from trailmatch.jobs.sources import FrameTrails
from trailmatch.rules import Rules


def _read(path):
    return pd.read_csv(path, dtype={"crime_reference": str, "subject": str},
                       keep_default_na=False, na_values=[""])


def test_nightly_writes_coverage_and_reports_it(sample_dir, tmp_path):
    fixes = read_positions(sample_dir / "positions.csv").fixes
    engine = open_store(tmp_path / "store")
    try:
        run_nightly(engine, [sample_dir / "crimes.csv"], FrameTrails(fixes), tmp_path / "out",
                    Rules(count_precision=False))
    finally:
        engine.dispose()
    batch = tmp_path / "out" / "Hampshire" / "HAM20250127"
    assert not (batch / "coverage.csv").exists()  # the per-pair table is eliminate --all-pairs
    summary = _read(batch / "coverage-summary.csv")
    evidence = _read(batch / "coverage-evidence.csv")
    assert list(summary.columns) == SUMMARY_COLUMNS
    assert list(evidence.columns) == EVIDENCE_COLUMNS
    assert len(summary) == 400 and (summary["subjects"] == 5).all()
    expected = pd.read_csv(sample_dir / "expected_coverage.csv", dtype=str)
    assert set(expected["crime_reference"]) <= set(summary["crime_reference"])
    # per crime, the hits are the batch's hits; the expected pairs' exclusions (its other
    # pairs are hits or not monitored) bound them: the nightly reads only the fixes near the
    # windows (max gap around them), so a gap reaching further loses its outer fix, which can
    # only exclude fewer, never more
    hits = _read(batch / "hits.csv").groupby("crime_reference").size()
    assert (summary.set_index("crime_reference")["hit"]
            == hits.reindex(summary["crime_reference"], fill_value=0)).all()
    want, _ = naive_crime_coverage(expected.assign(police_force="Hampshire",
                                                   covered_fraction=1.0))
    both = want.merge(summary, on=["police_force", "crime_reference"],
                      suffixes=("_expected", ""))
    assert len(both) == len(want)
    assert (both["excluded"] <= both["excluded_expected"]).all()
    assert summary["excluded"].sum() > 0
    assert (summary[["hit", "excluded", "cannot_exclude", "not_monitored"]].sum(axis=1)
            == 5).all()
    ce = evidence[evidence["status"] == "cannot_exclude"]
    assert len(ce) == summary["cannot_exclude"].sum() > 0
    assert (ce["min_speed_needed_mps"] <= 50 + 1e-9).all()
    html = (batch / "report.html").read_text()
    assert "Coverage and elimination" in html
    some = ce.iloc[0]
    assert f"<td>{some.crime_reference}</td><td>{some.subject}</td>" in html
    assert "Cannot be excluded" in html and "m/s" in html
    assert "<thead>" in html  # headers repeat on every printed page


def test_no_coverage_turns_it_off(sample_dir, tmp_path):
    store = tmp_path / "store"
    assert main(["ingest", "positions", str(sample_dir / "positions.csv"), "--store",
                 str(store)]) == 0
    assert main(["nightly", "--store", str(store), "--crimes", str(sample_dir / "crimes.csv"),
                 "--no-precision", "--out", str(tmp_path / "off"), "--no-coverage"]) == 0
    batch = tmp_path / "off" / "Hampshire" / "HAM20250127"
    assert (batch / "report.html").exists() and (batch / "hits.csv").exists()
    assert not (batch / "coverage-summary.csv").exists()
    assert not (batch / "coverage-evidence.csv").exists()
    assert "Coverage and elimination" not in (batch / "report.html").read_text()


def test_rematch_refreshes_coverage(tmp_path):
    """A hit through a straight segment; a late fix 1 km north shows the subject went round:
    after the rematch, coverage.csv says excluded (the path is known all through the window)."""
    from trailmatch.jobs.rematch import run_rematch

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
        out = tmp_path / "out" / "Hampshire" / "HAM20250123"
        summary = pd.read_csv(out / "coverage-summary.csv")
        assert summary[["hit", "excluded", "cannot_exclude"]].values.tolist() == [[1, 0, 0]]
        run_rematch(engine, FrameTrails(pd.DataFrame(on_time + late)),
                    ingest_2 - pd.Timedelta(hours=1), rules, out_dir=tmp_path / "out")
    finally:
        engine.dispose()
    # the path is known all through the window [-300, 300] s: excluded, so counted, not listed
    summary = pd.read_csv(out / "coverage-summary.csv")
    assert summary[["hit", "excluded", "cannot_exclude"]].values.tolist() == [[0, 1, 0]]
    assert pd.read_csv(out / "coverage-evidence.csv").empty
