"""Crime batches (docs/formats.md §1): every rule with a record that breaks it, versions, forces."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trailmatch.crs import grid_to_working, lonlat_to_working
from trailmatch.ingest.crime_batch import (
    CRIME_COLUMNS,
    NotACrimeBatch,
    latest_versions,
    parse_crime_batch,
    read_crime_batch,
)
from trailmatch.ingest.forces import load_forces, read_forces_file
from trailmatch.ingest.rejects import CRIME_REJECT_COLUMNS, write_rejects

GOOD = ("Hampshire,BIAD,Burglary in a dwelling,HAM20250127,44/1234/25,20250126183000,"
        "20250126230000,,,50.9097,-1.4044,WGS84,rear door forced")
FIELDS = GOOD.split(",")
IDX = {name: i for i, name in enumerate([
    "police_force", "crime_type", "desc", "batch_id", "crime_reference", "date_from",
    "date_to", "easting", "northing", "latitude", "longitude", "datum", "text"])}


def row(**changes) -> str:
    f = list(FIELDS)
    for k, v in changes.items():
        f[IDX[k]] = v
    return ",".join(f)


def parse(*lines: str, **kw):
    return parse_crime_batch("\n".join(lines) + "\n", source_file="batch.csv", **kw)


def errors_of(batch) -> set[tuple[int, str, str]]:
    return {(int(r), f, e) for r, f, e in
            zip(batch.rejects["row"], batch.rejects["field"], batch.rejects["error"],
                strict=True)}


def test_sample_batch_has_no_rejects(sample_dir):
    b = read_crime_batch(sample_dir / "crimes.csv")
    assert b.rows_read == 400 and len(b.crimes) == 400 and b.rejects.empty
    assert list(b.crimes.columns) == CRIME_COLUMNS
    assert str(b.crimes["time_from"].dtype) == "datetime64[ns, UTC]"
    assert b.crimes["row"].tolist() == list(range(1, 401))


def test_good_row_is_projected_and_windowed():
    b = parse(GOOD)
    c = b.crimes.iloc[0]
    x, y = lonlat_to_working(np.array([-1.4044]), np.array([50.9097]))
    assert (c["x"], c["y"]) == (x[0], y[0])
    assert c["time_from"] == pd.Timestamp("2025-01-26 18:30:00", tz="UTC")
    assert c["time_to"] == pd.Timestamp("2025-01-26 23:00:00", tz="UTC")
    assert c["police_force"] == "Hampshire" and c["crime_type"] == "BIAD"
    assert c["crime_text"] == "rear door forced" and c["row"] == 1

    g = parse(row(easting="441191.6", northing="110806.7", latitude="", longitude=""))
    ex, ey = grid_to_working(np.array([441191.6]), np.array([110806.7]))
    assert (g.crimes["x"].iloc[0], g.crimes["y"].iloc[0]) == (ex[0], ey[0])


@pytest.mark.parametrize("changes, field, error", [
    ({"police_force": ""}, "police_force", "missing"),
    ({"police_force": "Atlantis"}, "police_force", "unknown_force"),
    ({"crime_type": ""}, "crime_type", "missing"),
    ({"crime_type": "ARSON"}, "crime_type", "unknown_crime_type"),
    ({"batch_id": ""}, "batch_id", "missing"),
    ({"batch_id": "HAM2025012"}, "batch_id", "invalid_format"),
    ({"batch_id": "HAM20250127-X"}, "batch_id", "invalid_format"),
    ({"batch_id": "HAM20250230"}, "batch_id", "invalid_batch_date"),
    ({"batch_id": "HAM20251301"}, "batch_id", "invalid_batch_date"),
    ({"batch_id": "KNT20250127"}, "batch_id", "batch_force_mismatch"),
    ({"crime_reference": ""}, "crime_reference", "missing"),
    ({"date_from": ""}, "date_from", "missing"),
    ({"date_from": "2025-01-26 18:30"}, "date_from", "invalid_format"),
    ({"date_from": "20250230183000"}, "date_from", "invalid_format"),
    ({"date_to": ""}, "date_to", "missing"),
    ({"date_to": "20250126256000"}, "date_to", "invalid_format"),
    ({"date_to": "20250126180000"}, "date_to", "to_before_from"),
    ({"date_to": "20250127063001"}, "date_to", "window_too_long"),
    ({"latitude": "fifty"}, "latitude", "invalid_format"),
    ({"latitude": "49.4"}, "latitude", "out_of_range"),
    ({"latitude": "61.6"}, "latitude", "out_of_range"),
    ({"longitude": "-8.6"}, "longitude", "out_of_range"),
    ({"longitude": "2.7"}, "longitude", "out_of_range"),
    ({"longitude": "nan"}, "longitude", "invalid_format"),
    ({"latitude": "", "longitude": "", "easting": "700000.1", "northing": "1"},
     "easting", "out_of_range"),
    ({"latitude": "", "longitude": "", "easting": "1", "northing": "-0.5"},
     "northing", "out_of_range"),
    ({"latitude": "", "longitude": "", "easting": "1", "northing": "1300001"},
     "northing", "out_of_range"),
    ({"longitude": ""}, "longitude", "half_location"),
    ({"latitude": ""}, "latitude", "half_location"),
    ({"latitude": "", "longitude": "", "easting": "441191.6"}, "northing", "half_location"),
    ({"easting": "441191.6", "northing": "110806.7"}, "location", "multiple_locations"),
    ({"latitude": "", "longitude": ""}, "location", "no_location"),
])
def test_each_rule_rejects_its_row(changes, field, error):
    b = parse(GOOD, row(**changes), GOOD.replace("44/1234/25", "44/9/25"))
    assert (2, field, error) in errors_of(b)
    # the good rows of the batch are accepted whatever the bad one does
    assert b.crimes["row"].tolist() == [1, 3]
    assert b.rows_read == 3 and b.rows_rejected == 1
    assert list(b.rejects.columns) == CRIME_REJECT_COLUMNS
    bad = b.rejects[b.rejects["error"] == error].iloc[0]
    assert bad["file"] == "batch.csv"
    if field in changes:
        assert bad["value"] == changes[field]


def test_boundaries_are_accepted():
    ok = [
        row(date_to="20250127063000"),  # exactly 12 h
        row(date_to="20250126183000"),  # from == to
        row(latitude="", longitude="", easting="0", northing="1300000"),
        row(latitude="", longitude="", easting="700000", northing="0"),
    ]
    b = parse(*ok)
    assert b.rejects.empty and len(b.crimes) == len(ok)


def test_corners_of_the_latitude_longitude_range_are_outside_ostn15():
    """The format's lat/lon range is a box around Britain; its corners are sea and France,
    outside OSTN15's cover: in range (no out_of_range), but rejected as outside_grid, as any
    crime that cannot be placed on the grid with OSTN15 is."""
    b = parse(row(latitude="49.5", longitude="-8.5"), row(latitude="61.5", longitude="2.6"),
              GOOD)
    assert errors_of(b) == {(1, "location", "outside_grid"), (2, "location", "outside_grid")}
    assert b.crimes["row"].tolist() == [3]
    assert b.rejects["value"].tolist() == [",,49.5,-8.5", ",,61.5,2.6"]


def test_grid_reference_needs_no_cover_in_the_grid_itself():
    """Eastings/northings into a British National Grid working CRS are not transformed at
    all; into another working CRS they go through OSTN15 and so need its cover."""
    corner = row(latitude="", longitude="", easting="700000", northing="0")
    assert parse(corner).rejects.empty
    b = parse(corner, crs="EPSG:32630")
    assert errors_of(b) == {(1, "location", "outside_grid")}


def test_window_limit_is_a_setting():
    long = row(date_to="20250127063001")
    assert parse(long, max_window_h=24).rejects.empty
    assert (1, "date_to", "window_too_long") in errors_of(parse(long, max_window_h=12))


def test_several_problems_of_one_row_each_reported():
    b = parse(row(police_force="Atlantis", crime_type="XX", crime_reference="",
                  date_from="bad", latitude="", longitude="", easting="1"))
    assert errors_of(b) == {(1, "police_force", "unknown_force"),
                            (1, "crime_type", "unknown_crime_type"),
                            (1, "crime_reference", "missing"),
                            (1, "date_from", "invalid_format"),
                            (1, "northing", "half_location")}
    assert b.rejects["crime_reference"].isna().all()


def test_reference_is_named_when_known():
    b = parse(row(crime_type="XX"))
    assert b.rejects["crime_reference"].tolist() == ["44/1234/25"]


def test_wrong_column_count_and_blank_lines_and_bom():
    text = "\ufeff" + GOOD + "\n\n   \n" + "Hampshire,RB,x\n" + GOOD + ",extra\n\n" + GOOD + "\n"
    b = parse_crime_batch(text, source_file="b.csv")
    assert b.rows_read == 4  # blank lines are not records
    assert errors_of(b) == {(2, "columns", "wrong_column_count"),
                            (3, "columns", "wrong_column_count")}
    assert b.crimes["row"].tolist() == [1, 4]
    assert b.crimes["police_force"].iloc[0] == "Hampshire"  # BOM not part of the force


def test_bom_in_file(tmp_path):
    p = tmp_path / "b.csv"
    p.write_bytes(b"\xef\xbb\xbf" + (GOOD + "\r\n").encode() * 2)
    b = read_crime_batch(p)
    assert b.rejects.empty and len(b.crimes) == 2


def test_type_codes_case_insensitive_and_batch_suffixes():
    b = parse(row(crime_type="biad"), row(crime_type="Tfmv", batch_id="HAM20250127-1"),
              row(batch_id="HAM20250127-R"), row(batch_id="ham20250127-2-a"),
              row(batch_id="HAM20250127-12-r"))
    assert b.rejects.empty
    assert b.crimes["crime_type"].tolist() == ["BIAD", "TFMV", "BIAD", "BIAD", "BIAD"]


def test_quoted_text_with_commas():
    b = parse(GOOD.replace("rear door forced", '"forced, then fled"'))
    assert b.rejects.empty and b.crimes["crime_text"].iloc[0] == "forced, then fled"


def test_versions_latest_wins():
    v1 = row()
    v2 = row(batch_id="HAM20250128", date_to="20250126233000")
    v3 = row(batch_id="HAM20250127-1-R", date_to="20250126231500")
    other = row(crime_reference="44/1/25")
    b = parse(v2, v1, v3, other)
    latest = latest_versions(b.crimes)
    assert len(latest) == 2
    mine = latest[latest["crime_reference"] == "44/1234/25"].iloc[0]
    assert mine["batch_id"] == "HAM20250128"  # the later batch date beats the resend
    b2 = parse(v1, v3)
    assert latest_versions(b2.crimes)["batch_id"].tolist() == ["HAM20250127-1-R"]
    # the same reference from another force is another crime
    kent = row(police_force="Kent", batch_id="KNT20250127")
    assert len(latest_versions(parse(v1, kent).crimes)) == 2


def test_forces_are_data(tmp_path, monkeypatch):
    shipped = load_forces()
    # the 43 territorial forces of England and Wales and British Transport Police (the list
    # grew from the scheme's first 19: deliberate change, issue 16)
    assert shipped["Hampshire"] == "HAM" and shipped["CoLP"] == "CoLP" and len(shipped) == 44
    assert shipped["BritishTransport"] == "BTP" and shipped["Dorset"] == "DOR"
    assert len({c.lower() for c in shipped.values()}) == 44  # codes unique
    extra = tmp_path / "forces.csv"
    extra.write_text("force,code\nJersey,JSY\n")
    new_row = row(police_force="Jersey", batch_id="JSY20250127")
    assert (1, "police_force", "unknown_force") in errors_of(parse(new_row))
    assert parse(new_row, forces=extra).rejects.empty
    monkeypatch.setenv("TRAILMATCH_FORCES", str(extra))
    assert parse(new_row).rejects.empty
    assert parse(new_row, forces={"Jersey": "JSY"}).rejects.empty
    bad = tmp_path / "bad.csv"
    bad.write_text("name,abbrev\nX,Y\n")
    with pytest.raises(ValueError, match="force,code"):
        read_forces_file(bad)


def test_write_rejects_replaces_atomically(tmp_path):
    # A run's rejects replace the previous run's (a rerun must not duplicate lines); with none,
    # the header alone is left.
    b = parse(row(crime_type="XX"), row(police_force=""))
    out = tmp_path / "rejects.csv"
    write_rejects(b.rejects, out)
    write_rejects(b.rejects, out)
    back = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(back.columns) == CRIME_REJECT_COLUMNS and len(back) == 2
    assert back["error"].tolist() == ["unknown_crime_type", "missing"]
    write_rejects([], out)
    assert out.read_text().splitlines() == [",".join(CRIME_REJECT_COLUMNS)]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


FIELD_VALUES = st.sampled_from(["", "x", "Hampshire", "BIAD", "HAM20250127", "0", "-1",
                                "20250126183000", "50.9", "-1.4", "nan", "1e309", '"',
                                "\u00e9", "\x00", ",", "\n", " "])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(
    st.just(GOOD),
    st.lists(FIELD_VALUES, min_size=0, max_size=15).map(",".join),
    st.builds(lambda i, v: ",".join(FIELDS[:i] + [v] + FIELDS[i + 1:]),
              st.integers(0, 12), FIELD_VALUES),
), max_size=12))
def test_fuzz_mangled_rows_never_crash(lines):
    b = parse_crime_batch("\n".join(lines), source_file="f.csv")
    assert len(b.crimes) + b.rows_rejected == b.rows_read
    assert set(b.crimes["row"]).isdisjoint(set(b.rejects["row"]))
    assert b.crimes[["x", "y"]].notna().all().all()


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=400))
def test_fuzz_random_bytes_never_crash(tmp_path_factory, data):
    p = tmp_path_factory.mktemp("bytes") / "b.csv"
    p.write_bytes(data)
    # a file with no 13-field record is refused as a whole, with a reason (it used to come
    # back as a batch of wrong_column_count rejects: deliberate change, issue 16)
    try:
        b = read_crime_batch(p)
    except NotACrimeBatch as e:
        assert str(e).startswith(("not a crime batch: ", "a damaged gzip file"))
        return
    assert len(b.crimes) + b.rows_rejected == b.rows_read
