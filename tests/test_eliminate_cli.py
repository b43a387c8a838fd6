"""``trailmatch eliminate`` end to end: positions files and a trail store; the per-crime summary
and evidence it writes by default, and the per-pair table of ``--all-pairs`` (CSV or Parquet,
written a block of crimes at a time)."""

from __future__ import annotations

import pandas as pd
import pytest

from trailmatch import Rules
from trailmatch.cli import main
from trailmatch.coverage import EVIDENCE_COLUMNS, SUMMARY_COLUMNS
from trailmatch.eliminate import (
    COVERAGE_COLUMNS,
    eliminate_prepared,
    write_all_pairs,
    write_coverage_csv,
)
from trailmatch.index.segments import trail_path
from trailmatch.ingest.crime_batch import read_crime_batch
from trailmatch.ingest.positions import read_positions
from trailmatch.trails import prepare_crimes, prepare_trail


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
                 "--no-precision", "--max-speed-kmh", "180", "--all-pairs"])
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
                 "--no-precision", "--max-speed-kmh", "7.2", "--all-pairs"]) == 0
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
                 "--no-precision", "--subjects", str(subjects), "--all-pairs"]) == 0
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
                 "--out", str(out), "--no-precision", "--lookback", "240", "--all-pairs"]) == 0
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


def test_default_answer_is_per_crime(sample_dir, tmp_path, capsys):
    """The default: a summary row per crime and evidence rows, whose counts are the per-pair
    table's; the evidence rows are that table's cannot_exclude rows (and partly monitored
    ones), with the distances of the fixes around the worst gap."""
    common = ["eliminate", "--positions", str(sample_dir / "positions.csv"), "--crimes",
              str(sample_dir / "crimes.csv"), "--no-precision"]
    out = tmp_path / "coverage.csv"
    assert main([*common, "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "89 hit" in err and "1413 cannot_exclude" in err and "evidence rows" in err
    summary = _read(out)
    evidence = _read(tmp_path / "coverage-evidence.csv")
    assert list(summary.columns) == SUMMARY_COLUMNS
    assert list(evidence.columns) == EVIDENCE_COLUMNS
    assert len(summary) == 400 and "excluded" not in set(evidence["status"])
    pairs_path = tmp_path / "pairs.csv"
    assert main([*common, "--out", str(pairs_path), "--all-pairs"]) == 0
    pairs = _read(pairs_path)
    for status in ("hit", "excluded", "cannot_exclude", "not_monitored"):
        per_crime = pairs[pairs.status == status].groupby("crime_reference").size()
        assert (summary.set_index("crime_reference")[status]
                == per_crime.reindex(summary["crime_reference"], fill_value=0)).all(), status
    ce = pairs[pairs.status == "cannot_exclude"]
    got = evidence[evidence.status == "cannot_exclude"]
    cols = ["crime_reference", "subject", "fixes_in_window", "gaps", "worst_gap_from",
            "worst_gap_to", "min_speed_needed_mps"]
    pd.testing.assert_frame_equal(got[cols].reset_index(drop=True),
                                  ce[cols].reset_index(drop=True))
    assert (got.distance_before_m.notna() | got.distance_after_m.notna()).all()
    # --evidence puts the evidence elsewhere; Parquet by the name
    other = tmp_path / "elsewhere.parquet"
    assert main([*common, "--out", str(tmp_path / "s.parquet"), "--evidence", str(other)]) == 0
    back = pd.read_parquet(other)
    assert list(back.columns) == EVIDENCE_COLUMNS and len(back) == len(evidence)
    assert pd.read_parquet(tmp_path / "s.parquet")["hit"].sum() == 89


def test_all_pairs_in_blocks_is_the_whole_table(sample_dir, tmp_path):
    """Written a few crimes at a time (one crime a block, 60 crimes of 5 subjects, all at once),
    the per-pair table is byte for byte the one written from the whole frame; Parquet holds the
    same rows."""
    fixes = read_positions(sample_dir / "positions.csv").fixes
    crimes = read_crime_batch(sample_dir / "crimes.csv").crimes
    rules = Rules(count_precision=False)
    trail = prepare_trail(fixes)
    path = trail_path(trail, rules.max_gap_s, rules.count_precision)
    prepared = prepare_crimes(crimes)
    whole = eliminate_prepared(trail, path, prepared, rules)
    write_coverage_csv(whole, tmp_path / "whole.csv")
    for rows in (1, 300, 10**9):
        got = write_all_pairs(trail, path, prepared, rules, tmp_path / f"b{rows}.csv",
                              chunk_rows=rows)
        assert (tmp_path / f"b{rows}.csv").read_bytes() == (tmp_path / "whole.csv").read_bytes()
        assert got["subjects"] == 5 and sum(got[s] for s in ("hit", "excluded",
                                                                "cannot_exclude",
                                                                "not_monitored")) == 2000
    write_all_pairs(trail, path, prepared, rules, tmp_path / "p.parquet", chunk_rows=300)
    back = pd.read_parquet(tmp_path / "p.parquet")
    assert list(back.columns) == COVERAGE_COLUMNS and len(back) == 2000
    assert (back["status"].to_numpy() == whole["status"].astype(str).to_numpy()).all()
    assert back["worst_gap_from"].equals(whole["worst_gap_from"])


@pytest.mark.parametrize("extra", [["--scheduler", "local:2"],
                                   ["--all-pairs", "--evidence", "e.csv"],
                                   ["--evidence", "SAME"]])
def test_option_mixes_refused(sample_dir, tmp_path, extra, capsys):
    out = tmp_path / "c.csv"
    extra = [str(out) if x == "SAME" else x for x in extra]
    assert main(["eliminate", "--positions", str(sample_dir / "positions.csv"),
                 "--crimes", str(sample_dir / "crimes.csv"), "--out", str(out), *extra]) == 2
    assert not out.exists()
    assert "trailmatch eliminate: " in capsys.readouterr().err
