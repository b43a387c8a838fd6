"""The officer service: ``create_app(store_dir, db_url)`` builds the FastAPI app.

Routers live in ``service/routes/`` (one module per resource) and are included below by name.
Every router except the public one is mounted with ``deps.AUTHENTICATED``: authentication is a
property of the mount, not something each route has to remember. Routes declare what they need
through the aliases of ``service/deps.py``. The page and Leaflet are served from ``service/static``;
nothing is loaded from a CDN and, by default, no map tiles are fetched at all (``serve --tiles``
serves an MBTiles file's tiles from the app itself, ``trailmatch/mbtiles.py``, ``routes/tiles.py``).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine, create_engine, event

from service import refusals
from service.access import AccessRules
from service.deps import AUTHENTICATED
from service.hardening import Hardening
from service.models import Problem
from service.routes import (
    admin,
    coverage,
    figures,
    hits,
    me,
    outcomes,
    proximity,
    public,
    subjects,
    tiles,
)
from service.settings import Settings
from service.trails import TrailAccess, rules_from_record
from trailmatch.hitstore import open_store, repository
from trailmatch.mbtiles import MBTiles
from trailmatch.rules import Rules

STATIC = Path(__file__).resolve().parent / "static"
# every protected route can answer these (documented, so clients and fuzzers know them)
AUTH_RESPONSES = {400: {"model": Problem, "description": "malformed request"},
                  401: {"model": Problem, "description": "missing, unknown or revoked token"},
                  413: {"model": Problem, "description": "request body too large"}}


# Sync routes run in Starlette's thread pool (40 threads): give the pool as many connections,
# so that a burst of requests never queues for a connection behind the pool's timeout.
POOL_SIZE = 40


def _sqlite_service_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    # as the hit store sets them (trailmatch.hitstore.db)
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    # The service commits one audit row per request. In WAL mode, synchronous=NORMAL syncs the
    # log at checkpoints instead of at every commit: the database stays consistent whatever
    # happens, a crash of the service loses nothing, and only a power cut can lose the last
    # moments' commits. That trade keeps a request at a few milliseconds on a busy disk.
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def service_engine(store_dir: str | Path, db_url: str | None) -> Engine:
    """The hit store, migrated (``open_store``), then reopened with a pool sized for the
    service; no pre-ping on SQLite (a file has no connection to lose)."""
    migrated = open_store(store_dir, db_url)
    url = migrated.url
    migrated.dispose()
    sqlite = url.get_backend_name() == "sqlite"
    engine = create_engine(url, pool_size=POOL_SIZE, max_overflow=10, pool_timeout=60,
                           pool_pre_ping=not sqlite)
    if sqlite:
        event.listen(engine, "connect", _sqlite_service_pragmas)
    return engine


def latest_rules(engine: Engine) -> Rules:
    """The rules of the newest successful matching run (so proximity answers as the nightly
    matched), else the contract's defaults. An ``ingest`` run matched nothing: skipped."""
    for run in repository.list_runs(engine, limit=50):
        if run["status"] == "ok" and run["kind"] != "ingest":
            return rules_from_record(run["rules"], Rules())
    return Rules()


def create_app(store_dir: str | Path, db_url: str | None = None, *, rules: Rules | None = None,
               access: AccessRules | None = None, tile_url: str | None = None,
               tile_attribution: str = "", tiles_file: str | Path | None = None) -> FastAPI:
    """The app over the trail store ``store_dir`` and the hit store (its SQLite file, or
    ``db_url``). The hit store's schema is migrated on open. ``rules`` (max gap, precision,
    CRS) for proximity and positions: by default those of the newest successful run.
    ``tile_url`` (a tile server's URL template) or ``tiles_file`` (an MBTiles file served at
    ``/tiles/{z}/{x}/{y}``, ``trailmatch.mbtiles.TilesError`` if unusable) give the map streets."""
    if tile_url and tiles_file:
        raise ValueError("a tile URL and a tile file are alternatives: give one")
    tile_source = MBTiles(tiles_file) if tiles_file else None
    engine = service_engine(store_dir, db_url)
    settings = Settings(store_dir=Path(store_dir), rules=rules or latest_rules(engine),
                        access=access or AccessRules(), tile_url=tile_url,
                        tile_attribution=tile_attribution, tiles=tile_source)
    app = FastAPI(
        title="trailmatch officer service",
        docs_url=None,  # served by routes/public.py from the vendored Swagger UI (no CDN)
        redoc_url=None,
        version="1",
        description="Hits of tagged subjects near reported crimes, for investigating officers "
                    "(their own force's crimes only) and the central processing team. "
                    "Every request needs `Authorization: Bearer <token>` except /health, "
                    "/config and the page. A hit does not show that the subject committed or "
                    "witnessed the crime.",
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.trails = TrailAccess(settings.store_dir, settings.rules)
    app.include_router(public.router)  # health, client configuration, the page, API docs
    for protected in (me, hits, outcomes, subjects, proximity, admin, coverage, figures,
                      tiles):
        app.include_router(protected.router, dependencies=AUTHENTICATED,
                           responses=AUTH_RESPONSES)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    refusals.install(app)
    app.add_middleware(Hardening)
    return app


def app_from_env() -> FastAPI:
    """The app ``trailmatch serve`` starts in each uvicorn worker (configured by environment,
    which is how the settings reach worker processes)."""
    import gc
    import os

    app = create_app(os.environ["TRAILMATCH_SERVE_STORE"],
                     os.environ.get("TRAILMATCH_SERVE_DB") or None,
                     tile_url=os.environ.get("TRAILMATCH_SERVE_TILE_URL") or None,
                     tile_attribution=os.environ.get("TRAILMATCH_SERVE_TILE_ATTRIBUTION", ""),
                     tiles_file=os.environ.get("TRAILMATCH_SERVE_TILES") or None)
    # The imports (numpy, numba, pandas, pyarrow, SQLAlchemy, FastAPI) leave some million
    # long-lived objects, and every full collection walked them all: a 100-250 ms pause of the
    # event loop every few thousand requests, which every request in flight waited out (the
    # p99 under load). Frozen, the collector skips them; nothing they hold is garbage.
    gc.collect()
    gc.freeze()
    return app
