"""Where the async routes run their short hit-store calls.

SQLite: inline on the event loop. A token check, an audit row and a hits query take a few
hundred microseconds in all, less than a hop through the thread pool and back, which was the
main cost of such a request. A database server (PostgreSQL): on Starlette's thread pool, because
there each statement is a network round trip and each commit waits for the server's WAL flush;
on the loop those waits would hold every other request (measured: 2 workers on a loopback
PostgreSQL served ~250 ``GET /hits`` a second with the loop waiting, p99 ~0.9 s at 50 clients).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

T = TypeVar("T")


async def run_db(db: Engine, fn: Callable[..., T], *args, **kwargs) -> T:
    """``fn(*args, **kwargs)``: inline for SQLite, on the thread pool for a database server."""
    if db.dialect.name == "sqlite":
        return fn(*args, **kwargs)
    return await run_in_threadpool(fn, *args, **kwargs)
