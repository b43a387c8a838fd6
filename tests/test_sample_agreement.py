"""Agreement with an independent implementation (MobilityDB's MEOS) on the real-derived sample.

tests/data/README.md: same (crime, subject) pairs except pairs whose closest approach is within
0.5 m of the radius; min distance within 0.05 m; first_in, last_in and duration within 0.5 s;
fixes_in equal. Radius 100 m, max gap 300 s, precision not counted, no buffers.
"""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from trailmatch import Rules, match
from trailmatch.ingest.crime_batch import read_crime_batch
from trailmatch.ingest.positions import read_positions

RULES = Rules(radius_m=100, max_gap_s=300, count_precision=False)


def check_agreement(hits: pd.DataFrame, expected: pd.DataFrame) -> None:
    hits = hits.copy()
    hits["subject"] = hits["subject"].astype(str)
    both = expected.merge(hits, on=["crime_reference", "subject"], how="outer",
                          suffixes=("_e", ""), indicator=True)
    lonely = both[both["_merge"] != "both"]
    for _, row in lonely.iterrows():
        d = row["min_distance_m_e"] if row["_merge"] == "left_only" else row["min_distance_m"]
        assert abs(d - RULES.radius_m) <= 0.5, f"pair only on one side: {row.to_dict()}"
    b = both[both["_merge"] == "both"]
    assert len(b) >= 80
    assert (b["min_distance_m_e"] - b["min_distance_m"]).abs().max() <= 0.05
    for col in ("first_in", "last_in"):
        got = pd.to_datetime(b[col], utc=True, format="ISO8601")
        exp = pd.to_datetime(b[f"{col}_e"], utc=True, format="ISO8601")
        assert (got - exp).dt.total_seconds().abs().max() <= 0.5, col
    assert (b["duration_s_e"] - b["duration_s"]).abs().max() <= 0.5
    assert (b["fixes_in_e"] == b["fixes_in"]).all()


@pytest.fixture(scope="module")
def expected(sample_dir):
    return pd.read_csv(sample_dir / "expected_hits.csv", dtype={"subject": str})


def test_library_agrees_with_meos(sample_dir, expected):
    fixes = read_positions(sample_dir / "positions.csv")
    crimes = read_crime_batch(sample_dir / "crimes.csv")
    assert fixes.rejects.empty and crimes.rejects.empty
    check_agreement(match(fixes.fixes, crimes.crimes, RULES), expected)


def test_cli_agrees_with_meos(sample_dir, expected, tmp_path):
    out = tmp_path / "hits.csv"
    done = subprocess.run(
        [sys.executable, "-m", "trailmatch.cli", "match", "--positions",
         str(sample_dir / "positions.csv"), "--crimes", str(sample_dir / "crimes.csv"),
         "--out", str(out), "--no-precision"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "400 crimes, 5 subjects, 7441 fixes, 89 hits" in done.stderr
    hits = pd.read_csv(out, dtype={"subject": str, "crime_reference": str})
    assert list(hits.columns)[:4] == ["crime_reference", "police_force", "crime_type", "subject"]
    assert hits["first_in"].str.endswith("+00:00").all()
    check_agreement(hits, expected)


def test_cli_reports_an_unusable_file(tmp_path, sample_dir):
    bad = tmp_path / "positions.csv"
    bad.write_text("this,is,not\na,positions,export\n")
    done = subprocess.run(
        [sys.executable, "-m", "trailmatch.cli", "match", "--positions", str(bad), "--crimes",
         str(sample_dir / "crimes.csv"), "--out", str(tmp_path / "h.csv")],
        capture_output=True, text=True, check=False)
    assert done.returncode == 1
    assert str(bad) in done.stderr and "unusable" in done.stderr
    assert not (tmp_path / "h.csv").exists()


def test_cli_keeps_good_crime_rows_and_writes_rejects(tmp_path, sample_dir):
    lines = (sample_dir / "crimes.csv").read_text().splitlines()
    broken = lines[0].split(",")
    broken[5] = "20250199999999"  # not a date-time
    (tmp_path / "crimes.csv").write_text("\n".join([",".join(broken)] + lines[1:]) + "\n")
    out = tmp_path / "hits.csv"
    done = subprocess.run(
        [sys.executable, "-m", "trailmatch.cli", "match", "--positions",
         str(sample_dir / "positions.csv"), "--crimes", str(tmp_path / "crimes.csv"),
         "--out", str(out), "--no-precision", "--rejects", str(tmp_path / "rejects.csv")],
        capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "399 crimes" in done.stderr
    # --rejects FILE is the one rejects file of the run (crime and position rows together)
    rejects = pd.read_csv(tmp_path / "rejects.csv", dtype=str)
    assert rejects.loc[0, "row"] == "1" and rejects.loc[0, "field"] == "date_from"
    assert rejects.loc[0, "value"] == "20250199999999"
