"""``trailmatch eliminate`` end to end: positions files and a trail store, the CSV it writes."""

from __future__ import annotations

import pandas as pd
import pytest

from trailmatch.cli import main
from trailmatch.eliminate import COVERAGE_COLUMNS


def _read(path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"crime_reference": str, "subject": str})


def _agrees_with_expected(cov: pd.DataFrame, sample_dir) -> None:
    expected = pd.read_csv(sample_dir / "expected_coverage.csv", dtype=str)
    both = expected.merge(cov, on=["crime_reference", "subject"], suffixes=("_expected", ""))
    assert len(both) == len(expected)
    assert (both["status_expected"] == both["status"]).all()


def test_eliminate_positions_files(sample_dir, tmp_path, capsys):
    out = tmp_path / "coverage.csv"
    code = main(["eliminate", "--positions", str(sample_dir / "positions.csv"),
                 "--crimes", str(sample_dir / "crimes.csv"), "--out", str(out),
                 "--no-precision", "--max-speed-kmh", "180"])
    assert code == 0
    cov = _read(out)
    assert list(cov.columns) == COVERAGE_COLUMNS
    assert len(cov) == 400 * 5
    _agrees_with_expected(cov, sample_dir)
    ce = cov[cov.status == "cannot_exclude"]
    assert ce.worst_gap_from.str.endswith("+00:00").all() and ce.worst_gap_to.notna().all()
    assert cov.loc[cov.status != "cannot_exclude", "worst_gap_from"].isna().all()
    err = capsys.readouterr().err
    assert "89 hit" in err and "1413 cannot_exclude" in err
    # a slower v_max only excludes more, never fewer
    slow = tmp_path / "slow.csv"
    assert main(["eliminate", "--positions", str(sample_dir / "positions.csv"),
                 "--crimes", str(sample_dir / "crimes.csv"), "--out", str(slow),
                 "--no-precision", "--max-speed-kmh", "7.2"]) == 0
    slow_cov = _read(slow)
    assert (slow_cov.status == "excluded").sum() > (cov.status == "excluded").sum()
    assert not ((cov.status == "excluded") & (slow_cov.status != "excluded")).any()


def test_eliminate_with_subjects_file(sample_dir, tmp_path):
    # 07013 activated for the whole week: its windows before its first fix become monitored
    subjects = tmp_path / "subjects.csv"
    subjects.write_text("subject,device,activation_start,activation_end\n"
                        "07013,D07013,2025-01-19T00:00:00Z,\n")
    out = tmp_path / "coverage.csv"
    assert main(["eliminate", "--positions", str(sample_dir / "positions.csv"),
                 "--crimes", str(sample_dir / "crimes.csv"), "--out", str(out),
                 "--no-precision", "--subjects", str(subjects)]) == 0
    cov = _read(out)
    mine = cov[cov.subject == "07013"]
    assert (mine.status != "not_monitored").all()
    assert (mine.covered_fraction == 1.0).all()
    others = cov[cov.subject != "07013"]
    assert (others.status == "not_monitored").any()


def test_eliminate_from_store(sample_dir, tmp_path):
    store = tmp_path / "store"
    assert main(["ingest", "positions", str(sample_dir / "positions.csv"),
                 "--store", str(store)]) == 0
    out = tmp_path / "coverage.csv"
    assert main(["eliminate", "--store", str(store), "--crimes", str(sample_dir / "crimes.csv"),
                 "--out", str(out), "--no-precision", "--lookback", "240"]) == 0
    _agrees_with_expected(_read(out), sample_dir)


@pytest.mark.parametrize("extra", [["--max-speed-kmh", "0"], ["--lookback", "-1"],
                                   ["--max-speed", "50"]])
def test_bad_settings_exit_2(sample_dir, tmp_path, extra):
    assert main(["eliminate", "--positions", str(sample_dir / "positions.csv"),
                 "--crimes", str(sample_dir / "crimes.csv"),
                 "--out", str(tmp_path / "c.csv"), *extra]) == 2
    assert not (tmp_path / "c.csv").exists()


def test_unreadable_crimes_exit_1(sample_dir, tmp_path):
    assert main(["eliminate", "--positions", str(sample_dir / "positions.csv"),
                 "--crimes", str(tmp_path / "missing.csv"),
                 "--out", str(tmp_path / "c.csv")]) == 1
