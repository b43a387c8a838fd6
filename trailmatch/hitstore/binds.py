"""How every hit store function runs and answers: in the caller's transaction or its own, and
with rows as plain dicts (instants timezone-aware UTC).

``bind`` is an ``Engine`` (the function runs in its own transaction) or an open ``Connection``
(the caller owns the transaction, e.g. to write a run's hits atomically). ``repository``,
``users`` and ``batches`` all use these.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@contextmanager
def transaction(bind: Engine | Connection) -> Iterator[Connection]:
    """The caller's connection as it is, or a new transaction on the engine."""
    if isinstance(bind, Connection):
        yield bind
    else:
        with bind.begin() as conn:
            yield conn


def all_rows(result) -> list[dict]:
    """Every row of a result, as dicts."""
    return [dict(r._mapping) for r in result]


def one_row(result) -> dict | None:
    """The first row of a result as a dict, or None."""
    row = result.first()
    return None if row is None else dict(row._mapping)
