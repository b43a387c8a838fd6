"""`trailmatch nightly` and `trailmatch rematch` as the processing team runs them: a real trail
store filled by ingest, a late upload, and the demo."""

from __future__ import annotations

import io
import time
from contextlib import redirect_stderr, redirect_stdout

import pandas as pd

from trailmatch.cli import main
from trailmatch.hitstore import open_store
from trailmatch.hitstore import repository as repo
from trailmatch.store import Store

REF, SUBJECT = "44/10007/25", "07012"  # a hit with 33 fixes in the vicinity on 2025-01-22


def cli(*argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def test_nightly_then_late_upload_then_rematch(tmp_path, sample_dir, db_url):
    raw = pd.read_csv(sample_dir / "positions.csv", dtype=str)
    late = (raw["person_id"] == SUBJECT) & raw["position_gps_date"].str.startswith("2025-01-22")
    raw[~late].to_csv(tmp_path / "export1.csv", index=False)
    raw[late].to_csv(tmp_path / "export2.csv", index=False)
    store = tmp_path / "store"
    Store(store).ingest_positions(tmp_path / "export1.csv")

    code, _, err = cli("nightly", "--no-precision", "--store", store, "--db", db_url, "--crimes",
                       sample_dir / "crimes.csv", "--out", tmp_path / "out")
    assert code == 0, err
    assert "nightly run 1: ok" in err and "Hampshire" in err
    report = tmp_path / "out" / "Hampshire" / "HAM20250127" / "report.html"
    assert str(report) in err and report.exists()
    engine = open_store(store, db_url)
    assert repo.hits_for_crime(engine, "Hampshire", REF) == []
    n_before = repo.count_hits(engine)

    # The same night again: nothing new.
    code, _, err = cli("nightly", "--no-precision", "--store", store, "--db", db_url, "--crimes",
                       sample_dir / "crimes.csv", "--out", tmp_path / "out")
    assert code == 0 and repo.count_hits(engine, status=None) == n_before
    assert repo.list_runs(engine)[0]["counts"]["forces"]["Hampshire"]["crimes_matched"] == 0

    time.sleep(2.5)  # the store skips partitions by file time stamp (2 s granularity)
    since = pd.Timestamp.now(tz="UTC")
    Store(store).ingest_positions(tmp_path / "export2.csv")
    code, out, err = cli("rematch", "--no-precision", "--store", store, "--db", db_url, "--since",
                         since.isoformat(), "--out", tmp_path / "out")
    assert code == 0, err
    changes = pd.read_csv(io.StringIO(out), dtype={"subject": str})
    new = changes[changes["change"] == "new"]
    assert (REF, SUBJECT) in set(zip(new["crime_reference"], new["subject"], strict=True))
    assert set(changes["subject"]) == {SUBJECT}
    assert "rematch run 3: ok" in err
    [hit] = repo.hits_for_crime(engine, "Hampshire", REF)
    assert hit["subject"] == SUBJECT and hit["fixes_in"] == 33  # as expected_hits.csv says
    csv = pd.read_csv(tmp_path / "out" / "Hampshire" / "HAM20250127" / "hits.csv", dtype=str)
    assert ((csv["crime_reference"] == REF) & (csv["subject"] == SUBJECT)).any()
    engine.dispose()


def test_nightly_refuses_a_missing_store(tmp_path, sample_dir):
    code, _, err = cli("nightly", "--store", tmp_path / "nothing", "--crimes",
                       sample_dir / "crimes.csv", "--out", tmp_path / "out")
    assert code == 1 and f"{tmp_path / 'nothing'}: no such store directory" in err
    assert not (tmp_path / "nothing").exists() and not (tmp_path / "out").exists()


def test_demo(tmp_path):
    out = tmp_path / "demo"
    code, stdout, err = cli("demo", "--out", out)
    assert code == 0, err
    reports = stdout.split()
    assert len(reports) == 3 and all(p.endswith("report.html") for p in reports)
    assert "nightly run 1: ok" in err
    engine = open_store(out / "store")
    [run] = repo.list_runs(engine)
    forces = run["counts"]["forces"]
    assert set(forces) == {"Hampshire", "Sussex", "Metropolitan"}
    assert all(f["rejected"] == 2 for f in forces.values())
    from trailmatch.demo_world import SEED, build_world

    planted = build_world(SEED).planted
    for p in planted[planted["real_pass"]].itertuples():
        subjects = {h["subject"] for h in repo.hits_for_crime(engine, p.police_force,
                                                              p.crime_reference)}
        assert p.subject in subjects, p
    engine.dispose()
    # Running the demo again replaces the previous demo, and refuses other directories.
    assert cli("demo", "--out", out)[0] == 0
    other = tmp_path / "mine"
    other.mkdir()
    (other / "precious.txt").write_text("x")
    assert cli("demo", "--out", other)[0] == 1 and (other / "precious.txt").exists()
