"""Positions: the tag export, generic CSV/Parquet through a TOML mapping, time zones and DST."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trailmatch.crs import lonlat_to_working, project
from trailmatch.ingest.mapping import Mapping, load_mapping, localize
from trailmatch.ingest.positions import FIX_COLUMNS, PositionsFormatError, read_positions
from trailmatch.ingest.rejects import POSITION_REJECT_COLUMNS

HEADER = ("position_id,person_id,device_id,position_gps_date,position_recorded_date,"
          "position_uploaded_date,position_latitude,position_longitude,position_precision,"
          "position_hdop,position_satellite,position_speed,position_direction,position_lbs")
COLS = HEADER.split(",")
GOOD = dict(zip(COLS, ["1", "07013", "D07013", "2025-01-23 10:55:01", "2025-01-23 10:55:01",
                       "2025-01-23 11:20:14", "50.898242", "-1.407329", "15.0", "1.1", "9",
                       "3.5", "0", "1"], strict=True))


def line(**changes) -> str:
    d = dict(GOOD)
    d.update(changes)
    return ",".join(d[c] for c in COLS)


def write(tmp_path, *lines, name="p.csv", header=HEADER):
    p = tmp_path / name
    p.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return p


def errors_of(r) -> set[tuple[int, str, str]]:
    return {(int(a), b, c) for a, b, c in
            zip(r.rejects["row"], r.rejects["field"], r.rejects["error"], strict=True)}


def test_sample_positions_have_no_rejects(sample_dir):
    r = read_positions(sample_dir / "positions.csv")
    assert r.rows_read == 7441 and len(r.fixes) == 7441 and r.rejects.empty
    assert list(r.fixes.columns) == FIX_COLUMNS
    assert str(r.fixes["time"].dtype) == "datetime64[ns, UTC]"
    assert r.fixes["row"].tolist() == list(range(1, 7442))
    raw = pd.read_csv(sample_dir / "positions.csv", dtype={"person_id": str})
    x, y = lonlat_to_working(raw["position_longitude"].to_numpy(),
                             raw["position_latitude"].to_numpy())
    np.testing.assert_array_equal(r.fixes["x"].to_numpy(), x)
    np.testing.assert_array_equal(r.fixes["y"].to_numpy(), y)
    assert r.fixes["subject"].tolist() == raw["person_id"].tolist()  # leading zeros kept
    assert (r.fixes["source"] == 1).all() and r.fixes["source"].dtype == np.uint8


def test_good_fix_fields(tmp_path):
    r = read_positions(write(tmp_path, line()))
    f = r.fixes.iloc[0]
    assert f["subject"] == "07013" and f["device"] == "D07013" and f["position_id"] == "1"
    assert f["time"] == pd.Timestamp("2025-01-23 10:55:01", tz="UTC")
    assert f["uploaded"] == pd.Timestamp("2025-01-23 11:20:14", tz="UTC")
    assert f["precision_m"] == 15.0 and f["speed_kmh"] == 3.5 and f["lat"] == 50.898242


@pytest.mark.parametrize("changes, field, error", [
    ({"person_id": ""}, "person_id", "missing"),
    ({"position_gps_date": ""}, "position_gps_date", "missing"),
    ({"position_gps_date": "yesterday"}, "position_gps_date", "invalid_format"),
    ({"position_gps_date": "2025-02-30 10:00:00"}, "position_gps_date", "invalid_format"),
    ({"position_gps_date": "2025-01-23 25:00:00"}, "position_gps_date", "invalid_format"),
    ({"position_latitude": ""}, "position_latitude", "missing"),
    ({"position_latitude": "north"}, "position_latitude", "invalid_format"),
    ({"position_latitude": "nan"}, "position_latitude", "not_finite"),
    ({"position_latitude": "90.5"}, "position_latitude", "out_of_range"),
    ({"position_longitude": ""}, "position_longitude", "missing"),
    ({"position_longitude": "-inf"}, "position_longitude", "not_finite"),
    ({"position_longitude": "180.01"}, "position_longitude", "out_of_range"),
    ({"position_longitude": "1,5"}, None, None),  # an extra field: the record is malformed
    ({"position_precision": "-0.5"}, "position_precision", "negative"),
    ({"position_precision": "wide"}, "position_precision", "invalid_format"),
    ({"position_precision": "inf"}, "position_precision", "not_finite"),
])
def test_each_rule_rejects_its_row(tmp_path, changes, field, error):
    r = read_positions(write(tmp_path, line(), line(**changes),
                             line(position_gps_date="2025-01-23 10:56:01")))
    if field is None:
        field, error = "columns", "wrong_column_count"
    assert (2, field, error) in errors_of(r)
    assert r.fixes["row"].tolist() == [1, 3]
    assert r.rows_read == 3 and r.rows_rejected == 1
    assert list(r.rejects.columns) == POSITION_REJECT_COLUMNS
    rej = r.rejects[r.rejects["row"] == 2].iloc[0]
    assert rej["file"].endswith("p.csv")
    assert rej["subject"] == (None if changes.get("person_id") == "" else "07013")


def test_several_problems_each_reported(tmp_path):
    r = read_positions(write(tmp_path, line(position_gps_date="x", position_latitude="",
                                            position_precision="-1")))
    assert errors_of(r) == {(1, "position_gps_date", "invalid_format"),
                            (1, "position_latitude", "missing"),
                            (1, "position_precision", "negative")}


def test_missing_precision_is_unknown_and_zero_is_kept(tmp_path):
    r = read_positions(write(tmp_path, line(position_precision=""),
                             line(position_precision="0", position_gps_date="2025-01-23 10:56:00")))
    assert r.rejects.empty
    assert np.isnan(r.fixes["precision_m"].iloc[0]) and r.fixes["precision_m"].iloc[1] == 0.0


@pytest.mark.parametrize("text, expected", [
    ("2025-01-23 10:55:01", "2025-01-23 10:55:01"),
    ("2025-01-23 10:55:01.250000", "2025-01-23 10:55:01.25"),
    ("2025-01-23T10:55:01", "2025-01-23 10:55:01"),
    ("2025-01-23T10:55:01Z", "2025-01-23 10:55:01"),
    ("2025-01-23T11:55:01+01:00", "2025-01-23 10:55:01"),
    ("2025-01-23T05:55:01.5-05:00", "2025-01-23 10:55:01.5"),
])
def test_time_formats(tmp_path, text, expected):
    # mix with a plain row so the mixed-format path is taken as well as the fast one
    for lines in ([line(position_gps_date=text)],
                  [line(position_gps_date="2025-01-01 00:00:00"),
                   line(position_gps_date=text, position_id="2")]):
        r = read_positions(write(tmp_path, *lines))
        assert r.rejects.empty
        assert r.fixes["time"].iloc[-1] == pd.Timestamp(expected, tz="UTC")


def test_sources_by_code_or_name(tmp_path):
    vals = ["1", "4", "5", "6", "WiFi", "gps", "9", ""]
    lines = [line(position_lbs=v, position_gps_date=f"2025-01-23 10:5{i}:00")
             for i, v in enumerate(vals)]
    r = read_positions(write(tmp_path, *lines))
    # an unknown code is rejected now (it was kept as source 0): deliberate, issue 16
    assert r.fixes["source"].tolist() == [1, 4, 5, 6, 6, 1]
    assert r.rejects[["row", "value", "error"]].values.tolist() == [
        [7, "9", "unknown_source"], [8, "", "unknown_source"]]


def test_wrong_column_count_blank_lines_bom_and_bad_bytes(tmp_path):
    p = tmp_path / "p.csv"
    body = ("\ufeff" + HEADER + "\n" + line() + "\n\n" + "1,2,3\n"
            + line(position_gps_date="2025-01-23 10:57:01") + "\n")
    p.write_bytes(body.encode() + b"9,\xff\xfe,D," + b"2025-01-23 10:58:01,,,50,-1,5,1,9,0,0,1\n")
    r = read_positions(p)
    assert r.rows_read == 4
    assert (2, "columns", "wrong_column_count") in errors_of(r)
    # undecodable bytes in the subject id: the record is rejected, the bytes shown as U+FFFD
    # (they were stored as the subject "\ufffd\ufffd" before: deliberate change, issue 16)
    assert r.fixes["row"].tolist() == [1, 3]
    assert (4, "person_id", "invalid_encoding") in errors_of(r)
    assert "\ufffd\ufffd" in r.rejects["value"].tolist()


def test_not_a_positions_file(tmp_path, sample_dir):
    with pytest.raises(PositionsFormatError, match="not a tag position export"):
        read_positions(sample_dir / "crimes.csv")
    empty = tmp_path / "e.csv"
    empty.write_text("")
    with pytest.raises(PositionsFormatError, match="empty"):
        read_positions(empty)
    with pytest.raises(PositionsFormatError, match="no such file"):
        read_positions(tmp_path / "missing.csv")


def test_header_only_file_reads_nothing(tmp_path):
    r = read_positions(write(tmp_path))
    assert r.rows_read == 0 and r.fixes.empty and r.rejects.empty
    assert list(r.fixes.columns) == FIX_COLUMNS


# --------------------------------------------------------------------------- generic files

MAPPING_XY = """
[columns]
subject = "who"
time = "when"
x = "e"
y = "n"
precision = "acc"
source = "src"

[coordinates]
crs = "EPSG:27700"

[time]
timezone = "Europe/London"
"""


def test_generic_csv_with_mapping_xy_and_timezone(tmp_path):
    m = tmp_path / "m.toml"
    m.write_text(MAPPING_XY)
    p = write(tmp_path, "A,2025-07-01 12:00:00,441000.5,112000.25,8,WiFi",
              "B,2025-01-10 12:00:00,441001,112001,,1",
              "C,2025-07-01T12:00:00Z,441002,112002,3,",
              header="who,when,e,n,acc,src")
    r = read_positions(p, mapping=m)
    assert r.rejects.empty
    f = r.fixes
    assert f["time"].tolist() == [pd.Timestamp("2025-07-01 11:00", tz="UTC"),  # BST
                                  pd.Timestamp("2025-01-10 12:00", tz="UTC"),  # GMT
                                  pd.Timestamp("2025-07-01 12:00", tz="UTC")]  # offset wins
    assert f["x"].tolist() == [441000.5, 441001.0, 441002.0]
    assert f["source"].tolist() == [6, 1, 0]
    # a working CRS other than the file's: projected
    r2 = read_positions(p, mapping=m, crs="EPSG:3857")
    ex, ey = project(np.array([441000.5]), np.array([112000.25]), "EPSG:27700", "EPSG:3857")
    assert (r2.fixes["x"].iloc[0], r2.fixes["y"].iloc[0]) == (ex[0], ey[0])
    # --timezone overrides the mapping's zone
    r3 = read_positions(p, mapping=m, timezone="UTC")
    assert r3.fixes["time"].iloc[0] == pd.Timestamp("2025-07-01 12:00", tz="UTC")


def test_mapping_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[columns]\nsubject = "a"\ntime = "b"\n')
    with pytest.raises(ValueError, match="lat\\+lon or x\\+y"):
        load_mapping(bad)
    bad.write_text('[columns]\nsubject = "a"\ntime = "b"\nx = "c"\ny = "d"\n')
    with pytest.raises(ValueError, match="crs"):
        load_mapping(bad)
    bad.write_text('[columns]\nsubject="a"\ntime="b"\nlat="c"\nlon="d"\n[time]\n'
                   'timezone="Mars/Olympus"\n')
    with pytest.raises(ValueError, match="time zone"):
        load_mapping(bad)
    bad.write_text('[columns]\nsubject="a"\ntime="b"\nlat="c"\nlon="d"\nheight="e"\n')
    with pytest.raises(ValueError, match="height"):
        load_mapping(bad)
    ok = tmp_path / "ok.toml"
    ok.write_text('[columns]\nsubject="a"\ntime="b"\nlat="c"\nlon="zz"\n')
    p = write(tmp_path, "1,2,3", header="a,b,c")
    with pytest.raises(PositionsFormatError, match="zz"):
        read_positions(p, mapping=ok)


# DST in Europe/London, 2025: clocks forward 30 March 01:00 GMT -> 02:00 BST (01:00-02:00
# local never happens); clocks back 26 October 02:00 BST -> 01:00 GMT (01:00-02:00 twice).
DST_CASES = [
    ("2025-03-30 00:59:59", "2025-03-30 00:59:59", None),
    ("2025-03-30 01:00:00", None, "nonexistent_local_time"),
    ("2025-03-30 01:30:00", None, "nonexistent_local_time"),
    ("2025-03-30 01:59:59.999", None, "nonexistent_local_time"),
    ("2025-03-30 02:00:00", "2025-03-30 01:00:00", None),
    ("2025-10-26 00:59:59", "2025-10-25 23:59:59", None),
    ("2025-10-26 01:00:00", None, "ambiguous_local_time"),
    ("2025-10-26 01:30:00", None, "ambiguous_local_time"),
    ("2025-10-26 01:59:59", None, "ambiguous_local_time"),
    ("2025-10-26 02:00:00", "2025-10-26 02:00:00", None),
    ("2025-10-26T01:30:00+01:00", "2025-10-26 00:30:00", None),  # offset: not ambiguous
    ("2025-10-26T01:30:00Z", "2025-10-26 01:30:00", None),
]


def _generic(tmp_path, times, **time_opts):
    m = tmp_path / "m.toml"
    opts = "".join(f'{k} = "{v}"\n' for k, v in time_opts.items())
    m.write_text('[columns]\nsubject="s"\ntime="t"\nlat="la"\nlon="lo"\n'
                 f'[time]\ntimezone = "Europe/London"\n{opts}')
    lines = [f"S,{t},51.5,-0.1" for t in times]
    return read_positions(write(tmp_path, *lines, name="g.csv", header="s,t,la,lo"), mapping=m)


@pytest.mark.parametrize("local, utc, error", DST_CASES)
def test_dst_edges_rejected_without_policy(tmp_path, local, utc, error):
    r = _generic(tmp_path, [local])
    if error is None:
        assert r.rejects.empty and r.fixes["time"].iloc[0] == pd.Timestamp(utc, tz="UTC")
    else:
        assert errors_of(r) == {(1, "t", error)} and r.fixes.empty


def test_dst_policies(tmp_path):
    r = _generic(tmp_path, ["2025-10-26 01:30:00", "2025-03-30 01:30:00"],
                 ambiguous="earliest", nonexistent="shift_forward")
    assert r.rejects.empty
    assert r.fixes["time"].tolist() == [pd.Timestamp("2025-10-26 00:30", tz="UTC"),
                                        pd.Timestamp("2025-03-30 01:00", tz="UTC")]
    r = _generic(tmp_path, ["2025-10-26 01:30:00", "2025-03-30 01:30:00"],
                 ambiguous="latest", nonexistent="shift_backward")
    assert r.fixes["time"].tolist() == [pd.Timestamp("2025-10-26 01:30", tz="UTC"),
                                        pd.Timestamp("2025-03-30 00:59:59.999999999", tz="UTC")]


def test_localize_matches_zoneinfo():
    from datetime import datetime
    from zoneinfo import ZoneInfo

    walls = pd.date_range("2025-03-29", "2025-03-31", freq="17min").append(
        pd.date_range("2025-10-25", "2025-10-27", freq="17min"))
    ns = walls.as_unit("ns").asi8
    utc, amb, gap = localize(ns, "Europe/London")
    z = ZoneInfo("Europe/London")
    for w, u, a, g in zip(walls, utc, amb, gap, strict=True):
        d = datetime(w.year, w.month, w.day, w.hour, w.minute, tzinfo=z)
        d1 = d.replace(fold=1)
        if d.utcoffset() != d1.utcoffset():
            assert a or g
            continue
        back = d.astimezone(ZoneInfo("UTC")).astimezone(z)
        if back.replace(tzinfo=None) != d.replace(tzinfo=None):
            assert g
            continue
        assert not a and not g
        assert u == pd.Timestamp(d).value


def test_generic_parquet_typed(tmp_path):
    t = pd.to_datetime(["2025-07-01 12:00:00", "2025-07-01 12:01:00", None])
    table = pa.table({
        "id": pa.array([101, 102, 103]),
        "ts": pa.array(t.to_numpy(), pa.timestamp("us")),
        "lat": pa.array([51.5, 95.0, 51.5]),
        "lon": pa.array([-0.1, -0.1, None]),
        "acc": pa.array([5, 6, 7], pa.int32()),
    })
    p = tmp_path / "g.parquet"
    pq.write_table(table, p)
    m = Mapping(columns={"subject": "id", "time": "ts", "lat": "lat", "lon": "lon",
                         "precision": "acc"}, timezone="Europe/London")
    r = read_positions(p, mapping=m)
    assert r.rows_read == 3
    assert r.fixes["subject"].tolist() == ["101"]
    assert r.fixes["time"].iloc[0] == pd.Timestamp("2025-07-01 11:00", tz="UTC")
    assert errors_of(r) == {(2, "lat", "out_of_range"), (3, "ts", "missing"),
                            (3, "lon", "missing")}
    # tz-aware timestamps are instants already; epoch numbers need a unit
    table2 = pa.table({"s": ["a"], "ts": pa.array([1_700_000_000], pa.int64()),
                       "la": [51.0], "lo": [0.0]})
    p2 = tmp_path / "e.parquet"
    pq.write_table(table2, p2)
    m2 = Mapping(columns={"subject": "s", "time": "ts", "lat": "la", "lon": "lo"},
                 epoch_unit="s")
    assert read_positions(p2, mapping=m2).fixes["time"].iloc[0] == pd.Timestamp(
        1_700_000_000, unit="s", tz="UTC")
    m3 = Mapping(columns={"subject": "s", "time": "ts", "lat": "la", "lon": "lo"})
    assert errors_of(read_positions(p2, mapping=m3)) == {(1, "ts", "invalid_format")}


def test_custom_time_format(tmp_path):
    m = tmp_path / "m.toml"
    m.write_text('[columns]\nsubject="s"\ntime="t"\nlat="la"\nlon="lo"\n'
                 '[time]\nformat = "%d/%m/%Y %H:%M"\n[csv]\ndelimiter = ";"\n')
    r = read_positions(write(tmp_path, "A;23/01/2025 10:55;51;0", "A;31/02/2025 10:55;51;0",
                             header="s;t;la;lo"), mapping=m)
    assert r.fixes["time"].tolist() == [pd.Timestamp("2025-01-23 10:55", tz="UTC")]
    assert errors_of(r) == {(2, "t", "invalid_format")}


# --------------------------------------------------------------------------- fuzz

VALUES = st.sampled_from(["", "x", "07013", "2025-01-23 10:55:01", "2025-13-01 00:00:00",
                          "50.9", "-1.4", "nan", "inf", "-1", "0", "1e400", '"', "\u00e9",
                          ",", " ", "2025-01-23T10:55:01Z", "WiFi"])


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(
    st.just(line()),
    st.lists(VALUES, min_size=0, max_size=16).map(",".join),
    st.builds(lambda c, v: line(**{c: v}), st.sampled_from(COLS), VALUES),
), max_size=10))
def test_fuzz_mangled_rows(tmp_path, lines):
    p = tmp_path / "f.csv"
    p.write_text(HEADER + "\n" + "\n".join(lines) + "\n", encoding="utf-8")
    r = read_positions(p)
    assert len(r.fixes) + r.rows_rejected == r.rows_read
    assert set(r.fixes["row"]).isdisjoint(set(r.rejects["row"]))
    assert np.isfinite(r.fixes[["x", "y"]].to_numpy()).all()
    assert r.fixes["time"].notna().all()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300), st.booleans())
def test_fuzz_random_bytes(tmp_path, data, with_header):
    p = tmp_path / "b.csv"
    p.write_bytes((HEADER.encode() + b"\n" if with_header else b"") + data)
    try:
        r = read_positions(p)
    except PositionsFormatError:
        assert not with_header
        return
    assert len(r.fixes) + r.rows_rejected == r.rows_read
