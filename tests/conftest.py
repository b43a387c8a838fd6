from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    return DATA


# --- hit store databases: SQLite always, PostgreSQL when a server is configured ---------------

def postgres_admin_url() -> str | None:
    """The test server's URL: $TRAILMATCH_TEST_PG, else .ci/pg-url (written by .ci/postgres.sh)."""
    import os

    url = os.environ.get("TRAILMATCH_TEST_PG")
    pg_file = Path(__file__).parent.parent / ".ci" / "pg-url"
    if not url and pg_file.exists():
        url = pg_file.read_text().strip()
    return url or None


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request, tmp_path):
    """A fresh, empty hit-store database URL: an SQLite file, or a new PostgreSQL database
    (created for the test and dropped after it)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hits.sqlite'}"
        return
    admin = postgres_admin_url()
    if admin is None:
        pytest.skip("no PostgreSQL server: set TRAILMATCH_TEST_PG or run `bash .ci/postgres.sh`")
    import uuid

    import sqlalchemy as sa

    name = f"tm_test_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as e:
        pytest.skip(f"PostgreSQL server at the configured URL is not reachable: {e.orig}")
    url = sa.engine.make_url(admin).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


# --- the officer service over a small real world (tests/service_world.py) ----------------------
# One world, app and client per test module; a module that needs another world defines its own
# ``world`` and still gets ``app`` and ``client`` over it. Headers: ``service_world.auth``.

@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The sample trails in a store, one nightly run's hits for two forces, users and tokens."""
    from service_world import build_world

    return build_world(tmp_path_factory.mktemp("store"))


@pytest.fixture(scope="module")
def app(world):
    from service.app import create_app

    return create_app(world.store)


@pytest.fixture(scope="module")
def client(app):
    from fastapi.testclient import TestClient

    return TestClient(app)
