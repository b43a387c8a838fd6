"""The trail store: idempotent merges, flags, activations, day pruning, crash safety, purge."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from naive import naive_quality_flags

from trailmatch.ingest.crime_batch import read_crime_batch
from trailmatch.match import match
from trailmatch.rules import Rules
from trailmatch.store import Store
from trailmatch.store import partitions as ts

REPO = Path(__file__).resolve().parent.parent
HEADER = ("position_id,person_id,device_id,position_gps_date,position_recorded_date,"
          "position_uploaded_date,position_latitude,position_longitude,position_precision,"
          "position_hdop,position_satellite,position_speed,position_direction,position_lbs")


def content(store: Store) -> dict[date, pd.DataFrame]:
    """Every partition's fixes, without the ingest instants (which name the run)."""
    return {d: store.read_day(d).to_pandas().drop(columns="ingested_at") for d in store.days()}


def assert_same_content(a: Store, b: Store) -> None:
    ca, cb = content(a), content(b)
    assert list(ca) == list(cb)
    for d in ca:
        pd.testing.assert_frame_equal(ca[d], cb[d])


def export_lines(fixes: list[tuple]) -> list[str]:
    """(subject, time text, lat, lon, precision) -> tag export lines."""
    return [f"{i},{s},D{s},{t},{t},{t},{la},{lo},{p},1,9,0,0,1"
            for i, (s, t, la, lo, p) in enumerate(fixes, start=1)]


def write_export(path: Path, lines: list[str]) -> Path:
    path.write_text(HEADER + "\n" + "\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def sample_store(tmp_path_factory, sample_dir):
    d = tmp_path_factory.mktemp("store")
    store = Store(d)
    counts, rejects = store.ingest_positions(sample_dir / "positions.csv")
    assert rejects.empty
    assert (counts.read, counts.accepted, counts.duplicate, counts.flagged,
            counts.rejected) == (7441, 7441, 0, 0, 0)
    return store


def test_partitions_by_utc_day_sorted(sample_store):
    days = sample_store.days()
    assert days == [date(2025, 1, d) for d in range(20, 27)]
    total = 0
    for d in days:
        f = sample_store.read_day(d).to_pandas()
        total += len(f)
        assert (f["time"].dt.date == d).all()
        key = list(zip(f["subject"], f["time"], strict=True))
        assert key == sorted(key) and len(set(key)) == len(key)
        assert f["flagged"].isna().all() and f["ingested_at"].notna().all()
    assert total == 7441


def test_store_matches_expected_hits(sample_store, sample_dir):
    crimes = read_crime_batch(sample_dir / "crimes.csv").crimes
    trails = sample_store.read_window(crimes["time_from"].min().value,
                                      crimes["time_to"].max().value + 300 * 10**9)
    hits = match(trails, crimes, Rules(count_precision=False))
    expected = pd.read_csv(sample_dir / "expected_hits.csv", dtype={"subject": str})
    got = set(zip(hits["crime_reference"], hits["subject"].astype(str), strict=True))
    assert got == set(zip(expected["crime_reference"], expected["subject"], strict=True))


def test_reingest_changes_nothing(sample_store, sample_dir):
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns)
              for p in sorted(sample_store.root.rglob("*.parquet"))}
    counts, _ = sample_store.ingest_positions(sample_dir / "positions.csv")
    assert (counts.accepted, counts.duplicate, counts.flagged) == (0, 7441, 0)
    after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns)
             for p in sorted(sample_store.root.rglob("*.parquet"))}
    assert after == before  # byte-identical, not even rewritten


def test_shuffled_and_overlapping_reingest_same_content(tmp_path, sample_dir, sample_store):
    lines = (sample_dir / "positions.csv").read_text().splitlines()
    header, body = lines[0], lines[1:]
    rng = np.random.default_rng(5)
    body = [body[i] for i in rng.permutation(len(body))]
    a = tmp_path / "a.csv"
    b = tmp_path / "b.csv"
    a.write_text("\n".join([header, *body[:5000]]) + "\n")
    b.write_text("\n".join([header, *body[3000:]]) + "\n")  # overlaps a by 2000 rows
    store = Store(tmp_path / "s")
    cb, _ = store.ingest_positions(b)
    ca, _ = store.ingest_positions(a)
    assert cb.accepted == len(body) - 3000 and ca.accepted == 3000 and ca.duplicate == 2000
    assert_same_content(store, sample_store)


def test_duplicate_kept_by_content_not_order(tmp_path):
    t = "2025-01-23 10:55:01"
    worse = ("A", t, "50.9", "-1.4", "30")
    better = ("A", t, "50.9001", "-1.4001", "8")
    other = ("A", "2025-01-23 10:56:01", "50.9", "-1.4", "10")
    results = []
    for order in ([worse, better, other], [better, other, worse]):
        for split in (False, True):
            store = Store(tmp_path / f"s{len(results)}")
            lines = export_lines(order)
            if split:  # arrive in two files
                c1, _ = store.ingest_positions(write_export(tmp_path / "x.csv", lines[:1]))
                c2, _ = store.ingest_positions(write_export(tmp_path / "y.csv", lines[1:]))
                assert c1.accepted + c2.accepted - c2.duplicate <= 3
            else:
                c, _ = store.ingest_positions(write_export(tmp_path / "x.csv", lines))
                assert (c.accepted, c.duplicate) == (2, 1)
            f = store.read_day(date(2025, 1, 23)).to_pandas()
            assert len(f) == 2 and f["precision_m"].tolist() == [8.0, 10.0]
            results.append(f.drop(columns=["ingested_at", "position_id"]))
    for r in results[1:]:
        pd.testing.assert_frame_equal(r, results[0])


def test_counts_add_up_with_all_outcomes(tmp_path):
    lines = export_lines([
        ("A", "2025-01-23 10:00:00", "50.90", "-1.40", "10"),
        ("A", "2025-01-23 10:01:00", "50.90", "-1.40", "0"),  # precision 0: flagged
        ("A", "2025-01-23 10:02:00", "51.90", "-1.40", "10"),  # 111 km in 60 s: jump
        ("A", "2025-01-23 10:03:00", "50.90", "-1.40", "10"),
        ("A", "2025-01-23 10:03:00", "50.90", "-1.40", "10"),  # duplicate
        ("A", "not a time", "50.90", "-1.40", "10"),  # rejected
    ])
    store = Store(tmp_path / "s")
    c, rej = store.ingest_positions(write_export(tmp_path / "p.csv", lines))
    assert (c.read, c.accepted, c.duplicate, c.flagged, c.rejected) == (6, 2, 1, 2, 1)
    assert c.accepted + c.duplicate + c.flagged + c.rejected == c.read
    f = store.read_day(date(2025, 1, 23)).to_pandas()
    assert f["flagged"].fillna("").tolist() == ["", "precision_zero", "impossible_jump", ""]
    day = (pd.Timestamp("2025-01-23", tz="UTC").value, pd.Timestamp("2025-01-24", tz="UTC").value)
    assert len(store.read_window(*day)) == 2
    assert len(store.read_window(*day, include_flagged=True)) == 4


fix_strategy = st.tuples(st.sampled_from(["a", "b"]), st.integers(0, 40),
                         st.floats(-3000, 3000), st.floats(-3000, 3000),
                         st.sampled_from([0.0, 5.0, 20.0, float("nan")]))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(st.lists(fix_strategy, max_size=30), st.integers(0, 10))
def test_flags_match_naive_reference(tmp_path, fixes, cut):
    """Flags of the stored fixes equal the plain reference, however the fixes arrive."""
    t0 = pd.Timestamp("2025-01-23 10:00", tz="UTC").value
    frame = pd.DataFrame({
        "subject": [f[0] for f in fixes],
        "time": pd.to_datetime([t0 + f[1] * 7 * 10**9 for f in fixes], utc=True),
        "x": [400_000 + f[2] for f in fixes], "y": [100_000 + f[3] for f in fixes],
        "precision_m": [f[4] for f in fixes],
    }).astype({"subject": "str"})
    store = Store(tmp_path / f"s{abs(hash(tuple(map(str, fixes))))}_{cut}")
    c1, _ = store.ingest_fixes(frame.iloc[:cut])
    c2, _ = store.ingest_fixes(frame.iloc[cut:])
    stored = (pd.concat([store.read_day(d).to_pandas() for d in store.days()])
              if store.days() else pd.DataFrame(columns=["subject", "time", "flagged"]))
    n_keys = len(frame.drop_duplicates(["subject", "time"]))
    assert len(stored) == n_keys
    assert c1.accepted + c1.flagged + c1.duplicate == c1.read
    assert c2.accepted + c2.flagged + c2.duplicate == c2.read
    expected = naive_quality_flags(stored)
    for s, t, flag in zip(stored["subject"], stored["time"], stored["flagged"], strict=True):
        got = set(flag.split(";")) if isinstance(flag, str) else set()
        assert got == expected[(s, t.value)]


def test_empty_store_reads_empty_trails(tmp_path):
    f = Store(tmp_path / "nothing").read_window(0, 2**62)
    assert f.empty and list(f.columns) == ["subject", "time", "x", "y", "precision_m", "source"]
    assert str(f["time"].dtype) == "datetime64[ns, UTC]"
    assert Store(tmp_path / "nothing").days() == []


def test_read_window_reads_only_needed_days(sample_store, monkeypatch):
    opened = []
    real = pq.read_table

    def spy(path, *a, **kw):
        opened.append(Path(path).name)
        return real(path, *a, **kw)

    monkeypatch.setattr(ts.pq, "read_table", spy)
    start = pd.Timestamp("2025-01-22 23:00", tz="UTC").value
    end = pd.Timestamp("2025-01-23 01:00", tz="UTC").value
    f = sample_store.read_window(start, end)
    assert opened == ["2025-01-22.parquet", "2025-01-23.parquet"]
    assert f["time"].between(pd.Timestamp(start, tz="UTC"), pd.Timestamp(end, tz="UTC")).all()
    assert list(f.columns) == ["subject", "time", "x", "y", "precision_m", "source"]
    assert isinstance(f["subject"].dtype, pd.CategoricalDtype)
    full = pd.concat([sample_store.read_day(d).to_pandas() for d in sample_store.days()])
    inside = full[(full["time"] >= pd.Timestamp(start, tz="UTC"))
                  & (full["time"] <= pd.Timestamp(end, tz="UTC"))]
    assert len(f) == len(inside) > 0
    one = sample_store.read_window(start, end, subjects=["07011"])
    assert set(one["subject"].astype(str)) == {"07011"}


def test_activations_limit_matching_and_purge(tmp_path, sample_dir):
    store = Store(tmp_path / "s")
    store.ingest_positions(sample_dir / "positions.csv")
    subjects = tmp_path / "subjects.csv"
    subjects.write_text(
        "Subject,Device,Activation_Start,Activation_End,Licence_End,Force,Cohort\n"
        "07011,D07011,2025-01-22T00:00:00Z,2025-01-23T00:00:00Z,2025-02-01,Hampshire,fixed\n"
        "07012,D07012,2025-01-20,,2025-06-01,hampshire,FLEX\n"
        ",D1,2025-01-20,,,,\n"
        "07099,D1,2025-01-20,2025-01-19,,,\n"
        "07098,D1,yesterday,,,Atlantis,sometimes\n")
    c, rej = store.ingest_subjects(subjects)
    assert (c.read, c.accepted, c.rejected) == (5, 2, 3)
    assert set(zip(rej["row"], rej["field"], rej["error"], strict=True)) == {
        (3, "subject", "missing"), (4, "activation_end", "end_before_start"),
        (5, "activation_start", "invalid_format"), (5, "force", "unknown_force"),
        (5, "cohort", "unknown_cohort")}
    c2, _ = store.ingest_subjects(subjects)
    assert (c2.accepted, c2.duplicate) == (0, 2)
    s = store.subjects()
    assert s["cohort"].tolist() == ["fixed", "flex"] and s["force"].tolist() == ["Hampshire"] * 2

    everything = store.read_window(0, 2**62)
    t11 = everything[everything["subject"] == "07011"]["time"]
    assert t11.between(pd.Timestamp("2025-01-22", tz="UTC"),
                       pd.Timestamp("2025-01-23", tz="UTC")).all() and len(t11) > 0
    raw = pd.concat([store.read_day(d).to_pandas() for d in store.days()])
    for subj in ("07012", "07013"):  # open period / no activation data: every fix
        assert (everything["subject"] == subj).sum() == (raw["subject"] == subj).sum()

    n11 = int((raw["subject"] == "07011").sum())
    report = store.purge(date(2025, 3, 1))
    assert report.subjects == ["07011"] and report.total_deleted == n11
    assert report.fixes_by_subject == {"07011": n11}
    left = pd.concat([store.read_day(d).to_pandas() for d in store.days()])
    assert "07011" not in set(left["subject"]) and len(left) == len(raw) - n11
    again = store.purge(date(2025, 3, 1))
    assert again.subjects == ["07011"] and again.total_deleted == 0
    assert store.purge(date(2025, 1, 1)).subjects == []


def test_ingested_since(tmp_path):
    store = Store(tmp_path / "s")
    first = export_lines([("A", "2025-01-23 10:00:00", "50.9", "-1.4", "5"),
                          ("B", "2025-01-24 10:00:00", "50.9", "-1.4", "5")])
    store.ingest_positions(write_export(tmp_path / "1.csv", first))
    mark = pd.Timestamp.now(tz="UTC")
    time.sleep(0.01)
    late = export_lines([("A", "2025-01-23 10:01:00", "50.9", "-1.4", "5"),
                         ("B", "2025-01-24 10:00:00", "50.9", "-1.4", "5")])  # 2nd: duplicate
    store.ingest_positions(write_export(tmp_path / "2.csv", late))
    since = store.ingested_since(mark)
    assert since[["day", "subject", "fixes"]].values.tolist() == [[date(2025, 1, 23), "A", 1]]
    assert len(store.ingested_since(0)) == 2


def test_store_refuses_another_crs(tmp_path, sample_dir):
    store = Store(tmp_path / "s")
    store.ingest_positions(sample_dir / "positions.csv")
    with pytest.raises(ValueError, match="EPSG:27700"):
        store.ingest_positions(sample_dir / "positions.csv", crs="EPSG:3857")


KILL_SCRIPT = """
import sys
from trailmatch.store import Store
Store(sys.argv[1]).ingest_positions(sys.argv[2])
"""


@pytest.fixture(scope="module")
def multi_day_export(tmp_path_factory):
    from trailmatch import synthetic
    from trailmatch.crs import working_to_lonlat

    tr = synthetic.trails(n_subjects=40, fixes_per_day=720, days=5, seed=11)
    lon, lat = working_to_lonlat(tr["x"].to_numpy(), tr["y"].to_numpy())
    times = tr["time"].dt.strftime("%Y-%m-%d %H:%M:%S.%f")
    subj = tr["subject"].astype(str)
    lines = [f"{i},{s},D{s},{t},{t},{t},{la:.6f},{lo:.6f},10,1,9,0,0,1"
             for i, (s, t, la, lo) in enumerate(zip(subj, times, lat, lon, strict=True))]
    d = tmp_path_factory.mktemp("kill")
    path = write_export(d / "export.csv", lines)
    clean = Store(d / "clean")
    clean.ingest_positions(path)
    return path, clean


@pytest.mark.parametrize("when", ["after_first_partition", "while_writing"])
def test_sigkill_half_way_leaves_store_consistent(tmp_path, multi_day_export, when):
    path, clean = multi_day_export
    store_dir = tmp_path / "store"
    # One partition is there before the run: it must survive whatever happens.
    day0 = clean.days()[0]
    Store(store_dir).write_day(day0, clean.read_day(day0))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(store_dir), str(path)],
                            env=env, cwd=REPO)
    pos = Store(store_dir).positions_dir
    first = Store(store_dir).day_path(day0).name
    deadline = time.monotonic() + 120
    killed = False
    while time.monotonic() < deadline and proc.poll() is None:
        names = [p.name for p in pos.iterdir()] if pos.exists() else []
        done = [n for n in names if n.endswith(".parquet") and n != first]
        writing = [n for n in names if n.endswith(".tmp")]
        if (when == "after_first_partition" and done) or (when == "while_writing" and writing):
            proc.send_signal(signal.SIGKILL)
            killed = True
            break
        time.sleep(0.002)
    proc.wait()
    if not killed:
        pytest.skip("the ingest finished before it could be killed (machine too fast)")
    assert proc.returncode == -signal.SIGKILL
    store = Store(store_dir)
    clean_content = content(clean)
    # every partition present is complete: exactly what a clean run writes
    for d, frame in content(store).items():
        pd.testing.assert_frame_equal(frame, clean_content[d])
    assert store.days()[0] == day0
    store.read_window(0, 2**62)  # readable as a whole
    # running again finishes the job and leaves no temporary files behind
    store.ingest_positions(path)
    assert_same_content(store, clean)
    assert not list(pos.glob("*.tmp"))


def test_next_writer_removes_only_stale_store_temps(tmp_path):
    store = Store(tmp_path / "s")
    store.positions_dir.mkdir(parents=True)
    stale = store.positions_dir / ".2025-01-23.x1y2.tmp"
    stale.write_bytes(b"half a partition")
    foreign = store.root / ".rejects.csv.abc.tmp"  # another writer's file: not the store's
    foreign.write_text("x")
    store.ingest_positions(write_export(tmp_path / "p.csv", export_lines(
        [("A", "2025-01-23 10:00:00", "50.9", "-1.4", "5")])))
    assert not stale.exists() and foreign.exists()
    assert store.days() == [date(2025, 1, 23)]


def run_cli(*argv: str) -> int:
    from trailmatch.commands import ingest, purge

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    ingest.add_parser(sub)
    purge.add_parser(sub)
    args = parser.parse_args(list(argv))
    return args.run(args)


def test_cli_ingest_and_purge(tmp_path, sample_dir, capsys):
    bad = write_export(tmp_path / "bad.csv", export_lines([("A", "x", "50", "-1", "5")]))
    store = str(tmp_path / "s")
    rejects = tmp_path / "rejects.csv"
    rc = run_cli("ingest", "positions", str(sample_dir / "positions.csv"), str(bad),
                 "--store", store, "--rejects", str(rejects))
    err = capsys.readouterr().err
    assert rc == 0
    assert "positions.csv: read 7441, accepted 7441, duplicate 0, flagged 0, rejected 0" in err
    assert "bad.csv: read 1, accepted 0, duplicate 0, flagged 0, rejected 1" in err
    assert pd.read_csv(rejects)["error"].tolist() == ["invalid_format"]
    # a file unusable as a whole: non-zero, the others still ingested
    rc = run_cli("ingest", "positions", str(sample_dir / "crimes.csv"),
                 str(sample_dir / "positions.csv"), "--store", store)
    err = capsys.readouterr().err
    assert rc == 1 and "unusable" in err and "duplicate 7441" in err
    rc = run_cli("ingest", "crimes", str(sample_dir / "crimes.csv"), "--store", store)
    assert rc == 0 and "read 400, accepted 400" in capsys.readouterr().err
    rc = run_cli("ingest", "crimes", str(sample_dir / "positions.csv"), "--store", store)
    assert rc == 1 and "not a crime batch" in capsys.readouterr().err
    subjects = tmp_path / "subjects.csv"
    subjects.write_text("subject,device,activation_start,activation_end,licence_end,force,"
                        "cohort\n07013,D07013,2025-01-01,,2025-02-01,Hampshire,free\n")
    assert run_cli("ingest", "subjects", str(subjects), "--store", store) == 0
    report = tmp_path / "purged.csv"
    assert run_cli("purge", "--store", store, "--before", "2025-03-01",
                   "--report", str(report)) == 0
    err = capsys.readouterr().err
    assert "1 subject(s)" in err and "07013" not in err  # no subject ids in logs
    assert pd.read_csv(report, dtype=str)["subject"].tolist() == ["07013"]
    assert run_cli("purge", "--store", store, "--before", "2025-03-01") == 0
    assert "0 fix(es) deleted" in capsys.readouterr().err


ROW_PARTS = st.tuples(
    st.sampled_from(["A", "B", "", " A "]),
    st.sampled_from(["2025-01-23 10:00:00", "2025-01-23 10:00:30", "2025-01-23 10:01:00",
                     "2025-01-24 00:00:00", "2025-01-23T10:00:00Z", "bad", ""]),
    st.sampled_from(["50.9", "50.95", "51.9", "nan", "", "x", "91"]),
    st.sampled_from(["-1.4", "-1.45", "200", ""]),
    st.sampled_from(["10", "0", "", "-3", "inf"]),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(ROW_PARTS.map(lambda r: export_lines([r])[0]),
                          st.text(max_size=30).map(lambda s: s.replace("\r", ""))),
                max_size=12), st.integers(0, 12))
def test_fuzz_ingest_counts_add_up(tmp_path, lines, cut):
    """Mangled rows, duplicates and flags through the whole ingest: every record counted once,
    in two files that overlap or not."""
    store = Store(tmp_path / f"s{abs(hash(tuple(lines)))}_{cut}")
    for i, part in enumerate((lines[:cut], lines[max(0, cut - 2):])):
        p = tmp_path / f"f{i}.csv"
        p.write_text(HEADER + "\n" + "\n".join(part) + "\n", encoding="utf-8")
        c, rejects = store.ingest_positions(p)
        assert c.accepted + c.duplicate + c.flagged + c.rejected == c.read
        assert c.rejected == rejects["row"].nunique()
    stored = sum(store.read_day(d).num_rows for d in store.days())
    assert stored == len(store.read_window(0, 2**62, include_flagged=True))


def test_ingest_fixes_takes_any_datetime_resolution(tmp_path):
    """pandas gives microsecond datetimes from strings: the fixes keep their instants."""
    from trailmatch.store import Store

    fixes = pd.DataFrame({"subject": ["a", "a"],
                          "time": pd.to_datetime(["2025-01-20 10:00:00", "2025-01-20 10:01:00"],
                                                 utc=True).as_unit("us"),
                          "x": [450_000.0, 450_010.0], "y": [110_000.0, 110_000.0]})
    store = Store(tmp_path / "s")
    store.ingest_fixes(fixes)
    assert [str(d) for d in store.days()] == ["2025-01-20"]
    got = store.read_window(pd.Timestamp("2025-01-20", tz="UTC"),
                            pd.Timestamp("2025-01-21", tz="UTC"))
    assert got["time"].tolist() == list(fixes["time"])
