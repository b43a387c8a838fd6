"""Runs killed mid-way: still ``running`` when the next run starts, they are closed as
``interrupted`` (migration 0005 added the status), on SQLite and PostgreSQL; and a migration
on SQLite is one transaction (a failure half-way leaves the schema as it was)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import typing
from pathlib import Path

import pytest
import sqlalchemy as sa

from service.models import RunOut
from trailmatch.cli import main
from trailmatch.hitstore import db
from trailmatch.hitstore import repository as repo
from trailmatch.hitstore.schema import RUN_STATUSES

TRAILMATCH = [sys.executable, "-c", "import sys; from trailmatch.cli import main; sys.exit(main())"]
REPO = Path(__file__).resolve().parent.parent


def _runs(engine) -> dict[int, dict]:
    return {r["id"]: r for r in repo.list_runs(engine, limit=100)}


def test_sigkilled_run_is_interrupted_when_the_next_run_starts(db_url, tmp_path, sample_dir):
    """``ingest crimes`` reading a FIFO has started its run and waits for the batch: killed
    there, its run stays ``running``; the next ``ingest crimes`` closes it as ``interrupted``."""
    store = tmp_path / "store"
    fifo = tmp_path / "batch.csv"
    os.mkfifo(fifo)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    common = ["ingest", "crimes", "--store", str(store), "--db", db_url]
    proc = subprocess.Popen([*TRAILMATCH, *common, str(fifo)], env=env, cwd=tmp_path,
                            stderr=subprocess.PIPE)
    engine = None
    try:
        deadline = time.monotonic() + 120
        killed_run = None
        while killed_run is None and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
            try:
                engine = engine or db.make_engine(db.store_url(None, db_url))
                if db.current_revision(engine) == db.head_revision():
                    running = [r for r in _runs(engine).values() if r["status"] == "running"]
                    killed_run = running[0]["id"] if running else None
            except sa.exc.OperationalError:
                continue  # the database is still being created
        assert killed_run is not None, proc.stderr.read().decode() if proc.poll() else "timeout"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL
        assert _runs(engine)[killed_run]["status"] == "running"  # nothing closed it

        assert main([*common, str(sample_dir / "crimes.csv")]) == 0  # the next run
        runs = _runs(engine)
        assert runs[killed_run]["status"] == "interrupted"
        assert runs[killed_run]["summary"] == repo.INTERRUPTED_SUMMARY
        assert runs[killed_run]["ended"] is not None
        [later] = [r for r in runs.values() if r["id"] > killed_run]
        assert later["status"] == "ok"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if engine is not None:
            engine.dispose()


def _insert_run(conn, run_id: int, status: str, summary: str) -> None:
    conn.execute(sa.text(
        "INSERT INTO runs (id, kind, started, algorithm_version, rules, status, summary) "
        "VALUES (:id, 'nightly', '2025-01-27 02:00:00', 't', '{}', :status, :summary)"),
        {"id": run_id, "status": status, "summary": summary})


def test_migration_0004_renames_interrupted_runs_and_back(db_url):
    """Runs closed before 0004 as ``failed`` with an ``interrupted:`` summary become
    ``interrupted``; a real failure stays ``failed``; a run referenced by a batch survives the
    rebuild of ``runs`` (SQLite); the constraint still refuses an unknown status."""
    engine = db.make_engine(db.store_url(None, db_url))
    try:
        db.upgrade(engine, "0003")
        with engine.begin() as conn:
            _insert_run(conn, 1, "failed", repo.INTERRUPTED_SUMMARY)
            _insert_run(conn, 2, "failed", "ValueError: boom")
            conn.execute(sa.text(
                "INSERT INTO batches (police_force, batch_id, file_name, file_sha256, "
                "received_at, run_id, rows_read, accepted, rejected) VALUES ('Hampshire', "
                "'HAM20250127', 'b.csv', :sha, '2025-01-27 02:00:00', 1, 1, 1, 0)"),
                {"sha": "a" * 64})
        db.upgrade(engine)
        assert db.current_revision(engine) == db.head_revision()
        assert {i: r["status"] for i, r in _runs(engine).items()} == {
            1: "interrupted", 2: "failed"}
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            _insert_run(conn, 3, "bogus", "")

        db.downgrade(engine, "0003")
        assert {i: r["status"] for i, r in _runs(engine).items()} == {1: "failed", 2: "failed"}
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            _insert_run(conn, 3, "interrupted", "")
        db.upgrade(engine)
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM batches")).scalar_one() == 1
    finally:
        engine.dispose()


def test_sqlite_migration_is_one_transaction(tmp_path):
    """DDL on SQLite is in the migration's transaction: a failure after a table was created
    leaves no table behind."""
    engine = db.make_engine(f"sqlite:///{tmp_path / 'hits.sqlite'}")
    with pytest.raises(RuntimeError, match="half-way"), db._migration_connection(engine) as conn:
        conn.exec_driver_sql("CREATE TABLE half_done (id INTEGER)")
        raise RuntimeError("half-way")
    assert "half_done" not in sa.inspect(engine).get_table_names()
    engine.dispose()


def test_run_statuses_are_the_service_s():
    assert typing.get_args(RunOut.model_fields["status"].annotation) == RUN_STATUSES
