"""``explain``: why one subject is or is not excluded from one crime; agrees with the per-pair
table (``eliminate``) on every pair of the sample, and from the stores on the command line."""

from __future__ import annotations

import io
import json
import math
from contextlib import redirect_stderr, redirect_stdout

import pandas as pd
import pytest

from trailmatch import Rules
from trailmatch.cli import main
from trailmatch.eliminate import eliminate
from trailmatch.explain import explain_pair
from trailmatch.ingest.crime_batch import read_crime_batch
from trailmatch.ingest.positions import read_positions


def cli(*argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def _ns(v) -> int | None:
    return None if v is None or pd.isna(v) else int(pd.Timestamp(v).value)


def _agrees(e, row) -> None:
    assert e.row["status"] == row.status
    assert e.row["fixes_in_window"] == row.fixes_in_window
    assert e.row["gaps"] == row.gaps == len(e.gaps)
    assert math.isclose(e.row["covered_fraction"], row.covered_fraction)
    assert _ns(e.row["worst_gap_from"]) == _ns(row.worst_gap_from)
    assert _ns(e.row["worst_gap_to"]) == _ns(row.worst_gap_to)
    possible = [g for g in e.gaps if g["possible"]]
    if row.status == "cannot_exclude":
        assert e.row["min_speed_needed_mps"] == row.min_speed_needed_mps
        best = min(possible, key=lambda g: (g["speed_needed_mps"], g["gap_from"]))
        assert best["speed_needed_mps"] == row.min_speed_needed_mps
        assert "cannot be excluded" in e.sentence
    if row.status == "excluded":
        assert not possible and "is excluded" in e.sentence


@pytest.mark.parametrize("with_activation", [False, True])
def test_every_pair_of_the_sample_agrees_with_the_per_pair_table(sample_dir, with_activation):
    fixes = read_positions(sample_dir / "positions.csv").fixes
    crimes = read_crime_batch(sample_dir / "crimes.csv").crimes.iloc[::4]
    rules = Rules(count_precision=False, max_speed_mps=3.0)
    act = None
    if with_activation:  # edges: before the first fix, after the last; a subject never seen
        act = pd.DataFrame({"subject": ["07013", "07011", "ghost"],
                            "start": pd.to_datetime(["2025-01-19", "2025-01-21", "2025-01-19"],
                                                    utc=True),
                            "end": pd.to_datetime([None, "2025-01-26", None], utc=True)})
    table = eliminate(fixes, crimes, rules, activations=act).astype(
        {"crime_reference": str, "subject": str, "status": str})
    by_ref = crimes.set_index("crime_reference")
    seen = set()
    for row in table.itertuples():
        mine = fixes[fixes["subject"].astype(str) == row.subject]
        crime = {**by_ref.loc[row.crime_reference].to_dict(),
                 "crime_reference": row.crime_reference}
        e = explain_pair(mine[["time", "x", "y"]], crime, rules, subject=row.subject,
                         activations=act)
        _agrees(e, row)
        seen.add(row.status)
        for g in e.gaps:
            assert ("possible at" in g["sentence"]) and (
                ("not possible" in g["sentence"]) != g["possible"])
    assert seen == {"hit", "excluded", "cannot_exclude", "not_monitored"}


def test_from_the_stores_on_the_command_line(sample_dir, tmp_path):
    """After the nightly job: ``trailmatch explain`` for a crime and subject says what
    ``eliminate --store --all-pairs`` says for that crime alone, in numbers and a sentence."""
    store = tmp_path / "store"
    assert cli("ingest", "positions", sample_dir / "positions.csv", "--store", store)[0] == 0
    assert cli("nightly", "--store", store, "--crimes", sample_dir / "crimes.csv", "--out",
               tmp_path / "out", "--no-precision", "--no-coverage")[0] == 0
    crimes = read_crime_batch(sample_dir / "crimes.csv").crimes
    checked = set()
    for ref in crimes["crime_reference"].iloc[:40]:
        one = tmp_path / "one.csv"
        lines = [line for line in (sample_dir / "crimes.csv").read_text().splitlines()
                 if f",{ref}," in line]
        one.write_text("\n".join(lines) + "\n")
        pairs = tmp_path / "pairs.csv"
        assert cli("eliminate", "--store", store, "--crimes", one, "--out", pairs,
                   "--no-precision", "--all-pairs")[0] == 0
        table = pd.read_csv(pairs, dtype={"crime_reference": str, "subject": str})
        for row in table.itertuples():
            if row.status in checked and len(checked) < 4:
                continue
            code, out, err = cli("explain", "--store", store, "--crime", ref, "--subject",
                                 row.subject, "--no-precision", "--json")
            assert code == 0, err
            got = json.loads(out)
            assert got["status"] == row.status and got["gaps"] == row.gaps
            assert got["fixes_in_window"] == row.fixes_in_window
            assert len(got["gaps_meeting_window"]) == row.gaps
            if row.status == "cannot_exclude":
                assert math.isclose(got["min_speed_needed_mps"], row.min_speed_needed_mps,
                                    abs_tol=5e-4)
            assert got["sentence"].startswith(f"Subject {row.subject}")
            checked.add(row.status)
        if len(checked) == 4:
            break
    assert len(checked) == 4
    code, out, _ = cli("explain", "--store", store, "--crime", ref, "--subject", "07010",
                       "--no-precision")
    assert code == 0 and out.startswith("Subject 07010") and "status " in out


def test_unknown_crime_and_force(sample_dir, tmp_path):
    store = tmp_path / "store"
    assert cli("ingest", "positions", sample_dir / "positions.csv", "--store", store)[0] == 0
    code, _, err = cli("explain", "--store", store, "--crime", "99/1/25", "--subject", "07010")
    assert code == 1 and err.strip() == "trailmatch explain: no crime 99/1/25 in the hit store"
    code, _, err = cli("explain", "--store", tmp_path / "nowhere", "--crime", "1",
                       "--subject", "2")
    assert code == 1 and "nowhere: no such store directory" in err and "Traceback" not in err
