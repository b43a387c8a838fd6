"""A crime sent as eastings/northings and a fix sent in WGS84 at the same place are found at
the same place, across England and Wales.

The places are Ordnance Survey's OSTN15 test points in England and Wales (tests/data/ostn15):
each has an ETRS89 latitude/longitude and the OSGB36 easting/northing OS gives for it — what a
force's system sends for a crime there, and what a tag reports for a fix there. Through the
real readers (crime batch, tag export) and the real match, every pair must be found within
0.1 m (with pyproj's Helmert, as before OSTN15: 0.2 to 4.7 m).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from trailmatch import Rules, match
from trailmatch.ingest.crime_batch import read_crime_batch
from trailmatch.ingest.positions import read_positions

POINTS = Path(__file__).parent / "data" / "ostn15" / "test_points.csv"
# TP21 and TP23 are on the Isle of Man, TP26-TP40 in Scotland. TP07 (Margate, easting 639,822)
# is east of the 600 km the batch format once allowed (now the grid's 700 km, plausible.py).
ENGLAND_AND_WALES = [f"TP{i:02d}" for i in range(1, 26) if i not in (21, 23)]


def _places() -> pd.DataFrame:
    p = pd.read_csv(POINTS)
    return p[p["point"].isin(ENGLAND_AND_WALES)].reset_index(drop=True)


def _write_inputs(tmp_path: Path, places: pd.DataFrame) -> tuple[Path, Path]:
    crimes = tmp_path / "batch.csv"
    lines = []
    for _, p in places.iterrows():
        common = (f"Hampshire,BIAD,Burglary in a dwelling,HAM20250127,{p['point']}"
                  f"/{{how}},20250126120000,20250126120000")
        lines.append(common.format(how="en") + f",{p['osgb36_east']:.3f},"
                     f"{p['osgb36_north']:.3f},,,OSGB36,")
        lines.append(common.format(how="ll") + f",,,{p['etrs89_lat']:.11f},"
                     f"{p['etrs89_lon']:.11f},WGS84,")
    crimes.write_text("\n".join(lines) + "\n")
    positions = tmp_path / "positions.csv"
    rows = ["person_id,position_gps_date,position_latitude,position_longitude,"
            "position_precision,position_lbs"]
    for i, p in places.iterrows():
        # one subject per place, standing there for two minutes around the crime
        for t in ("11:59:00", "12:00:00", "12:01:00"):
            rows.append(f"S{i:02d},2025-01-26 {t},{p['etrs89_lat']:.11f},"
                        f"{p['etrs89_lon']:.11f},5,1")
    positions.write_text("\n".join(rows) + "\n")
    return crimes, positions


def test_crime_grid_reference_and_fix_in_wgs84_agree_across_england_and_wales(tmp_path):
    places = _places()
    assert len(places) == 23
    crimes_csv, positions_csv = _write_inputs(tmp_path, places)
    batch = read_crime_batch(crimes_csv)
    fixes = read_positions(positions_csv)
    assert batch.rejects.empty and fixes.rejects.empty

    crimes = batch.crimes
    by_ref = crimes.set_index("crime_reference")
    fix_xy = fixes.fixes.groupby("subject", observed=True)[["x", "y"]].first()
    for i, p in places.iterrows():
        fx, fy = fix_xy.loc[f"S{i:02d}"]
        for how in ("en", "ll"):
            c = by_ref.loc[f"{p['point']}/{how}"]
            assert np.hypot(c["x"] - fx, c["y"] - fy) <= 0.1, (p["point"], how)

    # and the match finds each subject at its own crimes, within 0.1 m, and nobody else
    hits = match(fixes.fixes, crimes, Rules(radius_m=1.0, max_gap_s=300,
                                            count_precision=False))
    assert len(hits) == 2 * len(places)
    assert hits["min_distance_m"].max() <= 0.1
    got = {(r.crime_reference.split("/")[0], str(r.subject)) for r in hits.itertuples()}
    assert got == {(p, f"S{i:02d}") for i, p in enumerate(places["point"])}


def test_lowestoft_the_most_easterly_place_in_england(tmp_path):
    """Lowestoft Ness (52.4817 N, 1.7627 E; easting 655,585 m, beyond the 600 km the format
    once allowed): a crime sent as its easting/northing, one sent as its latitude/longitude and
    a fix there are accepted and found together within 0.1 m. The easting/northing is OSTN15's
    for the place (convertbng, which reproduces OS's test points to the millimetre:
    tests/test_crs.py); the crime batch range is ``plausible.PLACE_RANGES``."""
    lat, lon = 52.4817, 1.7627
    e, n = 655_585.303, 293_740.534
    crimes_csv = tmp_path / "batch.csv"
    common = "Suffolk,BIAD,Burglary in a dwelling,SFK20250127,{ref},20250126120000,20250126120000"
    crimes_csv.write_text(
        common.format(ref="LOW/en") + f",{e},{n},,,OSGB36,\n"
        + common.format(ref="LOW/ll") + f",,,{lat},{lon},WGS84,\n")
    positions_csv = tmp_path / "positions.csv"
    positions_csv.write_text(
        "person_id,position_gps_date,position_latitude,position_longitude,"
        "position_precision,position_lbs\n"
        + "".join(f"S1,2025-01-26 {t},{lat},{lon},5,1\n"
                  for t in ("11:59:00", "12:00:00", "12:01:00")))
    batch = read_crime_batch(crimes_csv)
    fixes = read_positions(positions_csv)
    assert batch.rejects.empty and fixes.rejects.empty
    assert len(batch.crimes) == 2 and len(fixes.fixes) == 3
    assert not fixes.fixes["outside_grid"].any()
    assert batch.crimes["x"].min() > 655_000  # east of the old limit, placed all the same
    hits = match(fixes.fixes, batch.crimes, Rules(radius_m=1.0, max_gap_s=300,
                                                  count_precision=False))
    assert sorted(hits["crime_reference"]) == ["LOW/en", "LOW/ll"]
    assert hits["min_distance_m"].max() <= 0.1
