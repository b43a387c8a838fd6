"""Open the hit store and bring its schema up to date (Alembic, run from the package).

``open_store(store_dir, url=None)``: with no URL, an SQLite file ``hits.sqlite`` inside the store
directory; with ``postgresql://...`` (or any SQLAlchemy URL) that database. Every open applies
the pending migrations first, so a new release upgrades the store on its first start. Users need
no alembic.ini: the migration scripts ship inside the package (``trailmatch/migrations``).
"""

from __future__ import annotations

import fcntl
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
SQLITE_NAME = "hits.sqlite"
BUSY_TIMEOUT_S = 30.0  # how long an SQLite connection waits for another's lock


def store_url(store_dir: str | Path | None, url: str | None = None) -> str:
    """The database URL: ``url`` as given (postgresql:// means psycopg 3), else the store's file."""
    if url:
        parsed = make_url(url)
        if parsed.drivername in ("postgresql", "postgres"):
            parsed = parsed.set(drivername="postgresql+psycopg")
        return parsed.render_as_string(hide_password=False)
    if store_dir is None:
        raise ValueError("give a store directory or a database URL")
    path = Path(store_dir)
    path.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(path / SQLITE_NAME).resolve()}"


def _alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str:
    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


# Any fixed number: PostgreSQL advisory lock key that serialises migrations between processes.
_MIGRATION_LOCK = 0x7472_6D61_7463_68


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply every migration up to ``revision`` in one transaction (on PostgreSQL, holding an
    advisory lock so that two processes starting at once migrate one after the other; on
    SQLite, see ``_migration_connection``)."""
    cfg = _alembic_config()
    with _migration_connection(engine) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def downgrade(engine: Engine, revision: str) -> None:
    cfg = _alembic_config()
    with _migration_connection(engine) as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


@contextmanager
def _migration_connection(engine: Engine):
    """A connection in one transaction for the migrations. On SQLite the driver would commit
    each DDL statement on its own, so a migration killed mid-way (say between the drop and the
    rename of a table rebuilt to change a constraint) could lose a table: here ``BEGIN
    IMMEDIATE`` is emitted explicitly, and the DDL is in that transaction. Foreign keys are off
    while tables are rebuilt (SQLite's documented procedure for schema changes; a rebuilt parent
    table would otherwise fail its children's keys on the drop) and checked before the commit."""
    if engine.dialect.name != "sqlite":
        with engine.begin() as conn:
            yield conn
        return
    mig = create_engine(engine.url, future=True, poolclass=NullPool)

    @event.listens_for(mig, "connect")
    def _connect(dbapi_conn, _record) -> None:
        dbapi_conn.isolation_level = None  # the driver begins nothing; BEGIN below does
        dbapi_conn.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
        dbapi_conn.execute("PRAGMA foreign_keys=OFF")

    @event.listens_for(mig, "begin")
    def _begin(conn) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    try:
        with mig.begin() as conn:
            yield conn
            broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"hit-store migration broke foreign keys: {broken[:5]}")
    finally:
        mig.dispose()


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
    # Foreign keys are off by default in SQLite; WAL lets the service read while a run writes.
    cur.execute("PRAGMA foreign_keys=ON")
    _switch_to_wal(cur)
    cur.close()


def _switch_to_wal(cur) -> None:
    """``PRAGMA journal_mode=WAL``, waiting as long as the busy timeout for another connection's
    write lock. SQLite answers the switch with "database is locked" at once, without calling its
    busy handler, while another connection holds a write lock on a database still in rollback
    mode: which a new store is while the first process to open it migrates it (its migration
    connection, ``BEGIN IMMEDIATE``), so a second process opening the same new store at that
    moment failed (tests/test_hitstore.py). Once the file is in WAL mode the switch is a no-op."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    pause = 0.005
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(2 * pause, 0.25)


def make_engine(url: str) -> Engine:
    engine = create_engine(url, future=True, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def open_store(store_dir: str | Path | None, url: str | None = None, *,
               migrate: bool = True) -> Engine:
    """An engine on the hit store, migrated to the newest schema."""
    engine = make_engine(store_url(store_dir, url))
    if migrate and current_revision(engine) != head_revision():
        with _sqlite_migration_lock(engine):
            if current_revision(engine) != head_revision():  # not done by another process
                upgrade(engine)
    return engine


@contextmanager
def _sqlite_migration_lock(engine: Engine):
    """An exclusive file lock beside an SQLite file while it is migrated (SQLite has no
    transactional DDL across processes; PostgreSQL uses an advisory lock in ``upgrade``)."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate.lock", "a+") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
