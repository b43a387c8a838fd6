"""Fixes outside OSTN15's cover (abroad, offshore): stored flagged ``outside_grid``, counted,
and still evidence in matching and elimination."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from trailmatch import Rules, match
from trailmatch.eliminate import eliminate
from trailmatch.ingest.crime_batch import parse_crime_batch
from trailmatch.ingest.positions import read_positions
from trailmatch.store import Store

HEAD = ("person_id,position_gps_date,position_latitude,position_longitude,position_precision,"
        "position_lbs\n")
SOUTHAMPTON = (50.9097, -1.4044)
COPENHAGEN = (55.6761, 12.5683)
# A burglary in Southampton 12:30-13:00 on 26 January 2025
CRIME = ("Hampshire,BIAD,Burglary in a dwelling,HAM20250127,44/1/25,20250126123000,"
         "20250126130000,,,50.9097,-1.4044,WGS84,\n")


def _export(path: Path) -> Path:
    """Subject T (travelling) is in Southampton until 10:00, then in Copenhagen from 12:00 to
    14:00, a fix a minute; subject H stays at home in Southampton all day, 200 m from the
    crime. One of T's Copenhagen fixes has precision 0 (flagged for that too)."""
    rows = []
    for m in range(0, 24 * 60):
        t = pd.Timestamp("2025-01-26") + pd.Timedelta(minutes=m)
        when = t.strftime("%Y-%m-%d %H:%M:%S")
        rows.append(f"H,{when},{SOUTHAMPTON[0] + 0.0018:.6f},{SOUTHAMPTON[1]:.6f},10,1")
        if m < 10 * 60:
            rows.append(f"T,{when},{SOUTHAMPTON[0] + 0.05:.6f},{SOUTHAMPTON[1]:.6f},10,1")
        elif 12 * 60 <= m <= 14 * 60:
            precision = 0 if m == 13 * 60 else 10
            rows.append(f"T,{when},{COPENHAGEN[0]:.6f},{COPENHAGEN[1] + m * 1e-5:.6f},"
                        f"{precision},1")
    path.write_text(HEAD + "\n".join(rows) + "\n")
    return path


def test_reader_reports_fixes_outside_the_cover(tmp_path):
    got = read_positions(_export(tmp_path / "export.csv"))
    fixes = got.fixes
    abroad = fixes["subject"].eq("T") & fixes["time"].dt.hour.between(12, 14)
    assert fixes.loc[abroad, "outside_grid"].all()
    assert not fixes.loc[~abroad, "outside_grid"].any()
    # placed, far from Southampton, by the fallback
    assert (fixes.loc[abroad, "x"] > 1_200_000).all()


def test_store_flags_counts_and_keeps_them(tmp_path):
    store = Store(tmp_path / "store")
    counts, _ = store.ingest_positions(_export(tmp_path / "export.csv"))
    n_abroad = 121
    assert counts.outside_grid == n_abroad
    # the precision-0 fix abroad is flagged (left out); the other 120 are accepted
    assert counts.flagged == 1 and counts.accepted == counts.read - 1
    assert counts.line().endswith(f"outside_grid {n_abroad}")
    stored = pq.read_table(store.day_path(pd.Timestamp("2025-01-26").date())).to_pandas()
    assert (stored["flagged"] == "outside_grid").sum() == n_abroad - 1
    assert (stored["flagged"] == "precision_zero;outside_grid").sum() == 1

    window = store.read_window("2025-01-26", "2025-01-26 23:59:59")
    t = window[window["subject"] == "T"]
    assert len(t) == 600 + n_abroad - 1  # abroad fixes count, the precision-0 one does not
    assert len(store.read_window("2025-01-26", "2025-01-27", include_flagged=True)) \
        == counts.read

    # another file for the same day: the stored flags are carried through the merge
    more = tmp_path / "more.csv"
    more.write_text(HEAD + "H,2025-01-26 23:59:30,50.9115,-1.4044,10,1\n")
    store.ingest_positions(more)
    again = pq.read_table(store.day_path(pd.Timestamp("2025-01-26").date())).to_pandas()
    assert (again["flagged"] == "outside_grid").sum() == n_abroad - 1
    # re-ingesting the first file changes nothing
    counts2, _ = store.ingest_positions(tmp_path / "export.csv")
    assert counts2.duplicate == counts2.read - counts2.rejected


def test_a_fix_abroad_is_evidence_the_subject_was_not_at_the_crime(tmp_path):
    store = Store(tmp_path / "store")
    store.ingest_positions(_export(tmp_path / "export.csv"))
    crimes = parse_crime_batch(CRIME, source_file="batch.csv").crimes
    trails = store.read_window("2025-01-26", "2025-01-26 23:59:59")
    rules = Rules(radius_m=100, max_gap_s=300, count_precision=False)
    assert match(trails, crimes, rules).empty
    cov = eliminate(trails, crimes, Rules(radius_m=100, max_gap_s=300, count_precision=False,
                                          max_speed_mps=50.0))
    status = dict(zip(cov["subject"].astype(str), cov["status"].astype(str), strict=True))
    # T is in Copenhagen during the window: excluded. Without its fixes abroad T's trail would
    # end at 10:00 and T could not be ruled out.
    assert status == {"H": "excluded", "T": "excluded"}
    home_only = trails[~((trails["subject"] == "T")
                         & (trails["time"] >= pd.Timestamp("2025-01-26 12:00", tz="UTC")))]
    cov2 = eliminate(home_only, crimes, Rules(radius_m=100, max_gap_s=300,
                                              count_precision=False, max_speed_mps=50.0))
    assert dict(zip(cov2["subject"].astype(str), cov2["status"].astype(str),
                    strict=True))["T"] != "excluded"
    assert np.isfinite(trails["x"]).all()
