"""The ingest's fast paths give the answers of the plain ones: dictionary-encoded Parquet
columns (checked once per distinct value), the edge-byte scan that skips trimming, batches
converted on two threads, the merge's gathers, and partitions written from
dictionaries."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trailmatch.crs import project_flagged
from trailmatch.ingest import positions as P
from trailmatch.store import Store
from trailmatch.store import partitions as ts
from trailmatch.store.layout import Layout
from trailmatch.store.partitions import POSITION_SCHEMA


def messy_export(n: int = 6000, seed: int = 1) -> pa.Table:
    """A tag export with every kind of trouble: padded and empty subjects, bad and missing
    times, coordinates out of range or missing, precision 0, jumps, resent duplicates, two
    UTC days."""
    rng = np.random.default_rng(seed)
    subj = np.array([f"S{i:03d}" for i in rng.integers(0, 40, n)], dtype=object)
    t0 = np.datetime64("2025-03-01T20:00:00")
    times = t0 + np.sort(rng.integers(0, 8 * 3600, n)).astype("timedelta64[s]")
    lat = np.round(rng.uniform(51.0, 52.0, n), 6)
    lon = np.round(rng.uniform(-1.5, -0.5, n), 6)
    prec = np.round(rng.uniform(3, 30, n), 1)
    prec[rng.choice(n, 60, replace=False)] = 0.0
    lat[rng.choice(n, 20, replace=False)] = 95.0
    lon[rng.choice(n, 20, replace=False)] = np.nan
    for i in rng.choice(n, 30, replace=False):
        subj[i] = [" ", "", None, f" {subj[i]} ", f"{subj[i]}\t"][i % 5]
    up = np.array([str(t + np.timedelta64(600, "s")).replace("T", " ") for t in times],
                  dtype=object)
    for i in rng.choice(n, 25, replace=False):
        up[i] = ["garbage", "", "2025-02-30 10:00:00"][i % 3]
    gps = np.array([str(t).replace("T", " ") for t in times], dtype=object)
    for i in rng.choice(n, 25, replace=False):
        gps[i] = ["", "yesterday", "2025-13-01 00:00:00", " 2025-03-01 21:00:00 "][i % 4]
    table = pa.table({
        "position_id": pa.array([str(i) for i in range(1, n + 1)]),
        "person_id": pa.array(subj.tolist(), pa.string()),
        "device_id": pa.array([None if s is None else f"D{s}" for s in subj.tolist()],
                              pa.string()),
        "position_gps_date": pa.array(gps.tolist(), pa.string()),
        "position_uploaded_date": pa.array(up.tolist(), pa.string()),
        "position_latitude": pa.array(lat),
        "position_longitude": pa.array(lon),
        "position_precision": pa.array(prec),
        "position_speed": pa.array(np.zeros(n)),
        "position_lbs": pa.array(rng.choice(["1", "4", "GPS", "LBS", ""], n).tolist()),
    })
    resent = table.take(pa.array(rng.choice(n, n // 10, replace=False)))
    bumped = pc.add(resent["position_precision"], 1.0)
    resent = resent.set_column(resent.schema.get_field_index("position_precision"),
                               "position_precision", bumped)
    return pa.concat_tables([table, resent])


def stored(store: Store) -> dict:
    out = {}
    for d in store.days():
        t = store.read_day(d)
        assert t.schema.equals(POSITION_SCHEMA)
        out[d] = t.drop_columns(["ingested_at"])
    return out


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("fast")
    table = messy_export()
    pq.write_table(table, d / "dict.parquet", row_group_size=2500)  # dictionary pages
    pq.write_table(table, d / "plain.parquet", use_dictionary=False, row_group_size=2500)
    pacsv.write_csv(table, d / "export.csv")
    return d


def test_dictionary_columns_are_chosen(inputs):
    names = ["device_id", "person_id", "position_id", "position_uploaded_date"]
    got = P._dictionary_columns(pq.ParquetFile(inputs / "dict.parquet"), names)
    assert {"person_id", "device_id"} <= set(got) and "position_id" not in got
    assert P._dictionary_columns(pq.ParquetFile(inputs / "plain.parquet"), names) == []


def test_dictionary_plain_and_csv_inputs_store_the_same(inputs, tmp_path, monkeypatch):
    monkeypatch.setattr(P, "BATCH_ROWS", 1000)  # many batches, converted on two threads
    runs = {}
    for name in ("dict.parquet", "plain.parquet", "export.csv"):
        store = Store(tmp_path / name)
        counts, rejects = store.ingest_positions(inputs / name)
        again, _ = store.ingest_positions(inputs / name)
        assert again.accepted == again.flagged == 0
        runs[name] = (counts, rejects.drop(columns=["file"]), stored(store))
    ref_counts, ref_rejects, ref_store = runs["plain.parquet"]
    assert ref_counts.flagged > 0 and ref_counts.duplicate > 0 and ref_counts.rejected > 0
    assert len(ref_store) == 2
    for name, (counts, rejects, content) in runs.items():
        assert (counts.read, counts.accepted, counts.duplicate, counts.flagged,
                counts.rejected) == (ref_counts.read, ref_counts.accepted, ref_counts.duplicate,
                                     ref_counts.flagged, ref_counts.rejected), name
        # a CSV gives a bad number's text as written ("95"), Parquet its value (95.0)
        cols = ["row", "subject", "field", "error"] if name.endswith(".csv") else list(rejects)
        pd.testing.assert_frame_equal(rejects[cols], ref_rejects[cols], obj=name)
        assert content.keys() == ref_store.keys()
        for d in content:
            assert content[d].equals(ref_store[d]), (name, d)


def test_public_readers_give_plain_text(inputs):
    got = P.read_positions_table(inputs / "dict.parquet")
    for name in ("subject", "device", "position_id"):
        assert got.table.schema.field(name).type == pa.string()
    kept = P.read_positions_table(inputs / "dict.parquet", keep_dictionary=True)
    assert pa.types.is_dictionary(kept.table.schema.field("subject").type)
    assert kept.table.column("subject").to_pylist() == got.table.column("subject").to_pylist()
    fixes = P.read_positions(inputs / "dict.parquet").fixes
    assert not isinstance(fixes["subject"].dtype, pd.CategoricalDtype)


TEXT = st.text(alphabet=st.sampled_from(list("aZ09 \t\n\u00a0\u2003é-_")), max_size=5)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), TEXT), max_size=12), st.integers(0, 3))
def test_edge_scan_never_misses_a_value_to_trim(values, cut):
    arr = pa.array(values, pa.string()).slice(min(cut, len(values)))
    if not P._maybe_untrimmed(arr):
        trimmed = pc.utf8_trim_whitespace(arr)
        assert trimmed.equals(arr) and not pc.any(pc.equal(arr, "")).as_py()
        assert P._as_strings(arr) is arr
    # and the result is always that of trimming with empty values as null
    want = [None if v is None or not v.strip(" \t\n\u00a0\u2003") else
            v.strip(" \t\n\u00a0\u2003") for v in arr.to_pylist()]
    assert P._as_strings(arr).to_pylist() == want


def test_edge_scan_passes_clean_ids():
    assert not P._maybe_untrimmed(pa.array(["S001", "a", "x-9", "07013"]))
    assert P._maybe_untrimmed(pa.array(["S001", ""]))
    assert P._maybe_untrimmed(pa.array(["S001", None]))
    assert P._maybe_untrimmed(pa.array(["S001 "]))


def test_dictionary_text_trimmed_and_deduplicated():
    arr = pa.array([" a", "a", "", None, "b ", "a"]).dictionary_encode()
    out = P._as_strings(arr)
    assert out.to_pylist() == ["a", "a", None, None, "b", "a"]
    assert sorted(out.dictionary.to_pylist()) == ["a", "b"]


@pytest.mark.parametrize("drop", [False, True])
def test_take_gathers_match_pyarrow(drop):
    rng = np.random.default_rng(4)
    n = 5000
    table = pa.table({
        "a": pa.chunked_array([pa.array(rng.normal(size=k)) for k in (1000, 2500, 1500)]),
        "b": pa.chunked_array([pa.array(rng.integers(0, 9, k).astype(np.uint8))
                               for k in (3000, 2000)]),
        "c": pa.chunked_array([pa.array([f"p{i}" for i in range(n)])]),
        "d": pa.chunked_array([pa.array(np.where(rng.random(n) < 0.1, None, 1.5).tolist(),
                                        pa.float64())]),
        "t": pa.chunked_array([pa.array(rng.integers(0, 10**18, n)).cast(ts.UTC_NS)]),
    })
    order = rng.permutation(n)
    if drop:
        order = np.sort(order[: n - 700])
    got = ts._take(table, order, {})
    assert got.equals(table.take(pa.array(order)).combine_chunks())


def test_partition_written_from_dictionaries_reads_back_as_from_text(tmp_path, inputs):
    table = P.read_positions_table(inputs / "dict.parquet", keep_dictionary=True).table
    day = pd.Timestamp("2025-03-01").date()
    merged = ts.merge_day(day, None, table.filter(pc.less(
        table["time"], pa.scalar(pd.Timestamp("2025-03-02", tz="UTC")))), ingested_at_ns=1)
    assert pa.types.is_dictionary(merged.table.schema.field("subject").type)
    a = ts.write_day(Layout(tmp_path / "a"), day, merged.table)
    plain = merged.table
    for name in ts.CODED_COLUMNS:
        plain = plain.set_column(plain.schema.get_field_index(name), name,
                                 plain[name].cast(pa.string()))
    b = ts.write_day(Layout(tmp_path / "b"), day, plain)
    ta, tb = pq.read_table(a), pq.read_table(b)
    assert ta.schema.equals(POSITION_SCHEMA) and ta.equals(tb)
    sa, sb = pq.ParquetFile(a).metadata, pq.ParquetFile(b).metadata
    for rg in range(sa.num_row_groups):
        for col in (0, 1):
            x, y = sa.row_group(rg).column(col).statistics, sb.row_group(rg).column(col).statistics
            assert (x.min, x.max) == (y.min, y.max)


def test_projection_in_threads_is_the_single_thread_projection():
    rng = np.random.default_rng(2)
    n = 1_000_001
    lon, lat = rng.uniform(-8, 2, n), rng.uniform(49.9, 60.9, n)
    lon[:50] = rng.uniform(-180, 180, 50)  # outside Great Britain: another operation
    lat[:50] = rng.uniform(-89, 89, 50)
    x2, y2, out2 = P._project_lonlat(lon, lat, "EPSG:27700", threads=2)
    x1, y1, out1 = project_flagged(lon, lat, "EPSG:4326", "EPSG:27700")
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(out1, out2)
    assert out1[:50].sum() >= 45  # nearly all of the world is outside OSTN15's cover
