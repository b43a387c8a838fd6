"""The nightly job end to end on the real-derived sample: agreement with the independent
implementation, idempotent reruns, resends that supersede, and late uploads via rematch."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from trailmatch.hits import HIT_COLUMNS
from trailmatch.hitstore import open_store
from trailmatch.hitstore import repository as repo
from trailmatch.ingest.positions import read_positions
from trailmatch.jobs.nightly import run_nightly
from trailmatch.jobs.rematch import run_rematch
from trailmatch.jobs.sources import FrameTrails
from trailmatch.rules import Rules

RULES = Rules(count_precision=False)  # as expected_hits.csv was computed
BATCH = "HAM20250127"


@pytest.fixture(scope="module")
def fixes(sample_dir):
    return read_positions(sample_dir / "positions.csv").fixes


@pytest.fixture
def engine(db_url):
    """On SQLite and PostgreSQL: for the tests that write the most distinct kinds of rows."""
    engine = open_store(None, db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def lite(tmp_path):
    """SQLite only (the PostgreSQL path is exercised by the tests above and test_nightly_cli)."""
    engine = open_store(tmp_path / "store")
    yield engine
    engine.dispose()


def current_hits(engine) -> pd.DataFrame:
    frame = repo.hits_for_crime_ids(engine, repo.current_crimes(engine)["id"])
    return frame.set_index(["crime_reference", "subject"]).sort_index()


def assert_agrees(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    """The sample's agreement rule (tests/data/README.md)."""
    exp = expected.set_index(["crime_reference", "subject"]).sort_index()
    borderline = set()  # closest approach within 0.5 m of the radius: either side is right
    for key, d in got["min_distance_m"].items():
        if abs(d - RULES.radius_m) <= 0.5:
            borderline.add(key)
    for key, d in exp["min_distance_m"].items():
        if abs(d - RULES.radius_m) <= 0.5:
            borderline.add(key)
    assert set(got.index) - borderline == set(exp.index) - borderline
    both = sorted(set(got.index) & set(exp.index))
    assert len(both) >= 80
    g, e = got.loc[both], exp.loc[both]
    assert (g["min_distance_m"] - e["min_distance_m"]).abs().max() <= 0.05
    for col in ("first_in", "last_in"):
        diff = (g[col] - pd.to_datetime(e[col], utc=True, format="ISO8601")).abs()
        assert diff.max() <= pd.Timedelta(seconds=0.5), col
    assert (g["duration_s"] - e["duration_s"]).abs().max() <= 0.5
    assert (g["fixes_in"].to_numpy() == e["fixes_in"].to_numpy()).all()


def test_sample_end_to_end(engine, fixes, sample_dir, tmp_path):
    out = tmp_path / "out"
    result = run_nightly(engine, [sample_dir / "crimes.csv"], FrameTrails(fixes), out, RULES)
    assert result.status == "ok"
    expected = pd.read_csv(sample_dir / "expected_hits.csv", dtype={"subject": str})
    got = current_hits(engine)
    assert_agrees(got, expected)

    hampshire = result.counts["forces"]["Hampshire"]
    assert (hampshire["received"], hampshire["accepted"], hampshire["rejected"]) == (400, 400, 0)
    assert hampshire["hits"] == hampshire["hits_new"] == len(got)
    assert hampshire["subjects_monitored"] == 5
    [run] = repo.list_runs(engine)
    assert run["status"] == "ok" and run["counts"]["forces"]["Hampshire"]["hits"] == len(got)
    assert run["rules"]["count_precision"] is False and "Hampshire" in run["summary"]

    batch_dir = out / "Hampshire" / BATCH
    csv = pd.read_csv(batch_dir / "hits.csv", dtype={"subject": str})
    assert list(csv.columns) == [*HIT_COLUMNS, "hit_id"]
    assert len(csv) == len(got)
    for name in ("map/paths.geojson", "map/fixes.geojson", "map/vicinities.geojson",
                 "map/closest_approaches.geojson", "report.html", "rejects.csv"):
        assert (batch_dir / name).stat().st_size > 0


def test_rerun_creates_nothing_new(lite, fixes, sample_dir, tmp_path):
    trails = FrameTrails(fixes)
    run_nightly(lite, [sample_dir / "crimes.csv"], trails, tmp_path / "a", RULES)
    before = current_hits(lite)
    again = run_nightly(lite, [sample_dir / "crimes.csv"], trails, tmp_path / "b", RULES)
    counts = again.counts["forces"]["Hampshire"]
    assert (counts["crimes_unchanged"], counts["crimes_matched"], counts["hits_new"]) == (
        400, 0, 0)
    after = current_hits(lite)
    assert list(after["id"]) == list(before["id"])
    assert repo.count_hits(lite, status=None) == len(before)
    assert len(repo.list_batches(lite)) == 1
    # The outputs are the same files, byte for byte, apart from the run/produced lines.
    a = (tmp_path / "a" / "Hampshire" / BATCH / "hits.csv").read_text()
    b = (tmp_path / "b" / "Hampshire" / BATCH / "hits.csv").read_text()
    assert a == b


def test_resend_with_moved_crime_supersedes(engine, fixes, sample_dir, tmp_path):
    trails = FrameTrails(fixes)
    run_nightly(engine, [sample_dir / "crimes.csv"], trails, tmp_path / "out", RULES)
    before = current_hits(engine)
    ref = "44/10007/25"  # a hit of subject 07012 with 33 fixes in the vicinity
    assert (ref, "07012") in before.index
    lines = (sample_dir / "crimes.csv").read_text(encoding="utf-8-sig").splitlines()
    resend = []
    for line in lines:
        fields = line.split(",")
        fields[3] = f"{BATCH}-1"
        if fields[4] == ref:  # moved 20 km north: nobody was there
            fields[7:11] = ["", "", "51.0400", "-1.3976"]
        resend.append(",".join(fields))
    path = tmp_path / f"{BATCH}-1.csv"
    path.write_text("\n".join(resend) + "\n", encoding="utf-8")

    result = run_nightly(engine, [path], trails, tmp_path / "out", RULES)
    counts = result.counts["forces"]["Hampshire"]
    assert (counts["crimes_changed"], counts["crimes_unchanged"]) == (1, 399)
    assert counts["crimes_matched"] == 1
    versions = repo.crime_versions(engine, "Hampshire", ref)
    assert [(v["version"], v["superseded"]) for v in versions] == [(1, True), (2, False)]
    assert repo.hits_for_crime(engine, "Hampshire", ref) == []
    [old] = repo.hits_for_crime(engine, "Hampshire", ref, include_withdrawn=True)
    assert old["status"] == "superseded" and old["crime_version"] == 1
    after = current_hits(engine)
    unchanged = before.drop(index=(ref, "07012"))
    assert list(after["id"]) == list(unchanged["id"])
    csv = pd.read_csv(tmp_path / "out" / "Hampshire" / f"{BATCH}-1" / "hits.csv")
    assert len(csv) == len(after) and ref not in set(csv["crime_reference"])


def test_late_positions_give_a_new_hit_via_rematch(engine, fixes, sample_dir, tmp_path):
    ref, subject = "44/10007/25", "07012"
    crime_day = pd.Timestamp("2025-01-22", tz="UTC")
    late = (fixes["subject"] == subject) & (fixes["time"] >= crime_day) & (
        fixes["time"] < crime_day + pd.Timedelta(days=1))
    assert late.sum() > 50
    t_ingest = pd.Timestamp("2025-01-27 06:00", tz="UTC")
    on_time = fixes[~late].assign(ingested_at=t_ingest)
    run_nightly(engine, [sample_dir / "crimes.csv"], FrameTrails(on_time), tmp_path / "out",
                RULES)
    assert (ref, subject) not in current_hits(engine).index

    uploaded = pd.concat([on_time, fixes[late].assign(ingested_at=t_ingest
                                                      + pd.Timedelta(hours=5))])
    trails = FrameTrails(uploaded.reset_index(drop=True))
    result = run_rematch(engine, trails, t_ingest + pd.Timedelta(hours=1), RULES,
                         out_dir=tmp_path / "out")
    new = result.changes[result.changes["change"] == "new"]
    assert (ref, subject) in set(zip(new["crime_reference"], new["subject"], strict=True))
    assert set(new["subject"]) == {subject}
    assert result.crimes_rematched < 400
    # Now the store holds what a nightly run on complete data holds.
    expected = pd.read_csv(sample_dir / "expected_hits.csv", dtype={"subject": str})
    assert_agrees(current_hits(engine), expected)
    csv = pd.read_csv(tmp_path / "out" / "Hampshire" / BATCH / "hits.csv", dtype=str)
    assert ((csv["crime_reference"] == ref) & (csv["subject"] == subject)).any()
    # Nothing late since then: a rematch changes nothing.
    quiet = run_rematch(engine, trails, t_ingest + pd.Timedelta(hours=6), RULES)
    assert quiet.changes.empty and quiet.crimes_rematched == 0


def test_rejected_rows_are_reported(lite, fixes, sample_dir, tmp_path):
    lines = (sample_dir / "crimes.csv").read_text(encoding="utf-8-sig").splitlines()[:10]
    lines[2] = lines[2].replace("Hampshire,", "Hampshire,XX,", 1)  # 14 columns
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(lines) + "\n")
    result = run_nightly(lite, [path], FrameTrails(fixes), tmp_path / "out", RULES)
    counts = result.counts["forces"]["Hampshire"]
    assert (counts["received"], counts["accepted"], counts["rejected"]) == (10, 9, 1)
    rejects = pd.read_csv(tmp_path / "out" / "Hampshire" / BATCH / "rejects.csv")
    assert list(rejects["row"]) == [3] and list(rejects["error"]) == ["wrong_column_count"]


def test_failed_run_is_recorded(lite, sample_dir, tmp_path):
    class Broken:
        def read(self, start, end):
            raise OSError("trail store unreadable")

    with pytest.raises(OSError):
        run_nightly(lite, [sample_dir / "crimes.csv"], Broken(), tmp_path, RULES)
    [run] = repo.list_runs(lite)
    assert run["status"] == "failed" and "trail store unreadable" in run["summary"]
    assert run["ended"] is not None


def test_output_dir_is_safe(lite, fixes, sample_dir, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(sample_dir / "crimes.csv", src / "c.csv")
    result = run_nightly(lite, [src / "c.csv"], FrameTrails(fixes), tmp_path / "o", RULES)
    assert [o.directory.relative_to(tmp_path / "o").as_posix() for o in result.outputs] == [
        f"Hampshire/{BATCH}"]


def test_reads_only_the_stretches_the_crimes_need(lite, fixes, sample_dir, tmp_path):
    """Crimes on two days far apart: two reads, no fixes between, the same hits as match()."""
    from trailmatch.ingest.crime_batch import read_crime_batch
    from trailmatch.match import match

    lines = (sample_dir / "crimes.csv").read_text(encoding="utf-8-sig").splitlines()
    keep = [ln for ln in lines if ln.split(",")[5][:8] in ("20250120", "20250125")
            and ln.split(",")[6][:8] == ln.split(",")[5][:8]]
    path = tmp_path / "two_days.csv"
    path.write_text("\n".join(keep) + "\n")

    class Recording(FrameTrails):
        calls: list = []

        def read(self, start, end):
            self.calls.append((start, end))
            return super().read(start, end)

    source = Recording(fixes)
    run_nightly(lite, [path], source, tmp_path / "out", RULES)
    assert len(source.calls) >= 2
    for (_, end), (start, _) in zip(source.calls, source.calls[1:], strict=False):
        assert end < start  # disjoint stretches, in time order
    assert source.calls[0][0] < pd.Timestamp("2025-01-21", tz="UTC") < source.calls[-1][0]
    assert not any(a <= pd.Timestamp("2025-01-23", tz="UTC") <= b for a, b in source.calls)

    want = match(fixes, read_crime_batch(path).crimes, RULES)
    got = current_hits(lite)
    assert len(want) > 5
    assert set(zip(want["crime_reference"], want["subject"], strict=True)) == set(got.index)
    w = want.set_index(["crime_reference", "subject"]).sort_index()
    assert (w["min_distance_m"] - got["min_distance_m"]).abs().max() < 1e-6
    assert (w["fixes_in"] == got["fixes_in"]).all()


def test_an_unreadable_file_does_not_stop_the_other_forces(lite, fixes, sample_dir, tmp_path):
    missing = tmp_path / "KNT20250127.csv"
    result = run_nightly(lite, [missing, sample_dir / "crimes.csv"], FrameTrails(fixes),
                         tmp_path / "out", RULES)
    assert len(result.unusable) == 1 and str(missing) in result.unusable[0]
    assert "UNUSABLE batch file" in result.summary
    assert result.counts["forces"]["Hampshire"]["hits"] > 80
    [run] = repo.list_runs(lite)
    assert run["counts"]["unusable_files"] == result.unusable


def test_late_fix_that_bends_the_path_away_withdraws_the_hit(lite, tmp_path):
    """Two fixes 2 minutes apart whose straight segment crosses the crime: a hit with no fix
    in the vicinity. A late fix between them, 1 km north, shows the subject went round: the
    rematch withdraws the hit (kept in the store as withdrawn, gone from the outputs)."""
    t0 = pd.Timestamp("2025-01-22 10:00", tz="UTC")
    ingest_1 = pd.Timestamp("2025-01-23 06:00", tz="UTC")
    ingest_2 = pd.Timestamp("2025-01-23 18:00", tz="UTC")

    def fix(seconds, x, y, ingested):
        return {"subject": "S9", "time": t0 + pd.Timedelta(seconds=seconds), "x": x, "y": y,
                "precision_m": 5.0, "source": 1, "ingested_at": ingested}

    on_time = [fix(0, 441000.0, 112000.0, ingest_1), fix(120, 443000.0, 112000.0, ingest_1)]
    late = [fix(60, 442000.0, 113000.0, ingest_2)]
    batch = tmp_path / "HAM20250123.csv"
    batch.write_text("Hampshire,RB,Robbery,HAM20250123,44/9/25,20250122095500,20250122100500,"
                     "442000.0,112000.0,,,OSGB36,\n")
    run_nightly(lite, [batch], FrameTrails(pd.DataFrame(on_time)), tmp_path / "out", RULES)
    [hit] = repo.hits_for_crime(lite, "Hampshire", "44/9/25")
    assert hit["subject"] == "S9" and hit["fixes_in"] == 0 and hit["min_distance_m"] < 1e-6

    trails = FrameTrails(pd.DataFrame(on_time + late))
    result = run_rematch(lite, trails, ingest_2 - pd.Timedelta(hours=1), RULES,
                         out_dir=tmp_path / "out")
    assert list(result.changes["change"]) == ["withdrawn"]
    assert list(result.changes["hit_id"]) == [hit["id"]]
    assert repo.hits_for_crime(lite, "Hampshire", "44/9/25") == []
    [kept] = repo.hits_for_crime(lite, "Hampshire", "44/9/25", include_withdrawn=True)
    assert kept["status"] == "withdrawn" and kept["withdrawn_run_id"] == result.run_id
    csv = pd.read_csv(tmp_path / "out" / "Hampshire" / "HAM20250123" / "hits.csv")
    assert csv.empty


def test_rematch_names_crimes_matched_under_other_rules(lite, fixes, sample_dir, tmp_path):
    ingested = pd.Timestamp("2025-01-27 06:00", tz="UTC")
    trails = FrameTrails(fixes.assign(ingested_at=ingested))
    result = run_nightly(lite, [sample_dir / "crimes.csv"], trails, tmp_path / "out", RULES)
    other = Rules(radius_m=50, count_precision=False)
    again = run_rematch(lite, trails, ingested, other)
    assert again.crimes_rematched == 0 and again.changes.empty
    assert "NOT re-matched" in again.summary and f"run(s) {result.run_id}" in again.summary
    same = run_rematch(lite, trails, ingested, RULES)
    assert same.crimes_rematched > 300 and "NOT re-matched" not in same.summary
    assert same.changes.empty  # nothing late changed anything
