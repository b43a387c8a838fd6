"""Crime versions: one store (the hit store), one batch order, one version rule; and the two-step
flow ``ingest crimes`` then ``match --batch`` / ``nightly --batch``."""

from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout

import pandas as pd
import pytest

from trailmatch.cli import main
from trailmatch.hitstore import open_store
from trailmatch.hitstore import repository as repo
from trailmatch.hitstore.batches import batch_crimes
from trailmatch.ingest.crime_batch import batch_order, latest_versions, read_crime_batch
from trailmatch.store import Store

ROW = ("Hampshire,BIAD,Burglary in a dwelling,{batch},44/1/25,20250126183000,{to},,,50.9097,"
       "-1.4044,WGS84,rear door forced")
OTHER = ("Hampshire,TFMV,Theft from a motor vehicle,{batch},44/2/25,20250126100000,"
         "20250126110000,,,50.91,-1.40,WGS84,")


def cli(*argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def send(tmp_path, name: str, *lines: str) -> str:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def crime(batch: str, to: str = "20250126230000") -> str:
    return ROW.format(batch=batch, to=to)


def current(store, reference: str = "44/1/25") -> dict:
    engine = open_store(store)
    try:
        [row] = [v for v in repo.crime_versions(engine, "Hampshire", reference)
                 if not v["superseded"]]
        row["versions"] = len(repo.crime_versions(engine, "Hampshire", reference))
        return row
    finally:
        engine.dispose()


def ingest(store, path) -> str:
    code, _, err = cli("ingest", "crimes", path, "--store", store)
    assert code == 0, err
    return err


def test_batch_order_is_date_then_resend_and_the_suffix_does_not_order():
    assert batch_order("HAM20250127") < batch_order("HAM20250127-1") < batch_order(
        "HAM20250127-2") < batch_order("HAM20250128")
    assert batch_order("HAM20250127-3") < batch_order("HAM20250128")  # the date first
    assert batch_order("HAM20250127-1-R") == batch_order("HAM20250127-1") == batch_order(
        "HAM20250127-1-a")
    assert batch_order("HAM20250127-10") > batch_order("HAM20250127-9")  # numbers, not text


def test_identical_resend_is_a_duplicate_whatever_its_batch_id(tmp_path):
    store = tmp_path / "s"
    first = send(tmp_path, "a.csv", crime("HAM20250127"), OTHER.format(batch="HAM20250127"))
    assert "accepted 2, duplicate 0, rejected 0" in ingest(store, first)
    # The same file again: nothing stored, no second batch row.
    assert "accepted 0, duplicate 2" in ingest(store, first)
    # The force resends the batch as -1 with one crime corrected: only that one is a version.
    resend = send(tmp_path, "b.csv", crime("HAM20250127-1", to="20250126233000"),
                  OTHER.format(batch="HAM20250127-1"))
    err = ingest(store, resend)
    assert "accepted 1, duplicate 1" in err and "1 changed" in err
    assert (current(store)["version"], current(store)["batch_id"]) == (2, "HAM20250127-1")
    assert current(store, "44/2/25")["versions"] == 1  # unchanged: still version 1
    engine = open_store(store)
    try:
        assert len(repo.list_batches(engine)) == 2
        kinds = [r["kind"] for r in repo.list_runs(engine)]
        assert kinds == ["ingest"] * 3
    finally:
        engine.dispose()


def test_later_batch_wins_and_a_late_older_batch_is_history_only(tmp_path):
    store = tmp_path / "s"
    ingest(store, send(tmp_path, "2.csv", crime("HAM20250127-2", to="20250126232000")))
    # -1 arrives after -2 with other content: kept, already superseded, never current.
    err = ingest(store, send(tmp_path, "1.csv", crime("HAM20250127-1", to="20250126231000")))
    assert "1 from an older batch" in err
    now = current(store)
    assert (now["batch_id"], now["versions"]) == ("HAM20250127-2", 2)
    # A later date beats a higher resend number.
    ingest(store, send(tmp_path, "d.csv", crime("HAM20250128", to="20250126234000")))
    assert current(store)["batch_id"] == "HAM20250128"
    ingest(store, send(tmp_path, "e.csv", crime("HAM20250127-9", to="20250126235000")))
    assert current(store)["batch_id"] == "HAM20250128"
    # -R / -A do not order: of equal batches, the one received later wins.
    ingest(store, send(tmp_path, "r.csv", crime("HAM20250128-R", to="20250126235500")))
    assert current(store)["batch_id"] == "HAM20250128-R"
    ingest(store, send(tmp_path, "a.csv", crime("HAM20250128-a", to="20250126235900")))
    now = current(store)
    assert (now["batch_id"], now["versions"]) == ("HAM20250128-a", 6)
    assert now["time_to"] == pd.Timestamp("2025-01-26 23:59", tz="UTC")


def test_files_and_the_hit_store_pick_the_same_version(tmp_path):
    """``match --crimes`` over several files (``latest_versions``) and the hit store follow
    the one rule: the same crime content comes out current."""
    sends = [("HAM20250127-2", "20250126232000"), ("HAM20250127-1", "20250126231000"),
             ("HAM20250127", "20250126230000"), ("HAM20250127-2-R", "20250126233000"),
             ("HAM20250127-1", "20250126234000")]
    store = tmp_path / "s"
    frames = []
    for i, (batch, to) in enumerate(sends):
        path = send(tmp_path, f"{i}.csv", crime(batch, to=to))
        ingest(store, path)
        frames.append(read_crime_batch(path).crimes)
        from_files = latest_versions(pd.concat(frames, ignore_index=True)).iloc[0]
        stored = current(store)
        assert (from_files["batch_id"], from_files["time_to"]) == (
            stored["batch_id"], pd.Timestamp(stored["time_to"]))
    assert current(store)["batch_id"] == "HAM20250127-2-R"


def test_ingest_crimes_keeps_good_rows_and_reports_rejects(tmp_path):
    store, rejects = tmp_path / "s", tmp_path / "rejects.csv"
    bad = crime("HAM20250127").replace("44/1/25", "44/9/25").replace("BIAD", "XX")
    path = send(tmp_path, "b.csv", crime("HAM20250127"), bad)
    code, _, err = cli("ingest", "crimes", path, "--store", store, "--rejects", rejects)
    assert code == 0 and "read 2, accepted 1, duplicate 0, rejected 1" in err
    got = pd.read_csv(rejects, dtype=str)
    assert got[["row", "crime_reference", "field", "value", "error"]].values.tolist() == [
        ["2", "44/9/25", "crime_type", "XX", "unknown_crime_type"]]
    assert current(store)["version"] == 1
    # A file that is no crime batch at all: exit 1, named, nothing stored from it.
    code, _, err = cli("ingest", "crimes", send(tmp_path, "x.csv", "a,b,c"), "--store", store)
    assert code == 1 and "x.csv: unusable: not a crime batch" in err


def test_ingest_then_match_and_nightly_from_the_stored_batch(tmp_path, sample_dir):
    store = tmp_path / "store"
    Store(store).ingest_positions(sample_dir / "positions.csv")
    err = ingest(store, sample_dir / "crimes.csv")
    assert "read 400, accepted 400, duplicate 0, rejected 0" in err

    code, _, err = cli("match", "--store", store, "--batch", "HAM20250127", "--no-precision",
                       "--out", tmp_path / "hits.csv")
    assert code == 0, err
    assert "400 crimes" in err
    hits = pd.read_csv(tmp_path / "hits.csv", dtype={"subject": str})
    expected = pd.read_csv(sample_dir / "expected_hits.csv", dtype={"subject": str})
    pairs = set(zip(hits["crime_reference"], hits["subject"], strict=True))
    assert pairs == set(zip(expected["crime_reference"], expected["subject"], strict=True))

    code, _, err = cli("match", "--store", store, "--crimes", sample_dir / "crimes.csv",
                       "--no-precision", "--out", tmp_path / "from_file.csv")
    assert code == 0, err
    from_file = pd.read_csv(tmp_path / "from_file.csv", dtype={"subject": str})
    pd.testing.assert_frame_equal(hits, from_file)

    code, _, err = cli("nightly", "--store", store, "--batch", "HAM20250127", "--no-precision",
                       "--out", tmp_path / "out")
    assert code == 0, err
    batch_dir = tmp_path / "out" / "Hampshire" / "HAM20250127"
    nightly = pd.read_csv(batch_dir / "hits.csv", dtype={"subject": str})
    assert set(zip(nightly["crime_reference"], nightly["subject"], strict=True)) == pairs
    assert (batch_dir / "report.html").exists() and not (batch_dir / "rejects.csv").exists()
    engine = open_store(store)
    try:
        assert len(batch_crimes(engine, ["HAM20250127"])) == 400
        [run] = [r for r in repo.list_runs(engine) if r["kind"] == "nightly"]
        assert run["counts"]["forces"]["Hampshire"]["crimes_matched"] == 400
    finally:
        engine.dispose()


def test_a_changed_resend_is_matched_in_its_new_version(tmp_path, sample_dir):
    store = tmp_path / "store"
    Store(store).ingest_positions(sample_dir / "positions.csv")
    lines = (sample_dir / "crimes.csv").read_text(encoding="utf-8").splitlines()
    ingest(store, send(tmp_path, "day.csv", *lines[:5]))
    # -1 resends the first crime one day later: a new version, and only it; --batch of the
    # first batch now gives that crime's current (changed) version too.
    fields = lines[0].split(",")
    fields[3] = "HAM20250127-1"
    fields[5] = str(int(fields[5]) + 1_000_000)
    fields[6] = str(int(fields[6]) + 1_000_000)
    err = ingest(store, send(tmp_path, "resend.csv", ",".join(fields), *[
        line.replace("HAM20250127", "HAM20250127-1") for line in lines[1:5]]))
    assert "accepted 1, duplicate 4" in err
    engine = open_store(store)
    try:
        first = batch_crimes(engine, ["HAM20250127"]).set_index("crime_reference")
        again = batch_crimes(engine, ["HAM20250127-1"]).set_index("crime_reference")
        assert len(first) == len(again) == 5
        moved = fields[4]
        assert first.loc[moved, "batch_id"] == "HAM20250127-1"
        assert first.loc[moved, "version"] == 2
        pd.testing.assert_frame_equal(first.sort_index(), again.sort_index())
    finally:
        engine.dispose()


@pytest.mark.parametrize("argv,code,message", [
    (["match", "--positions", "P", "--batch", "HAM20250127", "--out", "H"], 2,
     "--batch reads a batch from the store's hit store: give --store DIR"),
    (["match", "--store", "S", "--batch", "KNT20250101", "--out", "H"], 1,
     "no stored batch KNT20250101"),
    (["nightly", "--store", "S", "--out", "O"], 2, "give the crimes"),
    (["nightly", "--store", "S", "--batch", "KNT20250101", "--out", "O"], 1,
     "no stored batch KNT20250101"),
])
def test_batch_flags_refuse_with_one_line(tmp_path, sample_dir, argv, code, message):
    store = tmp_path / "S"
    Store(store).ingest_positions(sample_dir / "positions.csv")
    ingest(store, sample_dir / "crimes.csv")
    names = {"S": store, "P": sample_dir / "positions.csv", "H": tmp_path / "h.csv",
             "O": tmp_path / "o"}
    got, out, err = cli(*[names.get(a, a) for a in argv])
    assert (got, out) == (code, "")
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
