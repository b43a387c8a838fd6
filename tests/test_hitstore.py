"""The hit store on SQLite and PostgreSQL: migrations, versions, hits, append-only logs, users."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from trailmatch.hitstore import db, users
from trailmatch.hitstore import repository as repo
from trailmatch.hitstore.schema import metadata

T0 = pd.Timestamp("2025-01-26 18:30", tz="UTC")


@pytest.fixture
def engine(db_url):
    engine = db.open_store(None, db_url)
    yield engine
    engine.dispose()


def crime_row(ref="44/1/25", lat=50.9097, x=441000.0, **kw):
    row = dict(police_force="Hampshire", crime_reference=ref, crime_type="BIAD",
               description="Burglary in a dwelling", time_from=T0,
               time_to=T0 + pd.Timedelta(hours=2), x=x, y=112000.0, crs="EPSG:27700",
               lat=lat, lon=-1.4044, text="rear door forced")
    row.update(kw)
    return row


def new_batch(engine, run_id, batch_id="HAM20250127", sha="a" * 64):
    return repo.add_batch(engine, police_force="Hampshire", batch_id=batch_id,
                          file_name="b.csv", file_sha256=sha, run_id=run_id, rows_read=1,
                          accepted=1, rejected=0)


def hit_frame(crime_id, subject="S1", dist=10.0, fixes=2):
    return pd.DataFrame([{
        "crime_id": crime_id, "subject": subject, "min_distance_m": dist,
        "closest_time": T0 + pd.Timedelta(minutes=5), "first_in": T0,
        "last_in": T0 + pd.Timedelta(minutes=9), "duration_s": 540.0, "fixes_in": fixes,
        "max_precision_m": float("nan"), "sources": "GPS"}])


def test_migrated_schema_matches_metadata(engine):
    assert db.current_revision(engine) == db.head_revision()
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []
    # Opening again is a no-op, not a second migration.
    db.open_store(None, engine.url.render_as_string(hide_password=False)).dispose()
    assert db.current_revision(engine) == db.head_revision()


def test_downgrade_to_base_and_up_again(engine):
    db.downgrade(engine, "base")
    assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}
    db.upgrade(engine)
    assert {"crimes", "hits", "runs", "audit", "decisions", "users", "batches"} <= set(
        sa.inspect(engine).get_table_names())


def test_times_are_utc_and_naive_times_refused(engine):
    run = repo.start_run(engine, "nightly", {"radius_m": 100}, "t")
    started = repo.get_run(engine, run)["started"]
    assert started.tzinfo is not None and started.utcoffset() == dt.timedelta(0)
    with pytest.raises(sa.exc.StatementError, match="naive datetime"):
        repo.append_audit(engine, user_name="a", role="processing", action="x", target="y",
                          at=dt.datetime(2025, 1, 1))


def test_crime_versions_and_superseded_hits(engine):
    run = repo.start_run(engine, "nightly", {}, "t")
    b1 = new_batch(engine, run)
    [first] = repo.store_crimes(engine, b1, "HAM20250127", [crime_row()])
    assert (first["change"], first["version"]) == ("new", 1)
    matched = repo.current_crimes(engine)
    repo.save_hits(engine, run, matched, hit_frame(first["crime_id"]))
    assert repo.count_hits(engine) == 1

    # The same content again (a resend) is not a new version.
    b2 = new_batch(engine, run, "HAM20250127-1", "b" * 64)
    [again] = repo.store_crimes(engine, b2, "HAM20250127-1", [crime_row()])
    assert (again["change"], again["crime_id"]) == ("unchanged", first["crime_id"])

    # Moved 300 m: a new version; the old one and its hit are superseded, history kept.
    [moved] = repo.store_crimes(engine, b2, "HAM20250127-1", [crime_row(lat=50.912, x=441300)])
    assert (moved["change"], moved["version"]) == ("changed", 2)
    versions = repo.crime_versions(engine, "Hampshire", "44/1/25")
    assert [v["superseded"] for v in versions] == [True, False]
    assert versions[0]["superseded_by"] == moved["crime_id"]
    assert repo.hits_for_crime(engine, "Hampshire", "44/1/25") == []
    old = repo.hits_for_crime(engine, "Hampshire", "44/1/25", include_withdrawn=True)
    assert [h["status"] for h in old] == ["superseded"]
    assert list(repo.current_crimes(engine)["id"]) == [moved["crime_id"]]


def test_save_hits_is_idempotent_and_withdraws(engine):
    run = repo.start_run(engine, "nightly", {}, "t")
    [c] = repo.store_crimes(engine, new_batch(engine, run), "HAM20250127", [crime_row()])
    matched = repo.current_crimes(engine)
    found = pd.concat([hit_frame(c["crime_id"], "S1"), hit_frame(c["crime_id"], "S2", 50.0)])
    r1 = repo.save_hits(engine, run, matched, found)
    assert len(r1["new"]) == 2 and not r1["withdrawn"]
    r2 = repo.save_hits(engine, run, matched, found)
    assert (r2["new"], r2["updated"], r2["withdrawn"], r2["unchanged"]) == ([], [], [], 2)
    # S2 no longer found, S1 closer: S2 withdrawn (kept), S1 updated in place.
    r3 = repo.save_hits(engine, run, matched, hit_frame(c["crime_id"], "S1", 3.0, 4))
    assert len(r3["updated"]) == 1 and len(r3["withdrawn"]) == 1
    [s1] = repo.hits_for_crime(engine, "Hampshire", "44/1/25")
    assert (s1["subject"], s1["min_distance_m"], s1["fixes_in"]) == ("S1", 3.0, 4)
    assert s1["max_precision_m"] is None and s1["time_from"] == T0.to_pydatetime()
    # S2 found again: the same row comes back, no duplicate.
    r4 = repo.save_hits(engine, run, matched, found)
    assert r4["new"] == r3["withdrawn"]
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM hits")).scalar_one() == 2
    day = repo.hits_for_day(engine, "Hampshire", T0.date())
    assert [h["subject"] for h in day] == ["S1", "S2"]
    assert repo.hits_for_day(engine, "Hampshire", (T0 + pd.Timedelta(days=1)).date()) == []
    assert repo.get_hit(engine, s1["id"])["crime_reference"] == "44/1/25"


def test_decisions_and_audit_are_append_only(engine):
    run = repo.start_run(engine, "nightly", {}, "t")
    [c] = repo.store_crimes(engine, new_batch(engine, run), "HAM20250127", [crime_row()])
    repo.save_hits(engine, run, repo.current_crimes(engine), hit_frame(c["crime_id"]))
    [hit] = repo.hits_for_crime(engine, "Hampshire", "44/1/25")
    with pytest.raises(ValueError, match="rationale"):
        repo.add_decision(engine, hit["id"], "ruled_out", "  ", user_name="pc1")
    with pytest.raises(ValueError, match="outcome"):
        repo.add_decision(engine, hit["id"], "guilty", "no", user_name="pc1")
    repo.add_decision(engine, hit["id"], "further_enquiries", "check CCTV", user_name="pc1")
    repo.add_decision(engine, hit["id"], "ruled_out", "alibi confirmed", user_name="pc1")
    assert [d["outcome"] for d in repo.list_decisions(engine, hit["id"])] == [
        "further_enquiries", "ruled_out"]
    repo.append_audit(engine, user_name="pc1", role="officer", police_force="Hampshire",
                      action="read_hit", target=f"hit:{hit['id']}", client_address="127.0.0.1")
    for table in ("decisions", "audit"):
        for statement in (f"UPDATE {table} SET id = id", f"DELETE FROM {table}"):
            with pytest.raises(sa.exc.DatabaseError, match="append-only"), engine.begin() as conn:
                conn.execute(sa.text(statement))
    assert len(repo.list_decisions(engine, hit["id"])) == 2
    assert [a["action"] for a in repo.list_audit(engine, user_name="pc1")] == ["read_hit"]


def test_users(engine):
    with pytest.raises(ValueError, match="force"):
        users.insert_user(engine, "pc1", "officer", "h0")
    uid = users.insert_user(engine, "pc1", "officer", "h1", police_force="Hampshire")
    users.insert_user(engine, "boss", "processing", "h2")
    assert users.user_by_token_hash(engine, "h1")["id"] == uid
    with pytest.raises(sa.exc.IntegrityError):
        users.insert_user(engine, "pc2", "officer", "h1", police_force="Kent")
    assert "token_hash" not in users.list_users(engine)[0]
    assert users.revoke_user(engine, "pc1") == 1
    assert users.revoke_user(engine, "pc1") == 0
    assert users.user_by_token_hash(engine, "h1") is None
    assert [u["name"] for u in users.list_users(engine, include_revoked=False)] == ["boss"]


def test_a_token_is_shown_once_and_verified_by_its_hash(engine):
    uid, token = users.add_user(engine, "pc3", "officer", "Kent")
    assert token.startswith(users.TOKEN_PREFIX) and len(token) > 40
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT token_hash FROM users")).scalars().all()
    assert stored == [users.token_hash(token)] and token not in stored[0]
    assert users.user_for_token(engine, token)["id"] == uid
    assert users.user_for_token(engine, token + "x") is None
    assert users.revoke_user(engine, uid) == 1
    assert users.user_for_token(engine, token) is None


def test_runs_record(engine):
    run = repo.start_run(engine, "nightly", {"radius_m": 100.0}, "trailmatch 0.1.0")
    repo.finish_run(engine, run, "ok", {"Hampshire": {"hits": 3}}, "summary text")
    [r] = repo.list_runs(engine)
    assert (r["status"], r["counts"], r["rules"]) == ("ok", {"Hampshire": {"hits": 3}},
                                                      {"radius_m": 100.0})
    assert r["ended"] >= r["started"]


def test_late_copy_of_an_older_batch_does_not_supersede(engine):
    run = repo.start_run(engine, "nightly", {}, "t")
    newer = new_batch(engine, run, "HAM20250128", "c" * 64)
    [cur] = repo.store_crimes(engine, newer, "HAM20250128", [crime_row(text="v2")])
    older = new_batch(engine, run, "HAM20250127", "d" * 64)
    [late] = repo.store_crimes(engine, older, "HAM20250127", [crime_row(text="v1")], run)
    assert late["change"] == "stale"
    assert list(repo.current_crimes(engine)["id"]) == [cur["crime_id"]]
    assert [v["superseded"] for v in repo.crime_versions(engine, "Hampshire", "44/1/25")] == [
        False, True]


def test_two_processes_opening_a_new_store_at_once(db_url):
    import subprocess
    import sys

    code = ("import sys; from trailmatch.hitstore import db; "
            "e = db.open_store(None, sys.argv[1]); print(db.current_revision(e))")
    procs = [subprocess.Popen([sys.executable, "-c", code, db_url], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [r[1][-500:] for r in results]
    assert {r[0].strip() for r in results} == {db.head_revision()}


def test_a_store_opened_while_another_connection_writes_it_in_rollback_mode_waits(tmp_path):
    """The race behind test_two_processes_opening_a_new_store_at_once, made certain: a new
    SQLite file still in rollback mode, another connection holding its write lock (as the first
    opener's migration does); SQLite refuses the switch to WAL at once, busy timeout or not, so
    the opener waits for the lock instead of failing."""
    import sqlite3
    import threading

    path = tmp_path / "hits.sqlite"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE t(x)")
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO t VALUES (1)")
    plain = sqlite3.connect(path, isolation_level=None, timeout=2.0)
    with pytest.raises(sqlite3.OperationalError, match="locked"):  # what SQLite does alone
        plain.execute("PRAGMA journal_mode=WAL")
    plain.close()
    released = threading.Timer(0.5, lambda: holder.execute("COMMIT"))
    released.start()
    engine = db.make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
            rows = conn.exec_driver_sql("SELECT count(*) FROM t").scalar()
    finally:
        released.join()
        engine.dispose()
        holder.close()
    assert (mode, rows) == ("wal", 1)


def test_store_url(tmp_path):
    assert db.store_url(tmp_path / "s") == f"sqlite:///{(tmp_path / 's' / 'hits.sqlite')}"
    assert (tmp_path / "s").is_dir()
    assert db.store_url(None, "postgresql://u:pw@127.0.0.1:5432/tm") == (
        "postgresql+psycopg://u:pw@127.0.0.1:5432/tm")
    assert db.store_url(tmp_path, "sqlite:///x.db") == "sqlite:///x.db"
    with pytest.raises(ValueError, match="store directory"):
        db.store_url(None)
