"""Coverage on the real-derived sample agrees exactly with ``expected_coverage.csv``
(precision off, radius 100 m, max gap 300 s, v_max 50 m/s)."""

from __future__ import annotations

import pandas as pd

from trailmatch.eliminate import eliminate
from trailmatch.ingest.crime_batch import read_crime_batch
from trailmatch.ingest.positions import read_positions
from trailmatch.rules import Rules


def test_sample_statuses_agree_exactly(sample_dir):
    trails = read_positions(sample_dir / "positions.csv").fixes
    crimes = read_crime_batch(sample_dir / "crimes.csv").crimes
    rules = Rules(radius_m=100, max_gap_s=300, count_precision=False, max_speed_mps=50)
    cov = eliminate(trails, crimes, rules).astype(
        {"crime_reference": str, "subject": str, "status": str})
    expected = pd.read_csv(sample_dir / "expected_coverage.csv", dtype=str)
    both = expected.merge(cov, on=["crime_reference", "subject"], how="outer", indicator=True,
                          suffixes=("_expected", ""))
    assert (both["_merge"] != "left_only").all()
    compared = both[both["_merge"] == "both"]
    assert len(compared) == len(expected) == 1592
    wrong = compared[compared["status_expected"] != compared["status"]]
    assert wrong.empty, wrong[["crime_reference", "subject", "status_expected", "status"]]
    # every status occurs, so agreement is not trivial
    assert set(compared["status"]) == {"hit", "excluded", "cannot_exclude"}
    # the pairs the sample leaves out are those whose window is not between first and last fix
    extra = both[both["_merge"] == "right_only"]
    assert set(extra["status"]) <= {"not_monitored", "hit"}
    assert (extra.loc[extra["status"] == "not_monitored", "covered_fraction"] < 1).all()
    # cannot_exclude rows carry their worst gap and a speed within v_max
    ce = cov[cov.status == "cannot_exclude"]
    assert ce["worst_gap_from"].notna().all() and ce["worst_gap_to"].notna().all()
    assert (ce["min_speed_needed_mps"] <= 50).all()
    assert (ce["gaps"] >= 1).all()
