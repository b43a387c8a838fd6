"""Fix sources: one rule (``trails.source_code``, docs/formats.md "Fix sources") for every
reader, and ``source_codes`` gives it for a whole column in every form a column comes in."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_ingest_positions import line, write

from trailmatch.ingest.positions import read_positions
from trailmatch.trails import prepare_trail, source_code, source_codes


@pytest.mark.parametrize("value, code", [
    ("GPS", 1), ("gps", 1), ("RF", 4), ("lbs", 5), ("WiFi", 6), ("WIFI", 6),
    (" WiFi ", 6), ("\tgps\n", 1), ("1", 1), (" 4 ", 4), ("5.0", 5), ("6", 6),
    (1, 1), (4.0, 4), (np.int64(5), 5), (np.float64(6.0), 6),
    ("9", 0), ("4.5", 0), (4.5, 0), (9, 0), (-1, 0), (256 + 1, 0), ("GPS2", 0), ("", 0),
    ("  ", 0), (None, 0), (float("nan"), 0), ("nan", 0), (True, 0), ("Wi Fi", 0),
])
def test_the_rule(value, code):
    assert source_code(value) == code


WORDS = ["GPS", "gps", "Gps", "RF", "rf", "LBS", "WiFi", "wifi", "WIFI", "1", "4", "5", "6",
         "4.0", "9", "0", "", "GPS2", "x", "-1", "1e0"]


@st.composite
def text_values(draw):
    word = draw(st.sampled_from(WORDS))
    pad = st.sampled_from(["", " ", "  ", "\t"])
    return draw(pad) + word + draw(pad)


def forms(values: list) -> dict[str, object]:
    """The same text column in each form a caller or a reader hands it over."""
    return {
        "object": pd.Series(values, dtype=object),
        "str": pd.Series(values, dtype="str"),
        "arrow": pd.Series(pd.array(values, dtype=pd.ArrowDtype(pa.string()))),
        "categorical": pd.Series(pd.Categorical(values)),
        "list": values,
        "pa.array": pa.array(values, pa.string()),
        "pa.chunked": pa.chunked_array([pa.array(values[:1], pa.string()),
                                        pa.array(values[1:], pa.string())]),
        "pa.dictionary": pa.array(values, pa.string()).dictionary_encode(),
    }


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(text_values(), st.none()), min_size=1, max_size=40))
def test_every_text_form_follows_the_rule(values):
    want = np.array([source_code(v) for v in values], dtype=np.uint8)
    for name, column in forms(values).items():
        if name in ("str", "arrow") and None in values:
            continue  # (a missing value is covered by the other forms)
        got = source_codes(column)
        assert got.dtype == np.uint8, name
        np.testing.assert_array_equal(got, want, err_msg=name)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.integers(-3, 300), st.sampled_from([1.0, 4.0, 4.5, 6.0]),
                          st.just(float("nan"))), min_size=1, max_size=40))
def test_every_number_form_follows_the_rule(values):
    want = np.array([source_code(v) for v in values], dtype=np.uint8)
    numbers = np.array(values, dtype=np.float64)
    columns = {"float": pd.Series(numbers), "pa.float": pa.array(numbers, from_pandas=True)}
    if all(isinstance(v, int) for v in values):
        columns["int"] = pd.Series(values, dtype=np.int64)
        columns["pa.int"] = pa.array(values, pa.int64())
        columns["uint8"] = pd.Series(np.array(values) % 256, dtype=np.uint8)
        want_u8 = np.array([source_code(v % 256) for v in values], dtype=np.uint8)
        np.testing.assert_array_equal(source_codes(columns.pop("uint8")), want_u8)
    for name, column in columns.items():
        np.testing.assert_array_equal(source_codes(column), want, err_msg=name)


def test_the_export_and_a_dataframe_read_a_source_alike(tmp_path):
    """The tag export's reader and prepare_trail (match()) apply the same rule: a padded name
    or code is kept by both, as the same code."""
    values = [" WiFi ", "gps", " 4", "5.0", "LBS"]
    lines = [line(position_lbs=v, position_gps_date=f"2025-01-23 10:5{i}:00")
             for i, v in enumerate(values)]
    r = read_positions(write(tmp_path, *lines))
    assert r.rejects.empty
    assert r.fixes["source"].tolist() == [source_code(v) for v in values] == [6, 1, 4, 5, 5]
    frame = pd.DataFrame({"subject": "S1", "x": 0.0, "y": 0.0, "source": values,
                          "time": pd.date_range("2025-01-23", periods=5, freq="min", tz="UTC")})
    assert prepare_trail(frame).source.tolist() == [6, 1, 4, 5, 5]
