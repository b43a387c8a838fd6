"""A file too big to hold (``trailmatch.store.spill``): bucketed to disk by (day, subject range)
while it is read and merged bucket by bucket, it leaves exactly the store an in-memory merge
leaves — counts, content, flags, duplicates — into an empty store or onto stored partitions."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trailmatch.rules import Rules
from trailmatch.store import Store, day_index, day_summary, spill

HEADER = ("position_id,person_id,device_id,position_gps_date,position_recorded_date,"
          "position_uploaded_date,position_latitude,position_longitude,position_precision,"
          "position_hdop,position_satellite,position_speed,position_direction,position_lbs")


def content(store: Store) -> dict:
    return {d: store.read_day(d).to_pandas().drop(columns="ingested_at") for d in store.days()}


def assert_same(a: Store, b: Store) -> None:
    ca, cb = content(a), content(b)
    assert list(ca) == list(cb)
    for d in ca:
        pd.testing.assert_frame_equal(ca[d], cb[d])


def assert_index_as_read_back(store: Store) -> None:
    """Each day's persisted index (built on the write path from the fixes the writer
    gathered) holds exactly what building it from the partition read back gives: the same
    fixes in the same order and dtypes, the same index arrays; and a reader opens it (and
    the day's summary) without rebuilding."""
    params = day_index.index_params(Rules())
    for d in store.days():
        name, partition = d.isoformat(), store.day_path(d)
        directory = day_index.day_index_dir(store.root, name)
        trail, index = day_index.open_index(directory, params,
                                            day_index.day_fingerprint(partition), mmap=False)
        want = day_index.read_partition_trail(partition)
        want_index = day_index.build_for(want, params)
        assert np.asarray(trail.subjects, dtype=str).tolist() == \
            np.asarray(want.subjects, dtype=str).tolist()
        for got, ref, names in ((trail, want, day_index._TRAIL_ARRAYS),
                                (index, want_index, day_index._INDEX_ARRAYS)):
            for a in names:
                g, r = np.asarray(getattr(got, a)), np.asarray(getattr(ref, a))
                assert g.dtype == r.dtype, (d, a)
                np.testing.assert_array_equal(g, r, err_msg=f"{d} {a}")
        day_index.forget_open_indexes()
        built, opened = day_index.STATS["built"], day_index.STATS["opened"]
        day_index.day_index(store.root, name, partition, Rules())
        assert (day_index.STATS["built"], day_index.STATS["opened"]) == (built, opened + 1)
        made, read = day_summary.STATS["built"], day_summary.STATS["read"]
        day_summary.day_summary(store.layout, d, Rules().max_gap_ns,
                                day_summary.Activations(store.subjects()))
        assert (day_summary.STATS["built"], day_summary.STATS["read"]) == (made, read + 1)


def counts_of(c) -> tuple:
    return (c.read, c.accepted, c.duplicate, c.flagged, c.rejected, c.outside_grid,
            c.days_written)


def ingest_both(tmp_path, files, *, spill_rows=500, buckets=4, monkeypatch):
    """The same files into a spilling store and an in-memory one; their counts per file."""
    got = {}
    real, merged = Store._ingest_spilled, []

    def spilled(self, *a, **k):
        merged.append(1)
        return real(self, *a, **k)

    monkeypatch.setattr(Store, "_ingest_spilled", spilled)
    for name, rows in (("spilled", spill_rows), ("memory", 10**12)):
        monkeypatch.setattr(spill, "SPILL_ROWS", rows)
        monkeypatch.setattr(spill, "BUCKETS", buckets)
        store = Store(tmp_path / name)
        got[name] = (store, [counts_of(store.ingest_positions(f)[0]) for f in files])
        assert not list(store.root.glob(".spill-*"))  # removed when the ingest ends
    (a, ca), (b, cb) = got["spilled"], got["memory"]
    read = [c[0] - c[4] for c in cb]  # fixes each file gave
    assert len(merged) == sum(n > spill_rows for n in read)  # the big ones were spilled
    assert ca == cb
    assert_same(a, b)
    assert_index_as_read_back(a)
    assert_index_as_read_back(b)
    return a, b


def test_sample_spilled_equals_in_memory(tmp_path, sample_dir, monkeypatch):
    lines = (sample_dir / "positions.csv").read_text().splitlines()
    header, body = lines[0], lines[1:]
    rng = np.random.default_rng(5)
    body = [body[i] for i in rng.permutation(len(body))]
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text("\n".join([header, *body[:5000]]) + "\n")
    # overlapping the stored days by 2,000 fixes, 300 of them more precise (they win)
    more = [r.replace(",5,", ",2,") for r in body[3000:3300]]
    second.write_text("\n".join([header, *more, *body[3300:]]) + "\n")
    a, _ = ingest_both(tmp_path, [first, second, second], monkeypatch=monkeypatch)
    assert sum(pq.ParquetFile(a.day_path(d)).metadata.num_rows for d in a.days()) == 7441


def test_a_resend_rewrites_nothing(tmp_path, sample_dir, monkeypatch):
    monkeypatch.setattr(spill, "SPILL_ROWS", 500)
    store = Store(tmp_path / "s")
    store.ingest_positions(sample_dir / "positions.csv")
    before = {d: store.day_path(d).read_bytes() for d in store.days()}
    c, _ = store.ingest_positions(sample_dir / "positions.csv")
    assert (c.accepted, c.duplicate, c.days_written) == (0, 7441, [])
    assert before == {d: store.day_path(d).read_bytes() for d in store.days()}


def test_parquet_with_dictionary_columns(tmp_path, monkeypatch):
    from trailmatch import synthetic
    from trailmatch.crs import working_to_lonlat

    tr = synthetic.trails(n_subjects=60, fixes_per_day=200, days=2, seed=3)
    lon, lat = working_to_lonlat(tr["x"].to_numpy(), tr["y"].to_numpy())
    n = len(tr)
    order = np.random.default_rng(1).permutation(n)
    names = tr["subject"].astype(str).to_numpy()[order]
    table = pa.table({
        "position_id": pa.array(np.arange(n).astype(str)),
        "person_id": pa.array(names).dictionary_encode(),
        "device_id": pa.array(np.char.add("D", names)).dictionary_encode(),
        "position_gps_date": pa.array(tr["time"].to_numpy()[order]),
        "position_latitude": lat[order], "position_longitude": lon[order],
        "position_precision": tr["precision_m"].to_numpy()[order],
        "position_lbs": pa.array(np.full(n, 1, np.int8)),
    })
    path = tmp_path / "p.parquet"
    pq.write_table(table, path, row_group_size=4000)
    monkeypatch.setattr("trailmatch.ingest.positions.BATCH_ROWS", 3000)
    ingest_both(tmp_path, [path], spill_rows=5000, buckets=7, monkeypatch=monkeypatch)


def test_exact_reader_after_spilling_starts_again(tmp_path, sample_dir, monkeypatch):
    """A record with the wrong number of fields near the end: pyarrow's reader fails after
    the spill began; the file is read again by the exact reader from a clean spill."""
    lines = (sample_dir / "positions.csv").read_text().splitlines()
    lines.insert(7000, "1,2,3")
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(lines) + "\n")
    monkeypatch.setattr("trailmatch.ingest.positions.BLOCK_BYTES", 64 << 10)
    a, _ = ingest_both(tmp_path, [path], monkeypatch=monkeypatch)
    assert sum(pq.ParquetFile(a.day_path(d)).metadata.num_rows for d in a.days()) == 7441


name_strategy = st.text(alphabet=st.sampled_from("aAbZ09é_-"), min_size=1, max_size=4).map(
    lambda s: f"S{s}")
fix_strategy = st.tuples(name_strategy, st.integers(0, 3 * 1440), st.floats(50.8, 51.0),
                         st.floats(-1.5, -1.3), st.sampled_from(["5", "20", "0", ""]))


@settings(max_examples=25, deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(fix_strategy, min_size=1, max_size=120), st.integers(0, 120),
       st.integers(1, 60), st.integers(1, 6))
def test_any_fixes_spilled_equal_in_memory(tmp_path_factory, monkeypatch, fixes, cut,
                                           spill_rows, buckets):
    """Any subjects (any names, several days, duplicates, flags), in two files, any spill
    threshold and number of buckets: the same counts and store as the in-memory merge."""
    tmp = tmp_path_factory.mktemp("h")
    t0 = pd.Timestamp("2025-01-22", tz="UTC")
    lines = [f"{i},{s},D{s},{(t0 + pd.Timedelta(minutes=m)):%Y-%m-%d %H:%M:%S},,,"
             f"{la:.5f},{lo:.5f},{p},1,9,0,0,1"
             for i, (s, m, la, lo, p) in enumerate(fixes)]
    files = []
    for k, part in enumerate((lines[:cut], lines[cut:])):
        f = tmp / f"f{k}.csv"
        f.write_text(HEADER + "\n" + "".join(x + "\n" for x in part))
        files.append(f)
    ingest_both(tmp, files, spill_rows=spill_rows, buckets=buckets, monkeypatch=monkeypatch)


def test_stale_spill_of_a_dead_process_removed(tmp_path, sample_dir):
    store = Store(tmp_path / "s")
    store.ingest_positions(sample_dir / "positions.csv")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    stale = store.root / f".spill-{int(dead.stdout)}-x"
    live = store.root / f".spill-{os.getppid()}-y"  # a running process's: kept
    for d in (stale, live):
        d.mkdir()
        (d / "1-0000-new.arrow").write_bytes(b"x")
    spill.remove_stale(Path(store.root))
    assert not stale.exists() and live.exists()


def test_index_built_on_the_write_path_sees_the_activation_periods(tmp_path, sample_dir,
                                                                    monkeypatch):
    """Subjects with activation periods that cut their days (the reader leaves the fixes
    outside them out): the index built from the written fixes is the one read back gives,
    spilled or in memory, on an empty store and onto stored partitions."""
    lines = (sample_dir / "positions.csv").read_text().splitlines()
    names = sorted({r.split(",")[1] for r in lines[1:]})
    rows = [{"subject": s, "force": "Hampshire", "cohort": "fixed",
             "activation_start": f"2025-01-2{2 + k % 2}T0{3 + k % 5}:00:00Z",
             "activation_end": "" if k % 3 else "2025-01-23T14:30:00Z"}
            for k, s in enumerate(names[::2])]
    (tmp_path / "subjects.csv").write_text(
        pd.DataFrame(rows).assign(device="D", licence_end="").to_csv(index=False))
    # flagged fixes (precision 0: left out; abroad: outside_grid, counted unless it jumps)
    body = [(r.replace(",15.0,", ",0,") if k % 97 == 0 else
             ",".join([*r.split(",")[:6], "55.676098", "12.568337", *r.split(",")[8:]])
             if k % 89 == 0 else r) for k, r in enumerate(lines[1:])]
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text("\n".join([lines[0], *body[:4000]]) + "\n")
    second.write_text("\n".join([lines[0], *body[3000:]]) + "\n")
    for name, rows_held in (("spilled", 700), ("memory", 10**12)):
        monkeypatch.setattr(spill, "SPILL_ROWS", rows_held)
        monkeypatch.setattr(spill, "BUCKETS", 5)
        store = Store(tmp_path / name)
        store.ingest_subjects(tmp_path / "subjects.csv")
        for f in (first, second):
            store.ingest_positions(f)
            assert_index_as_read_back(store)
        every = sum(pq.ParquetFile(store.day_path(d)).metadata.num_rows for d in store.days())
        counted = sum(day_index.read_partition_trail(store.day_path(d)).n_fixes
                      for d in store.days())
        assert 0 < counted < every  # the activation periods and flags left fixes out
        flags = pa.concat_tables([store.read_day(d, ["flagged"]) for d in store.days()])
        texts = set(flags.column("flagged").drop_null().to_pylist())
        assert "outside_grid" in texts and any("precision" in t for t in texts), texts


def test_day_fixes_from_parts_equal_the_partition_read_back(tmp_path, sample_dir):
    """``partitions.DayFixes`` given a partition's rows in small parts: the frame
    ``read_fixes`` reads for the day (columns, values, dtypes)."""
    from trailmatch.store import partitions

    store = Store(tmp_path / "s")
    store.ingest_positions(sample_dir / "positions.csv")
    for d in store.days():
        t0 = pd.Timestamp(d, tz="UTC").value
        want = partitions.read_fixes(store.layout, t0, t0 + 86_400 * 10**9 - 1)
        whole = store.read_day(d)
        gathered = partitions.DayFixes(store.layout, d)
        for part in whole.to_batches(max_chunksize=97):
            gathered.add(pa.Table.from_batches([part]))
        got = gathered.frame()
        pd.testing.assert_frame_equal(got, want)
        assert got["subject"].cat.codes.dtype == want["subject"].cat.codes.dtype
        assert len(gathered.frame()) == 0  # handed over
